/*
 * virtio-net frame tests against a host peer on the tap (the other half is
 * tests/integration/test_net.c). Frames are 60 bytes, ethertype 0x88b5
 * (local experimental):
 *
 *	0  dst		ff:ff:ff:ff:ff:ff from the guest
 *	6  src		the device's MAC
 *	12 0x88b5
 *	14 "EVNT"	magic
 *	18 type		NF_DATA, NF_ACK, NF_READY, NF_DONE
 *	19 0
 *	20 seq		u32, little-endian
 *	24 pattern	byte k is (k * 7 + 0x11) & 0xff, up to byte 59
 *
 * Tests (arguments decimal or 0x hex):
 *	virtio-net-tx	 send net.count DATA frames, seq 0.., then DONE(count)
 *	virtio-net-rx	 send READY(net.count), then take net.count DATA
 *			 frames that must arrive in order, seq 0.., none lost
 *			 or duplicated; ACK(frames so far) every net.ack
 *			 frames and at the end, so the host can keep a
 *			 bounded window in flight; other frames are ignored
 *	virtio-net-echo	 send READY, then send every DATA frame back as an
 *			 ACK with its seq until a DONE arrives (bench/net)
 *	virtio-net-hostile DATA 0, a transmit chain longer than 65550 bytes,
 *			 DATA 1, a chain shorter than the 12-byte header,
 *			 DATA 2, then DONE(3) in a later batch: the device
 *			 must drop and count the two bad ones, keep going
 *	virtio-net-hostile-rx the first receive buffer too short for the
 *			 header (see the test)
 *	net.batch=N	 frames per transmit flush (default 32)
 */
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "netframe.h"
#include "virtio_net.h"

#define NF_COUNT_MAX		100000000

static void nf_fill(struct net *n, u8 *f)
{
	unsigned int k;

	memset(f, 0xff, 6);
	memcpy(f + 6, n->mac, 6);
	f[12] = NF_ETHERTYPE >> 8;
	f[13] = NF_ETHERTYPE & 0xff;
	*(u32 *)(f + NF_OFF_MAGIC) = NF_MAGIC;
	f[NF_OFF_TYPE] = 0;
	f[NF_OFF_TYPE + 1] = 0;
	for (k = NF_OFF_PAT; k < NF_LEN; k++)
		f[k] = (u8)(k * 7 + 0x11);
}

/* Open the device and write the frame template into every fixed slot once. */
static int nf_open(struct net *n)
{
	u16 i;

	if (net_open(n, false))
		return -1;
	for (i = 0; i < n->tx_slots; i++)
		nf_fill(n, net_tx_buf(n, i));
	return 0;
}

/* Queue one frame: only the type and seq change per frame. */
static inline int nf_send(struct net *n, u8 type, u32 seq)
{
	u16 slot;
	u8 *f = net_tx_get(n, &slot);

	if (!f)
		return -1;
	f[NF_OFF_TYPE] = type;
	*(u32 *)(f + NF_OFF_SEQ) = seq;
	net_tx_put(n, slot, NF_LEN);
	return 0;
}

static bool nf_ours(const u8 *f, u32 len)
{
	return len >= NF_LEN && f[12] == NF_ETHERTYPE >> 8 && f[13] == (NF_ETHERTYPE & 0xff) &&
	       *(const u32 *)(f + NF_OFF_MAGIC) == NF_MAGIC;
}

static int nf_check_pattern(const u8 *f, u32 seq)
{
	unsigned int k;

	for (k = NF_OFF_PAT; k < NF_LEN; k++)
		if (f[k] != (u8)(k * 7 + 0x11))
			return test_fail("virtio-net: frame seq %u byte %u is 0x%x, want 0x%x",
					 seq, k, f[k], (u8)(k * 7 + 0x11));
	return 0;
}

static int nf_finish(struct net *n, const char *name, int rc)
{
	if (!rc)
		rc = net_tx_drain(n);
	net_report(n, name);
	if (net_close(n))
		rc = -1;
	return rc;
}

static int test_net_tx(void)
{
	u64 count, batch;
	struct net n;
	u32 seq, q = 0;
	int rc = 0;

	if (test_arg_u64("net.count", 1000, 1, NF_COUNT_MAX, &count) ||
	    test_arg_u64("net.batch", 32, 1, 256, &batch) || nf_open(&n))
		return -1;
	for (seq = 0; seq < count; seq++) {
		if (nf_send(&n, NF_DATA, seq)) {
			rc = -1;
			break;
		}
		if (++q == batch) {
			q = 0;
			net_tx_flush(&n);
		}
	}
	if (!rc)
		rc = nf_send(&n, NF_DONE, seq);
	if (!rc)
		printf("evvm-guest: virtio-net-tx: sent %u frames\n", seq);
	return nf_finish(&n, "virtio-net-tx", rc);
}
GUEST_TEST("virtio-net-tx", test_net_tx);

