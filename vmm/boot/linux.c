// SPDX-License-Identifier: MIT
/*
 * Booting Linux with its 64-bit boot protocol (Documentation/arch/x86/boot.rst):
 * a bzImage whose payload evvm decompresses on the host (the vmlinux ELF's
 * PT_LOADs go to their physical addresses and the vCPU starts at its
 * startup_64), a bzImage left to decompress itself (its protected-mode
 * code at its preferred address, entered at +0x200), or a vmlinux ELF.
 * ELF kernels with a PVH note go through pvh_load() unless --boot=linux64.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <evvm/log.h>

#include "../arch/x86/acpi.h"
#include "../arch/x86/x86.h"
#include "../le.h"
#include "../vm.h"
#include "bzimage.h"
#include "linux.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#define PAGE_SIZE 0x1000ULL

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the kernel's setup header ---- */

int linux_kernel_from_bzimage(const struct bzimage_info *bz, const void *image, size_t size,
			      uint64_t load_addr, uint64_t entry, const char *name,
			      struct linux_kernel *k)
{
	const uint8_t *img = image;
	size_t end;

	memset(k, 0, sizeof(*k));
	if (size <= HDR_JUMP + 1) {
		pr_err("kernel '%s': truncated: no setup header", name);
		return -ENOEXEC;
	}
	/* boot.rst: the header ends at 0x202 + the byte at 0x201 (the jump's offset). */
	end = 0x202 + (size_t)img[HDR_JUMP + 1];
	if (end > BP_HDR_END)
		end = BP_HDR_END;
	if (end > size) {
		pr_err("kernel '%s': truncated: the setup header ends at 0x%zx, the file has %zu "
		       "bytes",
		       name, end, size);
		return -ENOEXEC;
	}
	if (end < HDR_INIT_SIZE + 4 && bz->version >= 0x020a) {
		pr_err("kernel '%s': setup header of protocol %u.%02u ends at 0x%zx, before "
		       "init_size",
		       name, bz->version >> 8, bz->version & 0xff, end);
		return -ENOEXEC;
	}
	k->hdr_len = end - BP_HDR;
	memcpy(k->hdr, img + BP_HDR, k->hdr_len);
	k->load_addr = load_addr;
	k->entry = entry;
	k->init_size = bz->init_size;
	k->cmdline_size = bz->cmdline_size;
	k->initrd_addr_max = bz->initrd_addr_max;
	return 0;
}

/* The header byte at zero-page offset @off. */
#define HDR_AT(k, off) ((k)->hdr + (off)-BP_HDR)

void linux_kernel_synthesize(uint64_t load_addr, uint64_t init_size, uint64_t entry,
			     struct linux_kernel *k)
{
	memset(k, 0, sizeof(*k));
	k->synthesized = true;
	k->load_addr = load_addr;
	k->init_size = init_size;
	k->entry = entry;
	k->cmdline_size = LINUX_SYNTH_CMDLINE_SIZE;
	k->initrd_addr_max = LINUX_SYNTH_INITRD_ADDR_MAX;
	k->hdr_len = HDR_INIT_SIZE + 4 - BP_HDR;

	put_le16(HDR_AT(k, HDR_VID_MODE), 0xffff); /* "normal" */
	put_le16(HDR_AT(k, HDR_BOOT_FLAG), 0xaa55);
	*HDR_AT(k, HDR_JUMP + 1) = HDR_INIT_SIZE + 4 - 0x202;
	memcpy(HDR_AT(k, HDR_HEADER), "HdrS", 4);
	put_le16(HDR_AT(k, HDR_VERSION), LINUX_SYNTH_VERSION);
	*HDR_AT(k, HDR_LOADFLAGS) = LOADFLAG_LOADED_HIGH;
	put_le32(HDR_AT(k, HDR_INITRD_ADDR_MAX), LINUX_SYNTH_INITRD_ADDR_MAX);
	put_le32(HDR_AT(k, HDR_KERNEL_ALIGNMENT), LINUX_SYNTH_ALIGNMENT);
	*HDR_AT(k, HDR_RELOCATABLE) = 0;
	put_le16(HDR_AT(k, HDR_XLOADFLAGS), XLF_KERNEL_64);
	put_le32(HDR_AT(k, HDR_CMDLINE_SIZE), LINUX_SYNTH_CMDLINE_SIZE);
	put_le64(HDR_AT(k, HDR_PREF_ADDRESS), load_addr);
	put_le32(HDR_AT(k, HDR_INIT_SIZE),
		 init_size > UINT32_MAX ? UINT32_MAX : (uint32_t)init_size);
}

