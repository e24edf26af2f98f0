// SPDX-License-Identifier: MIT
/*
 * `evvm jailer` (or evvm called as `jailer`): Firecracker's jailer command
 * line and steps, in Firecracker's order: check every input, build the
 * chroot, join the netns, set rlimits, join the cgroup, pivot_root into
 * the jail, daemonize or enter a new PID namespace, drop to uid/gid and
 * exec the copy of the exec file with an empty environment. Until the
 * privileges are dropped, a failure removes what this run made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jail.h"
#include "parse.h"

#define JAIL_ARGV_MAX 256

enum {
	JO_ID = 256,
	JO_EXEC,
	JO_UID,
	JO_GID,
	JO_BASE,
	JO_NETNS,
	JO_CG_VERSION,
	JO_CGROUP,
	JO_PARENT_CG,
	JO_RLIMIT,
	JO_DAEMONIZE,
	JO_PIDNS,
};

static const struct option jail_options[] = {
	{ "id", required_argument, NULL, JO_ID },
	{ "exec-file", required_argument, NULL, JO_EXEC },
	{ "uid", required_argument, NULL, JO_UID },
	{ "gid", required_argument, NULL, JO_GID },
	{ "chroot-base-dir", required_argument, NULL, JO_BASE },
	{ "netns", required_argument, NULL, JO_NETNS },
	{ "cgroup-version", required_argument, NULL, JO_CG_VERSION },
	{ "cgroup", required_argument, NULL, JO_CGROUP },
	{ "parent-cgroup", required_argument, NULL, JO_PARENT_CG },
	{ "resource-limit", required_argument, NULL, JO_RLIMIT },
	{ "daemonize", no_argument, NULL, JO_DAEMONIZE },
	{ "new-pid-ns", no_argument, NULL, JO_PIDNS },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void jail_usage(FILE *f)
{
	fprintf(f,
		"Usage: evvm jailer --id ID --exec-file FILE --uid UID --gid GID [OPTIONS]\n"
		"                   [-- ARGS...]   (or evvm linked as 'jailer')\n"
		"\n"
		"Firecracker's jailer: run FILE (evvm itself, or another VMM or backend)\n"
		"confined in <chroot-base-dir>/<FILE's name>/<ID>/root, as UID:GID.\n"
		"\n"
		"  --id ID                 the jail id: 1 to 64 letters, digits and '-'\n"
		"  --exec-file FILE        an ELF executable; hard-linked into the jail when\n"
		"                          on the same file system and usable by UID:GID,\n"
		"                          else copied (owned by UID:GID). A dynamic FILE\n"
		"                          also gets its loader and libraries (root's)\n"
		"  --uid UID, --gid GID    numeric ids (0 to 4294967294) to drop to\n"
		"  --chroot-base-dir DIR   where jails are made (default %s)\n"
		"  --netns PATH            join this network namespace (/var/run/netns/NAME,\n"
		"                          /proc/PID/ns/net)\n"
		"  --cgroup-version 1|2    default 1; evvm supports --cgroup on 2 only\n"
		"  --cgroup FILE=VALUE     (repeatable) make the cgroup\n"
		"                          <cgroup2 mount>/<parent>/<ID>, enable FILE's\n"
		"                          controller on the way, write VALUE to FILE there\n"
		"                          (it must exist) and join it. Without --cgroup,\n"
		"                          join <cgroup2 mount>/<parent> if it exists\n"
		"  --parent-cgroup PATH    <parent> above (default FILE's name); relative,\n"
		"                          no '.' or '..'\n"
		"  --resource-limit fsize=N|no-file=N\n"
		"                          (repeatable) RLIMIT_FSIZE, RLIMIT_NOFILE (soft and\n"
		"                          hard; no-file defaults to %d)\n"
		"  --daemonize             setsid(), stdio to /dev/null\n"
		"  --new-pid-ns            run FILE as pid 1 of a new PID namespace\n"
		"  -V, --version           print the version\n"
		"  -h, --help              this text\n"
		"\n"
		"Inside the jail: /<FILE's name>, /dev/net/tun, /dev/kvm (if the host has it),\n"
		"/dev/urandom, /dev/userfaultfd (if the host has it), /run, and\n"
		"/<FILE's name>.pid holding the pid of the process. FILE runs with an empty\n"
		"environment and only fds 0-2. Its arguments: if ARGS start with a command\n"
		"word (evvm's 'run', 'vhost-user-rng', ...), ARGS as given (with 'firecracker',\n"
		"Firecracker's --id, --start-time-us, --start-time-cpu-us and\n"
		"--parent-cpu-time-us follow the word); otherwise those four, then ARGS, as\n"
		"Firecracker's jailer passes them. See docs/jailer.md.\n",
		JAIL_DEFAULT_BASE, JAIL_NOFILE);
}

static int bad(const char *flag, const char *val, const char *why)
{
	fprintf(stderr, "evvm jailer: %s '%s': %s\n", flag, val, why);
	return -EINVAL;
}

/* A relative path with no empty, '.' or '..' component. */
static bool rel_path_ok(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n + (c[n] == '/');
	}
	return p[strlen(p) - 1] != '/';
}

