// SPDX-License-Identifier: MIT
/* What tests/integration/test_jailer*.c share: a chroot base, the probe, cgroup2, /proc. */
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

#include <cmocka.h>

#include "jailtest.h"
#include "proc.h"

struct jt jt;

void pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

static const char *evvm_bin(void)
{
	const char *e = getenv("EVVM");

	return e && *e ? e : "build/evvm";
}

void require_root(void)
{
	if (geteuid() != 0) {
		print_message("skipped: the jailer needs root (euid %u): it mounts, pivots, "
			      "makes device nodes and changes uid\n",
			      geteuid());
		skip();
	}
}

/* The cgroup2 mount, if a cgroup can be made in it; else why not in @why. */
static bool cgroup2_usable(char *mount, size_t size, char *why, size_t wsize)
{
	char line[8192], dev[256], dir[4096], type[64], probe[PATH_MAX + 32];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	pathf(why, wsize, "no cgroup2 file system is mounted here");
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
			!strcmp(type, "cgroup2");
	if (f)
		fclose(f);
	if (!found)
		return false;
	pathf(mount, size, "%s", dir);
	pathf(probe, sizeof(probe), "%s/evvm-jt-probe-%d", dir, getpid());
	if (mkdir(probe, 0755)) {
		pathf(why, wsize, "cgroup2 at %s is not writable: %s", dir, strerror(errno));
		return false;
	}
	rmdir(probe);
	return true;
}

void require_cgroup2(void)
{
	char why[PATH_MAX + 64];

	if (!cgroup2_usable(jt.cg_mount, sizeof(jt.cg_mount), why, sizeof(why))) {
		print_message("skipped: %s\n", why);
		skip();
	}
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void cg_rmdirs(void)
{
	char p[PATH_MAX + 256];
	const char *subs[] = { "/nested/", "/", "" };

	if (!jt.cg_mount[0])
		return;
	for (size_t i = 0; i < 3; i++) {
		pathf(p, sizeof(p), "%s/%s%s%s", jt.cg_mount, jt.cg_parent, subs[i],
		      i < 2 ? jt.id : "");
		rmdir(p);
	}
	pathf(p, sizeof(p), "%s/%s/nested", jt.cg_mount, jt.cg_parent);
	rmdir(p);
	pathf(p, sizeof(p), "%s/%s", jt.cg_mount, jt.cg_parent);
	rmdir(p);
}

int jt_setup(void **state)
{
	char buf[PATH_MAX];

	(void)state;
	memset(&jt, 0, sizeof(jt));
	strcpy(jt.base, "/tmp/evvm-jt-base.XXXXXX");
	strcpy(jt.fix, "/tmp/evvm-jt-fix.XXXXXX");
	assert_non_null(mkdtemp(jt.base));
	assert_non_null(mkdtemp(jt.fix));
	pathf(jt.log, sizeof(jt.log), "%s/jailer.log", jt.fix);
	assert_non_null(realpath(evvm_bin(), jt.evvm));
	pathf(buf, sizeof(buf), "%s", jt.evvm);
	pathf(jt.probe, sizeof(jt.probe), "%s/helpers/jail-probe", dirname(buf));
	pathf(jt.id, sizeof(jt.id), "jt-%d", getpid());
	pathf(jt.cg_parent, sizeof(jt.cg_parent), "evvm-jt-%d", getpid());
	return 0;
}

int jt_teardown(void **state)
{
	(void)state;
	if (jt.netns_holder > 0) {
		kill(jt.netns_holder, SIGKILL);
		waitpid(jt.netns_holder, NULL, 0);
	}
	if (jt.tmpfs) {
		char p[128];

		pathf(p, sizeof(p), "%s/tmpfs", jt.fix);
		umount2(p, MNT_DETACH);
	}
	rm_tree(jt.base);
	rm_tree(jt.fix);
	cg_rmdirs();
	return 0;
}

/* Run `evvm jailer ARGS...` (NULL-terminated) to its end; output in jt.log. */
int jailer_run(const char *first, ...)
{
	const char *argv[JT_ARGS_MAX] = { jt.evvm, "jailer" };
	unsigned int n = 2;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a && n < JT_ARGS_MAX - 1; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return run_cmd(argv, jt.log, JT_TIMEOUT);
}

void jail_root(char *out, size_t size, const char *exec_name)
{
	pathf(out, size, "%s/%s/%s/root", jt.base, exec_name, jt.id);
}

char *wait_for_text(const char *path, const char *needle, double timeout_s)
{
	double end = now_s() + timeout_s;

	for (;;) {
		char *s = slurp(path);

		if (strstr(s, needle) || now_s() > end)
			return s;
		free(s);
		usleep(10000);
	}
}

pid_t jail_pid(const char *exec_name)
{
	char path[PATH_MAX + 64], root[PATH_MAX];
	char *s;
	pid_t pid;

	jail_root(root, sizeof(root), exec_name);
	pathf(path, sizeof(path), "%s/%s.pid", root, exec_name);
	for (int i = 0; i < 500 && access(path, F_OK); i++)
		usleep(10000);
	s = slurp(path);
	pid = atoi(s);
	free(s);
	assert_true(pid > 0);
	return pid;
}

/* The line of /proc/@pid/@file that starts with @key, or "" (malloc'd). */
char *proc_line(pid_t pid, const char *file, const char *key)
{
	char path[64], *s, *l, *r;

	pathf(path, sizeof(path), "/proc/%d/%s", pid, file);
	s = slurp(path);
	for (l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, strlen(key)))
			break;
	r = strndup(l && *l ? l : "", l && *l ? strcspn(l, "\n") : 0);
	free(s);
	return r;
}