/* ---- ELF ---- */

/*
 * The program headers of an ELF that elf_load() accepted, or NULL. They are
 * wherever e_phoff says, aligned or not: read each with elf_phdr().
 */
static const uint8_t *elf_phdrs(const void *elf, size_t size, unsigned int *nr)
{
	Elf64_Ehdr eh;

	if (size < sizeof(eh))
		return NULL;
	memcpy(&eh, elf, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
		return NULL;
	*nr = eh.e_phnum;
	return (const uint8_t *)elf + eh.e_phoff;
}

static Elf64_Phdr elf_phdr(const uint8_t *phdrs, unsigned int i)
{
	Elf64_Phdr p;

	memcpy(&p, phdrs + (size_t)i * sizeof(p), sizeof(p));
	return p;
}

int linux_elf_entry(const void *elf, size_t size, uint64_t *phys)
{
	const uint8_t *ph;
	unsigned int nr;
	Elf64_Ehdr eh;

	ph = elf_phdrs(elf, size, &nr);
	if (!ph)
		return -ENOEXEC;
	memcpy(&eh, elf, sizeof(eh));
	/* Linux's vmlinux: e_entry is phys_startup_64, a physical address. */
	for (unsigned int i = 0; i < nr; i++) {
		Elf64_Phdr p = elf_phdr(ph, i);

		if (p.p_type == PT_LOAD && eh.e_entry >= p.p_paddr &&
		    eh.e_entry - p.p_paddr < p.p_memsz) {
			*phys = eh.e_entry;
			return 0;
		}
	}
	/* A virtual entry (0xffffffff8...): move it with its segment's load offset. */
	for (unsigned int i = 0; i < nr; i++) {
		Elf64_Phdr p = elf_phdr(ph, i);

		if (p.p_type == PT_LOAD && eh.e_entry >= p.p_vaddr &&
		    eh.e_entry - p.p_vaddr < p.p_memsz) {
			*phys = eh.e_entry - p.p_vaddr + p.p_paddr;
			return 0;
		}
	}
	return -ENOEXEC;
}

uint64_t linux_elf_footprint(const void *elf, size_t size, uint64_t load_lo, uint64_t load_hi)
{
	const uint8_t *img = elf;
	const uint8_t *ph;
	uint64_t end = load_hi + 1, vbase = 0, off = 0;
	bool found = false;
	unsigned int nr;
	Elf64_Ehdr eh;

	ph = elf_phdrs(elf, size, &nr);
	if (!ph)
		return align_up(end, PAGE_SIZE) - load_lo;
	memcpy(&eh, elf, sizeof(eh));
	for (unsigned int i = 0; i < nr && !found; i++) {
		Elf64_Phdr p = elf_phdr(ph, i);

		if (p.p_type == PT_LOAD && p.p_memsz && p.p_paddr == load_lo) {
			vbase = p.p_vaddr;
			off = p.p_vaddr - p.p_paddr;
			found = true;
		}
	}
	if (found && eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shoff <= size &&
	    (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) <= size - eh.e_shoff) {
		for (unsigned int i = 0; i < eh.e_shnum; i++) {
			Elf64_Shdr sh;
			uint64_t phys_end;

			memcpy(&sh, img + eh.e_shoff + (uint64_t)i * sizeof(sh), sizeof(sh));
			/* Sections of the kernel's own mapping (not the per-CPU one at 0). */
			if (!(sh.sh_flags & SHF_ALLOC) || !sh.sh_size || sh.sh_addr < vbase)
				continue;
			phys_end = sh.sh_addr - off + sh.sh_size;
			if (phys_end > end && phys_end - load_lo < (1ULL << 32))
				end = phys_end;
		}
	}
	return align_up(end, PAGE_SIZE) - load_lo;
}

/* Does the ELF have a PVH entry note? */
static bool elf_has_pvh(const void *elf, size_t size)
{
	const uint8_t *img = elf;
	const uint8_t *ph;
	unsigned int nr;
	uint64_t entry;

	ph = elf_phdrs(elf, size, &nr);
	for (unsigned int i = 0; ph && i < nr; i++) {
		Elf64_Phdr p = elf_phdr(ph, i);

		if (p.p_type == PT_NOTE && p.p_offset <= size && p.p_filesz <= size - p.p_offset &&
		    elf_pvh_note(img, p.p_offset, p.p_offset + p.p_filesz, &entry))
			return true;
	}
	return false;
}

/* ---- where things go ---- */

int linux_place_initrd(const struct linux_kernel *k, uint64_t ram_end, uint64_t size,
		       const char *name, uint64_t *addr)
{
	uint64_t top = ram_end, klo = k->load_addr, khi = k->load_addr + k->init_size;
	uint64_t a;

	if (k->initrd_addr_max + 1 < top)
		top = k->initrd_addr_max + 1;
	/* As high as possible: the kernel's memory grows up from its load address. */
	if (size <= top && ((top - size) & ~(PAGE_SIZE - 1)) >= HIGH_MEM_START) {
		a = (top - size) & ~(PAGE_SIZE - 1);
		if (a >= khi || a + size <= klo) {
			*addr = a;
			return 0;
		}
	}
	/* Above the kernel there was no room: just below it. */
	if (klo <= top && size <= klo && ((klo - size) & ~(PAGE_SIZE - 1)) >= HIGH_MEM_START) {
		*addr = (klo - size) & ~(PAGE_SIZE - 1);
		return 0;
	}
	pr_err("initramfs '%s': %llu bytes do not fit in guest RAM between 1 MiB and 0x%llx "
	       "outside the kernel's [0x%llx, 0x%llx) (add --memory)",
	       name, (unsigned long long)size, (unsigned long long)top, (unsigned long long)klo,
	       (unsigned long long)khi);
	return -ENOSPC;
}

int linux_build_boot_params(uint8_t *bp, const struct linux_kernel *k, const char *cmdline,
			    uint64_t cmdline_gpa, uint64_t initrd_addr, uint64_t initrd_size,
			    const struct e820_entry *e820, unsigned int n, const char *name)
{
	size_t len = strlen(cmdline);

	if (len > k->cmdline_size) {
		pr_err("kernel '%s': the command line is %zu bytes (with evvm's "
		       "virtio_mmio.device= entries), the kernel takes at most %u (cmdline_size)",
		       name, len, k->cmdline_size);
		return -E2BIG;
	}
	if (n > BP_E820_MAX) {
		pr_err("kernel '%s': %u e820 entries, the zero page holds %u", name, n,
		       BP_E820_MAX);
		return -E2BIG;
	}
	/* boot.rst: a clean zero page, then the image's setup header. */
	memset(bp, 0, BP_SIZE);
	memcpy(bp + BP_HDR, k->hdr, sizeof(k->hdr));
	memset(bp + BP_HDR + k->hdr_len, 0, sizeof(k->hdr) - k->hdr_len);

	bp[HDR_TYPE_OF_LOADER] = LINUX_LOADER_TYPE;
	bp[HDR_LOADFLAGS] = (bp[HDR_LOADFLAGS] | LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP) &
			    ~LOADFLAG_KASLR;
	put_le32(bp + HDR_CODE32_START, (uint32_t)k->load_addr);
	put_le16(bp + HDR_HEAP_END_PTR, LINUX_HEAP_END_PTR);
	put_le32(bp + HDR_CMD_LINE_PTR, (uint32_t)cmdline_gpa);
	put_le32(bp + BP_EXT_CMD_LINE_PTR, (uint32_t)(cmdline_gpa >> 32));
	put_le32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	put_le32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	put_le32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
	put_le32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
	put_le32(bp + HDR_HARDWARE_SUBARCH, 0); /* X86_SUBARCH_PC */
	put_le64(bp + HDR_SUBARCH_DATA, 0);
	put_le64(bp + HDR_SETUP_DATA, 0);

	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		put_le64(e, e820[i].addr);
		put_le64(e + 8, e820[i].size);
		put_le32(e + 16, e820[i].type);
	}
	return 0;
}