static int test_net_rx(void)
{
	u64 count, ack, deadline;
	u32 expected = 0, seq, len, other = 0;
	struct net n;
	u16 id;
	u8 *f;
	int r;

	if (test_arg_u64("net.count", 1000, 1, NF_COUNT_MAX, &count) ||
	    test_arg_u64("net.ack", 32, 1, 1u << 20, &ack) || nf_open(&n))
		return -1;
	if (nf_send(&n, NF_READY, count))
		goto fail;
	net_tx_flush(&n);
	deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);
	while (expected < count) {
		u32 before = expected + other;

		while ((r = net_rx_get(&n, &f, &len, &id)) > 0) {
			if (!nf_ours(f, len) || f[NF_OFF_TYPE] != NF_DATA) {
				other++;
				net_rx_put(&n, id);
				continue;
			}
			seq = *(u32 *)(f + NF_OFF_SEQ);
			if (seq != expected) {
				test_fail("virtio-net-rx: got seq %u, expected %u (%s)", seq,
					  expected, seq < expected ? "duplicated" : "lost");
				goto fail;
			}
			if (len != NF_LEN) {
				test_fail("virtio-net-rx: seq %u is %u bytes, want %u", seq,
					  len, NF_LEN);
				goto fail;
			}
			/* The full check is ~100 instructions: a sample is enough. */
			if ((seq & 1023) == 0 && nf_check_pattern(f, seq))
				goto fail;
			net_rx_put(&n, id);
			if (++expected % ack == 0 || expected == count) {
				if (nf_send(&n, NF_ACK, expected))
					goto fail;
				net_tx_flush(&n);
			}
		}
		if (r < 0)
			goto fail;
		if (expected == count)
			break;
		/* The deadline is for the next frame, not for all of them. */
		if (expected + other != before)
			deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);
		if (net_wait(&n, false, deadline)) {
			test_fail("virtio-net-rx: nothing for %lu cycles after %u of %lu frames",
				  VIRTIO_IO_TIMEOUT, expected, count);
			goto fail;
		}
	}
	net_rx_flush(&n);
	printf("evvm-guest: virtio-net-rx: received %u frames in order (%u others ignored)\n",
	       expected, other);
	return nf_finish(&n, "virtio-net-rx", 0);
fail:
	printf("evvm-guest: virtio-net-rx: stopped after %u frames\n", expected);
	return nf_finish(&n, "virtio-net-rx", -1);
}
GUEST_TEST("virtio-net-rx", test_net_rx);

static int test_net_echo(void)
{
	u32 echoed = 0, len, before;
	bool done = false;
	u64 deadline = 0;
	struct net n;
	u16 id;
	u8 *f;
	int r;

	if (nf_open(&n) || nf_send(&n, NF_READY, 0))
		return -1;
	net_tx_flush(&n);
	while (!done) {
		before = n.rx_frames;
		while ((r = net_rx_get(&n, &f, &len, &id)) > 0) {
			if (nf_ours(f, len) && f[NF_OFF_TYPE] == NF_DATA) {
				if (nf_send(&n, NF_ACK, *(u32 *)(f + NF_OFF_SEQ)))
					r = -1;
				echoed++;
			} else if (nf_ours(f, len) && f[NF_OFF_TYPE] == NF_DONE) {
				done = true;
			}
			net_rx_put(&n, id);
			if (r < 0)
				break;
		}
		if (r < 0)
			return nf_finish(&n, "virtio-net-echo", -1);
		if (n.rx_frames != before || !deadline)
			deadline = tsc_deadline(30 * VIRTIO_IO_TIMEOUT);
		/* Echoes go out before we sleep: net_wait() flushes. */
		if (!done && net_wait(&n, false, deadline)) {
			test_fail("virtio-net-echo: nothing received for %lu cycles",
				  30 * VIRTIO_IO_TIMEOUT);
			return nf_finish(&n, "virtio-net-echo", -1);
		}
	}
	printf("evvm-guest: virtio-net-echo: echoed %u frames\n", echoed);
	return nf_finish(&n, "virtio-net-echo", 0);
}
GUEST_TEST("virtio-net-echo", test_net_echo);

/* Hostile transmit chains: a zeroed header, then data. */
static u8 hostile_hdr[NET_HDR_LEN] __aligned(16);
static u8 hostile_big[40000] __aligned(64);

