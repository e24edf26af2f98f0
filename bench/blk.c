// SPDX-License-Identifier: MIT
/*
 * bench/blk: 4 KiB random read and write IOPS and mean/p99 latency of
 * evvm's virtio-blk, measured from inside the guest (tests=blk-bench,
 * guest/test_blk_bench.c), at queue depth 1 and 32, on both transports
 * (--transport=mmio: virtio-mmio; pci: modern virtio-pci with MSI-X), with
 * one request queue and with N (--queues, default 1,2) and two fabric
 * paths:
 *
 *   kernel  KVM ioeventfd (QueueNotify never leaves the kernel) and KVM
 *           irqfd (the blk I/O thread's eventfd write injects the interrupt)
 *   user    evvm --ioeventfd=user --irqfd=user: every QueueNotify exits to
 *           evvm, which matches it and signals the I/O thread; an evvm
 *           thread injects every interrupt
 *
 * The disk is bench/disk.h's file on tmpfs, which the VMs open through
 * /proc/self/fd. Every request goes guest -> virtio-mmio or virtio-pci ->
 * blk I/O thread -> io_uring (readv/writev on the file) -> used ring ->
 * interrupt (an IOAPIC pin whose handler reads InterruptStatus and writes
 * InterruptACK, or an MSI-X vector whose handler touches no register).
 *
 * N queues: the disk is made with queues=N (VIRTIO_BLK_F_MQ) and, on pci,
 * iothreads=N (queue q on I/O thread q: how evvm spreads a disk's queues;
 * mmio serves every queue on its one I/O thread, as --disk does). The
 * guest has one vCPU (its APs only check in and halt), which puts request
 * k on queue k % N; qd is the total in flight, as with one queue, so the
 * rows differ only in the rings, doorbells, vectors and threads that carry
 * the same requests. Pinned to one host CPU (the default), the I/O threads
 * take turns on it: --no-pin lets them run side by side.
 *
 * exits/req counts the vCPU exits that reach evvm (port I/O and MMIO:
 * vm_get_metrics()) per request: the run's total less a baseline run of
 * the same path with one request (boot, discovery, setup and the output
 * lines, which differ by a few characters: +-0.01 at 2000 requests), over
 * n - 1 (the baseline has the same queue count). Exits KVM handles itself (an ioeventfd doorbell,
 * hlt, EOI) are not seen by evvm and not counted.
 *
 * The guest counts in TSC cycles (per-request latency from just before the
 * request is queued to the completion poll that sees it; the driver sleeps
 * in hlt and the used-buffer interrupt wakes it) and brackets the timed part
 * with testdev MARK writes, which evvm timestamps with CLOCK_MONOTONIC. So
 * ns_per_cycle = wall_ns / cycles for that same interval converts the
 * guest's figures to time, and IOPS = n / wall. Paths run interleaved (and
 * in alternating order), workload by workload, run after run, with the
 * same offsets (seed) for both paths; the table shows medians of the runs.
 * Next to it, the host's own synchronous 4 KiB pread/pwrite on the same
 * file shows what the I/O itself costs.
 *
 * By default the whole benchmark runs on one host CPU. Under PVM (software
 * nested virtualization) an interrupt injected into a vCPU running on
 * another CPU can be noticed late, and irregularly so, which blurs what is
 * measured here; --no-pin shows that case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/vm.h>

#include "bench.h"
#include "disk.h"
#include "median.h"

#include "../cli/cli.h"

#define MEM_MB	    32
#define IO_BYTES    DISK_BLOCK
#define MARK_START  0x10
#define MARK_END    0x110
#define MAX_RUNS    64
#define GUEST_N_MAX 4096 /* guest/test_blk_bench.c: BB_N_MAX */
#define CONSOLE_MAX 65536
#define HOST_REF_N  20000
#define MAX_QCOUNTS 4 /* queue counts in one --queues list */
#define GUEST_Q_MAX 4 /* guest/virtio_blk.h: BLK_MAX_QUEUES */