#define PTE_P	0x001ULL
#define PTE_RW	0x002ULL
#define PTE_PWT 0x008ULL
#define PTE_PCD 0x010ULL
#define PTE_PS	0x080ULL

void linux_build_page_tables(uint8_t *pt)
{
	uint8_t *pml4 = pt, *pdpt = pt + 0x1000, *pd = pt + 0x2000;

	memset(pt, 0, LINUX_PT_SIZE);
	put_le64(pml4, LINUX_PDPT_GPA | PTE_P | PTE_RW);
	for (uint64_t g = 0; g < 4; g++)
		put_le64(pdpt + g * 8, (LINUX_PD_GPA + g * 0x1000) | PTE_P | PTE_RW);
	for (uint64_t i = 0; i < 4 * 512; i++) {
		uint64_t addr = i << 21, flags = PTE_P | PTE_RW | PTE_PS;

		/* 3..4 GiB is the MMIO hole (LAPIC, IOAPIC, virtio-mmio). */
		if (addr >= 0xc0000000ULL)
			flags |= PTE_PCD | PTE_PWT;
		put_le64(pd + i * 8, addr | flags);
	}
}

void linux_build_gdt(uint64_t gdt[4])
{
	gdt[0] = 0;
	gdt[1] = 0;
	/* Base 0, limit 0xfffff pages; access 0x9b / 0x93; G with L (code) or D/B (data). */
	gdt[LINUX64_BOOT_CS / 8] = 0x00af9b000000ffffULL;
	gdt[LINUX64_BOOT_DS / 8] = 0x00cf93000000ffffULL;
}

