// SPDX-License-Identifier: MIT
/*
 * bzImage parsing and payload decompression: on Debian 12's cloud kernel
 * (fetched from Debian's package by tests/linux/prepare; these tests fail,
 * never skip, when it cannot be had), and on fake bzImages whose payload the
 * test compresses with each library, so every codec's path runs.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "linux_guest.h"
#include "proc.h"

#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/bzimage.h"
#include "boot/decompress.h"

#define KNAME		   "vmlinuz"
#define LOAD_PHYSICAL_ADDR 0x1000000ULL

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The one log line @msg must be, naming the kernel and containing @what. */
static void assert_one_message(const char *msg, const char *what)
{
	if (!strstr(msg, "kernel '" KNAME "'") || !strstr(msg, what) || count_lines(msg) != 1)
		fail_msg("expected one line naming the kernel and saying \"%s\", got: %s", what,
			 msg);
}

static int parse_msg(const void *img, size_t size, struct bzimage_info *bz, char *msg, size_t msize)
{
	int err;

	capture_begin();
	err = bzimage_parse(img, size, KNAME, bz);
	capture_end(msg, msize, true);
	return err;
}

static int decompress_msg(const struct bzimage_info *bz, size_t limit, void **out, size_t *len,
			  char *msg, size_t msize)
{
	int err;

	capture_begin();
	err = bzimage_decompress(bz, limit, KNAME, out, len);
	capture_end(msg, msize, true);
	return err;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- a fake vmlinux and fake bzImages ---- */

#define FAKE_TEXT_OFF 0x1000
#define FAKE_ENTRY    (LOAD_PHYSICAL_ADDR + 0x40)
#define FAKE_PVH      (LOAD_PHYSICAL_ADDR + 0x80)
#define FAKE_BSS      0x20000

/*
 * An ELF64 x86-64 executable like vmlinux: one PT_LOAD of @body bytes (and
 * some bss) at physical LOAD_PHYSICAL_ADDR, virtual 0xffffffff81000000, and a
 * PT_NOTE with the Xen PVH entry note. Its body is compressible text.
 */
static uint8_t *fake_elf(size_t body, size_t *len)
{
	static const char *const words[] = { "mov ",  "rax, ", "push ", "call ", "0x1000 ",
					     "ret\n", "jmp ",  "lea ",	"[rip+", "]\n" };
	size_t n = FAKE_TEXT_OFF + body;
	uint8_t *p = calloc(1, n);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)p;
	Elf64_Phdr ph[2];
	uint8_t note[12 + 4 + 4];

	assert_non_null(p);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = FAKE_ENTRY;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	memset(ph, 0, sizeof(ph));
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_flags = PF_R | PF_X,
			      .p_offset = FAKE_TEXT_OFF,
			      .p_vaddr = 0xffffffff81000000ULL,
			      .p_paddr = LOAD_PHYSICAL_ADDR,
			      .p_filesz = body,
			      .p_memsz = body + FAKE_BSS,
			      .p_align = 0x200000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = sizeof(note) };
	memcpy(p + eh->e_phoff, ph, sizeof(ph));
	/* namesz 4, descsz 4, type 18, "Xen\0", the 32-bit entry */
	put32(note, 4);
	put32(note + 4, 4);
	put32(note + 8, 18);
	memcpy(note + 12, "Xen", 4);
	put32(note + 16, (uint32_t)FAKE_PVH);
	memcpy(p + 0x200, note, sizeof(note));
	for (size_t off = FAKE_TEXT_OFF; off < n;) {
		const char *w = words[rnd() % 10];
		size_t l = strlen(w);

		if (l > n - off)
			l = n - off;
		memcpy(p + off, w, l);
		off += l;
	}
	*len = n;
	return p;
}

/* Linux's size_append: the uncompressed size, 4 bytes little-endian. */
static void size_append(uint8_t *out, size_t *olen, size_t raw_len)
{
	put32(out + *olen, (uint32_t)raw_len);
	*olen += 4;
}

/*
 * Compress @in as Linux's build does for @c: gzip -9, xz --x86 --check=crc32,
 * lz4 -l (legacy frames), zstd with its checksum; then Linux's size_append.
 */
