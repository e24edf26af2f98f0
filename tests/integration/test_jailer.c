// SPDX-License-Identifier: MIT
/*
 * `evvm jailer`, for real: evvm's vhost-user-rng backend jailed and served
 * through the jail's socket, its uid/gid, rlimits, netns, root and fds read
 * from /proc; a static probe (build/helpers/jail-probe) run as the exec
 * file reports from inside (a host path is unreachable); cgroup v2
 * placement; --new-pid-ns and --daemonize; a copy across file systems;
 * and every bad input with its message and nothing left behind.
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
#include "proc.h"

#include <cmocka.h>

#define JUID	 "4242"
#define JGID	 "4243"
#define TIMEOUT	 20
#define ARGS_MAX 48

struct jt {
	char base[64], fix[64], log[96];
	char evvm[PATH_MAX], probe[PATH_MAX];
	char id[32], cg_parent[64], cg_mount[PATH_MAX];
	pid_t netns_holder;
	bool tmpfs;
};

static struct jt T;

/* snprintf that fails the test instead of truncating. */
__attribute__((format(printf, 3, 4))) static void pathf(char *out, size_t size, const char *fmt,
							...)
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

static void require_root(void)
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

static void require_cgroup2(void)
{
	char why[PATH_MAX + 64];

	if (!cgroup2_usable(T.cg_mount, sizeof(T.cg_mount), why, sizeof(why))) {
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

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void cg_rmdirs(void)
{
	char p[PATH_MAX + 256];
	const char *subs[] = { "/nested/", "/", "" };

	if (!T.cg_mount[0])
		return;
	for (size_t i = 0; i < 3; i++) {
		pathf(p, sizeof(p), "%s/%s%s%s", T.cg_mount, T.cg_parent, subs[i],
		      i < 2 ? T.id : "");
		rmdir(p);
	}
	pathf(p, sizeof(p), "%s/%s/nested", T.cg_mount, T.cg_parent);
	rmdir(p);
	pathf(p, sizeof(p), "%s/%s", T.cg_mount, T.cg_parent);
	rmdir(p);
}

static int jt_setup(void **state)
{
	char buf[PATH_MAX];

	(void)state;
	memset(&T, 0, sizeof(T));
	strcpy(T.base, "/tmp/evvm-jt-base.XXXXXX");
	strcpy(T.fix, "/tmp/evvm-jt-fix.XXXXXX");
	assert_non_null(mkdtemp(T.base));
	assert_non_null(mkdtemp(T.fix));
	pathf(T.log, sizeof(T.log), "%s/jailer.log", T.fix);
	assert_non_null(realpath(evvm_bin(), T.evvm));
	pathf(buf, sizeof(buf), "%s", T.evvm);
	pathf(T.probe, sizeof(T.probe), "%s/helpers/jail-probe", dirname(buf));
	pathf(T.id, sizeof(T.id), "jt-%d", getpid());
	pathf(T.cg_parent, sizeof(T.cg_parent), "evvm-jt-%d", getpid());
	return 0;
}

static int jt_teardown(void **state)
{
	(void)state;
	if (T.netns_holder > 0) {
		kill(T.netns_holder, SIGKILL);
		waitpid(T.netns_holder, NULL, 0);
	}
	if (T.tmpfs) {
		char p[128];

		pathf(p, sizeof(p), "%s/tmpfs", T.fix);
		umount2(p, MNT_DETACH);
	}
	rm_tree(T.base);
	rm_tree(T.fix);
	cg_rmdirs();
	return 0;
}

/* Run `evvm jailer ARGS...` (NULL-terminated) to its end; output in T.log. */
static int jailer_run(const char *first, ...)
{
	const char *argv[ARGS_MAX] = { T.evvm, "jailer" };
	unsigned int n = 2;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a && n < ARGS_MAX - 1; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return run_cmd(argv, T.log, TIMEOUT);
}

static void jail_root(char *out, size_t size, const char *exec_name)
{
	pathf(out, size, "%s/%s/%s/root", T.base, exec_name, T.id);
}

static char *wait_for_text(const char *path, const char *needle, double timeout_s)
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

static pid_t jail_pid(const char *exec_name)
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
static char *proc_line(pid_t pid, const char *file, const char *key)
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

static void assert_proc_line(pid_t pid, const char *file, const char *key, const char *want)
{
	char *l = proc_line(pid, file, key);

	if (!strstr(l, want))
		fail_msg("/proc/%d/%s: '%s' has no '%s'", pid, file, l, want);
	free(l);
}

/* A child in a network namespace of its own, for --netns. */
static void netns_holder(char *path, size_t size)
{
	int p[2];
	char c;

	assert_int_equal(pipe(p), 0);
	T.netns_holder = fork();
	assert_true(T.netns_holder >= 0);
	if (!T.netns_holder) {
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
	pathf(path, size, "/proc/%d/ns/net", T.netns_holder);
}

static bool base_is_empty(void)
{
	char cmd[160];

	pathf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", T.base);
	return system(cmd) == 0;
}

/* One vhost-user GET_FEATURES round trip on @path: the backend serves it. */
static void vhost_features(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint32_t req[3] = { 1 /* GET_FEATURES */, 1 /* version */, 0 };
	uint8_t reply[20];
	uint64_t features;
	int fd = -1;

	pathf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 500; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(fd);
		fd = -1;
		usleep(20000);
	}
	if (fd < 0)
		fail_msg("no backend listening on %s: %s", path, slurp(T.log));
	assert_int_equal(write(fd, req, sizeof(req)), sizeof(req));
	assert_int_equal(recv(fd, reply, sizeof(reply), MSG_WAITALL), sizeof(reply));
	memcpy(&features, reply + 12, 8);
	assert_true(features & (1ull << 32)); /* VIRTIO_F_VERSION_1 */
	close(fd);
}

static void assert_node(const char *root, const char *path, unsigned int maj, unsigned int min)
{
	char p[PATH_MAX + 64];
	struct stat st;

	pathf(p, sizeof(p), "%s%s", root, path);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), maj);
	assert_int_equal(minor(st.st_rdev), min);
	assert_int_equal(st.st_uid, atoi(JUID));
	assert_int_equal(st.st_gid, atoi(JGID));
}

