// SPDX-License-Identifier: MIT
/*
 * bench/peer: the same test guest (build/guest/evvm-guest.elf) under evvm
 * and under QEMU with KVM, side by side: QEMU's microvm with virtio-mmio
 * against evvm's default transport, QEMU's q35 with modern virtio-pci
 * against evvm --transport=pci. Both VMMs get the same guest, the same
 * command line, the same RAM, one vCPU, a virtio-rng and a virtio-blk on
 * the same disk file (bench/disk.h's, on tmpfs). Rows:
 *
 *   boot      exit=0: fork to reaped (wall) and the VMM's user+sys time
 *             (wait4's rusage: the process and all its threads)
 *   mem       tests=idle, 128 MiB and 1 GiB: the process's Rss less the Rss
 *             of its guest RAM mapping, sampled from /proc/PID/smaps while
 *             the guest idles (peer_run.c, smaps_sample())
 *   blk       tests=blk-bench bbench.marks=off (guest/test_blk_bench.c):
 *             4 KiB random read/write at qd 1 and 32, requests per second
 *             as the guest counts them in TSC cycles; QEMU with its default
 *             aio (threads) and with aio=io_uring
 *   rng       tests=rng-bench (guest/test_rng_bench.c): 4 KiB requests,
 *             one in flight, MiB/s as the guest counts them
 *
 * Guest cycles are converted with the host's TSC rate (tsc_rate_hz()):
 * under KVM the guests read the host's TSC, so both sides share one factor
 * and the ratios are ratios of cycles. Runs are interleaved (evvm, QEMU,
 * evvm, ... with the order alternating run by run); the table shows medians.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "disk.h"
#include "evvm_path.h"
#include "median.h"
#include "peer.h"

#define BLK_N_MAX 4096 /* guest/test_blk_bench.c: BB_N_MAX */
#define RNG_BYTES 4096

static const struct {
	const char *rw;
	unsigned int qd;
} blk_loads[] = { { "read", 1 }, { "read", 32 }, { "write", 1 }, { "write", 32 } };

static unsigned int build_cases(const struct opts *o, bool qemu, struct pcase *c)
{
	unsigned int n = 0, q = qemu ? 1u << SIDE_QEMU : 0;

	for (int pci = 0; pci < 2; pci++) {
		if (!o->want_pci[pci])
			continue;
		c[n++] = (struct pcase){ K_BOOT, pci, 128, 0, NULL, 1 | q };
		c[n++] = (struct pcase){ K_MEM, pci, 128, 0, NULL, 1 | q };
		if (!o->quick)
			c[n++] = (struct pcase){ K_MEM, pci, 1024, 0, NULL, 1 | q };
		for (unsigned int w = 0; w < sizeof(blk_loads) / sizeof(blk_loads[0]); w++)
			if (!o->quick || w == 0 || w == 3)
				c[n++] = (struct pcase){
					K_BLK,
					pci,
					128,
					blk_loads[w].qd,
					blk_loads[w].rw,
					1 | (qemu ? q | 1u << SIDE_QEMU_URING : 0)
				};
		c[n++] = (struct pcase){ K_RNG, pci, 128, 0, NULL, 1 | q };
	}
	return n;
}

/* The figures of one finished run from its guest output; 0, or 1 after a line. */
static int parse_run(const struct peer_env *env, const struct pcase *c, const struct opts *o,
		     const struct vm_result *r, double *v)
{
	const char *line;
	uint64_t cycles, bytes, n;

	switch (c->kind) {
	case K_BOOT:
		v[0] = r->wall_ms;
		v[1] = r->cpu_ms;
		return 0;
	case K_MEM:
		v[0] = r->rss_kib - r->guest_kib;
		v[1] = r->rss_kib;
		return 0;
	case K_BLK:
		line = out_line(r->out, "evvm-guest: blk-bench: rw=");
		if (line &&
		    sscanf(line, "%*s qd=%*u n=%" SCNu64 " cycles=%" SCNu64, &n, &cycles) == 2 &&
		    n == o->blk_n && cycles) {
			v[0] = n / (cycles / env->tsc_hz);
			return 0;
		}
		break;
	case K_RNG:
		line = out_line(r->out, "evvm-guest: rng-bench: ");
		if (line &&
		    sscanf(line, "bytes=%" SCNu64 " n=%" SCNu64 " cycles=%" SCNu64, &bytes, &n,
			   &cycles) == 3 &&
		    n == o->rng_n && cycles) {
			v[0] = bytes * n / (cycles / env->tsc_hz) / (1 << 20);
			return 0;
		}
		break;
	}
	fprintf(stderr, "peer: no valid result line in the guest's output:\n%.2000s", r->out);
	return 1;
}

