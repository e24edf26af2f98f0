// SPDX-License-Identifier: MIT
/*
 * Linux's 64-bit boot protocol as evvm sets it up (docs/boot.md), without
 * KVM: the zero page, the command line, the initramfs placement, the e820
 * map, the identity map and GDT, the entry registers, the boot MSRs and
 * LAPIC LINT setup, the CPUID topology, and the i8042's reset. The loading
 * runs against guest RAM in this process, on Debian 12's cloud kernel and
 * its test initramfs (tests/linux/prepare fetches them from Debian's
 * package; these tests fail, never skip, when they cannot be had).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include <evvm/log.h>
#include <evvm/loop.h>

#include "arch/x86/x86.h"
#include "boot/bzimage.h"
#include "boot/linux.h"
#include "capture.h"
#include "harness.h"
#include "linux_guest.h"
#include "vm.h"

#define KNAME "vmlinuz"
#define MiB   (1ULL << 20)
#define GiB   (1ULL << 30)

/* ---- little-endian access ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void assert_message(const char *msg, const char *what)
{
	if (!strstr(msg, what))
		fail_msg("expected a message saying \"%s\", got: %s", what, msg);
}

/* ---- the real kernel and initramfs ---- */

struct real {
	char reason[8192];
	char kpath[1024], ipath[1024];
	uint8_t *img, *initrd;
	size_t size, initrd_size;
	struct bzimage_info bz;
	void *vmlinux; /* the payload, decompressed */
	size_t vmlinux_len;
};

static struct real real;

static uint8_t *read_all(const char *path, size_t *size)
{
	struct stat st;
	uint8_t *p = NULL;
	FILE *f = fopen(path, "rb");

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && (p = malloc(st.st_size ? st.st_size : 1)) &&
	    fread(p, 1, st.st_size, f) == (size_t)st.st_size) {
		*size = st.st_size;
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

static int real_setup(void **state)
{
	(void)state;
	if (linux_guest_get(real.kpath, real.ipath, sizeof(real.kpath), real.reason,
			    sizeof(real.reason)))
		return 0;
	real.img = read_all(real.kpath, &real.size);
	real.initrd = read_all(real.ipath, &real.initrd_size);
	if (!real.img || !real.initrd) {
		snprintf(real.reason, sizeof(real.reason), "cannot read %.1000s or %.1000s",
			 real.kpath, real.ipath);
		return 0;
	}
	if (bzimage_parse(real.img, real.size, KNAME, &real.bz) ||
	    bzimage_decompress(&real.bz, BZIMAGE_VMLINUX_LIMIT, KNAME, &real.vmlinux,
			       &real.vmlinux_len)) {
		snprintf(real.reason, sizeof(real.reason), "%.1000s does not parse or decompress",
			 real.kpath);
		free(real.img);
		real.img = NULL;
		return 0;
	}
	printf("linux-boot: %s (%zu bytes, protocol %u.%02u, init_size 0x%x), %s (%zu bytes)\n",
	       real.kpath, real.size, real.bz.version >> 8, real.bz.version & 0xff,
	       real.bz.init_size, real.ipath, real.initrd_size);
	return 0;
}

static int real_teardown(void **state)
{
	(void)state;
	free(real.img);
	free(real.initrd);
	free(real.vmlinux);
	return 0;
}

static void need_real(void)
{
	if (!real.img)
		fail_msg("no real kernel: %s", real.reason);
}

/* ---- a VM with guest RAM and no KVM ---- */

static struct evvm_vm *fake_vm(uint64_t ram_size, const void *kernel, size_t ksize,
			       const char *cmdline)
{
	struct evvm_vm *vm = calloc(1, sizeof(*vm));
	uint64_t low = ram_size < LOW_RAM_END ? ram_size : LOW_RAM_END;
	struct evvm_mem_region r;

	assert_non_null(vm);
	vm->ram = mmap(NULL, low, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(vm->ram != MAP_FAILED);
	vm->ram_size = ram_size;
	mem_init(&vm->mem);
	r = (struct evvm_mem_region){ .gpa = 0, .size = low, .hva = vm->ram, .fd = -1 };
	assert_int_equal(mem_add_region(&vm->mem, &r), 0);
	vm->cfg.mem_size = ram_size;
	vm->cfg.nr_cpus = 1;
	vm->cfg.kernel = kernel;
	vm->cfg.kernel_size = ksize;
	vm->cfg.kernel_name = KNAME;
	vm->cmdline = strdup(cmdline);
	return vm;
}

static void fake_vm_free(struct evvm_vm *vm)
{
	uint64_t low = vm->ram_size < LOW_RAM_END ? vm->ram_size : LOW_RAM_END;

	munmap(vm->ram, low);
	free(vm->cmdline);
	free(vm);
}

static const uint8_t *gpa(const struct evvm_vm *vm, uint64_t addr)
{
	return (const uint8_t *)vm->ram + addr;
}

/* The entry the last load_msg() returned. */
static struct boot_entry last_entry;

static int load_msg(struct evvm_vm *vm, char *msg, size_t size)
{
	int err;

	memset(&last_entry, 0xa5, sizeof(last_entry));
	capture_begin();
	err = boot_load_kernel(vm, &last_entry);
	capture_end(msg, size, true);
	return err;
}

/* ---- checks shared by the loaders ---- */

/* Translate @va through the identity map at @cr3 (2 MiB pages); also return the PDE. */
static uint64_t walk(const struct evvm_vm *vm, uint64_t cr3, uint64_t va, uint64_t *pde_out)
{
	const uint64_t mask = 0x000ffffffffff000ULL;
	uint64_t pml4e, pdpte, pde;

	pml4e = get64(gpa(vm, cr3 + ((va >> 39) & 511) * 8));
	assert_true(pml4e & 1);
	pdpte = get64(gpa(vm, (pml4e & mask) + ((va >> 30) & 511) * 8));
	assert_true(pdpte & 1);
	assert_false(pdpte & 0x80); /* 2 MiB pages, not 1 GiB (needs no pdpe1gb) */
	pde = get64(gpa(vm, (pdpte & mask) + ((va >> 21) & 511) * 8));
	assert_true(pde & 1);
	assert_true(pde & 2);
	assert_true(pde & 0x80);
	*pde_out = pde;
	return (pde & mask & ~0x1fffffULL) | (va & 0x1fffff);
}

static void check_page_tables(const struct evvm_vm *vm)
{
	static const uint64_t probes[] = {
		0,	    0x500,	0x7000,	    0x9000,	0x20000,    0x100000,
		0x1000000,  0x1000200,	0x4377fff,  0x7ef0000,	0xbfffffff, 0xc0000000,
		0xd1000000, 0xfec00000, 0xfee00000, 0xffffffff,
	};
	uint64_t pde;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		assert_int_equal(walk(vm, LINUX_PML4_GPA, probes[i], &pde), probes[i]);
		/* The MMIO hole (3..4 GiB) is uncached, RAM write-back. */
		if (probes[i] >= 0xc0000000ULL)
			assert_int_equal(pde & 0x18, 0x18);
		else
			assert_int_equal(pde & 0x18, 0);
	}
	/* Nothing at or above 4 GiB is mapped. */
	assert_int_equal(get64(gpa(vm, LINUX_PDPT_GPA + 4 * 8)), 0);
	assert_int_equal(get64(gpa(vm, LINUX_PML4_GPA + 8)), 0);
}

/* Decode a GDT descriptor. */
static void check_descriptor(uint64_t d, uint8_t access, bool l, bool db)
{
	uint32_t base = ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
	uint32_t limit = (d & 0xffff) | ((d >> 48) & 0xf) << 16;

	assert_int_equal(base, 0);
	assert_int_equal(limit, 0xfffff);
	assert_int_equal((d >> 40) & 0xff, access);
	assert_int_equal((d >> 55) & 1, 1); /* G: 4 GiB */
	assert_int_equal((d >> 53) & 1, l);
	assert_int_equal((d >> 54) & 1, db);
}

static void check_gdt(const struct evvm_vm *vm)
{
	const uint8_t *g = gpa(vm, LINUX_GDT_GPA);

	assert_int_equal(get64(g), 0);
	/* __BOOT_CS 0x10: present, DPL 0, code execute/read; 64-bit (L=1, D=0). */
	check_descriptor(get64(g + LINUX64_BOOT_CS), 0x9b, true, false);
	/* __BOOT_DS 0x18: present, DPL 0, data read/write. */
	check_descriptor(get64(g + LINUX64_BOOT_DS), 0x93, false, true);
	assert_int_equal(LINUX_GDT_LIMIT, 4 * 8 - 1);
}

/* The e820 map: sorted, disjoint, RAM exactly as created, the holes reserved. */
static void check_e820(const struct e820_entry *e, unsigned int n, uint64_t ram_size,
		       unsigned int nr_virtio)
{
	uint64_t ram = 0, low = ram_size < LOW_RAM_END ? ram_size : LOW_RAM_END;
	bool virtio = false, ioapic = false, lapic = false;

	assert_true(n > 0);
	for (unsigned int i = 0; i < n; i++) {
		assert_true(e[i].size > 0);
		if (i)
			assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);
		if (e[i].type == E820_RAM) {
			ram += e[i].size;
			/* RAM is [0, low) and [4 GiB, ...) and nothing in the MMIO hole. */
			assert_true(e[i].addr + e[i].size <= low || e[i].addr >= HIGH_RAM_START);
		} else {
			assert_int_equal(e[i].type, E820_RESERVED);
		}
		if (e[i].addr == VIRTIO_MMIO_BASE) {
			virtio = true;
			assert_int_equal(e[i].size, nr_virtio * 0x1000ULL);
			assert_int_equal(e[i].type, E820_RESERVED);
		}
		ioapic |= e[i].addr == IOAPIC_BASE && e[i].type == E820_RESERVED;
		lapic |= e[i].addr == LAPIC_BASE && e[i].type == E820_RESERVED;
	}
	/* All RAM but the EBDA and BIOS area [0x9fc00, 1 MiB), which are reserved. */
	assert_int_equal(ram, ram_size - (0x100000 - 0x9fc00));
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, 0x9fc00);
	assert_int_equal(virtio, nr_virtio > 0);
	assert_true(ioapic);
	assert_true(lapic);
}

