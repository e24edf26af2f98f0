// SPDX-License-Identifier: MIT
/*
 * The API's HTTP server: libevent's evhttp on an event loop of its own
 * thread. evhttp accepts on the listening socket, parses each request and
 * reads its body whole; the handler answers on the same thread.
 *
 * libevent 2.1 has no limit on connections, and no way to hand it a socket
 * accepted elsewhere. So connections are counted from the bufferevent evhttp
 * asks us for (evhttp_set_bevcb()), and accepting pauses at max_connections
 * (more wait in the listen backlog, as with libmicrohttpd before). To learn
 * of its end, each connection is adopted just after evhttp set it up: an
 * event of ours, activated then and run before the loop polls again, finds
 * it as its (held) bufferevent's callback argument and asks evhttp for a
 * close callback (evhttp_connection_set_closecb()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evvm/log.h>

#include "httpd.h"
#include "libevent.h"

struct httpd {
	const struct libevent_fns *ev;
	struct httpd_limits lim;
	httpd_handler *fn;
	void *arg;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener; /* evhttp's, on the listening socket */
	struct event *stop;		 /* on stop_fd */
	struct event *adopt;		 /* activated by each new connection */
	struct event *call;		 /* on call_fd */
	int stop_fd;			 /* an eventfd httpd_stop() writes */
	int call_fd;			 /* an eventfd httpd_call() writes */
	int (*call_fn)(void *);		 /* what httpd_call() runs on the thread, */
	void *call_arg;
	int call_ret; /* and its result */
	sem_t call_done;
	struct bufferevent **fresh; /* connections evhttp set up, not adopted yet (held) */
	unsigned int nr_fresh, cap_fresh;
	unsigned int nr_conns; /* open, adopted or not */
	pthread_t thread;
};

/* libevent's warnings and errors, as evvm's lines (it logs from the API thread). */
static void on_libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_ERR)
		pr_err("API: libevent: %s", msg);
	else if (severity == EVENT_LOG_WARN)
		pr_warn("API: libevent: %s", msg);
	else
		pr_debug("API: libevent: %s", msg);
}

/* A connection ended: accepting goes on if it had paused. */
static void conn_gone(struct httpd *h)
{
	if (h->nr_conns-- == h->lim.max_connections && h->listener)
		h->ev->listener_enable(h->listener);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_gone(arg);
}

/* evhttp_set_bevcb(): the bufferevent of a new connection, held until it is adopted. */
static struct bufferevent *on_connection(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	struct bufferevent *bev;

	if (h->nr_fresh == h->cap_fresh) {
		unsigned int cap = h->cap_fresh ? 2 * h->cap_fresh : 16;
		struct bufferevent **v = realloc(h->fresh, cap * sizeof(*v));

		if (!v)
			return NULL; /* evhttp makes its own: served, not counted */
		h->fresh = v;
		h->cap_fresh = cap;
	}
	/* Without BEV_OPT_CLOSE_ON_FREE: evhttp closes the socket as it frees the connection. */
	bev = h->ev->bev_socket_new(base, -1, 0);
	if (!bev)
		return NULL;
	h->ev->bev_incref(bev);
	h->fresh[h->nr_fresh++] = bev;
	h->ev->event_active(h->adopt, EV_TIMEOUT, 0);
	/* The listener checks after each connection whether it may accept another. */
	if (++h->nr_conns == h->lim.max_connections)
		h->ev->listener_disable(h->listener);
	return bev;
}

/* Ask evhttp to say when the connections it set up since the last run end. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)what;
	for (unsigned int i = 0; i < h->nr_fresh; i++) {
		void *evcon = NULL;

		/* evhttp's callback argument; NULL once evhttp has freed the connection. */
		h->ev->bev_getcb(h->fresh[i], NULL, NULL, NULL, &evcon);
		if (evcon)
			h->ev->conn_set_closecb(evcon, on_close, h);
		else
			conn_gone(h);
		h->ev->bev_decref(h->fresh[i]);
	}
	h->nr_fresh = 0;
}

