// SPDX-License-Identifier: MIT
/*
 * Per-thread seccomp filters: the mechanism (the lists are in
 * seccomp_lists.c). Each thread installs its own filter at its start
 * (seccomp_thread_enter()), never with SECCOMP_FILTER_FLAG_TSYNC: TSYNC
 * would put the calling thread's list on every thread, and our threads'
 * lists differ on purpose.
 *
 * A forbidden call traps (SECCOMP_RET_TRAP) into a SIGSYS handler that
 * writes one line naming the thread kind and the call, then lets the
 * process die by SIGSYS. Not SECCOMP_RET_KILL_PROCESS and the audit log:
 * the kernel's audit records go to a log a user running evvm usually
 * cannot read (dmesg_restrict, journald's audit socket), and they name the
 * call by number and the thread by tid only.
 */
#define _GNU_SOURCE
#include <errno.h>
#ifdef EVVM_TEST_HOOKS
#include <execinfo.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <evvm/log.h>

#include "seccomp_int.h"

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp trap (asm-generic/siginfo.h) */
#endif

/* Syscall numbers the violation line names; larger ones print as numbers only. */
#define SC_NAMES    512
#define SC_NAME_LEN 24

static const char *const kind_names[EVVM_THREAD_KINDS] = {
	[EVVM_THREAD_MAIN] = "main",
	[EVVM_THREAD_VCPU] = "vcpu",
	[EVVM_THREAD_IO] = "io",
	[EVVM_THREAD_IRQFD] = "irqfd",
	[EVVM_THREAD_API] = "api",
	[EVVM_THREAD_VU_CTL] = "vu-ctl",
	[EVVM_THREAD_VU_SIGNAL] = "vu-signal",
};

static enum evvm_seccomp_mode sc_mode = EVVM_SECCOMP_OFF;
static unsigned int sc_devs;
/* Filled before any filter exists: the handler may not allocate or resolve. */
static char sc_names[SC_NAMES][SC_NAME_LEN];
/* The calling thread's kind, for the handler; -1 before seccomp_thread_enter(). */
static __thread int sc_kind = -1;

int seccomp_parse_mode(const char *s, enum evvm_seccomp_mode *out)
{
	if (!strcmp(s, "on"))
		*out = EVVM_SECCOMP_ON;
	else if (!strcmp(s, "log"))
		*out = EVVM_SECCOMP_LOG;
	else if (!strcmp(s, "off"))
		*out = EVVM_SECCOMP_OFF;
	else
		return -EINVAL;
	return 0;
}

const char *seccomp_kind_name(enum evvm_thread_kind kind)
{
	return (unsigned int)kind < EVVM_THREAD_KINDS ? kind_names[kind] : "?";
}

enum evvm_seccomp_mode seccomp_mode(void)
{
	return sc_mode;
}

/* Append @s to @buf at *@len (async-signal-safe). */
static void sc_put(char *buf, size_t size, size_t *len, const char *s)
{
	while (*s && *len + 1 < size)
		buf[(*len)++] = *s++;
}

static void sc_put_uint(char *buf, size_t size, size_t *len, unsigned long v)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(digits));
	while (n && *len + 1 < size)
		buf[(*len)++] = digits[--n];
}

/*
 * SIGSYS from our filter. Only async-signal-safe calls, and only write(),
 * which every list allows. SA_RESETHAND has restored the default action
 * and SA_NODEFER leaves SIGSYS unblocked, so making the same call again
 * (same number, same arguments: the filter answers the same) ends the
 * process by SIGSYS, and its parent sees that status.
 */
static void sc_sigsys(int sig, siginfo_t *si, void *uctx)
{
	ucontext_t *uc = uctx;
	greg_t *r = uc->uc_mcontext.gregs;
	int nr = si->si_syscall;
	char line[160];
	size_t len = 0;

	(void)sig;
	if (si->si_code != SYS_SECCOMP)
		return; /* kill -SYS: the default action is back for the next one */
	sc_put(line, sizeof(line), &len, "evvm: seccomp: ");
	sc_put(line, sizeof(line), &len, sc_kind >= 0 ? kind_names[sc_kind] : "unfiltered?");
	sc_put(line, sizeof(line), &len, " thread: forbidden system call ");
	if (nr >= 0 && nr < SC_NAMES && sc_names[nr][0])
		sc_put(line, sizeof(line), &len, sc_names[nr]);
	else
		sc_put(line, sizeof(line), &len, "?");
	sc_put(line, sizeof(line), &len, " (");
	sc_put_uint(line, sizeof(line), &len, (unsigned long)nr);
	sc_put(line, sizeof(line), &len, "); killed by SIGSYS\n");
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nowhere else to say it */
	}
