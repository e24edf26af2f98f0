// SPDX-License-Identifier: MIT
/*
 * bench/api: how fast `evvm firecracker` is ready to serve, and what it
 * costs: from fork to the first answered GET /, the process's CPU time
 * (every thread's, from /proc/PID/task/TID/schedstat, in ns) and the wall
 * time, then its RSS. Firecracker's SPECIFICATION.md: the API socket is
 * ready within 8 CPU ms. Medians of --runs starts.
 *
 * With /dev/kvm, also from InstanceStart to the guest's first sign of life:
 * the test guest (tests=idle) as the kernel, the InstanceStart request
 * sent, then the first byte of its serial output on evvm's stdout (a pipe
 * read here). The guest's first exits to evvm are that byte's UART
 * accesses, a few hundred instructions after its entry (long mode, IDT,
 * LAPIC, command line, the line formatted): the nearest to its first
 * instruction that can be seen from outside. Wall time and the CPU time of all of evvm's threads
 * (guest mode included) over that interval; then, the guest idle, evvm's
 * RSS split into the guest RAM's pages (its memfd's mapping) and the rest,
 * the VMM's own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

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

/* Rss of @pid's mappings of guest RAM (evvm's "evvm-ram" memfd) in KiB, or -1. */
static long guest_rss_kib(pid_t pid)
{
	char path[64], line[512];
	bool guest = false;
	long kib = 0, n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') > strchr(line, '-'))
			guest = strstr(line, "/memfd:evvm-ram") !=
				NULL; /* a mapping's first line */
		else if (guest && sscanf(line, "Rss: %ld kB", &n) == 1)
			kib += n;
	}
	fclose(f);
	return kib;
}

struct sample {
	double cpu_ms, wall_ms, rss_kib;
};

