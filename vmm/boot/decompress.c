// SPDX-License-Identifier: MIT
/*
 * Decompression of a Linux kernel's payload with Debian's libraries: zlib
 * (gzip), liblzma (xz), liblz4 (LZ4's legacy frame format, which Linux
 * uses) and libzstd. Every decoder writes into one buffer that grows up to
 * the caller's limit; all input is treated as hostile.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <evvm/log.h>

#include "../le.h"
#include "decompress.h"

#define LZ4_LEGACY_MAGIC 0x184c2102U

static const struct {
	enum compression c;
	const char *name;
	unsigned char magic[9];
	unsigned int magic_len;
} formats[] = {
	{ COMPRESSION_NONE, "uncompressed ELF", { 0x7f, 'E', 'L', 'F' }, 4 },
	{ COMPRESSION_GZIP, "gzip", { 0x1f, 0x8b }, 2 },
	{ COMPRESSION_XZ, "xz", { 0xfd, '7', 'z', 'X', 'Z', 0x00 }, 6 },
	{ COMPRESSION_LZ4, "lz4", { 0x02, 0x21, 0x4c, 0x18 }, 4 },
	{ COMPRESSION_ZSTD, "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
	{ COMPRESSION_LZMA, "lzma", { 0x5d, 0x00, 0x00 }, 3 },
	{ COMPRESSION_BZIP2, "bzip2", { 'B', 'Z', 'h' }, 3 },
	{ COMPRESSION_LZO, "lzo", { 0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a }, 9 },
};

enum compression compression_detect(const void *data, size_t len)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (len >= formats[i].magic_len &&
		    !memcmp(data, formats[i].magic, formats[i].magic_len))
			return formats[i].c;
	return COMPRESSION_UNKNOWN;
}

const char *compression_name(enum compression c)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].c == c)
			return formats[i].name;
	return "unknown";
}

int compression_supported(enum compression c)
{
	return c == COMPRESSION_NONE || c == COMPRESSION_GZIP || c == COMPRESSION_XZ ||
	       c == COMPRESSION_LZ4 || c == COMPRESSION_ZSTD;
}

/* The output buffer: len bytes written of cap allocated. */
struct outbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t limit; /* the caller's bound on len */
	const char *name;
	const char *what; /* "gzip", ... for messages */
};

static int too_big(const struct outbuf *o)
{
	pr_err("kernel '%s': %s payload decompresses to more than %zu bytes (the limit)", o->name,
	       o->what, o->limit);
	return -EFBIG;
}

/*
 * Make room for at least @need more bytes, never allocating more than
 * @bound bytes in all. Doubles, so a stream of small steps costs O(n).
 */
static int out_reserve(struct outbuf *o, size_t need, size_t bound)
{
	size_t want;
	uint8_t *p;

	if (o->cap - o->len >= need)
		return 0;
	if (need > bound || o->len > bound - need)
		return too_big(o);
	want = o->cap > bound / 2 ? bound : o->cap * 2;
	if (want < o->len + need)
		want = o->len + need;
	p = realloc(o->p, want);
	if (!p) {
		pr_err("kernel '%s': out of memory for a %zu-byte decompression buffer", o->name,
		       want);
		return -ENOMEM;
	}
	o->p = p;
	o->cap = want;
	return 0;
}

/*
 * Linux appends the uncompressed size (4 bytes, little-endian) to every
 * payload; gzip's trailer ends with the same. Use it, when plausible, only
 * as the first allocation size.
 */
static size_t first_size(const uint8_t *in, size_t in_len)
{
	size_t guess = in_len < SIZE_MAX / 4 ? in_len * 4 : SIZE_MAX;

	if (in_len >= 8) {
		uint32_t hint = (uint32_t)in[in_len - 4] | (uint32_t)in[in_len - 3] << 8 |
				(uint32_t)in[in_len - 2] << 16 | (uint32_t)in[in_len - 1] << 24;

		/* Real kernels compress about 4:1; a hint over 256:1 is noise. */
		if (hint > 0 && hint / 256 <= in_len)
			guess = (size_t)hint + 1; /* +1: room to see the stream end */
	}
	if (guess < 4096)
		guess = 4096;
	return guess;
}