static int test_net_hostile(void)
{
	struct vbuf too_long[3] = {
		{ (u64)(unsigned long)hostile_hdr, NET_HDR_LEN, false },
		/* The same memory twice: 80012 bytes in all, > 65550. */
		{ (u64)(unsigned long)hostile_big, sizeof(hostile_big), false },
		{ (u64)(unsigned long)hostile_big, sizeof(hostile_big), false },
	};
	struct vbuf too_short[1] = {
		{ (u64)(unsigned long)hostile_hdr, NET_HDR_LEN - 4, false },
	};
	struct net n;
	int rc;
	u32 s;

	if (nf_open(&n))
		return -1;
	memset(hostile_hdr, 0, sizeof(hostile_hdr));
	rc = nf_send(&n, NF_DATA, 0);
	if (!rc)
		rc = net_tx_chain(&n, too_long, 3);
	if (!rc)
		rc = nf_send(&n, NF_DATA, 1);
	if (!rc)
		rc = net_tx_chain(&n, too_short, 1);
	if (!rc)
		rc = nf_send(&n, NF_DATA, 2);
	if (!rc)
		rc = net_tx_drain(&n);
	/* And a later batch still goes through. */
	if (!rc)
		rc = nf_send(&n, NF_DONE, 3);
	if (!rc)
		rc = net_tx_drain(&n);
	s = virtio_status(n.dev);
	if (!rc && (s & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)))
		rc = test_fail("virtio-net-hostile: Status 0x%x after dropped frames", s);
	if (!rc)
		printf("evvm-guest: virtio-net-hostile: 2 bad chains used, good frames sent\n");
	return nf_finish(&n, "virtio-net-hostile", rc);
}
GUEST_TEST("virtio-net-hostile", test_net_hostile);

/*
 * virtio-net-hostile-rx: the first receive buffer is 8 bytes, too short for
 * the header. The device must return it with length 0 (and count it) and
 * keep going: the host sends DATA 0 and 1 after READY(2), and seq 1 must
 * arrive in a good buffer, in order, after seq 0 if the device kept that
 * frame for the next buffer. We ack 2 then.
 */
static int test_net_hostile_rx(void)
{
	struct virtq *vq;
	u64 deadline;
	struct net n;
	u32 id, len, seq;
	u16 gid = 0;
	u8 *f;
	int r;

	if (nf_open(&n))
		return -1;
	vq = n.rx;
	/* Nothing is read from the tap before READY: no frame is using it yet. */
	vq->desc[vq->avail->ring[0]].len = NET_HDR_LEN - 4;
	if (nf_send(&n, NF_READY, 2))
		return nf_finish(&n, "virtio-net-hostile-rx", -1);
	net_tx_flush(&n);
	deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);
	while (READ_ONCE(vq->used->idx) == vq->last_used)
		if (net_wait(&n, false, deadline)) {
			test_fail("virtio-net-hostile-rx: the short buffer never came back");
			return nf_finish(&n, "virtio-net-hostile-rx", -1);
		}
	barrier();
	id = vq->used->ring[vq->last_used & (vq->num - 1)].id;
	len = vq->used->ring[vq->last_used & (vq->num - 1)].len;
	if (id != vq->avail->ring[0] || len) {
		test_fail("virtio-net-hostile-rx: first used element id %u len %u, want id %u len 0",
			  id, len, vq->avail->ring[0]);
		return nf_finish(&n, "virtio-net-hostile-rx", -1);
	}
	/* Take it back by hand (net_rx_get() refuses short lengths), fixed up. */
	vq->last_used++;
	vq->desc[id].len = NET_BUF_SIZE;
	n.rx_inflight[id] = false;
	net_rx_put(&n, (u16)id);
	/*
	 * The device either dropped the frame with the chain (seq 1 comes
	 * next) or skipped the chain and kept the frame (seq 0, then 1).
	 * Either way: in order, nothing twice, seq 1 arrives.
	 */
	for (seq = 0; seq < 2;) {
		r = net_rx_get(&n, &f, &len, &gid);
		if (r < 0)
			return nf_finish(&n, "virtio-net-hostile-rx", -1);
		if (r && nf_ours(f, len) && f[NF_OFF_TYPE] == NF_DATA) {
			u32 got = *(u32 *)(f + NF_OFF_SEQ);

			if (got < seq || got > 1) {
				test_fail("virtio-net-hostile-rx: got seq %u after seq %u", got,
					  seq);
				return nf_finish(&n, "virtio-net-hostile-rx", -1);
			}
			printf("evvm-guest: virtio-net-hostile-rx: got seq %u\n", got);
			seq = got + 1;
		}
		if (r) {
			net_rx_put(&n, gid);
			continue;
		}
		if (net_wait(&n, false, deadline)) {
			test_fail("virtio-net-hostile-rx: no seq %u after the short buffer", seq);
			return nf_finish(&n, "virtio-net-hostile-rx", -1);
		}
	}
	net_rx_flush(&n);
	if (nf_send(&n, NF_ACK, 2))
		return nf_finish(&n, "virtio-net-hostile-rx", -1);
	printf("evvm-guest: virtio-net-hostile-rx: short buffer used with length 0, then seq 1 arrived\n");
	return nf_finish(&n, "virtio-net-hostile-rx", 0);
}
GUEST_TEST("virtio-net-hostile-rx", test_net_hostile_rx);
