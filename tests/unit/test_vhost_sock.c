// SPDX-License-Identifier: MIT
/*
 * Who may use a vhost-user backend's socket (vhost/backend_sock.c): the
 * socket's mode and group whatever the umask, and the SO_PEERCRED check of
 * each frontend. Frontends of other users are children of this process
 * that drop to them (root only: switching uid needs it). The backend is a
 * thread of this process, in a temporary directory others may traverse.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "capture.h"
#include "cli.h"
#include "../../vhost/backend.h"
#include "../../vhost/vhost_user.h"

#include <cmocka.h>

#define OTHER_UID 65534 /* nobody */
#define OTHER_GID 65533
#define SOCK_GID  65534 /* nogroup: the --socket-group in these tests */

/* How a frontend's attempt ended (a child's exit status). */
enum fe_result { FE_SERVED, FE_DROPPED, FE_EACCES, FE_ERROR };

struct env {
	char dir[64];
	char sock[128];
	struct evvm_virtio_dev *dev;
	struct vhost_backend *b;
	pthread_t thread;
};

static void *backend_main(void *arg)
{
	struct env *e = arg;

	vhost_backend_run(e->b);
	return NULL;
}

/* A backend on @e->sock, created under umask 000; @gid < 0: no socket group. */
static struct env *env_start(long gid)
{
	struct env *e = calloc(1, sizeof(*e));
	struct vhost_backend_config cfg = { 0 };
	mode_t old;
	int err;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/evvm-vus-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(chmod(e->dir, 0711), 0); /* others may reach the socket's name */
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
	assert_int_equal(rng_create("rng0", &e->dev), 0);
	cfg.socket_path = e->sock;
	cfg.dev = e->dev;
	cfg.socket_group_set = gid >= 0;
	cfg.socket_gid = gid >= 0 ? (gid_t)gid : 0;
	old = umask(0);
	err = vhost_backend_create(&cfg, &e->b);
	umask(old);
	assert_int_equal(err, 0);
	assert_int_equal(pthread_create(&e->thread, NULL, backend_main, e), 0);
	return e;
}

static void env_stop(struct env *e)
{
	vhost_backend_stop(e->b);
	pthread_join(e->thread, NULL);
	vhost_backend_destroy(e->b);
	virtio_dev_destroy(e->dev);
	assert_int_equal(rmdir(e->dir), 0); /* nothing left: no socket, no private directory */
	free(e);
}

/*
 * Connect to @path and ask GET_FEATURES; async-signal-safe (it runs in
 * forked children of this multithreaded process).
 */
static enum fe_result fe_try(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhost_user_hdr h = { .request = VHOST_USER_GET_FEATURES,
				    .flags = VHOST_USER_VERSION };
	struct {
		struct vhost_user_hdr h;
		uint64_t features;
	} __attribute__((packed)) reply;
	struct pollfd p = { .events = POLLIN };
	ssize_t n;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return FE_ERROR;
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return errno == EACCES ? FE_EACCES : FE_ERROR;
	}
	/* A refused peer may see its write fail, or its read end. */
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		close(fd);
		return FE_DROPPED;
	}
	p.fd = fd;
	if (poll(&p, 1, 5000) != 1) {
		close(fd);
		return FE_ERROR;
	}
	n = recv(fd, &reply, sizeof(reply), MSG_WAITALL);
	close(fd);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return FE_DROPPED;
	if (n == (ssize_t)sizeof(reply) && reply.h.request == VHOST_USER_GET_FEATURES &&
	    reply.h.size == sizeof(uint64_t))
		return FE_SERVED;
	return FE_ERROR;
}

/* fe_try() in a child running as @uid, primary group @gid, supplementary @groups. */
static enum fe_result fe_try_as(const char *path, uid_t uid, gid_t gid, const gid_t *groups,
				size_t ngroups)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(ngroups, groups) || setgid(gid) || setuid(uid))
			_exit(FE_ERROR + 1);
		_exit(fe_try(path));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) <= FE_ERROR);
	return (enum fe_result)WEXITSTATUS(status);
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip(); /* switching to another uid needs root */
}

/* Entries of @dir other than "sock": nothing else is left behind. */
static int stray_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "sock"))
			n++;
	closedir(d);
	return n;
}

