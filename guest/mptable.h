/* Intel MultiProcessor Specification 1.4 tables: the CPU list. */
#ifndef GUEST_MPTABLE_H
#define GUEST_MPTABLE_H

#include "layout.h"
#include "types.h"

#define MP_MAX_CPUS		LAYOUT_MAX_CPUS

#define MP_CPU_ENABLED		0x01
#define MP_CPU_BSP		0x02

struct mp_cpu {
	u8 apic_id;
	u8 flags;		/* MP_CPU_* */
};

struct mp_info {
	u32 lapic_addr;
	unsigned int ncpus;	/* enabled processors, may exceed MP_MAX_CPUS */
	struct mp_cpu cpus[MP_MAX_CPUS];	/* the first enabled ones */
	unsigned int nioapics;	/* enabled IOAPICs */
	u32 ioapic_addr;	/* the first one */
	u8 ioapic_id;
};

/*
 * Find the floating pointer (first KiB of the EBDA, then 0xf0000..0xfffff),
 * check signatures and checksums and fill @mp. Returns NULL, or a short
 * reason the table was not usable.
 */
const char *mp_parse(struct mp_info *mp);

#endif