/* HTTP's methods as evhttp numbers them; evhttp reads no body for HEAD and TRACE. */
static const struct {
	enum evhttp_cmd_type cmd;
	const char *name;
	bool body;
} methods[] = {
	{ EVHTTP_REQ_GET, "GET", true },       { EVHTTP_REQ_POST, "POST", true },
	{ EVHTTP_REQ_HEAD, "HEAD", false },    { EVHTTP_REQ_PUT, "PUT", true },
	{ EVHTTP_REQ_DELETE, "DELETE", true }, { EVHTTP_REQ_OPTIONS, "OPTIONS", true },
	{ EVHTTP_REQ_TRACE, "TRACE", false },  { EVHTTP_REQ_CONNECT, "CONNECT", true },
	{ EVHTTP_REQ_PATCH, "PATCH", true },
};

/* @cmd's name; NULL for a method HTTP does not name (evhttp keeps no name, reads no body). */
static const char *method_name(enum evhttp_cmd_type cmd, bool *body)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].cmd == cmd) {
			*body = methods[i].body;
			return methods[i].name;
		}
	*body = false;
	return NULL;
}

/* Send @rp (its JSON as application/json) for @req; evhttp frees @req once it is sent. */
static void send_reply(struct httpd *h, struct evhttp_request *req, struct httpd_reply *rp)
{
	const struct libevent_fns *ev = h->ev;
	struct evkeyvalq *hdrs = ev->req_output_headers(req);
	bool body;

	if (rp->json && (ev->add_header(hdrs, "Content-Type", "application/json") ||
			 ev->buf_add(ev->req_output_buffer(req), rp->json, strlen(rp->json))))
		rp->status = 500;
	/* A body evhttp did not read would be read as the next request. */
	method_name(ev->req_command(req), &body);
	if (!body)
		ev->add_header(hdrs, "Connection", "close");
	ev->send_reply(req, (int)rp->status, NULL, NULL);
}

/* evhttp_set_gencb(): every request, read whole. */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	const struct libevent_fns *ev = h->ev;
	const struct evhttp_uri *uri = ev->req_uri(req);
	const char *path = uri ? ev->uri_path(uri) : NULL;
	struct evbuffer *in = ev->req_input_buffer(req);
	bool body;
	const char *method = method_name(ev->req_command(req), &body);
	struct httpd_request rq = {
		.method = method ? method : "(unknown method)",
		.content_length = ev->find_header(ev->req_input_headers(req), "Content-Length"),
		.len = ev->buf_length(in),
	};
	struct httpd_reply rp = { .status = 500 };
	char *decoded = ev->uridecode(path ? path : "", 0, NULL);

	rq.path = decoded;
	rq.body = rq.len ? (const char *)ev->buf_pullup(in, -1) : NULL;
	if (decoded && (!rq.len || rq.body))
		h->fn(h->arg, &rq, &rp);
	/*
	 * libevent dates the reply's write timeout from the time it cached
	 * when this callback began: after a handler that took longer than the
	 * idle timeout (a snapshot of a large VM) the reply would be dropped
	 * as timed out before it is written.
	 */
	ev->base_update_cache_time(h->base);
	send_reply(h, req, &rp);
	free(rp.json);
	free(decoded);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)what;
	h->ev->base_loopbreak(h->base);
}

/* httpd_call(): between two requests, run the caller's function here. */
static void on_call(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	h->call_ret = h->call_fn(h->call_arg);
	sem_post(&h->call_done);
}

/* Everything libevent holds; the connections are closed. */
static void loop_free(struct httpd *h)
{
	const struct libevent_fns *ev = h->ev;

	h->listener = NULL; /* freed first by evhttp_free(), before the connections */
	if (h->http)
		ev->http_free(h->http); /* its connections, the listening socket */
	for (unsigned int i = 0; i < h->nr_fresh; i++)
		ev->bev_decref(h->fresh[i]);
	free(h->fresh);
	if (h->adopt)
		ev->event_free(h->adopt);
	if (h->call)
		ev->event_free(h->call);
	if (h->stop)
		ev->event_free(h->stop);
	if (h->base)
		ev->base_free(h->base);
}

