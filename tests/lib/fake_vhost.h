/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_FAKE_VHOST_H
#define EVVM_TESTS_FAKE_VHOST_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A scripted vhost-user backend on a thread of the test: it listens on a
 * socket, answers the frontend's handshake and set-up like a blk backend
 * with no data path, records every request, and stops answering (but keeps
 * the connection open) from request @stall_at on. Serves one connection at
 * a time, and the next one once that closes.
 */
struct fake_vhost_config {
	uint32_t stall_at;  /* first request left unanswered; 0: answer nothing at all */
	uint64_t features;  /* GET_FEATURES */
	uint64_t protocol;  /* GET_PROTOCOL_FEATURES */
	uint64_t queues;    /* GET_QUEUE_NUM */
	uint16_t capacity;  /* blk config: capacity in sectors (for a recognisable config) */
	uint16_t stop_base; /* GET_VRING_BASE's answer: the next avail entry it would take */
	/* On SET_VRING_CALL, signal the fd with q + 1: tells a test which fd a queue got. */
	bool signal_calls;
};

struct fake_vhost;

#define FAKE_MAX_LOG 256

/* Listen on @sock (a stale file there is removed) and serve. Fails the test on error. */
struct fake_vhost *fake_vhost_start(const char *sock, const struct fake_vhost_config *cfg);

/* Close the connection and the socket, as a backend that dies; free. NULL is ignored. */
void fake_vhost_stop(struct fake_vhost *f);

/* Wait up to @timeout_s until @request was received @n times in all; whether it was. */
bool fake_vhost_wait_for(struct fake_vhost *f, uint32_t request, unsigned int n, double timeout_s);

/* How many times @request was received. */
unsigned int fake_vhost_count(struct fake_vhost *f, uint32_t request);

/* The last SET_VRING_BASE for queue @q (-1 if none). */
int fake_vhost_base(struct fake_vhost *f, unsigned int q);

/*
 * Inode of the in-flight region it handed out with GET_INFLIGHT_FD, and
 * of the one it was given with SET_INFLIGHT_FD (0 if none).
 */
unsigned long fake_vhost_inflight_given(struct fake_vhost *f);
unsigned long fake_vhost_inflight_set(struct fake_vhost *f);

#endif
