/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_DECOMPRESS_H
#define EVVM_VMM_DECOMPRESS_H

#include <stddef.h>

/*
 * The compressions a Linux bzImage payload may use, told apart by their
 * magic bytes (Documentation/arch/x86/boot.rst, payload_offset).
 */
enum compression {
	COMPRESSION_UNKNOWN,
	COMPRESSION_NONE,  /* 7f 45 4c 46: an uncompressed ELF */
	COMPRESSION_GZIP,  /* 1f 8b */
	COMPRESSION_XZ,	   /* fd 37 7a 58 5a 00 */
	COMPRESSION_LZ4,   /* 02 21 4c 18: LZ4's legacy frame format */
	COMPRESSION_ZSTD,  /* 28 b5 2f fd */
	COMPRESSION_LZMA,  /* 5d 00 00: detected, unsupported */
	COMPRESSION_BZIP2, /* 42 5a 68 ("BZh"): detected, unsupported */
	COMPRESSION_LZO,   /* 89 4c 5a 4f 00 0d 0a 1a 0a (lzop): detected, unsupported */
};

/* The compression whose magic @data (of @len bytes) starts with. */
enum compression compression_detect(const void *data, size_t len);

/* "gzip", "xz", "lz4", ...; "unknown" for COMPRESSION_UNKNOWN. */
const char *compression_name(enum compression c);

/* Can decompress() handle @c? */
int compression_supported(enum compression c);

/* Largest output of one LZ4 legacy-frame block (the format's fixed 8 MiB). */
#define LZ4_LEGACY_BLOCK_MAX (8U << 20)

/*
 * Decompress @in_len bytes at @in, compressed with @c, into a new buffer
 * (*@out, *@out_len; free() it). The output may not exceed @limit bytes.
 * Decoding stops at the end of the first compressed stream: bytes after it
 * (Linux appends the uncompressed size as 4 little-endian bytes) are ignored.
 * Corrupt, truncated or oversized input is an error, never a crash. Returns 0,
 * or -errno after logging "kernel '<name>': <problem>":
 *   -ENOTSUP  an unsupported compression
 *   -EINVAL   corrupt or truncated input
 *   -EFBIG    the output would exceed @limit
 *   -ENOMEM   out of memory
 */
int decompress(enum compression c, const void *in, size_t in_len, void **out, size_t *out_len,
	       size_t limit, const char *name);

#endif
