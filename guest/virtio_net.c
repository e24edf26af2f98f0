/*
 * virtio-net driver: descriptor i of each queue always points at buffer i,
 * so a frame costs one avail entry to send or repost and one used entry to
 * reap. Interrupts stay suppressed (VRING_AVAIL_F_NO_INTERRUPT, or a
 * used_event just behind last_used with EVENT_IDX) except inside
 * net_wait(); each one costs several exits under PVM.
 */
#include "virtio_net.h"
#include "cmdline.h"
#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "printf.h"
#include "test.h"

static u8 rx_bufs[VIRTQ_MAX_SIZE][NET_BUF_SIZE] __aligned(64);
static u8 tx_bufs[VIRTQ_MAX_SIZE][NET_BUF_SIZE] __aligned(64);

/*
 * A halted wait needs an interrupt to end: the LAPIC timer (one-shot, armed
 * before each hlt and left to expire) bounds it, so a device that never
 * interrupts gives a test failure instead of a hung guest. Its period need
 * not be exact: the deadline is checked against the TSC.
 */
#define NET_TIMER_VECTOR	0xee
#define LAPIC_LVT_TIMER		0x320
#define LAPIC_TIMER_INIT	0x380
#define LAPIC_TIMER_DIV		0x3e0
#define LAPIC_TIMER_DIV_16	0x3
/* ~100 ms at KVM's 1 GHz APIC bus, divided by 16. */
#define NET_TIMER_COUNT		6250000

static void net_timer_irq(struct irq_frame *frame)
{
	(void)frame;
	lapic_eoi();
}

static void timer_setup(void)
{
	irq_register(NET_TIMER_VECTOR, net_timer_irq);
	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER, NET_TIMER_VECTOR);	/* one-shot */
}

static void timer_teardown(void)
{
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | NET_TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, 0);
	irq_register(NET_TIMER_VECTOR, NULL);
}

static inline u16 *used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->num];
}

/* Ask for an interrupt on the next used entry of @vq. */
static void cb_enable(struct net *n, struct virtq *vq)
{
	if (n->event_idx)
		WRITE_ONCE(*used_event(vq), vq->last_used);
	else
		WRITE_ONCE(vq->avail->flags, 0);
}

