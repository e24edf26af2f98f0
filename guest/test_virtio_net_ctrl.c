/*
 * virtio-net-ctrl: the control queue (CTRL_VQ, CTRL_RX). RX_PROMISC on,
 * RX_ALLMULTI off and an empty MAC_TABLE_SET must be acked VIRTIO_NET_OK;
 * an unknown class and an RX command without its data byte must get
 * VIRTIO_NET_ERR; then a frame still goes out on the transmitq. Prints
 * "evvm-guest: virtio-net-ctrl: 5 commands answered".
 */
#include "lib.h"
#include "netframe.h"
#include "printf.h"
#include "test.h"
#include "virtio_net.h"

struct ctrl_case {
	const char *what;
	u8 class, cmd;
	u32 len;
	u8 want;
};

/* Data for every case: an "on"/"off" byte, or two empty MAC tables. */
static u8 on = 1, off;
static u32 empty_tables[2];

static int test_net_ctrl(void)
{
	const struct ctrl_case cases[] = {
		{ "RX_PROMISC on", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1,
		  VIRTIO_NET_OK },
		{ "RX_ALLMULTI off", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1,
		  VIRTIO_NET_OK },
		{ "MAC_TABLE_SET, both empty", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
		  sizeof(empty_tables), VIRTIO_NET_OK },
		{ "class 0x55", 0x55, 0, 1, VIRTIO_NET_ERR },
		{ "RX_PROMISC without data", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0,
		  VIRTIO_NET_ERR },
	};
	const void *data[] = { &on, &off, empty_tables, &on, NULL };
	struct net n;
	unsigned int i;
	u16 slot;
	u8 *f;
	int ack, rc = 0;

	if (net_open(&n, true))
		return -1;
	for (i = 0; i < ARRAY_SIZE(cases) && !rc; i++) {
		const struct ctrl_case *c = &cases[i];

		ack = net_ctrl(&n, c->class, c->cmd, data[i], c->len);
		if (ack < 0)
			rc = -1;
		else if (ack != c->want)
			rc = test_fail("virtio-net-ctrl: %s: ack %d, want %u", c->what, ack,
				       c->want);
	}
	/* The data path is unaffected: one broadcast frame of the usual format. */
	if (!rc && (f = net_tx_get(&n, &slot))) {
		memset(f, 0xff, 6);
		memcpy(f + 6, n.mac, 6);
		f[12] = NF_ETHERTYPE >> 8;
		f[13] = NF_ETHERTYPE & 0xff;
		memset(f + 14, 0, NF_LEN - 14);
		net_tx_put(&n, slot, NF_LEN);
		rc = net_tx_drain(&n);
	} else if (!rc) {
		rc = -1;
	}
	if (!rc)
		printf("evvm-guest: virtio-net-ctrl: %u commands answered\n", i);
	net_report(&n, "virtio-net-ctrl");
	if (net_close(&n))
		rc = -1;
	return rc;
}
GUEST_TEST("virtio-net-ctrl", test_net_ctrl);
