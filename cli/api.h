/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_API_H
#define EVVM_CLI_API_H

#include "instance.h"

/* Firecracker's request body limit (its HTTP_MAX_PAYLOAD_SIZE). */
#define API_MAX_BODY	    51200
#define API_MAX_CONNECTIONS 128
#define API_TIMEOUT_S	    5 /* a connection idle this long (a half-sent request) is closed */

struct api_server;

/*
 * Serve Firecracker's REST API for @in on the unix socket @path, from one
 * thread of its own (libmicrohttpd's internal poll thread). A path that
 * exists is refused unless it is a socket nobody listens on (a stale one,
 * which is replaced). Returns 0, or -errno after logging one line.
 */
int api_start(const char *path, struct instance *in, struct api_server **out);

/* Stop serving, wait for the thread, remove the socket. NULL is ignored. */
void api_stop(struct api_server *api);

#endif
