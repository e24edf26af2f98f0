#include "lapic.h"
#include "cpu.h"
#include "io.h"
#include "irq.h"

#define IPI_TIMEOUT_CYCLES	(10 * TSC_PER_MS)

u32 lapic_read(u32 reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(u32 reg, u32 val)
{
	mmio_write32(LAPIC_BASE + reg, val);
}

u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_enable(void)
{
	lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | SPURIOUS_VECTOR);
}

int lapic_send_ipi(u32 apic_id, u32 icr_lo)
{
	u64 deadline;

	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);	/* this write sends */
	/* Virtual LAPICs deliver at once: usually one read. */
	deadline = tsc_deadline(IPI_TIMEOUT_CYCLES);
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		if (tsc_passed(deadline))
			return -1;
	return 0;
}