/* The zero page's e820 table, decoded. */
static unsigned int zero_page_e820(const uint8_t *bp, struct e820_entry *e)
{
	unsigned int n = bp[BP_E820_ENTRIES];

	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		e[i] = (struct e820_entry){ get64(p), get64(p + 8), get32(p + 16) };
	}
	return n;
}

/* Zero-page fields every linux64 boot sets the same way. */
static void check_zero_page_common(const struct evvm_vm *vm, const char *cmdline)
{
	const uint8_t *bp = gpa(vm, LINUX_ZERO_PAGE_GPA);
	struct e820_entry e[BP_E820_MAX];
	unsigned int n;

	assert_int_equal(get16(bp + HDR_BOOT_FLAG), 0xaa55);
	assert_memory_equal(bp + HDR_HEADER, "HdrS", 4);
	assert_int_equal(bp[HDR_TYPE_OF_LOADER], 0xff);
	assert_int_equal(bp[HDR_LOADFLAGS] & (LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP),
			 LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP);
	assert_int_equal(bp[HDR_LOADFLAGS] & LOADFLAG_KASLR, 0);
	assert_int_equal(get16(bp + HDR_HEAP_END_PTR), LINUX_HEAP_END_PTR);
	assert_int_equal(get32(bp + HDR_CMD_LINE_PTR), LINUX_CMDLINE_GPA);
	assert_int_equal(get32(bp + BP_EXT_CMD_LINE_PTR), 0);
	assert_int_equal(get32(bp + HDR_HARDWARE_SUBARCH), 0);
	assert_int_equal(get64(bp + HDR_SUBARCH_DATA), 0);
	assert_int_equal(get64(bp + HDR_SETUP_DATA), 0);
	assert_int_equal(bp[BP_SENTINEL], 0);
	assert_string_equal((const char *)gpa(vm, LINUX_CMDLINE_GPA), cmdline);
	/* The e820 map is e820_build()'s, the one PVH gets. */
	n = zero_page_e820(bp, e);
	{
		struct e820_entry want[E820_MAX];
		unsigned int wn = e820_build(vm, want, E820_MAX);

		assert_int_equal(n, wn);
		for (unsigned int i = 0; i < n; i++) {
			assert_int_equal(e[i].addr, want[i].addr);
			assert_int_equal(e[i].size, want[i].size);
			assert_int_equal(e[i].type, want[i].type);
		}
	}
	check_e820(e, n, vm->ram_size, vm->cfg.nr_devices);
	check_page_tables(vm);
	check_gdt(vm);
	assert_int_equal(last_entry.mode, BOOT_ENTRY_LINUX64);
	assert_int_equal(last_entry.rsi, LINUX_ZERO_PAGE_GPA);
}

