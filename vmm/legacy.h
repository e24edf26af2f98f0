/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_LEGACY_H
#define EVVM_VMM_LEGACY_H

#include "iobus.h"

/*
 * The legacy platform devices that can end the VM: they register on the
 * port bus and call back through struct stop_hook, as the UART calls
 * set_irq, so they know nothing of struct evvm_vm. The vCPU threads end
 * the VM through the same hook.
 */

struct i8042;

/* End the VM with @status (0..255); thread-safe, the first request wins. */
struct stop_hook {
	void (*stop)(void *opaque, int status);
	void *opaque;
};

/*
 * The debug-exit port (0xf4): a guest write of V ends the VM with status
 * V & 0xff. @stop must outlive @pio's registration.
 */
int debug_exit_init(struct iobus *pio, const struct stop_hook *stop);

/*
 * The ACPI sleep control/status register; S5 ends the VM with status 0.
 * @stop must outlive @pio's registration.
 */
int acpi_sleep_init(struct iobus *pio, const struct stop_hook *stop);

/*
 * The keyboard controller at ports 0x60 and 0x64 (reset only): a reset
 * ends the VM with status 0. Returns 0 and *@out, or -errno.
 */
int i8042_create(struct iobus *pio, const struct stop_hook *stop, struct i8042 **out);
void i8042_destroy(struct i8042 *kbc);

#endif
