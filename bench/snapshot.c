// SPDX-License-Identifier: MIT
/*
 * bench/snapshot: what a snapshot costs and how fast a VM comes back from
 * one, driven through the API as an orchestrator drives it. For each guest
 * RAM size, `evvm run --api-sock` boots the test guest with tests=mem-touch
 * (a word written in every page of its RAM above 64 MiB, then a pass over
 * those pages every 50 ms). After two passes the VM is paused (PATCH /vm)
 * and saved (PUT /snapshot/create: until its 204), and the process ends.
 * A fresh `evvm firecracker` loads the files (PUT /snapshot/load with
 * resume_vm: from the request to its 204, which comes once the vCPUs run
 * again: load-to-running). The guest's first pass after the load touches
 * every page of the memory file mapped MAP_PRIVATE; the page-in cost is
 * that pass less the last pass before the snapshot, per page. With --diff
 * the VM runs with dirty page tracking (KVM write-protects each page until
 * its first write, which costs the guest's first pass dearly under nested
 * TCG: off by default), and after the full snapshot it is resumed for one
 * more pass (which only reads) and a diff snapshot is taken (PUT
 * /snapshot/create, Diff: until its 204), what an orchestrator taking
 * snapshots of an idle VM over and over pays; the load uses the full
 * one. Medians of --runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/lib/api_client.h"
#include "bench.h"
#include "evvm_path.h"
#include "median.h"

#define MAX_RUNS      32
#define MAX_SIZES     8
#define TOUCH_BASE_MB 64   /* guest/test_mem_touch.c: pages from 64 MiB up */
#define MAX_MEM_MB    3008 /* the guest maps RAM below 3 GiB */
#define API_TIMEOUT   120.0
#define CALL_TIMEOUT  600.0 /* a create writes all of guest RAM */

struct opts {
	unsigned int sizes[MAX_SIZES], nr_sizes, runs, timeout_s;
	bool diff; /* --diff: track dirty pages and take a diff after the full snapshot */
	const char *dir, *json, *evvm, *guest;
};

/* One save and load of a @mem_mb guest; times in ms, the page-in cost in us. */
struct sample {
	double pause_ms, create_ms, file_mib, load_ms, warm_ms, first_ms, page_in_us;
	double diff_ms, diff_mib;
};

struct paths {
	char sock[256], state[256], mem[256], boot_log[256], load_log[256];
	char diff_state[256], diff_mem[256];
};