/* The initramfs is in guest RAM where the zero page says, and placed by the rules. */
static void check_initrd(const struct evvm_vm *vm, uint64_t klo, uint64_t khi)
{
	const uint8_t *bp = gpa(vm, LINUX_ZERO_PAGE_GPA);
	uint64_t addr = get32(bp + HDR_RAMDISK_IMAGE) | (uint64_t)get32(bp + BP_EXT_RAMDISK_IMAGE)
								<< 32;
	uint64_t size = get32(bp + HDR_RAMDISK_SIZE) | (uint64_t)get32(bp + BP_EXT_RAMDISK_SIZE)
							       << 32;
	uint64_t max = get32(bp + HDR_INITRD_ADDR_MAX);

	assert_int_equal(size, real.initrd_size);
	assert_int_equal(addr & 0xfff, 0);
	assert_true(addr >= HIGH_MEM_START);
	assert_true(addr + size - 1 <= max);
	assert_true(addr + size <= vm->ram_size);
	assert_true(addr >= khi || addr + size <= klo);
	assert_memory_equal(gpa(vm, addr), real.initrd, size);
	printf("linux-boot: initramfs at [0x%llx, 0x%llx) of %llu MiB RAM, kernel [0x%llx, "
	       "0x%llx)\n",
	       (unsigned long long)addr, (unsigned long long)(addr + size),
	       (unsigned long long)(vm->ram_size >> 20), (unsigned long long)klo,
	       (unsigned long long)khi);
}

/* ---- tests on the real kernel ---- */

static void test_real_bzimage_host(void **state)
{
	const char *cmdline = "console=ttyS0 reboot=k panic=-1 virtio_mmio.device=4K@0xd1000000:5";
	struct evvm_vm *vm;
	const uint8_t *bp;
	size_t hdr_end;
	char msg[4096];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	(void)state;
	need_real();
	vm = fake_vm(128 * MiB, real.img, real.size, cmdline);
	vm->cfg.nr_devices = 1;
	vm->cfg.initramfs = real.initrd;
	vm->cfg.initramfs_size = real.initrd_size;
	vm->cfg.initramfs_name = "initrd.gz";
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), 0);
	bp = gpa(vm, LINUX_ZERO_PAGE_GPA);

	/* The setup header is the image's, [0x1f1, 0x202 + byte at 0x201). */
	hdr_end = 0x202 + real.img[0x201];
	assert_true(hdr_end >= HDR_INIT_SIZE + 4);
	for (size_t off = BP_HDR; off < hdr_end; off++) {
		bool ours = (off >= HDR_TYPE_OF_LOADER && off < HDR_TYPE_OF_LOADER + 2) ||
			    (off >= HDR_CODE32_START && off < HDR_RAMDISK_SIZE + 4) ||
			    (off >= HDR_HEAP_END_PTR && off < HDR_CMD_LINE_PTR + 4) ||
			    (off >= HDR_HARDWARE_SUBARCH && off < HDR_SUBARCH_DATA + 8) ||
			    (off >= HDR_SETUP_DATA && off < HDR_SETUP_DATA + 8);

		if (!ours && bp[off] != real.img[off])
			fail_msg("zero page byte 0x%zx is 0x%02x, the image has 0x%02x", off,
				 bp[off], real.img[off]);
	}
	assert_int_equal(get16(bp + HDR_VERSION), real.bz.version);
	assert_int_equal(get32(bp + HDR_INIT_SIZE), real.bz.init_size);
	assert_int_equal(get32(bp + HDR_CMDLINE_SIZE), real.bz.cmdline_size);
	assert_int_equal(get64(bp + HDR_PREF_ADDRESS), real.bz.pref_address);
	/* Before the header and after it, the zero page is clean but for what evvm fills. */
	assert_int_equal(get64(bp + BP_ACPI_RSDP_ADDR), 0xe0000); /* vmm/arch/x86/acpi.h */
	for (size_t off = 0; off < BP_HDR; off++)
		if (off != BP_E820_ENTRIES &&
		    (off < BP_ACPI_RSDP_ADDR || off >= BP_ACPI_RSDP_ADDR + 8) && bp[off] != 0)
			fail_msg("zero page byte 0x%zx is 0x%02x, expected 0", off, bp[off]);
	for (size_t off = hdr_end; off < BP_E820_TABLE; off++)
		assert_int_equal(bp[off], 0);
	check_zero_page_common(vm, cmdline);

	/* The vmlinux's PT_LOADs at their physical addresses; the entry is startup_64. */
	memcpy(&eh, real.vmlinux, sizeof(eh));
	assert_int_equal(last_entry.rip, eh.e_entry);
	assert_int_equal(last_entry.rip, real.bz.pref_address);
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, (uint8_t *)real.vmlinux + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		assert_memory_equal(gpa(vm, ph.p_paddr), (uint8_t *)real.vmlinux + ph.p_offset,
				    ph.p_filesz);
	}
	check_initrd(vm, real.bz.pref_address, real.bz.pref_address + real.bz.init_size);
	assert_message(msg, "decompressed on the host");
	fake_vm_free(vm);
}

static void test_real_bzimage_guest(void **state)
{
	struct evvm_vm *vm;
	const uint8_t *bp;
	char msg[4096];

	(void)state;
	need_real();
	vm = fake_vm(256 * MiB, real.img, real.size, "console=ttyS0");
	vm->cfg.decompress_in_guest = true;
	vm->cfg.initramfs = real.initrd;
	vm->cfg.initramfs_size = real.initrd_size;
	vm->cfg.initramfs_name = "initrd.gz";
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), 0);
	bp = gpa(vm, LINUX_ZERO_PAGE_GPA);
	check_zero_page_common(vm, "console=ttyS0");
	/* The protected-mode code at pref_address, entered at +0x200. */
	assert_int_equal(last_entry.rip, real.bz.pref_address + 0x200);
	assert_memory_equal(gpa(vm, real.bz.pref_address), real.img + real.bz.pm_offset,
			    real.bz.pm_size);
	assert_int_equal(get32(bp + HDR_CODE32_START), real.bz.pref_address);
	/* What the decompressor reads to place itself. */
	assert_int_equal(get32(bp + HDR_KERNEL_ALIGNMENT), real.bz.kernel_alignment);
	assert_int_equal(get32(bp + HDR_INIT_SIZE), real.bz.init_size);
	check_initrd(vm, real.bz.pref_address, real.bz.pref_address + real.bz.init_size);
	fake_vm_free(vm);
}

