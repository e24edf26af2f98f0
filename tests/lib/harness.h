/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_HARNESS_H
#define EVVM_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

/* What one run of a command produced. */
struct run_result {
	int status; /* exit status, or 128+signal if killed */
	bool timed_out;
	char *out; /* NUL-terminated stdout, malloc'd */
	char *err; /* NUL-terminated stderr, malloc'd */
};

/*
 * Run `$EVVM args...` (EVVM defaults to build/evvm), capture its output, and
 * kill it after @timeout_s seconds. Fails the test if it cannot be started.
 */
void run_evvm(struct run_result *r, int timeout_s, const char *const args[]);

/* Like run_evvm, but send @sig to evvm once its stdout contains @wait_for. */
void run_evvm_signal(struct run_result *r, int timeout_s, const char *const args[],
		     const char *wait_for, int sig);

/*
 * Like run_evvm, with evvm's stdin a pseudo-terminal: once stdout contains
 * @wait_for, @input is typed on it.
 */
void run_evvm_tty(struct run_result *r, int timeout_s, const char *const args[],
		  const char *wait_for, const char *input);

/* One step of a scripted run: once @stream (1 stdout, 2 stderr) contains @text, act. */
struct run_step {
	int stream;
	const char *text;
	int sig;		      /* send this signal to evvm, if non-zero */
	void (*hook)(void *arg);      /* or call this */
	void *arg;
};

/* Like run_evvm, performing @steps in order (at most 4). */
void run_evvm_steps(struct run_result *r, int timeout_s, const char *const args[],
		    const struct run_step *steps, unsigned int nr_steps);

void run_result_free(struct run_result *r);

/*
 * Call first in any test that needs KVM: skips the test (with a line saying
 * why) only when /dev/kvm does not exist. A /dev/kvm that exists but cannot
 * be opened fails the test.
 */
void require_kvm(void);

/*
 * For a test on a tap in a network namespace of its own: skips (saying
 * why) when not root or without /dev/net/tun, then require_kvm().
 */
void require_tap_kvm(void);

/* Path of the test guest ELF ($GUEST_ELF, default build/guest/evvm-guest.elf). */
const char *guest_elf(void);

/* Fail the test, printing both output streams, unless @hay contains @needle. */
#define assert_contains(hay, needle) assert_contains_(hay, needle, #hay, __FILE__, __LINE__)
void assert_contains_(const char *hay, const char *needle, const char *what, const char *file,
		      int line);

#endif
