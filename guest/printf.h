/*
 * A small printf: %s %c %d %u %x %p %%, the 'l' (and 'z') length modifier,
 * field width with '0' or '-' flags, and precision for %s ("%.*s").
 */
#ifndef GUEST_PRINTF_H
#define GUEST_PRINTF_H

#include "types.h"

/* Print to the UART; returns the number of characters. */
int printf(const char *fmt, ...) __printf(1, 2);
int vprintf(const char *fmt, va_list ap);

/* Format into buf (always NUL-terminated if size > 0); returns full length. */
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

#endif
