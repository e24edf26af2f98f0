/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_FRONTEND_CONN_H
#define EVVM_VHOST_FRONTEND_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

/*
 * The frontend's end of one connection to a vhost-user backend. A request
 * that expects a reply waits for it at most VHOST_USER_REPLY_TIMEOUT_MS,
 * and not at all once @cancel_fd is readable (evvm is stopping): a backend
 * that hangs is treated as gone. The first failure on a connection breaks
 * it (logged once, naming the device, the socket and the message); every
 * later call returns -ENOTCONN without a word until vu_conn_open().
 */

#define VHOST_USER_REPLY_TIMEOUT_MS 5000

struct vu_conn {
	char id[32]; /* the device, in messages */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sock;	   /* -1 when closed */
	int cancel_fd;	   /* readable: give up every wait (-1: never) */
	bool broken;	   /* a request failed: the backend is gone */
	uint64_t protocol; /* negotiated protocol features (REPLY_ACK) */
};

/* A closed connection to @path for device @id; -ENAMETOOLONG if @path does not fit. */
int vu_conn_init(struct vu_conn *c, const char *id, const char *path, int cancel_fd);

/*
 * Connect (closing any previous socket). @quiet: a refused or missing
 * socket is logged at debug level only (reconnect attempts). 0 or -errno.
 */
int vu_conn_open(struct vu_conn *c, bool quiet);

/* Close the socket; the connection can be opened again. */
void vu_conn_close(struct vu_conn *c);

/* Whether the connection is open and no request on it failed. */
bool vu_conn_up(const struct vu_conn *c);

/* Send @request with @flags, a @size-byte @payload and @nr_fds fds. 0 or -errno. */
int vu_send(struct vu_conn *c, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned int nr_fds);

/*
 * Send a request that has no reply of its own; when REPLY_ACK is
 * negotiated, ask for the ack and check it (-EIO if refused).
 */
int vu_request(struct vu_conn *c, uint32_t request, const void *payload, uint32_t size,
	       const int *fds, unsigned int nr_fds);

/*
 * Send @request and read its reply, which must be exactly @out_size bytes,
 * into @out. With @fd non-NULL the reply must carry one fd, stored there
 * (the caller owns it); otherwise an fd that comes along is closed.
 */
int vu_query(struct vu_conn *c, uint32_t request, const void *in, uint32_t in_size, void *out,
	     uint32_t out_size, int *fd);

#endif
