// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the kernel decompressors (vmm/boot/decompress.c):
 * the input is a hostile compressed payload, its format found by magic as
 * bzimage_parse() finds it. Output beyond the bound must be refused, never
 * written.
 */
#include <stdint.h>
#include <stdlib.h>

#include <evvm/log.h>

#include "../vmm/boot/decompress.h"

#define OUT_LIMIT (256u << 10)

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
	enum compression c = compression_detect(data, size);
	void *out = NULL;
	size_t len = 0;

	if (!compression_supported(c) || c == COMPRESSION_NONE)
		return 0;
	if (decompress(c, data, size, &out, &len, OUT_LIMIT, "fuzz") == 0) {
		if (len > OUT_LIMIT)
			abort();
		free(out);
	}
	return 0;
}
