/* The kernel command line: space-separated key=value words. */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include "types.h"

#define CMDLINE_MAX		1024

/*
 * Copy the command line at physical @paddr (0: none) into guest memory,
 * so later tests may reuse low memory. Longer lines are truncated.
 */
void cmdline_init(u64 paddr);

/* The command line as given (after truncation). */
const char *cmdline_raw(void);

/* Value of the first "key=value" word, NUL-terminated; NULL if absent. */
const char *cmdline_get(const char *key);

#endif
