/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_API_H
#define EVVM_CLI_API_H

#include "instance.h"

/* Firecracker's request body limit (its HTTP_MAX_PAYLOAD_SIZE). */
#define API_MAX_BODY	    51200
#define API_MAX_CONNECTIONS 128
#define API_TIMEOUT_S	    5 /* a connection idle this long (a half-sent request) is closed */
/*
 * What the server reads whole before the handler refuses it past
 * API_MAX_BODY with Firecracker's JSON 413; a body larger still gets
 * libevent's own 413 (text/html). The request line and headers: at most
 * API_MAX_HEADERS bytes.
 */
#define API_READ_MAX	(1024 * 1024)
#define API_MAX_HEADERS (32 * 1024)

struct api_server;

/*
 * Serve Firecracker's REST API for @in on the unix socket @path, from one
 * thread of its own (cli/httpd.c: libevent's evhttp). A path that
 * exists is refused unless it is a socket nobody listens on (a stale one,
 * which is replaced). Returns 0, or -errno after logging one line.
 */
int api_start(const char *path, struct instance *in, struct api_server **out);

/* Stop serving, wait for the thread, remove the socket. NULL is ignored. */
void api_stop(struct api_server *api);

#endif