static uint8_t *compress_as_linux(enum compression c, const uint8_t *in, size_t len, size_t *olen)
{
	uint8_t *out = NULL;

	switch (c) {
	case COMPRESSION_NONE:
		out = malloc(len);
		assert_non_null(out);
		memcpy(out, in, len);
		*olen = len;
		break;
	case COMPRESSION_GZIP: {
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		assert_int_equal(
			deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			Z_OK);
		*olen = deflateBound(&zs, len);
		out = malloc(*olen);
		assert_non_null(out);
		zs.next_in = (Bytef *)in;
		zs.avail_in = len;
		zs.next_out = out;
		zs.avail_out = *olen;
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		*olen = zs.total_out;
		deflateEnd(&zs);
		/* gzip's trailer already ends with the size: Linux appends nothing. */
		break;
	}
	case COMPRESSION_XZ: {
		lzma_options_lzma opt;
		lzma_filter filters[3];
		size_t cap = lzma_stream_buffer_bound(len) + 4, pos = 0;

		assert_false(lzma_lzma_preset(&opt, 6));
		opt.dict_size = 1U << 20;
		filters[0] = (lzma_filter){ .id = LZMA_FILTER_X86 };
		filters[1] = (lzma_filter){ .id = LZMA_FILTER_LZMA2, .options = &opt };
		filters[2] = (lzma_filter){ .id = LZMA_VLI_UNKNOWN };
		out = malloc(cap);
		assert_non_null(out);
		assert_int_equal(lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, len,
							   out, &pos, cap),
				 LZMA_OK);
		*olen = pos;
		size_append(out, olen, len);
		break;
	}
	case COMPRESSION_LZ4: {
		/* The legacy frame: magic, then [le32 size, block] per 8 MiB. */
		size_t nblocks = len / LZ4_LEGACY_BLOCK_MAX + 1;
		size_t cap = 4 + nblocks * (4 + LZ4_compressBound(LZ4_LEGACY_BLOCK_MAX)) + 4;
		size_t pos = 4;

		out = malloc(cap);
		assert_non_null(out);
		put32(out, 0x184c2102);
		for (size_t off = 0; off < len; off += LZ4_LEGACY_BLOCK_MAX) {
			int chunk = (int)(len - off < LZ4_LEGACY_BLOCK_MAX ? len - off
									   : LZ4_LEGACY_BLOCK_MAX);
			int n = LZ4_compress_HC((const char *)in + off, (char *)out + pos + 4,
						chunk, LZ4_compressBound(chunk), 9);

			assert_true(n > 0);
			put32(out + pos, (uint32_t)n);
			pos += 4 + (size_t)n;
		}
		*olen = pos;
		size_append(out, olen, len);
		break;
	}
	case COMPRESSION_ZSTD: {
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		size_t cap = ZSTD_compressBound(len) + 4, r;

		assert_non_null(cc);
		assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19)));
		assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)));
		out = malloc(cap);
		assert_non_null(out);
		r = ZSTD_compress2(cc, out, cap, in, len);
		assert_false(ZSTD_isError(r));
		ZSTD_freeCCtx(cc);
		*olen = r;
		size_append(out, olen, len);
		break;
	}
	default:
		fail_msg("cannot compress with %s", compression_name(c));
	}
	return out;
}

#define FAKE_SETUP   (5 * 512) /* setup_sects 0 means 4, plus the boot sector */
#define FAKE_PAYLOAD 0x300     /* payload_offset: after a pretend decompressor */

/* A minimal bzImage (protocol 2.15) around @payload. */
static uint8_t *fake_bzimage(const uint8_t *payload, size_t plen, size_t *len)
{
	size_t pm = (FAKE_PAYLOAD + plen + 4 + 15) & ~(size_t)15; /* + crc32, like build.c */
	uint8_t *p = calloc(1, FAKE_SETUP + pm);
	static const char ver[] = "6.1.0-fake (evvm test) #1";

	assert_non_null(p);
	p[BZ_SETUP_SECTS] = 0;
	put32(p + BZ_SYSSIZE, (uint32_t)(pm / 16));
	put16(p + 0x1fe, 0xaa55);
	p[0x200] = 0xeb;
	put32(p + BZ_HEADER, BZ_HDRS_MAGIC);
	put16(p + BZ_VERSION, 0x020f);
	put16(p + BZ_KERNEL_VERSION, 0x400);
	memcpy(p + 0x600, ver, sizeof(ver));
	p[BZ_LOADFLAGS] = BZ_LOADED_HIGH;
	put32(p + BZ_INITRD_ADDR_MAX, 0x7fffffff);
	put32(p + BZ_KERNEL_ALIGNMENT, 0x200000);
	p[BZ_RELOCATABLE] = 1;
	p[BZ_MIN_ALIGNMENT] = 21;
	put16(p + BZ_XLOADFLAGS, XLF_KERNEL_64 | XLF_CAN_LOAD_ABOVE_4G);
	put32(p + BZ_CMDLINE_SIZE, 2047);
	put32(p + BZ_PAYLOAD_OFFSET, FAKE_PAYLOAD);
	put32(p + BZ_PAYLOAD_LENGTH, (uint32_t)plen);
	put64(p + BZ_PREF_ADDRESS, LOAD_PHYSICAL_ADDR);
	put32(p + BZ_INIT_SIZE, 0x3000000);
	memset(p + FAKE_SETUP, 0x90, FAKE_PAYLOAD); /* the pretend decompressor */
	memcpy(p + FAKE_SETUP + FAKE_PAYLOAD, payload, plen);
	*len = FAKE_SETUP + pm;
	return p;
}

/* A fake bzImage of a @body-byte fake vmlinux compressed with @c. */
struct fake {
	uint8_t *elf, *payload, *img;
	size_t elf_len, payload_len, img_len;
};

static void fake_make(struct fake *f, enum compression c, size_t body)
{
	f->elf = fake_elf(body, &f->elf_len);
	f->payload = compress_as_linux(c, f->elf, f->elf_len, &f->payload_len);
	f->img = fake_bzimage(f->payload, f->payload_len, &f->img_len);
}

static void fake_free(struct fake *f)
{
	free(f->elf);
	free(f->payload);
	free(f->img);
}

/* ---- the real kernel, from Debian's package ---- */