/* Fabric (path / 2: KERNEL or USER) times transport (path % 2). */
enum { KERNEL_MMIO, KERNEL_PCI, USER_MMIO, USER_PCI, NR_PATHS };
enum { KERNEL, USER };
static const char *const fabric_names[] = { "kernel", "user" };
static const char *const transport_names[] = { "mmio", "pci" };
#define FABRIC(p)  ((p) / 2)
#define IS_PCI(p)  ((p) % 2)
#define BASELINE_N 1 /* requests of the exit-count baseline run */

struct workload {
	const char *rw;
	unsigned int qd;
};
static const struct workload workloads[] = {
	{ "read", 1 },
	{ "read", 32 },
	{ "write", 1 },
	{ "write", 32 },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

struct sample {
	double iops, mean_us, p99_us;
	double exits; /* the run's whole count; main() turns it into exits per request */
	double mmio_exits;
};

struct opts {
	unsigned int runs, n;
	unsigned int queues[MAX_QCOUNTS], nq; /* --queues */
	int pin;
	const char *json, *wait;
	bool verbose;
	bool want[NR_PATHS]; /* --fabric and --transport */
};

struct watchdog {
	struct evvm_vm *vm;
	int fd;
	bool fired;
};

static void watchdog_fire(void *opaque, uint32_t events)
{
	struct watchdog *w = opaque;
	uint64_t v;

	(void)events;
	if (read(w->fd, &v, sizeof(v)) != sizeof(v))
		return;
	w->fired = true;
	vm_stop(w->vm, 124);
}

/* The first line of @buf starting with @prefix, copied into @out (without it). */
static bool find_line(const char *buf, const char *prefix, char *out, size_t max)
{
	const char *p = buf, *e;
	size_t len;

	while (p && *p) {
		e = strchr(p, '\n');
		len = e ? (size_t)(e - p) : strlen(p);
		if (!strncmp(p, prefix, strlen(prefix)) && len >= strlen(prefix)) {
			len -= strlen(prefix);
			if (len >= max)
				len = max - 1;
			memcpy(out, p + strlen(prefix), len);
			out[len] = '\0';
			return true;
		}
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* What one run is: the path, the workload, the queues; for messages. */
struct run {
	int path;
	const struct workload *w;
	unsigned int queues, req, seed;
	char what[80];
};

/* pci spreads N queues over N I/O threads; mmio takes one (see the top). */
static unsigned int iothreads_of(int path, unsigned int queues)
{
	return IS_PCI(path) ? queues : 1;
}

/* The guest's per-request breakdown (-v): where the timed loop's time went. */
static void print_detail(const struct run *r, const char *out, uint64_t cycles, unsigned int n,
			 double ns_per_cycle)
{
	uint64_t kicked, waited;
	unsigned int waits, hlts, irqs, notifies;
	char line[512];

	if (find_line(out, "evvm-guest: blk-bench: detail: ", line, sizeof(line)) &&
	    sscanf(line,
		   "kicked=%" SCNu64 " waited=%" SCNu64 " waits=%u hlts=%u irqs=%u notifies=%u",
		   &kicked, &waited, &waits, &hlts, &irqs, &notifies) == 6 &&
	    kicked + waited <= cycles)
		fprintf(stderr,
			"blk: %s: per request: driver code %.1f us, in kicks %.1f us, "
			"waiting %.1f us; %.2f interrupts, %.2f notifies, %.2f waits, %.2f hlts\n",
			r->what, (cycles - kicked - waited) * ns_per_cycle / 1e3 / n,
			kicked * ns_per_cycle / 1e3 / n, waited * ns_per_cycle / 1e3 / n,
			(double)irqs / n, (double)notifies / n, (double)waits / n,
			(double)hlts / n);
	if (find_line(out, "evvm-guest: blk-bench: per queue: ", line, sizeof(line)))
		fprintf(stderr, "blk: %s: requests per queue: %s\n", r->what, line);
}

/*
 * The guest's figures from its console @out, converted with the MARK
 * interval into @s. 0, or 1 after printing one line.
 */
static int parse_run(const struct opts *o, const struct run *r, const char *out,
		     const struct evvm_mark *marks, unsigned int nr, struct sample *s)
{
	unsigned int qd, n, queues;
	uint64_t start = 0, end = 0, cycles, mean, p99;
	char rw[16], line[512];
	double wall_ns, ns_per_cycle;

	if (!find_line(out, "evvm-guest: blk-bench: ", line, sizeof(line)) ||
	    sscanf(line,
		   "rw=%15s qd=%u n=%u cycles=%" SCNu64 " mean=%" SCNu64 " p99=%" SCNu64
		   " queues=%u",
		   rw, &qd, &n, &cycles, &mean, &p99, &queues) != 7 ||
	    strcmp(rw, r->w->rw) || qd != r->w->qd || n != r->req || queues != r->queues ||
	    !cycles) {
		fprintf(stderr, "blk: %s: no valid 'blk-bench:' line in the guest's output\n",
			r->what);
		return 1;
	}
	for (unsigned int i = 0; i < nr; i++) {
		if (marks[i].value == MARK_START && !start)
			start = marks[i].ns;
		else if (marks[i].value == MARK_END && start && !end)
			end = marks[i].ns;
	}
	if (!start || end <= start) {
		fprintf(stderr, "blk: %s: no MARK 0x%x/0x%x pair from the guest\n", r->what,
			MARK_START, MARK_END);
		return 1;
	}
	wall_ns = (double)(end - start);
	ns_per_cycle = wall_ns / (double)cycles;
	s->iops = n / (wall_ns / 1e9);
	s->mean_us = mean * ns_per_cycle / 1e3;
	s->p99_us = p99 * ns_per_cycle / 1e3;
	if (o->verbose) {
		fprintf(stderr,
			"blk: %s: wall %.1f ms, %.3f ns/cycle (%.2f GHz TSC): %.0f IOPS, mean %.1f "
			"us, p99 %.1f us\n",
			r->what, wall_ns / 1e6, ns_per_cycle, 1 / ns_per_cycle, s->iops, s->mean_us,
			s->p99_us);
		print_detail(r, out, cycles, n, ns_per_cycle);
	}
	return 0;
}

/* Stop a guest that never finishes (a lost interrupt leaves it in hlt). 0 or -errno. */
static int watchdog_arm(struct watchdog *wd, struct evvm_vm *vm, const struct itimerspec *its)
{
	wd->vm = vm;
	wd->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (wd->fd < 0 || timerfd_settime(wd->fd, 0, its, NULL))
		return -errno;
	return loop_add(vm_loop(vm), wd->fd, EPOLLIN, watchdog_fire, wd);
}

/* The VM for @r, its console on @con. NULL after a message. */
static struct evvm_vm *make_vm(const struct opts *o, const struct run *r, const char *disk,
			       uint64_t sectors, int con)
{
	char cmdline[320];
	struct blk_config bc = { .path = disk, .queues = r->queues > 1 ? r->queues : 0 };
	struct evvm_vm_config cfg = {
		.mem_size = (uint64_t)MEM_MB << 20,
		.nr_cpus = 1,
		.kernel_name = "(bundled test guest)",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.cmdline = cmdline,
		.console_in = -1,
		.console_out = con,
		.ioeventfd_user = FABRIC(r->path) == USER,
		.irqfd_user = FABRIC(r->path) == USER,
		.testdev = true,
		.transport = IS_PCI(r->path) ? EVVM_TRANSPORT_PCI : EVVM_TRANSPORT_MMIO,
	};
	struct evvm_vm *vm = NULL;

	snprintf(cmdline, sizeof(cmdline),
		 "tests=blk-bench bbench.rw=%s bbench.qd=%u bbench.n=%u bbench.seed=%u "
		 "bbench.sectors=%" PRIu64 " bbench.wait=%s bbench.queues=%u",
		 r->w->rw, r->w->qd, r->req, r->seed, sectors, o->wait, r->queues);
	/* blk_create() and vm_create() log the cause themselves. */
	if (blk_create("blk0", &bc, &cfg.devices[0]))
		return NULL;
	cfg.devices[0]->nr_iothreads = iothreads_of(r->path, r->queues);
	cfg.nr_devices = 1;
	if (vm_create(&cfg, &vm)) /* owns the device from here on, also when it fails */
		return NULL;
	return vm;
}

/*
 * One VM, one workload on one path with r->queues queues: the guest's
 * figures converted with the MARK interval. Returns 0, or 1 after printing
 * one line.
 */
static int run_one(const struct opts *o, const char *disk, uint64_t sectors, struct run *r,
		   struct sample *s)
{
	char *out = NULL, line[512];
	struct evvm_vm_metrics m;
	struct watchdog wd = { .fd = -1 };
	struct evvm_mark marks[16];
	/* Generous: a request costs ~1 ms of emulated guest code. */
	struct itimerspec its = { .it_value.tv_sec = 60 + r->req / 100 };
	struct evvm_vm *vm = NULL;
	unsigned int nr;
	ssize_t got;
	int con, status, err, rc = 1;

	snprintf(r->what, sizeof(r->what), "%s %s %s qd=%u queues=%u n=%u",
		 fabric_names[FABRIC(r->path)], transport_names[IS_PCI(r->path)], r->w->rw,
		 r->w->qd, r->queues, r->req);
	con = memfd_create("blk-bench-console", MFD_CLOEXEC);
	if (con < 0) {
		fprintf(stderr, "blk: %s: memfd_create: %s\n", r->what, evvm_strerror(errno));
		return 1;
	}
	vm = make_vm(o, r, disk, sectors, con);
	if (!vm)
		goto out;
	err = watchdog_arm(&wd, vm, &its);
	if (err) {
		fprintf(stderr, "blk: %s: watchdog timer: %s\n", r->what, evvm_strerror(err));
		goto out;
	}

	status = vm_run(vm);
	nr = vm_marks(vm, marks, 16);
	vm_get_metrics(vm, &m);
	s->mmio_exits = (double)(m.exit_mmio_read + m.exit_mmio_write);
	s->exits = s->mmio_exits + (double)(m.exit_io_in + m.exit_io_out);
	if (nr > 16)
		nr = 16;

	out = calloc(1, CONSOLE_MAX + 1);
	if (!out) {
		fprintf(stderr, "blk: %s: %s\n", r->what, evvm_strerror(ENOMEM));
		goto out;
	}
	got = pread(con, out, CONSOLE_MAX, 0);
	if (got < 0) {
		fprintf(stderr, "blk: %s: reading the guest's console: %s\n", r->what,
			evvm_strerror(errno));
		goto out;
	}
	out[got] = '\0';
	if (o->verbose)
		fputs(out, stderr);

	if (wd.fired) {
		fprintf(stderr, "blk: %s: the guest did not finish within %ld s\n", r->what,
			(long)its.it_value.tv_sec);
		/* Where it stuck: kicks and interrupts per queue, and the guest's last words. */
		vm_print_stats(vm, stderr, false);
		if (!o->verbose)
			fputs(out, stderr);
		goto out;
	}
	if (status != 0) {
		if (find_line(out, "evvm-guest: test blk-bench: FAILED: ", line, sizeof(line)))
			fprintf(stderr, "blk: %s: guest failed: %s\n", r->what, line);
		else
			fprintf(stderr, "blk: %s: guest exited with status %d\n", r->what, status);
		goto out;
	}
	rc = parse_run(o, r, out, marks, nr, s);
out:
	vm_destroy(vm);
	if (wd.fd >= 0)
		close(wd.fd);
	close(con);
	free(out);
	return rc;
}

/* The host's own synchronous 4 KiB I/O on the file: mean us, or -1. */
static double host_ref_us(int fd, uint64_t blocks, bool write, char *buf)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	double t0 = now_ns();

	for (unsigned int i = 0; i < HOST_REF_N; i++) {
		off_t off;
		ssize_t r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		off = (off_t)(x % blocks) * IO_BYTES;
		r = write ? pwrite(fd, buf, IO_BYTES, off) : pread(fd, buf, IO_BYTES, off);
		if (r != IO_BYTES)
			return -1;
	}
	return (now_ns() - t0) / HOST_REF_N / 1e3;
}

struct host_ref {
	double read_us, write_us;
};

/* Every run's figures, indexed by workload, path, --queues entry (and run). */
struct results {
	struct sample s[NR_WORKLOADS][NR_PATHS][MAX_QCOUNTS][MAX_RUNS];
	struct sample base[NR_PATHS][MAX_QCOUNTS]; /* the exit-count baselines */
	struct sample med[NR_WORKLOADS][NR_PATHS][MAX_QCOUNTS];
	struct host_ref ref;
};

/* The host's own I/O on the disk file: 0, or 1 after one line. */
static int measure_host(struct disk *d, struct host_ref *ref)
{
	char *buf = aligned_alloc(IO_BYTES, IO_BYTES);

	if (!buf) {
		fprintf(stderr, "blk: %s\n", evvm_strerror(ENOMEM));
		return 1;
	}
	memset(buf, 0x5a, IO_BYTES);
	errno = 0; /* a short transfer sets none */
	ref->read_us = host_ref_us(d->fd, d->blocks, false, buf);
	ref->write_us = host_ref_us(d->fd, d->blocks, true, buf);
	free(buf);
	if (ref->read_us < 0 || ref->write_us < 0) {
		fprintf(stderr, "blk: host 4 KiB %s on the disk file failed: %s\n",
			ref->read_us < 0 ? "pread" : "pwrite",
			errno ? evvm_strerror(errno) : "short");
		return 1;
	}
	return 0;
}

/*
 * Every workload on every path and queue count, run after run: each run
 * interleaves the (path, queue count) pairs, starting one further along
 * each time. 0, or 1 after one line.
 */
static int measure_guest(const struct opts *o, const char *disk, uint64_t sectors,
			 struct results *res)
{
	unsigned int pairs = NR_PATHS * o->nq;
	struct run r;

	/* Each pair's exit-count baseline: the same VM doing BASELINE_N requests. */
	for (unsigned int i = 0; i < pairs; i++) {
		r = (struct run){ .path = i % NR_PATHS,
				  .w = &workloads[0],
				  .queues = o->queues[i / NR_PATHS],
				  .req = BASELINE_N,
				  .seed = 1 };
		if (o->want[r.path] &&
		    run_one(o, disk, sectors, &r, &res->base[r.path][i / NR_PATHS]))
			return 1;
	}
	for (unsigned int k = 0; k < o->runs; k++) {
		for (unsigned int w = 0; w < NR_WORKLOADS; w++) {
			for (unsigned int i = 0; i < pairs; i++) {
				unsigned int j = (i + k) % pairs, c = j / NR_PATHS;

				r = (struct run){ .path = j % NR_PATHS,
						  .w = &workloads[w],
						  .queues = o->queues[c],
						  .req = o->n,
						  .seed = k + 1 };
				if (o->want[r.path] &&
				    run_one(o, disk, sectors, &r, &res->s[w][r.path][c][k]))
					return 1;
			}
		}
	}
	return 0;
}

/*
 * Pin, make the disk, time the host's own I/O and run every workload on
 * every path; 0, or 1 after printing one line. The disk is gone on return.
 */
static int measure(const struct opts *o, struct results *res, struct disk *d)
{
	char disk[64];
	int err, rc;

	/* Every thread created from here on (vCPUs, I/O threads) inherits this. */
	err = o->pin >= 0 ? pin_cpu(o->pin) : 0;
	if (err) {
		fprintf(stderr, "blk: --pin %d: %s\n", o->pin, evvm_strerror(err));
		return 1;
	}
	if (disk_make("blk", d))
		return 1;
	snprintf(disk, sizeof(disk), "/proc/self/fd/%d", d->fd);
	rc = measure_host(d, &res->ref);
	if (!rc)
		rc = measure_guest(o, disk, d->blocks * (DISK_BLOCK / 512), res);
	close(d->fd); /* the last reference: tmpfs frees the disk */
	return rc;
}

/* Field @f (a double member offset) of every run of one row, less the baseline's per request. */
static double med_of(const struct opts *o, const struct sample *runs, size_t f,
		     const struct sample *base)
{
	double v[MAX_RUNS];

	for (unsigned int k = 0; k < o->runs; k++) {
		v[k] = *(const double *)((const char *)&runs[k] + f);
		if (base)
			v[k] = (v[k] - *(const double *)((const char *)base + f)) /
			       (o->n - BASELINE_N);
	}
	return median(v, o->runs);
}

static void medians(const struct opts *o, struct results *res)
{
	for (unsigned int w = 0; w < NR_WORKLOADS; w++) {
		for (int p = 0; p < NR_PATHS; p++) {
			for (unsigned int c = 0; o->want[p] && c < o->nq; c++) {
				const struct sample *runs = res->s[w][p][c], *b = &res->base[p][c];
				struct sample *m = &res->med[w][p][c];

				m->exits = med_of(o, runs, offsetof(struct sample, exits), b);
				m->mmio_exits =
					med_of(o, runs, offsetof(struct sample, mmio_exits), b);
				m->iops = med_of(o, runs, offsetof(struct sample, iops), NULL);
				m->mean_us =
					med_of(o, runs, offsetof(struct sample, mean_us), NULL);
				m->p99_us = med_of(o, runs, offsetof(struct sample, p99_us), NULL);
			}
		}
	}
}

static void print_table(const struct opts *o, const struct results *res, const struct disk *d)
{
	printf("bench/blk: 4 KiB random I/O on a %d MiB disk in %s (%s), %u runs x %u requests, ",
	       DISK_MIB, d->dir, d->tmpfs ? "tmpfs" : "not tmpfs", o->runs, o->n);
	if (o->pin >= 0)
		printf("host CPU %d, ", o->pin);
	else
		printf("unpinned, ");
	printf("guest waits by %s, one vCPU, qd in all queues; medians\n", o->wait);
	printf("%-7s %-5s %-6s %3s %2s %5s %10s %10s %10s %10s %10s %9s %9s\n", "path", "trans",
	       "rw", "qd", "q", "iothr", "IOPS", "mean_us", "p99_us", "exits/req", "mmio/req",
	       "IOPS p/m", "IOPS /1q");
	for (unsigned int w = 0; w < NR_WORKLOADS; w++) {
		for (int p = 0; p < NR_PATHS; p++) {
			for (unsigned int c = 0; o->want[p] && c < o->nq; c++) {
				const struct sample *m = &res->med[w][p][c];

				printf("%-7s %-5s %-6s %3u %2u %5u %10.0f %10.1f %10.1f %10.2f "
				       "%10.2f",
				       fabric_names[FABRIC(p)], transport_names[IS_PCI(p)],
				       workloads[w].rw, workloads[w].qd, o->queues[c],
				       iothreads_of(p, o->queues[c]), m->iops, m->mean_us,
				       m->p99_us, m->exits, m->mmio_exits);
				/* pci / mmio at one queue count; N queues / the first count */
				if (IS_PCI(p) && o->want[p - 1])
					printf(" %8.2fx", m->iops / res->med[w][p - 1][c].iops);
				else if (c)
					printf(" %9s", "");
				if (c)
					printf(" %8.2fx", m->iops / res->med[w][p][0].iops);
				printf("\n");
			}
		}
	}
	for (int t = 0; t < 2; t++) {
		int k = t ? KERNEL_PCI : KERNEL_MMIO, u = t ? USER_PCI : USER_MMIO;

		if (!o->want[k] || !o->want[u])
			continue;
		printf("user / kernel mean latency, %s, %u queue%s:", transport_names[t],
		       o->queues[0], o->queues[0] > 1 ? "s" : "");
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			printf(" %s qd%u %.2fx%s", workloads[w].rw, workloads[w].qd,
			       res->med[w][u][0].mean_us / res->med[w][k][0].mean_us,
			       w + 1 < NR_WORKLOADS ? "," : "\n");
	}
	printf("host reference, synchronous 4 KiB on the same file (no VM): pread %.2f us, "
	       "pwrite %.2f us\n",
	       res->ref.read_us, res->ref.write_us);
}

/* The figures as JSON into @f (closed): 0, or 1 after one line. */
static int write_json(const struct opts *o, const struct results *res, const struct disk *d,
		      FILE *f)
{
	fprintf(f,
		"{\"n\": %u, \"pinned_cpu\": %d, \"wait\": \"%s\", \"disk_mib\": %d, "
		"\"disk_dir\": \"%s\", \"tmpfs\": %s, \"queue_counts\": [",
		o->n, o->pin, o->wait, DISK_MIB, d->dir, d->tmpfs ? "true" : "false");
	for (unsigned int c = 0; c < o->nq; c++)
		fprintf(f, "%s%u", c ? ", " : "", o->queues[c]);
	fprintf(f, "], \"host_ref_us\": {\"pread\": %.3f, \"pwrite\": %.3f}, \"workloads\": [",
		res->ref.read_us, res->ref.write_us);
	for (unsigned int w = 0, first = 1; w < NR_WORKLOADS; w++) {
		for (int p = 0; p < NR_PATHS; p++) {
			for (unsigned int c = 0; o->want[p] && c < o->nq; c++) {
				const struct sample *m = &res->med[w][p][c];

				fprintf(f,
					"%s\n  {\"path\": \"%s\", \"transport\": \"%s\", "
					"\"rw\": \"%s\", \"qd\": %u, \"queues\": %u, "
					"\"iothreads\": %u, \"iops\": %.1f, "
					"\"mean_us\": %.2f, \"p99_us\": %.2f, "
					"\"exits_per_req\": %.3f, \"mmio_exits_per_req\": %.3f, "
					"\"runs\": %u}",
					first ? "" : ",", fabric_names[FABRIC(p)],
					transport_names[IS_PCI(p)], workloads[w].rw,
					workloads[w].qd, o->queues[c],
					iothreads_of(p, o->queues[c]), m->iops, m->mean_us,
					m->p99_us, m->exits, m->mmio_exits, o->runs);
				first = 0;
			}
		}
	}
	fprintf(f, "\n]}\n");
	if (fclose(f)) {
		fprintf(stderr, "blk: %s: %s\n", o->json, evvm_strerror(errno));
		return 1;
	}
	return 0;
}

/* --fabric / --transport: @names[0], @names[1] or "both" into @on[2]; false after a message. */
static bool opt_pair(const char *flag, const char *arg, const char *const *names, bool *on)
{
	bool both = !strcmp(arg, "both");

	if (!both && strcmp(arg, names[0]) && strcmp(arg, names[1])) {
		fprintf(stderr, "blk: --%s '%s': want %s, %s or both\n", flag, arg, names[0],
			names[1]);
		return false;
	}
	on[0] = both || !strcmp(arg, names[0]);
	on[1] = both || !strcmp(arg, names[1]);
	return true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench/blk [--runs R] [--n N] [--queues Q[,Q]...] [--pin CPU | --no-pin]\n"
		"                 [--json FILE]\n"
		"  4 KiB random read/write at queue depth 1 and 32, measured in the guest,\n"
		"  on KVM's ioeventfd/irqfd path (kernel) and evvm's (user), over virtio-mmio\n"
		"  and virtio-pci, against a %d MiB disk file on /dev/shm.\n"
		"  --runs R         repetitions of every workload and path, interleaved (default "
		"3)\n"
		"  --n N            requests per run, 2..%d (default 2000)\n"
		"  --queues Q,...   request queue counts to measure side by side, 1..%d, up to\n"
		"                   %d of them (default 1,2): the disk gets queues=Q (and on pci\n"
		"                   iothreads=Q), the guest puts request k on queue k %% Q\n"
		"  --fabric F       kernel, user or both (default both)\n"
		"  --transport T    mmio, pci or both (default both)\n"
		"  --pin CPU        run every thread on host CPU (default 0)\n"
		"  --no-pin         let the scheduler place threads\n"
		"  --wait hlt|spin  how the guest waits for completions (default hlt:\n"
		"                   sleep until the interrupt; spin: poll the used ring)\n"
		"  --json FILE      also write the figures as JSON\n"
		"  -v, --verbose    print each run's guest output and figures on stderr\n",
		DISK_MIB, GUEST_N_MAX, GUEST_Q_MAX, MAX_QCOUNTS);
}

/* One option into @o (@fabric and @transport: --fabric, --transport); -1, or an exit status. */
static int parse_opt(int opt, const char *arg, struct opts *o, bool *fabric, bool *transport)
{
	switch (opt) {
	case 'r':
		return opt_uint("blk", "runs", arg, 1, MAX_RUNS, &o->runs) ? -1 : 2;
	case 'n':
		return opt_uint("blk", "n", arg, BASELINE_N + 1, GUEST_N_MAX, &o->n) ? -1 : 2;
	case 'q':
		if (parse_uint_list(arg, 1, GUEST_Q_MAX, o->queues, MAX_QCOUNTS, &o->nq))
			return -1;
		fprintf(stderr,
			"blk: --queues '%s': want distinct counts 1..%d, at most %d, e.g. 1,2\n",
			arg, GUEST_Q_MAX, MAX_QCOUNTS);
		return 2;
	case 'j':
		o->json = arg;
		return -1;
	case 'c':
		return opt_cpu("blk", arg, &o->pin) ? -1 : 2;
	case 'u':
		o->pin = -1;
		return -1;
	case 'w':
		if (strcmp(arg, "hlt") && strcmp(arg, "spin")) {
			fprintf(stderr, "blk: --wait '%s': want hlt or spin\n", arg);
			return 2;
		}
		o->wait = arg;
		return -1;
	case 'v':
		o->verbose = true;
		return -1;
	case 'f':
		return opt_pair("fabric", arg, fabric_names, fabric) ? -1 : 2;
	case 't':
		return opt_pair("transport", arg, transport_names, transport) ? -1 : 2;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "n", required_argument, NULL, 'n' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "pin", required_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'u' },
		{ "wait", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "transport", required_argument, NULL, 't' },
		{ "queues", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.runs = 3, .n = 2000, .pin = 0, .wait = "hlt", .queues = { 1, 2 }, .nq = 2
	};
	static struct results res;
	bool fabric[2] = { true, true }, transport[2] = { true, true };
	struct disk d;
	FILE *json = NULL;
	int opt, rc;

	evvm_log_set_output(STDERR_FILENO, false); /* the library is silent by default */

	while ((opt = getopt_long(argc, argv, "hv", lopts, NULL)) != -1) {
		rc = parse_opt(opt, optarg, &o, fabric, transport);
		if (rc >= 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "blk: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	for (int p = 0; p < NR_PATHS; p++)
		o.want[p] = fabric[FABRIC(p)] && transport[IS_PCI(p)];

	/* Fail now rather than after minutes of runs. */
	if (o.json) {
		json = fopen(o.json, "w");
		if (!json) {
			fprintf(stderr, "blk: %s: %s\n", o.json, evvm_strerror(errno));
			return 1;
		}
	}

	if (measure(&o, &res, &d)) {
		if (json) {
			fclose(json);
			unlink(o.json);
		}
		return 1;
	}
	medians(&o, &res);
	print_table(&o, &res, &d);
	return json ? write_json(&o, &res, &d, json) : 0;
}