static int parse_cgroup(struct jail_args *a, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : 0;

	if (!eq || !eq[1] || strchr(eq + 1, '=') || strchr(eq + 1, '\n'))
		return bad("--cgroup", kv, "expected FILE=VALUE (e.g. cpu.max=50000)");
	if (!memchr(kv, '.', klen) || kv[0] == '.' || memchr(kv, '/', klen))
		return bad("--cgroup", kv, "FILE must be <controller>.<property>, no '/'");
	if (a->nr_cgroups == JAIL_CGROUPS_MAX)
		return bad("--cgroup", kv, "too many");
	a->cgroups[a->nr_cgroups++] = kv;
	return 0;
}

static int parse_rlimit(struct jail_args *a, const char *kv)
{
	const char *eq = strchr(kv, '=');
	uint64_t v;

	if (!eq)
		return bad("--resource-limit", kv, "expected fsize=N or no-file=N");
	if (parse_uint(eq + 1, 0, RLIM_INFINITY - 1, &v))
		return bad("--resource-limit", kv, "the value is not a number");
	if (!strncmp(kv, "fsize=", 6)) {
		a->fsize_set = true;
		a->fsize = v;
	} else if (!strncmp(kv, "no-file=", 8)) {
		a->nofile = v;
	} else {
		return bad("--resource-limit", kv, "unknown resource (fsize, no-file)");
	}
	return 0;
}

static int parse_id32(const char *flag, const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_uint(s, 0, UINT32_MAX - 1, &v))
		return bad(flag, s, "expected a number from 0 to 4294967294");
	*out = v;
	return 0;
}

static int jail_opt(struct jail_args *a, int opt, const char *arg)
{
	switch (opt) {
	case JO_ID:
		a->id = arg;
		return jail_id_valid(arg) ? 0
					  : bad("--id", arg,
						"1 to 64 characters: letters, digits and '-' only");
	case JO_EXEC:
		a->exec_file = arg;
		return 0;
	case JO_UID:
		return parse_id32("--uid", arg, &a->uid);
	case JO_GID:
		return parse_id32("--gid", arg, &a->gid);
	case JO_BASE:
		a->base = arg;
		return 0;
	case JO_NETNS:
		a->netns = arg;
		return 0;
	case JO_CG_VERSION:
		if (strcmp(arg, "1") && strcmp(arg, "2"))
			return bad("--cgroup-version", arg, "expected 1 or 2");
		a->cg_version = arg[0] - '0';
		return 0;
	case JO_CGROUP:
		return parse_cgroup(a, arg);
	case JO_PARENT_CG:
		a->parent_cg = arg;
		return rel_path_ok(arg) ? 0
					: bad("--parent-cgroup", arg,
					      "must be relative, without '.' or '..'");
	case JO_RLIMIT:
		return parse_rlimit(a, arg);
	case JO_DAEMONIZE:
		a->daemonize = true;
		return 0;
	case JO_PIDNS:
		a->new_pid_ns = true;
		return 0;
	}
	return -EINVAL;
}