static void test_real_vmlinux(void **state)
{
	struct evvm_vm *vm;
	const uint8_t *bp;
	uint64_t entry, footprint;
	uint8_t *copy;
	Elf64_Ehdr eh;
	char msg[4096];

	(void)state;
	need_real();
	memcpy(&eh, real.vmlinux, sizeof(eh));

	/* Debian's e_entry is physical (phys_startup_64). */
	assert_int_equal(linux_elf_entry(real.vmlinux, real.vmlinux_len, &entry), 0);
	assert_int_equal(entry, eh.e_entry);
	assert_int_equal(entry, 0x1000000);
	/* A virtual one (0xffffffff81000000) moves by the load offset to the same place. */
	copy = malloc(real.vmlinux_len);
	assert_non_null(copy);
	memcpy(copy, real.vmlinux, real.vmlinux_len);
	eh.e_entry = 0xffffffff81000000ULL;
	memcpy(copy, &eh, sizeof(eh));
	assert_int_equal(linux_elf_entry(copy, real.vmlinux_len, &entry), 0);
	assert_int_equal(entry, 0x1000000);
	eh.e_entry = 0x5000000; /* neither physical nor virtual in any PT_LOAD */
	memcpy(copy, &eh, sizeof(eh));
	assert_int_equal(linux_elf_entry(copy, real.vmlinux_len, &entry), -ENOEXEC);

	/* Its footprint ends with .bss/.brk/.init.scratch, inside init_size. */
	footprint = linux_elf_footprint(real.vmlinux, real.vmlinux_len, 0x1000000, 0x3dfffff);
	printf("linux-boot: vmlinux footprint 0x%llx, init_size 0x%x\n",
	       (unsigned long long)footprint, real.bz.init_size);
	assert_true(footprint >= 0x2e00000);
	assert_true(footprint <= real.bz.init_size);
	assert_int_equal(footprint & 0xfff, 0);

	/* Booted with --boot=linux64: a header made up for it. */
	vm = fake_vm(128 * MiB, real.vmlinux, real.vmlinux_len, "console=ttyS0");
	vm->cfg.boot = EVVM_BOOT_LINUX64;
	vm->cfg.initramfs = real.initrd;
	vm->cfg.initramfs_size = real.initrd_size;
	vm->cfg.initramfs_name = "initrd.gz";
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), 0);
	bp = gpa(vm, LINUX_ZERO_PAGE_GPA);
	check_zero_page_common(vm, "console=ttyS0");
	assert_int_equal(get16(bp + HDR_VERSION), 0x020f);
	assert_int_equal(get32(bp + HDR_CMDLINE_SIZE), 2047);
	assert_int_equal(get32(bp + HDR_INITRD_ADDR_MAX), 0x7fffffff);
	assert_int_equal(get32(bp + HDR_INIT_SIZE), footprint);
	assert_int_equal(get64(bp + HDR_PREF_ADDRESS), 0x1000000);
	assert_int_equal(get16(bp + HDR_XLOADFLAGS) & XLF_KERNEL_64, XLF_KERNEL_64);
	assert_int_equal(bp[HDR_JUMP + 1] + 0x202, HDR_INIT_SIZE + 4);
	assert_int_equal(last_entry.rip, 0x1000000);
	check_initrd(vm, 0x1000000, 0x1000000 + footprint);
	fake_vm_free(vm);

	/* Without --boot it has the PVH note: PVH (start info at 0x1000, %ebx). */
	vm = fake_vm(128 * MiB, real.vmlinux, real.vmlinux_len, "console=ttyS0");
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), 0);
	assert_int_equal(last_entry.mode, BOOT_ENTRY_PVH);
	assert_int_equal(get32(gpa(vm, last_entry.rbx)), 0x336ec578);
	fake_vm_free(vm);
	free(copy);
}

static void test_real_cmdline_limit(void **state)
{
	struct linux_kernel k;
	uint8_t *bp = malloc(BP_SIZE);
	char *line, msg[4096];
	struct evvm_vm *vm;

	(void)state;
	need_real();
	assert_non_null(bp);
	assert_int_equal(linux_kernel_from_bzimage(&real.bz, real.img, real.size, 0x1000000,
						   0x1000000, KNAME, &k),
			 0);
	assert_int_equal(k.cmdline_size, real.bz.cmdline_size);
	line = malloc(k.cmdline_size + 2);
	assert_non_null(line);
	memset(line, 'a', k.cmdline_size + 1);
	line[k.cmdline_size] = '\0';
	/* Exactly cmdline_size bytes: taken; one more: refused. */
	assert_int_equal(
		linux_build_boot_params(bp, &k, line, LINUX_CMDLINE_GPA, 0, 0, NULL, 0, KNAME), 0);
	assert_int_equal(get32(bp + HDR_CMD_LINE_PTR), LINUX_CMDLINE_GPA);
	line[k.cmdline_size] = 'a';
	line[k.cmdline_size + 1] = '\0';
	capture_begin();
	assert_int_equal(
		linux_build_boot_params(bp, &k, line, LINUX_CMDLINE_GPA, 0, 0, NULL, 0, KNAME),
		-E2BIG);
	capture_end(msg, sizeof(msg), true);
	assert_message(msg, "cmdline_size");
	/* The same through the loader, which says so before touching anything. */
	vm = fake_vm(128 * MiB, real.img, real.size, line);
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -E2BIG);
	assert_message(msg, "takes at most 2047 (cmdline_size)");
	fake_vm_free(vm);
	/* A command line above 4 GiB goes to ext_cmd_line_ptr. */
	line[10] = '\0';
	assert_int_equal(linux_build_boot_params(bp, &k, line, 0x123456000ULL, 0x234567000ULL,
						 0x1000, NULL, 0, KNAME),
			 0);
	assert_int_equal(get32(bp + HDR_CMD_LINE_PTR), 0x23456000);
	assert_int_equal(get32(bp + BP_EXT_CMD_LINE_PTR), 1);
	assert_int_equal(get32(bp + HDR_RAMDISK_IMAGE), 0x34567000);
	assert_int_equal(get32(bp + BP_EXT_RAMDISK_IMAGE), 2);
	free(line);
	free(bp);
}

