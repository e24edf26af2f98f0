/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_CAPTURE_H
#define EVVM_TESTS_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

/* Send this process' stderr to a temporary file (evvm's log lines go there). */
void capture_begin(void);

/* Stop capturing; the text goes to @buf (NUL-terminated) and, when @show, to stderr. */
void capture_end(char *buf, size_t size, bool show);

#endif