/* ---- loading ---- */

static uint64_t low_ram_end(const struct evvm_vm *vm)
{
	return vm->ram_size < LOW_RAM_END ? vm->ram_size : LOW_RAM_END;
}

/* The kernel's [load_addr, load_addr + init_size) must be RAM above the boot data. */
static int check_kernel_fits(const struct evvm_vm *vm, const struct linux_kernel *k,
			     const char *name)
{
	uint64_t end = k->load_addr + k->init_size;

	if (k->load_addr < HIGH_MEM_START) {
		pr_err("kernel '%s': loads at 0x%llx, below 1 MiB where evvm keeps boot data", name,
		       (unsigned long long)k->load_addr);
		return -ENOEXEC;
	}
	if (end > low_ram_end(vm) || end < k->load_addr) {
		pr_err("kernel '%s': needs guest RAM up to 0x%llx (loaded at 0x%llx, init_size "
		       "0x%llx), the guest has %llu MiB below 3 GiB: --memory size=%lluM at the "
		       "very least",
		       name, (unsigned long long)end, (unsigned long long)k->load_addr,
		       (unsigned long long)k->init_size,
		       (unsigned long long)(low_ram_end(vm) >> 20),
		       (unsigned long long)((end + 0xfffff) >> 20));
		return -ENOSPC;
	}
	return 0;
}

/* Zero page, command line, initramfs, page tables and GDT; then the entry. */
static int linux_setup(struct evvm_vm *vm, const struct linux_kernel *k, const char *how,
		       struct boot_entry *entry)
{
	const struct evvm_vm_config *cfg = &vm->cfg;
	const char *name = cfg->kernel_name;
	const char *cmdline = vm->cmdline ? vm->cmdline : "";
	struct e820_entry e820[E820_MAX];
	uint8_t *bp, *pt, *dst;
	uint64_t initrd = 0, initrd_size = 0, gdt[4];
	unsigned int n;
	int err;

	err = check_kernel_fits(vm, k, name);
	if (err)
		return err;
	if (cfg->initramfs) {
		initrd_size = cfg->initramfs_size;
		err = linux_place_initrd(k, low_ram_end(vm), initrd_size, cfg->initramfs_name,
					 &initrd);
		if (err)
			return err;
	}
	n = e820_build(vm, e820, E820_MAX);
	bp = calloc(1, BP_SIZE + LINUX_PT_SIZE);
	if (!bp)
		return -ENOMEM;
	pt = bp + BP_SIZE;
	/* This checks the command line's length: before anything is copied. */
	err = linux_build_boot_params(bp, k, cmdline, LINUX_CMDLINE_GPA, initrd, initrd_size, e820,
				      n, name);
	/* Where the tables are, so the kernel need not scan for the RSDP (protocol 2.14). */
	if (!err && !cfg->no_acpi)
		put_le64(bp + BP_ACPI_RSDP_ADDR, ACPI_RSDP_GPA);
	if (!err && cfg->initramfs) {
		dst = mem_translate(&vm->mem, initrd, initrd_size);
		if (dst)
			memcpy(dst, cfg->initramfs, initrd_size);
		else
			err = -EFAULT; /* cannot happen: placed inside low RAM */
	}
	if (!err) {
		linux_build_page_tables(pt);
		linux_build_gdt(gdt);
		if (mem_write(&vm->mem, LINUX_ZERO_PAGE_GPA, bp, BP_SIZE) ||
		    mem_write(&vm->mem, LINUX_CMDLINE_GPA, cmdline, strlen(cmdline) + 1) ||
		    mem_write(&vm->mem, LINUX_PML4_GPA, pt, LINUX_PT_SIZE) ||
		    mem_write(&vm->mem, LINUX_GDT_GPA, gdt, sizeof(gdt)))
			err = -EFAULT; /* cannot happen: RAM is at least EVVM_MEM_MIN */
	}
	free(bp);
	if (err)
		return err;