struct real {
	char reason[8192]; /* why there is no image, if img is NULL */
	char path[4096];
	uint8_t *img;
	size_t size;
	char pkg[256];
};

static struct real real;

/* The kernel of tests/linux/prepare: Debian 12's cloud kernel (once; it caches it). */
static int real_setup(void **state)
{
	char initrd[sizeof(real.path)], *pkg;
	FILE *f;
	struct stat st;

	(void)state;
	if (linux_guest_get(real.path, initrd, sizeof(real.path), real.reason, sizeof(real.reason)))
		return 0;
	/* prepare leaves the package's name and version next to vmlinuz. */
	snprintf(initrd, sizeof(initrd), "%.*s/kernel", (int)(strrchr(real.path, '/') - real.path),
		 real.path);
	pkg = slurp(initrd);
	snprintf(real.pkg, sizeof(real.pkg), "%.*s", (int)strcspn(pkg, "\n"), pkg);
	free(pkg);
	f = fopen(real.path, "rb");
	if (!f || fstat(fileno(f), &st) || !(real.img = malloc(st.st_size)) ||
	    fread(real.img, 1, st.st_size, f) != (size_t)st.st_size) {
		snprintf(real.reason, sizeof(real.reason), "cannot read %s: %s", real.path,
			 strerror(errno));
		free(real.img);
		real.img = NULL;
	} else {
		real.size = st.st_size;
		printf("bzimage: Debian kernel %s: %s, %zu bytes\n", real.pkg, real.path,
		       real.size);
	}
	if (f)
		fclose(f);
	return 0;
}

static int real_teardown(void **state)
{
	(void)state;
	free(real.img);
	return 0;
}

static void need_real(void)
{
	if (!real.img)
		fail_msg("no real kernel image: %s", real.reason);
}

static uint8_t *real_copy(void)
{
	uint8_t *p = malloc(real.size);

	assert_non_null(p);
	memcpy(p, real.img, real.size);
	return p;
}

