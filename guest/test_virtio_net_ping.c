/*
 * virtio-net-ping: ARP for the peer, then ICMP echo requests that the peer
 * (the host kernel's own stack on the tap) must answer. The guest also
 * answers ARP requests for its own address, in case the peer asks first.
 *
 *	net.ip=A.B.C.D		our address (default 10.0.2.15)
 *	net.peer=A.B.C.D	the peer (default 10.0.2.2)
 *	net.pings=N		echo requests, one at a time (default 3)
 *
 * Output: "evvm-guest: virtio-net-ping: <peer> is at <mac>, N/N echo replies".
 *
 * snap-net: the same in rounds, for snapshot/restore onto another tap
 * (tests/integration/test_snapshot_net.c). After the ARP, each round sends
 * snapnet.pings (default 2) echo requests one at a time, each resent after
 * PING_TIMEOUT up to ECHO_TRIES times (a snapshot may cut a request or
 * its reply off: the old tap's queue is not the new one's), and checks the
 * device's MAC and link status in its configuration space; prints
 *	evvm-guest: snap-net round R replies N resent M
 * for rounds 1..snapnet.rounds (default 60), then
 *	evvm-guest: snap-net: R rounds, N echo replies, M resent
 */
#include "cmdline.h"
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio_net.h"

#define ETH_P_IP		0x0800
#define ETH_P_ARP		0x0806
#define ARP_REQUEST		1
#define ARP_REPLY		2
#define IPPROTO_ICMP		1
#define ICMP_ECHO_REPLY		0
#define ICMP_ECHO		8

#define PING_ID			0x4576	/* "Ev" */
#define PING_PAYLOAD		32
#define ARP_TRIES		5
#define ECHO_TRIES		5
/* Per ARP or echo attempt. */
#define PING_TIMEOUT		(2 * VIRTIO_IO_TIMEOUT)

struct ping {
	struct net n;
	u8 ip[4], peer[4], peer_mac[6];
};

static u16 get16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static void put16(u8 *p, u16 v)
{
	p[0] = v >> 8;
	p[1] = (u8)v;
}

/* The Internet checksum (RFC 1071) of @len bytes. */
static u16 csum(const u8 *p, u32 len)
{
	u32 sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += get16(p);
	if (len)
		sum += p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

static int parse_ip(const char *key, const char *def, u8 ip[4])
{
	const char *s = cmdline_get(key), *p;
	u64 v;
	int i;

	if (!s)
		s = def;
	p = s;
	for (i = 0; i < 4; i++) {
		v = 0;
		if (*p < '0' || *p > '9')
			goto bad;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (*p++ - '0');
		if (v > 255 || (i < 3 && *p++ != '.'))
			goto bad;
		ip[i] = (u8)v;
	}
	if (!*p)
		return 0;
bad:
	return test_fail("bad %s '%s' (want A.B.C.D)", key, s);
}

static u8 *eth_start(struct ping *p, u16 *slot, const u8 *dst, u16 type)
{
	u8 *f = net_tx_get(&p->n, slot);

	if (!f)
		return NULL;
	memcpy(f, dst, 6);
	memcpy(f + 6, p->n.mac, 6);
	put16(f + 12, type);
	return f;
}

static int send_arp(struct ping *p, u16 op, const u8 *tha, const u8 *tpa)
{
	static const u8 bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	u8 *f, *a;
	u16 slot;

	f = eth_start(p, &slot, op == ARP_REQUEST ? bcast : tha, ETH_P_ARP);
	if (!f)
		return -1;
	a = f + 14;
	put16(a, 1);		/* Ethernet */
	put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, p->n.mac, 6);
	memcpy(a + 14, p->ip, 4);
	memset(a + 18, 0, 6);
	if (op == ARP_REPLY)
		memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	memset(a + 28, 0, 60 - 14 - 28);	/* pad to the 60-byte minimum */
	net_tx_put(&p->n, slot, 60);
	net_tx_flush(&p->n);
	return 0;
}

static int send_echo(struct ping *p, u16 seq)
{
	u8 *f, *ip, *ic;
	u16 slot;
	int i;

	f = eth_start(p, &slot, p->peer_mac, ETH_P_IP);
	if (!f)
		return -1;
	ip = f + 14;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, 20 + 8 + PING_PAYLOAD);
	put16(ip + 4, seq);	/* identification */
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	put16(ip + 10, 0);
	memcpy(ip + 12, p->ip, 4);
	memcpy(ip + 16, p->peer, 4);
	put16(ip + 10, csum(ip, 20));
	ic = ip + 20;
	ic[0] = ICMP_ECHO;
	ic[1] = 0;
	put16(ic + 2, 0);
	put16(ic + 4, PING_ID);
	put16(ic + 6, seq);
	for (i = 0; i < PING_PAYLOAD; i++)
		ic[8 + i] = (u8)(seq + i);
	put16(ic + 2, csum(ic, 8 + PING_PAYLOAD));
	net_tx_put(&p->n, slot, 14 + 20 + 8 + PING_PAYLOAD);
	net_tx_flush(&p->n);
	return 0;
}

