// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the bzImage loader (vmm/boot/bzimage.c): the input
 * is a hostile bzImage. What bzimage_parse() accepts must lie inside the
 * file; the payload is then decompressed with a small bound, and what comes
 * out is checked as a vmlinux, as `evvm run --kernel` does.
 */
#include <stdint.h>
#include <stdlib.h>

#include <evvm/log.h>

#include "../vmm/boot/bzimage.h"

#define VMLINUX_LIMIT (1u << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1)); /* rejections are expected */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage_info bz;
	struct vmlinux_info vi;
	void *vmlinux = NULL;
	size_t len = 0;

	if (bzimage_parse(data, size, "fuzz", &bz))
		return 0;
	if (bzimage_decompress(&bz, VMLINUX_LIMIT, "fuzz", &vmlinux, &len) == 0) {
		if (len > VMLINUX_LIMIT)
			abort();
		vmlinux_check(vmlinux, len, "fuzz", &vi);
		free(vmlinux);
	}
	return 0;
}
