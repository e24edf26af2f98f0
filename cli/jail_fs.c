// SPDX-License-Identifier: MIT
/*
 * The jail on disk: <base>/<exec-name>/<id>/root with the exec file, the
 * libraries a dynamic exec file needs, the device nodes the VMM opens,
 * and the pivot_root into it. Everything is made through the host path
 * before the pivot, so that a failure can remove it all; base_fd keeps the
 * way back after the pivot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "jail.h"

#define JAIL_DIR_MODE 0700 /* Firecracker's for /, /dev, /dev/net, /run */

struct jail_node {
	const char *path;
	unsigned int major, minor;
	bool optional; /* a failure is a warning */
};

static const char *const jail_dirs[] = { "", "/dev", "/dev/net", "/run" };

int jail_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool jail_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > JAIL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] >= 'a' && id[i] <= 'z') && !(id[i] >= 'A' && id[i] <= 'Z') &&
		    !(id[i] >= '0' && id[i] <= '9') && id[i] != '-')
			return false;
	return true;
}

static bool is_elf(const char *path)
{
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4);
	close(fd);
	return ok;
}

static int check_exec(struct jail_fs *fs, const char *file)
{
	struct stat st;
	const char *slash;

	if (!realpath(file, fs->exec_path) || stat(fs->exec_path, &st)) {
		int err = -errno;

		fprintf(stderr, "evvm jailer: exec file '%s': %s\n", file, strerror(-err));
		return err;
	}
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		fprintf(stderr, "evvm jailer: exec file '%s': %s\n", file,
			S_ISREG(st.st_mode) ? "not executable (no execute permission bit)"
					    : "not a regular file");
		return S_ISREG(st.st_mode) ? -EACCES : -EINVAL;
	}
	if (!is_elf(fs->exec_path)) {
		fprintf(stderr,
			"evvm jailer: exec file '%s': not an ELF executable (a script's "
			"interpreter would not be in the jail)\n",
			file);
		return -ENOEXEC;
	}
	slash = strrchr(fs->exec_path, '/');
	jail_path(fs->exec_name, sizeof(fs->exec_name), "%s", slash + 1);
	return 0;
}

int jail_fs_check(struct jail_fs *fs, const struct jail_args *a)
{
	char base[PATH_MAX];
	struct stat st;
	int err;

	fs->base_fd = -1;
	fs->uid = a->uid;
	fs->gid = a->gid;
	err = check_exec(fs, a->exec_file);
	if (err)
		return err;
	if (!realpath(a->base, base) || stat(base, &st)) {
		err = -errno;
		fprintf(stderr, "evvm jailer: chroot base '%s': %s\n", a->base, strerror(-err));
		return err;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "evvm jailer: chroot base '%s': not a directory\n", a->base);
		return -ENOTDIR;
	}
	if (jail_path(fs->root, sizeof(fs->root), "%s/%s/%s/root", strcmp(base, "/") ? base : "",
		      fs->exec_name, a->id)) {
		fprintf(stderr, "evvm jailer: chroot base '%s': path too long\n", a->base);
		return -ENAMETOOLONG;
	}
	fs->base_len = strcmp(base, "/") ? strlen(base) : 0;
	fs->base_fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->base_fd < 0) {
		err = -errno;
		fprintf(stderr, "evvm jailer: chroot base '%s': %s\n", a->base, strerror(-err));
		return err;
	}
	return 0;
}

