/*
 * With an empty IDT every exception escalates to a triple fault, which
 * the VMM must report as a shutdown. Never returns.
 */
#include "cpu.h"
#include "test.h"

static int test_triple_fault(void)
{
	static const struct {
		u16 limit;
		u64 base;
	} __packed empty_idt = { 0, 0 };

	cli();
	asm volatile("lidt %0\n\t"
		     "ud2\n\t"
		     "int3" : : "m"(empty_idt));
	cpu_halt_forever();
}
GUEST_TEST("triple-fault", test_triple_fault);
