// SPDX-License-Identifier: MIT
/*
 * The debug-exit port: a guest write of value V ends the VM and `evvm run`
 * exits with status V & 0xff. Test guests use it to report their result.
 */
#include <string.h>

#include <evvm/log.h>

#include "layout.h"
#include "legacy.h"

static void debug_exit_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	const struct stop_hook *stop = opaque;
	uint8_t status;

	(void)len;
	if (offset != 0)
		return; /* only the low byte of the port is the status */
	memcpy(&status, data, 1);
	pr_info("guest exit with status %u", status);
	stop->stop(stop->opaque, status);
}

static const struct iobus_ops debug_exit_ops = {
	.write = debug_exit_write,
};

int debug_exit_init(struct iobus *pio, const struct stop_hook *stop)
{
	return iobus_register(pio, DEBUG_EXIT_PORT, 4, &debug_exit_ops, (void *)stop, "debug-exit");
}