/* No interrupts for @vq: used_event is reached only after 65535 entries. */
static void cb_disable(struct net *n, struct virtq *vq)
{
	if (n->event_idx)
		WRITE_ONCE(*used_event(vq), (u16)(vq->last_used - 1));
	else
		WRITE_ONCE(vq->avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
}

static int setup_rx(struct net *n)
{
	struct virtq *vq = n->rx;
	u16 i;

	for (i = 0; i < vq->num; i++) {
		vq->desc[i].addr = (u64)(unsigned long)rx_bufs[i];
		vq->desc[i].len = NET_BUF_SIZE;
		vq->desc[i].flags = VRING_DESC_F_WRITE;
		vq->desc[i].next = 0;
		vq->avail->ring[i] = i;
		n->rx_inflight[i] = true;
	}
	vq->num_free = 0;	/* the descriptors are ours, not virtq_add()'s */
	vq->avail_idx = vq->num;
	cb_disable(n, vq);
	virtq_publish(vq);
	return 0;
}

static int setup_tx(struct net *n)
{
	struct virtq *vq = n->tx;
	u16 i;

	if (vq->num < 2 * NET_TX_SPARE)
		return test_fail("virtio-net: transmitq has only %u entries", vq->num);
	n->tx_slots = vq->num - NET_TX_SPARE;
	for (i = 0; i < vq->num; i++) {
		vq->desc[i].addr = (u64)(unsigned long)tx_bufs[i];
		vq->desc[i].len = NET_HDR_LEN;
		vq->desc[i].flags = 0;
		vq->desc[i].next = 0;
		n->tx_inflight[i] = false;
		/* Header all zero: no checksum or GSO asked for, num_buffers 0. */
		memset(tx_bufs[i], 0, NET_HDR_LEN);
	}
	for (i = 0; i < n->tx_slots; i++)
		n->tx_free[i] = n->tx_slots - 1 - i;
	n->tx_nfree = n->tx_slots;
	vq->num_free = 0;
	n->spare_next = n->tx_slots;
	n->spare_posted = 0;
	cb_disable(n, vq);
	return 0;
}

int net_open(struct net *n, bool ctrl)
{
	u64 want = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		   VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	const char *s = cmdline_get("net.mrg_rxbuf");
	struct virtio_dev *d;
	unsigned int i;

	memset(n, 0, sizeof(*n));
	n->rx_buf = &rx_bufs[0][0];
	n->tx_buf = &tx_bufs[0][0];
	if (s && !strcmp(s, "0"))
		want &= ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (ctrl)
		want |= VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX);
	s = cmdline_get("net.wait");
	n->spin = s && !strcmp(s, "spin");
	d = virtio_find(VIRTIO_ID_NET, 0, false);
	if (!d || virtio_dev_begin(d, want))
		return -1;
	n->dev = d;
	n->event_idx = virtio_has(d, VIRTIO_F_EVENT_IDX);
	n->rx = virtio_queue_setup(d, NET_RXQ, VIRTQ_MAX_SIZE);
	n->tx = n->rx ? virtio_queue_setup(d, NET_TXQ, VIRTQ_MAX_SIZE) : NULL;
	if (!n->tx || setup_rx(n) || setup_tx(n)) {
		virtio_dev_reset(d);
		return -1;
	}
	if (ctrl) {
		if (!virtio_has(d, VIRTIO_NET_F_CTRL_VQ) || !virtio_has(d, VIRTIO_NET_F_CTRL_RX)) {
			virtio_dev_reset(d);
			return test_fail("virtio-net: CTRL_VQ and CTRL_RX not offered (features 0x%lx)",
					 d->offered);
		}
		n->ctrl = virtio_queue_setup(d, NET_CTRLQ, 64);
		if (!n->ctrl) {
			virtio_dev_reset(d);
			return -1;
		}
	}
	if (virtio_has(d, VIRTIO_NET_F_MAC)) {
		for (i = 0; i < 6; i++)
			n->mac[i] = virtio_cfg_read8(d, VIRTIO_NET_CFG_MAC + i);
	} else {
		/* Locally administered, as a driver must pick one itself. */
		static const u8 def[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0f };

		memcpy(n->mac, def, 6);
	}
	if (virtio_dev_ready(d))
		return -1;
	if (virtio_has(d, VIRTIO_NET_F_STATUS) &&
	    !(virtio_cfg_read16(d, VIRTIO_NET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP)) {
		virtio_dev_reset(d);
		return test_fail("virtio-net: link is down (status 0x%x)",
				 virtio_cfg_read16(d, VIRTIO_NET_CFG_STATUS));
	}
	timer_setup();	/* after virtio_dev_ready(): the LAPIC is enabled */
	/* The buffers went out before DRIVER_OK; tell the device. */
	virtq_notify(n->rx);
	return 0;
}

int net_close(struct net *n)
{
	timer_teardown();
	return virtio_dev_reset(n->dev);
}

int net_tx_reap(struct net *n)
{
	struct virtq *vq = n->tx;
	u16 idx = READ_ONCE(vq->used->idx);
	u32 id;

	if ((u16)(idx - vq->last_used) > vq->num)
		return test_fail("virtio-net: transmitq used->idx jumped from %u to %u",
				 vq->last_used, idx);
	barrier();	/* x86 keeps loads in order: elements after the index */
	while (vq->last_used != idx) {
		id = vq->used->ring[vq->last_used & (vq->num - 1)].id;
		vq->last_used++;
		if (id >= vq->num || !n->tx_inflight[id])
			return test_fail("virtio-net: transmitq used id %u is not in flight",
					 id);
		n->tx_inflight[id] = false;
		if (id < n->tx_slots) {
			n->tx_free[n->tx_nfree++] = id;
		} else if (++n->tx_chains_done == n->spare_posted) {
			n->spare_next = n->tx_slots;
		}
	}
	return 0;
}

void net_tx_flush(struct net *n)
{
	if (n->tx_queued) {
		n->tx_queued = 0;
		virtq_kick(n->tx);
	}
}

/* All transmit slots in flight: reap, and wait if that frees none. */
u8 *net_tx_get_slow(struct net *n, u16 *slot)
{
	u64 deadline;

	if (net_tx_reap(n))
		return NULL;
	deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);
	while (!n->tx_nfree) {
		if (net_wait(n, true, deadline)) {
			test_fail("virtio-net: no transmit buffer came back within %lu cycles (Status 0x%x)",
				  VIRTIO_IO_TIMEOUT,
				  virtio_status(n->dev));
			return NULL;
		}
		if (net_tx_reap(n))
			return NULL;
	}
	return net_tx_get(n, slot);
}

int net_tx_drain(struct net *n)
{
	u64 deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);

	net_tx_flush(n);
	for (;;) {
		if (net_tx_reap(n))
			return -1;
		if (n->tx_nfree == n->tx_slots && n->tx_chains_done == n->spare_posted)
			return 0;
		if (net_wait(n, true, deadline))
			return test_fail("virtio-net: %u transmit buffers still in flight after %lu cycles (Status 0x%x)",
					 n->tx_slots - n->tx_nfree, VIRTIO_IO_TIMEOUT,
					 virtio_status(n->dev));
	}
}

