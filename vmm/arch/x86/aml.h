/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_AML_H
#define EVVM_VMM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A writer of the few AML constructs evvm's DSDT needs (ACPI 6.5, chapter
 * 20): Scope, Device, Name, Package, Buffer, strings and integers. Output
 * goes into a caller's buffer; running out of room latches a->overflow and
 * writes nothing more, so callers check once at the end.
 *
 * Objects with a PkgLength (Scope, Device, Package, Buffer) are written as
 * aml_*_open() ... aml_close(): the length is encoded, in as few bytes as
 * it needs, when the object is closed.
 */

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool overflow;
};

void aml_init(struct aml *a, void *buf, size_t cap);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/* A 4-character NameSeg, or a path starting with '\' and made of NameSegs ("\_SB_"). */
void aml_name_string(struct aml *a, const char *name);
/* The smallest integer encoding of @v (ZeroOp, OneOp, Byte/Word/DWord/QWordConst). */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A compressed EISA id ("PNP0501") as a DWordConst. */
void aml_eisa_id(struct aml *a, const char *id);

/* Name(@name, <object written next>) */
void aml_name(struct aml *a, const char *name);

/* Open an object; aml_close() with the returned mark. */
size_t aml_scope_open(struct aml *a, const char *name);
size_t aml_device_open(struct aml *a, const char *name);
size_t aml_package_open(struct aml *a, uint8_t nr_elements);
/* A Buffer of @size bytes: write exactly @size bytes before closing. */
size_t aml_buffer_open(struct aml *a, size_t size);
void aml_close(struct aml *a, size_t mark);

/* Resource descriptors (ACPI 6.5, 6.4), for a _CRS buffer. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_irq_noflags(struct aml *a, unsigned int irq);
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, bool writable);
void aml_res_interrupt(struct aml *a, uint32_t gsi, bool edge, bool active_low);
void aml_res_end(struct aml *a);
/* Bridge windows (producers, fixed bounds): a bus range, an I/O range, a 32-bit memory range. */
void aml_res_word_bus(struct aml *a, uint16_t first, uint16_t count);
void aml_res_word_io(struct aml *a, uint16_t base, uint16_t len);
void aml_res_dword_memory(struct aml *a, uint32_t base, uint32_t len);

#define AML_RES_IO_LEN		8
#define AML_RES_IRQ_NOFLAGS_LEN 3
#define AML_RES_MEMORY32_LEN	12
#define AML_RES_INTERRUPT_LEN	9
#define AML_RES_END_LEN		2
#define AML_RES_WORD_LEN	16
#define AML_RES_DWORD_LEN	26

#endif
