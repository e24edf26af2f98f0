// SPDX-License-Identifier: MIT
/*
 * The Linux x86 boot protocol's setup header (Documentation/arch/x86/boot.rst),
 * the compressed payload it points to, and the vmlinux ELF inside it.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "../le.h"
#include "boot.h"
#include "bzimage.h"

/* The setup's NUL-terminated version string, printable ASCII only. */
static void get_kernel_version(const uint8_t *img, const struct bzimage_info *bz, char *buf,
			       size_t len)
{
	uint16_t ptr = get_le16(img + BZ_KERNEL_VERSION);
	size_t off = (size_t)ptr + 0x200, n = 0;

	buf[0] = '\0';
	if (!ptr || off >= bz->setup_size)
		return;
	while (n + 1 < len && off + n < bz->setup_size && img[off + n] >= 0x20 &&
	       img[off + n] < 0x7f) {
		buf[n] = (char)img[off + n];
		n++;
	}
	buf[n] = '\0';
}

int bzimage_parse(const void *image, size_t size, const char *name, struct bzimage_info *out)
{
	const uint8_t *img = image;
	struct bzimage_info *bz = out;
	unsigned int setup_sects;
	size_t hdr_end;

	memset(bz, 0, sizeof(*bz));
	if (size < BZ_HEADER + 4) {
		pr_err("kernel '%s': truncated: %zu bytes cannot hold a bzImage setup header", name,
		       size);
		return -ENOEXEC;
	}
	if (get_le32(img + BZ_HEADER) != BZ_HDRS_MAGIC) {
		pr_err("kernel '%s': not a bzImage (no \"HdrS\" boot header magic at 0x202)", name);
		return -ENOEXEC;
	}
	if (size < BZ_VERSION + 2) {
		pr_err("kernel '%s': truncated: the setup header ends at %zu bytes", name, size);
		return -ENOEXEC;
	}
	bz->version = get_le16(img + BZ_VERSION);
	if (bz->version < 0x0208) {
		pr_err("kernel '%s': boot protocol %u.%02u is too old: evvm needs 2.08 or later "
		       "(payload_offset)",
		       name, bz->version >> 8, bz->version & 0xff);
		return -ENOEXEC;
	}
	/* Every field this version defines that evvm reads. */
	hdr_end = bz->version >= 0x020a ? BZ_INIT_SIZE + 4 : BZ_PAYLOAD_LENGTH + 4;
	if (size < hdr_end) {
		pr_err("kernel '%s': truncated: the protocol %u.%02u setup header needs %zu bytes, "
		       "the file has %zu",
		       name, bz->version >> 8, bz->version & 0xff, hdr_end, size);
		return -ENOEXEC;
	}

	setup_sects = img[BZ_SETUP_SECTS] ? img[BZ_SETUP_SECTS] : 4;
	bz->setup_size = (setup_sects + 1) * 512;
	bz->loadflags = img[BZ_LOADFLAGS];
	bz->initrd_addr_max = get_le32(img + BZ_INITRD_ADDR_MAX);
	bz->kernel_alignment = get_le32(img + BZ_KERNEL_ALIGNMENT);
	bz->relocatable = img[BZ_RELOCATABLE] != 0;
	bz->cmdline_size = get_le32(img + BZ_CMDLINE_SIZE);
	if (bz->version >= 0x020a) {
		bz->min_alignment = img[BZ_MIN_ALIGNMENT];
		bz->pref_address = get_le64(img + BZ_PREF_ADDRESS);
		bz->init_size = get_le32(img + BZ_INIT_SIZE);
	}
	if (bz->version >= 0x020c)
		bz->xloadflags = get_le16(img + BZ_XLOADFLAGS);

	if (size < bz->setup_size) {
		pr_err("kernel '%s': truncated: the setup is %u bytes (%u sectors and the boot "
		       "sector), the file has %zu",
		       name, bz->setup_size, setup_sects, size);
		return -ENOEXEC;
	}
	get_kernel_version(img, bz, bz->kernel_version, sizeof(bz->kernel_version));
	if (!(bz->loadflags & BZ_LOADED_HIGH)) {
		pr_err("kernel '%s': a zImage (loadflags 0x%02x: not loaded high); evvm boots "
		       "bzImages",
		       name, bz->loadflags);
		return -ENOEXEC;
	}
	bz->pm_offset = bz->setup_size;
	bz->pm_size = (uint64_t)get_le32(img + BZ_SYSSIZE) * 16;
	if (bz->pm_size == 0) {
		pr_err("kernel '%s': syssize is 0: no protected-mode code", name);
		return -ENOEXEC;
	}
	/* A signed kernel (Authenticode) has its signature after syssize. */
	if (bz->pm_size > size - bz->pm_offset) {
		pr_err("kernel '%s': truncated: the protected-mode code is %llu bytes at offset "
		       "%llu, the file has %zu",
		       name, (unsigned long long)bz->pm_size, (unsigned long long)bz->pm_offset,
		       size);
		return -ENOEXEC;
	}
	if (!(bz->xloadflags & XLF_KERNEL_64)) {
		pr_err("kernel '%s': 32-bit only (no 64-bit entry); evvm boots 64-bit kernels",
		       name);
		return -ENOEXEC;
	}

	{
		uint32_t poff = get_le32(img + BZ_PAYLOAD_OFFSET);

		bz->payload_length = get_le32(img + BZ_PAYLOAD_LENGTH);
		bz->payload_offset = bz->pm_offset + poff;
		if (!poff || !bz->payload_length) {
			pr_err("kernel '%s': no payload (payload_offset 0x%x, payload_length 0x%x)",
			       name, poff, bz->payload_length);
			return -ENOEXEC;
		}
		if (poff > bz->pm_size || bz->payload_length > bz->pm_size - poff) {
			pr_err("kernel '%s': truncated: the payload [0x%x, +0x%x) runs past the "
			       "protected-mode code (0x%llx bytes)",
			       name, poff, bz->payload_length, (unsigned long long)bz->pm_size);
			return -ENOEXEC;
		}
	}
	bz->payload = img + bz->payload_offset;
	if (bz->payload_length >= 4)
		bz->uncompressed_size = get_le32(bz->payload + bz->payload_length - 4);
	bz->compression = compression_detect(bz->payload, bz->payload_length);
	if (bz->compression == COMPRESSION_UNKNOWN) {
		const uint8_t *p = bz->payload;
		size_t n = bz->payload_length;

		pr_err("kernel '%s': payload has no known compression magic (it starts %02x %02x "
		       "%02x %02x)",
		       name, n > 0 ? p[0] : 0, n > 1 ? p[1] : 0, n > 2 ? p[2] : 0,
		       n > 3 ? p[3] : 0);
		return -ENOEXEC;
	}
	if (!compression_supported(bz->compression)) {
		pr_err("kernel '%s': payload is %s-compressed, which evvm does not support (gzip, "
		       "xz, lz4, zstd)",
		       name, compression_name(bz->compression));
		return -ENOTSUP;
	}
	return 0;
}

