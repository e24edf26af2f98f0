/* SPDX-License-Identifier: MIT */
#ifndef EVVM_SECCOMP_H
#define EVVM_SECCOMP_H

#include <stdbool.h>

/*
 * Per-thread seccomp allow-lists (docs/seccomp.md). Every evvm thread kind
 * has its own list (lib/seccomp_lists.c); a thread installs its own at its
 * start with seccomp_thread_enter(), before it does any work a guest or a
 * peer can drive. A call outside the list kills the process by SIGSYS
 * after one log line naming the thread kind and the system call.
 */

enum evvm_seccomp_mode {
	EVVM_SECCOMP_ON,  /* forbidden calls trap: log line, then death by SIGSYS */
	EVVM_SECCOMP_LOG, /* forbidden calls are allowed and logged by the kernel */
	EVVM_SECCOMP_OFF, /* no filter */
};

enum evvm_thread_kind {
	EVVM_THREAD_MAIN,      /* evvm run / firecracker: the VM's control loop */
	EVVM_THREAD_VCPU,      /* one per vCPU: KVM_RUN and the exits it handles */
	EVVM_THREAD_IO,	       /* an I/O thread: device queues (in evvm or a backend) */
	EVVM_THREAD_IRQFD,     /* the user-mode irqfd injector */
	EVVM_THREAD_API,       /* the REST API thread */
	EVVM_THREAD_VU_CTL,    /* a vhost-user backend's control thread (the socket) */
	EVVM_THREAD_VU_SIGNAL, /* a vhost-user backend's SIGINT/SIGTERM thread */
	EVVM_THREAD_KINDS,
};

/* What the process's I/O threads serve: each adds the calls of its device. */
#define EVVM_SECCOMP_DEV_BLK		(1u << 0)
#define EVVM_SECCOMP_DEV_RNG		(1u << 1)
#define EVVM_SECCOMP_DEV_NET		(1u << 2)
#define EVVM_SECCOMP_DEV_CONSOLE	(1u << 3)
#define EVVM_SECCOMP_DEV_VHOST_FRONTEND (1u << 4) /* evvm's vhost-user frontend */

/* "on", "log" or "off" into *@out; -EINVAL for anything else. */
int seccomp_parse_mode(const char *s, enum evvm_seccomp_mode *out);

/* The kind's name as log lines and EVVM_TEST_SECCOMP_VIOLATE spell it ("vcpu"). */
const char *seccomp_kind_name(enum evvm_thread_kind kind);

/*
 * Set the process's mode and device set, once, in the main thread before
 * any other thread starts. For ON it also installs the SIGSYS handler that
 * writes the violation line. Returns 0 or -errno after logging.
 */
int seccomp_setup(enum evvm_seccomp_mode mode, unsigned int devs);

/* The mode seccomp_setup() set (OFF if it was never called). */
enum evvm_seccomp_mode seccomp_mode(void);

/*
 * Install @kind's allow-list on the calling thread only (no TSYNC: other
 * threads keep theirs; threads this one creates later inherit it). Also
 * sets PR_SET_NO_NEW_PRIVS. A no-op when the mode is OFF. Returns 0 or
 * -errno after logging; a thread that gets an error must not go on.
 */
int seccomp_thread_enter(enum evvm_thread_kind kind);

/*
 * The allow-list of @kind for the devices @devs, as rules (exposed for the
 * unit test that audits the lists). Fills at most @max syscall numbers
 * into @nrs and returns how many the list names (with repeats for rules
 * that differ in their arguments).
 */
unsigned int seccomp_list_syscalls(enum evvm_thread_kind kind, unsigned int devs, int *nrs,
				   unsigned int max);

#endif