static void *httpd_thread(void *arg)
{
	struct httpd *h = arg;
	sigset_t pipe;

	pthread_setname_np(pthread_self(), "evvm-api");
	/*
	 * libevent writes with writev(): to a client gone, that raises SIGPIPE
	 * at this thread, which would end evvm. Blocked, it stays pending here
	 * and the write fails with EPIPE.
	 */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	if (h->ev->base_dispatch(h->base) < 0)
		pr_err("API: the event loop failed; the API no longer answers");
	loop_free(h);
	return NULL;
}

/* The loop, evhttp on @fd with @h->lim, and the two events of ours. */
static int loop_setup(struct httpd *h, int fd)
{
	const struct libevent_fns *ev = h->ev;
	struct evhttp_bound_socket *bound;

	h->base = ev->base_new();
	h->http = h->base ? ev->http_new(h->base) : NULL;
	if (!h->http)
		return -ENOMEM;
	h->stop = ev->event_new(h->base, h->stop_fd, EV_READ, on_stop, h);
	h->adopt = ev->event_new(h->base, -1, 0, on_adopt, h);
	h->call = ev->event_new(h->base, h->call_fd, EV_READ | EV_PERSIST, on_call, h);
	if (!h->stop || !h->adopt || !h->call || ev->event_add(h->stop, NULL) ||
	    ev->event_add(h->call, NULL))
		return -ENOMEM;
	ev->http_set_timeout(h->http, (int)h->lim.idle_timeout_s);
	ev->http_set_max_body_size(h->http, (ev_ssize_t)h->lim.max_body);
	ev->http_set_max_headers_size(h->http, (ev_ssize_t)h->lim.max_headers);
	/* Every method, those HTTP does not name too: the handler refuses the rest. */
	ev->http_set_allowed_methods(h->http, UINT16_MAX);
	ev->http_set_gencb(h->http, on_request, h);
	ev->http_set_bevcb(h->http, on_connection, h);
	bound = ev->http_accept_socket(h->http, fd);
	if (!bound)
		return -ENOMEM;
	h->listener = ev->bound_listener(bound);
	return 0;
}

int httpd_start(int fd, const struct httpd_limits *lim, httpd_handler *fn, void *arg,
		struct httpd **out)
{
	const struct libevent_fns *ev = libevent_load();
	struct httpd *h;
	int err;

	if (!ev) {
		close(fd);
		return -ENOENT;
	}
	ev->set_log_callback(on_libevent_log);
	h = malloc(sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	*h = (struct httpd){ .ev = ev, .lim = *lim, .fn = fn, .arg = arg };
	h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->stop_fd < 0 || h->call_fd < 0 || sem_init(&h->call_done, 0, 0) < 0) {
		err = -errno;
		close(fd);
		goto close_fds;
	}
	err = loop_setup(h, fd);
	if (err) {
		close(fd); /* evhttp takes it last, on success only */
		goto free_loop;
	}
	err = -pthread_create(&h->thread, NULL, httpd_thread, h);
	if (err)
		goto free_loop;
	*out = h;
	return 0;

free_loop:
	loop_free(h);
	sem_destroy(&h->call_done);
close_fds:
	if (h->call_fd >= 0)
		close(h->call_fd);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	free(h);
	pr_err("API: cannot start its server: %s", evvm_strerror(err));
	return err;
}

void httpd_stop(struct httpd *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	if (write(h->stop_fd, &one, sizeof(one)) != sizeof(one)) {
		/* Cannot happen to an eventfd at 0; the thread keeps @h then. */
		pr_err("API: cannot stop its thread: %s", evvm_strerror(errno));
		return;
	}
	pthread_join(h->thread, NULL);
	sem_destroy(&h->call_done);
	close(h->call_fd);
	close(h->stop_fd);
	free(h);
}

int httpd_call(struct httpd *h, int (*fn)(void *), void *arg)
{
	uint64_t one = 1;

	h->call_fn = fn;
	h->call_arg = arg;
	if (write(h->call_fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	while (sem_wait(&h->call_done) < 0)
		if (errno != EINTR)
			return -errno;
	return h->call_ret;
}
