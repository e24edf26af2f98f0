/*
 * A hostile driver against the virtio-rng device: each case breaks one rule
 * of the split ring or of queue set-up, through the virtio core, so each
 * runs over either transport (virtio-mmio or virtio-pci). The device must then set
 * DEVICE_NEEDS_RESET (Status bit 0x40; a configuration-change interrupt may
 * come with it), after which a reset and a fresh set-up must give a working
 * device again. A device that never reacts fails the test at a TSC deadline.
 *
 * queue-size is the exception: QueueNum = 100 (not a power of two) may also
 * be refused by QueueReady (pci: queue_enable) reading back 0.
 */
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio_rng.h"

#define HOSTILE_TIMEOUT		((u64)TIMEOUT_CYCLES)
#define RNG_BYTES		64

static u8 rng_buf[RNG_BYTES] __aligned(64);
/* Indirect tables for indirect-nested: outer -> inner -> buffer. */
static struct virtq_desc outer[1] __aligned(16), inner[1] __aligned(16);

/* Add one device-writable buffer at @addr, @len; the head, or -1. */
static int add_buf(struct virtq *vq, u64 addr, u32 len)
{
	struct vbuf b = { .addr = addr, .len = len, .write = true };

	return virtq_add(vq, &b, 1, NULL);
}

static int inject_addr(struct virtq *vq)
{
	/* 2^48: far above any RAM evvm or QEMU gives a guest. */
	if (add_buf(vq, 0x1000000000000ULL, RNG_BYTES) < 0)
		return -1;
	virtq_kick(vq);
	return 0;
}

static int inject_len(struct virtq *vq)
{
	/* addr + len wraps to 0x1000: a naive "addr + len <= size" passes. */
	if (add_buf(vq, 0xfffffffffffff000ULL, 0x2000) < 0)
		return -1;
	virtq_kick(vq);
	return 0;
}

static int inject_loop(struct virtq *vq)
{
	int head = add_buf(vq, (u64)(unsigned long)rng_buf, RNG_BYTES);

	if (head < 0)
		return -1;
	/* Published already in the avail ring slot; point the chain at itself. */
	vq->desc[head].flags |= VRING_DESC_F_NEXT;
	vq->desc[head].next = head;
	virtq_kick(vq);
	return 0;
}

static int inject_indirect_nested(struct virtq *vq)
{
	int head;

	if (!virtio_has(vq->dev, VIRTIO_F_INDIRECT_DESC))
		return test_fail("VIRTIO_F_INDIRECT_DESC not negotiated (offered 0x%lx; virtio.indirect=0?)",
				 vq->dev->offered);
	inner[0].addr = (u64)(unsigned long)rng_buf;
	inner[0].len = RNG_BYTES;
	inner[0].flags = VRING_DESC_F_WRITE;
	inner[0].next = 0;
	/* Forbidden (2.7.5.3.1): INDIRECT inside an indirect table. */
	outer[0].addr = (u64)(unsigned long)inner;
	outer[0].len = sizeof(inner);
	outer[0].flags = VRING_DESC_F_INDIRECT;
	outer[0].next = 0;
	head = add_buf(vq, (u64)(unsigned long)outer, sizeof(outer));
	if (head < 0)
		return -1;
	vq->desc[head].flags = VRING_DESC_F_INDIRECT;
	virtq_kick(vq);
	return 0;
}

static int inject_avail_jump(struct virtq *vq)
{
	/* One good buffer, but avail->idx says num + 1 more than the device saw. */
	if (add_buf(vq, (u64)(unsigned long)rng_buf, RNG_BYTES) < 0)
		return -1;
	vq->avail_idx = vq->num + 1;
	virtq_publish(vq);
	virtio_mb();
	virtq_notify(vq);
	return 0;
}

/* After a reset: set up again and read good random bytes. */
static int recover(const char *name)
{
	struct virtio_dev *d = rng_open();
	int rc;

	if (!d)
		return -1;
	memset(rng_buf, 0, sizeof(rng_buf));
	rc = rng_read(d, rng_buf, RNG_BYTES);
	if (!rc && rng_all_zero(rng_buf, RNG_BYTES))
		rc = test_fail("%s: after the reset the device returned 64 zero bytes",
			       name);
	if (virtio_dev_reset(d))
		rc = -1;
	return rc;
}

