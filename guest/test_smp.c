/* Start every enabled AP in the MP table and check that each checks in. */
#include "lapic.h"
#include "mptable.h"
#include "printf.h"
#include "smp.h"
#include "test.h"

static int test_smp(void)
{
	u32 ids[MAX_CPUS];
	u32 bsp = lapic_id();
	unsigned int i, j, n = 0, up;
	struct mp_info mp;
	const char *err;

	err = mp_parse(&mp);
	if (err)
		return test_fail("MP table: %s", err);
	if (mp.ncpus > MAX_CPUS)
		return test_fail("%u cpus, the guest supports %u", mp.ncpus,
				 MAX_CPUS);

	lapic_enable();
	smp_prepare();
	ids[n++] = bsp;
	for (i = 0; i < mp.ncpus; i++) {
		const struct mp_cpu *c = &mp.cpus[i];

		if (c->apic_id == bsp)
			continue;
		if (c->flags & MP_CPU_BSP)
			return test_fail("MP table BSP is apic id %u, running on %u",
					 c->apic_id, bsp);
		if (n >= MAX_CPUS)
			return test_fail("running apic id %u is not in the MP table",
					 bsp);
		if (smp_boot_cpu(n, c->apic_id))
			return test_fail("cpu %u (apic id %u) did not start",
					 n, c->apic_id);
		ids[n] = smp_apic_ids[n];
		if (ids[n] != c->apic_id)
			return test_fail("cpu %u reports apic id %u, MP table says %u",
					 n, ids[n], c->apic_id);
		n++;
	}

	up = smp_cpus_checked_in;
	if (up != mp.ncpus - 1)
		return test_fail("%u APs checked in, MP table has %u cpus", up,
				 mp.ncpus);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (ids[i] == ids[j])
				return test_fail("cpus %u and %u share apic id %u",
						 i, j, ids[i]);
	printf("evvm-guest: smp: %u cpus up\n", up + 1);
	return 0;
}
GUEST_TEST("smp", test_smp);