	*entry = (struct boot_entry){
		.mode = BOOT_ENTRY_LINUX64,
		.rip = k->entry,
		.rsi = LINUX_ZERO_PAGE_GPA,
	};
	pr_info("kernel '%s': %s; 64-bit entry 0x%llx, kernel [0x%llx, +0x%llx), zero page "
		"0x%llx, command line 0x%llx (%zu bytes)",
		name, how, (unsigned long long)k->entry, (unsigned long long)k->load_addr,
		(unsigned long long)k->init_size, LINUX_ZERO_PAGE_GPA, LINUX_CMDLINE_GPA,
		strlen(cmdline));
	if (cfg->initramfs)
		pr_info("initramfs '%s': [0x%llx, +0x%llx)", cfg->initramfs_name,
			(unsigned long long)initrd, (unsigned long long)initrd_size);
	return 0;
}

/* A vmlinux (or any 64-bit ELF) entered with the 64-bit protocol. */
static int linux_load_elf(struct evvm_vm *vm, struct boot_entry *entry)
{
	const char *name = vm->cfg.kernel_name;
	struct linux_kernel k;
	struct elf_image elf;
	uint64_t kentry;
	int err;

	err = elf_load(&vm->mem, vm->cfg.kernel, vm->cfg.kernel_size, name, &elf);
	if (err)
		return err;
	if (linux_elf_entry(vm->cfg.kernel, vm->cfg.kernel_size, &kentry)) {
		pr_err("kernel '%s': ELF entry 0x%llx is in no loaded segment (physical or "
		       "virtual)",
		       name, (unsigned long long)elf.entry);
		return -ENOEXEC;
	}
	linux_kernel_synthesize(elf.load_lo, 0, kentry, &k);
	k.init_size =
		linux_elf_footprint(vm->cfg.kernel, vm->cfg.kernel_size, elf.load_lo, elf.load_hi);
	/* The synthesized header says so too. */
	put_le32(HDR_AT(&k, HDR_INIT_SIZE), (uint32_t)k.init_size);
	return linux_setup(vm, &k, "ELF, 64-bit Linux boot protocol", entry);
}

/*
 * Guest RAM pages are allocated (and zeroed) by the host kernel on first
 * touch, which costs about as much as decompressing the kernel: a thread
 * does it for the range the kernel will load into while the payload
 * decompresses. Advice only: errors are ignored.
 */
struct prefault {
	void *hva;
	size_t len;
	pthread_t thread;
	bool started;
};

static void *prefault_thread(void *arg)
{
	struct prefault *p = arg;

	madvise(p->hva, p->len, MADV_POPULATE_WRITE);
	return NULL;
}

static void prefault_start(struct evvm_vm *vm, uint64_t gpa, uint64_t len, struct prefault *p)
{
	uint64_t end = low_ram_end(vm);

	memset(p, 0, sizeof(*p));
	if (gpa >= end)
		return;
	if (len > end - gpa)
		len = end - gpa;
	p->hva = mem_translate(&vm->mem, gpa, len);
	p->len = len;
	if (p->hva && len && pthread_create(&p->thread, NULL, prefault_thread, p) == 0)
		p->started = true;
}

static void prefault_join(struct prefault *p)
{
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = false;
}

/* A bzImage: the vmlinux inside it decompressed here, loaded at its physical addresses. */
static int linux_load_bzimage_host(struct evvm_vm *vm, const struct bzimage_info *bz,
				   struct boot_entry *entry)
{
	const char *name = vm->cfg.kernel_name;
	struct linux_kernel k;
	struct elf_image elf;
	uint64_t kentry = 0, footprint = 0;
	struct prefault pf;
	double t0, t1, t2;
	char how[160];
	void *vmlinux;
	size_t len;
	int err;

