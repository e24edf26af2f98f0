/* Application processor start-up (INIT, SIPI, SIPI) and check-in. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "layout.h"
#include "types.h"

/* APs that reached ap_main() since smp_prepare(). */
extern u32 smp_cpus_checked_in;
/* LAPIC id each AP read from its own LAPIC, by CPU index (1..). */
extern u32 smp_apic_ids[MAX_CPUS];

/* Copy the trampoline to TRAMPOLINE_ADDR and reset the check-in state. */
void smp_prepare(void);

/*
 * Start the AP with LAPIC id @apic_id as CPU @index (1..MAX_CPUS-1) and
 * wait until it checks in. Needs smp_prepare() and an enabled LAPIC.
 * Returns 0, or -1 if the IPIs failed or the AP did not check in within
 * TIMEOUT_CYCLES.
 */
int smp_boot_cpu(unsigned int index, u32 apic_id);

/* C entry of every AP, called from trampoline.S on its own stack. */
__noreturn void ap_main(unsigned int index);

#endif