int bzimage_decompress(const struct bzimage_info *bz, size_t limit, const char *name,
		       void **vmlinux, size_t *len)
{
	int err;

	err = decompress(bz->compression, bz->payload, bz->payload_length, vmlinux, len, limit,
			 name);
	if (err)
		return err;
	/*
	 * Linux appends the uncompressed size to every compressed payload
	 * (gzip's own trailer ends with it): a mismatch is a damaged image.
	 */
	if (bz->compression != COMPRESSION_NONE && *len != bz->uncompressed_size) {
		pr_err("kernel '%s': the %s payload decompressed to %zu bytes, the image records "
		       "%u",
		       name, compression_name(bz->compression), *len, bz->uncompressed_size);
		free(*vmlinux);
		*vmlinux = NULL;
		*len = 0;
		return -EINVAL;
	}
	return 0;
}

/* Does [off, off + len) lie inside @size bytes? */
static bool inside(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

int vmlinux_check(const void *elf, size_t size, const char *name, struct vmlinux_info *out)
{
	const uint8_t *img = elf;
	Elf64_Ehdr eh;
	bool entry_ok = false;

	memset(out, 0, sizeof(*out));
	out->load_lo = UINT64_MAX;
	if (size < sizeof(eh) || memcmp(img, ELFMAG, SELFMAG)) {
		pr_err("kernel '%s': vmlinux is not an ELF file", name);
		return -ENOEXEC;
	}
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64) {
		pr_err("kernel '%s': vmlinux is not a 64-bit x86 ELF (class %u, machine %u)", name,
		       eh.e_ident[EI_CLASS], eh.e_machine);
		return -ENOEXEC;
	}
	if (eh.e_type != ET_EXEC) {
		pr_err("kernel '%s': vmlinux ELF type %u is not an executable", name, eh.e_type);
		return -ENOEXEC;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !inside(size, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr))) {
		pr_err("kernel '%s': vmlinux program headers lie outside the file", name);
		return -ENOEXEC;
	}
	out->entry = eh.e_entry;

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr p;
		struct vmlinux_segment *s;

		memcpy(&p, img + eh.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
		if (!inside(size, p.p_offset, p.p_filesz)) {
			pr_err("kernel '%s': vmlinux segment %u lies outside the file", name, i);
			return -ENOEXEC;
		}
		if (p.p_type == PT_NOTE) {
			if (elf_pvh_note(img, p.p_offset, p.p_offset + p.p_filesz, &out->pvh_entry))
				out->has_pvh = true;
			continue;
		}
		if (p.p_type != PT_LOAD || p.p_memsz == 0)
			continue;
		if (p.p_filesz > p.p_memsz || p.p_paddr + p.p_memsz < p.p_paddr) {
			pr_err("kernel '%s': vmlinux segment %u has bad sizes (file 0x%llx, memory "
			       "0x%llx at 0x%llx)",
			       name, i, (unsigned long long)p.p_filesz,
			       (unsigned long long)p.p_memsz, (unsigned long long)p.p_paddr);
			return -ENOEXEC;
		}
		if (out->nr_load == VMLINUX_MAX_LOAD) {
			pr_err("kernel '%s': vmlinux has more than %u loadable segments", name,
			       VMLINUX_MAX_LOAD);
			return -ENOEXEC;
		}
		s = &out->load[out->nr_load++];
		*s = (struct vmlinux_segment){ .paddr = p.p_paddr,
					       .vaddr = p.p_vaddr,
					       .offset = p.p_offset,
					       .filesz = p.p_filesz,
					       .memsz = p.p_memsz };
		if (p.p_paddr < out->load_lo)
			out->load_lo = p.p_paddr;
		if (p.p_paddr + p.p_memsz - 1 > out->load_hi)
			out->load_hi = p.p_paddr + p.p_memsz - 1;
		if (eh.e_entry >= p.p_paddr && eh.e_entry - p.p_paddr < p.p_memsz)
			entry_ok = true;
	}
	if (!out->nr_load) {
		pr_err("kernel '%s': vmlinux has no loadable segment", name);
		return -ENOEXEC;
	}
	if (!entry_ok) {
		pr_err("kernel '%s': vmlinux entry 0x%llx is not inside a loaded segment "
		       "(physical)",
		       name, (unsigned long long)eh.e_entry);
		return -ENOEXEC;
	}
	return 0;
}
