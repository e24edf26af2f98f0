// SPDX-License-Identifier: MIT
/*
 * bench/jailer: what `evvm jailer` adds to a start. Wall time from fork to
 * the backend's ready line ("ready on" on stdout or stderr) of `evvm vhost-user-rng`
 * alone, then of the same backend through `evvm jailer` (chroot with the
 * exec file and its libraries, device nodes, rlimits, pivot_root, uid/gid
 * drop), with --new-pid-ns, and with a cgroup v2 (--cgroup) where the
 * machine has a writable one; and the CPU time of every process of each
 * start (the jailer's forks too), which a loaded machine disturbs less.
 * Medians of --runs starts; needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "evvm_path.h"
#include "median.h"

#define ARGS_MAX 40

enum mode { ALONE, JAILED, PIDNS, CGROUP, NR_MODES };

static const char *const mode_names[NR_MODES] = {
	"vhost-user-rng alone",
	"through evvm jailer",
	"through evvm jailer --new-pid-ns",
	"through evvm jailer --cgroup (v2)",
};

static const char *const mode_keys[NR_MODES] = { "alone", "jailed", "jailed_pidns",
						 "jailed_cgroup" };

struct bench {
	const char *evvm;
	char dir[64];
	char cg_mount[4096];
	char cg_parent[64];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static bool cgroup2_writable(struct bench *b)
{
	char line[8192], dev[256], dir[4096], type[64], probe[4200];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
			!strcmp(type, "cgroup2");
	if (f)
		fclose(f);
	if (!found)
		return false;
	snprintf(b->cg_mount, sizeof(b->cg_mount), "%s", dir);
	snprintf(probe, sizeof(probe), "%s/%s", dir, b->cg_parent);
	if (mkdir(probe, 0755))
		return false;
	rmdir(probe);
	return true;
}

/* argv for one start of @m (run @i); @sock gets the socket's path as the backend names it. */
static void build_argv(const struct bench *b, enum mode m, unsigned int i, const char **argv,
		       char *id, char *sock)
{
	unsigned int n = 0;

	argv[n++] = b->evvm;
	if (m != ALONE) {
		snprintf(id, 32, "bench-%d-%u", getpid(), i);
		argv[n++] = "jailer";
		argv[n++] = "--id";
		argv[n++] = id;
		argv[n++] = "--exec-file";
		argv[n++] = b->evvm;
		argv[n++] = "--uid";
		argv[n++] = "4242";
		argv[n++] = "--gid";
		argv[n++] = "4243";
		argv[n++] = "--chroot-base-dir";
		argv[n++] = b->dir;
		if (m == PIDNS)
			argv[n++] = "--new-pid-ns";
		if (m == CGROUP) {
			argv[n++] = "--cgroup-version=2";
			argv[n++] = "--cgroup=cgroup.max.descendants=4";
			argv[n++] = "--parent-cgroup";
			argv[n++] = b->cg_parent;
		}
		argv[n++] = "--";
		strcpy(sock, "/run/rng.sock");
	} else {
		snprintf(sock, 96, "%s/rng.sock", b->dir);
	}
	argv[n++] = "vhost-user-rng";
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n] = NULL;
}

/* Fork @argv with stderr on a pipe; the ms until a line with "ready on", or -1. */
static double start_until_ready(const char **argv, pid_t *pid)
{
	char buf[4096];
	size_t len = 0;
	double t0 = now_ns();
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	*pid = fork();
	if (*pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while (*pid > 0 && len < sizeof(buf) - 1) {
		ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		if (strstr(buf, "ready on")) {
			close(p[0]);
			return (now_ns() - t0) / 1e6;
		}
	}
	close(p[0]);
	fprintf(stderr, "jailer: %s did not get ready: %s\n", argv[0], len ? buf : "");
	return -1;
}

/* Stop the backend (its pid from the jail's pid file when jailed) and remove the jail. */
static void stop(const struct bench *b, enum mode m, const char *id, pid_t pid)
{
	char path[4400], s[24] = "";
	pid_t backend = pid;
	int fd;

	if (pid <= 0)
		return;
	if (m != ALONE) {
		snprintf(path, sizeof(path), "%s/evvm/%s/root/evvm.pid", b->dir, id);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && read(fd, s, sizeof(s) - 1) > 0)
			backend = atoi(s);
		if (fd >= 0)
			close(fd);
	}
	kill(backend, SIGKILL);
	waitpid(pid, NULL, 0);
	if (backend != pid)
		waitpid(backend, NULL, 0); /* ours too: we are the subreaper */
	if (m != ALONE) {
		snprintf(path, sizeof(path), "%s/evvm/%s", b->dir, id);
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	}
	if (m == CGROUP) {
		snprintf(path, sizeof(path), "%s/%s/%s", b->cg_mount, b->cg_parent, id);
		rmdir(path);
	}
}