/* fork + exec `evvm firecracker` with its stdout on @out_fd (-1: this one's). */
static pid_t spawn_evvm(const char *evvm, const char *sock, int out_fd)
{
	pid_t pid;

	unlink(sock);
	pid = fork();
	if (pid == 0) {
		if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
			_exit(127);
		execl(evvm, evvm, "firecracker", "--api-sock", sock, "--level", "Error",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Poll GET / until it answers 200: 0, or -ECHILD (@pid exited, reaped) or -ETIMEDOUT (10 s). */
static int wait_api(pid_t pid, const char *sock)
{
	double deadline = now_ns() + 10e9;

	while (now_ns() < deadline) {
		if (api_call(sock, "GET", "/", NULL, NULL) == 200)
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -ECHILD;
	}
	return -ETIMEDOUT;
}

static void stop_evvm(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* One start: fork + exec evvm, poll GET / until it answers, measure, SIGTERM. */
static int one_run(const char *evvm, const char *sock, struct sample *s)
{
	double t0 = now_ns();
	pid_t pid = spawn_evvm(evvm, sock, -1);
	int err;

	if (pid < 0)
		return -errno;
	err = wait_api(pid, sock);
	if (err == -ECHILD)
		return err;
	if (!err) {
		s->wall_ms = (now_ns() - t0) / 1e6;
		s->cpu_ms = proc_cpu_ns(pid) / 1e6;
		s->rss_kib = proc_rss_kib(pid);
	}
	stop_evvm(pid);
	return !err && s->cpu_ms >= 0 && s->rss_kib >= 0 ? 0 : -ETIMEDOUT;
}

/* Why the boot rows cannot run here, written to @why; NULL when they can. */
static const char *boot_skip_reason(const char *guest, char *why, size_t size)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0) {
		snprintf(why, size,
			 "/dev/kvm: %s (on a host without it: tools/kvm-nested -- "
			 "build/bench/api)",
			 strerror(errno));
		return why;
	}
	close(kvm);
	if (access(guest, R_OK)) {
		snprintf(why, size, "%s: %s (build it, or set GUEST_ELF)", guest, strerror(errno));
		return why;
	}
	return NULL;
}

/*
 * Read @fd until @want has been seen or 120 s pass: 0, -EPROTO if the
 * output does not start with the guest's "evvm-guest: " (something else
 * came first), -ETIMEDOUT.
 */
static int read_until(int fd, const char *want)
{
	static char buf[16384];
	double deadline = now_ns() + 120e9;
	size_t len = 0;
	ssize_t n;

	while (len + 1 < sizeof(buf) && now_ns() < deadline) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (poll(&pfd, 1, 1000) != 1)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		if (strncmp(buf, "evvm-guest: ", len < 12 ? len : 12))
			return -EPROTO;
		if (strstr(buf, want))
			return 0;
	}
	return -ETIMEDOUT;
}

/* PUT /actions InstanceStart, sent without waiting: the connection to read the answer on, or -1. */
static int send_instance_start(const char *sock)
{
	static const char body[] = "{\"action_type\":\"InstanceStart\"}";
	char req[256];
	int fd = api_connect(sock);
	int n = snprintf(req, sizeof(req),
			 "PUT /actions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 sizeof(body) - 1, body);

	if (fd >= 0 && api_send_all(fd, req, n)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

struct boot_sample {
	double wall_ms, cpu_ms, vmm_kib, guest_kib;
};

/* From InstanceStart sent to the first byte on evvm's stdout @out; 0 or -errno. */
static int boot_measure(pid_t pid, const char *sock, int out, struct boot_sample *s)
{
	struct pollfd pfd = { out, POLLIN, 0 };
	double cpu0 = proc_cpu_ns(pid), t0 = now_ns();
	int api = send_instance_start(sock), err = 0;

	if (api < 0)
		return -EIO;
	if (poll(&pfd, 1, 120000) != 1 || !(pfd.revents & POLLIN))
		err = -ETIMEDOUT;
	if (!err) {
		s->wall_ms = (now_ns() - t0) / 1e6;
		s->cpu_ms = (proc_cpu_ns(pid) - cpu0) / 1e6;
		if (api_read_response(api, 10, NULL) != 204)
			err = -EINVAL;
	}
	close(api);
	return err;
}

/* One boot of the test guest through the API; its RSS once idle. 0 or -errno. */
static int boot_run(const char *evvm, const char *guest, const char *sock, struct boot_sample *s)
{
	json_t *boot;
	char *body;
	int out[2], err;
	long total, ram;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC))
		return -errno;
	pid = spawn_evvm(evvm, sock, out[1]);
	close(out[1]);
	if (pid < 0) {
		close(out[0]);
		return -errno;
	}
	err = wait_api(pid, sock);
	/* jansson writes the path escaped, whatever GUEST_ELF holds. */
	boot = json_pack("{s:s, s:s}", "kernel_image_path", guest, "boot_args", "tests=idle");
	body = boot ? json_dumps(boot, JSON_COMPACT) : NULL;
	json_decref(boot);
	if (!err && (!body || api_call(sock, "PUT", "/boot-source", body, NULL) != 204))
		err = -EINVAL;
	free(body);
	if (!err)
		err = boot_measure(pid, sock, out[0], s);
	if (!err)
		err = read_until(out[0], "evvm-guest: idle\n");
	if (!err) {
		total = proc_rss_kib(pid);
		ram = guest_rss_kib(pid);
		err = total < 0 || ram < 0 ? -ENOENT : 0;
		s->guest_kib = ram;
		s->vmm_kib = total - ram;
	}
	if (err != -ECHILD)
		stop_evvm(pid);
	close(out[0]);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench/api [--runs R] [--json FILE]\n"
		   "  --runs R     starts of evvm firecracker (default 21), and as many boots\n"
		   "               of the test guest where /dev/kvm works\n"
		   "  --json FILE  also write the figures as JSON\n"
		   "  Environment: EVVM, GUEST_ELF\n");
}

/* Medians of @runs starts to the API answering into @m (cpu, wall, rss); 0 or 1 after a line. */
static int api_rows(const char *evvm, const char *sock, unsigned int runs, double m[3])
{
	double *v = calloc(3 * (size_t)runs, sizeof(*v));
	int err = v ? 0 : -ENOMEM;

	for (unsigned int i = 0; i < runs && !err; i++) {
		struct sample s = { 0 };

		err = one_run(evvm, sock, &s);
		v[i] = s.cpu_ms;
		v[runs + i] = s.wall_ms;
		v[2 * runs + i] = s.rss_kib;
	}
	if (err) {
		fprintf(stderr, "api: %s did not answer GET /: %s\n", evvm, strerror(-err));
		free(v);
		return 1;
	}
	for (unsigned int k = 0; k < 3; k++)
		m[k] = median(v + k * runs, runs);
	free(v);
	printf("evvm firecracker, %u starts (medians)\n", runs);
	printf("  %-40s %8.2f ms\n", "CPU time, start to API answering", m[0]);
	printf("  %-40s %8.2f ms\n", "wall time, start to API answering", m[1]);
	printf("  %-40s %8.0f KiB\n", "RSS with the API ready", m[2]);
	return 0;
}

/*
 * Medians of @runs boots into @m (wall, cpu, vmm rss, guest rss); 0, 1
 * after a line, or -1 when skipped (@why says why).
 */
static int boot_rows(const char *evvm, const char *sock, unsigned int runs, double m[4], char *why,
		     size_t size)
{
	const char *guest = find_guest(evvm);
	double *v;
	int err = 0;

	if (boot_skip_reason(guest, why, size)) {
		printf("InstanceStart to the guest's first output: skipped: %s\n", why);
		return -1;
	}
	v = calloc(4 * (size_t)runs, sizeof(*v));
	for (unsigned int i = 0; v && i < runs && !err; i++) {
		struct boot_sample s = { 0 };

		err = boot_run(evvm, guest, sock, &s);
		v[i] = s.wall_ms;
		v[runs + i] = s.cpu_ms;
		v[2 * runs + i] = s.vmm_kib;
		v[3 * runs + i] = s.guest_kib;
	}
	if (!v || err) {
		fprintf(stderr, "api: booting %s through the API: %s\n", guest,
			strerror(v ? -err : ENOMEM));
		free(v);
		return 1;
	}
	for (unsigned int k = 0; k < 4; k++)
		m[k] = median(v + k * runs, runs);
	free(v);
	printf("InstanceStart to the guest's first serial byte, %u boots (medians)\n", runs);
	printf("  %-40s %8.2f ms\n", "wall time", m[0]);
	printf("  %-40s %8.2f ms\n", "CPU time of evvm (all threads)", m[1]);
	printf("  %-40s %8.0f KiB\n", "RSS of evvm itself, guest idle", m[2]);
	printf("  %-40s %8.0f KiB\n", "RSS of guest RAM, guest idle", m[3]);
	return 0;
}

static int write_json(const char *path, unsigned int runs, const double api[3], int boot,
		      const double b[4], const char *why)
{
	FILE *f = fopen(path, "w");
	int n = f ? fprintf(f,
			    "{\"runs\": %u, \"cpu_ms_to_api\": %.3f, \"wall_ms_to_api\": %.3f, "
			    "\"rss_kib_api_ready\": %.0f, ",
			    runs, api[0], api[1], api[2])
		  : -1;

	if (n >= 0 && boot == 0)
		n = fprintf(f,
			    "\"boot\": {\"wall_ms_to_guest_output\": %.3f, "
			    "\"cpu_ms_to_guest_output\": %.3f, \"rss_kib_vmm\": %.0f, "
			    "\"rss_kib_guest\": %.0f}}\n",
			    b[0], b[1], b[2], b[3]);
	else if (n >= 0) {
		fputs("\"boot\": {\"skipped\": \"", f);
		for (const char *c = why; *c; c++) {
			if (*c == '"' || *c == '\\')
				fputc('\\', f);
			fputc((unsigned char)*c < 0x20 ? '?' : *c, f);
		}
		n = fprintf(f, "\"}}\n");
	}
	if (!f || n < 0 || fclose(f)) {
		fprintf(stderr, "api: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "runs", required_argument, NULL, 'r' },
					      { "json", required_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	unsigned int runs = 21;
	const char *json = NULL, *evvm = find_evvm();
	char dir[] = "/tmp/evvm-bench-api-XXXXXX", sock[64], why[PATH_MAX + 128];
	double api[3], b[4] = { 0 };
	int opt, err, boot = -1;

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
	err = api_rows(evvm, sock, runs, api);
	if (!err)
		boot = boot_rows(evvm, sock, runs, b, why, sizeof(why));
	unlink(sock);
	rmdir(dir);
	if (err || boot > 0)
		return 1;
	return json ? write_json(json, runs, api, boot, b, why) : 0;
}