static void test_real_initrd_placement(void **state)
{
	static const uint64_t rams[] = { 72 * MiB, 100 * MiB, 128 * MiB, 1 * GiB, 3 * GiB };
	struct linux_kernel k;
	uint64_t addr, klo, khi, top;
	char msg[4096];

	(void)state;
	need_real();
	assert_int_equal(linux_kernel_from_bzimage(&real.bz, real.img, real.size,
						   real.bz.pref_address, real.bz.pref_address,
						   KNAME, &k),
			 0);
	klo = k.load_addr;
	khi = k.load_addr + k.init_size;
	for (size_t i = 0; i < sizeof(rams) / sizeof(rams[0]); i++) {
		top = rams[i] < (uint64_t)real.bz.initrd_addr_max + 1
			      ? rams[i]
			      : (uint64_t)real.bz.initrd_addr_max + 1;
		assert_int_equal(linux_place_initrd(&k, rams[i], real.initrd_size, "initrd", &addr),
				 0);
		assert_int_equal(addr & 0xfff, 0);
		assert_true(addr >= HIGH_MEM_START);
		assert_true(addr + real.initrd_size <= top);
		assert_true(addr >= khi || addr + real.initrd_size <= klo);
		/* As high as possible: less than a page below the top, when above the kernel. */
		if (addr >= khi)
			assert_true(top - (addr + real.initrd_size) < 0x1000);
		printf("linux-boot: %4llu MiB RAM: initramfs at 0x%llx\n",
		       (unsigned long long)(rams[i] >> 20), (unsigned long long)addr);
	}
	/* 3 GiB of RAM: initrd_addr_max (2 GiB - 1) is the bound, not RAM. */
	assert_int_equal(linux_place_initrd(&k, 3 * GiB, real.initrd_size, "initrd", &addr), 0);
	assert_true(addr + real.initrd_size <= 0x80000000ULL);
	assert_true(addr + real.initrd_size > 0x80000000ULL - 0x1000);

	/* Just too little room above the kernel: it goes below it. */
	assert_int_equal(linux_place_initrd(&k, khi + real.initrd_size - 1, real.initrd_size,
					    "initrd", &addr),
			 0);
	assert_true(addr + real.initrd_size <= klo);
	assert_true(klo - (addr + real.initrd_size) < 0x1000);
	/* 15 MiB just fits between 1 MiB and the kernel; 15.5 MiB fits nowhere. */
	assert_int_equal(linux_place_initrd(&k, khi, 15 * MiB, "initrd", &addr), 0);
	assert_int_equal(addr, HIGH_MEM_START);
	capture_begin();
	assert_int_equal(linux_place_initrd(&k, khi, 15 * MiB + MiB / 2, "initrd", &addr), -ENOSPC);
	capture_end(msg, sizeof(msg), true);
	assert_message(msg, "initramfs 'initrd'");
	assert_message(msg, "do not fit");
	/* A huge one in 128 MiB. */
	capture_begin();
	assert_int_equal(linux_place_initrd(&k, 128 * MiB, 100 * MiB, "initrd", &addr), -ENOSPC);
	capture_end(msg, sizeof(msg), true);
}

static void test_real_load_errors(void **state)
{
	struct evvm_vm *vm;
	uint8_t junk[600];
	char msg[4096];

	(void)state;
	need_real();
	/* Too little RAM for [pref_address, + init_size). */
	vm = fake_vm(64 * MiB, real.img, real.size, "");
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -ENOSPC);
	assert_message(msg, "needs guest RAM up to 0x4378000");
	vm->cfg.decompress_in_guest = true;
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -ENOSPC);
	assert_message(msg, "init_size 0x3378000");
	fake_vm_free(vm);

	/* A bzImage cannot be entered through PVH. */
	vm = fake_vm(128 * MiB, real.img, real.size, "");
	vm->cfg.boot = EVVM_BOOT_PVH;
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -EINVAL);
	assert_message(msg, "not PVH");
	fake_vm_free(vm);

	/* An ELF has nothing to decompress; PVH takes no initramfs here. */
	vm = fake_vm(128 * MiB, real.vmlinux, real.vmlinux_len, "");
	vm->cfg.decompress_in_guest = true;
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -EINVAL);
	assert_message(msg, "is for a bzImage");
	vm->cfg.decompress_in_guest = false;
	vm->cfg.boot = EVVM_BOOT_PVH;
	vm->cfg.initramfs = real.initrd;
	vm->cfg.initramfs_size = real.initrd_size;
	vm->cfg.initramfs_name = "initrd.gz";
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -EINVAL);
	assert_message(msg, "no initramfs with the PVH entry");
	fake_vm_free(vm);

	/* Neither magic. */
	memset(junk, 0x5a, sizeof(junk));
	vm = fake_vm(128 * MiB, junk, sizeof(junk), "");
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -ENOEXEC);
	assert_message(msg, "not an ELF file or a bzImage");
	vm->cfg.kernel_size = 100;
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -ENOEXEC);
	assert_message(msg, "too short for a bzImage");
	fake_vm_free(vm);

	/* A bzImage cut short: bzimage_parse's message. */
	vm = fake_vm(128 * MiB, real.img, real.size / 2, "");
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), -ENOEXEC);
	assert_message(msg, "truncated");
	fake_vm_free(vm);
}

/* ---- pure builders ---- */