static void assert_jail_layout(const char *root)
{
	char p[PATH_MAX + 64];
	struct stat st;

	assert_node(root, "/dev/net/tun", 10, 200);
	assert_node(root, "/dev/urandom", 1, 9);
	pathf(p, sizeof(p), "%s/dev/kvm", root);
	assert_int_equal(access(p, F_OK) == 0, access("/dev/kvm", F_OK) == 0);
	assert_int_equal(stat(root, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, atoi(JUID));
	pathf(p, sizeof(p), "%s/lib64/ld-linux-x86-64.so.2", root);
	assert_int_equal(access(p, R_OK), 0); /* evvm is dynamic: its loader came along */
}

/* No fd of @pid but 0-2 and its own anon/socket fds points at a file of the host. */
static void assert_no_leaked_fd(pid_t pid, const char *leaked)
{
	char p[64], target[PATH_MAX];

	for (int fd = 3; fd < 64; fd++) {
		ssize_t n;

		pathf(p, sizeof(p), "/proc/%d/fd/%d", pid, fd);
		n = readlink(p, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, leaked) || target[0] == '/')
			fail_msg("jailed process has fd %d -> %s", fd, target);
	}
}

static void test_rng_backend_jailed(void **state)
{
	char netns[64], root[PATH_MAX], sock[PATH_MAX + 16], leak[128], want[64];
	const char *argv[] = { T.evvm,
			       "jailer",
			       "--id",
			       T.id,
			       "--exec-file",
			       T.evvm,
			       "--uid",
			       JUID,
			       "--gid",
			       JGID,
			       "--chroot-base-dir",
			       T.base,
			       "--netns",
			       netns,
			       "--resource-limit",
			       "fsize=1048576",
			       "--resource-limit",
			       "no-file=512",
			       "--",
			       "vhost-user-rng",
			       "--socket",
			       "/run/rng.sock",
			       NULL };
	struct stat a, b;
	int leak_fd;
	pid_t pid;

	(void)state;
	require_root();
	netns_holder(netns, sizeof(netns));
	pathf(leak, sizeof(leak), "%s/leak", T.fix);
	leak_fd = open(leak, O_RDWR | O_CREAT, 0600); /* no O_CLOEXEC: the jailer must close it */
	assert_true(leak_fd >= 0);
	pid = spawn(argv, T.log);
	close(leak_fd);
	jail_root(root, sizeof(root), "evvm");
	pathf(sock, sizeof(sock), "%s/run/rng.sock", root);
	vhost_features(sock);
	assert_int_equal(jail_pid("evvm"), pid); /* exec'd in place */
	assert_proc_line(pid, "status", "Uid:", "\t" JUID "\t" JUID "\t" JUID "\t" JUID);
	assert_proc_line(pid, "status", "Gid:", "\t" JGID "\t" JGID "\t" JGID "\t" JGID);
	{
		char *g = proc_line(pid, "status", "Groups:");

		assert_string_equal(g + strspn(g + 7, " \t") + 7, "");
		free(g);
	}
	assert_proc_line(pid, "limits", "Max file size", "1048576              1048576");
	assert_proc_line(pid, "limits", "Max open files", "512                  512");
	pathf(want, sizeof(want), "/proc/%d/ns/net", pid);
	assert_int_equal(stat(want, &a), 0);
	assert_int_equal(stat(netns, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	pathf(want, sizeof(want), "/proc/%d/root", pid);
	assert_int_equal(stat(want, &a), 0);
	assert_int_equal(stat(root, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	assert_no_leaked_fd(pid, leak);
	assert_jail_layout(root);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 10), 128 + SIGKILL);
}

/* Run the probe jailed with @extra flags; its report is read from @out in the jail. */
static char *probe_run(const char *out, bool sleep_after, const char *f1, const char *f2)
{
	char marker[160], rel[160], root[PATH_MAX], path[PATH_MAX + 64];
	const char *argv[ARGS_MAX] = {
		T.evvm,	 "jailer", "--id",  T.id, "--exec-file",       T.probe,
		"--uid", JUID,	   "--gid", JGID, "--chroot-base-dir", T.base
	};
	unsigned int n = 12;
	int st;

	pathf(marker, sizeof(marker), "%s/outside-marker", T.fix);
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
	st = run_cmd(argv, T.log, TIMEOUT);
	if (st)
		fail_msg("jailer exited %d: %s", st, slurp(T.log));
	jail_root(root, sizeof(root), "jail-probe");
	pathf(path, sizeof(path), "%s%s", root, out);
	return wait_for_text(strcmp(out, "-") ? path : T.log, "done\n", 10);
}

static void assert_probe_confined(const char *r)
{
	char line[256];

	assert_contains(r, "uid=" JUID " gid=" JGID " euid=" JUID " egid=" JGID);
	assert_contains(r, "groups=0 env=0\nfds:\n");
	pathf(line, sizeof(line), "open %s/outside-marker: No such file or directory\n", T.fix);
	assert_contains(r, line);
	pathf(line, sizeof(line), "open ../../../../../..%s/outside-marker: No such file", T.fix);
	assert_contains(r, line);
	assert_contains(r, "open /jail-probe: reached\n");
	assert_contains(r, "done\n");
}

static void test_probe_sees_only_the_jail(void **state)
{
	char *r;

	(void)state;
	require_root();
	r = probe_run("-", false, NULL, NULL);
	assert_probe_confined(r);
	free(r);
}

static void kill_jailed(const char *exec_name)
{
	pid_t pid = jail_pid(exec_name);

	kill(pid, SIGKILL);
	for (int i = 0; i < 200 && !kill(pid, 0); i++)
		usleep(10000);
}

static void test_new_pid_ns(void **state)
{
	char *r, want[64];
	pid_t pid;

	(void)state;
	require_root();
	r = probe_run("/run/out", true, "--new-pid-ns", NULL);
	assert_probe_confined(r);
	assert_contains(r, " pid=1 ");
	pid = jail_pid("jail-probe");
	pathf(want, sizeof(want), "\t%d\t1", pid); /* NSpid: host pid, then 1 */
	assert_proc_line(pid, "status", "NSpid:", want);
	free(r);
	kill_jailed("jail-probe");
}

static void test_daemonize(void **state)
{
	char *r, p[64], target[64], want[64];
	pid_t pid;
	ssize_t n;

	(void)state;
	require_root();
	r = probe_run("/run/out", true, "--daemonize", NULL);
	assert_probe_confined(r);
	pid = jail_pid("jail-probe");
	/* setsid(), then a second fork (so it is no session leader, as Firecracker's). */
	pathf(want, sizeof(want), " pid=%d sid=", pid);
	assert_contains(r, want);
	assert_true(getsid(pid) > 0 && getsid(pid) != getsid(0) && getsid(pid) != pid);
	for (int fd = 0; fd < 3; fd++) {
		pathf(p, sizeof(p), "/proc/%d/fd/%d", pid, fd);
		n = readlink(p, target, sizeof(target) - 1);
		assert_true(n > 0);
		target[n] = '\0';
		assert_string_equal(target, "/dev/null");
	}
	free(r);
	kill_jailed("jail-probe");
}

/* On another file system the exec file is copied, owned by uid:gid. */
static void test_copy_across_file_systems(void **state)
{
	char base[128], p[PATH_MAX], *r;
	struct stat st;

	(void)state;
	require_root();
	pathf(base, sizeof(base), "%s/tmpfs", T.fix);
	assert_int_equal(mkdir(base, 0755), 0);
	assert_int_equal(mount("tmpfs", base, "tmpfs", 0, "size=64m"), 0);
	T.tmpfs = true;
	rmdir(T.base);
	pathf(T.base, sizeof(T.base), "%s", base);
	r = probe_run("-", false, NULL, NULL);
	assert_probe_confined(r);
	free(r);
	pathf(p, sizeof(p), "%s/jail-probe/%s/root/jail-probe", base, T.id);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, atoi(JUID));
	assert_int_equal(st.st_gid, atoi(JGID));
}

static void test_cgroup_made_and_joined(void **state)
{
	char parent[128], val[PATH_MAX + 128], want[160], *r, *s;
	pid_t pid;

	(void)state;
	require_root();
	require_cgroup2();
	pathf(parent, sizeof(parent), "--parent-cgroup=%s/nested", T.cg_parent);
	{
		const char *argv[] = { T.evvm,
				       "jailer",
				       "--id",
				       T.id,
				       "--exec-file",
				       T.probe,
				       "--uid",
				       JUID,
				       "--gid",
				       JGID,
				       "--chroot-base-dir",
				       T.base,
				       "--cgroup-version",
				       "2",
				       "--cgroup",
				       "cgroup.max.descendants=2",
				       parent,
				       "--",
				       "probe",
				       "/run/out",
				       "--sleep",
				       NULL };

		pid = spawn(argv, T.log); /* the probe, once exec'd */
	}
	assert_int_equal(jail_pid("jail-probe"), pid);
	pathf(want, sizeof(want), "0::/%s/nested/%s", T.cg_parent, T.id);
	assert_proc_line(pid, "cgroup", "0::", want);
	pathf(val, sizeof(val), "%s/%s/nested/%s/cgroup.max.descendants", T.cg_mount, T.cg_parent,
	      T.id);
	s = slurp(val);
	assert_string_equal(s, "2\n");
	free(s);
	pathf(val, sizeof(val), "%s/jail-probe/%s/root/run/out", T.base, T.id);
	r = wait_for_text(val, "done\n", 10);
	assert_contains(r, "uid=" JUID);
	free(r);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 10), 128 + SIGKILL);
}

