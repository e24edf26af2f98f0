// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the ELF loaders (vmm/boot/elf.c, vmlinux_check in
 * vmm/boot/bzimage.c): the input is a hostile kernel file. elf_load() copies
 * its segments into 8 MiB of "guest RAM" (an exact-size malloc, so ASan sees
 * any write outside it); whatever it accepts must lie inside that RAM.
 */
#include <stdint.h>
#include <stdlib.h>

#include <evvm/log.h>
#include <evvm/mem.h>

#include "../vmm/boot/boot.h"
#include "../vmm/boot/bzimage.h"

#define RAM_SIZE (8u << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct evvm_mem mem;
static uint8_t *ram;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct evvm_mem_region r = { .gpa = 0, .size = RAM_SIZE, .fd = -1 };

	(void)argc;
	(void)argv;
	evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1)); /* rejections are expected */
	ram = malloc(RAM_SIZE);
	if (!ram)
		abort();
	r.hva = ram;
	mem_init(&mem);
	if (mem_add_region(&mem, &r))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmlinux_info vi;
	struct elf_image ei;

	if (elf_load(&mem, data, size, "fuzz", &ei) == 0) {
		if (ei.load_lo > ei.load_hi || ei.load_hi >= RAM_SIZE)
			abort();
	}
	if (vmlinux_check(data, size, "fuzz", &vi) == 0) {
		if (vi.nr_load == 0 || vi.nr_load > VMLINUX_MAX_LOAD)
			abort();
		for (unsigned int i = 0; i < vi.nr_load; i++)
			if (vi.load[i].offset > size ||
			    vi.load[i].filesz > size - vi.load[i].offset)
				abort();
	}
	return 0;
}