/*
 * Handle one received frame: answer ARP requests for us; 1 if it is what
 * we wait for (an ARP reply from the peer when @seq < 0, else echo reply
 * @seq), 0 if not, -1 after test_fail() (a bad reply).
 */
static int handle(struct ping *p, const u8 *f, u32 len, int seq)
{
	const u8 *a = f + 14, *ip = f + 14, *ic;
	u32 ihl, tot;
	int i;

	if (len >= 14 + 28 && get16(f + 12) == ETH_P_ARP && get16(a) == 1 &&
	    get16(a + 2) == ETH_P_IP && a[4] == 6 && a[5] == 4) {
		if (get16(a + 6) == ARP_REQUEST && !memcmp(a + 24, p->ip, 4))
			return send_arp(p, ARP_REPLY, a + 8, a + 14) ? -1 : 0;
		if (seq < 0 && get16(a + 6) == ARP_REPLY && !memcmp(a + 14, p->peer, 4) &&
		    !memcmp(a + 24, p->ip, 4)) {
			memcpy(p->peer_mac, a + 8, 6);
			return 1;
		}
		return 0;
	}
	if (seq < 0 || len < 14 + 20 || get16(f + 12) != ETH_P_IP || (ip[0] >> 4) != 4)
		return 0;
	ihl = (ip[0] & 0xf) * 4;
	tot = get16(ip + 2);
	if (ip[9] != IPPROTO_ICMP || memcmp(ip + 12, p->peer, 4) || memcmp(ip + 16, p->ip, 4))
		return 0;
	if (ihl < 20 || tot < ihl + 8 || 14 + tot > len)
		return test_fail("virtio-net-ping: bad IP lengths (ihl %u, total %u, frame %u)",
				 ihl, tot, len);
	if (csum(ip, ihl))
		return test_fail("virtio-net-ping: bad IP header checksum from the peer");
	ic = ip + ihl;
	if (ic[0] != ICMP_ECHO_REPLY || get16(ic + 4) != PING_ID || get16(ic + 6) != seq)
		return 0;
	if (csum(ic, tot - ihl))
		return test_fail("virtio-net-ping: bad ICMP checksum in echo reply %d", seq);
	if (tot - ihl != 8 + PING_PAYLOAD)
		return test_fail("virtio-net-ping: echo reply %d has %u payload bytes, want %u",
				 seq, tot - ihl - 8, PING_PAYLOAD);
	for (i = 0; i < PING_PAYLOAD; i++)
		if (ic[8 + i] != (u8)(seq + i))
			return test_fail("virtio-net-ping: echo reply %d payload byte %d differs",
					 seq, i);
	if (memcmp(f + 6, p->peer_mac, 6))
		return test_fail("virtio-net-ping: echo reply %d from another MAC", seq);
	return 1;
}

/* Receive until handle() says 1 or @deadline: 1, 0 (timeout), -1. */
static int await(struct ping *p, int seq, u64 deadline)
{
	u32 len;
	u16 id;
	u8 *f;
	int r, h;

	for (;;) {
		while ((r = net_rx_get(&p->n, &f, &len, &id)) > 0) {
			h = handle(p, f, len, seq);
			net_rx_put(&p->n, id);
			if (h)
				return h;
		}
		if (r < 0)
			return -1;
		if (net_wait(&p->n, true, deadline))
			return 0;
		if (net_tx_reap(&p->n))
			return -1;
	}
}

/* ARP for the peer, up to ARP_TRIES requests: 0, or -1 after test_fail(). */
static int arp_peer(struct ping *p)
{
	int tries, r = 0;

	for (tries = 0; tries < ARP_TRIES && !r; tries++) {
		if (send_arp(p, ARP_REQUEST, NULL, p->peer))
			return -1;
		r = await(p, -1, tsc_deadline(PING_TIMEOUT));
	}
	if (r < 0)
		return -1;
	if (!r)
		return test_fail("virtio-net-ping: no ARP reply for %u.%u.%u.%u after %d requests",
				 p->peer[0], p->peer[1], p->peer[2], p->peer[3], ARP_TRIES);
	return 0;
}

