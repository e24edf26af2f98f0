/*
 * tests=bench: the guest half of the fabric benchmark (docs/testdev.md,
 * "Benchmark guest protocol"). Three phases, each bracketed by MARK writes
 * that the host timestamps:
 *
 *   1. empty loop: N iterations doing nothing;
 *   2. doorbell: N writes to a second doorbell (bench.addr + 0x1000) whose
 *      eventfd nobody answers, so only the vCPU's cost of a write counts;
 *   3. round trip: N times clear the flag, ring, spin until the MSI handler
 *      has set the flag.
 *
 * bench.setup=testdev (default) wires the doorbell ioeventfd to an MSI
 * irqfd through testdev; bench.setup=none means the host already did.
 * bench.db= says how testdev registers both doorbells: wild (length 4, any
 * value; default), datamatch (length 4, value 0: virtio-mmio's QueueNotify)
 * or len0 (length 0, any write: virtio-pci's notify, KVM's fast MMIO bus).
 * Every doorbell write stores 0, so all three match it.
 * Not in the default test set: it needs a host that answers the doorbell.
 */
#include "cmdline.h"
#include "cpu.h"
#include "io.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "testdev.h"

#define MARK_END		0x100	/* phase | MARK_END ends a phase */

#define BENCH_N_DEFAULT		1000
#define BENCH_VECTOR_DEFAULT	0x40
#define BENCH_ADDR_DEFAULT	0xd2000000UL

/* Phase 2's doorbell: an ioeventfd nobody answers. */
#define BENCH_QUIET_OFFSET	0x1000

/* Spins between two TSC checks while waiting for an answer. */
#define SPIN_CHECK		256

/* Set by the MSI handler, cleared by phase 3 before each doorbell write. */
static volatile u32 bench_flag;

static void bench_irq(struct irq_frame *frame)
{
	(void)frame;
	bench_flag = 1;
	lapic_eoi();
}

static void mark(u32 v)
{
	outl(v, TESTDEV_MARK);
}

/*
 * The three loops, each its own function so objdump shows exactly what runs
 * between the marks. Phases 1 and 2 are the same asm loop but for the store
 * (n >= 1), so phase 2 - phase 1 is the doorbell writes alone whatever the
 * compiler would unroll. The doorbell (>= 2 GiB) is addressed through a
 * 64-bit register, never a sign-extended disp32.
 */
static __attribute__((noinline)) void phase_empty(u32 n)
{
	mark(1);
	asm volatile("1:\n\t"
		     "decl %0\n\t"
		     "jnz 1b"
		     : "+r"(n) : : "memory");
	mark(1 | MARK_END);
}

static __attribute__((noinline)) void phase_doorbell(unsigned long db, u32 n)
{
	mark(2);
	asm volatile("1:\n\t"
		     "movl %2, (%1)\n\t"
		     "decl %0\n\t"
		     "jnz 1b"
		     : "+r"(n) : "r"(db), "r"(0u) : "memory");
	mark(2 | MARK_END);
}

/* 0, or the 1-based iteration whose answer never came. */
static __attribute__((noinline)) u32 phase_roundtrip(unsigned long db, u32 n)
{
	volatile u32 *p = (volatile u32 *)db;
	u64 deadline;
	u32 i, spins;

	mark(3);
	for (i = 0; i < n; i++) {
		bench_flag = 0;
		*p = 0;
		/* The timeout starts at the first TSC check: tiny fast path. */
		deadline = 0;
		spins = SPIN_CHECK;
		while (!bench_flag) {
			if (--spins)
				continue;
			spins = SPIN_CHECK;
			if (!deadline)
				deadline = tsc_deadline(TIMEOUT_CYCLES);
			else if (tsc_passed(deadline))
				return i + 1;
		}
	}
	mark(3 | MARK_END);
	return 0;
}

/* How testdev registers the doorbells (bench.db=). */
struct bench_db {
	u32 flags, len;
};

/*
 * Wire doorbell -> ioeventfd -> I/O thread -> MSI irqfd through testdev,
 * both doorbells registered as @how says.
 */