	/*
	 * vmlinux loads at LOAD_PHYSICAL_ADDR, which the header gives as
	 * pref_address: refuse a RAM too small for it before decompressing.
	 */
	if (bz->init_size) {
		err = linux_kernel_from_bzimage(bz, vm->cfg.kernel, vm->cfg.kernel_size,
						bz->pref_address, 0, name, &k);
		if (!err)
			err = check_kernel_fits(vm, &k, name);
		if (err)
			return err;
	}
	t0 = now_ms();
	prefault_start(vm, bz->pref_address, bz->init_size, &pf);
	err = bzimage_decompress(bz, BZIMAGE_VMLINUX_LIMIT, name, &vmlinux, &len);
	prefault_join(&pf);
	if (err)
		return err;
	t1 = now_ms();
	err = elf_load(&vm->mem, vmlinux, len, name, &elf);
	if (!err && linux_elf_entry(vmlinux, len, &kentry)) {
		pr_err("kernel '%s': the vmlinux entry 0x%llx is in no loaded segment", name,
		       (unsigned long long)elf.entry);
		err = -ENOEXEC;
	}
	if (!err) {
		footprint = linux_elf_footprint(vmlinux, len, elf.load_lo, elf.load_hi);
		err = linux_kernel_from_bzimage(bz, vm->cfg.kernel, vm->cfg.kernel_size,
						elf.load_lo, kentry, name, &k);
	}
	free(vmlinux);
	if (err)
		return err;
	t2 = now_ms();
	/* init_size covers the decompressor's needs too; never less than the kernel. */
	if (k.init_size < footprint)
		k.init_size = footprint;
	snprintf(how, sizeof(how),
		 "bzImage (protocol %u.%02u), %s payload decompressed on the host to %zu bytes "
		 "in %.1f ms, loaded in %.1f ms",
		 bz->version >> 8, bz->version & 0xff, compression_name(bz->compression), len,
		 t1 - t0, t2 - t1);
	return linux_setup(vm, &k, how, entry);
}

/* A bzImage that decompresses itself: protected-mode code at its address, entry +0x200. */
static int linux_load_bzimage_guest(struct evvm_vm *vm, const struct bzimage_info *bz,
				    struct boot_entry *entry)
{
	const char *name = vm->cfg.kernel_name;
	const uint8_t *img = vm->cfg.kernel;
	uint64_t align = bz->kernel_alignment, load = bz->pref_address;
	struct linux_kernel k;
	char how[128];
	uint8_t *dst;
	int err;

	if (bz->version < 0x020a || !bz->init_size) {
		pr_err("kernel '%s': --kernel-decompress=guest needs boot protocol 2.10 or later "
		       "(init_size); this one is %u.%02u",
		       name, bz->version >> 8, bz->version & 0xff);
		return -ENOEXEC;
	}
	if (align < PAGE_SIZE || (align & (align - 1)))
		align = LINUX_SYNTH_ALIGNMENT;
	if (load < HIGH_MEM_START)
		load = LINUX_KERNEL_DEFAULT;
	if (bz->relocatable)
		load = align_up(load, align);
	err = linux_kernel_from_bzimage(bz, img, vm->cfg.kernel_size, load,
					load + BZ_ENTRY64_OFFSET, name, &k);
	if (err)
		return err;
	if (k.init_size < bz->pm_size)
		k.init_size = align_up(bz->pm_size, PAGE_SIZE);
	err = check_kernel_fits(vm, &k, name);
	if (err)
		return err;
	dst = mem_translate(&vm->mem, load, bz->pm_size);
	if (!dst)
		return -EFAULT; /* cannot happen: checked above */
	memcpy(dst, img + bz->pm_offset, bz->pm_size);
	snprintf(how, sizeof(how),
		 "bzImage (protocol %u.%02u), %s payload left for the kernel to decompress",
		 bz->version >> 8, bz->version & 0xff, compression_name(bz->compression));
	return linux_setup(vm, &k, how, entry);
}

enum kernel_kind { KERNEL_UNKNOWN, KERNEL_ELF, KERNEL_BZIMAGE };

/* By magic: ELF at 0, "HdrS" at 0x202. */
static enum kernel_kind kernel_kind(const uint8_t *img, size_t size)
{
	if (size >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG))
		return KERNEL_ELF;
	if (size >= BZ_HEADER + 4 && !memcmp(img + BZ_HEADER, "HdrS", 4))
		return KERNEL_BZIMAGE;
	return KERNEL_UNKNOWN;
}

