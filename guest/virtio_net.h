/*
 * virtio-net (virtio 1.2 5.1) for the test guest: receiveq 0 and transmitq
 * 1, no control queue, no offloads. Built for emulation at ~1 us per
 * instruction: every descriptor is bound to one fixed buffer at open time,
 * so the per-frame work is one ring entry; rx buffers are all posted up
 * front and recycled in batches; tx is published in batches; both rings
 * are polled and interrupts are enabled only while the driver waits.
 */
#ifndef GUEST_VIRTIO_NET_H
#define GUEST_VIRTIO_NET_H

#include "virtio.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM		0
#define VIRTIO_NET_F_GUEST_CSUM		1
#define VIRTIO_NET_F_MAC		5
#define VIRTIO_NET_F_GUEST_TSO4		7
#define VIRTIO_NET_F_GUEST_TSO6		8
#define VIRTIO_NET_F_HOST_TSO4		11
#define VIRTIO_NET_F_HOST_TSO6		12
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_STATUS		16
#define VIRTIO_NET_F_CTRL_VQ		17
#define VIRTIO_NET_F_CTRL_RX		18

/* Control commands (5.1.6.5) and their ack byte. */
#define VIRTIO_NET_CTRL_RX		0
#define VIRTIO_NET_CTRL_RX_PROMISC	0
#define VIRTIO_NET_CTRL_RX_ALLMULTI	1
#define VIRTIO_NET_CTRL_MAC		1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET	0
#define VIRTIO_NET_OK			0
#define VIRTIO_NET_ERR			1

/* Configuration space offsets and the link status bit. */
#define VIRTIO_NET_CFG_MAC		0
#define VIRTIO_NET_CFG_STATUS		6
#define VIRTIO_NET_S_LINK_UP		1

#define NET_RXQ				0
#define NET_TXQ				1
#define NET_CTRLQ			2

/* struct virtio_net_hdr_v1: VERSION_1 always has num_buffers. */
struct virtio_net_hdr {
	u8 flags;
	u8 gso_type;
	u16 hdr_len;
	u16 gso_size;
	u16 csum_start;
	u16 csum_offset;
	u16 num_buffers;
} __packed;

#define NET_HDR_LEN			12
#define NET_ETH_HLEN			14
#define NET_FRAME_MAX			1514	/* no GSO: one MTU-sized frame */
/* A buffer: header + the largest frame, rounded up. */
#define NET_BUF_SIZE			1536

/*
 * Transmit descriptors [0, tx_slots) are fixed frame buffers; the last
 * NET_TX_SPARE ones are left to net_tx_chain() for hand-made chains.
 */
#define NET_TX_SPARE			8

struct net {
	struct virtio_dev *dev;
	struct virtq *rx, *tx;
	struct virtq *ctrl;	/* NULL unless opened with @ctrl */
	u8 mac[6];
	bool event_idx;
	bool spin;		/* net.wait=spin: poll instead of sti; hlt */
	u16 rx_pending;		/* buffers recycled but not yet published */
	u16 tx_slots;
	u16 tx_nfree;
	u16 tx_free[VIRTQ_MAX_SIZE];	/* stack of free fixed slots */
	u16 tx_queued;		/* added since the last flush */
	u16 spare_next;		/* next spare descriptor for net_tx_chain() */
	u32 spare_posted;	/* chains net_tx_chain() queued */
	u32 tx_chains_done;	/* spare-descriptor chains the device used */
	/* Buffers the device holds, to catch one that uses a buffer twice. */
	bool rx_inflight[VIRTQ_MAX_SIZE];
	bool tx_inflight[VIRTQ_MAX_SIZE];
	u8 *rx_buf, *tx_buf;	/* buffer i at + i * NET_BUF_SIZE */
	/* Counters for the report line. */
	u32 rx_frames, tx_frames, waits, hlts;
};

/*
 * Find the first virtio-net device, negotiate MAC and STATUS (and
 * MRG_RXBUF unless net.mrg_rxbuf=0), set up both queues, post every
 * receive buffer and set DRIVER_OK. With @ctrl, CTRL_VQ and CTRL_RX must be
 * offered and the control queue is set up too. 0, or -1 after test_fail().
 */
int net_open(struct net *n, bool ctrl);

/*
 * One control command: @class, @cmd and @len bytes of @data out, the ack
 * byte back (polled). The ack (VIRTIO_NET_OK or _ERR), or -1 after
 * test_fail().
 */
int net_ctrl(struct net *n, u8 class, u8 cmd, const void *data, u32 len);

/* Reset the device. 0, or -1 after test_fail(). */
int net_close(struct net *n);