static int testdev_setup(unsigned long db, u32 vector, const struct bench_db *how,
			 s32 *ioev, s32 *irqfd, s32 *quiet)
{
	s32 r;

	if (testdev_check())
		return -1;
	*quiet = testdev_cmd(TD_IOEVENTFD_ASSIGN, how->flags,
			     (u32)(db + BENCH_QUIET_OFFSET), how->len, 0);
	if (*quiet < 0)
		return test_fail("IOEVENTFD_ASSIGN mmio 0x%lx len %u flags 0x%x: %d",
				 db + BENCH_QUIET_OFFSET, how->len, how->flags, *quiet);
	*ioev = testdev_cmd(TD_IOEVENTFD_ASSIGN, how->flags, (u32)db, how->len, 0);
	if (*ioev < 0)
		return test_fail("IOEVENTFD_ASSIGN mmio 0x%lx len %u flags 0x%x: %d", db,
				 how->len, how->flags, *ioev);
	*irqfd = testdev_cmd(TD_IRQFD_ASSIGN, TD_IRQFD_MSI, vector, lapic_id(),
			     0);
	if (*irqfd < 0)
		return test_fail("IRQFD_ASSIGN msi vector 0x%x: %d", vector,
				 *irqfd);
	r = testdev_cmd(TD_BIND, *ioev, *irqfd, 0, 0);
	if (r)
		return test_fail("BIND ioeventfd %d irqfd %d: %d", *ioev,
				 *irqfd, r);
	return 0;
}

static void testdev_teardown(s32 ioev, s32 irqfd, s32 quiet)
{
	s32 r;

	if (quiet >= 0) {
		r = testdev_cmd(TD_IOEVENTFD_DEASSIGN, quiet, 0, 0, 0);
		if (r)
			test_fail("IOEVENTFD_DEASSIGN %d: %d", quiet, r);
	}
	if (ioev >= 0) {
		r = testdev_cmd(TD_IOEVENTFD_DEASSIGN, ioev, 0, 0, 0);
		if (r)
			test_fail("IOEVENTFD_DEASSIGN %d: %d", ioev, r);
	}
	if (irqfd >= 0) {
		r = testdev_cmd(TD_IRQFD_DEASSIGN, irqfd, 0, 0, 0);
		if (r)
			test_fail("IRQFD_DEASSIGN %d: %d", irqfd, r);
	}
}

static int test_bench(void)
{
	const char *setup = cmdline_get("bench.setup"), *dbs = cmdline_get("bench.db");
	struct bench_db how = { TD_IOEV_MMIO, 4 };
	s32 ioev = -1, irqfd = -1, quiet = -1;
	u64 n, vector, db, t[4];
	bool use_testdev;
	int rc = -1;
	u32 stuck;

	/* The doorbell is 32-bit: testdev's ARG1; the guest maps 4 GiB. */
	if (test_arg_u64("bench.n", BENCH_N_DEFAULT, 1, 0xffffffff, &n) ||
	    test_arg_u64("bench.vector", BENCH_VECTOR_DEFAULT, NR_EXCEPTIONS, SPURIOUS_VECTOR - 1,
			 &vector) ||
	    test_arg_u64("bench.addr", BENCH_ADDR_DEFAULT, 0, 0xfffffffc, &db))
		return -1;
	if (db & 3)
		return test_fail("bench.addr 0x%lx is not 4-byte aligned", db);
	if (!setup || !strcmp(setup, "testdev"))
		use_testdev = true;
	else if (!strcmp(setup, "none"))
		use_testdev = false;
	else
		return test_fail("bad bench.setup '%s' (testdev or none)",
				 setup);
	if (dbs && !strcmp(dbs, "datamatch"))
		how.flags |= TD_IOEV_DATAMATCH;
	else if (dbs && !strcmp(dbs, "len0"))
		how.len = 0;
	else if (dbs && strcmp(dbs, "wild"))
		return test_fail("bad bench.db '%s' (wild, datamatch or len0)", dbs);

	cli();
	bench_flag = 0;
	irq_register(vector, bench_irq);
	lapic_enable();
	if (use_testdev && testdev_setup(db, vector, &how, &ioev, &irqfd, &quiet))
		goto out;

	t[0] = rdtsc();
	phase_empty(n);
	t[1] = rdtsc();
	phase_doorbell(db + BENCH_QUIET_OFFSET, n);
	t[2] = rdtsc();

	sti();
	t[3] = rdtsc();
	stuck = phase_roundtrip(db, n);
	cli();
	if (stuck) {
		test_fail("round trip %u of %lu: no MSI on vector 0x%lx in %lu cycles",
			  stuck, n, vector, (u64)TIMEOUT_CYCLES);
		goto out;
	}
	printf("evvm-guest: bench: n=%lu tsc: empty %lu doorbell %lu "
	       "roundtrip %lu\n", n, t[1] - t[0], t[2] - t[1], rdtsc() - t[3]);
	rc = 0;
out:
	cli();
	if (use_testdev)
		testdev_teardown(ioev, irqfd, quiet);
	irq_register(vector, NULL);
	return rc;
}
GUEST_TEST("bench", test_bench);
