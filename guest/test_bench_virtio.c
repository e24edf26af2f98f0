/*
 * tests=bench-virtio: bench/notify's kick -> interrupt round trip through a
 * real virtio device, on whichever transport evvm gave it: virtio-mmio (the
 * IOAPIC pin; the handler reads InterruptStatus and writes InterruptACK) or
 * virtio-pci (an MSI-X vector; the handler reads nothing). See
 * docs/testdev.md, "Benchmark guest protocol".
 *
 * The device is the first virtio-rng. bench.n times: queue one 8-byte
 * buffer, kick, spin (interrupts on) until the used-buffer interrupt has
 * run, take the used element back. The loop is bracketed by testdev MARK 3
 * and 3 | 0x100, as tests=bench's round-trip phase. Not in the default test
 * set: it needs --testdev and a virtio-rng device.
 */
#include "cpu.h"
#include "io.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "testdev.h"
#include "virtio_rng.h"

#define BV_MARK			3
#define BV_MARK_END		(3 | 0x100)
#define BV_N_DEFAULT		1000
#define BV_BYTES		8

static u8 bv_buf[BV_BYTES];

/* 0, or the 1-based round trip whose interrupt or used element never came. */
static __attribute__((noinline)) u32 bv_roundtrips(struct virtio_dev *d, u32 n)
{
	struct virtq *vq = &d->vq[0];
	struct vbuf b = { (u64)(unsigned long)bv_buf, BV_BYTES, true };
	u32 i, irqs, id, len;
	u64 deadline;

	outl(BV_MARK, TESTDEV_MARK);
	for (i = 0; i < n; i++) {
		irqs = READ_ONCE(d->used_irqs);
		if (virtq_add(vq, &b, 1, NULL) < 0)
			return i + 1;
		virtq_kick(vq);
		deadline = 0;
		while (READ_ONCE(d->used_irqs) == irqs) {
			if (!deadline)
				deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);
			else if (tsc_passed(deadline))
				return i + 1;
		}
		if (virtq_get_used(vq, &id, &len) != 1)
			return i + 1;
	}
	outl(BV_MARK_END, TESTDEV_MARK);
	return 0;
}

static int test_bench_virtio(void)
{
	struct virtio_dev *d;
	u64 n, t;
	u32 stuck;
	int rc;

	if (test_arg_u64("bench.n", BV_N_DEFAULT, 1, 0xffffffff, &n) || testdev_check())
		return -1;
	d = rng_open();
	if (!d)
		return -1;
	t = rdtsc();
	stuck = bv_roundtrips(d, (u32)n);
	t = rdtsc() - t;
	if (stuck)
		rc = test_fail("bench-virtio: round trip %u of %lu (%s at %s): no interrupt "
			       "or used element within %lu cycles",
			       stuck, n, d->t->name, d->where, VIRTIO_IO_TIMEOUT);
	else
		rc = 0;
	if (!rc)
		printf("evvm-guest: bench-virtio: %s n=%lu tsc: roundtrip %lu irqs %u\n",
		       d->t->name, n, t, d->used_irqs);
	if (virtio_dev_reset(d))
		rc = -1;
	return rc;
}
GUEST_TEST("bench-virtio", test_bench_virtio);