static int do_gzip(struct outbuf *o, const uint8_t *in, size_t in_len)
{
	z_stream zs;
	int ret, err = 0;

	memset(&zs, 0, sizeof(zs));
	ret = inflateInit2(&zs, 16 + MAX_WBITS); /* 16: expect a gzip header and trailer */
	if (ret != Z_OK) {
		pr_err("kernel '%s': zlib inflateInit2 failed (%d)", o->name, ret);
		return ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	zs.next_in = (Bytef *)in;
	for (;;) {
		uInt room;

		/* zlib counts in uInt: feed and drain at most UINT_MAX at a time. */
		if (zs.avail_in == 0 && in_len > 0) {
			size_t n = in_len < UINT_MAX ? in_len : UINT_MAX;

			zs.avail_in = (uInt)n;
			in_len -= n;
		}
		err = out_reserve(o, 1, o->limit + 1);
		if (err)
			break;
		zs.next_out = o->p + o->len;
		room = (uInt)(o->cap - o->len < UINT_MAX ? o->cap - o->len : UINT_MAX);
		zs.avail_out = room;
		ret = inflate(&zs, Z_NO_FLUSH);
		o->len += room - zs.avail_out;
		if (o->len > o->limit) {
			err = too_big(o);
			break;
		}
		if (ret == Z_STREAM_END)
			break;
		if (ret == Z_OK)
			continue;
		if (ret == Z_BUF_ERROR && zs.avail_in == 0 && in_len == 0) {
			pr_err("kernel '%s': gzip payload is truncated (after %zu bytes of output)",
			       o->name, o->len);
			err = -EINVAL;
		} else if (ret == Z_MEM_ERROR) {
			pr_err("kernel '%s': out of memory in zlib", o->name);
			err = -ENOMEM;
		} else if (ret == Z_BUF_ERROR && zs.avail_out == 0) {
			continue; /* cannot happen: out_reserve left room */
		} else {
			pr_err("kernel '%s': corrupt gzip payload: %s", o->name,
			       zs.msg ? zs.msg : "inflate failed");
			err = -EINVAL;
		}
		break;
	}
	inflateEnd(&zs);
	return err;
}

static const char *lzma_strerror(lzma_ret r)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return "out of memory";
	case LZMA_MEMLIMIT_ERROR:
		return "needs more memory than the limit (a corrupt dictionary size?)";
	case LZMA_FORMAT_ERROR:
		return "not an xz stream";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_DATA_ERROR:
		return "data is corrupt";
	case LZMA_BUF_ERROR:
		return "stream is truncated";
	case LZMA_UNSUPPORTED_CHECK:
		return "unsupported integrity check";
	default:
		return "decoder error";
	}
}

static int do_xz(struct outbuf *o, const uint8_t *in, size_t in_len)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;
	int err = 0;

	/*
	 * One stream, not LZMA_CONCATENATED: Linux's appended size follows it.
	 * Linux uses a 32 MiB dictionary at most; 1 GiB bounds a corrupt one.
	 */
	r = lzma_stream_decoder(&s, 1ULL << 30, 0);
	if (r != LZMA_OK) {
		pr_err("kernel '%s': xz decoder: %s", o->name, lzma_strerror(r));
		return r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	s.next_in = in;
	s.avail_in = in_len;
	for (;;) {
		size_t room;

		err = out_reserve(o, 1, o->limit + 1);
		if (err)
			break;
		room = o->cap - o->len;
		s.next_out = o->p + o->len;
		s.avail_out = room;
		r = lzma_code(&s, LZMA_FINISH);
		o->len += room - s.avail_out;
		if (o->len > o->limit) {
			err = too_big(o);
			break;
		}
		if (r == LZMA_STREAM_END)
			break;
		if (r == LZMA_OK)
			continue;
		pr_err("kernel '%s': xz payload: %s (after %zu bytes of output)", o->name,
		       lzma_strerror(r), o->len);
		err = r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
		break;
	}
	lzma_end(&s);
	return err;
}

/*
 * LZ4's legacy frame format, as Linux writes it (lz4 -l): the magic, then
 * blocks, each a 4-byte little-endian compressed size and that many bytes
 * of LZ4 block data that decompress to at most 8 MiB. A magic may appear
 * again between blocks (concatenated streams). The stream has no end mark:
 * it ends with the input, or with 4 bytes that cannot be a block (Linux's
 * appended size).
 */
