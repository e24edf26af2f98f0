// SPDX-License-Identifier: MIT
/*
 * bench/api: how fast `evvm firecracker` is ready to serve, and what it
 * costs: from fork to the first answered GET /, the process's CPU time
 * (every thread's, from /proc/PID/task/TID/schedstat, in ns) and the wall
 * time, then its RSS. Firecracker's SPECIFICATION.md: the API socket is
 * ready within 8 CPU ms. Medians of --runs starts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/lib/api_client.h"
#include "bench.h"
#include "evvm_path.h"
#include "median.h"

/* CPU time of every thread of @pid so far, in ns; -1 if it cannot be read. */
static double proc_cpu_ns(pid_t pid)
{
	char path[320], line[128];
	struct dirent *e;
	double sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f) && sscanf(line, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

/* VmRSS of @pid in KiB, or -1. */
static long proc_rss_kib(pid_t pid)
{
	char path[64], line[128];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct sample {
	double cpu_ms, wall_ms, rss_kib;
};

/* One start: fork + exec evvm, poll GET / until it answers, measure, SIGTERM. */
static int one_run(const char *evvm, const char *sock, struct sample *s)
{
	double t0 = now_ns(), deadline = t0 + 10e9;
	int status = -1;
	pid_t pid;

	unlink(sock);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(evvm, evvm, "firecracker", "--api-sock", sock, "--level", "Error",
		      (char *)NULL);
		_exit(127);
	}
	while (now_ns() < deadline && status != 200) {
		status = api_call(sock, "GET", "/", NULL, NULL);
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -ECHILD;
	}
	if (status == 200) {
		s->wall_ms = (now_ns() - t0) / 1e6;
		s->cpu_ms = proc_cpu_ns(pid) / 1e6;
		s->rss_kib = proc_rss_kib(pid);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return status == 200 && s->cpu_ms >= 0 && s->rss_kib >= 0 ? 0 : -ETIMEDOUT;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench/api [--runs R] [--json FILE]\n"
		   "  --runs R     starts of evvm firecracker (default 21)\n"
		   "  --json FILE  also write the figures as JSON\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "runs", required_argument, NULL, 'r' },
					      { "json", required_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	unsigned int runs = 21;
	const char *json = NULL, *evvm = find_evvm();
	double *cpu, *wall, *rss, m_cpu, m_wall, m_rss;
	char dir[] = "/tmp/evvm-bench-api-XXXXXX", sock[64];
	int opt, err = 0;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'r' && opt_uint("api", "runs", optarg, 1, 10000, &runs))
			continue;
		if (opt == 'j') {
			json = optarg;
			continue;
		}
		usage(opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "api: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	cpu = calloc(runs, sizeof(*cpu));
	wall = calloc(runs, sizeof(*wall));
	rss = calloc(runs, sizeof(*rss));
	for (unsigned int i = 0; cpu && wall && rss && i < runs && !err; i++) {
		struct sample s = { 0 };

		err = one_run(evvm, sock, &s);
		cpu[i] = s.cpu_ms;
		wall[i] = s.wall_ms;
		rss[i] = s.rss_kib;
	}
	unlink(sock);
	rmdir(dir);
	if (!cpu || !wall || !rss || err) {
		fprintf(stderr, "api: %s did not answer GET /: %s\n", evvm, strerror(-err));
		return 1;
	}
	m_cpu = median(cpu, runs);
	m_wall = median(wall, runs);
	m_rss = median(rss, runs);
	printf("evvm firecracker, %u starts (medians)\n", runs);
	printf("  %-34s %8.2f ms\n", "CPU time, start to API answering", m_cpu);
	printf("  %-34s %8.2f ms\n", "wall time, start to API answering", m_wall);
	printf("  %-34s %8.0f KiB\n", "RSS with the API ready", m_rss);
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f ||
		    fprintf(f,
			    "{\"runs\": %u, \"cpu_ms_to_api\": %.3f, \"wall_ms_to_api\": %.3f, "
			    "\"rss_kib_api_ready\": %.0f}\n",
			    runs, m_cpu, m_wall, m_rss) < 0 ||
		    fclose(f)) {
			fprintf(stderr, "api: %s: %s\n", json, strerror(errno));
			return 1;
		}
	}
	free(cpu);
	free(wall);
	free(rss);
	return 0;
}
