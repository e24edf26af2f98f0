// SPDX-License-Identifier: MIT
/*
 * Confinement (docs/seccomp.md): each thread kind dies by SIGSYS, with the
 * line naming it and the call, when it breaks its list (through the
 * test-only hook of build/evvm-testhooks: EVVM_TEST_SECCOMP_VIOLATE=KIND
 * makes a thread of that kind call personality(2) right after installing
 * its list); a backend's threads show Seccomp: 2, NoNewPrivs: 1 and no
 * capabilities in /proc; --seccomp=log and off; --uid/--gid.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#include <cmocka.h>

#define TIMEOUT	      30
#define SIGSYS_STATUS (128 + SIGSYS)

struct ctx {
	char dir[64];
	char sock[128];
	char disk[128];
	char log[128];
	char hooks[512]; /* build/evvm-testhooks, beside $EVVM */
	const char *evvm;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char copy[512];
	int fd;

	if (!c)
		return -1;
	c->evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	snprintf(copy, sizeof(copy), "%s", c->evvm);
	snprintf(c->hooks, sizeof(c->hooks), "%s/evvm-testhooks", dirname(copy));
	strcpy(c->dir, "/tmp/evvm-seccomp-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->sock, sizeof(c->sock), "%s/vu.sock", c->dir);
	snprintf(c->disk, sizeof(c->disk), "%s/disk.img", c->dir);
	snprintf(c->log, sizeof(c->log), "%s/backend.log", c->dir);
	fd = open(c->disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -1;
	close(fd);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	unlink(c->sock);
	unlink(c->disk);
	unlink(c->log);
	rmdir(c->dir);
	unsetenv("EVVM_TEST_SECCOMP_VIOLATE");
	setenv("EVVM", c->evvm, 1);
	free(c);
	return 0;
}

/* Run the hooks build of evvm with @args, the thread kind @kind breaking its list. */
static void run_violating(struct ctx *c, struct run_result *r, const char *kind,
			  const char *const args[])
{
	struct stat st;

	if (stat(c->hooks, &st) < 0)
		fail_msg("%s: %s (make builds it with the tests)", c->hooks, strerror(errno));
	setenv("EVVM", c->hooks, 1);
	setenv("EVVM_TEST_SECCOMP_VIOLATE", kind, 1);
	run_evvm(r, TIMEOUT, args);
	unsetenv("EVVM_TEST_SECCOMP_VIOLATE");
	setenv("EVVM", c->evvm, 1);
}

/* The process died by SIGSYS after the line naming @kind and personality(2). */
static void assert_killed(struct run_result *r, const char *kind)
{
	char line[160];

	snprintf(line, sizeof(line),
		 "evvm: seccomp: %s thread: forbidden system call personality (135); killed by "
		 "SIGSYS\n",
		 kind);
	assert_contains(r->err, line);
	if (r->status != SIGSYS_STATUS)
		fail_msg("%s: status %d, expected %d (SIGSYS)\n%s", kind, r->status, SIGSYS_STATUS,
			 r->err);
}

static void backend_violation(void **state, const char *cmd, const char *kind)
{
	struct ctx *c = *state;
	char disk[160];
	struct run_result r;

	snprintf(disk, sizeof(disk), "path=%s", c->disk);
	if (!strcmp(cmd, "vhost-user-blk"))
		run_violating(c, &r, kind,
			      (const char *[]){ cmd, "--socket", c->sock, "--disk", disk, NULL });
	else
		run_violating(c, &r, kind, (const char *[]){ cmd, "--socket", c->sock, NULL });
	assert_killed(&r, kind);
	run_result_free(&r);
}

static void test_blk_ctl_violation(void **state)
{
	backend_violation(state, "vhost-user-blk", "vu-ctl");
}

static void test_blk_io_violation(void **state)
{
	backend_violation(state, "vhost-user-blk", "io");
}

static void test_blk_signal_violation(void **state)
{
	backend_violation(state, "vhost-user-blk", "vu-signal");
}

static void test_rng_ctl_violation(void **state)
{
	backend_violation(state, "vhost-user-rng", "vu-ctl");
}

static void test_rng_io_violation(void **state)
{
	backend_violation(state, "vhost-user-rng", "io");
}

/* evvm run: each of its kinds; a VM is needed, so KVM is. */
static void vm_violation(void **state, const char *kind, const char *irqfd)
{
	struct ctx *c = *state;
	struct run_result r;

	require_kvm();
	/* The thread dies before the guest's first instruction. */
	run_violating(c, &r, kind,
		      (const char *[]){ "run", "--kernel", guest_elf(), "--cmdline=exit=0", "--rng",
					"--irqfd", irqfd, NULL });
	assert_killed(&r, kind);
	run_result_free(&r);
}

static void test_run_main_violation(void **state)
{
	vm_violation(state, "main", "kernel");
}

static void test_run_vcpu_violation(void **state)
{
	vm_violation(state, "vcpu", "kernel");
}

static void test_run_io_violation(void **state)
{
	vm_violation(state, "io", "kernel");
}

static void test_run_irqfd_violation(void **state)
{
	vm_violation(state, "irqfd", "user");
}

/* The API thread takes its list once the VM exists, before the guest runs. */
static void test_run_api_violation(void **state)
{
	struct ctx *c = *state;
	struct run_result r;

	require_kvm();
	run_violating(c, &r, "api",
		      (const char *[]){ "run", "--kernel", guest_elf(), "--cmdline=exit=0",
					"--api-sock", c->sock, NULL });
	assert_killed(&r, "api");
	run_result_free(&r);
}

/* Wait until @path contains @text; false after @timeout_s. */
static bool wait_log(const char *path, const char *text, double timeout_s)
{
	double end = now_s() + timeout_s;

	while (now_s() < end) {
		char *s = slurp(path);
		bool found = strstr(s, text) != NULL;

		free(s);
		if (found)
			return true;
		usleep(20000);
	}
	return false;
}

/* The value of @field in /proc/@pid/task/@tid/status, into @out; false if absent. */
static bool status_field(pid_t pid, const char *tid, const char *field, char *out, size_t len)
{
	char path[384], *s, *p, *eol;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	s = slurp(path);
	p = strstr(s, field);
	if (!p) {
		free(s);
		return false;
	}
	p += strlen(field);
	p += strspn(p, " \t");
	eol = strchr(p, '\n');
	snprintf(out, len, "%.*s", eol ? (int)(eol - p) : (int)strlen(p), p);
	for (size_t n = strlen(out); n && out[n - 1] == ' '; n--)
		out[n - 1] = 0; /* "Groups:" ends with a blank */
	free(s);
	return true;
}

/*
 * Every thread of @pid: @field's value is @want. Returns the number of
 * threads checked (a backend has three).
 */
static unsigned int expect_all_threads(pid_t pid, const char *field, const char *want)
{
	char path[64], val[128];
	unsigned int n = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!status_field(pid, e->d_name, field, val, sizeof(val)))
			fail_msg("thread %s: no %s in its status", e->d_name, field);
		if (strcmp(val, want))
			fail_msg("thread %s: %s %s, expected %s", e->d_name, field, val, want);
		n++;
	}
	closedir(d);
	return n;
}

