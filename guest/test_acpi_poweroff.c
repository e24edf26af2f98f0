/*
 * Power off the way Linux does on evvm's hardware-reduced ACPI platform:
 * SLP_TYP from \_S5 (5) with SLP_EN in the sleep control register, port
 * 0x600 (the FADT's SLEEP_CONTROL_REG). First a sleep type evvm does not
 * offer (S3), which it must ignore. Reaching the end is a failure: evvm
 * should have ended the VM with status 0.
 */
#include "io.h"
#include "printf.h"
#include "test.h"

#define SLEEP_CONTROL_PORT 0x600
#define SLP_TYP(t)	   ((t) << 2)
#define SLP_EN		   0x20

static int test_acpi_poweroff(void)
{
	printf("evvm-guest: acpi-poweroff: S3 (not offered)\n");
	outb(SLP_TYP(3) | SLP_EN, SLEEP_CONTROL_PORT);
	printf("evvm-guest: acpi-poweroff: still running, S5\n");
	outb(SLP_TYP(5) | SLP_EN, SLEEP_CONTROL_PORT);
	return test_fail("still running after S5 with SLP_EN");
}
GUEST_TEST("acpi-poweroff", test_acpi_poweroff);
