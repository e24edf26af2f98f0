// SPDX-License-Identifier: MIT
/*
 * `evvm jailer` refusing bad input: each with its message and exit status,
 * and an empty chroot base (and no cgroup directory) after it, including
 * failures after the jail was built (a netns path that is no namespace, a
 * missing cgroup file, a pid file in the way after pivot_root); a second run with the same id
 * leaves the first jail as it was; --help and a link named `jailer`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "jailtest.h"
#include "proc.h"

#include <cmocka.h>

struct bad_case {
	const char *flag, *value; /* replaces that flag's value (or adds flag value) */
	const char *msg;
	int status;
};

/* Run the probe jail with one flag made bad; it must fail, say why, leave nothing. */
static void run_bad(const struct bad_case *c)
{
	const char *argv[JT_ARGS_MAX] = { "--id",   jt.id,   "--exec-file",
					  jt.probe, "--uid", JUID,
					  "--gid",  JGID,    "--chroot-base-dir",
					  jt.base };
	unsigned int n = 10;
	bool replaced = false;
	const char *full[JT_ARGS_MAX + 2] = { jt.evvm, "jailer" };
	char *log;
	int st;

	for (unsigned int i = 0; i < n; i += 2)
		if (!strcmp(argv[i], c->flag)) {
			argv[i + 1] = c->value;
			replaced = true;
		}
	if (!replaced) {
		argv[n++] = c->flag;
		if (c->value)
			argv[n++] = c->value;
	}
	argv[n++] = "--";
	argv[n++] = "probe";
	argv[n++] = "-";
	memcpy(full + 2, argv, n * sizeof(argv[0]));
	full[n + 2] = NULL;
	st = run_cmd(full, jt.log, JT_TIMEOUT);
	log = slurp(jt.log);
	if (st != c->status || !strstr(log, c->msg))
		fail_msg("%s %s: status %d (want %d), output '%s' (want '%s')", c->flag,
			 c->value ? c->value : "", st, c->status, log, c->msg);
	free(log);
	if (!base_is_empty())
		fail_msg("%s %s: the chroot base %s is not empty after the failure", c->flag,
			 c->value ? c->value : "", jt.base);
}

