// SPDX-License-Identifier: MIT
/*
 * The jailed process's cgroup v2, as Firecracker's jailer places it: with
 * --cgroup FILE=VALUE, a new <mount>/<parent>/<id> with each FILE's
 * controller enabled in the subtree_control of every ancestor, the values
 * written, then the process moved in; without, a move into <mount>/<parent>
 * if it exists. Directories this run made are removed on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jail.h"

static int cg_err(const char *what, const char *path, int err)
{
	fprintf(stderr, "evvm jailer: cgroup %s '%s': %s\n", what, path, strerror(-err));
	return err;
}

/* The first cgroup2 mount in /proc/self/mounts (as Firecracker reads /proc/mounts). */
static int cg_find_mount(char *out, size_t outsz)
{
	char line[8192], dev[256], dir[4096], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2") && !strchr(dir, '\\') && strlen(dir) < outsz) {
			strcpy(out, dir);
			err = 0;
		}
	fclose(f);
	return err;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(val);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		err = -errno;
	close(fd);
	return err;
}

static int write_self(const char *dir)
{
	char path[PATH_MAX], pid[24];

	jail_path(path, sizeof(path), "%s/cgroup.procs", dir);
	jail_path(pid, sizeof(pid), "%d\n", getpid());
	return write_file(path, pid);
}

/* Is @ctrl in <mount>/cgroup.controllers? ("cgroup" is the core interface: always.) */
static bool cg_has_controller(const char *mount, const char *ctrl, size_t len)
{
	char path[PATH_MAX], buf[1024];
	bool found = false;
	FILE *f;

	if (len == strlen("cgroup") && !strncmp(ctrl, "cgroup", len))
		return true;
	jail_path(path, sizeof(path), "%s/cgroup.controllers", mount);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fscanf(f, "%1023s", buf) == 1)
		found = strlen(buf) == len && !strncmp(buf, ctrl, len);
	fclose(f);
	return found;
}

/* "+ctrl" into the subtree_control of <mount> and each directory down to @dir's parent. */
static int cg_enable(const struct jail_cgroup *cg, const char *ctrl, size_t len)
{
	char path[PATH_MAX], val[64];
	size_t mlen = strlen(cg->mount);
	const char *p = cg->dir + mlen;

	if (len == strlen("cgroup") && !strncmp(ctrl, "cgroup", len))
		return 0;
	jail_path(val, sizeof(val), "+%.*s", (int)len, ctrl);
	for (;;) {
		const char *next = strchr(p + 1, '/');
		int err;

		jail_path(path, sizeof(path), "%.*s/cgroup.subtree_control", (int)(p - cg->dir),
			  cg->dir);
		err = write_file(path, val);
		if (err)
			return cg_err("enabling controller in", path, err);
		if (!next)
			return 0;
		p = next;
	}
}

static int cg_write_values(struct jail_cgroup *cg, const struct jail_args *a)
{
	char path[PATH_MAX];
	int err;

	for (unsigned int i = 0; i < a->nr_cgroups; i++) {
		const char *kv = a->cgroups[i], *eq = strchr(kv, '=');
		size_t clen = strcspn(kv, ".");

		err = cg_enable(cg, kv, clen);
		if (err)
			return err;
		jail_path(path, sizeof(path), "%s/%.*s", cg->dir, (int)(eq - kv), kv);
		if (access(path, F_OK)) {
			fprintf(stderr, "evvm jailer: cgroup file '%.*s' does not exist in '%s'\n",
				(int)(eq - kv), kv, cg->dir);
			return -ENOENT;
		}
		err = write_file(path, eq + 1);
		if (err) {
			fprintf(stderr, "evvm jailer: cgroup file '%s': writing '%s': %s\n", path,
				eq + 1, strerror(-err));
			return err;
		}
	}
	return 0;
}

static int cg_check_args(const struct jail_cgroup *cg, const struct jail_args *a)
{
	for (unsigned int i = 0; i < a->nr_cgroups; i++) {
		const char *kv = a->cgroups[i];
		size_t clen = strcspn(kv, ".");

		if (!cg_has_controller(cg->mount, kv, clen)) {
			fprintf(stderr,
				"evvm jailer: --cgroup '%s': controller '%.*s' is not "
				"available in '%s/cgroup.controllers'\n",
				kv, (int)clen, kv, cg->mount);
			return -ENOENT;
		}
	}
	return 0;
}

/* Remember where we are, to move back if a later step fails. */
static int cg_open_orig(struct jail_cgroup *cg)
{
	char line[4096], path[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			jail_path(path, sizeof(path), "%s%s", cg->mount, line + 3);
			cg->orig_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			err = cg->orig_fd < 0 ? -errno : 0;
		}
	fclose(f);
	return err;
}

