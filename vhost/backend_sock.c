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

/*
 * Give the socket file just bound its mode and group, and check that it is
 * still ours (@b->sock_ino) with them.
 */
static int vub_set_mode(struct vhost_backend *b, mode_t mode)
{
	struct stat st;
	int err;

	if (lstat(b->path, &st) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': %s", b->path, evvm_strerror(err));
		return err;
	}
	b->sock_dev = st.st_dev;
	b->sock_ino = st.st_ino;
	if ((b->group_set || b->owner_set) && chown(b->path, b->owner_set ? b->uid : (uid_t)-1,
						    b->group_set ? b->gid : (gid_t)-1) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': giving it to uid %d, group %d: %s%s", b->path,
		       b->owner_set ? (int)b->uid : -1, b->group_set ? (int)b->gid : -1,
		       evvm_strerror(err),
		       err == -EPERM ? " (not root and not a member of that group)" : "");
		return err;
	}
	if (chmod(b->path, mode) < 0 || lstat(b->path, &st) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': chmod: %s", b->path, evvm_strerror(err));
		return err;
	}
	if (st.st_ino != b->sock_ino || st.st_dev != b->sock_dev || (st.st_mode & 07777) != mode ||
	    (b->group_set && st.st_gid != b->gid) || (b->owner_set && st.st_uid != b->uid)) {
		pr_err("vhost-user socket '%s': replaced or changed while it was set up", b->path);
		return -EEXIST;
	}
	return 0;
}

/*
 * The socket must not accept a frontend with a looser mode than asked,
 * whatever the caller's umask; the umask itself is not changed around
 * bind(), as it belongs to every thread of the process. Instead:
 * - nobody can connect before listen() (ECONNREFUSED), so the file is
 *   given its exact mode and group with chmod/chown between bind() and
 *   listen(): by the first possible connection, the file's permissions
 *   hold;
 * - and fchmod() on the socket before bind(): Linux makes the file with
 *   the socket inode's mode minus the umask, so it never even appears
 *   looser (undocumented, hence only in addition to the above).
 * Binding beside the path and renaming into place would also work, but
 * then /proc/net/unix, ss and getsockname() would name the other path.
 */
int vub_listen(struct vhost_backend *b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t mode = b->group_set ? 0660 : 0600;
	int err;

	err = vub_free_path(b->path);
	if (err)
		return err;
	b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (b->listen_fd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': socket: %s", b->path, evvm_strerror(err));
		return err;
	}
	(void)fchmod(b->listen_fd, 0600);
	memcpy(sa.sun_path, b->path, strlen(b->path));
	if (bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': bind: %s", b->path, evvm_strerror(err));
		return err;
	}
	/* On failure from here, vhost_backend_destroy() removes the file if it is ours. */
	err = vub_set_mode(b, mode);
	if (err)
		return err;
	if (listen(b->listen_fd, 4) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': listen: %s", b->path, evvm_strerror(err));
		return err;
	}
	return 0;
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