int jail_fs_made(struct jail_fs *fs, const char *path, bool dir, bool in_jail)
{
	char rel[PATH_MAX];
	struct jail_made *m;

	if (in_jail ? jail_path(rel, sizeof(rel), "%s%s", fs->root + fs->base_len + 1, path)
		    : jail_path(rel, sizeof(rel), "%s", path + fs->base_len + 1))
		return -ENAMETOOLONG;
	if (fs->nr_made == fs->cap_made) {
		unsigned int cap = fs->cap_made ? 2 * fs->cap_made : 64;

		m = realloc(fs->made, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		fs->made = m;
		fs->cap_made = cap;
	}
	m = &fs->made[fs->nr_made];
	m->rel = strdup(rel);
	if (!m->rel)
		return -ENOMEM;
	m->dir = dir;
	fs->nr_made++;
	return 0;
}

void jail_fs_remove(struct jail_fs *fs)
{
	while (fs->nr_made) {
		struct jail_made *m = &fs->made[--fs->nr_made];

		if (fs->base_fd >= 0 && unlinkat(fs->base_fd, m->rel, m->dir ? AT_REMOVEDIR : 0))
			fprintf(stderr, "evvm jailer: cleaning up '%s': %s\n", m->rel,
				strerror(errno));
		free(m->rel);
	}
}

void jail_fs_release(struct jail_fs *fs)
{
	if (fs->base_fd >= 0)
		close(fs->base_fd);
	fs->base_fd = -1;
	for (unsigned int i = 0; i < fs->nr_made; i++)
		free(fs->made[i].rel);
	free(fs->made);
	fs->made = NULL;
	fs->nr_made = fs->cap_made = 0;
}

/* mkdir, noting a directory this run made; one that exists is fine. */
static int fs_mkdir(struct jail_fs *fs, const char *path, mode_t mode)
{
	if (mkdir(path, mode))
		return errno == EEXIST ? 0 : -errno;
	return jail_fs_made(fs, path, true, false);
}

/* Every missing directory of @path (a host path in the jail) from the base down. */
static int fs_mkdir_p(struct jail_fs *fs, char *path, mode_t mode)
{
	int err;

	for (char *p = path + fs->base_len + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		err = fs_mkdir(fs, path, mode);
		*p = '/';
		if (err)
			return err;
	}
	return fs_mkdir(fs, path, mode);
}

static int fs_err(const char *what, const char *path, int err)
{
	fprintf(stderr, "evvm jailer: %s '%s': %s\n", what, path, strerror(-err));
	return err;
}

/* <base>/<exec-name>/<id>/root and Firecracker's directories in it, owned by uid:gid. */
static int make_root(struct jail_fs *fs)
{
	char path[PATH_MAX];
	int err;

	strcpy(path, fs->root);
	err = fs_mkdir_p(fs, path, 0755);
	if (err)
		return fs_err("jail directory", fs->root, err);
	for (size_t i = 0; i < sizeof(jail_dirs) / sizeof(jail_dirs[0]); i++) {
		jail_path(path, sizeof(path), "%s%s", fs->root, jail_dirs[i]);
		err = fs_mkdir(fs, path, JAIL_DIR_MODE);
		if (!err && (chmod(path, JAIL_DIR_MODE) || chown(path, fs->uid, fs->gid)))
			err = -errno;
		if (err)
			return fs_err("jail directory", path, err);
	}
	return 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode, uid_t uid, gid_t gid)
{
	char buf[65536];
	int in, out, err = 0;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		err = -errno;
		goto close_in;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			n = -1;
			break;
		}
	if (n < 0 || fchown(out, uid, gid) || fchmod(out, mode))
		err = errno ? -errno : -EIO;
	close(out);
	if (err)
		unlink(dst);
close_in:
	close(in);
	return err;
}

/* Can @uid/@gid run a file of @st (read and execute it), as the jailed process? */
static bool runnable_as(const struct stat *st, uid_t uid, gid_t gid)
{
	mode_t m = st->st_mode;

	if (st->st_uid == uid)
		return (m & S_IRUSR) && (m & S_IXUSR);
	if (st->st_gid == gid)
		return (m & S_IRGRP) && (m & S_IXGRP);
	return (m & S_IROTH) && (m & S_IXOTH);
}

/*
 * A hard link where @src is on the jail's file system and the jailed
 * process can use it as it is; otherwise a copy. The exec file's copy is
 * owned by @uid:@gid (as Firecracker's); a library (@lib) stays root's
 * and readable by all.
 */
static int place_file(const char *src, const char *dst, uid_t uid, gid_t gid, bool lib)
{
	struct stat st;
	bool usable;

	if (stat(src, &st))
		return -errno;
	usable = lib ? (st.st_mode & S_IROTH) : runnable_as(&st, uid, gid);
	if (usable && !link(src, dst))
		return 0;
	if (usable && errno != EXDEV && errno != EPERM)
		return -errno;
	if (lib)
		return copy_file(src, dst, (st.st_mode & 0755) | 0444, 0, 0);
	return copy_file(src, dst, st.st_mode & 0755, uid, gid);
}