/* CPU time of every reaped descendant so far (user + system), in ms. */
static double children_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Medians of @runs starts of @m: wall ms to ready in out[0], CPU ms of all its processes in out[1].
 */
static int run_mode(struct bench *b, enum mode m, unsigned int runs, double out[2])
{
	double *v = calloc(2 * runs, sizeof(*v)), *cpu = v + runs;
	const char *argv[ARGS_MAX];
	char id[32] = "", sock[96];
	pid_t pid = -1;

	if (!v)
		return -ENOMEM;
	for (unsigned int i = 0; i < runs; i++) {
		double c0 = children_cpu_ms();

		build_argv(b, m, i, argv, id, sock);
		v[i] = start_until_ready(argv, &pid);
		stop(b, m, id, pid);
		cpu[i] = children_cpu_ms() - c0;
		if (v[i] < 0) {
			free(v);
			return -EIO;
		}
	}
	out[0] = median(v, runs);
	out[1] = median(cpu, runs);
	free(v);
	return 0;
}

static int write_json(const char *path, unsigned int runs, double ms[][2], const bool *have)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "{\"runs\": %u", runs);
	for (int m = 0; m < NR_MODES; m++)
		if (have[m])
			fprintf(f, ", \"%s_wall_ms\": %.3f, \"%s_cpu_ms\": %.3f", mode_keys[m],
				ms[m][0], mode_keys[m], ms[m][1]);
	fprintf(f, "}\n");
	return fclose(f) ? -errno : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench/jailer [--runs R] [--json FILE]   (as root)\n"
		   "  --runs R     starts of each kind (default 31)\n"
		   "  --json FILE  also write the figures as JSON\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "runs", required_argument, NULL, 'r' },
					      { "json", required_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct bench b = { .evvm = find_evvm(), .dir = "/tmp/evvm-bench-jailer-XXXXXX" };
	double ms[NR_MODES][2] = { { 0 } };
	bool have[NR_MODES] = { 0 };
	const char *json = NULL;
	unsigned int runs = 31;
	int opt, err = 0;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'r' && opt_uint("jailer", "runs", optarg, 1, 10000, &runs))
			continue;
		if (opt == 'j') {
			json = optarg;
			continue;
		}
		usage(opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (geteuid()) {
		fprintf(stderr, "jailer: needs root (the jailer mounts, pivots and changes uid)\n");
		return 1;
	}
	if (!mkdtemp(b.dir)) {
		fprintf(stderr, "jailer: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(b.cg_parent, sizeof(b.cg_parent), "evvm-bench-%d", getpid());
	printf("evvm jailer start time, %u starts of each (medians; fork to \"ready on\"; CPU of\n"
	       "every process of the start, until killed just after)\n",
	       runs);
	printf("  %-36s %9s %9s %9s %9s\n", "", "wall ms", "added", "CPU ms", "added");
	for (int m = 0; m < NR_MODES && !err; m++) {
		if (m == CGROUP && !cgroup2_writable(&b)) {
			printf("  %-36s skipped: no writable cgroup2 mount\n", mode_names[m]);
			continue;
		}
		err = run_mode(&b, m, runs, ms[m]);
		have[m] = !err;
		if (!err)
			printf("  %-36s %9.2f %+9.2f %9.2f %+9.2f\n", mode_names[m], ms[m][0],
			       ms[m][0] - ms[0][0], ms[m][1], ms[m][1] - ms[0][1]);
	}
	if (have[CGROUP]) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/%s", b.cg_mount, b.cg_parent);
		rmdir(p);
	}
	nftw(b.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (!err && json && (err = write_json(json, runs, ms, have)))
		fprintf(stderr, "jailer: %s: %s\n", json, strerror(-err));
	return err ? 1 : 0;
}
