// SPDX-License-Identifier: MIT
/*
 * bench/notify: what a guest doorbell and a kick -> interrupt round trip
 * cost on each notification path, against a raw-KVM program doing the same
 * with no evvm code. Paths run interleaved, run after run, so ratios hold
 * on a noisy machine; the table shows medians.
 *
 *   raw          bench/raw_kvm.c: KVM ioeventfd + irqfd + one answering thread
 *   user         evvm --ioeventfd=user --irqfd=user (every doorbell exits)
 *   kernel       evvm, KVM ioeventfd + irqfd, I/O thread sleeps in epoll
 *   kernel-poll  the same with adaptive busy polling (--poll-max-us)
 *
 * By default the whole benchmark runs on one host CPU. Under PVM (software
 * nested virtualization) an interrupt injected into a vCPU running on
 * another CPU can be noticed late, and irregularly so, which blurs what is
 * measured here; --no-pin shows that case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>
#include <evvm/vm.h>

#include "../cli/cli.h"
#include "bench.h"
#include "median.h"
#include "raw_kvm.h"

#define DOORBELL 0xd2000000ULL
#define VECTOR	 0x40
#define MEM_MB	 16
#define MARK_END 0x100
#define MAX_RUNS 64

enum { RAW, USER, KERNEL, KERNEL_POLL, NR_PATHS };

static const char *const path_names[NR_PATHS] = { "raw", "user", "kernel", "kernel-poll" };

struct sample {
	double doorbell_ns;
	double roundtrip_ns;
};

/* Phase @p's duration from the guest's MARK writes, or -1. */
static double phase_ns(const struct evvm_mark *m, unsigned int n, uint32_t p)
{
	uint64_t start = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (m[i].value == p)
			start = m[i].ns;
		else if (m[i].value == (p | MARK_END) && start)
			return (double)(m[i].ns - start);
	}
	return -1;
}

static int run_evvm(int path, unsigned int n, unsigned int poll_us, double ph[3])
{
	char cmdline[160];
	struct evvm_vm_config cfg = {
		.mem_size = MEM_MB << 20,
		.nr_cpus = 1,
		.kernel_name = "(bundled test guest)",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.cmdline = cmdline,
		.console_in = -1,
		.console_out = -1,
		.ioeventfd_user = path == USER,
		.irqfd_user = path == USER,
		.testdev = true,
		.poll_max_us = path == KERNEL_POLL ? poll_us : 0,
	};
	struct evvm_mark marks[16];
	struct evvm_vm *vm;
	unsigned int nr;
	int status, err;

	snprintf(cmdline, sizeof(cmdline),
		 "tests=bench bench.n=%u bench.vector=0x%x bench.addr=0x%llx bench.setup=testdev", n,
		 VECTOR, DOORBELL);
	err = vm_create(&cfg, &vm);
	if (err)
		return err;
	status = vm_run(vm);
	nr = vm_marks(vm, marks, 16);
	vm_destroy(vm);
	if (status != 0) {
		fprintf(stderr, "notify: %s: guest exited with status %d\n", path_names[path],
			status);
		return -EIO;
	}
	for (int p = 0; p < 3; p++)
		ph[p] = phase_ns(marks, nr < 16 ? nr : 16, p + 1);
	return 0;
}