static void test_e820_layout(void **state)
{
	static const uint64_t rams[] = { 4 * MiB, 128 * MiB, 3 * GiB, 3 * GiB + 4096, 8 * GiB };
	struct e820_entry e[E820_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(rams) / sizeof(rams[0]); i++) {
		for (unsigned int nv = 0; nv <= EVVM_MAX_VIRTIO; nv += 5) {
			unsigned int n = e820_layout(rams[i], nv, e, E820_MAX);

			check_e820(e, n, rams[i], nv);
		}
	}
	/* 128 MiB and 3 devices, in full. */
	assert_int_equal(e820_layout(128 * MiB, 3, e, E820_MAX), 7);
	assert_int_equal(e[3].addr, 0x100000);
	assert_int_equal(e[3].size, 127 * MiB);
	assert_int_equal(e[4].addr, 0xd1000000);
	assert_int_equal(e[4].size, 0x3000);
	assert_int_equal(e[5].addr, 0xfec00000);
	assert_int_equal(e[6].addr, 0xfee00000);
	/* 8 GiB: 3 GiB low, 5 GiB above 4 GiB. */
	assert_int_equal(e820_layout(8 * GiB, 0, e, E820_MAX), 7);
	assert_int_equal(e[3].addr + e[3].size, 3 * GiB);
	assert_int_equal(e[6].addr, 4 * GiB);
	assert_int_equal(e[6].size, 5 * GiB);
}

static void test_linux64_registers(void **state)
{
	struct linux64_entry e = {
		.rip = 0x1000000,
		.rsi = LINUX_ZERO_PAGE_GPA,
		.cr3 = LINUX_PML4_GPA,
		.gdt_base = LINUX_GDT_GPA,
		.gdt_limit = LINUX_GDT_LIMIT,
	};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	const struct kvm_segment *data[] = { &sregs.ds, &sregs.es, &sregs.ss, &sregs.fs,
					     &sregs.gs };

	(void)state;
	memset(&regs, 0x5a, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	sregs.apic_base = 0xfee00900;
	regs_linux64_state(&e, &regs, &sregs);

	assert_int_equal(regs.rip, 0x1000000);
	assert_int_equal(regs.rsi, LINUX_ZERO_PAGE_GPA);
	assert_int_equal(regs.rflags, 0x2); /* IF clear */
	assert_int_equal(regs.rax | regs.rbx | regs.rcx | regs.rdx | regs.rdi | regs.rbp |
				 regs.rsp | regs.r8 | regs.r9 | regs.r10 | regs.r11 | regs.r12 |
				 regs.r13 | regs.r14 | regs.r15,
			 0);

	/* Long mode with paging: CR0 PE|ET|PG, CR4 PAE, EFER LME|LMA. */
	assert_int_equal(sregs.cr0, 0x80000011);
	assert_int_equal(sregs.cr4, 0x20);
	assert_int_equal(sregs.efer, 0x500);
	assert_int_equal(sregs.cr3, LINUX_PML4_GPA);
	/* CS = __BOOT_CS, 64-bit flat code. */
	assert_int_equal(sregs.cs.selector, 0x10);
	assert_int_equal(sregs.cs.l, 1);
	assert_int_equal(sregs.cs.db, 0);
	assert_int_equal(sregs.cs.type, 0xb);
	assert_int_equal(sregs.cs.s, 1);
	assert_int_equal(sregs.cs.present, 1);
	assert_int_equal(sregs.cs.dpl, 0);
	assert_int_equal(sregs.cs.base, 0);
	assert_int_equal(sregs.cs.limit, 0xffffffff);
	assert_int_equal(sregs.cs.g, 1);
	/* DS, ES, SS (and FS, GS) = __BOOT_DS, flat read/write data. */
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		assert_int_equal(data[i]->selector, 0x18);
		assert_int_equal(data[i]->type, 0x3);
		assert_int_equal(data[i]->s, 1);
		assert_int_equal(data[i]->present, 1);
		assert_int_equal(data[i]->base, 0);
		assert_int_equal(data[i]->limit, 0xffffffff);
		assert_int_equal(data[i]->l, 0);
	}
	assert_int_equal(sregs.gdt.base, LINUX_GDT_GPA);
	assert_int_equal(sregs.gdt.limit, 0x1f);
	assert_int_equal(sregs.idt.base, 0);
	assert_int_equal(sregs.idt.limit, 0);
	assert_int_equal(sregs.tr.type, 0xb);
	assert_int_equal(sregs.tr.present, 1);
	/* What it does not own stays. */
	assert_int_equal(sregs.apic_base, 0xfee00900);
}

static void test_tables_builders(void **state)
{
	uint8_t *pt = malloc(LINUX_PT_SIZE);
	uint64_t gdt[4];

	(void)state;
	assert_non_null(pt);
	linux_build_page_tables(pt);
	assert_int_equal(get64(pt), LINUX_PDPT_GPA | 3);
	for (unsigned int g = 0; g < 4; g++)
		assert_int_equal(get64(pt + 0x1000 + g * 8), (LINUX_PD_GPA + g * 0x1000) | 3);
	assert_int_equal(get64(pt + 0x1000 + 4 * 8), 0);
	assert_int_equal(get64(pt + 0x2000), 0x83);
	assert_int_equal(get64(pt + 0x2000 + 8), 0x200000 | 0x83);
	assert_int_equal(get64(pt + 0x2000 + 2047 * 8), 0xffe00000ULL | 0x9b);
	free(pt);
	linux_build_gdt(gdt);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0);
	check_descriptor(gdt[2], 0x9b, true, false);
	check_descriptor(gdt[3], 0x93, false, true);
}

static void test_boot_msrs_and_lint(void **state)
{
	struct kvm_msr_entry m[REGS_BOOT_MSRS_MAX];
	uint8_t apic[1024];
	unsigned int n;

	(void)state;
	n = regs_boot_msrs(0, 0x1800, m);
	assert_int_equal(n, 3);
	assert_int_equal(m[0].index, 0x1a0);
	assert_int_equal(m[0].data, 0x1801); /* KVM's bits kept, fast strings added */
	assert_int_equal(m[1].index, 0x10);
	assert_int_equal(m[1].data, 0);
	assert_int_equal(m[2].index, 0x1b);
	assert_int_equal(m[2].data, 0xfee00900); /* enabled, BSP */
	n = regs_boot_msrs(3, 0, m);
	assert_int_equal(m[2].data, 0xfee00800); /* enabled, not BSP */

	/* KVM's reset LVTs: BSP LINT0 ExtINT, everything else masked. */
	memset(apic, 0, sizeof(apic));
	memcpy(apic + 0x350, &(uint32_t){ 0x700 }, 4);
	memcpy(apic + 0x360, &(uint32_t){ 0x10000 }, 4);
	lapic_lint_setup(apic, true);
	assert_int_equal(get32(apic + 0x350), 0x700);
	assert_int_equal(get32(apic + 0x360), 0x400);
	memcpy(apic + 0x350, &(uint32_t){ 0x10000 }, 4);
	memcpy(apic + 0x360, &(uint32_t){ 0x10000 }, 4);
	lapic_lint_setup(apic, false);
	assert_int_equal(get32(apic + 0x350), 0x10700);
	assert_int_equal(get32(apic + 0x360), 0x10400);
}