/* Firecracker's v2 rule without --cgroup: join <parent> if it exists, make nothing. */
static void test_cgroup_parent_joined(void **state)
{
	char parent[PATH_MAX + 64], want[96];
	pid_t pid;

	(void)state;
	require_root();
	require_cgroup2();
	pathf(parent, sizeof(parent), "%s/%s", T.cg_mount, T.cg_parent);
	assert_int_equal(mkdir(parent, 0755), 0);
	{
		const char *argv[] = { T.evvm,
				       "jailer",
				       "--id",
				       T.id,
				       "--exec-file",
				       T.probe,
				       "--uid",
				       JUID,
				       "--gid",
				       JGID,
				       "--chroot-base-dir",
				       T.base,
				       "--cgroup-version",
				       "2",
				       "--parent-cgroup",
				       T.cg_parent,
				       "--",
				       "probe",
				       "/run/out",
				       "--sleep",
				       NULL };

		pid = spawn(argv, T.log);
	}
	assert_int_equal(jail_pid("jail-probe"), pid);
	pathf(want, sizeof(want), "0::/%s", T.cg_parent);
	assert_proc_line(pid, "cgroup", "0::", want);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 10), 128 + SIGKILL);
}

struct bad_case {
	const char *flag, *value; /* replaces that flag's value (or adds flag value) */
	const char *msg;
	int status;
};