static struct ping ping;

static int test_net_ping(void)
{
	struct ping *p = &ping;
	u64 pings;
	int r, rc = -1;
	const char *s;
	u16 seq;

	if (parse_ip("net.ip", "10.0.2.15", p->ip) || parse_ip("net.peer", "10.0.2.2", p->peer))
		return -1;
	s = cmdline_get("net.pings");
	pings = 3;
	if (s && (!virtio_parse_u64(s, &pings) || !pings || pings > 1000))
		return test_fail("bad net.pings '%s' (want 1..1000)", s);
	if (net_open(&p->n, false))
		return -1;
	if (arp_peer(p))
		goto out;
	for (seq = 0; seq < pings; seq++) {
		if (send_echo(p, seq))
			goto out;
		r = await(p, seq, tsc_deadline(PING_TIMEOUT));
		if (r < 0)
			goto out;
		if (!r) {
			test_fail("virtio-net-ping: no echo reply %u from %u.%u.%u.%u", seq,
				  p->peer[0], p->peer[1], p->peer[2], p->peer[3]);
			goto out;
		}
	}
	printf("evvm-guest: virtio-net-ping: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x, %u/%u echo replies\n",
	       p->peer[0], p->peer[1], p->peer[2], p->peer[3], p->peer_mac[0], p->peer_mac[1],
	       p->peer_mac[2], p->peer_mac[3], p->peer_mac[4], p->peer_mac[5], seq, seq);
	rc = net_tx_drain(&p->n);
out:
	net_report(&p->n, "virtio-net-ping");
	if (net_close(&p->n))
		rc = -1;
	return rc;
}
GUEST_TEST("virtio-net-ping", test_net_ping);

/* Echo @seq answered, sent up to ECHO_TRIES times (*@resent counts the repeats): 0 or -1. */
static int echo_retried(struct ping *p, u16 seq, u32 *resent)
{
	int tries, r = 0;

	for (tries = 0; tries < ECHO_TRIES && !r; tries++) {
		if (tries)
			(*resent)++;
		if (send_echo(p, seq))
			return -1;
		r = await(p, seq, tsc_deadline(PING_TIMEOUT));
	}
	if (r < 0)
		return -1;
	if (!r)
		return test_fail("snap-net: no echo reply %u from %u.%u.%u.%u after %d requests",
				 seq, p->peer[0], p->peer[1], p->peer[2], p->peer[3], ECHO_TRIES);
	return 0;
}

/* The device still says our MAC and link up (a restored device keeps both). */
static int check_config(struct ping *p, u64 round)
{
	struct virtio_dev *d = p->n.dev;
	int i;

	for (i = 0; i < 6; i++)
		if (virtio_cfg_read8(d, VIRTIO_NET_CFG_MAC + i) != p->n.mac[i])
			return test_fail("snap-net: round %lu: MAC byte %d is 0x%x, was 0x%x", round,
					 i, virtio_cfg_read8(d, VIRTIO_NET_CFG_MAC + i),
					 p->n.mac[i]);
	if (!(virtio_cfg_read16(d, VIRTIO_NET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP))
		return test_fail("snap-net: round %lu: link is down", round);
	return 0;
}

static int test_snap_net(void)
{
	struct ping *p = &ping;
	u32 replies = 0, resent = 0;
	u64 rounds, pings, r, k;
	int rc = -1;

	if (parse_ip("net.ip", "10.0.2.15", p->ip) || parse_ip("net.peer", "10.0.2.2", p->peer) ||
	    test_arg_u64("snapnet.rounds", 60, 1, 100000, &rounds) ||
	    test_arg_u64("snapnet.pings", 2, 1, 100, &pings))
		return -1;
	if (net_open(&p->n, false))
		return -1;
	if (arp_peer(p))
		goto out;
	for (r = 1; r <= rounds; r++) {
		for (k = 0; k < pings; k++) {
			if (echo_retried(p, (u16)((r - 1) * pings + k), &resent))
				goto out;
			replies++;
		}
		if (check_config(p, r))
			goto out;
		printf("evvm-guest: snap-net round %lu replies %u resent %u\n", r, replies, resent);
	}
	printf("evvm-guest: snap-net: %lu rounds, %u echo replies, %u resent\n", rounds, replies,
	       resent);
	rc = net_tx_drain(&p->n);
out:
	net_report(&p->n, "snap-net");
	if (net_close(&p->n))
		rc = -1;
	return rc;
}
GUEST_TEST("snap-net", test_snap_net);
