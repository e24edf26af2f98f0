/* Formatting core shared by printf (UART) and snprintf (buffer). */
#include "printf.h"
#include "lib.h"
#include "serial.h"

struct sink {
	bool uart;		/* else write to buf */
	char *buf;
	size_t size;
	size_t len;		/* characters produced so far */
};

static void emit(struct sink *s, char c)
{
	if (s->uart)
		serial_putc(c);
	else if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void emit_pad(struct sink *s, char c, int n)
{
	while (n-- > 0)
		emit(s, c);
}

/* Emit @str of length @n in a field of @width, right-aligned unless @left. */
static void emit_field(struct sink *s, const char *str, int n, int width,
		       bool left, char pad)
{
	int i;

	if (!left)
		emit_pad(s, pad, width - n);
	for (i = 0; i < n; i++)
		emit(s, str[i]);
	if (left)
		emit_pad(s, ' ', width - n);
}

static void emit_num(struct sink *s, u64 v, unsigned int base, bool neg,
		     int width, bool left, char pad)
{
	char tmp[24];
	int n = sizeof(tmp);

	do {
		tmp[--n] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg) {
		if (pad == '0') {
			/* "-0042": the sign goes before the zeros. */
			emit(s, '-');
			width--;
		} else {
			tmp[--n] = '-';
		}
	}
	emit_field(s, tmp + n, sizeof(tmp) - n, width, left, pad);
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		bool left = false, is_long = false;
		char pad = ' ';
		int width = 0, prec = -1;
		const char *str;
		s64 sv;

		if (*fmt != '%') {
			emit(s, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				pad = '0';
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		while (*fmt == 'l' || *fmt == 'z') {
			is_long = true;
			fmt++;
		}
		if (left)
			pad = ' ';

		switch (*fmt) {
		case 's':
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			emit_field(s, str, prec < 0 ? (int)strlen(str) :
				   (int)strnlen(str, prec), width, left, ' ');
			break;
		case 'c':
			emit(s, (char)va_arg(ap, int));
			break;
		case 'd':
			sv = is_long ? va_arg(ap, s64) : va_arg(ap, int);
			emit_num(s, sv < 0 ? -(u64)sv : (u64)sv, 10, sv < 0,
				 width, left, pad);
			break;
		case 'u':
			emit_num(s, is_long ? va_arg(ap, u64) :
				 va_arg(ap, unsigned int), 10, false, width,
				 left, pad);
			break;
		case 'x':
			emit_num(s, is_long ? va_arg(ap, u64) :
				 va_arg(ap, unsigned int), 16, false, width,
				 left, pad);
			break;
		case 'p':
			emit(s, '0');
			emit(s, 'x');
			emit_num(s, (unsigned long)va_arg(ap, void *), 16,
				 false, width, left, pad);
			break;
		case '%':
			emit(s, '%');
			break;
		case '\0':
			return s->len;
		default:
			/* Unknown conversion: show it rather than guess. */
			emit(s, '%');
			emit(s, *fmt);
			break;
		}
	}
	return s->len;
}

int vprintf(const char *fmt, va_list ap)
{
	struct sink s = { .uart = true };

	return format(&s, fmt, ap);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct sink s = { .buf = buf, .size = size };
	int n = format(&s, fmt, ap);

	if (size)
		buf[s.len < size ? s.len : size - 1] = '\0';
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
