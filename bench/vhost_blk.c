// SPDX-License-Identifier: MIT
/*
 * bench/vhost-blk: 4 KiB random read and write IOPS and mean/p99 latency of
 * vhost-user-blk backends at queue depth 1 and 32, with no VM: this program
 * plays the guest. It is a vhost-user frontend (evvm's, vhost/frontend.c)
 * whose "guest RAM" is a memfd of its own; it writes descriptors and the
 * avail ring there itself, kicks the queue's kick eventfd and sleeps in a
 * read() of the call eventfd. So what is measured is the backend and the
 * fabric (eventfds, shared rings), not an emulator. Backends:
 *
 *   evvm  evvm vhost-user-blk --socket S --disk path=F
 *   qsd   qemu-storage-daemon, a raw node on a file node, exported as
 *         vhost-user-blk (settings below and in the table's header)
 *
 * The disk is bench/disk.h's file on tmpfs: the backends inherit its fd and
 * open /proc/self/fd/N. Every write puts the block's own pattern in the
 * block's first 8 bytes and every read checks them, so a backend that reads
 * or writes the wrong place fails.
 *
 * One run of one workload on one backend: start the backend process, wait
 * for its socket to listen, connect and negotiate (VERSION_1 only: no
 * EVENT_IDX, no indirect descriptors), set up one queue of 128 entries,
 * issue a warm-up, then N timed requests, stop the ring, close the socket,
 * SIGTERM the backend and wait for it (evvm must exit with status 0).
 * With --queues Q (qsd exports Q queues: num-queues=Q), Q rings of 128,
 * each with its own call eventfd and its own driver thread at the given
 * queue depth (QD per queue: Q x QD in flight), N requests each after a
 * warm-up that all drivers finish before any starts the timed part; IOPS
 * is the sum of the queues'. With --inflight on, the frontend negotiates
 * VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD and hands the backend the region
 * (GET_INFLIGHT_FD then SET_INFLIGHT_FD), which the backend then updates
 * for every request; off, it refuses the feature; both (default) runs
 * both and reports the cost of the tracking.
 * Requests are 3-descriptor chains (header, 4 KiB, status), one fixed chain
 * per in-flight slot. At QD32 every batch of completions is refilled at
 * once and kicked once (unless the backend set VRING_USED_F_NO_NOTIFY).
 * Latency runs from just before a request is made available to the moment
 * the driver sees it in the used ring after its wake-up; IOPS counts the
 * completions after the warm-up over the time they took. Backends run
 * interleaved (alternating which goes first), workload by workload (and
 * queue count, in-flight mode), run after run, with the same offsets (seed) for both; the table
 * shows medians of the runs, and the backend's CPU time per request (all its threads, over the
 * timed part).
 *
 * Settings, each backend's fastest here (both buffered or O_DIRECT on tmpfs
 * end in the same page cache):
 *
 *   evvm  as it comes: its blk device, io_uring on the device's I/O thread,
 *         which polls up to 32 us while that pays (--poll-max-us's
 *         default; --evvm-arg=--poll-max-us=0 measures it without)
 *   qsd   aio=native with cache.direct=on (QEMU's cache=none,aio=native):
 *         Linux AIO on tmpfs completes within io_submit(), qsd's fastest
 *         at QD1 by about 2x; --qsd-aio io_uring (cache.direct=off, evvm's
 *         I/O method) punts every request to an io-wq thread on tmpfs, and
 *         is no better at QD32. The export runs in qsd's main loop, which
 *         busy-polls the ring by itself; --qsd-iothread was no faster.
 *
 * Nothing is pinned by default (the bench, its idle frontend thread and the
 * backend's threads go where the scheduler puts them); --pin CPU puts all
 * of them on one CPU. Files: this one (runs, table, JSON), vhost_blk_drive.c
 * (the frontend session and its drivers), vhost_blk_proc.c (the backends).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evvm/log.h>

#include "bench.h"
#include "disk.h"
#include "evvm_path.h"
#include "median.h"
#include "vhost_blk.h"

const char *const backend_names[NR_BACKENDS] = { "evvm", "qsd" };

static const struct workload workloads[] = {
	{ "read", false, 1 },
	{ "read", false, 32 },
	{ "write", true, 1 },
	{ "write", true, 32 },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static const char *const inflight_names[2] = { "off", "on" };

/* Every run's figures, and their medians: [row][workload][in-flight][backend]. */
static struct sample samples[MAX_ROWS][NR_WORKLOADS][2][NR_BACKENDS][MAX_RUNS];
static struct sample med[MAX_ROWS][NR_WORKLOADS][2][NR_BACKENDS];