/* <mount>/<parent>/<id>, noting from which component of <parent> the directories are ours. */
static int cg_make_dirs(struct jail_cgroup *cg, const char *parent)
{
	char path[PATH_MAX];
	size_t mlen = strlen(cg->mount);

	jail_path(path, sizeof(path), "%s/%s", cg->mount, parent);
	for (char *p = path + mlen + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = '\0';
		if (!mkdir(path, 0755)) {
			if (!cg->made_parent) {
				cg->made_parent = true;
				jail_path(cg->parent_made, sizeof(cg->parent_made), "%s", parent);
				cg->parent_made_len = p - (path + mlen + 1);
			}
		} else if (errno != EEXIST) {
			return cg_err("directory", path, -errno);
		}
		*p = c;
		if (!c)
			break;
	}
	cg->parent_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg->parent_fd < 0)
		return cg_err("directory", path, -errno);
	if (mkdir(cg->dir, 0755))
		return cg_err("directory", cg->dir, errno == EEXIST ? -EEXIST : -errno);
	cg->made_dir = true;
	return 0;
}

static int cg_join_parent(struct jail_cgroup *cg, const char *parent)
{
	int err;

	jail_path(cg->dir, sizeof(cg->dir), "%s/%s", cg->mount, parent);
	if (access(cg->dir, F_OK))
		return 0; /* Firecracker: no such cgroup, no move */
	err = write_self(cg->dir);
	if (err)
		return cg_err("moving the jailer into", cg->dir, err);
	cg->joined = true;
	return 0;
}

int jail_cgroup_setup(struct jail_cgroup *cg, const struct jail_args *a, const char *exec_name)
{
	const char *parent = a->parent_cg ? a->parent_cg : exec_name;
	int err;

	*cg = (struct jail_cgroup){ .orig_fd = -1, .parent_fd = -1, .mount_fd = -1 };
	jail_path(cg->id, sizeof(cg->id), "%s", a->id);
	if (a->cg_version != 2)
		return 0; /* v1 with no --cgroup: nothing (checked by the caller) */
	err = cg_find_mount(cg->mount, sizeof(cg->mount));
	if (err) {
		fprintf(stderr,
			"evvm jailer: --cgroup-version 2: no cgroup2 file system is mounted "
			"(/proc/self/mounts)\n");
		return err;
	}
	cg->mount_fd = open(cg->mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cg->mount_fd < 0)
		return cg_err("mount", cg->mount, -errno);
	err = cg_open_orig(cg);
	if (err)
		return cg_err("of the jailer", "/proc/self/cgroup", err);
	if (!a->nr_cgroups)
		return cg_join_parent(cg, parent);
	err = cg_check_args(cg, a);
	if (err)
		return err;
	jail_path(cg->dir, sizeof(cg->dir), "%s/%s/%s", cg->mount, parent, a->id);
	err = cg_make_dirs(cg, parent);
	if (!err)
		err = cg_write_values(cg, a);
	if (!err && (err = write_self(cg->dir)))
		cg_err("moving the jailer into", cg->dir, err);
	if (!err) {
		cg->joined = true;
		return 0;
	}
	jail_cgroup_remove(cg);
	return err;
}

void jail_cgroup_remove(struct jail_cgroup *cg)
{
	char pid[24];
	int fd;

	if (cg->joined && cg->orig_fd >= 0) {
		fd = openat(cg->orig_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		jail_path(pid, sizeof(pid), "%d\n", getpid());
		if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
			fprintf(stderr, "evvm jailer: cgroup: moving back out of '%s': %s\n",
				cg->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		cg->joined = false;
	}
	if (cg->made_dir && cg->parent_fd >= 0 && !unlinkat(cg->parent_fd, cg->id, AT_REMOVEDIR))
		cg->made_dir = false;
	/* Remove the parent's directories this run made, deepest first. */
	while (cg->made_parent && !cg->made_dir && cg->mount_fd >= 0) {
		char *slash = strrchr(cg->parent_made, '/');

		if (unlinkat(cg->mount_fd, cg->parent_made, AT_REMOVEDIR) ||
		    strlen(cg->parent_made) <= cg->parent_made_len || !slash)
			cg->made_parent = false;
		else
			*slash = '\0';
	}
	jail_cgroup_release(cg);
}

void jail_cgroup_release(struct jail_cgroup *cg)
{
	if (cg->orig_fd >= 0)
		close(cg->orig_fd);
	if (cg->parent_fd >= 0)
		close(cg->parent_fd);
	if (cg->mount_fd >= 0)
		close(cg->mount_fd);
	cg->orig_fd = cg->parent_fd = cg->mount_fd = -1;
}
