/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICES_NET_H
#define EVVM_DEVICES_NET_H

/* virtio-net's state, shared by devices/net.c, net_ctrl.c and net_rl.c. */
#include <stdbool.h>
#include <stdint.h>

#include <evvm/devices.h>
#include <evvm/loop.h>
#include <evvm/virtio.h>

#include "ratelimit.h"

enum { NET_RXQ, NET_TXQ, NET_CTRLQ };

#define NET_HDR_LEN   sizeof(struct virtio_net_hdr_v1)
#define NET_QUEUE_MAX 256
/* Largest tx frame, header included (64 KiB of GSO payload and headers). */
#define NET_TX_MAX 65550
/* Largest frame the tap hands us: a 64 KiB GSO frame with Ethernet and VLAN headers. */
#define NET_RX_BUF (NET_HDR_LEN + 65535 + 14 + 4)
/* Frames moved per tap wakeup before the loop serves other fds (epoll is level-triggered). */
#define NET_RX_BUDGET 64

/*
 * 5.1.4. mtu is read only with VIRTIO_NET_F_MTU (not offered), but evvm's
 * vhost-user frontend asks for all 12 bytes.
 */
struct net_config_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/* Counters; written by the I/O thread only, read by anyone (relaxed atomics). */
struct net_counters {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t tx_dropped_too_long, tx_dropped_bad_header, tx_errors;
	uint64_t rx_dropped_too_short, rx_dropped_too_long;
	uint64_t rx_stalls;   /* the guest ran out of rx buffers: tap read paused */
	uint64_t tx_eagain;   /* the tap was full: tx waited for EPOLLOUT */
	uint64_t rx_notifies; /* interrupts sent for rx and tx */
	uint64_t tx_notifies;
	uint64_t ctrl_commands;
	uint64_t rx_rate_limiter_throttled; /* a frame waited for the rx limiter's tokens */
	uint64_t tx_rate_limiter_throttled; /* a chain waited for the tx limiter's tokens */
};

struct net {
	struct net_config cfg;
	char tap_name[16];
	int tap_fd;
	bool tap_watched;
	uint32_t tap_events; /* what the loop watches now */

	bool paused;	 /* quiesce(): the tap is not watched, the rings not touched */
	bool rx_enabled; /* an rx kick came since start: the ring may be written */
	bool rx_stalled; /* waiting for the guest's rx buffers */
	uint8_t *rx_buf; /* the pending frame, header first */
	size_t rx_len;	 /* 0: none */
	struct vq_elem *rx_elems[NET_QUEUE_MAX]; /* allocated as needed, kept */
	uint32_t rx_written[NET_QUEUE_MAX];
	unsigned int rx_held; /* rx_elems[0 .. rx_held) are popped, not pushed */
	bool rx_held_gap;     /* a chain was pushed after the first held one was popped */
	uint64_t rx_room;     /* their in_len sum */

	bool rx_paid;	   /* the pending frame passed the rx limiter */
	bool rx_throttled; /* the pending frame waits for the rx limiter's timer */

	struct vq_elem tx_elem;
	bool tx_pending; /* tx_elem is popped and waits for the tap */
	bool tx_write_failed;
	bool tx_throttled; /* the next chain, back in the ring, waits for the tx limiter's timer */

	/* Firecracker's rx_rate_limiter and tx_rate_limiter (devices/net_rl.c). */
	struct ratelimit rx_rl, tx_rl;
	struct evvm_loop *rx_rl_loop, *tx_rl_loop; /* where their timers are watched, or NULL */
	bool started;

	struct vq_elem ctrl_elem;
	struct net_counters c;
};

static inline void count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static inline bool has(const struct evvm_virtio_dev *dev, unsigned int bit)
{
	return dev->features & VIRTIO_BIT(bit);
}

/* net.c: move frames (each returns at once while its direction is throttled). */
void net_rx(struct evvm_virtio_dev *dev);
void net_tx(struct evvm_virtio_dev *dev);

/* net_ctrl.c: drain the control queue. */
void net_ctrl(struct evvm_virtio_dev *dev);

/* net_persist.c: ops->save() (devices/persist.h: struct net_persist). */
int net_save(struct evvm_virtio_dev *dev, void *buf, size_t cap);

/* net.c: whether @dev is a net_create() device. */
bool net_serves(const struct evvm_virtio_dev *dev);

/* net_rl.c: no limits, and the timers (at create): 0 or -errno. */
int net_rl_init(struct net *n);

/*
 * Pay for a frame of @bytes (vnet header included) in direction @tx:
 * true if it may go; false if it waits (counted, the timer armed).
 */
bool net_rl_admit(struct net *n, bool tx, uint64_t bytes);

/* start(): watch the timers; stop(): disarm and unwatch them, nothing waits. */
int net_rl_start(struct evvm_virtio_dev *dev);
void net_rl_stop(struct evvm_virtio_dev *dev);

/* quiesce(false): what waited for a timer that fired while paused goes now. */
void net_rl_resume(struct evvm_virtio_dev *dev);

/* destroy(): close the timers. */
void net_rl_fini(struct net *n);

#endif
