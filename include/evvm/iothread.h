/* SPDX-License-Identifier: MIT */
#ifndef EVVM_IOTHREAD_H
#define EVVM_IOTHREAD_H

#include <evvm/loop.h>

/* A thread running an evvm_loop: where a device's work happens. */

struct evvm_iothread;

/*
 * Create and start a thread named @name (at most 15 characters are kept)
 * running a new loop that busy-polls up to @poll_max_us before sleeping.
 * Returns 0 and sets *@out, or -errno after logging.
 */
int iothread_create(const char *name, unsigned int poll_max_us, struct evvm_iothread **out);

struct evvm_loop *iothread_loop(struct evvm_iothread *t);

/* Stop the loop, join the thread, free both. NULL is ignored. */
void iothread_destroy(struct evvm_iothread *t);

#endif
