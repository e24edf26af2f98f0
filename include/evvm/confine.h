/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CONFINE_H
#define EVVM_CONFINE_H

#include <pthread.h>

#include <evvm/privs.h>
#include <evvm/seccomp.h>

/*
 * Confinement of every thread of a process: each drops its privileges and
 * installs its own seccomp list at its start (docs/seccomp.md).
 */

struct evvm_confine {
	enum evvm_seccomp_mode seccomp;
	unsigned int devs; /* EVVM_SECCOMP_DEV_*: what the I/O threads serve */
	struct evvm_privs privs;
};

/*
 * Set the process's confinement, once, in the main thread before any
 * other thread starts. Until it is called confine_thread() does nothing
 * (unit tests, benchmarks and tools that link the library are not
 * confined). Returns 0 or -errno after logging.
 */
int confine_setup(const struct evvm_confine *c);

/*
 * Confine the calling thread as @kind: drop its privileges, then install
 * its seccomp list. Returns 0 or -errno after logging; a thread that gets
 * an error must not go on with its work.
 */
int confine_thread(enum evvm_thread_kind kind);

/*
 * pthread_create() for a thread that confines itself as @kind before it
 * runs @fn: returns only once it has, 0 with *@t set, or the thread's
 * -errno (the thread is then joined and @fn never ran).
 */
int confine_pthread_create(pthread_t *t, enum evvm_thread_kind kind, void *(*fn)(void *),
			   void *arg);

#endif
