/* SPDX-License-Identifier: MIT */
/*
 * A host peer thread for guest/test_virtio_net.c's frame protocol, on an
 * AF_PACKET socket (netpeer.h) of a tap:
 *
 *   PEER_CAPTURE  checks the guest's DATA frames arrive in order, seq 0..,
 *                 contents intact, until DONE (virtio-net-tx, -hostile)
 *   PEER_INJECT   after the guest's READY, sends @count DATA frames with at
 *                 most @window unacknowledged (virtio-net-rx acks), so the
 *                 tap's queue in the kernel never overflows
 *   PEER_PING     after READY, @count round trips: DATA seq i out, the
 *                 guest's ACK seq i back (virtio-net-echo), then DONE
 *
 * No cmocka here: the results are in the struct after net_peer_stop().
 */
#ifndef EVVM_TESTS_FRAME_PEER_H
#define EVVM_TESTS_FRAME_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum peer_mode { PEER_CAPTURE, PEER_INJECT, PEER_PING };

struct frame_peer {
	/* Set before frame_peer_start(). */
	enum peer_mode mode;
	uint32_t count;
	uint32_t window;
	uint8_t guest_mac[6];
	double *rtt; /* PEER_PING: @count round-trip times in seconds */
	/* Results. */
	uint32_t got;  /* CAPTURE: DATA frames in order; INJECT: acked; PING: echoed */
	uint32_t sent; /* INJECT, PING */
	uint32_t others;
	bool ready, done;
	uint32_t done_seq;
	/* CAPTURE: first DATA to DONE; INJECT: first send to last ack (CLOCK_MONOTONIC, s). */
	double t_first, t_last;
	unsigned int packets, drops; /* PACKET_STATISTICS over the run */
	char err[256];		     /* the first thing that went wrong, or "" */
	/* Private. */
	int fd;
	atomic_bool stop;
	bool running;
	pthread_t thread;
};

/* Open the socket on @ifname and start the thread. 0, or -1 with p->err set. */
int frame_peer_start(struct frame_peer *p, const char *ifname);

/*
 * Give frames still on their way 100 ms, stop the thread, read the drop
 * statistics and close the socket. Safe to call twice.
 */
void frame_peer_stop(struct frame_peer *p);

/* Seconds on CLOCK_MONOTONIC. */
double frame_peer_now(void);

#endif