int boot_load_kernel(struct evvm_vm *vm, struct boot_entry *entry)
{
	const struct evvm_vm_config *cfg = &vm->cfg;
	const char *name = cfg->kernel_name;
	struct bzimage_info bz;
	int err;

	switch (kernel_kind(cfg->kernel, cfg->kernel_size)) {
	case KERNEL_ELF:
		if (cfg->decompress_in_guest) {
			pr_err("kernel '%s': --kernel-decompress=guest is for a bzImage; this is "
			       "an ELF file",
			       name);
			return -EINVAL;
		}
		/* PVH where it can: it needs no zero page. It has no initramfs here. */
		if (cfg->boot == EVVM_BOOT_PVH || (cfg->boot == EVVM_BOOT_AUTO && !cfg->initramfs &&
						   elf_has_pvh(cfg->kernel, cfg->kernel_size))) {
			if (cfg->initramfs) {
				pr_err("kernel '%s': evvm passes no initramfs with the PVH entry: "
				       "use --boot=linux64 (or auto) with --initramfs",
				       name);
				return -EINVAL;
			}
			err = pvh_load(vm, entry);
			if (!err)
				pr_info("kernel '%s': ELF, PVH entry 0x%llx, start info 0x%llx",
					name, (unsigned long long)entry->rip,
					(unsigned long long)entry->rbx);
			return err;
		}
		return linux_load_elf(vm, entry);
	case KERNEL_BZIMAGE:
		if (cfg->boot == EVVM_BOOT_PVH) {
			pr_err("kernel '%s': a bzImage boots with the 64-bit Linux protocol, not "
			       "PVH (give the vmlinux ELF for PVH)",
			       name);
			return -EINVAL;
		}
		err = bzimage_parse(cfg->kernel, cfg->kernel_size, name, &bz);
		if (err)
			return err;
		if (cfg->decompress_in_guest)
			return linux_load_bzimage_guest(vm, &bz, entry);
		return linux_load_bzimage_host(vm, &bz, entry);
	default:
		break;
	}
	if (cfg->kernel_size < BZ_HEADER + 4)
		pr_err("kernel '%s': not an ELF file (and, at %zu bytes, too short for a bzImage)",
		       name, cfg->kernel_size);
	else
		pr_err("kernel '%s': not an ELF file or a bzImage (no ELF magic, no \"HdrS\" at "
		       "0x202)",
		       name);
	return -ENOEXEC;
}

/* vCPU 0 starts at the kernel entry; the others wait for INIT/SIPI. */
static int boot_apply_entry(struct evvm_vm *vm, const struct boot_entry *entry)
{
	struct linux64_entry e = {
		.rip = entry->rip,
		.rsi = entry->rsi,
		.cr3 = LINUX_PML4_GPA,
		.gdt_base = LINUX_GDT_GPA,
		.gdt_limit = LINUX_GDT_LIMIT,
	};
	int err;

	if (entry->mode == BOOT_ENTRY_LINUX64)
		err = regs_set_linux64_entry(vm->vcpus[0].fd, &e);
	else
		err = regs_set_pvh_entry(vm->vcpus[0].fd, entry->rip, entry->rbx);
	if (err)
		pr_err("vcpu 0: setting the %s entry registers: %s",
		       entry->mode == BOOT_ENTRY_LINUX64 ? "64-bit" : "PVH", evvm_strerror(err));
	return err;
}

int boot_setup_vcpus(struct evvm_vm *vm, const struct boot_entry *entry)
{
	uint32_t *msrs = NULL;
	unsigned int nr_msrs = 0;
	int err;

	err = boot_apply_entry(vm, entry);
	if (err)
		return err;
	err = msr_index_list(vm->kvm_fd, &msrs, &nr_msrs);
	if (err)
		return err;
	for (unsigned int i = 0; i < vm->nr_vcpus && !err; i++) {
		err = regs_set_boot_msrs(vm->vcpus[i].fd, i, msrs, nr_msrs);
		if (err)
			break;
		err = regs_set_lint(vm->vcpus[i].fd, i == 0);
		if (err)
			pr_err("vcpu %u: LAPIC LINT0/LINT1 (KVM_GET_LAPIC/KVM_SET_LAPIC): %s", i,
			       evvm_strerror(err));
	}
	free(msrs);
	return err;
}
