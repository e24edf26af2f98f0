// SPDX-License-Identifier: MIT
#include <elf.h>
#include <errno.h>
#include <string.h>

#include <evvm/log.h>

#include "boot.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Does [off, off + len) lie inside an image of @size bytes? */
static bool in_image(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

/*
 * Headers are copied out, never cast in place: the file's offsets need not
 * be aligned for the header types.
 */
bool elf_pvh_note(const uint8_t *img, uint64_t off, uint64_t end, uint64_t *entry)
{
	/* Notes: a header, then the name and descriptor, each padded to 4 bytes. */
	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr n;
		uint64_t name_off, desc_off, next;

		memcpy(&n, img + off, sizeof(n));
		name_off = off + sizeof(n);
		desc_off = name_off + ((n.n_namesz + 3ULL) & ~3ULL);
		next = desc_off + ((n.n_descsz + 3ULL) & ~3ULL);
		if (next > end)
			return false;
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    !memcmp(img + name_off, "Xen", 4) && (n.n_descsz == 4 || n.n_descsz == 8)) {
			uint32_t v32;

			if (n.n_descsz == 4) {
				memcpy(&v32, img + desc_off, 4);
				*entry = v32;
			} else {
				memcpy(entry, img + desc_off, 8);
			}
			return true;
		}
		off = next;
	}
	return false;
}

int elf_load(const struct evvm_mem *mem, const void *image, size_t size, const char *name,
	     struct elf_image *out)
{
	const uint8_t *img = image;
	Elf64_Ehdr ehdr;
	const Elf64_Ehdr *eh = &ehdr;
	unsigned int nr_load = 0;

	memset(out, 0, sizeof(*out));
	out->load_lo = UINT64_MAX;

	if (size >= sizeof(ehdr))
		memcpy(&ehdr, image, sizeof(ehdr));
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG)) {
		pr_err("kernel '%s': not an ELF file", name);
		return -ENOEXEC;
	}
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64) {
		pr_err("kernel '%s': not a 64-bit x86 ELF (class %u, machine %u)", name,
		       eh->e_ident[EI_CLASS], eh->e_machine);
		return -ENOEXEC;
	}
	if (eh->e_type != ET_EXEC) {
		pr_err("kernel '%s': ELF type %u is not an executable", name, eh->e_type);
		return -ENOEXEC;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    !in_image(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
		pr_err("kernel '%s': program headers out of the file", name);
		return -ENOEXEC;
	}
	out->entry = eh->e_entry;
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr phdr;
		const Elf64_Phdr *p = &phdr;
		uint8_t *dst;

		memcpy(&phdr, img + eh->e_phoff + (uint64_t)i * sizeof(phdr), sizeof(phdr));
		if (!in_image(size, p->p_offset, p->p_filesz)) {
			pr_err("kernel '%s': segment %u lies outside the file", name, i);
			return -ENOEXEC;
		}
		if (p->p_type == PT_NOTE) {
			if (elf_pvh_note(img, p->p_offset, p->p_offset + p->p_filesz,
					 &out->pvh_entry))
				out->has_pvh = true;
			continue;
		}
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz) {
			pr_err("kernel '%s': segment %u has file size > memory size", name, i);
			return -ENOEXEC;
		}
		dst = mem_translate(mem, p->p_paddr, p->p_memsz);
		if (!dst) {
			pr_err("kernel '%s': segment %u [0x%llx, +0x%llx) does not fit in guest "
			       "RAM",
			       name, i, (unsigned long long)p->p_paddr,
			       (unsigned long long)p->p_memsz);
			return -ENOSPC;
		}
		memcpy(dst, img + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		if (p->p_paddr < out->load_lo)
			out->load_lo = p->p_paddr;
		if (p->p_paddr + p->p_memsz - 1 > out->load_hi)
			out->load_hi = p->p_paddr + p->p_memsz - 1;
		nr_load++;
	}
	if (!nr_load) {
		pr_err("kernel '%s': no loadable segment", name);
		return -ENOEXEC;
	}
	return 0;
}