/*
 * SIGINT, SIGTERM, SIGHUP: remove the socket and its directory, then die of
 * the signal (the backend gets SIGTERM through PR_SET_PDEATHSIG; the disk
 * is unlinked already).
 */
static char cleanup_dir[64], cleanup_sock[128];

static void on_signal(int sig)
{
	if (cleanup_sock[0])
		unlink(cleanup_sock);
	if (cleanup_dir[0])
		rmdir(cleanup_dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (unsigned int i = 0; i < 3; i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (unsigned int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, NULL);
}

/* ---- runs ---------------------------------------------------------------- */

/*
 * Whether backend @b runs in row @qi with the in-flight region @fl. qsd's
 * vhost-user-blk export does not offer INFLIGHT_SHMFD: it runs without,
 * whatever --inflight says, once per queue count (evvm's I/O threads are
 * not its), as the baseline of every evvm row.
 */
static bool row_runs(const struct opts *o, unsigned int qi, unsigned int fl, int b)
{
	if (b == QSD)
		return o->use[b] && !fl && o->rows[qi].qsd_row == qi;
	return o->use[b] && o->inflight[fl];
}

/*
 * One workload on one backend with @queues queues, the in-flight region on
 * or off, in a backend process of its own; 0, or 1 after one line.
 */
static int run_one(const struct opts *o, const struct disk *d, const char *sockdir, int b,
		   const struct row *row, bool inflight, const struct workload *w,
		   unsigned int seed, struct sample *smp)
{
	char store[4][512], *argv[16 + MAX_EXTRA], sock[128], what[112];
	unsigned int queues = row->queues;
	/* Generous: 1 ms a request, where tens of us are expected. */
	unsigned int secs = 10 + queues * (o->warmup + o->n) / 1000;
	struct proc p;
	bool fired = false;
	int rc = 1;

	snprintf(what, sizeof(what), "%s %s qd=%u queues=%u iothreads=%u inflight=%s",
		 backend_names[b], w->rw, w->qd, queues, b == EVVM ? row->iothreads : 0,
		 inflight_names[inflight]);
	snprintf(sock, sizeof(sock), "%s/%s.sock", sockdir, backend_names[b]);
	unlink(sock);
	snprintf(cleanup_sock, sizeof(cleanup_sock), "%s", sock);
	backend_argv(o, b, sock, d->fd, row, store, argv);
	if (spawn(argv, d->fd, &p))
		return 1;
	guard_arm(p.pid, secs + START_SECS);
	if (proc_wait_listen(&p, backend_names[b], sock))
		goto out;
	/* The session stops the rings (GET_VRING_BASE) and closes the socket before it returns. */
	rc = session_run(o, d, backend_names[b], sock, p.pid, queues, inflight, w, seed, secs, smp,
			 what);
out:
	fired = guard_disarm();
	if (fired) {
		fprintf(stderr, "vhost-blk: %s: %s stopped answering; killed it after %u s\n", what,
			backend_names[b], secs + START_SECS);
		rc = 1;
	}
	if (rc) {
		/* Whatever the backend said may be the cause. */
		if (o->verbose)
			proc_dump(&p, backend_names[b]);
		else if (lseek(p.out, 0, SEEK_END) > 0)
			fprintf(stderr, "vhost-blk: %s's last output: %s\n", backend_names[b],
				proc_last_line(&p));
		proc_kill(&p);
	}
	if (proc_stop(&p, b, o->verbose && !rc))
		rc = 1;
	unlink(sock);
	return rc;
}

/* Every run of every row, interleaved; 0, or 1 after one line. */
static int run_all(const struct opts *o, const struct disk *d, const char *sockdir)
{
	for (unsigned int r = 0; r < o->runs; r++)
		for (unsigned int qi = 0; qi < o->nr_rows; qi++)
			for (unsigned int w = 0; w < NR_WORKLOADS; w++)
				for (unsigned int j = 0; j < 2; j++)
					for (int i = 0; i < NR_BACKENDS; i++) {
						/* Alternate which goes first. */
						int b = (i + r) % NR_BACKENDS;
						unsigned int fl = (j + r) % 2;
						unsigned int seed = r * NR_WORKLOADS + w + 1;

						if (!row_runs(o, qi, fl, b))
							continue;
						if (run_one(o, d, sockdir, b, &o->rows[qi], fl,
							    &workloads[w], seed,
							    &samples[qi][w][fl][b][r]))
							return 1;
					}
	return 0;
}

static void medians(const struct opts *o)
{
	double v[MAX_RUNS];

	for (unsigned int qi = 0; qi < o->nr_rows; qi++)
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			for (unsigned int fl = 0; fl < 2; fl++)
				for (int b = 0; b < NR_BACKENDS; b++) {
					const struct sample *s = samples[qi][w][fl][b];
					struct sample *m = &med[qi][w][fl][b];

					for (unsigned int r = 0; r < o->runs; r++)
						v[r] = s[r].iops;
					m->iops = median(v, o->runs);
					for (unsigned int r = 0; r < o->runs; r++)
						v[r] = s[r].mean_us;
					m->mean_us = median(v, o->runs);
					for (unsigned int r = 0; r < o->runs; r++)
						v[r] = s[r].p99_us;
					m->p99_us = median(v, o->runs);
					for (unsigned int r = 0; r < o->runs; r++)
						v[r] = s[r].cpu_us;
					m->cpu_us = median(v, o->runs);
				}
}

/*
 * The relative IOPS cost of the in-flight region for a row, in %: the
 * median of each run's (its on and off runs are next to each other in
 * time, so a load that drifts over minutes cancels out).
 */
static double inflight_cost(const struct opts *o, unsigned int qi, unsigned int w, int b)
{
	double v[MAX_RUNS];

	for (unsigned int r = 0; r < o->runs; r++)
		v[r] = 100.0 * (1 - samples[qi][w][1][b][r].iops / samples[qi][w][0][b][r].iops);
	return median(v, o->runs);
}

/* ---- output -------------------------------------------------------------- */

/* qsd's medians for the queue count of row @qi, workload @w (it runs once per queue count). */
static const struct sample *qsd_med(const struct opts *o, unsigned int qi, unsigned int w)
{
	return &med[o->rows[qi].qsd_row][w][0][QSD];
}

static void print_header(const struct opts *o, const struct disk *d, const char *versions[2])
{
	printf("bench/vhost-blk: 4 KiB random I/O on a %d MiB disk in %s (%s), %u runs x %u "
	       "requests per queue (+%u warm-up), ",
	       DISK_MIB, d->dir, d->tmpfs ? "tmpfs" : "not tmpfs", o->runs, o->n, o->warmup);
	if (o->pin >= 0)
		printf("bench and backend on host CPU %d", o->pin);
	else
		printf("unpinned on %ld CPUs", sysconf(_SC_NPROCESSORS_ONLN));
	printf(", driver sleeps on the call eventfd; qd is per queue (queues x qd in flight, "
	       "a driver thread per queue, IOPS summed); medians\n");
	if (o->use[EVVM]) {
		printf("  evvm: %s vhost-user-blk (%s)", o->bin[EVVM], versions[EVVM]);
		for (unsigned int e = 0; e < o->nr_extra[EVVM]; e++)
			printf(" %s", o->extra[EVVM][e]);
		printf("\n");
	}
	if (o->use[QSD]) {
		printf("  qsd:  %s: file aio=%s cache.direct=%s, raw, export num-queues=queues %s",
		       versions[QSD], o->qsd_aio, strcmp(o->qsd_aio, "native") ? "off" : "on",
		       o->qsd_iothread ? "in an iothread" : "in the main loop");
		if (o->qsd_iothread)
			printf(" (poll-max-ns=%u)", o->qsd_poll_ns);
		for (unsigned int e = 0; e < o->nr_extra[QSD]; e++)
			printf(" %s", o->extra[QSD][e]);
		printf("\n");
	}
	printf("  inflight on: the frontend negotiated INFLIGHT_SHMFD and handed the region "
	       "(GET_INFLIGHT_FD, SET_INFLIGHT_FD); infl_cost: IOPS lost against off (median of "
	       "the runs' own);\n"
	       "  qsd's export does not offer INFLIGHT_SHMFD: it runs off only, and every evvm "
	       "row's evvm/qsd is against it\n");
}

static void print_table(const struct opts *o)
{
	const bool both = o->use[EVVM] && o->use[QSD];

	printf("%-7s %6s %5s %-6s %3s %-8s %10s %10s %10s %12s", "backend", "queues", "iothr", "rw",
	       "qd", "inflight", "IOPS", "mean_us", "p99_us", "be_cpu_us/io");
	if (both)
		printf(" %14s", "IOPS evvm/qsd");
	if (o->inflight[0] && o->inflight[1])
		printf(" %9s", "infl_cost");
	printf("\n");
	for (unsigned int qi = 0; qi < o->nr_rows; qi++)
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			for (unsigned int fl = 0; fl < 2; fl++)
				for (int b = 0; b < NR_BACKENDS; b++) {
					const struct sample *m = &med[qi][w][fl][b];

					if (!row_runs(o, qi, fl, b))
						continue;
					printf("%-7s %6u ", backend_names[b], o->rows[qi].queues);
					if (b == EVVM)
						printf("%5u", o->rows[qi].iothreads);
					else
						printf("%5s", "-");
					printf(" %-6s %3u %-8s %10.0f %10.1f %10.1f %12.2f",
					       workloads[w].rw, workloads[w].qd, inflight_names[fl],
					       m->iops, m->mean_us, m->p99_us, m->cpu_us);
					if (both && b == EVVM)
						printf(" %13.2fx",
						       m->iops / qsd_med(o, qi, w)->iops);
					else if (both)
						printf(" %14s", "");
					if (o->inflight[0] && o->inflight[1] && fl)
						printf(" %8.1f%%", inflight_cost(o, qi, w, b));
					printf("\n");
				}
}

static void json_rows(FILE *f, const struct opts *o)
{
	bool first = true;

	fprintf(f, ", \"workloads\": [");
	for (unsigned int qi = 0; qi < o->nr_rows; qi++)
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			for (unsigned int fl = 0; fl < 2; fl++)
				for (int b = 0; b < NR_BACKENDS; b++) {
					const struct sample *m = &med[qi][w][fl][b];

					if (!row_runs(o, qi, fl, b))
						continue;
					fprintf(f,
						"%s\n  {\"backend\": \"%s\", \"queues\": %u, "
						"\"iothreads\": %u, "
						"\"rw\": \"%s\", \"qd\": %u, \"inflight\": %s, "
						"\"iops\": %.1f, \"mean_us\": %.2f, \"p99_us\": "
						"%.2f, "
						"\"backend_cpu_us_per_io\": %.3f, \"runs\": %u}",
						first ? "" : ",", backend_names[b],
						o->rows[qi].queues,
						b == EVVM ? o->rows[qi].iothreads : 0,
						workloads[w].rw, workloads[w].qd,
						fl ? "true" : "false", m->iops, m->mean_us,
						m->p99_us, m->cpu_us, o->runs);
					first = false;
				}
	fprintf(f, "\n]");
}

static void json_ratios(FILE *f, const struct opts *o)
{
	bool first = true;

	if (o->use[EVVM] && o->use[QSD]) {
		fprintf(f, ", \"evvm_over_qsd\": [");
		for (unsigned int qi = 0; qi < o->nr_rows; qi++)
			for (unsigned int w = 0; w < NR_WORKLOADS; w++)
				for (unsigned int fl = 0; fl < 2; fl++) {
					const struct sample *e = &med[qi][w][fl][EVVM];
					const struct sample *q = qsd_med(o, qi, w);

					if (!o->inflight[fl])
						continue;
					fprintf(f,
						"%s\n  {\"queues\": %u, \"iothreads\": %u, "
						"\"rw\": \"%s\", \"qd\": "
						"%u, "
						"\"inflight\": %s, \"iops\": %.3f, \"mean_us\": "
						"%.3f, "
						"\"p99_us\": %.3f}",
						first ? "" : ",", o->rows[qi].queues,
						o->rows[qi].iothreads, workloads[w].rw,
						workloads[w].qd, fl ? "true" : "false",
						e->iops / q->iops, e->mean_us / q->mean_us,
						e->p99_us / q->p99_us);
					first = false;
				}
		fprintf(f, "\n]");
	}
	if (!o->inflight[0] || !o->inflight[1])
		return;
	first = true;
	fprintf(f, ", \"inflight_cost\": [");
	for (unsigned int qi = 0; qi < o->nr_rows; qi++)
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			for (int b = 0; b < NR_BACKENDS; b++) {
				if (!o->use[b] || b == QSD)
					continue;
				fprintf(f,
					"%s\n  {\"backend\": \"%s\", \"queues\": %u, "
					"\"iothreads\": %u, \"rw\": "
					"\"%s\", "
					"\"qd\": %u, \"iops_off\": %.1f, \"iops_on\": %.1f, "
					"\"iops_cost_pct\": %.2f}",
					first ? "" : ",", backend_names[b], o->rows[qi].queues,
					o->rows[qi].iothreads, workloads[w].rw, workloads[w].qd,
					med[qi][w][0][b].iops, med[qi][w][1][b].iops,
					inflight_cost(o, qi, w, b));
				first = false;
			}
	fprintf(f, "\n]");
}

/* Write the figures to @f and close it; 0, or 1 after one line. */
static int write_json(FILE *f, const struct opts *o, const struct disk *d, const char *versions[2])
{
	fprintf(f,
		"{\"n\": %u, \"warmup\": %u, \"pinned_cpu\": %d, \"disk_mib\": %d, "
		"\"disk_dir\": \"%s\", \"tmpfs\": %s, \"qd_max\": %d, \"qd_per_queue\": true, "
		"\"queue_size\": %d",
		o->n, o->warmup, o->pin, DISK_MIB, d->dir, d->tmpfs ? "true" : "false", MAX_QD,
		QUEUE_NUM);
	if (o->use[EVVM])
		fprintf(f, ", \"evvm\": {\"version\": \"%s\"}", versions[EVVM]);
	if (o->use[QSD])
		fprintf(f,
			", \"qsd\": {\"version\": \"%s\", \"aio\": \"%s\", "
			"\"cache_direct\": %s, \"iothread\": %s, \"poll_max_ns\": %u}",
			versions[QSD], o->qsd_aio, strcmp(o->qsd_aio, "native") ? "false" : "true",
			o->qsd_iothread ? "true" : "false", o->qsd_iothread ? o->qsd_poll_ns : 0);
	json_rows(f, o);
	json_ratios(f, o);
	fprintf(f, "}\n");
	if (fclose(f)) {
		fprintf(stderr, "vhost-blk: %s: %s\n", o->json, evvm_strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench/vhost-blk [--runs R] [--n N] [--warmup W] [--pin CPU]\n"
		"                       [--queues Q[,Q]...] [--iothreads M[,M]...]\n"
		"                       [--inflight on|off|both]\n"
		"                       [--backends evvm,qsd] [--qsd-aio io_uring|threads|native]\n"
		"                       [--qsd-iothread[=POLL_NS]] [--evvm-arg ARG]... [--qsd-arg "
		"ARG]...\n"
		"                       [--json FILE] [-v]\n"
		"  4 KiB random read/write at queue depth 1 and 32 against vhost-user-blk\n"
		"  backends on a %d MiB disk file on /dev/shm, this program playing the guest\n"
		"  (no VM): evvm vhost-user-blk and qemu-storage-daemon (qsd), interleaved.\n"
		"  --runs R          repetitions of every workload and backend (default 5)\n"
		"  --n N             timed requests per run and queue, %d..%d (default 10000)\n"
		"  --warmup W        untimed requests before them (default 500)\n"
		"  --queues Q,...    queue counts to measure, 1..%d, up to %d of them (default "
		"1):\n"
		"                    Q rings, a driver thread each at the queue depth (per\n"
		"                    queue), IOPS summed; qsd exports num-queues=Q\n"
		"  --iothreads M,... evvm's I/O thread counts to measure (--iothreads=M;\n"
		"                    default 1), each with every queue count Q >= M; qsd\n"
		"                    runs once per queue count\n"
		"  --inflight MODE   on: the frontend negotiates "
		"VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD\n"
		"                    and hands the backend the in-flight region; off: it refuses\n"
		"                    it; both (default): each row both ways, and the cost (evvm:\n"
		"                    qsd's export does not offer it, qsd always runs off)\n"
		"  --pin CPU         run the bench and the backends on host CPU (default: "
		"unpinned)\n"
		"  --backends LIST   evvm, qsd or evvm,qsd (default)\n"
		"  --qsd-aio MODE    qsd's file node aio: native (default; with cache.direct=on),\n"
		"                    io_uring or threads (with cache.direct=off)\n"
		"  --qsd-iothread[=POLL_NS]  export from a qsd iothread (poll-max-ns, default\n"
		"                    32768) instead of qsd's main loop (default)\n"
		"  --evvm-arg ARG, --qsd-arg ARG  append ARG to that backend's command line\n"
		"  --json FILE       also write the figures as JSON\n"
		"  -v, --verbose     each run's figures and the backends' output on stderr\n"
		"  Binaries: $EVVM (default: evvm next to this bench, or build/evvm), $QSD\n"
		"  (default: qemu-storage-daemon in $PATH).\n",
		DISK_MIB, N_MIN, N_MAX, MAX_QUEUES, MAX_QLIST);
}

static bool parse_backends(const char *s, bool use[NR_BACKENDS])
{
	char buf[64], *tok, *save;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	use[EVVM] = use[QSD] = false;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "evvm"))
			use[EVVM] = true;
		else if (!strcmp(tok, "qsd") || !strcmp(tok, "qemu-storage-daemon"))
			use[QSD] = true;
		else
			return false;
	}
	return use[EVVM] || use[QSD];
}

