// SPDX-License-Identifier: MIT
/*
 * mkbzimage: assemble evvm-linuxboot's bzImage (a host tool, run at build
 * time). Like Linux's arch/x86/boot/tools/build.c:
 *
 *   mkbzimage SETUP.bin VMLINUX PAYLOAD OUT
 *
 *   SETUP.bin  the real-mode part (boot sector + setup, setup.S), padded
 *              here to whole 512-byte sectors;
 *   VMLINUX    the guest ELF (linuxboot.ld): its PT_LOAD file bytes,
 *              [_text, _edata) at 16 MiB, are the protected-mode code,
 *              with startup_64 at +0x200; its symbols give _end and
 *              kernel_info;
 *   PAYLOAD    the compressed vmlinux (gzip -9 -n of the stripped ELF),
 *              placed after the code, 16-byte aligned.
 *
 * The protected-mode part ends with Linux's CRC-32 (boot protocol 2.08):
 * the CRC of the whole file, initial value ~0 and no final inversion, is
 * then 0. Header fields written: setup_sects, syssize, payload_offset,
 * payload_length, init_size, kernel_info_offset. The output depends only
 * on the inputs.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linuxboot.h"

static const char *prog = "mkbzimage";

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	*len = n;
	return buf;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Linux's partial_crc32(): reflected 0xedb88320, no inversions. */
static uint32_t crc32_partial(const uint8_t *p, size_t n, uint32_t crc)
{
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (crc & 1 ? 0xedb88320u : 0);
	}
	return crc;
}

