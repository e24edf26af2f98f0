/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_VU_FRONTEND_H
#define EVVM_TESTS_VU_FRONTEND_H

#include <stdint.h>

#include "../../vhost/vhost_user.h"

/*
 * The smallest vhost-user frontend, for tests of evvm's backend: framing,
 * fds and replies on one connection. Every function fails the test (cmocka)
 * when the backend does not answer within VU_FE_TIMEOUT_MS or answers
 * something malformed.
 */
#define VU_FE_TIMEOUT_MS 5000

/* Connect to the backend's socket @path; returns the fd. */
int vu_fe_connect(const char *path);

/* Send request @req with @flags (NEED_REPLY), @size payload bytes and up to 8 fds. */
void vu_fe_send(int fd, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, unsigned int nfds);

/* Receive the reply to @req into @m; returns its payload size. */
uint32_t vu_fe_recv(int fd, uint32_t req, struct vhost_user_msg *m);

/* @req with NEED_REPLY (and @nfds fds): returns the ack (0: accepted). */
uint64_t vu_fe_ack(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds,
		   unsigned int nfds);

/* A request with no payload and a u64 reply (GET_FEATURES, GET_STATUS): the value. */
uint64_t vu_fe_get_u64(int fd, uint32_t req);

/* GET_VRING_BASE of ring @index: the index the ring stopped at. */
uint32_t vu_fe_get_vring_base(int fd, uint32_t index);

#endif