/* Start a backend (its output to the log), wait until it says it is ready. */
static pid_t start_backend(struct ctx *c, const char *bin, const char *const extra[])
{
	const char *argv[16] = { bin, "vhost-user-rng", "--socket", c->sock };
	unsigned int n = 4;
	pid_t pid;

	for (unsigned int i = 0; extra && extra[i] && n < 15; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = spawn(argv, c->log);
	assert_true(pid > 0);
	if (!wait_log(c->log, "ready on", 10)) {
		char *s = slurp(c->log);

		kill(pid, SIGKILL);
		wait_exit(pid, 5);
		fail_msg("backend not ready:\n%s", s);
	}
	return pid;
}

static void stop_backend(pid_t pid)
{
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, 10), 0);
}

static void test_backend_confined(void **state)
{
	struct ctx *c = *state;
	pid_t pid = start_backend(c, c->evvm, NULL);

	/* The control, I/O and signal threads, each with its own list. */
	assert_int_equal(expect_all_threads(pid, "Seccomp:", "2"), 3);
	expect_all_threads(pid, "Seccomp_filters:", "1");
	expect_all_threads(pid, "NoNewPrivs:", "1");
	expect_all_threads(pid, "CapEff:", "0000000000000000");
	expect_all_threads(pid, "CapPrm:", "0000000000000000");
	expect_all_threads(pid, "CapInh:", "0000000000000000");
	expect_all_threads(pid, "CapBnd:", "0000000000000000");
	expect_all_threads(pid, "CapAmb:", "0000000000000000");
	stop_backend(pid);
}