static int do_lz4(struct outbuf *o, const uint8_t *in, size_t in_len)
{
	const uint32_t max_block = (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK_MAX);
	size_t pos = 4, blocks = 0;
	int err;

	if (in_len < 4 || get_le32(in) != LZ4_LEGACY_MAGIC) {
		pr_err("kernel '%s': lz4 payload has no legacy-frame magic", o->name);
		return -EINVAL;
	}
	while (in_len - pos >= 4) {
		uint32_t csize = get_le32(in + pos);
		int n;

		if (csize == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (in_len - pos == 4)
			break; /* the appended size, not a block */
		pos += 4;
		if (csize == 0 || csize > max_block) {
			pr_err("kernel '%s': corrupt lz4 payload: block %zu at offset %zu has size "
			       "%u (at most %u)",
			       o->name, blocks, pos - 4, csize, max_block);
			return -EINVAL;
		}
		if (csize > in_len - pos) {
			pr_err("kernel '%s': lz4 payload is truncated: block %zu needs %u bytes, "
			       "%zu left",
			       o->name, blocks, csize, in_len - pos);
			return -EINVAL;
		}
		/* A block may be a whole 8 MiB: room for it, then check the limit. */
		err = out_reserve(o, LZ4_LEGACY_BLOCK_MAX, o->limit + LZ4_LEGACY_BLOCK_MAX);
		if (err)
			return err;
		n = LZ4_decompress_safe((const char *)in + pos, (char *)o->p + o->len, (int)csize,
					(int)LZ4_LEGACY_BLOCK_MAX);
		if (n < 0) {
			pr_err("kernel '%s': corrupt lz4 payload: block %zu at offset %zu does not "
			       "decode",
			       o->name, blocks, pos - 4);
			return -EINVAL;
		}
		o->len += (size_t)n;
		if (o->len > o->limit)
			return too_big(o);
		pos += csize;
		blocks++;
	}
	if (pos != in_len && in_len - pos != 4) {
		pr_err("kernel '%s': lz4 payload is truncated: %zu stray bytes at its end", o->name,
		       in_len - pos);
		return -EINVAL;
	}
	return 0;
}

static int do_zstd(struct outbuf *o, const uint8_t *in, size_t in_len)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, in_len, 0 };
	int err = 0;

	if (!ds) {
		pr_err("kernel '%s': out of memory for a zstd decoder", o->name);
		return -ENOMEM;
	}
	/* The default window bound (128 MiB) covers zstd -22 --ultra, as Linux uses. */
	for (;;) {
		ZSTD_outBuffer ob;
		size_t r;

		err = out_reserve(o, 1, o->limit + 1);
		if (err)
			break;
		ob = (ZSTD_outBuffer){ o->p + o->len, o->cap - o->len, 0 };
		r = ZSTD_decompressStream(ds, &ob, &ib);
		o->len += ob.pos;
		if (ZSTD_isError(r)) {
			pr_err("kernel '%s': corrupt zstd payload: %s (after %zu bytes of output)",
			       o->name, ZSTD_getErrorName(r), o->len);
			err = -EINVAL;
			break;
		}
		if (o->len > o->limit) {
			err = too_big(o);
			break;
		}
		if (r == 0)
			break; /* the frame is complete */
		if (ib.pos == ib.size && ob.pos < ob.size) {
			pr_err("kernel '%s': zstd payload is truncated (after %zu bytes of output)",
			       o->name, o->len);
			err = -EINVAL;
			break;
		}
	}
	ZSTD_freeDStream(ds);
	return err;
}

int decompress(enum compression c, const void *in, size_t in_len, void **out, size_t *out_len,
	       size_t limit, const char *name)
{
	struct outbuf o = { .limit = limit, .name = name, .what = compression_name(c) };
	size_t first;
	int err;

	*out = NULL;
	*out_len = 0;
	if (!compression_supported(c)) {
		pr_err("kernel '%s': payload is %s%s, which evvm cannot decompress (it handles "
		       "gzip, xz, lz4 and zstd)",
		       name, compression_name(c),
		       c == COMPRESSION_UNKNOWN ? " (no known magic)" : "-compressed");
		return -ENOTSUP;
	}
	if (limit >= SIZE_MAX - LZ4_LEGACY_BLOCK_MAX)
		limit = o.limit = SIZE_MAX - LZ4_LEGACY_BLOCK_MAX - 1;

	first = c == COMPRESSION_NONE ? in_len + 1 : first_size(in, in_len);
	if (first > limit + 1)
		first = limit + 1;
	err = out_reserve(&o, first, first);
	if (err)
		return err;

	switch (c) {
	case COMPRESSION_NONE:
		if (in_len > limit) {
			err = too_big(&o);
			break;
		}
		memcpy(o.p, in, in_len);
		o.len = in_len;
		break;
	case COMPRESSION_GZIP:
		err = do_gzip(&o, in, in_len);
		break;
	case COMPRESSION_XZ:
		err = do_xz(&o, in, in_len);
		break;
	case COMPRESSION_LZ4:
		err = do_lz4(&o, in, in_len);
		break;
	case COMPRESSION_ZSTD:
		err = do_zstd(&o, in, in_len);
		break;
	default:
		err = -ENOTSUP; /* not reached: checked above */
		break;
	}
	if (err) {
		free(o.p);
		return err;
	}
	/* Give back a large unused tail (a wrong size hint, or the last doubling). */
	if (o.cap - o.len > (1U << 20)) {
		uint8_t *p = realloc(o.p, o.len ? o.len : 1);

		if (p)
			o.p = p;
	}
	*out = o.p;
	*out_len = o.len;
	return 0;
}