static void test_real_header(void **state)
{
	struct bzimage_info bz;
	char msg[2048];

	(void)state;
	need_real();
	assert_int_equal(parse_msg(real.img, real.size, &bz, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	printf("bzimage: protocol %u.%02u, setup %u bytes, protected-mode code %llu bytes (file "
	       "%zu), "
	       "payload %s at 0x%llx, %u bytes (records %u uncompressed)\n",
	       bz.version >> 8, bz.version & 0xff, bz.setup_size, (unsigned long long)bz.pm_size,
	       real.size, compression_name(bz.compression), (unsigned long long)bz.payload_offset,
	       bz.payload_length, bz.uncompressed_size);
	printf("bzimage: loadflags 0x%02x, xloadflags 0x%04x, init_size 0x%x, pref_address 0x%llx, "
	       "kernel_alignment 0x%x, min_alignment %u, relocatable %d, cmdline_size %u, "
	       "initrd_addr_max 0x%x\n",
	       bz.loadflags, bz.xloadflags, bz.init_size, (unsigned long long)bz.pref_address,
	       bz.kernel_alignment, bz.min_alignment, bz.relocatable, bz.cmdline_size,
	       bz.initrd_addr_max);
	printf("bzimage: version string \"%s\"\n", bz.kernel_version);

	assert_true(bz.version >= 0x020f);
	assert_true(bz.xloadflags & XLF_KERNEL_64);
	assert_true(bz.relocatable);
	assert_true(bz.loadflags & BZ_LOADED_HIGH);
	assert_int_equal(bz.compression, COMPRESSION_LZ4);
	assert_int_equal(bz.setup_size, ((real.img[0x1f1] ?: 4) + 1) * 512);
	assert_int_equal(bz.pm_offset, bz.setup_size);
	assert_true(bz.pm_offset + bz.pm_size <= real.size);
	assert_true(bz.payload_offset > bz.pm_offset);
	assert_true(bz.payload_offset + bz.payload_length <= bz.pm_offset + bz.pm_size);
	assert_ptr_equal(bz.payload, real.img + bz.payload_offset);
	assert_int_equal(bz.pref_address, LOAD_PHYSICAL_ADDR);
	assert_int_equal(bz.kernel_alignment, 0x200000);
	assert_true(bz.cmdline_size >= 255);
	assert_true(bz.init_size > bz.uncompressed_size);
	/* The version string is the package's kernel release. */
	assert_non_null(strstr(bz.kernel_version, "6.1."));
	assert_non_null(strstr(bz.kernel_version, "cloud-amd64"));
}

/* What readelf says a vmlinux's entry and first PT_LOAD's physical address are. */
static void readelf_facts(const void *elf, size_t len, uint64_t *entry, uint64_t *paddr0,
			  unsigned int *nr_load)
{
	char path[] = "/tmp/evvm-vmlinux-XXXXXX", cmd[256], line[512];
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, elf, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "readelf -hlW %s", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	*entry = *paddr0 = 0;
	*nr_load = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long off, va, pa;

		if (strstr(line, "Entry point address:"))
			*entry = strtoull(strchr(line, ':') + 1, NULL, 16);
		else if (sscanf(line, " LOAD 0x%llx 0x%llx 0x%llx", &off, &va, &pa) == 3 &&
			 (*nr_load)++ == 0)
			*paddr0 = pa;
	}
	assert_int_equal(pclose(f), 0);
	unlink(path);
}

static void test_real_decompress(void **state)
{
	struct bzimage_info bz;
	struct vmlinux_info vi;
	uint64_t re_entry, re_paddr0;
	unsigned int re_nr;
	double t0, t1, t2, t3;
	void *elf;
	size_t len;
	char msg[2048];

	(void)state;
	need_real();
	t0 = now_ms();
	assert_int_equal(bzimage_parse(real.img, real.size, KNAME, &bz), 0);
	t1 = now_ms();
	assert_int_equal(decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			 0);
	t2 = now_ms();
	assert_int_equal(vmlinux_check(elf, len, KNAME, &vi), 0);
	t3 = now_ms();
	printf("bzimage: parse %.3f ms, %s decompress %.1f ms (%zu -> %zu bytes), ELF check %.3f "
	       "ms\n",
	       t1 - t0, compression_name(bz.compression), t2 - t1, (size_t)bz.payload_length, len,
	       t3 - t2);
	printf("bzimage: vmlinux entry 0x%llx, PVH entry %s0x%llx, %u PT_LOAD, physical [0x%llx, "
	       "0x%llx]\n",
	       (unsigned long long)vi.entry, vi.has_pvh ? "" : "(none) ",
	       (unsigned long long)vi.pvh_entry, vi.nr_load, (unsigned long long)vi.load_lo,
	       (unsigned long long)vi.load_hi);
	for (unsigned int i = 0; i < vi.nr_load; i++)
		printf("bzimage:   PT_LOAD paddr 0x%llx vaddr 0x%llx filesz 0x%llx memsz 0x%llx\n",
		       (unsigned long long)vi.load[i].paddr, (unsigned long long)vi.load[i].vaddr,
		       (unsigned long long)vi.load[i].filesz, (unsigned long long)vi.load[i].memsz);

	assert_int_equal(len, bz.uncompressed_size);
	/* What evvm read agrees with binutils' reading of the same ELF. */
	readelf_facts(elf, len, &re_entry, &re_paddr0, &re_nr);
	assert_int_equal(vi.entry, re_entry);
	assert_int_equal(vi.load[0].paddr, re_paddr0);
	assert_int_equal(vi.nr_load, re_nr);
	/* vmlinux loads at LOAD_PHYSICAL_ADDR (the header's pref_address) and starts there. */
	assert_int_equal(vi.load[0].paddr, LOAD_PHYSICAL_ADDR);
	assert_int_equal(vi.load_lo, bz.pref_address);
	assert_true(vi.entry >= vi.load_lo && vi.entry <= vi.load_hi);
	assert_true(vi.has_pvh);
	assert_true(vi.pvh_entry >= vi.load_lo && vi.pvh_entry <= vi.load_hi);
	/* init_size covers the loaded kernel. */
	assert_true(vi.load_hi - vi.load_lo + 1 <= bz.init_size);
	free(elf);
}

static void test_real_corrupt_payload(void **state)
{
	struct bzimage_info bz;
	uint8_t *img;
	void *elf;
	size_t len, mid;
	char msg[2048];

	(void)state;
	need_real();
	img = real_copy();
	assert_int_equal(bzimage_parse(img, real.size, KNAME, &bz), 0);
	/*
	 * LZ4 has no checksum: damage inside a run of literals decodes to
	 * wrong bytes unnoticed (most single-bit flips do). Damage that hits
	 * the sequence structure either does not decode or decodes to a block
	 * of another length, which the size Linux appends catches: overwrite
	 * 16 bytes with all-ones at 32 places, 32 KiB apart, from the middle
	 * of the payload.
	 */
	mid = bz.payload_offset + bz.payload_length / 2;
	for (int k = 0; k < 32; k++)
		memset(img + mid + (size_t)k * 32768, 0xff, 16);
	assert_int_equal(decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			 -EINVAL);
	assert_null(elf);
	assert_one_message(msg, "lz4 payload");
	assert_true(strstr(msg, "corrupt lz4 payload") || strstr(msg, "the image records"));

	/* A block size made huge. */
	memcpy(img, real.img, real.size);
	put32(img + bz.payload_offset + 4, 0x7fffffff);
	assert_int_equal(decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			 -EINVAL);
	assert_one_message(msg, "block 0");

	/* The payload cut short (payload_length halved). */
	memcpy(img, real.img, real.size);
	put32(img + BZ_PAYLOAD_LENGTH, bz.payload_length / 2);
	assert_int_equal(bzimage_parse(img, real.size, KNAME, &bz), 0);
	assert_int_equal(decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			 -EINVAL);
	assert_one_message(msg, "truncated");

	/* A limit below the kernel's size. */
	memcpy(img, real.img, real.size);
	assert_int_equal(bzimage_parse(img, real.size, KNAME, &bz), 0);
	assert_int_equal(decompress_msg(&bz, 16 << 20, &elf, &len, msg, sizeof(msg)), -EFBIG);
	assert_one_message(msg, "more than 16777216 bytes");
	free(img);
}

static void test_real_truncated(void **state)
{
	struct bzimage_info bz;
	char msg[2048];
	size_t setup;

	(void)state;
	need_real();
	setup = ((real.img[0x1f1] ?: 4) + 1) * 512;

	/* Cut in the header, before and after HdrS. */
	assert_int_equal(parse_msg(real.img, 0x100, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "truncated");
	assert_int_equal(parse_msg(real.img, 0x207, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "truncated");
	assert_int_equal(parse_msg(real.img, 0x240, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "setup header needs");
	/* Cut in the setup code. */
	assert_int_equal(parse_msg(real.img, setup - 1, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "truncated: the setup");
	/* Cut in the protected-mode code (and so in the payload). */
	assert_int_equal(parse_msg(real.img, real.size / 2, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "truncated: the protected-mode code");
	/* Nothing at all. */
	assert_int_equal(parse_msg(real.img, 0, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "truncated");
}

static void test_real_refused(void **state)
{
	struct bzimage_info bz;
	uint8_t *img;
	char msg[2048];

	(void)state;
	need_real();
	img = real_copy();

	/* 32-bit only: XLF_KERNEL_64 cleared. */
	img[BZ_XLOADFLAGS] &= ~XLF_KERNEL_64;
	assert_int_equal(parse_msg(img, real.size, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg,
			   "kernel 'vmlinuz': 32-bit only (no 64-bit entry); evvm boots 64-bit "
			   "kernels");

	/* No HdrS. */
	memcpy(img, real.img, real.size);
	img[BZ_HEADER] = 'X';
	assert_int_equal(parse_msg(img, real.size, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "not a bzImage");

	/* Protocol 2.07: no payload_offset. */
	memcpy(img, real.img, real.size);
	put16(img + BZ_VERSION, 0x0207);
	assert_int_equal(parse_msg(img, real.size, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "boot protocol 2.07 is too old: evvm needs 2.08");

	/* A payload reaching past the protected-mode code. */
	memcpy(img, real.img, real.size);
	put32(img + BZ_PAYLOAD_LENGTH, get32(img + BZ_PAYLOAD_LENGTH) + 0x100000);
	assert_int_equal(parse_msg(img, real.size, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "runs past the protected-mode code");
	memcpy(img, real.img, real.size);
	put32(img + BZ_PAYLOAD_OFFSET, 0xfffffff0);
	assert_int_equal(parse_msg(img, real.size, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "runs past the protected-mode code");

	/* A zImage. */
	memcpy(img, real.img, real.size);
	img[BZ_LOADFLAGS] &= ~BZ_LOADED_HIGH;
	assert_int_equal(parse_msg(img, real.size, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "zImage");
	free(img);
}

/* ---- every codec, on fake images ---- */

static const enum compression codecs[] = { COMPRESSION_GZIP, COMPRESSION_XZ, COMPRESSION_LZ4,
					   COMPRESSION_ZSTD, COMPRESSION_NONE };
#define NR_CODECS (sizeof(codecs) / sizeof(codecs[0]))

static void check_fake_roundtrip(enum compression c, size_t body)
{
	struct fake f;
	struct bzimage_info bz;
	struct vmlinux_info vi;
	void *elf;
	size_t len;
	char msg[2048];

	fake_make(&f, c, body);
	assert_int_equal(parse_msg(f.img, f.img_len, &bz, msg, sizeof(msg)), 0);
	assert_int_equal(bz.compression, c);
	assert_int_equal(bz.setup_size, FAKE_SETUP);
	assert_int_equal(bz.payload_offset, FAKE_SETUP + FAKE_PAYLOAD);
	assert_int_equal(bz.payload_length, f.payload_len);
	assert_int_equal(bz.version, 0x020f);
	assert_int_equal(bz.init_size, 0x3000000);
	assert_int_equal(bz.min_alignment, 21);
	assert_int_equal(bz.cmdline_size, 2047);
	assert_int_equal(bz.initrd_addr_max, 0x7fffffff);
	assert_string_equal(bz.kernel_version, "6.1.0-fake (evvm test) #1");
	assert_int_equal(decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			 0);
	assert_int_equal(len, f.elf_len);
	assert_memory_equal(elf, f.elf, len);
	assert_int_equal(vmlinux_check(elf, len, KNAME, &vi), 0);
	assert_int_equal(vi.entry, FAKE_ENTRY);
	assert_int_equal(vi.nr_load, 1);
	assert_int_equal(vi.load[0].paddr, LOAD_PHYSICAL_ADDR);
	assert_int_equal(vi.load[0].vaddr, 0xffffffff81000000ULL);
	assert_int_equal(vi.load[0].offset, FAKE_TEXT_OFF);
	assert_int_equal(vi.load[0].filesz, body);
	assert_int_equal(vi.load[0].memsz, body + FAKE_BSS);
	assert_int_equal(vi.load_hi, LOAD_PHYSICAL_ADDR + body + FAKE_BSS - 1);
	assert_true(vi.has_pvh);
	assert_int_equal(vi.pvh_entry, FAKE_PVH);
	free(elf);
	fake_free(&f);
}

static void test_codecs_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_CODECS; i++)
		check_fake_roundtrip(codecs[i], 200000);
}

/* Several LZ4 legacy blocks (the last one short), as a real kernel has. */
static void test_lz4_multiblock(void **state)
{
	uint8_t *elf, *payload, *two;
	size_t elf_len, plen, tlen, out_len;
	void *out;

	(void)state;
	check_fake_roundtrip(COMPRESSION_LZ4, 2 * LZ4_LEGACY_BLOCK_MAX + 12345);

	/* Two legacy streams back to back (a second magic between blocks). */
	elf = fake_elf(100000, &elf_len);
	payload = compress_as_linux(COMPRESSION_LZ4, elf, elf_len, &plen);
	plen -= 4; /* without the appended size */
	tlen = 2 * plen;
	two = malloc(tlen);
	assert_non_null(two);
	memcpy(two, payload, plen);
	memcpy(two + plen, payload, plen);
	assert_int_equal(decompress(COMPRESSION_LZ4, two, tlen, &out, &out_len, 1 << 30, KNAME), 0);
	assert_int_equal(out_len, 2 * elf_len);
	assert_memory_equal(out, elf, elf_len);
	assert_memory_equal((uint8_t *)out + elf_len, elf, elf_len);
	free(out);
	free(two);
	free(payload);
	free(elf);
}

static void test_codecs_corrupt(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_CODECS; i++) {
		enum compression c = codecs[i];
		struct fake f;
		struct bzimage_info bz;
		void *elf;
		size_t len;
		char msg[2048], want[64];

		if (c == COMPRESSION_NONE)
			continue;
		fake_make(&f, c, 200000);
		assert_int_equal(bzimage_parse(f.img, f.img_len, KNAME, &bz), 0);
		/* gzip, xz and zstd (with its checksum, as zstd(1) writes) catch any flip. */
		if (c == COMPRESSION_LZ4)
			memset(f.img + bz.payload_offset + bz.payload_length / 2, 0xff, 64);
		else
			for (int k = 0; k < 8; k++)
				f.img[bz.payload_offset + bz.payload_length / 2 + k * 3] ^= 0x5a;
		assert_int_equal(
			decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			-EINVAL);
		assert_null(elf);
		assert_int_equal(len, 0);
		snprintf(want, sizeof(want), "%s payload", compression_name(c));
		assert_one_message(msg, want);
		fake_free(&f);
	}
}

/*
 * A payload cut anywhere is refused. gzip, xz and zstd streams have an end
 * that the decoder misses; an LZ4 legacy stream has none, so a cut between
 * blocks decodes, short, and the size Linux records catches it.
 */
static void test_codecs_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_CODECS; i++) {
		enum compression c = codecs[i];
		struct bzimage_info bz, cut_bz;
		struct fake f;
		void *out;
		size_t len;
		char msg[2048];
		int err;

		if (c == COMPRESSION_NONE)
			continue; /* nothing to check a bare ELF's length against */
		fake_make(&f, c, 200000);
		assert_int_equal(bzimage_parse(f.img, f.img_len, KNAME, &bz), 0);
		for (size_t cut = 1; cut < f.payload_len; cut += cut < 64 ? 1 : 997) {
			cut_bz = bz;
			cut_bz.payload_length = (uint32_t)cut;
			capture_begin();
			err = bzimage_decompress(&cut_bz, BZIMAGE_VMLINUX_LIMIT, KNAME, &out, &len);
			capture_end(msg, sizeof(msg), false);
			if (err != -EINVAL || out)
				fail_msg("%s cut to %zu of %zu bytes: %d (%s)", compression_name(c),
					 cut, f.payload_len, err, msg);
			assert_one_message(msg, compression_name(c));
		}
		fake_free(&f);
	}
}

static void test_codecs_limit(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_CODECS; i++) {
		enum compression c = codecs[i];
		struct fake f;
		void *out;
		size_t len;
		char msg[2048];

		fake_make(&f, c, 200000);
		/* Exactly the size fits; a byte less does not. */
		assert_int_equal(
			decompress(c, f.payload, f.payload_len, &out, &len, f.elf_len, KNAME), 0);
		assert_int_equal(len, f.elf_len);
		free(out);
		capture_begin();
		assert_int_equal(
			decompress(c, f.payload, f.payload_len, &out, &len, f.elf_len - 1, KNAME),
			-EFBIG);
		capture_end(msg, sizeof(msg), true);
		assert_null(out);
		assert_one_message(msg, "more than");
		fake_free(&f);
	}
}

/* The size Linux appends must match what the payload decompresses to. */
static void test_size_mismatch(void **state)
{
	struct fake f;
	struct bzimage_info bz;
	void *elf;
	size_t len;
	char msg[2048];

	(void)state;
	fake_make(&f, COMPRESSION_ZSTD, 100000);
	put32(f.img + FAKE_SETUP + FAKE_PAYLOAD + f.payload_len - 4, (uint32_t)f.elf_len + 1);
	assert_int_equal(bzimage_parse(f.img, f.img_len, KNAME, &bz), 0);
	assert_int_equal(decompress_msg(&bz, BZIMAGE_VMLINUX_LIMIT, &elf, &len, msg, sizeof(msg)),
			 -EINVAL);
	assert_null(elf);
	assert_one_message(msg, "the image records");
	fake_free(&f);
}

static void test_unsupported(void **state)
{
	static const struct {
		const char *name;
		uint8_t magic[9];
		size_t len;
		int err;
	} cases[] = {
		{ "lzma", { 0x5d, 0x00, 0x00, 0x80, 0x00 }, 5, -ENOTSUP },
		{ "bzip2", { 'B', 'Z', 'h', '9' }, 4, -ENOTSUP },
		{ "lzo", { 0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a }, 9, -ENOTSUP },
		{ "no known compression magic", { 0xde, 0xad, 0xbe, 0xef }, 4, -ENOEXEC },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t payload[256];
		struct bzimage_info bz;
		uint8_t *img;
		size_t len;
		void *out;
		size_t out_len;
		char msg[2048];

		memset(payload, 0x11, sizeof(payload));
		memcpy(payload, cases[i].magic, cases[i].len);
		img = fake_bzimage(payload, sizeof(payload), &len);
		assert_int_equal(parse_msg(img, len, &bz, msg, sizeof(msg)), cases[i].err);
		assert_one_message(msg, cases[i].name);
		if (cases[i].err == -ENOTSUP) {
			assert_non_null(strstr(msg, "not support"));
			assert_int_equal(compression_detect(payload, sizeof(payload)),
					 bz.compression);
			assert_string_equal(compression_name(bz.compression), cases[i].name);
			capture_begin();
			assert_int_equal(decompress(bz.compression, payload, sizeof(payload), &out,
						    &out_len, 1 << 20, KNAME),
					 -ENOTSUP);
			capture_end(msg, sizeof(msg), true);
			assert_one_message(msg, cases[i].name);
			assert_null(out);
		}
		free(img);
	}
}

static void test_detect(void **state)
{
	static const uint8_t gz[] = { 0x1f, 0x8b, 8 }, xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 },
			     xz_short[] = { 0xfd, '7', 'z', 'X', 'Z' },
			     lz4[] = { 2, 0x21, 0x4c, 0x18 }, zst[] = { 0x28, 0xb5, 0x2f, 0xfd },
			     elf[] = { 0x7f, 'E', 'L', 'F' };

	(void)state;
	assert_int_equal(compression_detect(gz, sizeof(gz)), COMPRESSION_GZIP);
	assert_int_equal(compression_detect(xz, sizeof(xz)), COMPRESSION_XZ);
	assert_int_equal(compression_detect(xz_short, sizeof(xz_short)), COMPRESSION_UNKNOWN);
	assert_int_equal(compression_detect(lz4, sizeof(lz4)), COMPRESSION_LZ4);
	assert_int_equal(compression_detect(zst, sizeof(zst)), COMPRESSION_ZSTD);
	assert_int_equal(compression_detect(elf, sizeof(elf)), COMPRESSION_NONE);
	assert_int_equal(compression_detect(gz, 1), COMPRESSION_UNKNOWN);
	assert_int_equal(compression_detect(gz, 0), COMPRESSION_UNKNOWN);
	assert_string_equal(compression_name(COMPRESSION_LZ4), "lz4");
	assert_string_equal(compression_name(COMPRESSION_UNKNOWN), "unknown");
}

/* Headers of fake images: setup_sects, the payload's place, old protocols. */
static void test_fake_header_edges(void **state)
{
	struct fake f;
	struct bzimage_info bz;
	uint8_t *img;
	char msg[2048];

	(void)state;
	fake_make(&f, COMPRESSION_GZIP, 20000);
	img = malloc(f.img_len);
	assert_non_null(img);

	/* A protocol 2.08 image: no pref_address, init_size or xloadflags to read. */
	memcpy(img, f.img, f.img_len);
	put16(img + BZ_VERSION, 0x0208);
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "32-bit only");
	assert_int_equal(bz.pref_address, 0);
	assert_int_equal(bz.init_size, 0);

	/* No payload. */
	memcpy(img, f.img, f.img_len);
	put32(img + BZ_PAYLOAD_LENGTH, 0);
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "no payload");

	/* syssize 0. */
	memcpy(img, f.img, f.img_len);
	put32(img + BZ_SYSSIZE, 0);
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "syssize is 0");

	/* A huge syssize does not overflow. */
	memcpy(img, f.img, f.img_len);
	put32(img + BZ_SYSSIZE, 0xffffffff);
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "truncated: the protected-mode code");

	/* setup_sects 255 in a small file. */
	memcpy(img, f.img, f.img_len);
	img[BZ_SETUP_SECTS] = 255;
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), -ENOEXEC);
	assert_one_message(msg, "the setup is 131072 bytes");

	/* A version string pointer out of the setup, or not terminated. */
	memcpy(img, f.img, f.img_len);
	put16(img + BZ_KERNEL_VERSION, 0xfff0);
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), 0);
	assert_string_equal(bz.kernel_version, "");
	memset(img + FAKE_SETUP - 8, 'A', 8);
	put16(img + BZ_KERNEL_VERSION, FAKE_SETUP - 8 - 0x200);
	assert_int_equal(parse_msg(img, f.img_len, &bz, msg, sizeof(msg)), 0);
	assert_string_equal(bz.kernel_version, "AAAAAAAA");

	free(img);
	fake_free(&f);
}

