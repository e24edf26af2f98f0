/*
 * The testdev fabric test device (docs/testdev.md): 32-bit registers at
 * I/O ports 0x500-0x51f through which a test assigns ioeventfds and
 * irqfds in the VMM and reads their counters.
 */
#ifndef GUEST_TESTDEV_H
#define GUEST_TESTDEV_H

#include "io.h"
#include "types.h"

#define TESTDEV_CMD		0x500
#define TESTDEV_ARG0		0x504
#define TESTDEV_ARG1		0x508
#define TESTDEV_ARG2		0x50c
#define TESTDEV_ARG3		0x510
#define TESTDEV_RESULT		0x514
#define TESTDEV_MARK		0x518
#define TESTDEV_ID		0x51c
#define TESTDEV_ID_VALUE	0x54535445	/* "ETST" */

/* Commands (CMD). */
#define TD_IOEVENTFD_ASSIGN	1
#define TD_IOEVENTFD_DEASSIGN	2
#define TD_IOEVENTFD_COUNT	3
#define TD_IRQFD_ASSIGN		4
#define TD_IRQFD_DEASSIGN	5
#define TD_IRQFD_SIGNAL		6
#define TD_BIND			7
#define TD_ACK			8
#define TD_PENDING		9
#define TD_UNOWNED		10

/* IOEVENTFD_ASSIGN ARG0 flags. */
#define TD_IOEV_MMIO		0
#define TD_IOEV_PIO		(1u << 0)
#define TD_IOEV_DATAMATCH	(1u << 1)

/* IRQFD_ASSIGN ARG0 kinds and ARG3 flags. */
#define TD_IRQFD_MSI		0
#define TD_IRQFD_EDGE		1
#define TD_IRQFD_LEVEL		2
#define TD_IRQFD_PRESIGNAL	(1u << 0)

/* UNOWNED ARG0. */
#define TD_BUS_PIO		0
#define TD_BUS_MMIO		1

/* 0 if testdev answers with its ID, else test_fail() (-1). */
int testdev_check(void);

/* Run @cmd with ARG0..ARG3 = @a0..@a3; its RESULT (>= 0 or -errno). */
s32 testdev_cmd(u32 cmd, u32 a0, u32 a1, u32 a2, u32 a3);

/*
 * The same for a command that reads only ARG0 (ARG1..3 keep old values):
 * three port accesses instead of six, for hot paths like an IRQ handler.
 * Not safe against a handler issuing commands meanwhile: callers that
 * share testdev with one keep interrupts off.
 */
static inline s32 testdev_cmd1(u32 cmd, u32 a0)
{
	outl(a0, TESTDEV_ARG0);
	outl(cmd, TESTDEV_CMD);
	return (s32)inl(TESTDEV_RESULT);
}

#endif