/* Run the probe jail with one flag made bad; it must fail, say why, leave nothing. */
static void run_bad(const struct bad_case *c)
{
	const char *argv[ARGS_MAX] = { "--id",	T.id, "--exec-file",	   T.probe, "--uid", JUID,
				       "--gid", JGID, "--chroot-base-dir", T.base };
	unsigned int n = 10;
	bool replaced = false;
	const char *full[ARGS_MAX + 2] = { T.evvm, "jailer" };
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
	st = run_cmd(full, T.log, TIMEOUT);
	log = slurp(T.log);
	if (st != c->status || !strstr(log, c->msg))
		fail_msg("%s %s: status %d (want %d), output '%s' (want '%s')", c->flag,
			 c->value ? c->value : "", st, c->status, log, c->msg);
	free(log);
	if (!base_is_empty())
		fail_msg("%s %s: the chroot base %s is not empty after the failure", c->flag,
			 c->value ? c->value : "", T.base);
}

static void test_bad_input(void **state)
{
	char file[128], noexec[128], script[128], notns[128], msg[3][256];
	char id65[66];

	(void)state;
	require_root();
	pathf(file, sizeof(file), "%s/a-file", T.fix);
	pathf(noexec, sizeof(noexec), "%s/noexec", T.fix);
	pathf(script, sizeof(script), "%s/script", T.fix);
	pathf(notns, sizeof(notns), "%s/not-a-netns", T.fix);
	close(open(file, O_WRONLY | O_CREAT, 0644));
	close(open(notns, O_WRONLY | O_CREAT, 0644));
	assert_int_equal(system("true"), 0);
	{
		char cmd[512];

		pathf(cmd, sizeof(cmd),
		      "cp %s %s && chmod 0644 %s && printf '#!/bin/sh\\n' > %s "
		      "&& chmod 0755 %s",
		      T.probe, noexec, noexec, script, script);
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
	pathf(parent, sizeof(parent), "--parent-cgroup=%s/nested", T.cg_parent);
	pathf(msg, sizeof(msg),
	      "cgroup file 'cgroup.nosuchfile' does not exist in '%s/%s/nested/%s'", T.cg_mount,
	      T.cg_parent, T.id);
	const char *argv[] = { T.evvm,
			       "jailer",
			       "--id",
			       T.id,
			       "--exec-file",
			       T.probe,
			       "--uid",
			       JUID,
			       "--gid",
			       JGID,
			       "--chroot-base-dir",
			       T.base,
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
	assert_int_equal(run_cmd(argv, T.log, TIMEOUT), 1);
	log = slurp(T.log);
	assert_contains(log, msg);
	free(log);
	assert_true(base_is_empty());
	pathf(dir, sizeof(dir), "%s/%s", T.cg_mount, T.cg_parent);
	assert_int_equal(access(dir, F_OK), -1); /* the whole parent chain was ours */

	argv[18] = "nosuchctl.max=1";
	assert_int_equal(run_cmd(argv, T.log, TIMEOUT), 1);
	log = slurp(T.log);
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
	assert_int_equal(jailer_run("--id", T.id, "--exec-file", T.probe, "--uid", JUID, "--gid",
				    JGID, "--chroot-base-dir", T.base, "--", "probe", "-", NULL),
			 1);
	r = slurp(T.log);
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
	out = slurp(T.log);
	assert_contains(out, "Usage: evvm jailer --id ID --exec-file FILE --uid UID --gid GID");
	assert_contains(out, "--chroot-base-dir DIR");
	assert_contains(out, "--new-pid-ns");
	free(out);
	pathf(link, sizeof(link), "%s/jailer", T.fix);
	assert_int_equal(symlink(T.evvm, link), 0);
	assert_int_equal(run_cmd(argv, T.log, TIMEOUT), 0);
	out = slurp(T.log);
	assert_contains(out, "Usage: evvm jailer");
	free(out);
}

/* A jailed `evvm run` boots the test guest (the kernel put in the jail beforehand). */
static void test_boots_the_test_guest(void **state)
{
	char root[PATH_MAX], p[PATH_MAX + 32], *out;

	(void)state;
	require_root();
	require_kvm();
	jail_root(root, sizeof(root), "evvm");
	pathf(p, sizeof(p), "mkdir -p %s && cp %s %s/guest.elf", root, guest_elf(), root);
	assert_int_equal(system(p), 0);
	assert_int_equal(jailer_run("--id", T.id, "--exec-file", T.evvm, "--uid", JUID, "--gid",
				    JGID, "--chroot-base-dir", T.base, "--", "run", "--kernel",
				    "/guest.elf", "--cmdline", "exit=7", NULL),
			 7);
	out = slurp(T.log);
	assert_contains(out, "evvm-guest: booted, cmdline \"exit=7\"");
	free(out);
}

int main(void)
{
#define JT(f) cmocka_unit_test_setup_teardown(f, jt_setup, jt_teardown)
	const struct CMUnitTest tests[] = {
		JT(test_help_and_jailer_link),
		JT(test_rng_backend_jailed),
		JT(test_probe_sees_only_the_jail),
		JT(test_new_pid_ns),
		JT(test_daemonize),
		JT(test_copy_across_file_systems),
		JT(test_cgroup_made_and_joined),
		JT(test_cgroup_parent_joined),
		JT(test_bad_input),
		JT(test_bad_cgroup),
		JT(test_second_run_keeps_the_first_jail),
		JT(test_boots_the_test_guest),
	};

	return cmocka_run_group_tests_name("evvm jailer", tests, NULL, NULL);
}