static void test_vmlinux_check_errors(void **state)
{
	struct vmlinux_info vi;
	uint8_t *elf;
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	char msg[2048];
	int err;

	(void)state;
	elf = fake_elf(4096, &len);
	eh = (Elf64_Ehdr *)elf;
	ph = (Elf64_Phdr *)(elf + eh->e_phoff);
	assert_int_equal(vmlinux_check(elf, len, KNAME, &vi), 0);

#define EXPECT(what)                                       \
	do {                                               \
		capture_begin();                           \
		err = vmlinux_check(elf, len, KNAME, &vi); \
		capture_end(msg, sizeof(msg), true);       \
		assert_int_equal(err, -ENOEXEC);           \
		assert_one_message(msg, what);             \
	} while (0)

	eh->e_machine = EM_386;
	EXPECT("not a 64-bit x86 ELF");
	eh->e_machine = EM_X86_64;
	eh->e_type = ET_DYN;
	EXPECT("not an executable");
	eh->e_type = ET_EXEC;
	eh->e_phoff = len - 8;
	EXPECT("program headers");
	eh->e_phoff = sizeof(*eh);
	ph[0].p_offset = len - 16;
	EXPECT("segment 0 lies outside the file");
	ph[0].p_offset = FAKE_TEXT_OFF;
	ph[0].p_memsz = ph[0].p_filesz - 1;
	EXPECT("bad sizes");
	ph[0].p_memsz = 4096 + FAKE_BSS;
	ph[0].p_filesz = 4096;
	ph[0].p_paddr = UINT64_MAX - 10;
	EXPECT("bad sizes");
	ph[0].p_paddr = LOAD_PHYSICAL_ADDR;
	eh->e_entry = 0xffffffff81000040ULL; /* virtual: not where a loader jumps */
	EXPECT("not inside a loaded segment");
	eh->e_entry = FAKE_ENTRY;
	ph[0].p_type = PT_DYNAMIC;
	EXPECT("no loadable segment");
	ph[0].p_type = PT_LOAD;
	assert_int_equal(vmlinux_check(elf, len, KNAME, &vi), 0);
	memcpy(elf,
	       "\x7f"
	       "ELG",
	       4);
	EXPECT("not an ELF");
	len = 10;
	EXPECT("not an ELF");
#undef EXPECT
	free(elf);
}