static int run_case(const struct peer_env *env, const struct opts *o, struct pcase *c,
		    enum side side, unsigned int run)
{
	char cmdline[256];
	struct vm_spec s = { side, c->pci, c->mem_mib, cmdline, c->kind == K_MEM };
	struct vm_result r;
	int rc;

	if (c->kind == K_BOOT)
		snprintf(cmdline, sizeof(cmdline), "exit=0");
	else if (c->kind == K_MEM)
		snprintf(cmdline, sizeof(cmdline), "tests=idle");
	else if (c->kind == K_BLK)
		snprintf(cmdline, sizeof(cmdline),
			 "tests=blk-bench bbench.rw=%s bbench.qd=%u bbench.n=%u bbench.seed=%u "
			 "bbench.marks=off",
			 c->rw, c->qd, o->blk_n, run + 1);
	else
		snprintf(cmdline, sizeof(cmdline), "tests=rng-bench rbench.bytes=%u rbench.n=%u",
			 RNG_BYTES, o->rng_n);
	rc = vm_run_one(env, &s, &r);
	if (!rc)
		rc = parse_run(env, c, o, &r, c->v[side][run]);
	free(r.out);
	return rc;
}

/* Every case on every side, run after run, the sides' order rotating. */
static int measure(const struct peer_env *env, const struct opts *o, struct pcase *c,
		   unsigned int nc)
{
	for (unsigned int r = 0; r < o->runs; r++) {
		for (unsigned int i = 0; i < nc; i++) {
			for (unsigned int k = 0; k < NR_SIDES; k++) {
				enum side s = (enum side)((k + r) % NR_SIDES);

				if ((c[i].sides & 1u << s) && run_case(env, o, &c[i], s, r))
					return 1;
			}
		}
		if (o->verbose)
			fprintf(stderr, "peer: run %u of %u done\n", r + 1, o->runs);
	}
	for (unsigned int i = 0; i < nc; i++) {
		for (int s = 0; s < NR_SIDES; s++) {
			for (int m = 0; m < 2 && (c[i].sides & 1u << s); m++) {
				double v[MAX_RUNS];

				for (unsigned int r = 0; r < o->runs; r++)
					v[r] = c[i].v[s][r][m];
				c[i].med[s][m] = median(v, o->runs);
			}
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench/peer [--runs R] [--quick] [--transport mmio|pci|both] [--json FILE]\n"
		"  The test guest under evvm and under qemu-system-x86_64 -accel kvm (microvm\n"
		"  for mmio, q35 for pci), interleaved; medians. Needs /dev/kvm.\n"
		"  --runs R        repetitions of every row (default 5; --quick: 1)\n"
		"  --quick         1 run; blk read qd1 and write qd32 only, 200 requests;\n"
		"                  200 rng requests; memory with a 128 MiB guest only\n"
		"  --blk-n N       blk requests per run, 2..%d (default 2000)\n"
		"  --rng-n N       4 KiB rng requests per run (default 1000)\n"
		"  --transport T   mmio, pci or both (default both)\n"
		"  --json FILE     also write the figures as JSON\n"
		"  -v, --verbose   every run's console and figures on stderr\n"
		"  Environment: EVVM, GUEST_ELF, QEMU (default: qemu-system-x86_64 in PATH)\n",
		BLK_N_MAX);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "blk-n", required_argument, NULL, 'b' },
		{ "rng-n", required_argument, NULL, 'g' },
		{ "json", required_argument, NULL, 'j' },
		{ "transport", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool runs_set = false, blk_set = false, rng_set = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "hv", lopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (!(runs_set = opt_uint("peer", "runs", optarg, 1, MAX_RUNS, &o->runs)))
				return 2;
			break;
		case 'b':
			if (!(blk_set = opt_uint("peer", "blk-n", optarg, 2, BLK_N_MAX, &o->blk_n)))
				return 2;
			break;
		case 'g':
			if (!(rng_set = opt_uint("peer", "rng-n", optarg, 1, 1000000, &o->rng_n)))
				return 2;
			break;
		case 'q':
			o->quick = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 't':
			if (strcmp(optarg, "mmio") && strcmp(optarg, "pci") &&
			    strcmp(optarg, "both")) {
				fprintf(stderr, "peer: --transport '%s': want mmio, pci or both\n",
					optarg);
				return 2;
			}
			o->want_pci[0] = strcmp(optarg, "pci");
			o->want_pci[1] = strcmp(optarg, "mmio");
			break;
		default:
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "peer: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (o->quick) {
		o->runs = runs_set ? o->runs : 1;
		o->blk_n = blk_set ? o->blk_n : 200;
		o->rng_n = rng_set ? o->rng_n : 200;
	}
	return -1;
}

