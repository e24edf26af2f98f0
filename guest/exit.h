/* Ending the VM through the VMM's exit port. */
#ifndef GUEST_EXIT_H
#define GUEST_EXIT_H

#include "layout.h"
#include "types.h"

/* evvm exits with (value & 0xff); QEMU's isa-debug-exit with (value << 1) | 1. */
#define EXIT_PORT		DEBUG_EXIT_PORT

#define EXIT_PASS		0
#define EXIT_FAIL		1	/* a test failed */
#define EXIT_ERROR		2	/* bad usage, unknown test, exception */

/* Write @status to EXIT_PORT, then halt in case the VMM keeps running us. */
__noreturn void guest_exit(u32 status);

#endif
