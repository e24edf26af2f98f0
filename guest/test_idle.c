/*
 * Never finishes: says so, then halts with interrupts on. The host uses it
 * to check that evvm stops a running guest on a signal or vm_stop().
 */
#include "cpu.h"
#include "printf.h"
#include "test.h"

static int test_idle(void)
{
	printf("evvm-guest: idle\n");
	for (;;) {
		sti();
		hlt();
	}
	return 0;
}
GUEST_TEST("idle", test_idle);
