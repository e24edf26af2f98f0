/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_JAIL_H
#define EVVM_CLI_JAIL_H

/*
 * `evvm jailer`: Firecracker's jailer for evvm. cli/jailer.c parses and
 * sequences; jail_fs.c builds the chroot; jail_elf.c finds the shared
 * libraries a dynamic exec file needs there; jail_cgroup.c owns the
 * cgroup v2 directory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define JAIL_ID_MAX	  64
#define JAIL_CGROUPS_MAX  32
#define JAIL_DEPS_MAX	  128
#define JAIL_DEFAULT_BASE "/srv/jailer"
#define JAIL_NOFILE	  2048 /* Firecracker's default RLIMIT_NOFILE */

struct jail_args {
	const char *id, *exec_file, *base, *netns, *parent_cg;
	uid_t uid;
	gid_t gid;
	int cg_version;
	const char *cgroups[JAIL_CGROUPS_MAX]; /* "file=value" */
	unsigned int nr_cgroups;
	bool fsize_set, daemonize, new_pid_ns;
	rlim_t fsize, nofile;
	char **extra; /* after "--" */
	int nr_extra;
};

/* A path (relative to the chroot base) this run created. */
struct jail_made {
	char *rel;
	bool dir;
};

/* The jail on disk. Paths are host paths; fds survive pivot_root (O_CLOEXEC). */
struct jail_fs {
	char exec_path[4096]; /* canonical exec file */
	char exec_name[256];
	char root[4096];	/* <base>/<exec-name>/<id>/root */
	int base_fd;		/* the canonical chroot base dir */
	size_t base_len;	/* of the base's path, a prefix of root */
	struct jail_made *made; /* what this run created, in order */
	unsigned int nr_made, cap_made;
	uid_t uid;
	gid_t gid;
};

/* One file the dynamic loader opens: where it goes in the jail, what it is. */
struct jail_dep {
	char jail_path[4096];
	char src[4096];
};

struct jail_deps {
	struct jail_dep *v;
	unsigned int n;
};

/* The cgroup v2 placement of the jailed process. */
struct jail_cgroup {
	char mount[4096]; /* the cgroup2 mount point */
	char dir[4096];	  /* <mount>/<parent>/<id>, or <mount>/<parent> to join only */
	int orig_fd;	  /* our cgroup before joining (to move back on failure) */
	int parent_fd;	  /* <mount>/<parent>, when we made <id> in it */
	int mount_fd;
	bool made_parent, made_dir, joined;
	char parent_made[4096]; /* <parent>, of which we made the components past ... */
	size_t parent_made_len; /* ... this length */
	char id[JAIL_ID_MAX + 1];
};

/* snprintf() into a path buffer: 0, or -ENAMETOOLONG if it did not fit. */
int jail_path(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Firecracker's rule: 1 to 64 characters, ASCII letters, digits and '-'. */
bool jail_id_valid(const char *id);

/*
 * Check the exec file (a regular file with an execute bit) and the chroot
 * base (a directory), and fill @fs's names. Returns 0 or -errno, printing
 * a message that names the path.
 */
int jail_fs_check(struct jail_fs *fs, const struct jail_args *a);

/*
 * Make <base>/<exec-name>/<id>/root with /dev, /dev/net and /run (0700,
 * owned by the jail's uid:gid), the exec file (hard link, or a copy owned
 * by uid:gid), @deps, and the device nodes. Directories that exist are
 * kept (files put there beforehand stay), as Firecracker's jailer does.
 * On failure everything this run made is removed. Prints its errors.
 */
int jail_fs_build(struct jail_fs *fs, const struct jail_deps *deps);

/* Remove what this run made, newest first (also after pivot, through base_fd). */
void jail_fs_remove(struct jail_fs *fs);

/* Note @path (a host path under the base, or "/x" in the jail after pivot) as made. */
int jail_fs_made(struct jail_fs *fs, const char *path, bool dir, bool in_jail);

/*
 * Enter a new mount namespace whose root is the jail: bind the jail onto
 * itself, pivot_root into it, detach the old root. Prints its errors.
 */
int jail_fs_pivot(struct jail_fs *fs);

/* Close base_fd and free the list. */
void jail_fs_release(struct jail_fs *fs);

/*
 * The files the dynamic loader of ELF @path opens: its PT_INTERP (placed
 * at that path) and the DT_NEEDED closure resolved in DT_RUNPATH/DT_RPATH
 * (absolute entries) and the system directories. A static ELF has none.
 * 0 or -errno with a message naming the file. Free with jail_deps_free().
 */
int jail_elf_deps(const char *path, struct jail_deps *deps);
void jail_deps_free(struct jail_deps *deps);

/*
 * Place the process in cgroup v2 as Firecracker does: with @a->cgroups,
 * make <mount>/<parent>/<id>, enable the controllers on the way, write
 * each file (which must exist) and join; without, join <mount>/<parent>
 * if it exists. 0 or -errno, printing the cause; on failure nothing this
 * made is left.
 */
int jail_cgroup_setup(struct jail_cgroup *cg, const struct jail_args *a, const char *exec_name);

/* Undo jail_cgroup_setup(): move back to the original cgroup, remove what it made. */
void jail_cgroup_remove(struct jail_cgroup *cg);

/* Close the fds kept for jail_cgroup_remove(). */
void jail_cgroup_release(struct jail_cgroup *cg);

#endif