static int run_raw(unsigned int n, double ph[3])
{
	char cmdline[160];
	struct raw_result r;
	int err;

	snprintf(cmdline, sizeof(cmdline),
		 "tests=bench bench.n=%u bench.vector=0x%x bench.addr=0x%llx bench.setup=none", n,
		 VECTOR, DOORBELL);
	err = raw_kvm_run(demo_guest_start, demo_guest_end - demo_guest_start, cmdline, DOORBELL,
			  VECTOR, MEM_MB, &r);
	if (err)
		return err;
	if (r.status != 0) {
		fprintf(stderr, "notify: raw: guest exited with status %d\n", r.status);
		return -EIO;
	}
	memcpy(ph, r.phase_ns, sizeof(r.phase_ns));
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench/notify [--runs R] [--n N] [--poll-max-us US] [--json FILE]\n"
		   "  --runs R         repetitions of every path, interleaved (default 5)\n"
		   "  --n N            doorbells / round trips per run (default 2000)\n"
		   "  --poll-max-us US polling window of the kernel-poll path (default 50)\n"
		   "  --pin CPU        run every thread on host CPU (default 0)\n"
		   "  --no-pin         let the scheduler place threads\n"
		   "  --json FILE      also write the figures as JSON\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' }, { "n", required_argument, NULL, 'n' },
		{ "poll-max-us", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "pin", required_argument, NULL, 'c' }, { "no-pin", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int runs = 5, n = 2000, poll_us = 50;
	const char *json = NULL;
	int pin = 0;
	double db[NR_PATHS][MAX_RUNS], rt[NR_PATHS][MAX_RUNS], med_db[NR_PATHS], med_rt[NR_PATHS];
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (!opt_uint("notify", "runs", optarg, 1, MAX_RUNS, &runs))
				return 2;
			break;
		case 'n':
			if (!opt_uint("notify", "n", optarg, 1, UINT32_MAX, &n))
				return 2;
			break;
		case 'p':
			if (!opt_uint("notify", "poll-max-us", optarg, 0, UINT32_MAX, &poll_us))
				return 2;
			break;
		case 'j':
			json = optarg;
			break;
		case 'c':
			if (!opt_cpu("notify", optarg, &pin))
				return 2;
			break;
		case 'u':
			pin = -1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "notify: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}

	/* Every thread created from here on (vCPUs, I/O threads) inherits this. */
	err = pin >= 0 ? pin_cpu(pin) : 0;
	if (err) {
		fprintf(stderr, "notify: --pin %d: %s\n", pin, evvm_strerror(err));
		return 1;
	}

	for (unsigned int r = 0; r < runs; r++) {
		for (int p = 0; p < NR_PATHS; p++) {
			double ph[3];

			err = p == RAW ? run_raw(n, ph) : run_evvm(p, n, poll_us, ph);
			if (err || ph[0] < 0 || ph[1] < 0 || ph[2] < 0) {
				fprintf(stderr, "notify: path %s, run %u failed: %s\n",
					path_names[p], r + 1, err ? evvm_strerror(err) : "no marks");
				return 1;
			}
			db[p][r] = (ph[1] - ph[0]) / n;
			rt[p][r] = ph[2] / n;
		}
	}

	if (pin >= 0)
		printf("bench/notify: %u runs x %u iterations on host CPU %d, medians (ns)\n", runs,
		       n, pin);
	else
		printf("bench/notify: %u runs x %u iterations, unpinned, medians (ns)\n", runs, n);
	printf("%-12s %14s %14s %12s %12s\n", "path", "doorbell_ns", "roundtrip_ns", "db vs raw",
	       "rt vs raw");
	for (int p = 0; p < NR_PATHS; p++) {
		med_db[p] = median(db[p], runs);
		med_rt[p] = median(rt[p], runs);
	}
	for (int p = 0; p < NR_PATHS; p++)
		printf("%-12s %14.0f %14.0f %11.2fx %11.2fx\n", path_names[p], med_db[p], med_rt[p],
		       med_db[p] / med_db[RAW], med_rt[p] / med_rt[RAW]);
	printf("user / kernel doorbell: %.2fx\n", med_db[USER] / med_db[KERNEL]);

	if (json) {
		FILE *f = fopen(json, "w");

		if (!f) {
			fprintf(stderr, "notify: %s: %s\n", json, evvm_strerror(errno));
			return 1;
		}
		fprintf(f, "{\"n\": %u, \"pinned_cpu\": %d, \"paths\": {", n, pin);
		for (int p = 0; p < NR_PATHS; p++)
			fprintf(f, "%s\"%s\": {\"doorbell_ns\": %.1f, \"roundtrip_ns\": %.1f, \"runs\": %u}",
				p ? ", " : "", path_names[p], med_db[p], med_rt[p], runs);
		fprintf(f, "}}\n");
		if (fclose(f)) {
			fprintf(stderr, "notify: %s: %s\n", json, evvm_strerror(errno));
			return 1;
		}
	}
	return 0;
}
