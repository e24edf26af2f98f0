// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the snapshot state file loader
 * (vmm/snapshot_file.c): the input is a hostile state file. Whatever
 * snapfile_parse() accepts must have every section inside the file, and
 * snapfile_find() may only return such sections.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "../vmm/snapshot_file.h"

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
	struct snapfile sf;
	size_t len;

	if (snapfile_parse(&sf, "fuzz", data, size))
		return 0;
	for (unsigned int i = 0; i < sf.nr_sections; i++) {
		const struct snapfile_section *s = &sf.sections[i];
		const char *p = s->data;

		if (p < sf.buf || p + s->len > sf.buf + sf.len)
			abort();
		/* Touch every byte (ASan checks the bounds). */
		if (s->len && (p[0] | p[s->len - 1]) == 0x100)
			abort();
	}
	for (uint32_t tag = 0; tag < 20; tag++) {
		const char *p = snapfile_find_opt(&sf, tag, 0, &len);

		if (p && (p < sf.buf || p + len > sf.buf + sf.len))
			abort();
	}
	snapfile_free(&sf);
	return 0;
}