static pid_t spawn_logged(char *const *argv, const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (null < 0 || out < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(out, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/*
 * The guest's last complete pass in @log: its number, and its cycles in
 * *@cycles; 0 if none. *@started: a later pass has begun.
 */
static unsigned int last_pass(const char *log, uint64_t *cycles, bool *started)
{
	char *text = slurp(log), *p;
	unsigned int last = 0, n, begun = 0;
	uint64_t pages, c;

	*started = false;
	for (p = text; p && (p = strstr(p, "evvm-guest: mem-touch pass ")); p++) {
		int end = 0;

		/* The UART writes a byte at a time: a line counts once its last word is there. */
		if (sscanf(p,
			   "evvm-guest: mem-touch pass %u: %" SCNu64 " pages in %" SCNu64
			   " cycles%n",
			   &n, &pages, &c, &end) == 3 &&
		    end > 0) {
			last = n;
			*cycles = c;
		} else if (sscanf(p, "evvm-guest: mem-touch pass %u start", &n) == 1) {
			begun = n;
		}
	}
	free(text);
	*started = begun > last;
	return last;
}

/* Wait until the guest in @pid has finished pass @pass (and no later one begun, if @idle). */
static int wait_pass(pid_t pid, const char *log, unsigned int pass, bool idle, double timeout_s,
		     uint64_t *cycles)
{
	double deadline = now_ns() + timeout_s * 1e9;
	bool started;

	while (now_ns() < deadline) {
		if (last_pass(log, cycles, &started) >= pass && (!idle || !started))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "snapshot: the VMM ended early (see %s)\n", log);
			return -ECHILD;
		}
		usleep(2000);
	}
	fprintf(stderr, "snapshot: no pass %u of the guest within %.0f s (see %s)\n", pass,
		timeout_s, log);
	return -ETIMEDOUT;
}

/* @method @path with @body, timed: 0 with *@ms set when it answered @want. */
static int timed_call(const char *sock, const char *method, const char *path, const char *body,
		      int want, double *ms)
{
	double t0 = now_ns();
	char *resp = NULL;
	int status = api_call_timeout(sock, method, path, body, CALL_TIMEOUT, &resp);

	*ms = (now_ns() - t0) / 1e6;
	if (status != want) {
		fprintf(stderr, "snapshot: %s %s: status %d, want %d: %s\n", method, path, status,
			want, resp ? resp : "");
		free(resp);
		return -EIO;
	}
	free(resp);
	return 0;
}

static int wait_api(pid_t pid, const char *sock, double timeout_s)
{
	double deadline = now_ns() + timeout_s * 1e9;

	while (now_ns() < deadline) {
		if (api_call(sock, "GET", "/", NULL, NULL) == 200)
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -ECHILD;
		usleep(2000);
	}
	return -ETIMEDOUT;
}

/* Boot, pause at a pass's end, save; the saving process is gone on return. */
/* Resume for one more pass, pause, and take a diff snapshot. */
static int save_diff(const struct opts *o, const struct paths *p, pid_t pid, unsigned int pass,
		     struct sample *s)
{
	uint64_t cycles;
	char body[640];
	struct stat st;
	double ms;
	int err;

	err = timed_call(p->sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", 204, &ms);
	if (!err)
		err = wait_pass(pid, p->boot_log, pass + 1, false, o->timeout_s, &cycles);
	if (!err)
		err = timed_call(p->sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", 204, &ms);
	snprintf(body, sizeof(body),
		 "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"%s\", "
		 "\"mem_file_path\": \"%s\"}",
		 p->diff_state, p->diff_mem);
	if (!err)
		err = timed_call(p->sock, "PUT", "/snapshot/create", body, 204, &s->diff_ms);
	if (!err && stat(p->diff_mem, &st))
		err = -errno;
	if (!err)
		s->diff_mib = st.st_blocks * 512.0 / (1 << 20);
	return err;
}

static int save(const struct opts *o, const struct paths *p, unsigned int mem_mb,
		unsigned int *pass, uint64_t *warm_cycles, struct sample *s)
{
	char size[32], cmdline[96], body[640];
	char *argv[] = { (char *)o->evvm,
			 "run",
			 "--memory",
			 size,
			 "--kernel",
			 (char *)o->guest,
			 "--cmdline",
			 cmdline,
			 "--api-sock",
			 (char *)p->sock,
			 NULL };
	uint64_t cycles = 0;
	struct stat st;
	double ms;
	bool started;
	pid_t pid;
	int err;

	snprintf(size, sizeof(size), "size=%uM%s", mem_mb, o->diff ? ",track_dirty_pages=on" : "");
	snprintf(cmdline, sizeof(cmdline), "tests=mem-touch memtouch.mib=%u",
		 mem_mb - TOUCH_BASE_MB);
	unlink(p->sock);
	pid = spawn_logged(argv, p->boot_log);
	if (pid < 0)
		return -errno;
	err = wait_pass(pid, p->boot_log, 2, true, o->timeout_s, &cycles);
	/* Paused between two passes, else resumed until it is. */
	for (unsigned int tries = 0; !err; tries++) {
		err = timed_call(p->sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", 204,
				 &s->pause_ms);
		*pass = last_pass(p->boot_log, &cycles, &started);
		if (err || !started)
			break;
		err = tries < 20 ? timed_call(p->sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}",
					      204, &ms)
				 : -EAGAIN;
		if (!err)
			err = wait_pass(pid, p->boot_log, *pass + 1, true, o->timeout_s, &cycles);
	}
	*warm_cycles = cycles;
	if (!err) {
		snprintf(body, sizeof(body),
			 "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"%s\", "
			 "\"mem_file_path\": \"%s\"}",
			 p->state, p->mem);
		err = timed_call(p->sock, "PUT", "/snapshot/create", body, 204, &s->create_ms);
	}
	if (!err)
		err = o->diff ? save_diff(o, p, pid, *pass, s) : 0;
	stop(pid);
	if (!err && stat(p->mem, &st))
		err = -errno;
	if (!err)
		s->file_mib = st.st_blocks * 512.0 / (1 << 20);
	return err;
}

/* A fresh process loads the files; the guest's next pass touches every page. */
static int load(const struct opts *o, const struct paths *p, unsigned int pass,
		uint64_t *first_cycles, struct sample *s)
{
	char *argv[] = { (char *)o->evvm, "firecracker", "--api-sock", (char *)p->sock,
			 "--level",	  "Warning",	 NULL };
	char body[640];
	pid_t pid;
	int err;

	unlink(p->sock);
	pid = spawn_logged(argv, p->load_log);
	if (pid < 0)
		return -errno;
	err = wait_api(pid, p->sock, API_TIMEOUT);
	if (!err) {
		snprintf(body, sizeof(body),
			 "{\"snapshot_path\": \"%s\", \"mem_backend\": {\"backend_type\": "
			 "\"File\", \"backend_path\": \"%s\"}, \"resume_vm\": true}",
			 p->state, p->mem);
		err = timed_call(p->sock, "PUT", "/snapshot/load", body, 204, &s->load_ms);
	}
	if (!err)
		err = wait_pass(pid, p->load_log, pass + 1, false, o->timeout_s, first_cycles);
	stop(pid);
	return err;
}

static int one_run(const struct opts *o, unsigned int mem_mb, double tsc_hz, struct sample *s)
{
	double pages = (mem_mb - TOUCH_BASE_MB) * 256.0;
	uint64_t warm = 0, first = 0; /* the passes around the snapshot, in guest TSC cycles */
	unsigned int pass = 0;
	struct paths p;
	int err;

	snprintf(p.sock, sizeof(p.sock), "%s/evvm-snapbench.sock", o->dir);
	snprintf(p.state, sizeof(p.state), "%s/evvm-snapbench.state", o->dir);
	snprintf(p.mem, sizeof(p.mem), "%s/evvm-snapbench.mem", o->dir);
	snprintf(p.boot_log, sizeof(p.boot_log), "%s/evvm-snapbench-boot.log", o->dir);
	snprintf(p.load_log, sizeof(p.load_log), "%s/evvm-snapbench-load.log", o->dir);
	snprintf(p.diff_state, sizeof(p.diff_state), "%s/evvm-snapbench-diff.state", o->dir);
	snprintf(p.diff_mem, sizeof(p.diff_mem), "%s/evvm-snapbench-diff.mem", o->dir);
	err = save(o, &p, mem_mb, &pass, &warm, s);
	if (!err)
		err = load(o, &p, pass, &first, s);
	unlink(p.sock);
	unlink(p.state);
	unlink(p.mem);
	unlink(p.diff_state);
	unlink(p.diff_mem);
	if (err)
		return err;
	unlink(p.boot_log);
	unlink(p.load_log);
	s->warm_ms = warm / tsc_hz * 1e3;
	s->first_ms = first / tsc_hz * 1e3;
	s->page_in_us = ((double)first - (double)warm) / pages / tsc_hz * 1e6;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench/snapshot [--mem MIB[,MIB...]] [--runs R] [--dir DIR] [--json FILE]\n"
		"  --mem LIST     guest RAM sizes in MiB, 128..%u (default 128,2048)\n"
		"  --runs R       saves and loads of each size (default 3)\n"
		"  --dir DIR      where the state and memory files go (default $TMPDIR or /tmp)\n"
		"  --timeout S    the longest wait for a guest pass (default 600)\n"
		"  --diff         track dirty pages (which slows the guest's first writes to\n"
		"                 each page) and also time a diff snapshot after the full one\n"
		"  --quick        --mem 128 --runs 1 --diff (for CI)\n"
		"  --json FILE    also write the figures as JSON\n"
		"  Environment: EVVM, GUEST_ELF\n",
		MAX_MEM_MB);
}

static bool parse_sizes(const char *arg, struct opts *o)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	bool ok = copy != NULL;

	o->nr_sizes = 0;
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned int v;

		ok = o->nr_sizes < MAX_SIZES && parse_uint(tok, &v) && v >= 128 && v <= MAX_MEM_MB;
		if (ok)
			o->sizes[o->nr_sizes++] = v;
	}
	free(copy);
	if (!ok || !o->nr_sizes)
		fprintf(stderr, "snapshot: --mem '%s': want up to %u sizes in MiB, 128..%u\n", arg,
			MAX_SIZES, MAX_MEM_MB);
	return ok && o->nr_sizes;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "runs", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "quick", no_argument, NULL, 'q' },
		{ "diff", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (!parse_sizes(optarg, o))
				return 2;
			break;
		case 'r':
			if (!opt_uint("snapshot", "runs", optarg, 1, MAX_RUNS, &o->runs))
				return 2;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 't':
			if (!opt_uint("snapshot", "timeout", optarg, 1, 86400, &o->timeout_s))
				return 2;
			break;
		case 'D':
			o->diff = true;
			break;
		case 'q':
			o->diff = true;
			o->sizes[0] = 128;
			o->nr_sizes = 1;
			o->runs = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "snapshot: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* The medians of each figure over @runs samples, in the order of struct sample. */
#define NR_FIGS (sizeof(struct sample) / sizeof(double))

static void medians(const struct sample *s, unsigned int runs, double med[NR_FIGS])
{
	for (unsigned int f = 0; f < NR_FIGS; f++) {
		double v[MAX_RUNS];

		for (unsigned int r = 0; r < runs; r++)
			v[r] = ((const double *)&s[r])[f];
		med[f] = median(v, runs);
	}
}

static const char *const fig_names[NR_FIGS] = {
	"pause_ms",	      "create_ms",	"mem_file_mib",
	"load_to_running_ms", "warm_pass_ms",	"first_pass_after_load_ms",
	"page_in_us",	      "diff_create_ms", "diff_file_mib",
};

static int write_json(const struct opts *o, double tsc_hz, double med[][NR_FIGS])
{
	FILE *f = fopen(o->json, "w");

	if (!f) {
		fprintf(stderr, "snapshot: %s: %s\n", o->json, strerror(errno));
		return 1;
	}
	fprintf(f, "{\"runs\": %u, \"dir\": \"%s\", \"tsc_hz\": %.0f, \"diff\": %s, \"sizes\": [",
		o->runs, o->dir, tsc_hz, o->diff ? "true" : "false");
	for (unsigned int i = 0; i < o->nr_sizes; i++) {
		fprintf(f, "%s{\"mem_mib\": %u, \"pages\": %u", i ? ", " : "", o->sizes[i],
			(o->sizes[i] - TOUCH_BASE_MB) * 256);
		/* The diff's two figures, last, only with --diff. */
		for (unsigned int k = 0; k < NR_FIGS - (o->diff ? 0 : 2); k++)
			fprintf(f, ", \"%s\": %.3f", fig_names[k], med[i][k]);
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
	if (fclose(f)) {
		fprintf(stderr, "snapshot: %s: %s\n", o->json, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .sizes = { 128, 2048 }, .nr_sizes = 2, .runs = 3, .timeout_s = 600 };
	static struct sample s[MAX_SIZES][MAX_RUNS];
	double med[MAX_SIZES][NR_FIGS], tsc_hz;
	const char *tmp = getenv("TMPDIR");
	int kvm, err;

	o.dir = tmp && *tmp ? tmp : "/tmp";
	err = parse_opts(argc, argv, &o);
	if (err)
		return err;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr,
			"snapshot: /dev/kvm: %s: snapshots need KVM (on a host without it: "
			"tools/kvm-nested -- build/bench/snapshot ...)\n",
			strerror(errno));
		return 1;
	}
	close(kvm);
	o.evvm = find_evvm();
	o.guest = find_guest(o.evvm);
	if (access(o.evvm, X_OK) || access(o.guest, R_OK)) {
		fprintf(stderr, "snapshot: %s: %s (build it; or set %s)\n",
			access(o.evvm, X_OK) ? o.evvm : o.guest, strerror(errno),
			access(o.evvm, X_OK) ? "EVVM" : "GUEST_ELF");
		return 1;
	}
	tsc_hz = tsc_rate_hz(200);
	/* Sizes alternate run by run, so a slow spell of the host hits them alike. */
	for (unsigned int r = 0; r < o.runs; r++) {
		for (unsigned int i = 0; i < o.nr_sizes; i++) {
			err = one_run(&o, o.sizes[i], tsc_hz, &s[i][r]);
			if (err) {
				fprintf(stderr, "snapshot: %u MiB, run %u failed: %s\n", o.sizes[i],
					r + 1, strerror(-err));
				return 1;
			}
		}
	}
	printf("bench/snapshot: %u runs, files in %s, medians (ms unless said)\n", o.runs, o.dir);
	printf("%8s %8s %9s %9s %9s %12s %11s %11s %12s %9s %9s\n", "mem_MiB", "pause", "create",
	       "file_MiB", "MiB/s", "load->run", "warm_pass", "first_pass", "page_in_us", "diff",
	       "diff_MiB");
	for (unsigned int i = 0; i < o.nr_sizes; i++) {
		medians(s[i], o.runs, med[i]);
		printf("%8u %8.2f %9.1f %9.1f %9.0f %12.2f %11.2f %11.2f %12.3f", o.sizes[i],
		       med[i][0], med[i][1], med[i][2], med[i][2] / (med[i][1] / 1e3), med[i][3],
		       med[i][4], med[i][5], med[i][6]);
		if (o.diff)
			printf(" %9.1f %9.2f\n", med[i][7], med[i][8]);
		else
			printf(" %9s %9s\n", "-", "-");
	}
	return o.json ? write_json(&o, tsc_hz, med) : 0;
}
