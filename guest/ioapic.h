/* The IOAPIC: GSI n is pin n. */
#ifndef GUEST_IOAPIC_H
#define GUEST_IOAPIC_H

#include "layout.h"
#include "types.h"

#define IOAPIC_PINS		24

/* Flags for ioapic_route(): bits of the redirection entry's low word. */
#define IOAPIC_EDGE		0
#define IOAPIC_LEVEL		(1u << 15)
#define IOAPIC_ACTIVE_HIGH	0
#define IOAPIC_ACTIVE_LOW	(1u << 13)
#define IOAPIC_MASKED		(1u << 16)

u32 ioapic_read(u32 reg);
void ioapic_write(u32 reg, u32 val);

/*
 * Deliver @pin as fixed-mode @vector to the LAPIC @dest_apic_id (physical
 * destination). @flags: IOAPIC_LEVEL, IOAPIC_ACTIVE_LOW, IOAPIC_MASKED;
 * without IOAPIC_MASKED the pin is live when this returns.
 */
void ioapic_route(unsigned int pin, u8 vector, u32 flags, u8 dest_apic_id);

void ioapic_mask(unsigned int pin);
void ioapic_unmask(unsigned int pin);

#endif