static int jail_required(const struct jail_args *a, bool uid_set, bool gid_set)
{
	const char *missing = !a->id	      ? "--id"
			      : !a->exec_file ? "--exec-file"
			      : !uid_set      ? "--uid"
			      : !gid_set      ? "--gid"
					      : NULL;

	if (missing) {
		fprintf(stderr, "evvm jailer: %s is required (see 'evvm jailer --help')\n",
			missing);
		return -EINVAL;
	}
	if (a->nr_cgroups && a->cg_version != 2) {
		fprintf(stderr, "evvm jailer: --cgroup needs --cgroup-version 2 (evvm does not "
				"support cgroup v1)\n");
		return -EINVAL;
	}
	return 0;
}

/* 0, 1 for --help/--version (done), or -EINVAL (printed). */
static int jail_parse(int argc, char **argv, struct jail_args *a)
{
	bool uid_set = false, gid_set = false;
	int opt, err;

	*a = (struct jail_args){ .base = JAIL_DEFAULT_BASE,
				 .cg_version = 1,
				 .nofile = JAIL_NOFILE };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+hV", jail_options, NULL)) != -1) {
		if (opt == 'h') {
			jail_usage(stdout);
			return 1;
		}
		if (opt == 'V') {
			printf("evvm jailer %s\n", EVVM_VERSION);
			return 1;
		}
		if (opt == '?') {
			fprintf(stderr, "evvm jailer: unknown option or missing value: '%s'\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		uid_set |= opt == JO_UID;
		gid_set |= opt == JO_GID;
		err = jail_opt(a, opt, optarg);
		if (err)
			return err;
	}
	if (optind < argc && strcmp(argv[optind - 1], "--")) {
		fprintf(stderr,
			"evvm jailer: unexpected argument '%s' (arguments for the exec file "
			"go after --)\n",
			argv[optind]);
		return -EINVAL;
	}
	a->extra = argv + optind;
	a->nr_extra = argc - optind;
	return jail_required(a, uid_set, gid_set);
}

static uint64_t clock_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct jail_exec {
	char path[300];
	char *argv[JAIL_ARGV_MAX];
	char times[3][24];
};

/* Firecracker's four arguments, after the command word for `evvm firecracker`. */
static int jail_build_argv(struct jail_exec *x, const struct jail_args *a, const char *name,
			   uint64_t start_us, uint64_t start_cpu_us)
{
	bool word = a->nr_extra && a->extra[0][0] != '-';
	bool fc = !word || !strcmp(a->extra[0], "firecracker");
	int n = 0, i = 0;

	if (a->nr_extra > JAIL_ARGV_MAX - 12)
		return bad("--", a->extra[0], "too many arguments for the exec file");
	snprintf(x->path, sizeof(x->path), "/%s", name);
	x->argv[n++] = x->path;
	if (word)
		x->argv[n++] = a->extra[i++];
	if (fc) {
		snprintf(x->times[0], sizeof(x->times[0]), "%llu", (unsigned long long)start_us);
		snprintf(x->times[1], sizeof(x->times[1]), "%llu",
			 (unsigned long long)clock_us(CLOCK_PROCESS_CPUTIME_ID));
		snprintf(x->times[2], sizeof(x->times[2]), "%llu",
			 (unsigned long long)(clock_us(CLOCK_PROCESS_CPUTIME_ID) - start_cpu_us));
		x->argv[n++] = "--id";
		x->argv[n++] = (char *)a->id;
		x->argv[n++] = "--start-time-us";
		x->argv[n++] = x->times[0];
		x->argv[n++] = "--start-time-cpu-us";
		x->argv[n++] = x->times[1];
		x->argv[n++] = "--parent-cpu-time-us";
		x->argv[n++] = x->times[2];
	}
	while (i < a->nr_extra)
		x->argv[n++] = a->extra[i++];
	x->argv[n] = NULL;
	return 0;
}

static int set_rlimits(const struct jail_args *a)
{
	struct rlimit nofile = { a->nofile, a->nofile }, fsize = { a->fsize, a->fsize };

	if (setrlimit(RLIMIT_NOFILE, &nofile)) {
		fprintf(stderr, "evvm jailer: --resource-limit no-file=%llu: setrlimit: %s\n",
			(unsigned long long)a->nofile, strerror(errno));
		return -errno;
	}
	if (a->fsize_set && setrlimit(RLIMIT_FSIZE, &fsize)) {
		fprintf(stderr, "evvm jailer: --resource-limit fsize=%llu: setrlimit: %s\n",
			(unsigned long long)a->fsize, strerror(errno));
		return -errno;
	}
	return 0;
}

struct jail_run {
	struct jail_args a;
	struct jail_fs fs;
	struct jail_cgroup cg;
	struct jail_deps deps;
	int netns_fd, null_fd;
	uint64_t start_us, start_cpu_us;
};

static void jail_undo(struct jail_run *r)
{
	jail_cgroup_remove(&r->cg);
	jail_fs_remove(&r->fs);
}

/* Check the paths (exec file, base, netns) and read the exec file's libraries. */
static int jail_prepare(struct jail_run *r)
{
	int err = jail_fs_check(&r->fs, &r->a);

	if (err)
		return err;
	if (r->a.netns) {
		r->netns_fd = open(r->a.netns, O_RDONLY | O_CLOEXEC);
		if (r->netns_fd < 0) {
			err = -errno;
			fprintf(stderr, "evvm jailer: --netns '%s': %s\n", r->a.netns,
				strerror(-err));
			return err;
		}
	}
	return jail_elf_deps(r->fs.exec_path, &r->deps);
}

/* Build the jail, join the netns, rlimits and cgroup, and pivot into it. */
static int jail_enter(struct jail_run *r)
{
	int err = jail_fs_build(&r->fs, &r->deps);

	if (err)
		return err;
	if (r->netns_fd >= 0 && setns(r->netns_fd, CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "evvm jailer: --netns '%s': setns: %s\n", r->a.netns,
			strerror(errno));
		goto undo;
	}
	err = set_rlimits(&r->a);
	if (!err)
		err = jail_cgroup_setup(&r->cg, &r->a, r->fs.exec_name);
	if (err)
		goto undo;
	if (r->a.daemonize && (r->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		err = -errno;
		fprintf(stderr, "evvm jailer: /dev/null: %s\n", strerror(errno));
		goto undo;
	}
	err = jail_fs_pivot(&r->fs);
	if (!err)
		return 0;
undo:
	jail_undo(r);
	return err;
}

static int write_pid_file(struct jail_fs *fs, pid_t pid)
{
	const char *name = fs->exec_name;
	char path[300], buf[24];
	int fd, len, err = 0;

	snprintf(path, sizeof(path), "/%s.pid", name);
	len = snprintf(buf, sizeof(buf), "%d", pid);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0 && (err = jail_fs_made(fs, path, false, true)))
		errno = -err;
	if (fd < 0 || err || write(fd, buf, len) != len)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		fprintf(stderr, "evvm jailer: pid file '%s' in the jail: %s\n", path,
			strerror(-err));
	return err;
}

/* Fork; the child goes on (0), the parent exits 0. */
static int fork_off(void)
{
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "evvm jailer: fork: %s\n", strerror(errno));
		return -errno;
	}
	/*
	 * The parent is done. It is in the jail already (no /proc there), so
	 * it leaves without atexit work, as a daemonizing parent does.
	 */
	if (pid)
		_exit(0);
	return 0;
}