u8 *net_tx_get_slow(struct net *n, u16 *slot);

/*
 * A free transmit buffer's frame area (after the header, NET_FRAME_MAX
 * bytes) and its slot, reaping completions and waiting up to
 * VIRTIO_IO_TIMEOUT if all are in flight. NULL after test_fail().
 */
static inline u8 *net_tx_get(struct net *n, u16 *slot)
{
	u16 s;

	if (__builtin_expect(!n->tx_nfree, 0))
		return net_tx_get_slow(n, slot);
	s = n->tx_free[--n->tx_nfree];
	n->tx_inflight[s] = true;
	*slot = s;
	return n->tx_buf + s * NET_BUF_SIZE + NET_HDR_LEN;
}

/* The frame area of transmit slot @slot, e.g. to fill a template once. */
static inline u8 *net_tx_buf(struct net *n, u16 slot)
{
	return n->tx_buf + slot * NET_BUF_SIZE + NET_HDR_LEN;
}

/* Queue @slot's frame of @len bytes; published by net_tx_flush(). */
static inline void net_tx_put(struct net *n, u16 slot, u32 len)
{
	struct virtq *vq = n->tx;

	vq->desc[slot].len = NET_HDR_LEN + len;
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = slot;
	vq->avail_idx++;
	n->tx_queued++;
	n->tx_frames++;
}

/* Publish queued frames and notify if the device asks for it. */
void net_tx_flush(struct net *n);

/* Take transmit completions without waiting. 0, or -1 (test_fail()). */
int net_tx_reap(struct net *n);

/* Flush and wait until the device has used every transmit chain. */
int net_tx_drain(struct net *n);

/*
 * Queue a raw chain of @nr buffers on the spare descriptors (hostile
 * tests). Publish with net_tx_flush(); tx_chains_done counts its use.
 */
int net_tx_chain(struct net *n, const struct vbuf *bufs, unsigned int nr);

/* Record why net_rx_get() refused a used element (test_fail()). */
void net_rx_bad(struct net *n, u32 id, u32 len);

/*
 * The next received frame: 1 with *@frame, *@len (header stripped) and the
 * buffer's *@id, 0 if none yet, -1 after test_fail() (bad id, length or
 * num_buffers). Give the buffer back with net_rx_put().
 */
static inline int net_rx_get(struct net *n, u8 **frame, u32 *len, u16 *id)
{
	struct virtq *vq = n->rx;
	struct virtq_used_elem *e;
	u8 *buf;
	u32 i, l;

	if (READ_ONCE(vq->used->idx) == vq->last_used)
		return 0;
	barrier();	/* x86 keeps loads in order: the element after the index */
	e = &vq->used->ring[vq->last_used & (vq->num - 1)];
	i = e->id;
	l = e->len;
	vq->last_used++;
	buf = n->rx_buf + i * NET_BUF_SIZE;
	/* One unsigned compare covers both ends; num_buffers must be 1 (5.1.6.4). */
	if (__builtin_expect(i >= vq->num || !n->rx_inflight[i] ||
			     l - (NET_HDR_LEN + NET_ETH_HLEN) >
			     NET_BUF_SIZE - (NET_HDR_LEN + NET_ETH_HLEN) ||
			     ((struct virtio_net_hdr *)buf)->num_buffers != 1, 0)) {
		net_rx_bad(n, i, l);
		return -1;
	}
	n->rx_inflight[i] = false;
	*frame = buf + NET_HDR_LEN;
	*len = l - NET_HDR_LEN;
	*id = i;
	n->rx_frames++;
	return 1;
}

/* Repost buffer @id; published by net_rx_flush() (or net_wait()). */
static inline void net_rx_put(struct net *n, u16 id)
{
	struct virtq *vq = n->rx;

	n->rx_inflight[id] = true;
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = id;
	vq->avail_idx++;
	n->rx_pending++;
}

/* Publish reposted receive buffers, notifying if the device waits. */
void net_rx_flush(struct net *n);

/*
 * Flush both queues, then sleep (sti; hlt) until the device has used a
 * receive buffer or (@tx) a transmit chain, with that queue's interrupt
 * enabled only meanwhile; with n->spin, poll instead. 0 when there may be
 * work, -1 (no test_fail()) if there is none and @deadline (TSC) passed
 * (a halted wait also wakes every ~100 ms on the LAPIC timer to check).
 */
int net_wait(struct net *n, bool tx, u64 deadline);

/* Print "evvm-guest: <what>: ..." counters for the run. */
void net_report(struct net *n, const char *what);

#endif