static int inside(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

struct elf {
	const uint8_t *img;
	size_t size;
	Elf64_Ehdr eh;
};

static Elf64_Phdr phdr(const struct elf *e, unsigned int i)
{
	Elf64_Phdr p;

	memcpy(&p, e->img + e->eh.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
	return p;
}

static Elf64_Shdr shdr(const struct elf *e, unsigned int i)
{
	Elf64_Shdr s;

	memcpy(&s, e->img + e->eh.e_shoff + (uint64_t)i * sizeof(s), sizeof(s));
	return s;
}

/* The value of global symbol @name; dies if the ELF has no such symbol. */
static uint64_t symbol(const struct elf *e, const char *name)
{
	for (unsigned int i = 0; i < e->eh.e_shnum; i++) {
		Elf64_Shdr s = shdr(e, i), str;

		if (s.sh_type != SHT_SYMTAB || s.sh_link >= e->eh.e_shnum)
			continue;
		str = shdr(e, s.sh_link);
		if (!inside(e->size, s.sh_offset, s.sh_size) ||
		    !inside(e->size, str.sh_offset, str.sh_size))
			die("symbol table outside the file");
		for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= s.sh_size;
		     off += sizeof(Elf64_Sym)) {
			Elf64_Sym sym;
			const char *n;

			memcpy(&sym, e->img + s.sh_offset + off, sizeof(sym));
			if (sym.st_name >= str.sh_size)
				continue;
			n = (const char *)e->img + str.sh_offset + sym.st_name;
			if (!strncmp(n, name, str.sh_size - sym.st_name) &&
			    strlen(name) < str.sh_size - sym.st_name)
				return sym.st_value;
		}
	}
	die("vmlinux has no symbol '%s' (give the unstripped ELF)", name);
	return 0;
}

/* Has a PT_NOTE the Xen PVH entry note (type 18)? evvm would take PVH. */
static int has_pvh_note(const struct elf *e, const Elf64_Phdr *p)
{
	uint64_t off = p->p_offset, end = p->p_offset + p->p_filesz;

	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr n;
		uint64_t next;

		memcpy(&n, e->img + off, sizeof(n));
		next = off + sizeof(n) + ((n.n_namesz + 3ULL) & ~3ULL) +
		       ((n.n_descsz + 3ULL) & ~3ULL);
		if (next > end)
			break;
		if (n.n_type == 18 && n.n_namesz == 4 &&
		    !memcmp(e->img + off + sizeof(n), "Xen", 4))
			return 1;
		off = next;
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t setup_len, payload_len, pm_len, image_len, total;
	uint64_t lo = UINT64_MAX, hi = 0, end, kinfo;
	uint32_t setup_sects, init_size, crc;
	uint8_t *setup, *payload, *out;
	size_t payload_off;
	struct elf e;
	FILE *f;

	if (argc != 5) {
		fprintf(stderr, "usage: %s SETUP.bin VMLINUX PAYLOAD OUT\n", prog);
		return 2;
	}

	/* The real-mode part. */
	setup = read_file(argv[1], &setup_len);
	if (setup_len < HDR_END || get32(setup + HDR_HEADER) != HDRS_MAGIC)
		die("%s: no setup header (\"HdrS\" at 0x202)", argv[1]);
	setup_sects = (uint32_t)((setup_len + 511) / 512 - 1);
	if (setup_sects < 1 || (setup_sects + 1) * 512 > 0x8000)
		die("%s: %zu bytes: the setup must be 1..63 sectors after the boot sector", argv[1],
		    setup_len);

	/* The ELF: PT_LOAD file bytes from _text. */
	e.img = read_file(argv[2], &e.size);
	if (e.size < sizeof(e.eh) || memcmp(e.img, ELFMAG, SELFMAG))
		die("%s: not an ELF file", argv[2]);
	memcpy(&e.eh, e.img, sizeof(e.eh));
	if (e.eh.e_ident[EI_CLASS] != ELFCLASS64 || e.eh.e_machine != EM_X86_64 ||
	    e.eh.e_type != ET_EXEC || e.eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    e.eh.e_shentsize != sizeof(Elf64_Shdr) ||
	    !inside(e.size, e.eh.e_phoff, (uint64_t)e.eh.e_phnum * sizeof(Elf64_Phdr)) ||
	    !inside(e.size, e.eh.e_shoff, (uint64_t)e.eh.e_shnum * sizeof(Elf64_Shdr)))
		die("%s: not an x86-64 ELF executable with program and section headers", argv[2]);
	for (unsigned int i = 0; i < e.eh.e_phnum; i++) {
		Elf64_Phdr p = phdr(&e, i);

		if (!inside(e.size, p.p_offset, p.p_filesz))
			die("%s: segment %u lies outside the file", argv[2], i);
		if (p.p_type == PT_NOTE && has_pvh_note(&e, &p))
			die("%s: has a Xen PVH note; this image must boot through the Linux boot "
			    "protocol",
			    argv[2]);
		if (p.p_type != PT_LOAD || !p.p_memsz)
			continue;
		if (p.p_paddr < lo)
			lo = p.p_paddr;
		if (p.p_filesz && p.p_paddr + p.p_filesz > hi)
			hi = p.p_paddr + p.p_filesz;
	}
	if (lo != LB_LOAD_ADDR || hi <= lo || hi - lo > 64 << 20)
		die("%s: PT_LOADs [0x%llx, 0x%llx): must start at 0x%x", argv[2],
		    (unsigned long long)lo, (unsigned long long)hi, LB_LOAD_ADDR);
	if (e.eh.e_entry != lo + LB_ENTRY64_OFFSET || symbol(&e, "startup_64") != e.eh.e_entry)
		die("%s: e_entry 0x%llx is not startup_64 at 0x%llx", argv[2],
		    (unsigned long long)e.eh.e_entry, (unsigned long long)(lo + LB_ENTRY64_OFFSET));
	end = symbol(&e, "_end");
	kinfo = symbol(&e, "kernel_info");
	if (end < hi || kinfo < lo || kinfo + 16 > hi)
		die("%s: _end 0x%llx or kernel_info 0x%llx out of place", argv[2],
		    (unsigned long long)end, (unsigned long long)kinfo);
	image_len = hi - lo;

	payload = read_file(argv[3], &payload_len);
	if (payload_len < 18 || payload[0] != 0x1f || payload[1] != 0x8b)
		die("%s: not a gzip file", argv[3]);

	/* Layout: setup | image | payload | CRC, each 16-byte aligned. */
	payload_off = (image_len + 15) & ~(size_t)15;
	pm_len = (payload_off + payload_len + 4 + 15) & ~(size_t)15;
	total = (setup_sects + 1) * 512 + pm_len;
	out = calloc(1, total);
	if (!out)
		die("out of memory");
	memcpy(out, setup, setup_len);
	for (unsigned int i = 0; i < e.eh.e_phnum; i++) {
		Elf64_Phdr p = phdr(&e, i);

		if (p.p_type == PT_LOAD && p.p_filesz)
			memcpy(out + (setup_sects + 1) * 512 + (p.p_paddr - lo), e.img + p.p_offset,
			       p.p_filesz);
	}
	memcpy(out + (setup_sects + 1) * 512 + payload_off, payload, payload_len);
	if (get32(out + (setup_sects + 1) * 512 + (kinfo - lo)) != 0x506f544c)
		die("%s: no \"LToP\" at kernel_info", argv[2]);

	init_size = (uint32_t)(((end - lo > pm_len ? end - lo : pm_len) + 4095) & ~4095ULL);
	out[HDR_SETUP_SECTS] = (uint8_t)setup_sects;
	put32(out + HDR_SYSSIZE, (uint32_t)(pm_len / 16));
	put32(out + HDR_PAYLOAD_OFFSET, (uint32_t)payload_off);
	put32(out + HDR_PAYLOAD_LENGTH, (uint32_t)payload_len);
	put32(out + HDR_INIT_SIZE, init_size);
	put32(out + HDR_KERNEL_INFO_OFFSET, (uint32_t)(kinfo - lo));
	crc = crc32_partial(out, total - 4, 0xffffffffu);
	put32(out + total - 4, crc);

	f = fopen(argv[4], "wb");
	if (!f || fwrite(out, 1, total, f) != total || fclose(f))
		die("%s: %s", argv[4], strerror(errno));
	printf("%s: %s: setup %u sectors, code %zu bytes, payload %zu bytes at +0x%zx, "
	       "syssize 0x%zx, init_size 0x%x\n",
	       prog, argv[4], setup_sects, image_len, payload_len, payload_off, pm_len / 16,
	       init_size);
	free(out);
	free(payload);
	free(setup);
	free((void *)e.img);
	return 0;
}