static int jail_daemonize(struct jail_run *r)
{
	int err = fork_off();

	if (err)
		return err;
	if (setsid() < 0) {
		fprintf(stderr, "evvm jailer: --daemonize: setsid: %s\n", strerror(errno));
		return -errno;
	}
	err = fork_off();
	if (err)
		return err;
	if (dup2(r->null_fd, 0) < 0 || dup2(r->null_fd, 1) < 0 || dup2(r->null_fd, 2) < 0)
		return -errno;
	close(r->null_fd);
	r->null_fd = -1;
	return 0;
}

/*
 * --daemonize, then --new-pid-ns: the process that is to exec returns 0
 * (parents that are done exit 0, the last one once the pid file names
 * its child), or -errno.
 */
static int jail_spawn(struct jail_run *r)
{
	bool leader = !r->a.daemonize && getsid(0) == getpid();
	pid_t pid;
	int err;

	if (r->a.daemonize && (err = jail_daemonize(r)))
		return err;
	if (!r->a.new_pid_ns)
		return write_pid_file(&r->fs, getpid());
	if (unshare(CLONE_NEWPID)) {
		fprintf(stderr, "evvm jailer: --new-pid-ns: unshare: %s\n", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "evvm jailer: --new-pid-ns: fork: %s\n", strerror(errno));
		return -errno;
	}
	if (pid) {
		/* As fork_off()'s parent, once the pid file is written. */
		if (write_pid_file(&r->fs, pid)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -EIO;
		}
		_exit(0);
	}
	if (leader && setsid() < 0)
		return -errno;
	return 0;
}

