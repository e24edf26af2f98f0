// SPDX-License-Identifier: MIT
/*
 * `evvm jailer`, for real: evvm's vhost-user-rng backend jailed and served
 * through the jail's socket, its uid/gid, rlimits, netns, root and fds read
 * from /proc; a static probe (build/helpers/jail-probe) run as the exec
 * file reports from inside (a host path is unreachable); cgroup v2
 * placement; --new-pid-ns and --daemonize; a copy across file systems; a
 * jailed `evvm run` booting the test guest (with KVM); `evvm firecracker`'s
 * API served from a jail. Bad input:
 * test_jailer_input.c.
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

#include "api_client.h"
#include "harness.h"
#include "jailtest.h"
#include "proc.h"

#include <cmocka.h>

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
		fail_msg("no backend listening on %s: %s", path, slurp(jt.log));
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
	const char *argv[] = { jt.evvm,
			       "jailer",
			       "--id",
			       jt.id,
			       "--exec-file",
			       jt.evvm,
			       "--uid",
			       JUID,
			       "--gid",
			       JGID,
			       "--chroot-base-dir",
			       jt.base,
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
	pathf(leak, sizeof(leak), "%s/leak", jt.fix);
	leak_fd = open(leak, O_RDWR | O_CREAT, 0600); /* no O_CLOEXEC: the jailer must close it */
	assert_true(leak_fd >= 0);
	pid = spawn(argv, jt.log);
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
static void assert_probe_confined(const char *r)
{
	char line[256];

	assert_contains(r, "uid=" JUID " gid=" JGID " euid=" JUID " egid=" JGID);
	assert_contains(r, "groups=0 env=0\nfds:\n");
	pathf(line, sizeof(line), "open %s/outside-marker: No such file or directory\n", jt.fix);
	assert_contains(r, line);
	pathf(line, sizeof(line), "open ../../../../../..%s/outside-marker: No such file", jt.fix);
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
	pathf(base, sizeof(base), "%s/tmpfs", jt.fix);
	assert_int_equal(mkdir(base, 0755), 0);
	assert_int_equal(mount("tmpfs", base, "tmpfs", 0, "size=64m"), 0);
	jt.tmpfs = true;
	rmdir(jt.base);
	pathf(jt.base, sizeof(jt.base), "%s", base);
	r = probe_run("-", false, NULL, NULL);
	assert_probe_confined(r);
	free(r);
	pathf(p, sizeof(p), "%s/jail-probe/%s/root/jail-probe", base, jt.id);
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
	pathf(parent, sizeof(parent), "--parent-cgroup=%s/nested", jt.cg_parent);
	{
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
				       "--cgroup",
				       "cgroup.max.descendants=2",
				       parent,
				       "--",
				       "probe",
				       "/run/out",
				       "--sleep",
				       NULL };

		pid = spawn(argv, jt.log); /* the probe, once exec'd */
	}
	assert_int_equal(jail_pid("jail-probe"), pid);
	pathf(want, sizeof(want), "0::/%s/nested/%s", jt.cg_parent, jt.id);
	assert_proc_line(pid, "cgroup", "0::", want);
	pathf(val, sizeof(val), "%s/%s/nested/%s/cgroup.max.descendants", jt.cg_mount, jt.cg_parent,
	      jt.id);
	s = slurp(val);
	assert_string_equal(s, "2\n");
	free(s);
	pathf(val, sizeof(val), "%s/jail-probe/%s/root/run/out", jt.base, jt.id);
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
	pathf(parent, sizeof(parent), "%s/%s", jt.cg_mount, jt.cg_parent);
	assert_int_equal(mkdir(parent, 0755), 0);
	{
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
				       "--parent-cgroup",
				       jt.cg_parent,
				       "--",
				       "probe",
				       "/run/out",
				       "--sleep",
				       NULL };

		pid = spawn(argv, jt.log);
	}
	assert_int_equal(jail_pid("jail-probe"), pid);
	pathf(want, sizeof(want), "0::/%s", jt.cg_parent);
	assert_proc_line(pid, "cgroup", "0::", want);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 10), 128 + SIGKILL);
}

static void test_boots_the_test_guest(void **state)
{
	char root[PATH_MAX], p[PATH_MAX + 32], *out;

	(void)state;
	require_root();
	require_kvm();
	jail_root(root, sizeof(root), "evvm");
	pathf(p, sizeof(p), "mkdir -p %s && cp %s %s/guest.elf", root, guest_elf(), root);
	assert_int_equal(system(p), 0);
	assert_int_equal(jailer_run("--id", jt.id, "--exec-file", jt.evvm, "--uid", JUID, "--gid",
				    JGID, "--chroot-base-dir", jt.base, "--", "run", "--kernel",
				    "/guest.elf", "--cmdline", "exit=7", NULL),
			 7);
	out = slurp(jt.log);
	assert_contains(out, "evvm-guest: booted, cmdline \"exit=7\"");
	free(out);
}

/*
 * `evvm firecracker` jailed: Firecracker's arguments after the word, and
 * its API (libevent's evhttp, which evvm dlopen()s, came into the jail by
 * evvm's dlopen note) answering through the jail's socket.
 */
static void test_firecracker_api_jailed(void **state)
{
	char root[PATH_MAX], sock[PATH_MAX + 16], *body = NULL;
	const char *argv[] = { jt.evvm,
			       "jailer",
			       "--id",
			       jt.id,
			       "--exec-file",
			       jt.evvm,
			       "--uid",
			       JUID,
			       "--gid",
			       JGID,
			       "--chroot-base-dir",
			       jt.base,
			       "--",
			       "firecracker",
			       "--api-sock",
			       "/run/fc.sock",
			       NULL };
	int status = -1;
	pid_t pid;

	(void)state;
	require_root();
	pid = spawn(argv, jt.log);
	jail_root(root, sizeof(root), "evvm");
	pathf(sock, sizeof(sock), "%s/run/fc.sock", root);
	for (int i = 0; i < 500 && status != 200; i++) {
		status = api_call(sock, "GET", "/", NULL, &body);
		if (status != 200) {
			free(body);
			body = NULL;
			usleep(20000);
		}
	}
	if (status != 200)
		fail_msg("no API through the jail: %s", slurp(jt.log));
	pathf(root, sizeof(root), "\"id\":\"%s\"", jt.id); /* --id came from the jailer */
	assert_contains(body, root);
	free(body);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 10), 128 + SIGKILL);
}

int main(void)
{
#define JT(f) cmocka_unit_test_setup_teardown(f, jt_setup, jt_teardown)
	const struct CMUnitTest tests[] = {
		JT(test_rng_backend_jailed),
		JT(test_probe_sees_only_the_jail),
		JT(test_new_pid_ns),
		JT(test_daemonize),
		JT(test_copy_across_file_systems),
		JT(test_cgroup_made_and_joined),
		JT(test_cgroup_parent_joined),
		JT(test_firecracker_api_jailed),
		JT(test_boots_the_test_guest),
	};

	return cmocka_run_group_tests_name("evvm jailer", tests, NULL, NULL);
}
