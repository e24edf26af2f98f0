/* SPDX-License-Identifier: MIT */
#ifndef EVVM_PRIVS_H
#define EVVM_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

/* Least privilege once set-up is done (docs/seccomp.md, "Privileges"). */

struct evvm_privs {
	bool set_uid, set_gid;
	uid_t uid; /* --uid: to drop to (when set_uid) */
	gid_t gid; /* --gid: to drop to (when set_gid) */
};

/*
 * A user for --uid: a number, or a name looked up now (before anything is
 * dropped). Returns 0 or -EINVAL after a line on stderr naming @flag.
 */
int privs_parse_uid(const char *flag, const char *arg, uid_t *out);

/* A group for --gid, as privs_parse_uid(). */
int privs_parse_gid(const char *flag, const char *arg, gid_t *out);

/* Set the process's target, once, in the main thread before other threads start. */
void privs_setup(const struct evvm_privs *p);

/*
 * Drop the calling thread's privileges to privs_setup()'s target: the
 * supplementary groups (setgroups() to just the gid), gid and uid, then
 * every capability: the bounding set, the ambient set, the effective,
 * permitted and inheritable sets; then PR_SET_NO_NEW_PRIVS. Raw system
 * calls, for this thread only (credentials are per thread in the kernel;
 * glibc's wrappers would signal every thread to change, and those threads'
 * seccomp lists forbid it): every thread calls it at its start, through
 * confine_thread(). Returns 0 or -errno after logging what failed.
 */
int privs_thread_drop(void);

#endif