static void test_bad_input(void **state)
{
	char file[128], noexec[128], script[128], notns[128], msg[3][256];
	char id65[66];

	(void)state;
	require_root();
	pathf(file, sizeof(file), "%s/a-file", jt.fix);
	pathf(noexec, sizeof(noexec), "%s/noexec", jt.fix);
	pathf(script, sizeof(script), "%s/script", jt.fix);
	pathf(notns, sizeof(notns), "%s/not-a-netns", jt.fix);
	close(open(file, O_WRONLY | O_CREAT, 0644));
	close(open(notns, O_WRONLY | O_CREAT, 0644));
	assert_int_equal(system("true"), 0);
	{
		char cmd[512];

		pathf(cmd, sizeof(cmd),
		      "cp %s %s && chmod 0644 %s && printf '#!/bin/sh\\n' > %s "
		      "&& chmod 0755 %s",
		      jt.probe, noexec, noexec, script, script);
		assert_int_equal(system(cmd), 0);
	}
	memset(id65, 'a', 65);
	id65[65] = '\0';
	pathf(msg[0], sizeof(msg[0]), "chroot base '%s': not a directory", file);
	pathf(msg[1], sizeof(msg[1]), "exec file '%s': not executable", noexec);
	pathf(msg[2], sizeof(msg[2]), "--netns '%s': setns: Invalid argument", notns);
	const struct bad_case cases[] = {
		{ "--uid", "alice", "--uid 'alice': expected a number from 0 to 4294967294", 2 },
		{ "--uid", "4294967295", "expected a number from 0 to 4294967294", 2 },
		{ "--gid", "-1", "--gid '-1': expected a number", 2 },
		{ "--id", "bad/id", "--id 'bad/id': 1 to 64 characters: letters, digits and '-'",
		  2 },
		{ "--id", "a_b", "--id 'a_b': 1 to 64 characters", 2 },
		{ "--id", id65, "1 to 64 characters", 2 },
		{ "--chroot-base-dir", file, msg[0], 1 },
		{ "--chroot-base-dir", "/nonexistent-evvm-base",
		  "chroot base "
		  "'/nonexistent-evvm-base': No such file or directory",
		  1 },
		{ "--exec-file", noexec, msg[1], 1 },
		{ "--exec-file", script, "not an ELF executable", 1 },
		{ "--exec-file", "/nonexistent-evvm-exec",
		  "exec file '/nonexistent-evvm-exec': "
		  "No such file or directory",
		  1 },
		{ "--netns", "/nonexistent-evvm-netns",
		  "--netns '/nonexistent-evvm-netns': No "
		  "such file or directory",
		  1 },
		{ "--netns", notns, msg[2], 1 }, /* after the jail was built */
		{ "--cgroup", "cgroup.max.depth=1", "--cgroup needs --cgroup-version 2", 2 },
		{ "--cgroup", "nodot=1", "FILE must be <controller>.<property>", 2 },
		{ "--parent-cgroup", "../up", "must be relative, without '.' or '..'", 2 },
		{ "--resource-limit", "cpu=1", "unknown resource (fsize, no-file)", 2 },
		{ "--resource-limit", "fsize=lots", "the value is not a number", 2 },
		{ "--bogus", NULL, "unknown option or missing value: '--bogus'", 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_bad(&cases[i]);
}

/* cgroup failures come after the jail is built: both must be gone. */
static void test_bad_cgroup(void **state)
{
	char parent[96], msg[PATH_MAX + 128], dir[PATH_MAX + 96], *log;

	(void)state;
	require_root();
	require_cgroup2();
	pathf(parent, sizeof(parent), "--parent-cgroup=%s/nested", jt.cg_parent);
	pathf(msg, sizeof(msg),
	      "cgroup file 'cgroup.nosuchfile' does not exist in '%s/%s/nested/%s'", jt.cg_mount,
	      jt.cg_parent, jt.id);
	const char *argv[] = { jt.evvm,
			       "jailer",
			       "--id",
			       jt.id,
			       "--exec-file",
			       jt.probe,
			       "--uid",
			       JUID,
			       "--gid",
			       JGID,
			       "--chroot-base-dir",
			       jt.base,
			       "--cgroup-version",
			       "2",
			       parent,
			       "--cgroup",
			       "cgroup.max.depth=3",
			       "--cgroup",
			       "cgroup.nosuchfile=1",
			       "--",
			       "probe",
			       "-",
			       NULL };
	assert_int_equal(run_cmd(argv, jt.log, JT_TIMEOUT), 1);
	log = slurp(jt.log);
	assert_contains(log, msg);
	free(log);
	assert_true(base_is_empty());
	pathf(dir, sizeof(dir), "%s/%s", jt.cg_mount, jt.cg_parent);
	assert_int_equal(access(dir, F_OK), -1); /* the whole parent chain was ours */

	argv[18] = "nosuchctl.max=1";
	assert_int_equal(run_cmd(argv, jt.log, JT_TIMEOUT), 1);
	log = slurp(jt.log);
	assert_contains(log, "controller 'nosuchctl' is not available in");
	free(log);
	assert_true(base_is_empty());
	assert_int_equal(access(dir, F_OK), -1);
}

/* A second run with the same id fails on what exists and removes only what it made. */
static void test_second_run_keeps_the_first_jail(void **state)
{
	char root[PATH_MAX], p[PATH_MAX + 64], *r;

	(void)state;
	require_root();
	r = probe_run("-", false, NULL, NULL);
	free(r);
	assert_int_equal(jailer_run("--id", jt.id, "--exec-file", jt.probe, "--uid", JUID, "--gid",
				    JGID, "--chroot-base-dir", jt.base, "--", "probe", "-", NULL),
			 1);
	r = slurp(jt.log);
	assert_contains(r, "jail-probe': File exists");
	free(r);
	jail_root(root, sizeof(root), "jail-probe");
	pathf(p, sizeof(p), "%s/jail-probe.pid", root);
	assert_int_equal(access(p, F_OK), 0);
	pathf(p, sizeof(p), "%s/dev/net/tun", root);
	assert_int_equal(access(p, F_OK), 0);
}

static void test_help_and_jailer_link(void **state)
{
	char link[128];
	const char *argv[] = { link, "--help", NULL };
	char *out;

	(void)state;
	assert_int_equal(jailer_run("--help", NULL), 0);
	out = slurp(jt.log);
	assert_contains(out, "Usage: evvm jailer --id ID --exec-file FILE --uid UID --gid GID");
	assert_contains(out, "--chroot-base-dir DIR");
	assert_contains(out, "--new-pid-ns");
	free(out);
	pathf(link, sizeof(link), "%s/jailer", jt.fix);
	assert_int_equal(symlink(jt.evvm, link), 0);
	assert_int_equal(run_cmd(argv, jt.log, JT_TIMEOUT), 0);
	out = slurp(jt.log);
	assert_contains(out, "Usage: evvm jailer");
	free(out);
}

/* A jailed `evvm run` boots the test guest (the kernel put in the jail beforehand). */

/*
 * A failure after pivot_root (the pid file exists already) still removes
 * what the run made, through the fds kept to the base and the cgroup, and
 * keeps what was there before.
 */
static void test_failure_after_pivot_cleans_up(void **state)
{
	char root[PATH_MAX], pidf[PATH_MAX + 32], parent[96], dir[PATH_MAX + 96], *log;
	const char *left[] = { "/jail-probe", "/dev/net/tun", "/dev", "/run" };

	(void)state;
	require_root();
	require_cgroup2();
	jail_root(root, sizeof(root), "jail-probe");
	pathf(pidf, sizeof(pidf), "mkdir -p %s && echo 1 > %s/jail-probe.pid", root, root);
	assert_int_equal(system(pidf), 0);
	pathf(parent, sizeof(parent), "--parent-cgroup=%s", jt.cg_parent);
	assert_int_equal(jailer_run("--id", jt.id, "--exec-file", jt.probe, "--uid", JUID, "--gid",
				    JGID, "--chroot-base-dir", jt.base, "--cgroup-version", "2",
				    "--cgroup", "cgroup.max.depth=2", parent, "--", "probe", "-",
				    NULL),
			 1);
	log = slurp(jt.log);
	assert_contains(log, "pid file '/jail-probe.pid' in the jail: File exists");
	free(log);
	pathf(pidf, sizeof(pidf), "%s/jail-probe.pid", root);
	assert_int_equal(access(pidf, F_OK), 0);
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
		pathf(dir, sizeof(dir), "%s%s", root, left[i]);
		if (!access(dir, F_OK))
			fail_msg("%s is left after the failure", dir);
	}
	pathf(dir, sizeof(dir), "%s/%s", jt.cg_mount, jt.cg_parent);
	assert_int_equal(access(dir, F_OK), -1);
}

int main(void)
{
#define JT(f) cmocka_unit_test_setup_teardown(f, jt_setup, jt_teardown)
	const struct CMUnitTest tests[] = {
		JT(test_help_and_jailer_link),
		JT(test_bad_input),
		JT(test_bad_cgroup),
		JT(test_second_run_keeps_the_first_jail),
		JT(test_failure_after_pivot_cleans_up),
	};

	return cmocka_run_group_tests_name("evvm jailer: bad input", tests, NULL, NULL);
}