static const struct kvm_cpuid_entry2 *leaf(const struct kvm_cpuid2 *c, uint32_t f, uint32_t i)
{
	for (unsigned int k = 0; k < c->nent; k++)
		if (c->entries[k].function == f && c->entries[k].index == i)
			return &c->entries[k];
	return NULL;
}

static void test_cpuid_topology(void **state)
{
	unsigned int cap = 16;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
	const struct kvm_cpuid_entry2 *e;

	(void)state;
	assert_non_null(c);
	/* What an AMD host's KVM offers (this machine's values). */
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1,
						   .eax = 0xa10f11,
						   .ebx = 0x01020800,
						   .ecx = 0x81202000,
						   .edx = 0x078bfbff };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .flags = 1, .edx = 1 };
	c->entries[2] = (struct kvm_cpuid_entry2){
		.function = 0x80000008, .eax = 0x3030, .ebx = 0x50020005, .ecx = 0x7001
	};
	c->entries[3] = (struct kvm_cpuid_entry2){
		.function = 0x8000001d, .index = 3, .flags = 1, .eax = 0x4163, .ebx = 0x03c0003f
	};
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x8000001e };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x40000000,
						   .eax = 0x40000001,
						   .ebx = 0x4b4d564b,
						   .ecx = 0x564b4d56,
						   .edx = 0x4d };
	c->nent = 6;
	assert_int_equal(cpuid_patch(c, cap, 2, 3), 0);

	e = leaf(c, 1, 0);
	assert_non_null(e);
	assert_int_equal(e->ebx >> 24, 2);
	assert_int_equal((e->ebx >> 16) & 0xff, 3);
	assert_true(e->edx & (1u << 28));
	assert_true(e->ecx & (1u << 31));
	/* 0xb: SMT level of 1, core level of 3 (shift 2), then the end; x2APIC id 2. */
	e = leaf(c, 0xb, 0);
	assert_non_null(e);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
	assert_int_equal(e->ecx, 0x100);
	assert_int_equal(e->edx, 2);
	e = leaf(c, 0xb, 1);
	assert_non_null(e);
	assert_int_equal(e->eax, 2);
	assert_int_equal(e->ebx, 3);
	assert_int_equal(e->ecx, 0x201);
	assert_int_equal(e->edx, 2);
	e = leaf(c, 0xb, 2);
	assert_non_null(e);
	assert_int_equal(e->ecx, 2);
	assert_int_equal(e->ebx, 0);
	/* AMD: 3 cores with 2 bits of APIC id, the L3 shared by 3, core id 2. */
	e = leaf(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 2);
	assert_int_equal((e->ecx >> 12) & 0xf, 2);
	e = leaf(c, 0x8000001d, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, 2);
	e = leaf(c, 0x8000001e, 0);
	assert_int_equal(e->eax, 2);
	assert_int_equal(e->ebx, 2);
	/* The KVM leaves are untouched. */
	e = leaf(c, 0x40000000, 0);
	assert_non_null(e);
	assert_memory_equal(&e->ebx, "KVMKVMKVM\0\0\0", 12);

	/* No room for the added sub-leaves. */
	c->nent = 2;
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .flags = 1 };
	assert_int_equal(cpuid_patch(c, 3, 0, 1), -E2BIG);
	free(c);
}

/*
 * An ELF whose program headers and note sit at odd offsets: the loaders
 * copy headers out (UBSan, in the ASan build, fails a misaligned cast).
 */
static void test_elf_unaligned_headers(void **state)
{
	enum { PHOFF = 0x41, NOTE = 0xc1, CODE = 0x101, SIZE = 0x200 };
	const uint64_t load = 0x200000;
	uint8_t *img = calloc(1, SIZE);
	Elf64_Ehdr eh = {
		.e_type = ET_EXEC,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_entry = load,
		.e_phoff = PHOFF,
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = 2,
	};
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_NOTE, .p_offset = NOTE, .p_filesz = 20 },
		{ .p_type = PT_LOAD,
		  .p_offset = CODE,
		  .p_vaddr = load,
		  .p_paddr = load,
		  .p_filesz = 16,
		  .p_memsz = 0x1000,
		  .p_flags = PF_R | PF_X },
	};
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 /* PHYS32_ENTRY */ };
	uint32_t pvh_entry = load;
	struct evvm_vm *vm;
	char msg[512];

	(void)state;
	assert_non_null(img);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + PHOFF, ph, sizeof(ph));
	memcpy(img + NOTE, &nh, sizeof(nh));
	memcpy(img + NOTE + sizeof(nh), "Xen", 4);
	memcpy(img + NOTE + sizeof(nh) + 4, &pvh_entry, 4);
	memset(img + CODE, 0xf4, 16); /* hlt */

	/* PVH (found through the odd note), then the 64-bit protocol. */
	vm = fake_vm(64 * MiB, img, SIZE, "");
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), 0);
	assert_int_equal(last_entry.mode, BOOT_ENTRY_PVH);
	assert_int_equal(last_entry.rip, load);
	assert_int_equal(gpa(vm, load)[0], 0xf4);
	fake_vm_free(vm);

	vm = fake_vm(64 * MiB, img, SIZE, "");
	vm->cfg.boot = EVVM_BOOT_LINUX64;
	assert_int_equal(load_msg(vm, msg, sizeof(msg)), 0);
	assert_int_equal(last_entry.mode, BOOT_ENTRY_LINUX64);
	assert_int_equal(last_entry.rip, load);
	fake_vm_free(vm);
	free(img);
}

/* ---- the i8042 ---- */

static uint8_t kbc_in(struct evvm_vm *vm, uint16_t port)
{
	uint8_t v = 0xee;

	assert_true(iobus_read(&vm->pio, port, &v, 1));
	return v;
}

static void kbc_out(struct evvm_vm *vm, uint16_t port, uint8_t v)
{
	assert_true(iobus_write(&vm->pio, port, &v, 1));
}

