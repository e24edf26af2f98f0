/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_JAILTEST_H
#define EVVM_TESTS_JAILTEST_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What test_jailer and test_jailer_input share. Call only from cmocka tests. */

#define JUID	    "4242"
#define JGID	    "4243"
#define JT_TIMEOUT  20
#define JT_ARGS_MAX 48

struct jt {
	char base[64], fix[64], log[96]; /* chroot base, fixtures dir, jailer's output */
	char evvm[PATH_MAX], probe[PATH_MAX];
	char id[32], cg_parent[64], cg_mount[PATH_MAX];
	pid_t netns_holder;
	bool tmpfs; /* <fix>/tmpfs is mounted */
};

/* The current test's state, made by jt_setup(). */
extern struct jt jt;

/* snprintf that fails the test instead of truncating. */
__attribute__((format(printf, 3, 4))) void pathf(char *out, size_t size, const char *fmt, ...);

/* Skip the test (saying why) unless euid 0. */
void require_root(void);

/* Skip the test (saying why) unless a cgroup2 mount is there and writable; sets jt.cg_mount. */
void require_cgroup2(void);

/* cmocka setup/teardown: fresh base and fixture dirs, ids; teardown removes all of it. */
int jt_setup(void **state);
int jt_teardown(void **state);

/* Run `evvm jailer ARGS...` (NULL-terminated) to its end; its output in jt.log. */
int jailer_run(const char *first, ...);

/* <base>/<exec_name>/<id>/root. */
void jail_root(char *out, size_t size, const char *exec_name);

/* The file @path once it contains @needle, or after @timeout_s (malloc'd). */
char *wait_for_text(const char *path, const char *needle, double timeout_s);

/* The pid in the jail's pid file (waits up to 5 s for it). */
pid_t jail_pid(const char *exec_name);

/* The line of /proc/@pid/@file starting with @key, or "" (malloc'd). */
char *proc_line(pid_t pid, const char *file, const char *key);

/* Fail unless that line contains @want. */
void assert_proc_line(pid_t pid, const char *file, const char *key, const char *want);

/* Fork a child in a network namespace of its own; its /proc/PID/ns/net in @path. */
void netns_holder(char *path, size_t size);

/* Is the chroot base empty (nothing left behind)? */
bool base_is_empty(void);

/*
 * Run the probe jailed (flags @f1, @f2 if not NULL) on a host marker file,
 * the same through "..", and /jail-probe; its report (from @out in the
 * jail, "-" for its stdout) once it says "done" (malloc'd).
 */
char *probe_run(const char *out, bool sleep_after, const char *f1, const char *f2);

#endif
