/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_HTTPD_H
#define EVVM_CLI_HTTPD_H

#include <stddef.h>

/*
 * An HTTP/1.1 server on one thread of its own: libevent's evhttp (loaded
 * by cli/libevent.c) reads each request whole, a handler answers it.
 */
struct httpd;

struct httpd_limits {
	unsigned int max_connections; /* at once; more wait to be accepted */
	unsigned int idle_timeout_s;  /* a connection idle this long is closed */
	size_t max_body;	      /* read whole up to this; libevent's own 413 past it */
	size_t max_headers;	      /* the request line and headers */
};

/* One request as it was read. */
struct httpd_request {
	const char *method; /* "GET", "PUT", ...; "(unknown method)" for one HTTP does not name */
	const char *path;   /* percent-decoded, without the query */
	const char *content_length; /* the header as sent, or NULL */
	const char *body;	    /* @len bytes, not NUL-terminated; NULL when empty */
	size_t len;
};

/* The answer: a status and a JSON text (malloc()ed, freed by the server), or NULL for none. */
struct httpd_reply {
	unsigned int status;
	char *json;
};

/* Called on the server's thread for every request; fills @rp. */
typedef void httpd_handler(void *arg, const struct httpd_request *rq, struct httpd_reply *rp);

/*
 * Serve the listening socket @fd with @fn(@arg, ...) until httpd_stop().
 * @fd is the server's from then on, closed when it stops or on a failure.
 * Returns 0, or -errno after logging one line.
 */
int httpd_start(int fd, const struct httpd_limits *lim, httpd_handler *fn, void *arg,
		struct httpd **out);

/*
 * Run @fn(@arg) on the server's thread, between two requests, and return
 * its result (-errno if it could not be asked). The server must be
 * serving; one caller at a time.
 */
int httpd_call(struct httpd *h, int (*fn)(void *), void *arg);

/* Stop serving, wait for the thread, close every connection. NULL is ignored. */
void httpd_stop(struct httpd *h);

#endif
