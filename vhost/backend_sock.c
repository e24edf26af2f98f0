// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: the listening socket and who may use it. A frontend
 * reads and writes whatever the device reaches (a disk, a tap), so the
 * socket is the device's access control: it is created owner-only (0600),
 * or 0660 with the group the caller names, whatever the umask, and every
 * connecting peer is checked again with SO_PEERCRED.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_int.h"

/*
 * Make @path free for bind(): nothing there, or a socket nobody listens on
 * (removed). Returns 0 or -errno after logging.
 */
static int vub_free_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		pr_err("vhost-user socket '%s': %s", path, evvm_strerror(err));
		return err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("vhost-user socket '%s': exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': socket: %s", path, evvm_strerror(err));
		return err;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS) {
		close(fd);
		pr_err("vhost-user socket '%s': another backend is listening on it", path);
		return -EADDRINUSE;
	}
	err = errno;
	close(fd);
	if (err != ECONNREFUSED) {
		pr_err("vhost-user socket '%s': connect: %s", path, evvm_strerror(err));
		return -err;
	}
	/* Stale: left by a backend that is gone. */
	if (unlink(path) < 0 && errno != ENOENT) {
		err = -errno;
		pr_err("vhost-user socket '%s': removing the stale socket: %s", path,
		       evvm_strerror(err));
		return err;
	}
	return 0;
}

/* @tmp = "<the directory of @path>/.evvm-vu-XXXXXX", made with mode 0700. */
static int vub_private_dir(const char *path, char tmp[PATH_MAX])
{
	const char *slash = strrchr(path, '/');
	int n, err;

	if (!slash)
		n = snprintf(tmp, PATH_MAX, ".evvm-vu-XXXXXX");
	else
		n = snprintf(tmp, PATH_MAX, "%.*s/.evvm-vu-XXXXXX", (int)(slash - path), path);
	if (n >= PATH_MAX) {
		pr_err("vhost-user socket '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(tmp)) {
		err = -errno;
		pr_err("vhost-user socket '%s': making a private directory beside it: %s", path,
		       evvm_strerror(err));
		return err;
	}
	return 0;
}

/* Bind @fd to "s" in the directory @dfd (named @dir), and give it its mode and group. */
static int vub_bind_private(struct vhost_backend *b, int fd, const char *dir, int dfd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t mode = b->group_set ? 0660 : 0600;
	struct stat st;
	int err;

	/* A long directory name is reached through our fd of it (sun_path is 108 bytes). */
	if (strlen(dir) + 2 < sizeof(sa.sun_path))
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
	else
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/s", dfd);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': bind: %s", b->path, evvm_strerror(err));
		return err;
	}
	if (b->group_set && fchownat(dfd, "s", (uid_t)-1, b->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': giving it to group %u: %s%s", b->path,
		       (unsigned int)b->gid, evvm_strerror(err),
		       err == -EPERM ? " (not root and not a member of that group)" : "");
		return err;
	}
	if (fchmodat(dfd, "s", mode, 0) < 0 || fstatat(dfd, "s", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': chmod: %s", b->path, evvm_strerror(err));
		return err;
	}
	b->sock_dev = st.st_dev;
	b->sock_ino = st.st_ino;
	return 0;
}

/*
 * The socket must never be reachable at @b->path with a looser mode than
 * asked, even for an instant, and the umask is the caller's. fchmod() on
 * an AF_UNIX socket before bind() does not set the mode of the file bind()
 * makes, and changing the umask around bind() would change it for every
 * thread of the process. So the socket is bound in a fresh 0700 directory
 * beside @b->path (same file system), where nobody else can reach it,
 * given its mode and group there, made to listen, and then renamed into
 * place: it appears at @b->path complete. RENAME_NOREPLACE: whatever
 * appeared at the path meanwhile is not clobbered.
 */
int vub_listen(struct vhost_backend *b)
{
	char dir[PATH_MAX];
	int dfd, err;

	err = vub_free_path(b->path);
	if (err)
		return err;
	err = vub_private_dir(b->path, dir);
	if (err)
		return err;
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': %s: %s", b->path, dir, evvm_strerror(err));
		goto rmdir;
	}
	b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (b->listen_fd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': socket: %s", b->path, evvm_strerror(err));
		goto close_dir;
	}
	err = vub_bind_private(b, b->listen_fd, dir, dfd);
	if (err)
		goto unlink;
	if (listen(b->listen_fd, 4) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': listen: %s", b->path, evvm_strerror(err));
		goto unlink;
	}
	if (renameat2(dfd, "s", AT_FDCWD, b->path, RENAME_NOREPLACE) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': moving it into place: %s", b->path,
		       evvm_strerror(err));
		goto unlink;
	}
	close(dfd);
	rmdir(dir);
	return 0;
unlink:
	b->sock_ino = 0; /* not at b->path: destroy() must not remove what is there */
	unlinkat(dfd, "s", 0);
close_dir:
	close(dfd);
rmdir:
	rmdir(dir);
	return err;
}

/* Whether @gid is among the peer's groups at connect time (SO_PEERGROUPS, Linux 4.13). */
static bool vub_peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE)
			return false;
		groups = malloc(len);
		if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
			free(groups);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
		found = groups[i] == gid;
	if (groups != small)
		free(groups);
	return found;
}

bool vub_peer_allowed(struct vhost_backend *b, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned long dropped;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		pr_warn("%s: refused a frontend: SO_PEERCRED: %s", b->name, evvm_strerror(errno));
		return false;
	}
	if (cred.uid == b->uid || cred.uid == 0)
		return true;
	if (b->group_set && (cred.gid == b->gid || vub_peer_in_group(fd, b->gid)))
		return true;
	if (!evvm_ratelimit(&b->log, &dropped))
		return false;
	if (dropped)
		pr_warn("%s: %lu more refused frontends not shown", b->name, dropped);
	if (b->group_set)
		pr_warn("%s: refused a frontend: uid %u gid %u (pid %d) is neither uid %u, root, "
			"nor in group %u",
			b->name, (unsigned int)cred.uid, (unsigned int)cred.gid, (int)cred.pid,
			(unsigned int)b->uid, (unsigned int)b->gid);
	else
		pr_warn("%s: refused a frontend: uid %u (pid %d) is neither uid %u nor root",
			b->name, (unsigned int)cred.uid, (int)cred.pid, (unsigned int)b->uid);
	return false;
}
