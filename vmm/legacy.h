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

/* Raise (1) or lower (0) interrupt line @gsi; thread-safe. */
struct irq_hook {
	void (*set_irq)(void *opaque, unsigned int gsi, int level);
	void *opaque;
};

/*
 * The keyboard controller at ports 0x60 and 0x64 with a dumb keyboard: a
 * reset ends the VM with status 0; keyboard bytes raise IRQ 1 through @irq
 * (NULL: none). @stop and @irq must outlive the device. Returns 0 and
 * *@out, or -errno.
 */
int i8042_create(struct iobus *pio, const struct stop_hook *stop, const struct irq_hook *irq,
		 struct i8042 **out);

/*
 * Type Ctrl+Alt+Del: the three key presses in the scan code set the guest
 * reads (set 1 while the controller translates, else set 2), then an
 * interrupt if enabled. -ENOBUFS when the guest has not read enough of
 * what came before. Thread-safe.
 */
int i8042_ctrl_alt_del(struct i8042 *kbc);

void i8042_destroy(struct i8042 *kbc);

/* The controller's state, as the snapshot stores it. */
struct i8042_state {
	uint8_t status, ctr, outport, pending, last, out_len;
	uint8_t pad[2];
	uint8_t out[16];
};

/* Fill *@st from @kbc (the VM paused). */
void i8042_save(struct i8042 *kbc, struct i8042_state *st);

/* Load *@st (from a file: checked) into @kbc. 0, or -EINVAL for a buffer out of range. */
int i8042_restore(struct i8042 *kbc, const struct i8042_state *st);

#endif
