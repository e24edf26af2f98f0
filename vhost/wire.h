/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_WIRE_H
#define EVVM_VHOST_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost_user.h"

/*
 * vhost-user message framing, shared by the backend and the frontend: one
 * header and its payload on a unix stream socket, with up to
 * VHOST_USER_MAX_FDS file descriptors in SCM_RIGHTS on the header's first
 * byte. Neither function ever blocks past its deadline, whatever the socket's
 * O_NONBLOCK setting, and neither raises SIGPIPE.
 */

/* A message as received. */
struct vhost_wire_msg {
	struct vhost_user_msg m;
	int fds[VHOST_USER_MAX_FDS]; /* received with O_CLOEXEC; -1 once taken */
	unsigned int nr_fds;
	bool fds_truncated; /* the peer sent more than VHOST_USER_MAX_FDS (the rest are closed) */
};

/*
 * Send header (@request, VHOST_USER_VERSION | @flags, @size) and @size bytes
 * of @payload, with @nr_fds (at most VHOST_USER_MAX_FDS) fds. The whole
 * message must be taken by the peer within @timeout_ms (< 0: no deadline).
 * Returns 0; -ETIMEDOUT after the deadline; -EPIPE or -ECONNRESET when the
 * peer is gone; -EINVAL for too many fds or a payload larger than the union;
 * another -errno from sendmsg(). On error the peer may have seen part of
 * the message: the connection is no longer usable.
 */
int vhost_wire_send(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned int nr_fds, int timeout_ms);

/*
 * Receive one whole message into @msg (overwritten) within @timeout_ms
 * (< 0: no deadline). Returns 0 with @msg filled (the caller owns the fds
 * in msg->fds; see vhost_wire_close_fds()). Otherwise every fd received is
 * closed, *@why names what failed, and it returns: -ECONNRESET when the
 * peer closed the connection (*why is "closed" if that happened between
 * messages), -ETIMEDOUT on the deadline, -EPROTO for a version other than
 * VHOST_USER_VERSION or a payload larger than any request's, another
 * -errno from recvmsg(). After an error the connection is not usable.
 */
int vhost_wire_recv(int sock, struct vhost_wire_msg *msg, int timeout_ms, const char **why);

/* Close the fds still in @msg (those not set to -1 by their taker); nr_fds becomes 0. */
void vhost_wire_close_fds(struct vhost_wire_msg *msg);

/* "SET_MEM_TABLE" for VHOST_USER_SET_MEM_TABLE; "unknown request" for what it does not know. */
const char *vhost_wire_req_name(uint32_t request);

#endif
