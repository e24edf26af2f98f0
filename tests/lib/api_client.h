/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_API_CLIENT_H
#define EVVM_TESTS_API_CLIENT_H

#include <stddef.h>

/*
 * A minimal HTTP/1.1 client for evvm's API socket, for tests: one request a
 * connection ("Connection: close"), every wait bounded.
 */

/* A connected unix stream socket to @path, or -1. */
int api_connect(const char *path);

/* Write all of @len bytes; 0 or -1. */
int api_send_all(int fd, const void *buf, size_t len);

/*
 * Read the response on @fd until the peer closes it or @timeout_s pass:
 * returns its status code (-1 if none arrived) and sets *@body (malloc'd,
 * NUL-terminated, "" if none) when @body is not NULL.
 */
int api_read_response(int fd, double timeout_s, char **body);

/* METHOD PATH with @json (NULL: no body) on a new connection; status as above. */
int api_call(const char *sock, const char *method, const char *path, const char *json, char **body);

/* The same, waiting up to @timeout_s for the response (api_call: 10 s). */
int api_call_timeout(const char *sock, const char *method, const char *path, const char *json,
		     double timeout_s, char **body);

#endif