void assert_proc_line(pid_t pid, const char *file, const char *key, const char *want)
{
	char *l = proc_line(pid, file, key);

	if (!strstr(l, want))
		fail_msg("/proc/%d/%s: '%s' has no '%s'", pid, file, l, want);
	free(l);
}

/* A child in a network namespace of its own, for --netns. */
void netns_holder(char *path, size_t size)
{
	int p[2];
	char c;

	assert_int_equal(pipe(p), 0);
	jt.netns_holder = fork();
	assert_true(jt.netns_holder >= 0);
	if (!jt.netns_holder) {
		c = unshare(CLONE_NEWNET) ? 'n' : 'y';
		if (write(p[1], &c, 1) != 1 || c != 'y')
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 'y');
	pathf(path, size, "/proc/%d/ns/net", jt.netns_holder);
}

bool base_is_empty(void)
{
	char cmd[160];

	pathf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", jt.base);
	return system(cmd) == 0;
}

/* One vhost-user GET_FEATURES round trip on @path: the backend serves it. */
char *probe_run(const char *out, bool sleep_after, const char *f1, const char *f2)
{
	char marker[160], rel[160], root[PATH_MAX], path[PATH_MAX + 64];
	const char *argv[JT_ARGS_MAX] = {
		jt.evvm, "jailer", "--id",  jt.id, "--exec-file",	jt.probe,
		"--uid", JUID,	   "--gid", JGID,  "--chroot-base-dir", jt.base
	};
	unsigned int n = 12;
	int st;

	pathf(marker, sizeof(marker), "%s/outside-marker", jt.fix);
	pathf(rel, sizeof(rel), "../../../../../..%s", marker);
	close(open(marker, O_WRONLY | O_CREAT, 0644));
	if (f1)
		argv[n++] = f1;
	if (f2)
		argv[n++] = f2;
	argv[n++] = "--";
	argv[n++] = "probe";
	argv[n++] = out;
	if (sleep_after)
		argv[n++] = "--sleep";
	argv[n++] = marker;
	argv[n++] = rel;
	argv[n++] = "/jail-probe";
	argv[n] = NULL;
	st = run_cmd(argv, jt.log, JT_TIMEOUT);
	if (st)
		fail_msg("jailer exited %d: %s", st, slurp(jt.log));
	jail_root(root, sizeof(root), "jail-probe");
	pathf(path, sizeof(path), "%s%s", root, out);
	return wait_for_text(strcmp(out, "-") ? path : jt.log, "done\n", 10);
}