/*
 * Random damage to every codec's stream and to the header: always a clean
 * error or a result within bounds (under ASan+UBSan in `make check`).
 */
static void test_mutations(void **state)
{
	(void)state;
	rng_state = 0x1234567887654321ULL;
	for (size_t i = 0; i < NR_CODECS; i++) {
		enum compression c = codecs[i];
		struct fake f;
		uint8_t *buf;
		unsigned int ok = 0, refused = 0;
		char msg[4096];

		fake_make(&f, c, 30000);
		buf = malloc(f.img_len);
		assert_non_null(buf);
		for (int iter = 0; iter < 1500; iter++) {
			struct bzimage_info bz;
			struct vmlinux_info vi;
			size_t len = f.img_len, out_len;
			void *out;
			int err, flips = 1 + rnd() % 4;

			memcpy(buf, f.img, f.img_len);
			for (int k = 0; k < flips; k++) {
				size_t at;

				/* Mostly the payload, sometimes the header. */
				if (rnd() % 8 == 0)
					at = 0x1f1 + rnd() % (0x270 - 0x1f1);
				else
					at = FAKE_SETUP + FAKE_PAYLOAD + rnd() % f.payload_len;
				buf[at] = (uint8_t)rnd();
			}
			if (rnd() % 8 == 0)
				len = rnd() % f.img_len;
			capture_begin();
			err = bzimage_parse(buf, len, KNAME, &bz);
			if (!err) {
				err = bzimage_decompress(&bz, 1 << 20, KNAME, &out, &out_len);
				if (!err) {
					assert_true(out_len <= 1 << 20);
					err = vmlinux_check(out, out_len, KNAME, &vi);
					free(out);
				}
			}
			capture_end(msg, sizeof(msg), false);
			if (err) {
				if (count_lines(msg) != 1)
					fail_msg("%s iteration %d: error %d with log: %s",
						 compression_name(c), iter, err, msg);
				refused++;
			} else {
				ok++;
			}
		}
		printf("bzimage: %s: 1500 damaged images, %u refused, %u accepted\n",
		       compression_name(c), refused, ok);
		free(buf);
		fake_free(&f);
	}
}

int main(void)
{
	/* One group: tools/run-tests reads one cmocka summary per program. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured(test_real_header),
		cmocka_unit_test_captured(test_real_decompress),
		cmocka_unit_test_captured(test_real_corrupt_payload),
		cmocka_unit_test_captured(test_real_truncated),
		cmocka_unit_test_captured(test_real_refused),
		cmocka_unit_test_captured(test_detect),
		cmocka_unit_test_captured(test_codecs_roundtrip),
		cmocka_unit_test_captured(test_lz4_multiblock),
		cmocka_unit_test_captured(test_codecs_corrupt),
		cmocka_unit_test_captured(test_codecs_truncated),
		cmocka_unit_test_captured(test_codecs_limit),
		cmocka_unit_test_captured(test_size_mismatch),
		cmocka_unit_test_captured(test_unsupported),
		cmocka_unit_test_captured(test_fake_header_edges),
		cmocka_unit_test_captured(test_vmlinux_check_errors),
		cmocka_unit_test_captured(test_mutations),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The setup fetches Debian's kernel; without it the real-image tests fail. */
	return cmocka_run_group_tests_name("bzimage", tests, real_setup, real_teardown);
}