static int jail_exec(struct jail_run *r)
{
	static char *const no_env[] = { NULL };
	struct jail_exec x;
	int err = jail_build_argv(&x, &r->a, r->fs.exec_name, r->start_us, r->start_cpu_us);

	if (err)
		return err;
	if (setgroups(0, NULL) || setresgid(r->a.gid, r->a.gid, r->a.gid) ||
	    setresuid(r->a.uid, r->a.uid, r->a.uid)) {
		fprintf(stderr, "evvm jailer: dropping to uid %u gid %u: %s\n", r->a.uid, r->a.gid,
			strerror(errno));
		return -errno;
	}
	execve(x.path, x.argv, no_env);
	fprintf(stderr, "evvm jailer: exec '%s' in the jail: %s\n", x.path, strerror(errno));
	return -errno;
}

static int jail_run(struct jail_run *r)
{
	int err = jail_prepare(r);

	if (err)
		return err;
	err = jail_enter(r);
	if (err)
		return err;
	err = jail_spawn(r);
	if (!err)
		err = jail_exec(r);
	/* After the privilege drop this can only remove what the new uid may. */
	jail_undo(r);
	return err;
}

int cmd_jailer(int argc, char **argv)
{
	struct jail_run r = { .netns_fd = -1, .null_fd = -1, .fs.base_fd = -1 };

	r.start_us = clock_us(CLOCK_MONOTONIC);
	r.start_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	r.cg.orig_fd = r.cg.parent_fd = r.cg.mount_fd = -1;
	/* Nothing the caller left open may reach the jail (Firecracker's first step). */
	if (syscall(SYS_close_range, 3, ~0u, 0))
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	switch (jail_parse(argc, argv, &r.a)) {
	case 0:
		break;
	case 1:
		return 0;
	default:
		return EXIT_USAGE;
	}
	jail_run(&r); /* returns only when it failed, having said why */
	jail_deps_free(&r.deps);
	jail_fs_release(&r.fs);
	jail_cgroup_release(&r.cg);
	if (r.netns_fd >= 0)
		close(r.netns_fd);
	if (r.null_fd >= 0)
		close(r.null_fd);
	return 1;
}