static int hostile(const char *name, int (*inject)(struct virtq *vq))
{
	struct virtio_dev *d = rng_open();
	u64 t0, dt;
	u32 status;
	bool nr;
	u16 used;

	if (!d)
		return -1;
	if (inject(&d->vq[0])) {
		virtio_dev_reset(d);
		return -1;
	}
	t0 = rdtsc();
	nr = virtio_wait_needs_reset(d, HOSTILE_TIMEOUT);
	dt = rdtsc() - t0;
	status = virtio_status(d);
	used = READ_ONCE(d->vq[0].used->idx);
	printf("evvm-guest: %s: %s after %lu kcycles, Status 0x%x, used->idx %u, %u config interrupts\n",
	       name, nr ? "NEEDS_RESET" : "no NEEDS_RESET", dt / 1000, status,
	       used, READ_ONCE(d->config_irqs));
	if (virtio_dev_reset(d))
		return -1;
	if (!nr)
		return test_fail("%s: the device did not set DEVICE_NEEDS_RESET within %lu cycles (Status 0x%x, used->idx %u)",
				 name, HOSTILE_TIMEOUT, status, used);
	return recover(name);
}

static int test_hostile_addr(void)
{
	return hostile("virtio-hostile-addr", inject_addr);
}
GUEST_TEST("virtio-hostile-addr", test_hostile_addr);

static int test_hostile_len(void)
{
	return hostile("virtio-hostile-len", inject_len);
}
GUEST_TEST("virtio-hostile-len", test_hostile_len);

static int test_hostile_loop(void)
{
	return hostile("virtio-hostile-loop", inject_loop);
}
GUEST_TEST("virtio-hostile-loop", test_hostile_loop);

static int test_hostile_indirect_nested(void)
{
	return hostile("virtio-hostile-indirect-nested", inject_indirect_nested);
}
GUEST_TEST("virtio-hostile-indirect-nested", test_hostile_indirect_nested);

static int test_hostile_avail_jump(void)
{
	return hostile("virtio-hostile-avail-jump", inject_avail_jump);
}
GUEST_TEST("virtio-hostile-avail-jump", test_hostile_avail_jump);

/*
 * QueueNum = 100 (or, if QueueNumMax < 100, the largest size below it that
 * is not a power of two). Accepted outcomes: QueueReady reads back 0, or
 * NEEDS_RESET after QueueReady = 1 / DRIVER_OK.
 */
static int test_hostile_queue_size(void)
{
	const char *name = "virtio-hostile-queue-size";
	struct virtio_dev *d = virtio_find(VIRTIO_ID_RNG, 0, false);
	u32 max, ready, status;
	u16 num = 100;
	bool nr;

	if (!d || virtio_dev_begin(d, 0))
		return -1;
	max = virtio_queue_max(d, 0);
	if (max < num) {
		if (max < 3) {
			virtio_dev_reset(d);
			return test_fail("%s: QueueNumMax %u leaves no size that is not a power of two",
					 name, max);
		}
		num = max - 1;
		if (!(num & (num - 1)))	/* max - 1 is a power of two: max is 3 */
			num = 3;
	}
	if (!virtio_queue_program(d, 0, num)) {
		virtio_dev_reset(d);
		return -1;
	}
	ready = virtio_queue_ready(d, 0);
	status = virtio_status(d);
	if (!ready || (status & VIRTIO_S_NEEDS_RESET)) {
		printf("evvm-guest: %s: QueueNum %u (QueueNumMax %u): after QueueReady = 1, QueueReady reads %u and Status 0x%x (%s)\n",
		       name, num, max, ready, status,
		       status & VIRTIO_S_NEEDS_RESET ? "NEEDS_RESET" : "no NEEDS_RESET");
		if (virtio_dev_reset(d))
			return -1;
		return recover(name);
	}
	status = virtio_dev_ready_raw(d);
	nr = (status & VIRTIO_S_NEEDS_RESET) ||
	     virtio_wait_needs_reset(d, HOSTILE_TIMEOUT);
	status = virtio_status(d);
	printf("evvm-guest: %s: QueueNum %u (QueueNumMax %u): QueueReady reads 1, %s after DRIVER_OK (Status 0x%x, %u config interrupts)\n",
	       name, num, max, nr ? "NEEDS_RESET" : "no NEEDS_RESET", status,
	       READ_ONCE(d->config_irqs));
	if (virtio_dev_reset(d))
		return -1;
	if (!nr)
		return test_fail("%s: the device accepted QueueNum %u: QueueReady reads 1 and no NEEDS_RESET within %lu cycles",
				 name, num, HOSTILE_TIMEOUT);
	return recover(name);
}
GUEST_TEST("virtio-hostile-queue-size", test_hostile_queue_size);