#ifdef EVVM_TEST_HOOKS
	/* Test builds: where the call came from (backtrace() was warmed up by seccomp_setup()). */
	void *frames[32];

	backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
#endif
	syscall(nr, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
	syscall(SYS_exit_group, 128 + SIGSYS); /* not reached */
}

int seccomp_setup(enum evvm_seccomp_mode mode, unsigned int devs)
{
	struct sigaction sa = { .sa_sigaction = sc_sigsys,
				.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };

	sc_mode = mode;
	sc_devs = devs;
	if (mode != EVVM_SECCOMP_ON)
		return 0;
	for (int nr = 0; nr < SC_NAMES; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name)
			strncpy(sc_names[nr], name, SC_NAME_LEN - 1);
		free(name);
	}
#ifdef EVVM_TEST_HOOKS
	void *frame;

	backtrace(&frame, 1); /* loads libgcc_s now, while open() is allowed */
#endif
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		int err = -errno;

		pr_err("seccomp: SIGSYS handler: %s", evvm_strerror(err));
		return err;
	}
	return 0;
}

/* Add @t's rules to @ctx; 0 or -errno. */
static int sc_add_table(scmp_filter_ctx ctx, const struct sc_table *t)
{
	for (unsigned int i = 0; i < t->n; i++) {
		const struct sc_rule *r = &t->rules[i];
		uint32_t act = r->err ? SCMP_ACT_ERRNO((uint32_t)r->err) : SCMP_ACT_ALLOW;
		int err = seccomp_rule_add_array(ctx, act, r->nr, r->nargs, r->args);

		/* A call this kernel's libseccomp does not know is one nobody makes. */
		if (err && err != -EDOM)
			return err;
	}
	return 0;
}

/* @kind's filter for this process's mode and devices, into *@out. */
static int sc_build(enum evvm_thread_kind kind, scmp_filter_ctx *out)
{
	const struct sc_table *tables[SC_TABLES_MAX];
	unsigned int n = sc_tables(kind, sc_devs, tables);
	scmp_filter_ctx ctx;
	int err = 0;

	ctx = seccomp_init(sc_mode == EVVM_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	/* A binary tree of syscall numbers, not a linear scan: hot calls stay cheap. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (unsigned int i = 0; i < n && !err; i++)
		err = sc_add_table(ctx, tables[i]);
	if (err) {
		seccomp_release(ctx);
		return err;
	}
	*out = ctx;
	return 0;
}

int seccomp_thread_enter(enum evvm_thread_kind kind)
{
	scmp_filter_ctx ctx;
	int err;

	if (sc_mode == EVVM_SECCOMP_OFF)
		return 0;
	err = sc_build(kind, &ctx);
	if (!err) {
		sc_kind = kind;
		err = seccomp_load(ctx); /* sets PR_SET_NO_NEW_PRIVS first (SCMP_FLTATR_CTL_NNP) */
		seccomp_release(ctx);
	}
	if (err) {
		sc_kind = -1;
		pr_err("seccomp: %s thread: cannot install its filter: %s", seccomp_kind_name(kind),
		       evvm_strerror(err));
		return err;
	}
#ifdef EVVM_TEST_HOOKS
	/* Test builds only (never release ones): make this thread break its list. */
	const char *v = getenv("EVVM_TEST_SECCOMP_VIOLATE");

	if (v && !strcmp(v, kind_names[kind]))
		syscall(SYS_personality, 0xffffffffUL); /* a query, harmless, in no list */
#endif
	return 0;
}

unsigned int seccomp_list_syscalls(enum evvm_thread_kind kind, unsigned int devs, int *nrs,
				   unsigned int max)
{
	const struct sc_table *tables[SC_TABLES_MAX];
	unsigned int n = sc_tables(kind, devs, tables), count = 0;

	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; j < tables[i]->n; j++, count++)
			if (count < max)
				nrs[count] = tables[i]->rules[j].nr;
	return count;
}