/* What the i8042 asked for through its stop callback. */
static void record_stop(void *opaque, int status)
{
	struct evvm_vm *vm = opaque;

	vm->status = status;
	atomic_store(&vm->stopping, true);
}

/* A VM with just its port bus, loop and i8042. */
static int i8042_setup(void **state)
{
	struct evvm_vm *vm = calloc(1, sizeof(*vm));

	assert_non_null(vm);
	pthread_mutex_init(&vm->stop_lock, NULL);
	assert_int_equal(iobus_init(&vm->pio, "pio"), 0);
	assert_int_equal(loop_create(&vm->loop, "test"), 0);
	vm->stop = (struct stop_hook){ .stop = record_stop, .opaque = vm };
	assert_int_equal(i8042_create(&vm->pio, &vm->stop, &vm->irq, &vm->i8042), 0);
	*state = vm;
	return 0;
}

static int i8042_teardown(void **state)
{
	struct evvm_vm *vm = *state;

	i8042_destroy(vm->i8042);
	loop_destroy(vm->loop);
	iobus_destroy(&vm->pio);
	pthread_mutex_destroy(&vm->stop_lock);
	free(vm);
	return 0;
}

static void test_i8042(void **state)
{
	struct evvm_vm *vm = *state;

	/* Idle: system flag and keylock, nothing to read, never busy. */
	assert_int_equal(kbc_in(vm, 0x64), 0x14);
	/* Self test (what Linux's probe does first after a flush). */
	kbc_out(vm, 0x64, 0xaa);
	assert_int_equal(kbc_in(vm, 0x64), 0x1d); /* OBF | SYS | CMD | KEYLOCK */
	assert_int_equal(kbc_in(vm, 0x60), 0x55);
	assert_int_equal(kbc_in(vm, 0x64) & 0x03, 0);
	kbc_out(vm, 0x64, 0xab);
	assert_int_equal(kbc_in(vm, 0x60), 0x00);
	/* The command byte: read, write, read back. */
	kbc_out(vm, 0x64, 0x20);
	assert_int_equal(kbc_in(vm, 0x60), 0x65);
	kbc_out(vm, 0x64, 0x60);
	kbc_out(vm, 0x60, 0x74);
	assert_int_equal(kbc_in(vm, 0x64) & 0x08, 0); /* the last write was data */
	kbc_out(vm, 0x64, 0xa8);
	kbc_out(vm, 0x64, 0x20);
	assert_int_equal(kbc_in(vm, 0x60), 0x54);
	/* No mouse: the loop test gives nothing back; the interface test says so. */
	kbc_out(vm, 0x64, 0xd3);
	kbc_out(vm, 0x60, 0x5a);
	assert_int_equal(kbc_in(vm, 0x64) & 0x01, 0);
	kbc_out(vm, 0x64, 0xa9);
	assert_int_equal(kbc_in(vm, 0x60), 0x01);
	/* The dumb keyboard acknowledges what it is sent (test_i8042 has the rest). */
	kbc_out(vm, 0x60, 0xf4);
	assert_int_equal(kbc_in(vm, 0x64) & 0x01, 0x01);
	assert_int_equal(kbc_in(vm, 0x60), 0xfa);
	assert_int_equal(kbc_in(vm, 0x64) & 0x01, 0);
	/* A pulse of other lines is not a reset. */
	kbc_out(vm, 0x64, 0xff);
	assert_false(atomic_load(&vm->stopping));
	/* Command 0xfe, as reboot=k sends it: the VM stops with status 0. */
	kbc_out(vm, 0x64, 0xfe);
	assert_true(atomic_load(&vm->stopping));
	assert_int_equal(vm->status, 0);
}

static void test_i8042_output_port_reset(void **state)
{
	struct evvm_vm *vm = *state;

	vm->status = 77;
	kbc_out(vm, 0x64, 0xd0);
	assert_int_equal(kbc_in(vm, 0x60), 0x03);
	/* Writing the output port with the reset bit clear resets too. */
	kbc_out(vm, 0x64, 0xd1);
	kbc_out(vm, 0x60, 0x02);
	assert_true(atomic_load(&vm->stopping));
	assert_int_equal(vm->status, 0);
}

/* ---- `evvm run` itself ---- */

static void test_cli_flags(void **state)
{
	struct run_result r;

	(void)state;
	run_evvm(&r, 60, (const char *[]){ "run", "--help", NULL });
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "--boot=PROTO");
	assert_contains(r.out, "--kernel-decompress=WHERE");
	assert_contains(r.out, "--initramfs PATH");
	assert_contains(r.out, "docs/boot.md");
	run_result_free(&r);

	run_evvm(&r, 60, (const char *[]){ "run", "--boot=pv", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--boot=pv: expected auto, pvh or linux64");
	run_result_free(&r);
	run_evvm(&r, 60, (const char *[]){ "run", "--kernel-decompress=cpu", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--kernel-decompress=cpu: expected host or guest");
	run_result_free(&r);
	run_evvm(&r, 60, (const char *[]){ "run", "--initramfs", "/dev/null", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "need --kernel");
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured(test_e820_layout),
		cmocka_unit_test_captured(test_elf_unaligned_headers),
		cmocka_unit_test_captured(test_linux64_registers),
		cmocka_unit_test_captured(test_tables_builders),
		cmocka_unit_test_captured(test_boot_msrs_and_lint),
		cmocka_unit_test_captured(test_cpuid_topology),
		cmocka_unit_test_captured_setup_teardown(test_i8042, i8042_setup, i8042_teardown),
		cmocka_unit_test_captured_setup_teardown(test_i8042_output_port_reset, i8042_setup,
							 i8042_teardown),
		cmocka_unit_test_captured(test_real_bzimage_host),
		cmocka_unit_test_captured(test_real_bzimage_guest),
		cmocka_unit_test_captured(test_real_vmlinux),
		cmocka_unit_test_captured(test_real_cmdline_limit),
		cmocka_unit_test_captured(test_real_initrd_placement),
		cmocka_unit_test_captured(test_real_load_errors),
		cmocka_unit_test_captured(test_cli_flags),
	};

	evvm_log_set_level(EVVM_LOG_INFO);
	return cmocka_run_group_tests(tests, real_setup, real_teardown);
}
