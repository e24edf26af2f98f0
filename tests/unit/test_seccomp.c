// SPDX-License-Identifier: MIT
/*
 * The allow-lists (lib/seccomp_lists.c) as a reviewer would audit them: no
 * list lets a thread run a program, change its credentials, trace, mount,
 * load code into the kernel or open a socket it does not need; and the
 * mechanism, in a child process: a call outside the list kills by SIGSYS
 * with the line, log mode lets it through, off installs nothing.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evvm/confine.h>
#include <evvm/seccomp.h>

#include "capture.h"

#include <cmocka.h>

#define ALL_DEVS                                                              \
	(EVVM_SECCOMP_DEV_BLK | EVVM_SECCOMP_DEV_RNG | EVVM_SECCOMP_DEV_NET | \
	 EVVM_SECCOMP_DEV_CONSOLE | EVVM_SECCOMP_DEV_VHOST_FRONTEND)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER 1
#endif
#endif

static bool lists(enum evvm_thread_kind kind, unsigned int devs, int nr)
{
	int nrs[256];
	unsigned int n = seccomp_list_syscalls(kind, devs, nrs, 256);

	assert_true(n <= 256);
	for (unsigned int i = 0; i < n; i++)
		if (nrs[i] == nr)
			return true;
	return false;
}

static void test_no_list_has_dangerous_calls(void **state)
{
	static const int never[] = {
		SYS_execve,
		SYS_execveat,
		SYS_fork,
		SYS_vfork,
		SYS_mount,
		SYS_umount2,
		SYS_pivot_root,
		SYS_chroot,
		SYS_setuid,
		SYS_setgid,
		SYS_setresuid,
		SYS_setresgid,
		SYS_setgroups,
		SYS_capset,
		SYS_init_module,
		SYS_finit_module,
		SYS_delete_module,
		SYS_kexec_load,
		SYS_bpf,
		SYS_unshare,
		SYS_setns,
		SYS_reboot,
		SYS_open_by_handle_at,
		SYS_process_vm_writev,
		SYS_personality,
		SYS_perf_event_open,
		SYS_keyctl,
		SYS_userfaultfd,
#ifndef SANITIZER /* LeakSanitizer stops the threads with ptrace from a clone */
		SYS_ptrace,
		SYS_clone,
#endif
	};

	(void)state;
	for (int k = 0; k < EVVM_THREAD_KINDS; k++)
		for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
			if (lists(k, ALL_DEVS, never[i]))
				fail_msg("the %s list allows syscall %d", seccomp_kind_name(k),
					 never[i]);
}

/* Sockets: only evvm's vhost-user frontend makes any after set-up (and only AF_UNIX). */
static void test_sockets_only_for_the_frontend(void **state)
{
	(void)state;
	for (int k = 0; k < EVVM_THREAD_KINDS; k++) {
		assert_false(lists(k, ALL_DEVS & ~EVVM_SECCOMP_DEV_VHOST_FRONTEND, SYS_socket));
		assert_false(lists(k, ALL_DEVS, SYS_socketpair));
	}
	assert_true(lists(EVVM_THREAD_IO, EVVM_SECCOMP_DEV_VHOST_FRONTEND, SYS_socket));
}

/* Device calls come with the device: a backend's list has its own device's only. */
static void test_device_calls_follow_the_devices(void **state)
{
	(void)state;
	assert_true(lists(EVVM_THREAD_IO, EVVM_SECCOMP_DEV_BLK, SYS_io_uring_enter));
	assert_false(lists(EVVM_THREAD_IO, EVVM_SECCOMP_DEV_RNG, SYS_io_uring_enter));
	assert_true(lists(EVVM_THREAD_IO, EVVM_SECCOMP_DEV_RNG, SYS_getrandom));
	assert_false(lists(EVVM_THREAD_IO, EVVM_SECCOMP_DEV_BLK, SYS_getrandom));
	assert_false(lists(EVVM_THREAD_VU_SIGNAL, ALL_DEVS, SYS_io_uring_enter));
	/* Only vCPUs run the guest; only the backend's control thread accepts. */
	assert_false(lists(EVVM_THREAD_IO, ALL_DEVS, SYS_accept4));
	assert_true(lists(EVVM_THREAD_VU_CTL, 0, SYS_accept4));
	assert_false(lists(EVVM_THREAD_IRQFD, ALL_DEVS, SYS_accept4));
	/* The API thread serves its socket; it never runs the guest. */
	assert_true(lists(EVVM_THREAD_API, 0, SYS_accept4));
	assert_false(lists(EVVM_THREAD_VCPU, ALL_DEVS, SYS_accept4));
	assert_false(lists(EVVM_THREAD_API, ALL_DEVS, SYS_eventfd2));
}

/* In a child: confine as @mode, then call personality(2), in no list. Its status. */
static int child_breaks_list(enum evvm_seccomp_mode mode, char *err, size_t len)
{
	struct evvm_confine c = { .seccomp = mode };
	const struct rlimit no_core = { 0, 0 };
	int status;
	pid_t pid;

	capture_begin();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &no_core);
		if (confine_setup(&c) || confine_thread(EVVM_THREAD_VU_SIGNAL))
			_exit(3);
		syscall(SYS_personality, 0xffffffffUL); /* a query, in no list */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	capture_end(err, len, false);
	return status;
}

static void test_violation_kills_with_a_line(void **state)
{
	char err[4096];
	int status;

	(void)state;
	status = child_breaks_list(EVVM_SECCOMP_ON, err, sizeof(err));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	assert_non_null(strstr(err, "evvm: seccomp: vu-signal thread: forbidden system call "
				    "personality (135); killed by SIGSYS\n"));
}

static void test_log_and_off_let_it_run(void **state)
{
	char err[4096];
	int status;

	(void)state;
	status = child_breaks_list(EVVM_SECCOMP_LOG, err, sizeof(err));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	status = child_breaks_list(EVVM_SECCOMP_OFF, err, sizeof(err));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_parse_mode(void **state)
{
	enum evvm_seccomp_mode m;

	(void)state;
	assert_int_equal(seccomp_parse_mode("on", &m), 0);
	assert_int_equal(m, EVVM_SECCOMP_ON);
	assert_int_equal(seccomp_parse_mode("log", &m), 0);
	assert_int_equal(m, EVVM_SECCOMP_LOG);
	assert_int_equal(seccomp_parse_mode("off", &m), 0);
	assert_int_equal(m, EVVM_SECCOMP_OFF);
	assert_int_not_equal(seccomp_parse_mode("On", &m), 0);
	assert_int_not_equal(seccomp_parse_mode("", &m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_list_has_dangerous_calls),
		cmocka_unit_test(test_sockets_only_for_the_frontend),
		cmocka_unit_test(test_device_calls_follow_the_devices),
		cmocka_unit_test(test_violation_kills_with_a_line),
		cmocka_unit_test(test_log_and_off_let_it_run),
		cmocka_unit_test(test_parse_mode),
	};

	return cmocka_run_group_tests_name("seccomp lists", tests, NULL, NULL);
}
