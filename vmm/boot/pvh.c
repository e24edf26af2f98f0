// SPDX-License-Identifier: MIT
/*
 * The PVH boot ABI (Xen's, also used by Linux and QEMU): enter the kernel's
 * 32-bit entry from its Xen ELF note with paging off and %ebx pointing to
 * struct hvm_start_info.
 */
#include <errno.h>
#include <string.h>

#include <evvm/log.h>

#include "../arch/x86/acpi.h"
#include "../vm.h"
#include "boot.h"

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* evvm's boot data (vmm/layout.h) is below the 1 MiB a PVH kernel may not load under. */
_Static_assert(PVH_MEMMAP_GPA + E820_MAX * sizeof(struct hvm_memmap_entry) <= PVH_CMDLINE_GPA,
	       "memory map overlaps the command line");

int pvh_load(struct evvm_vm *vm, struct boot_entry *entry)
{
	const char *name = vm->cfg.kernel_name;
	const char *cmdline = vm->cmdline ? vm->cmdline : "";
	struct hvm_start_info si = { .magic = HVM_START_MAGIC, .version = 1 };
	struct hvm_memmap_entry mm[E820_MAX];
	struct e820_entry e820[E820_MAX];
	struct elf_image elf;
	unsigned int n;
	int err;

	err = elf_load(&vm->mem, vm->cfg.kernel, vm->cfg.kernel_size, name, &elf);
	if (err)
		return err;
	if (!elf.has_pvh) {
		pr_err("kernel '%s': no PVH entry (Xen ELF note 18)", name);
		return -ENOEXEC;
	}
	if (elf.load_lo < HIGH_MEM_START) {
		pr_err("kernel '%s': loads at 0x%llx, below 1 MiB where evvm keeps boot data", name,
		       (unsigned long long)elf.load_lo);
		return -ENOEXEC;
	}
	if (elf.pvh_entry < elf.load_lo || elf.pvh_entry > elf.load_hi) {
		pr_err("kernel '%s': PVH entry 0x%llx is outside the loaded image", name,
		       (unsigned long long)elf.pvh_entry);
		return -ENOEXEC;
	}

	n = e820_build(vm, e820, E820_MAX);
	memset(mm, 0, sizeof(mm));
	for (unsigned int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };

	si.cmdline_paddr = PVH_CMDLINE_GPA;
	si.memmap_paddr = PVH_MEMMAP_GPA;
	si.memmap_entries = n;
	si.rsdp_paddr = vm->cfg.no_acpi ? 0 : ACPI_RSDP_GPA;
	if (mem_write(&vm->mem, PVH_CMDLINE_GPA, cmdline, strlen(cmdline) + 1) ||
	    mem_write(&vm->mem, PVH_MEMMAP_GPA, mm, n * sizeof(mm[0])) ||
	    mem_write(&vm->mem, PVH_START_INFO_GPA, &si, sizeof(si)))
		return -EFAULT; /* cannot happen: RAM is at least EVVM_MEM_MIN */

	*entry = (struct boot_entry){
		.mode = BOOT_ENTRY_PVH,
		.rip = elf.pvh_entry,
		.rbx = PVH_START_INFO_GPA,
	};
	return 0;
}
