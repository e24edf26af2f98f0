// SPDX-License-Identifier: MIT
/*
 * AML encoding, after ACPI 6.5 chapter 20 (AML grammar) and 6.4 (resource
 * descriptors). Only what evvm's DSDT uses.
 */
#include <string.h>

#include "aml.h"

#define AML_ZERO_OP	  0x00
#define AML_ONE_OP	  0x01
#define AML_NAME_OP	  0x08
#define AML_BYTE_PREFIX	  0x0a
#define AML_WORD_PREFIX	  0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP	  0x10
#define AML_BUFFER_OP	  0x11
#define AML_PACKAGE_OP	  0x12
#define AML_EXT_PREFIX	  0x5b
#define AML_DEVICE_OP	  0x82 /* after AML_EXT_PREFIX */
#define AML_ROOT_CHAR	  '\\'

#define PKGLEN_MAX_BYTES  4

void aml_init(struct aml *a, void *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = cap };
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* Names here are fixed strings of evvm's own, so a bad one is a bug: it overflows. */
void aml_name_string(struct aml *a, const char *name)
{
	if (*name == AML_ROOT_CHAR)
		aml_byte(a, *name++);
	if (strlen(name) != 4) {
		a->overflow = true;
		return;
	}
	aml_bytes(a, name, 4);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

/*
 * EISA id "AAA####": three letters of 5 bits each ('A' = 1) and four hex
 * digits, stored big-endian (ACPI 6.5, 19.6.35 EISAID).
 */
void aml_eisa_id(struct aml *a, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t v = 0;

	if (strlen(id) != 7) {
		a->overflow = true;
		return;
	}
	for (int i = 0; i < 3; i++)
		v = v << 5 | (uint32_t)((id[i] - 'A' + 1) & 0x1f);
	for (int i = 3; i < 7; i++) {
		const char *d = strchr(hex, id[i]);

		if (!d || !*d) {
			a->overflow = true;
			return;
		}
		v = v << 4 | (uint32_t)(d - hex);
	}
	aml_byte(a, AML_DWORD_PREFIX);
	aml_byte(a, v >> 24);
	aml_byte(a, v >> 16);
	aml_byte(a, v >> 8);
	aml_byte(a, v);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
}

/* Leave room for the longest PkgLength; aml_close() shrinks it. */
static size_t aml_open(struct aml *a)
{
	size_t mark = a->len;

	aml_bytes(a, "\0\0\0\0", PKGLEN_MAX_BYTES);
	return mark;
}

size_t aml_scope_open(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = aml_open(a);
	aml_name_string(a, name);
	return mark;
}

size_t aml_device_open(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	mark = aml_open(a);
	aml_name_string(a, name);
	return mark;
}

size_t aml_package_open(struct aml *a, uint8_t nr_elements)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE_OP);
	mark = aml_open(a);
	aml_byte(a, nr_elements);
	return mark;
}

size_t aml_buffer_open(struct aml *a, size_t size)
{
	size_t mark;

	aml_byte(a, AML_BUFFER_OP);
	mark = aml_open(a);
	aml_integer(a, size);
	return mark;
}

/*
 * PkgLength (20.2.4): the length of the object from the PkgLength on,
 * itself included. One byte holds up to 63; otherwise the top two bits of
 * the first byte count the bytes that follow, its low nibble holds the low
 * 4 bits and each following byte 8 more.
 */
void aml_close(struct aml *a, size_t mark)
{
	size_t body, total;
	unsigned int n;
	uint8_t enc[PKGLEN_MAX_BYTES];

	if (a->overflow)
		return;
	body = a->len - mark - PKGLEN_MAX_BYTES;
	for (n = 1; n <= PKGLEN_MAX_BYTES; n++) {
		total = body + n;
		if ((n == 1 && total < 0x40) || (n > 1 && total < (1ULL << (4 + 8 * (n - 1)))))
			break;
	}
	if (n > PKGLEN_MAX_BYTES) {
		a->overflow = true;
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (unsigned int i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + mark + n, a->buf + mark + PKGLEN_MAX_BYTES, body);
	memcpy(a->buf + mark, enc, n);
	a->len = mark + n + body;
}

/* I/O port descriptor (6.4.2.5): 16-bit decode, fixed base. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, 0x47);
	aml_byte(a, 0x01);
	aml_le(a, base, 2);
	aml_le(a, base, 2);
	aml_byte(a, 1);
	aml_byte(a, len);
}

/* IRQ descriptor without flags (6.4.2.1): edge-triggered, active high. */
void aml_res_irq_noflags(struct aml *a, unsigned int irq)
{
	aml_byte(a, 0x22);
	aml_le(a, irq < 16 ? 1u << irq : 0, 2);
}

/* 32-bit fixed memory range descriptor (6.4.3.4). */
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, bool writable)
{
	aml_byte(a, 0x86);
	aml_le(a, 9, 2);
	aml_byte(a, writable ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

/* Extended interrupt descriptor (6.4.3.6), one interrupt, consumer, exclusive. */
void aml_res_interrupt(struct aml *a, uint32_t gsi, bool edge, bool active_low)
{
	aml_byte(a, 0x89);
	aml_le(a, 6, 2);
	aml_byte(a, 0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0));
	aml_byte(a, 1);
	aml_le(a, gsi, 4);
}

/* End tag (6.4.2.9); a zero checksum means "treat as valid". */
void aml_res_end(struct aml *a)
{
	aml_byte(a, 0x79);
	aml_byte(a, 0x00);
}

/* Address space descriptors (6.4.3.5): a producer window with fixed bounds. */
enum { ADDR_SPACE_MEM = 0, ADDR_SPACE_IO = 1, ADDR_SPACE_BUS = 2 };
#define ADDR_FLAGS_PRODUCER_FIXED 0x0c /* _MIF, _MAF; producer; positive decode */

static void aml_res_word(struct aml *a, uint8_t type, uint8_t tflags, uint16_t min, uint16_t len)
{
	aml_byte(a, 0x88);
	aml_le(a, 13, 2);
	aml_byte(a, type);
	aml_byte(a, ADDR_FLAGS_PRODUCER_FIXED);
	aml_byte(a, tflags);
	aml_le(a, 0, 2); /* granularity */
	aml_le(a, min, 2);
	aml_le(a, (uint32_t)min + len - 1, 2);
	aml_le(a, 0, 2); /* translation */
	aml_le(a, len, 2);
}

void aml_res_word_bus(struct aml *a, uint16_t first, uint16_t count)
{
	aml_res_word(a, ADDR_SPACE_BUS, 0, first, count);
}

void aml_res_word_io(struct aml *a, uint16_t base, uint16_t len)
{
	aml_res_word(a, ADDR_SPACE_IO, 0x03 /* ISA and non-ISA ranges */, base, len);
}

void aml_res_dword_memory(struct aml *a, uint32_t base, uint32_t len)
{
	aml_byte(a, 0x87);
	aml_le(a, 23, 2);
	aml_byte(a, ADDR_SPACE_MEM);
	aml_byte(a, ADDR_FLAGS_PRODUCER_FIXED);
	aml_byte(a, 0x01); /* read-write, non-cacheable */
	aml_le(a, 0, 4);
	aml_le(a, base, 4);
	aml_le(a, (uint64_t)base + len - 1, 4);
	aml_le(a, 0, 4);
	aml_le(a, len, 4);
}
