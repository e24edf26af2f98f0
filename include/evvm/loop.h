/* SPDX-License-Identifier: MIT */
#ifndef EVVM_LOOP_H
#define EVVM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * An event loop: one thread sleeps in epoll on a set of fds and calls a
 * callback for each ready one. Optionally it busy-polls before sleeping,
 * with a window that adapts as QEMU's iothreads do: it grows while events
 * arrive soon after the loop would have slept, and collapses when they
 * take longer than the maximum. On top of that the loop measures whether
 * polling shortens its waits at all (it does not when the poller slows the
 * event's producer, e.g. a vCPU on the same host CPU) and stops polling
 * when it does not (see lib/loop.c, struct poll_judge).
 */

struct evvm_loop;

/* @events are EPOLLIN/EPOLLOUT/...; the callback gets the ready set. */
typedef void (*evvm_loop_fn)(void *opaque, uint32_t events);

struct evvm_loop_stats {
	uint64_t wakeups;	  /* returns from a sleeping epoll_wait with events */
	uint64_t poll_hits;	  /* events found while busy-polling */
	uint64_t dispatches;	  /* callbacks run */
	uint64_t poll_ns;	  /* current polling window */
	bool polling;		  /* the next wait polls (the window is open and polling pays) */
	uint64_t poll_trials;	  /* measurements of polling against sleeping at once */
	uint64_t poll_mean_ns[2]; /* last mean wait measured with [0] and without [1] polling */
};

/* Returns 0 and sets *@out, or -errno. @name is used in messages. */
int loop_create(struct evvm_loop **out, const char *name);

/* Busy-poll up to @max_us microseconds before sleeping (0, the default: never). */
void loop_set_poll_max(struct evvm_loop *loop, unsigned int max_us);

/*
 * Watch @fd (not owned). -EEXIST if already watched. Call from the loop's
 * thread, or before the loop runs, or through loop_call().
 */
int loop_add(struct evvm_loop *loop, int fd, uint32_t events, evvm_loop_fn fn, void *opaque);

/*
 * Change the events watched on @fd (0 pauses it). Unlike add and del, this
 * may be called from any thread.
 */
int loop_mod(struct evvm_loop *loop, int fd, uint32_t events);

/* Stop watching @fd; its callback is not called again after this returns. Same rule as add. */
int loop_del(struct evvm_loop *loop, int fd);

/*
 * Run @fn(@opaque) in the loop's thread and wait for it to return (called
 * directly when the loop is not running or this is its thread). Returns
 * what @fn returned. Thread-safe.
 */
int loop_call(struct evvm_loop *loop, int (*fn)(void *opaque), void *opaque);

/*
 * Dispatch until loop_stop(). A stop is final: once requested, even before
 * this is called, loop_run() returns at once. Returns 0, or -errno if epoll
 * failed.
 */
int loop_run(struct evvm_loop *loop);

/* Make loop_run() return after the callback in progress. Thread-safe. */
void loop_stop(struct evvm_loop *loop);

/* A snapshot of the counters (exact once the loop has stopped). */
void loop_get_stats(struct evvm_loop *loop, struct evvm_loop_stats *stats);

/* Free the loop; it must not be running. Watched fds are not closed. */
void loop_destroy(struct evvm_loop *loop);

#endif
