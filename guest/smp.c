#include "smp.h"
#include "cpu.h"
#include "io.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"

/* MP spec B.4 delays, in cycles at the assumed minimum 1 GHz. */
#define INIT_DELAY_CYCLES	(10 * TSC_PER_MS)
#define SIPI_DELAY_CYCLES	(200 * TSC_PER_US)

extern const char trampoline_start[], trampoline_end[];

static u8 ap_stacks[MAX_CPUS - 1][AP_STACK_SIZE] __aligned(16);

/* Read by trampoline.S: the AP being started. */
unsigned long ap_boot_stack;
unsigned int ap_boot_index;

u32 smp_cpus_checked_in;
u32 smp_apic_ids[MAX_CPUS];

void ap_main(unsigned int index)
{
	idt_load();
	WRITE_ONCE(smp_apic_ids[index], lapic_id());
	/* A locked add is a full barrier: the id is visible first. */
	__atomic_fetch_add(&smp_cpus_checked_in, 1, __ATOMIC_SEQ_CST);
	cpu_halt_forever();
}

void smp_prepare(void)
{
	memcpy(phys_to_virt(TRAMPOLINE_ADDR), trampoline_start,
	       trampoline_end - trampoline_start);
	WRITE_ONCE(smp_cpus_checked_in, 0);
}

static bool checked_in(u32 before)
{
	return READ_ONCE(smp_cpus_checked_in) != before;
}

int smp_boot_cpu(unsigned int index, u32 apic_id)
{
	u32 before = READ_ONCE(smp_cpus_checked_in);
	u64 deadline;
	int i;

	if (index == 0 || index >= MAX_CPUS)
		return -1;
	WRITE_ONCE(smp_apic_ids[index], ~0u);
	WRITE_ONCE(ap_boot_index, index);
	WRITE_ONCE(ap_boot_stack, (unsigned long)ap_stacks[index - 1] +
		   AP_STACK_SIZE);

	/* INIT assert then deassert, as Linux does; modern CPUs ignore the latter. */
	if (lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT) ||
	    lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL))
		return -1;
	tsc_delay(INIT_DELAY_CYCLES);

	/* The MP spec sends SIPI twice; skip the second if the AP is up. */
	for (i = 0; i < 2 && !checked_in(before); i++) {
		if (lapic_send_ipi(apic_id, ICR_STARTUP | TRAMPOLINE_VECTOR))
			return -1;
		tsc_delay(SIPI_DELAY_CYCLES);
	}

	deadline = tsc_deadline(TIMEOUT_CYCLES);
	while (!checked_in(before))
		if (tsc_passed(deadline))
			return -1;
	return 0;
}