static void test_backend_seccomp_off(void **state)
{
	struct ctx *c = *state;
	pid_t pid = start_backend(c, c->evvm, (const char *[]){ "--seccomp=off", NULL });

	expect_all_threads(pid, "Seccomp:", "0");
	/* Privileges are dropped whatever the seccomp mode. */
	expect_all_threads(pid, "NoNewPrivs:", "1");
	expect_all_threads(pid, "CapEff:", "0000000000000000");
	stop_backend(pid);
}

/* log: the hooked call goes through (the kernel logs it) and the backend serves on. */
static void test_backend_seccomp_log(void **state)
{
	struct ctx *c = *state;
	pid_t pid;
	char *s;

	setenv("EVVM_TEST_SECCOMP_VIOLATE", "vu-ctl", 1);
	pid = start_backend(c, c->hooks, (const char *[]){ "--seccomp=log", NULL });
	unsetenv("EVVM_TEST_SECCOMP_VIOLATE");
	expect_all_threads(pid, "Seccomp:", "2");
	stop_backend(pid);
	s = slurp(c->log);
	assert_null(strstr(s, "forbidden system call"));
	free(s);
}

static void test_backend_uid_gid(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	pid_t pid;

	if (geteuid() != 0) {
		skip(); /* only root may change its uid */
		return;
	}
	/* 65534 must be able to reach the socket's directory (it removes nothing there). */
	assert_int_equal(chmod(c->dir, 0711), 0);
	pid = start_backend(c, c->evvm,
			    (const char *[]){ "--uid", "65534", "--gid", "65534", NULL });
	assert_int_equal(expect_all_threads(pid, "Uid:", "65534\t65534\t65534\t65534"), 3);
	expect_all_threads(pid, "Gid:", "65534\t65534\t65534\t65534");
	expect_all_threads(pid, "Groups:", "65534");
	expect_all_threads(pid, "CapEff:", "0000000000000000");
	expect_all_threads(pid, "Seccomp:", "2");
	/* The socket is the new user's, still owner-only. */
	assert_int_equal(stat(c->sock, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_mode & 07777, 0600);
	stop_backend(pid);
}

static void test_bad_flags(void **state)
{
	struct ctx *c = *state;
	struct run_result r;

	run_evvm(
		&r, TIMEOUT,
		(const char *[]){ "vhost-user-rng", "--socket", c->sock, "--seccomp=maybe", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--seccomp=maybe: expected on, log or off");
	run_result_free(&r);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "vhost-user-rng", "--socket", c->sock, "--uid",
				   "no-such-user-evvm", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--uid no-such-user-evvm: no such user");
	run_result_free(&r);
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--gid", "no-such-group-evvm", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--gid no-such-group-evvm: no such group");
	run_result_free(&r);
	run_evvm(&r, TIMEOUT, (const char *[]){ "firecracker", "--seccomp=1", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--seccomp=1: expected on, log or off");
	run_result_free(&r);
}

int main(void)
{
	/* Dying by SIGSYS dumps core by default: not here. */
	const struct rlimit no_core = { 0, 0 };

	setrlimit(RLIMIT_CORE, &no_core);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blk_ctl_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_io_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_signal_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_ctl_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_io_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_main_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_vcpu_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_io_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_irqfd_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_api_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_confined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_seccomp_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_seccomp_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_uid_gid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags, setup, teardown),
	};

	return cmocka_run_group_tests_name("seccomp and privileges", tests, NULL, NULL);
}