static void test_owner_only(void **state)
{
	struct env *e = env_start(-1);
	struct stat st;

	(void)state;
	assert_int_equal(lstat(e->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600); /* umask was 000 */
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(stray_entries(e->dir), 0);
	assert_int_equal(fe_try(e->sock), FE_SERVED);
	env_stop(e);
}

/* A path near sun_path's limit, in a long directory: mode as short ones. */
static void test_long_path(void **state)
{
	struct evvm_virtio_dev *dev;
	struct vhost_backend *b;
	struct vhost_backend_config cfg = { 0 };
	char dir[128], sub[128], path[160];
	struct stat st;
	mode_t old;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/evvm-vus-XXXXXX");
	assert_non_null(mkdtemp(dir));
	/* "<dir>/xxx...x/s": 100 bytes, in a directory of 98. */
	assert_true(strlen(dir) < 90);
	memset(sub, 'x', 98);
	sub[98] = 0;
	memcpy(sub, dir, strlen(dir));
	sub[strlen(dir)] = '/';
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/s", sub);
	assert_int_equal(strlen(path), 100);
	assert_int_equal(rng_create("rng0", &dev), 0);
	cfg.socket_path = path;
	cfg.dev = dev;
	old = umask(0);
	assert_int_equal(vhost_backend_create(&cfg, &b), 0);
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	vhost_backend_destroy(b);
	virtio_dev_destroy(dev);
	assert_int_equal(rmdir(sub), 0); /* nothing left */
	assert_int_equal(rmdir(dir), 0);
}

static void test_other_uid_refused(void **state)
{
	struct env *e;
	char log[4096], want[128];

	(void)state;
	need_root();
	e = env_start(-1);
	/* The file system keeps it out ... */
	assert_int_equal(fe_try_as(e->sock, OTHER_UID, OTHER_GID, NULL, 0), FE_EACCES);
	/* ... and so does SO_PEERCRED, if someone opens the socket up. */
	assert_int_equal(chmod(e->sock, 0666), 0);
	capture_begin();
	assert_int_equal(fe_try_as(e->sock, OTHER_UID, OTHER_GID, NULL, 0), FE_DROPPED);
	assert_int_equal(fe_try(e->sock), FE_SERVED); /* the owner still is served */
	capture_end(log, sizeof(log), false);
	snprintf(want, sizeof(want), "vhost-user rng0: refused a frontend: uid %d (pid ",
		 OTHER_UID);
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "is neither uid 0 nor root"));
	env_stop(e);
}

static void test_socket_group(void **state)
{
	const gid_t groups[] = { SOCK_GID };
	struct env *e;
	struct stat st;
	char log[4096];

	(void)state;
	need_root();
	e = env_start(SOCK_GID);
	assert_int_equal(lstat(e->sock, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, SOCK_GID);
	assert_int_equal(stray_entries(e->dir), 0);
	/* A member through a supplementary group, and one through its primary group. */
	assert_int_equal(fe_try_as(e->sock, OTHER_UID, OTHER_GID, groups, 1), FE_SERVED);
	assert_int_equal(fe_try_as(e->sock, OTHER_UID, SOCK_GID, NULL, 0), FE_SERVED);
	/* Not a member. */
	assert_int_equal(fe_try_as(e->sock, OTHER_UID, OTHER_GID, NULL, 0), FE_EACCES);
	assert_int_equal(chmod(e->sock, 0666), 0);
	capture_begin();
	assert_int_equal(fe_try_as(e->sock, OTHER_UID, OTHER_GID, NULL, 0), FE_DROPPED);
	capture_end(log, sizeof(log), false);
	assert_non_null(strstr(log, "refused a frontend: uid 65534 gid 65533 (pid "));
	assert_non_null(strstr(log, "is neither uid 0, root, nor in group 65534"));
	assert_int_equal(fe_try(e->sock), FE_SERVED);
	env_stop(e);
}

/* `evvm vhost-user-rng` with @argv after the command; returns its status, stderr in @err. */
static int run_cli(const char *const *argv, char *err, size_t size)
{
	char *args[16], *copies[16];
	int argc = 0, status;
	FILE *saved = stdout;

	/* Writable copies; the command replaces args[0]. */
	copies[argc++] = strdup("vhost-user-rng");
	for (; argv[argc - 1]; argc++)
		copies[argc] = strdup(argv[argc - 1]);
	copies[argc] = NULL;
	memcpy(args, copies, sizeof(copies));
	stdout = fopen("/dev/null", "w"); /* --help text */
	assert_non_null(stdout);
	capture_begin();
	status = cmd_vhost_user_rng(argc, args);
	capture_end(err, size, false);
	fclose(stdout);
	stdout = saved;
	for (int i = 0; i < argc; i++)
		free(copies[i]);
	return status;
}

static void test_bad_group(void **state)
{
	char err[1024];

	(void)state;
	assert_int_equal(run_cli((const char *[]){ "--socket", "/nonexistent/s", "--socket-group",
						   "no-such-group-evvm", NULL },
				 err, sizeof(err)),
			 EXIT_USAGE);
	assert_string_equal(err, "evvm: --socket-group 'no-such-group-evvm': no such group "
				 "(expected a group name or a gid)\n");
	assert_int_equal(run_cli((const char *[]){ "--socket-group", "", NULL }, err, sizeof(err)),
			 EXIT_USAGE);
	assert_non_null(strstr(err, "evvm: --socket-group '': no such group"));
	/* A name and a gid that are good: parsing goes on to --help. */
	assert_int_equal(run_cli((const char *[]){ "--socket-group", "root", "--help", NULL }, err,
				 sizeof(err)),
			 0);
	assert_int_equal(run_cli((const char *[]){ "--socket-group", "4242", "--help", NULL }, err,
				 sizeof(err)),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured(test_owner_only),
		cmocka_unit_test_captured(test_long_path),
		cmocka_unit_test_captured(test_other_uid_refused),
		cmocka_unit_test_captured(test_socket_group),
		cmocka_unit_test_captured(test_bad_group),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
