/* SPDX-License-Identifier: MIT */
#ifndef EVVM_LOOP_H
#define EVVM_LOOP_H

#include <stdint.h>

/*
 * An event loop: one thread sleeps in epoll on a set of fds and calls a
 * callback for each ready one. loop_stop() may be called from any thread.
 */

struct evvm_loop;

/* @events are EPOLLIN/EPOLLOUT/...; the callback gets the ready set. */
typedef void (*evvm_loop_fn)(void *opaque, uint32_t events);

/* Returns 0 and sets *@out, or -errno. @name is used in messages. */
int loop_create(struct evvm_loop **out, const char *name);

/* Watch @fd (not owned). -EEXIST if already watched. */
int loop_add(struct evvm_loop *loop, int fd, uint32_t events, evvm_loop_fn fn, void *opaque);

/*
 * Change the events watched on @fd (0 pauses it). Unlike add and del, this
 * may be called from any thread.
 */
int loop_mod(struct evvm_loop *loop, int fd, uint32_t events);

/* Stop watching @fd; its callback is not called again after this returns. */
int loop_del(struct evvm_loop *loop, int fd);

/* Dispatch until loop_stop(). Returns 0, or -errno if epoll failed. */
int loop_run(struct evvm_loop *loop);

/* Make loop_run() return after the callback in progress. Thread-safe. */
void loop_stop(struct evvm_loop *loop);

/* Free the loop; it must not be running. Watched fds are not closed. */
void loop_destroy(struct evvm_loop *loop);

#endif