int net_tx_chain(struct net *n, const struct vbuf *bufs, unsigned int nr)
{
	struct virtq *vq = n->tx;
	u16 head = n->spare_next, i;

	if (!nr || n->spare_next + nr > vq->num)
		return test_fail("virtio-net: no room for a %u-buffer chain", nr);
	for (i = 0; i < nr; i++) {
		struct virtq_desc *d = &vq->desc[head + i];

		d->addr = bufs[i].addr;
		d->len = bufs[i].len;
		d->flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
			   (i + 1u < nr ? VRING_DESC_F_NEXT : 0);
		d->next = i + 1u < nr ? head + i + 1 : 0;
	}
	n->spare_next += nr;
	n->spare_posted++;
	n->tx_inflight[head] = true;
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
	n->tx_queued++;
	return 0;
}

int net_ctrl(struct net *n, u8 class, u8 cmd, const void *data, u32 len)
{
	static u8 hdr[2] __aligned(2);
	static volatile u8 ack;
	struct vbuf b[3];
	unsigned int nb = 0;
	u32 id, used_len;
	int head, rc;

	hdr[0] = class;
	hdr[1] = cmd;
	ack = 0xff;
	b[nb++] = (struct vbuf){ (u64)(unsigned long)hdr, 2, false };
	if (len)
		b[nb++] = (struct vbuf){ (u64)(unsigned long)data, len, false };
	b[nb++] = (struct vbuf){ (u64)(unsigned long)&ack, 1, true };
	head = virtq_add(n->ctrl, b, nb, NULL);
	if (head < 0)
		return test_fail("virtio-net: no room in the control queue");
	virtq_kick(n->ctrl);
	rc = virtq_wait_used(n->ctrl, &id, &used_len, VIRTIO_IO_TIMEOUT);
	if (rc < 0)
		return -1;
	if (!rc)
		return test_fail("virtio-net: control command %u.%u not answered (Status 0x%x)",
				 class, cmd, virtio_status(n->dev));
	if (id != (u32)head || used_len != 1)
		return test_fail("virtio-net: control command %u.%u: used id %u len %u, want %d len 1",
				 class, cmd, id, used_len, head);
	return ack;
}

void net_rx_bad(struct net *n, u32 id, u32 len)
{
	struct virtq *vq = n->rx;

	if (id >= vq->num || !n->rx_inflight[id])
		test_fail("virtio-net: receiveq used id %u is not in flight (used->idx %u)",
			  id, vq->used->idx);
	else if (len < NET_HDR_LEN + NET_ETH_HLEN || len > NET_BUF_SIZE)
		test_fail("virtio-net: receiveq used length %u for a %u-byte buffer",
			  len, NET_BUF_SIZE);
	else
		test_fail("virtio-net: received num_buffers %u, want 1",
			  ((struct virtio_net_hdr *)(n->rx_buf + id * NET_BUF_SIZE))->num_buffers);
}

void net_rx_flush(struct net *n)
{
	if (n->rx_pending) {
		n->rx_pending = 0;
		virtq_kick(n->rx);
	}
}

static bool have_work(struct net *n, bool tx)
{
	return READ_ONCE(n->rx->used->idx) != n->rx->last_used ||
	       (tx && READ_ONCE(n->tx->used->idx) != n->tx->last_used);
}

int net_wait(struct net *n, bool tx, u64 deadline)
{
	net_rx_flush(n);
	net_tx_flush(n);
	/* The device may have been busy during the kicks: no need to arm then. */
	if (have_work(n, tx))
		return 0;
	n->waits++;
	if (n->spin) {
		while (!have_work(n, tx)) {
			if (tsc_passed(deadline))
				return -1;
			cpu_relax();
		}
		return 0;
	}
	cli();
	cb_enable(n, n->rx);
	if (tx)
		cb_enable(n, n->tx);
	/* Our used_event store before the device's used->idx load. */
	virtio_mb();
	if (have_work(n, tx)) {
		sti();
	} else {
		lapic_write(LAPIC_TIMER_INIT, NET_TIMER_COUNT);
		/* sti's shadow: no interrupt slips in before hlt. */
		asm volatile("sti; hlt" : : : "memory");
		n->hlts++;
	}
	cb_disable(n, n->rx);
	if (tx)
		cb_disable(n, n->tx);
	if (!have_work(n, tx) && tsc_passed(deadline))
		return -1;
	return 0;
}

void net_report(struct net *n, const char *what)
{
	printf("evvm-guest: %s: mac %02x:%02x:%02x:%02x:%02x:%02x event_idx=%u mrg_rxbuf=%u rx %u tx %u frames, %u waits %u hlts, notifies rx %u tx %u, %u irqs\n",
	       what, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
	       n->event_idx, virtio_has(n->dev, VIRTIO_NET_F_MRG_RXBUF) ? 1 : 0,
	       n->rx_frames, n->tx_frames, n->waits, n->hlts, n->rx->notifies,
	       n->tx->notifies, READ_ONCE(n->dev->irqs));
}
