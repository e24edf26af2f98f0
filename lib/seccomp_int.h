/* SPDX-License-Identifier: MIT */
#ifndef EVVM_LIB_SECCOMP_INT_H
#define EVVM_LIB_SECCOMP_INT_H

#include <seccomp.h>

#include <evvm/seccomp.h>

/*
 * One allowed call: the syscall, and up to two argument comparisons that
 * must all hold. With @err, the call is refused with that errno instead
 * (neither run nor fatal).
 */
struct sc_rule {
	int nr;
	int err;
	unsigned int nargs;
	struct scmp_arg_cmp args[2];
};

struct sc_table {
	const char *name; /* what the table is for, in docs/seccomp.md's words */
	const struct sc_rule *rules;
	unsigned int n;
};

#define SC_TABLES_MAX 12

/* The tables whose union is @kind's list for devices @devs; returns how many (<= SC_TABLES_MAX). */
unsigned int sc_tables(enum evvm_thread_kind kind, unsigned int devs, const struct sc_table **out);

#endif
