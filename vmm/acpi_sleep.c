// SPDX-License-Identifier: MIT
/*
 * The sleep control and status registers of a hardware-reduced ACPI
 * platform (ACPI 6.5, 4.8.3.7 and 4.8.3.8), one I/O port that the FADT
 * names for both. Linux powers off by writing SLP_TYP from \_S5 with
 * SLP_EN: evvm ends the VM with status 0, as for a reboot. Other sleep
 * states are not offered (the DSDT declares only S5) and are ignored.
 */
#include <stdint.h>
#include <string.h>

#include <evvm/log.h>

#include "arch/x86/acpi.h"
#include "legacy.h"

static void acpi_sleep_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	const struct stop_hook *stop = opaque;
	uint8_t v;

	(void)offset;
	(void)len;
	memcpy(&v, data, 1);
	if (!(v & ACPI_SLEEP_EN))
		return;
	if (((v & ACPI_SLEEP_TYP_MASK) >> ACPI_SLEEP_TYP_SHIFT) != ACPI_SLEEP_TYP_S5) {
		pr_warn("ACPI sleep type %u requested; only S5 (power off) is offered",
			(v & ACPI_SLEEP_TYP_MASK) >> ACPI_SLEEP_TYP_SHIFT);
		return;
	}
	pr_info("guest powered off (ACPI S5)");
	stop->stop(stop->opaque, 0);
}

/* Sleep status: WAK_STS never set, since the VM never wakes from a sleep. */
static void acpi_sleep_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static const struct iobus_ops acpi_sleep_ops = {
	.read = acpi_sleep_read,
	.write = acpi_sleep_write,
};

int acpi_sleep_init(struct iobus *pio, const struct stop_hook *stop)
{
	return iobus_register(pio, ACPI_SLEEP_PORT, 1, &acpi_sleep_ops, (void *)stop, "acpi-sleep");
}