/* QEMU: $QEMU, else qemu-system-x86_64 in PATH; NULL if neither. */
static const char *find_qemu(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("QEMU"), *p = getenv("PATH");

	if (env && *env)
		return access(env, X_OK) ? NULL : env;
	while (p && *p) {
		size_t len = strcspn(p, ":");

		snprintf(path, sizeof(path), "%.*s/qemu-system-x86_64", (int)len, p);
		if (len && !access(path, X_OK))
			return path;
		p += len + (p[len] == ':');
	}
	return NULL;
}

/* Everything a run needs that is not an option; 0, or 1 after a line. */
static int setup(struct peer_env *env, struct disk *d, char *disk, size_t max)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0) {
		fprintf(stderr,
			"peer: /dev/kvm: %s: both VMMs need KVM (on a host without it: "
			"tools/kvm-nested -- build/bench/peer ...)\n",
			strerror(errno));
		return 1;
	}
	close(kvm);
	env->evvm = find_evvm();
	env->guest = find_guest(env->evvm);
	env->qemu = find_qemu();
	if (access(env->evvm, X_OK) || access(env->guest, R_OK)) {
		fprintf(stderr, "peer: %s: %s (build it; or set %s)\n",
			access(env->evvm, X_OK) ? env->evvm : env->guest, strerror(errno),
			access(env->evvm, X_OK) ? "EVVM" : "GUEST_ELF");
		return 1;
	}
	if (!env->qemu)
		fprintf(stderr, "peer: note: %s: only evvm's figures\n",
			getenv("QEMU") && *getenv("QEMU")
				? "$QEMU is not an executable"
				: "no qemu-system-x86_64 in PATH (nor $QEMU)");
	if (disk_make("peer", d))
		return 1;
	/* The VMMs open the disk through /proc/self/fd/N: let them inherit it. */
	if (fcntl(d->fd, F_SETFD, 0)) {
		fprintf(stderr, "peer: disk fd: %s\n", strerror(errno));
		close(d->fd);
		return 1;
	}
	snprintf(disk, max, "/proc/self/fd/%d", d->fd);
	env->disk = disk;
	env->tsc_hz = tsc_rate_hz(200);
	return 0;
}

int main(int argc, char **argv)
{
	static struct pcase cases[2 * 9];
	struct opts o = { .runs = 5, .blk_n = 2000, .rng_n = 1000, .want_pci = { true, true } };
	struct peer_env env = { 0 };
	char disk[64];
	struct disk d;
	FILE *json = NULL;
	unsigned int nc;
	int rc = parse_opts(argc, argv, &o);

	if (rc >= 0)
		return rc;
	env.verbose = o.verbose;
	evvm_log_set_output(STDERR_FILENO, false);
	if (o.json) {
		json = fopen(o.json, "w");
		if (!json) {
			fprintf(stderr, "peer: %s: %s\n", o.json, strerror(errno));
			return 1;
		}
	}
	rc = setup(&env, &d, disk, sizeof(disk));
	if (!rc) {
		nc = build_cases(&o, env.qemu != NULL, cases);
		rc = measure(&env, &o, cases, nc);
		close(d.fd);
	}
	if (rc) {
		if (json) {
			fclose(json);
			unlink(o.json);
		}
		return 1;
	}
	report_table(&env, &o, cases, nc);
	if (json && report_json(&env, &o, cases, nc, json)) {
		fprintf(stderr, "peer: %s: %s\n", o.json, strerror(errno));
		return 1;
	}
	return 0;
}
