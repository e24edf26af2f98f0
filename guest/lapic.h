/* Local APIC in xAPIC (MMIO) mode. */
#ifndef GUEST_LAPIC_H
#define GUEST_LAPIC_H

#include "layout.h"
#include "types.h"

#define LAPIC_ID		0x020
#define LAPIC_VERSION		0x030
#define LAPIC_TPR		0x080
#define LAPIC_EOI		0x0b0
#define LAPIC_SVR		0x0f0
#define LAPIC_ESR		0x280
#define LAPIC_ICR_LO		0x300
#define LAPIC_ICR_HI		0x310
#define LAPIC_LVT_LINT0		0x350

#define LAPIC_SVR_ENABLE	0x100
#define LAPIC_LVT_MASKED	0x10000

/* ICR low word: delivery mode, level, trigger; vector in bits 7:0. */
#define ICR_FIXED		0x000
#define ICR_INIT		0x500
#define ICR_STARTUP		0x600
#define ICR_BUSY		0x1000	/* delivery status: send pending */
#define ICR_ASSERT		0x4000
#define ICR_LEVEL		0x8000

u32 lapic_read(u32 reg);
void lapic_write(u32 reg, u32 val);

/* This CPU's APIC id. */
u32 lapic_id(void);

/* Acknowledge the interrupt being serviced. */
void lapic_eoi(void);

/*
 * Software-enable this LAPIC with SPURIOUS_VECTOR and mask LINT0, so a
 * firmware or reset-time ExtINT (8259) setup cannot inject stray vectors.
 */
void lapic_enable(void);

/*
 * Send an IPI (@icr_lo: mode | flags | vector) to @apic_id and wait for
 * the LAPIC to accept it. Returns 0, or -1 if still busy after a timeout.
 */
int lapic_send_ipi(u32 apic_id, u32 icr_lo);

#endif