/*
 * The rows: every queue count with every I/O thread count up to it; 0, or
 * 2 after one line when an I/O thread count fits no queue count.
 */
static int build_rows(struct opts *o)
{
	for (unsigned int t = 0; t < o->nr_iothreads; t++) {
		bool fits = false;

		for (unsigned int q = 0; q < o->nr_queues; q++)
			fits |= o->iothreads[t] <= o->queues[q];
		if (!fits) {
			fprintf(stderr,
				"vhost-blk: --iothreads %u: more than every --queues count\n",
				o->iothreads[t]);
			return 2;
		}
	}
	o->nr_rows = 0;
	for (unsigned int q = 0; q < o->nr_queues; q++) {
		unsigned int first = o->nr_rows;

		for (unsigned int t = 0; t < o->nr_iothreads; t++)
			if (o->iothreads[t] <= o->queues[q])
				o->rows[o->nr_rows++] =
					(struct row){ o->queues[q], o->iothreads[t], first };
	}
	return 0;
}

static bool parse_inflight(const char *s, bool inflight[2])
{
	inflight[0] = !strcmp(s, "off") || !strcmp(s, "both");
	inflight[1] = !strcmp(s, "on") || !strcmp(s, "both");
	return inflight[0] || inflight[1];
}

/* Option @opt with argument @arg into @o; -1 to go on, or main()'s exit status. */
static int parse_opt(int opt, char *arg, struct opts *o)
{
	switch (opt) {
	case 'r':
		if (!opt_uint("vhost-blk", "runs", arg, 1, MAX_RUNS, &o->runs))
			return 2;
		return -1;
	case 'n':
		if (!opt_uint("vhost-blk", "n", arg, N_MIN, N_MAX, &o->n))
			return 2;
		return -1;
	case 'W':
		if (!opt_uint("vhost-blk", "warmup", arg, 1, N_MAX, &o->warmup))
			return 2;
		return -1;
	case 'j':
		o->json = arg;
		return -1;
	case 'c':
		if (!opt_cpu("vhost-blk", arg, &o->pin))
			return 2;
		return -1;
	case 'b':
		if (!parse_backends(arg, o->use)) {
			fprintf(stderr,
				"vhost-blk: --backends '%s': want evvm, qsd or "
				"evvm,qsd\n",
				arg);
			return 2;
		}
		return -1;
	case 'a':
		if (strcmp(arg, "io_uring") && strcmp(arg, "threads") && strcmp(arg, "native")) {
			fprintf(stderr,
				"vhost-blk: --qsd-aio '%s': want io_uring, threads "
				"or native\n",
				arg);
			return 2;
		}
		o->qsd_aio = arg;
		return -1;
	case 'i':
		o->qsd_iothread = true;
		if (arg && !parse_uint(arg, &o->qsd_poll_ns)) {
			fprintf(stderr,
				"vhost-blk: --qsd-iothread='%s': want a poll-max-ns "
				"value\n",
				arg);
			return 2;
		}
		return -1;
	case 'E':
	case 'Q': {
		int b = opt == 'E' ? EVVM : QSD;

		if (o->nr_extra[b] == MAX_EXTRA) {
			fprintf(stderr, "vhost-blk: at most %d --%s-arg\n", MAX_EXTRA,
				backend_names[b]);
			return 2;
		}
		o->extra[b][o->nr_extra[b]++] = arg;
		return -1;
	}
	case 'T':
	case 'q':
		if (!parse_uint_list(arg, 1, MAX_QUEUES, opt == 'q' ? o->queues : o->iothreads,
				     MAX_QLIST, opt == 'q' ? &o->nr_queues : &o->nr_iothreads)) {
			fprintf(stderr,
				"vhost-blk: --%s '%s': want distinct counts 1..%d, at "
				"most %d, e.g. 1,2\n",
				opt == 'q' ? "queues" : "iothreads", arg, MAX_QUEUES, MAX_QLIST);
			return 2;
		}
		return -1;
	case 'f':
		if (!parse_inflight(arg, o->inflight)) {
			fprintf(stderr, "vhost-blk: --inflight '%s': want on, off or both\n", arg);
			return 2;
		}
		return -1;
	case 'v':
		o->verbose = true;
		return -1;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

/* The options into @o; -1 to go on, or main()'s exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "n", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "pin", required_argument, NULL, 'c' },
		{ "backends", required_argument, NULL, 'b' },
		{ "qsd-aio", required_argument, NULL, 'a' },
		{ "qsd-iothread", optional_argument, NULL, 'i' },
		{ "evvm-arg", required_argument, NULL, 'E' },
		{ "qsd-arg", required_argument, NULL, 'Q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "queues", required_argument, NULL, 'q' },
		{ "inflight", required_argument, NULL, 'f' },
		{ "iothreads", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "hv", lopts, NULL)) != -1) {
		rc = parse_opt(opt, optarg, o);
		if (rc >= 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "vhost-blk: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	return build_rows(o) ? 2 : -1;
}

/* `@bin --version` must start with @want; 0, or 1 after one line. */
static int check_version(const char *bin, const char *want, const char *other, char *out,
			 size_t max)
{
	char *av[] = { (char *)bin, "--version", NULL };

	capture_line(av, out, max);
	if (!strncmp(out, want, strlen(want)))
		return 0;
	fprintf(stderr, "vhost-blk: %s --version: %s (set $%s, or --backends %s)\n", bin,
		out[0] ? out : "no output", strcmp(want, "evvm") ? "QSD" : "EVVM", other);
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.runs = 5,
		.n = 10000,
		.warmup = 500,
		.pin = -1,
		.use = { true, true },
		.inflight = { true, true },
		.queues = { 1 },
		.nr_queues = 1,
		.iothreads = { 1 },
		.nr_iothreads = 1,
		.qsd_aio = "native",
		.qsd_poll_ns = 32768,
	};
	char sockdir[] = "/tmp/evvm-vhost-blk-XXXXXX";
	char version[NR_BACKENDS][128] = { "", "" };
	const char *versions[NR_BACKENDS] = { version[EVVM], version[QSD] };
	struct disk d = { .fd = -1 };
	FILE *json = NULL;
	const char *env;
	int err;

	evvm_log_set_output(STDERR_FILENO, false); /* the library is silent by default */

	err = parse_args(argc, argv, &o);
	if (err >= 0)
		return err;
	env = getenv("QSD");
	o.bin[QSD] = env && *env ? env : "qemu-storage-daemon";
	o.bin[EVVM] = find_evvm();
	if (o.verbose)
		evvm_log_set_level(EVVM_LOG_INFO);

	/* Fail now rather than after minutes of runs. */
	if (o.json) {
		json = fopen(o.json, "w");
		if (!json) {
			fprintf(stderr, "vhost-blk: %s: %s\n", o.json, evvm_strerror(errno));
			return 1;
		}
	}
	/* Every thread and process created from here on inherits this. */
	err = o.pin >= 0 ? pin_cpu(o.pin) : 0;
	if (err) {
		fprintf(stderr, "vhost-blk: --pin %d: %s\n", o.pin, evvm_strerror(err));
		goto fail;
	}
	if (o.use[QSD] && check_version(o.bin[QSD], "qemu-storage-daemon", "evvm", version[QSD],
					sizeof(version[QSD])))
		goto fail;
	if (o.use[EVVM] &&
	    check_version(o.bin[EVVM], "evvm", "qsd", version[EVVM], sizeof(version[EVVM])))
		goto fail;
	if (!mkdtemp(sockdir)) {
		fprintf(stderr, "vhost-blk: mkdtemp %s: %s\n", sockdir, evvm_strerror(errno));
		goto fail;
	}
	snprintf(cleanup_dir, sizeof(cleanup_dir), "%s", sockdir);
	catch_signals();
	if (disk_make("vhost-blk", &d)) {
		rmdir(sockdir);
		goto fail;
	}
	err = run_all(&o, &d, sockdir);
	close(d.fd); /* the last reference: tmpfs frees the disk */
	rmdir(sockdir);
	if (err)
		goto fail;

	medians(&o);
	print_header(&o, &d, versions);
	print_table(&o);
	if (json) {
		FILE *f = json;

		json = NULL;
		if (write_json(f, &o, &d, versions))
			goto fail;
	}
	return 0;
fail:
	if (json)
		fclose(json);
	if (o.json)
		unlink(o.json);
	return 1;
}