/* Is @b (not followed if a link) the very file @a names? */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !lstat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int place_deps(struct jail_fs *fs, const struct jail_deps *deps)
{
	char path[PATH_MAX];
	int err;

	for (unsigned int i = 0; i < deps->n; i++) {
		char *slash;

		jail_path(path, sizeof(path), "%s%s", fs->root, deps->v[i].jail_path);
		slash = strrchr(path, '/');
		*slash = '\0';
		err = fs_mkdir_p(fs, path, 0755);
		*slash = '/';
		if (err)
			return fs_err("jail directory for", path, err);
		if (same_file(deps->v[i].src, path))
			continue; /* put there before (a jail made ready by hand) */
		err = place_file(deps->v[i].src, path, 0, 0, true);
		if (!err)
			err = jail_fs_made(fs, path, false, false);
		if (err)
			return fs_err("jail library", path, err);
	}
	return 0;
}

static int misc_minor(const char *name)
{
	char line[128], dev[64];
	int minor, found = -ENOENT;
	FILE *f = fopen("/proc/misc", "re");

	if (!f)
		return -errno;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %63s", &minor, dev) == 2 && !strcmp(dev, name))
			found = minor;
	fclose(f);
	return found;
}

static int make_nodes(struct jail_fs *fs)
{
	struct jail_node nodes[] = {
		{ "/dev/kvm", 10, 232, false },
		{ "/dev/net/tun", 10, 200, false },
		{ "/dev/urandom", 1, 9, true },
		{ "/dev/userfaultfd", 10, 0, true },
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		struct jail_node *n = &nodes[i];

		if (access(n->path, F_OK))
			continue; /* only what the host has */
		if (!strcmp(n->path, "/dev/userfaultfd")) {
			int minor = misc_minor("userfaultfd");

			if (minor < 0)
				continue;
			n->minor = minor;
		}
		jail_path(path, sizeof(path), "%s%s", fs->root, n->path);
		if (!mknod(path, S_IFCHR | S_IRUSR | S_IWUSR, makedev(n->major, n->minor))) {
			int err = jail_fs_made(fs, path, false, false);

			if (err)
				return fs_err("device node", path, err);
			if (!chown(path, fs->uid, fs->gid))
				continue;
		}
		if (!n->optional)
			return fs_err("device node", path, -errno);
		fprintf(stderr, "evvm jailer: warning: device node '%s': %s\n", path,
			strerror(errno));
	}
	return 0;
}

int jail_fs_build(struct jail_fs *fs, const struct jail_deps *deps)
{
	char path[PATH_MAX];
	int err;

	err = make_root(fs);
	if (err)
		goto remove;
	jail_path(path, sizeof(path), "%s/%s", fs->root, fs->exec_name);
	err = place_file(fs->exec_path, path, fs->uid, fs->gid, false);
	if (!err)
		err = jail_fs_made(fs, path, false, false);
	if (err) {
		fs_err("jail copy of the exec file", path, err);
		goto remove;
	}
	err = place_deps(fs, deps);
	if (!err)
		err = make_nodes(fs);
	if (!err)
		return 0;
remove:
	jail_fs_remove(fs);
	return err;
}

static int pivot_err(const char *what, int err)
{
	fprintf(stderr, "evvm jailer: entering the jail: %s: %s\n", what, strerror(err));
	return -err;
}

int jail_fs_pivot(struct jail_fs *fs)
{
	if (unshare(CLONE_NEWNS))
		return pivot_err("unshare(CLONE_NEWNS)", errno);
	/* Nothing done in here may propagate back to the host's mounts. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL))
		return pivot_err("making / a slave mount", errno);
	if (mount(fs->root, fs->root, NULL, MS_BIND | MS_REC, NULL))
		return pivot_err("bind-mounting the jail on itself", errno);
	if (chdir(fs->root) || mkdir("old_root", 0700))
		return pivot_err("making old_root", errno);
	if (jail_fs_made(fs, "/old_root", true, true))
		return pivot_err("noting old_root", ENOMEM);
	if (syscall(SYS_pivot_root, ".", "old_root"))
		return pivot_err("pivot_root", errno);
	if (chdir("/") || umount2("old_root", MNT_DETACH))
		return pivot_err("detaching the old root", errno);
	if (rmdir("old_root") || chroot("."))
		return pivot_err("removing old_root", errno);
	/* Gone already: the last one noted. */
	free(fs->made[--fs->nr_made].rel);
	return 0;
}
