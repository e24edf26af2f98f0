// SPDX-License-Identifier: MIT
/*
 * bench/notify: what a guest doorbell and a kick -> interrupt round trip
 * cost on each notification path, against a raw-KVM program doing the same
 * with no evvm code. Paths run interleaved, run after run, so ratios hold
 * on a noisy machine; the table shows medians.
 *
 *   raw          bench/raw_kvm.c: KVM ioeventfd + irqfd + one answering thread
 *   raw-len0     the same with a length-0 ioeventfd (any write matches)
 *   user         evvm --ioeventfd=user --irqfd=user (every doorbell exits)
 *   kernel       evvm, KVM ioeventfd + irqfd, I/O thread sleeps in epoll
 *   kernel-dm    the same, doorbells registered as virtio-mmio registers its
 *                QueueNotify: length 4 with datamatch (the queue index)
 *   kernel-len0  the same, doorbells registered as virtio-pci registers its
 *                notify addresses: length 0 (KVM's fast MMIO bus)
 *   kernel-poll  kernel with adaptive busy polling (--poll-max-us)
 *   user+sc, kernel+sc, virtio-pci+sc
 *                user, kernel and virtio-pci in a child process confined
 *                as `evvm run` is (--seccomp=on: every thread under its
 *                seccomp list, no capabilities): what the filters cost
 *   virtio-mmio  round trip only: a virtio-rng request on --transport=mmio,
 *                kick (datamatch doorbell) -> used-buffer interrupt on an
 *                IOAPIC pin, whose handler reads InterruptStatus and writes
 *                InterruptACK (guest/test_bench_virtio.c)
 *   virtio-pci   the same on --transport=pci: length-0 doorbell -> MSI-X
 *                vector, whose handler touches no device register
 *   loop         no KVM: a thread standing in for the vCPU works --work-us,
 *                kicks an eventfd and sleeps until an evvm loop answers on
 *                another eventfd (the kick -> interrupt round trip of the
 *                I/O thread alone; runs where /dev/kvm does not exist)
 *   loop-poll    the same with the loop's adaptive busy polling
 *
 * Every KVM path's runs are made in a child process of their own, so
 * the +sc rows compare with the others on equal terms.
 *
 * Pinned, the poller and the thread it waits for share one CPU: polling
 * can only steal time from the kicker, and must turn itself off. Unpinned
 * (--no-pin, a CPU free), polling saves the wakeup and should win.
 *
 * By default the whole benchmark runs on one host CPU. Under PVM (software
 * nested virtualization) an interrupt injected into a vCPU running on
 * another CPU can be noticed late, and irregularly so, which blurs what is
 * measured here; --no-pin shows that case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <evvm/confine.h>
#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>
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

enum {
	RAW,
	RAW_LEN0,
	USER,
	KERNEL,
	KERNEL_DM,
	KERNEL_LEN0,
	KERNEL_POLL,
	USER_SC,
	KERNEL_SC,
	VIRTIO_MMIO,
	VIRTIO_PCI,
	VIRTIO_PCI_SC,
	LOOP,
	LOOP_POLL,
	LOOP_SC,
	NR_PATHS
};

static const char *const path_names[NR_PATHS] = {
	"raw",	       "raw-len0",	"user",	   "kernel",	"kernel-dm",
	"kernel-len0", "kernel-poll",	"user+sc", "kernel+sc", "virtio-mmio",
	"virtio-pci",  "virtio-pci+sc", "loop",	   "loop-poll", "loop+sc",
};

/* The +sc paths: the path they run confined. */
static int unconfined_path(int path)
{
	return path == USER_SC	   ? USER
	       : path == KERNEL_SC ? KERNEL
	       : path == LOOP_SC   ? LOOP
				   : VIRTIO_PCI;
}

static bool confined(int path)
{
	return path == USER_SC || path == KERNEL_SC || path == VIRTIO_PCI_SC || path == LOOP_SC;
}

/* How each testdev path registers its doorbells (guest bench.db=). */
static const char *db_mode(int path)
{
	return path == KERNEL_DM ? "datamatch" : path == KERNEL_LEN0 ? "len0" : "wild";
}

/* Paths with a doorbell figure of their own (the others: round trip only). */
static bool has_doorbell(int path)
{
	return path < VIRTIO_MMIO;
}

#define LOOP_WARMUP 1000 /* round trips before timing: the polling choice settles */

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
		 "tests=bench bench.n=%u bench.vector=0x%x bench.addr=0x%llx bench.setup=testdev "
		 "bench.db=%s",
		 n, VECTOR, DOORBELL, db_mode(path));
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

/* virtio-mmio / virtio-pci: a virtio-rng's kick -> interrupt round trip, in ph[2]. */
static int run_virtio(int path, unsigned int n, double ph[3])
{
	char cmdline[96];
	struct evvm_vm_config cfg = {
		.mem_size = MEM_MB << 20,
		.nr_cpus = 1,
		.kernel_name = "(bundled test guest)",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.cmdline = cmdline,
		.console_in = -1,
		.console_out = -1,
		.testdev = true,
		.transport = path == VIRTIO_PCI ? EVVM_TRANSPORT_PCI : EVVM_TRANSPORT_MMIO,
		.nr_devices = 1,
	};
	struct evvm_mark marks[16];
	struct evvm_vm *vm;
	unsigned int nr;
	int status, err;

	snprintf(cmdline, sizeof(cmdline), "tests=bench-virtio bench.n=%u", n);
	err = rng_create("rng0", &cfg.devices[0]);
	if (err)
		return err;
	err = vm_create(&cfg, &vm); /* owns the device from here on, also when it fails */
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
	ph[0] = ph[1] = 0; /* no doorbell figure of its own */
	ph[2] = phase_ns(marks, nr < 16 ? nr : 16, 3);
	return 0;
}

/* What every run of a path takes from the command line. */
struct run_args {
	unsigned int n, poll_us, work_us;
};

static int run_raw(int path, unsigned int n, double ph[3])
{
	char cmdline[160];
	struct raw_result r;
	int err;

	snprintf(cmdline, sizeof(cmdline),
		 "tests=bench bench.n=%u bench.vector=0x%x bench.addr=0x%llx bench.setup=none", n,
		 VECTOR, DOORBELL);
	err = raw_kvm_run(demo_guest_start, demo_guest_end - demo_guest_start, cmdline, DOORBELL,
			  path == RAW_LEN0 ? 0 : 4, VECTOR, MEM_MB, &r);
	if (err)
		return err;
	if (r.status != 0) {
		fprintf(stderr, "notify: %s: guest exited with status %d\n", path_names[path],
			r.status);
		return -EIO;
	}
	memcpy(ph, r.phase_ns, sizeof(r.phase_ns));
	return 0;
}

struct loop_rt {
	int kick, irq;
};

/* The I/O thread's half: the kick's counter read, one interrupt back. */
static void loop_rt_kick(void *opaque, uint32_t events)
{
	struct loop_rt *rt = opaque;
	uint64_t v = 1;

	(void)events;
	if (read(rt->kick, &v, sizeof(v)) == sizeof(v) && write(rt->irq, &v, sizeof(v)) < 0)
		pr_err("notify: loop: interrupt: %s", evvm_strerror(errno));
}

static void *loop_rt_thread(void *opaque)
{
	return (void *)(intptr_t)loop_run(opaque);
}

/* The kicker's half: @work_ns of work, a kick, sleep until the interrupt. */
static int loop_rt_once(struct loop_rt *rt, double work_ns)
{
	double t = now_ns();
	uint64_t v = 1;

	while (now_ns() - t < work_ns)
		;
	if (write(rt->kick, &v, sizeof(v)) != sizeof(v) ||
	    read(rt->irq, &v, sizeof(v)) != sizeof(v))
		return -errno;
	return 0;
}

/* The loop paths: the mean round trip, work included, in ph[2] (per n: see main). */
static int run_loop(int path, const struct run_args *a, double ph[3], struct evvm_loop_stats *st)
{
	unsigned int n = a->n, work_us = a->work_us;
	struct loop_rt rt = { .kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
			      .irq = eventfd(0, EFD_CLOEXEC) };
	struct evvm_loop *loop = NULL;
	pthread_t thread;
	int err = rt.kick < 0 || rt.irq < 0 ? -errno : loop_create(&loop, "notify");
	double t0;

	if (err)
		goto close_fds;
	if (path == LOOP_POLL)
		loop_set_poll_max(loop, a->poll_us);
	err = loop_add(loop, rt.kick, EPOLLIN, loop_rt_kick, &rt);
	if (err)
		goto destroy_loop;
	err = path == LOOP_SC
		      ? confine_pthread_create(&thread, EVVM_THREAD_IO, loop_rt_thread, loop)
		      : -pthread_create(&thread, NULL, loop_rt_thread, loop);
	if (err)
		goto destroy_loop;
	for (unsigned int i = 0; i < LOOP_WARMUP && !err; i++)
		err = loop_rt_once(&rt, work_us * 1000.0);
	t0 = now_ns();
	for (unsigned int i = 0; i < n && !err; i++)
		err = loop_rt_once(&rt, work_us * 1000.0);
	ph[2] = now_ns() - t0;
	ph[0] = ph[1] = 0; /* no doorbell cost of its own */
	loop_stop(loop);
	pthread_join(thread, NULL);
	loop_get_stats(loop, st);
destroy_loop:
	loop_destroy(loop);
close_fds:
	if (rt.kick >= 0)
		close(rt.kick);
	if (rt.irq >= 0)
		close(rt.irq);
	return err;
}

/* What a run's child sends back. */
struct child_result {
	double ph[3];
	struct evvm_loop_stats st;
};

/*
 * One run of @path in a child process, every path alike: a +sc path's
 * child confines itself first as `evvm run --seccomp=on` does
 * (confine_setup() is once per process, and vm_run() leaves the main
 * thread under its list; loop+sc confines its loop thread as an I/O
 * thread, not the kicker standing in for a vCPU). The figures come back
 * through a pipe; a thread killed by its list fails the run.
 */
static int run_child(int path, const struct run_args *a, double ph[3], struct evvm_loop_stats *st)
{
	int base = confined(path) ? unconfined_path(path) : path;
	const struct evvm_confine conf = {
		.seccomp = EVVM_SECCOMP_ON,
		.devs = base == VIRTIO_PCI ? EVVM_SECCOMP_DEV_RNG : 0,
	};
	struct child_result res = { { -1, -1, -1 } };
	int fds[2], status;
	ssize_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		struct child_result r = { { 0 } };
		int err = confined(path) ? confine_setup(&conf) : 0;

		close(fds[0]);
		if (!err)
			err = base <= RAW_LEN0	    ? run_raw(base, a->n, r.ph)
			      : base >= LOOP	    ? run_loop(path, a, r.ph, &r.st)
			      : base >= VIRTIO_MMIO ? run_virtio(base, a->n, r.ph)
						    : run_evvm(base, a->n, a->poll_us, r.ph);
		if (!err && write(fds[1], &r, sizeof(r)) != sizeof(r))
			err = -EIO;
		_exit(err ? 1 : 0);
	}
	close(fds[1]);
	got = read(fds[0], &res, sizeof(res));
	close(fds[0]);
	memcpy(ph, res.ph, sizeof(res.ph));
	*st = res.st;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "notify: %s: killed by signal %d\n", path_names[path],
			WTERMSIG(status));
		return -EIO;
	}
	return WEXITSTATUS(status) || got != sizeof(res) ? -EIO : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench/notify [--runs R] [--n N] [--poll-max-us US] [--json FILE]\n"
		   "  --runs R         repetitions of every path, interleaved (default 5)\n"
		   "  --n N            doorbells / round trips per run (default 2000)\n"
		   "  --poll-max-us US polling window of the *-poll paths (default 50)\n"
		   "  --work-us US     the loop paths' kicker works US between round trips "
		   "(default 30)\n"
		   "  --pin CPU        run every thread on host CPU (default 0)\n"
		   "  --no-pin         let the scheduler place threads\n"
		   "  --json FILE      also write the figures as JSON\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "n", required_argument, NULL, 'n' },
		{ "poll-max-us", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "pin", required_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'u' },
		{ "work-us", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int runs = 5, n = 2000, poll_us = 50, work_us = 30;
	bool kvm = access("/dev/kvm", F_OK) == 0, ran[NR_PATHS] = { false };
	struct evvm_loop_stats st[NR_PATHS] = { 0 };
	const char *json = NULL;
	int pin = 0;
	double db[NR_PATHS][MAX_RUNS], rt[NR_PATHS][MAX_RUNS], med_db[NR_PATHS], med_rt[NR_PATHS];
	int opt, err;

	evvm_log_set_output(STDERR_FILENO, false); /* the library is silent by default */

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
		case 'w':
			if (!opt_uint("notify", "work-us", optarg, 0, 1000000, &work_us))
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

	const struct run_args args = { .n = n, .poll_us = poll_us, .work_us = work_us };

	for (unsigned int r = 0; r < runs; r++) {
		for (int p = 0; p < NR_PATHS; p++) {
			double ph[3] = { 0 };

			if (p < LOOP && !kvm)
				continue;
			err = run_child(p, &args, ph, &st[p]);
			if (err || ph[0] < 0 || ph[1] < 0 || ph[2] < 0) {
				fprintf(stderr, "notify: path %s, run %u failed: %s\n",
					path_names[p], r + 1,
					err ? evvm_strerror(err) : "no marks");
				return 1;
			}
			db[p][r] = (ph[1] - ph[0]) / n;
			rt[p][r] = ph[2] / n;
			ran[p] = true;
		}
	}

	if (pin >= 0)
		printf("bench/notify: %u runs x %u iterations on host CPU %d, medians (ns)\n", runs,
		       n, pin);
	else
		printf("bench/notify: %u runs x %u iterations, unpinned, medians (ns)\n", runs, n);
	if (!kvm)
		printf("(no /dev/kvm: the KVM paths do not run)\n");
	printf("%-12s %14s %14s %12s %12s\n", "path", "doorbell_ns", "roundtrip_ns", "db vs raw",
	       "rt vs raw");
	for (int p = 0; p < NR_PATHS; p++) {
		med_db[p] = ran[p] ? median(db[p], runs) : 0;
		med_rt[p] = ran[p] ? median(rt[p], runs) : 0;
	}
	for (int p = 0; p < LOOP; p++) {
		if (!ran[p])
			continue;
		if (has_doorbell(p))
			printf("%-12s %14.0f %14.0f %11.2fx %11.2fx\n", path_names[p], med_db[p],
			       med_rt[p], med_db[p] / med_db[RAW], med_rt[p] / med_rt[RAW]);
		else
			printf("%-12s %14s %14.0f %12s %11.2fx\n", path_names[p], "-", med_rt[p],
			       "-", med_rt[p] / med_rt[RAW]);
	}
	for (int p = LOOP; p < NR_PATHS; p++)
		printf("%-12s %14s %14.0f %12s %12s\n", path_names[p], "-", med_rt[p], "-", "-");
	if (kvm) {
		printf("user / kernel doorbell: %.2fx\n", med_db[USER] / med_db[KERNEL]);
		printf("kernel-poll / kernel round trip: %.3fx\n",
		       med_rt[KERNEL_POLL] / med_rt[KERNEL]);
		printf("pci doorbell (kernel-len0) / mmio doorbell (kernel-dm): %.2fx; "
		       "kernel-len0 / raw-len0 doorbell: %.2fx\n",
		       med_db[KERNEL_LEN0] / med_db[KERNEL_DM],
		       med_db[KERNEL_LEN0] / med_db[RAW_LEN0]);
		printf("virtio-pci (MSI-X) / virtio-mmio (pin) round trip: %.2fx\n",
		       med_rt[VIRTIO_PCI] / med_rt[VIRTIO_MMIO]);
		printf("seccomp on / off: user doorbell %.3fx, round trip %.3fx; kernel doorbell "
		       "%.3fx, round trip %.3fx; virtio-pci round trip %.3fx\n",
		       med_db[USER_SC] / med_db[USER], med_rt[USER_SC] / med_rt[USER],
		       med_db[KERNEL_SC] / med_db[KERNEL], med_rt[KERNEL_SC] / med_rt[KERNEL],
		       med_rt[VIRTIO_PCI_SC] / med_rt[VIRTIO_PCI]);
	}
	printf("loop-poll / loop round trip: %.3fx (work %u us; last run: polling %s, mean wait "
	       "%llu ns polling, %llu ns sleeping, %llu trials, window %llu ns)\n",
	       med_rt[LOOP_POLL] / med_rt[LOOP], work_us, st[LOOP_POLL].polling ? "on" : "off",
	       (unsigned long long)st[LOOP_POLL].poll_mean_ns[0],
	       (unsigned long long)st[LOOP_POLL].poll_mean_ns[1],
	       (unsigned long long)st[LOOP_POLL].poll_trials,
	       (unsigned long long)st[LOOP_POLL].poll_ns);
	printf("loop+sc / loop round trip: %.3fx (the I/O thread under its seccomp list)\n",
	       med_rt[LOOP_SC] / med_rt[LOOP]);

	if (json) {
		FILE *f = fopen(json, "w");

		if (!f) {
			fprintf(stderr, "notify: %s: %s\n", json, evvm_strerror(errno));
			return 1;
		}
		fprintf(f, "{\"n\": %u, \"pinned_cpu\": %d, \"work_us\": %u, \"paths\": {", n, pin,
			work_us);
		for (int p = 0, first = 1; p < NR_PATHS; p++) {
			if (!ran[p])
				continue;
			fprintf(f, "%s\"%s\": {", first ? "" : ", ", path_names[p]);
			if (has_doorbell(p) && p < LOOP)
				fprintf(f, "\"doorbell_ns\": %.1f, ", med_db[p]);
			fprintf(f, "\"roundtrip_ns\": %.1f, \"runs\": %u}", med_rt[p], runs);
			first = 0;
		}
		fprintf(f, "}}\n");
		if (fclose(f)) {
			fprintf(stderr, "notify: %s: %s\n", json, evvm_strerror(errno));
			return 1;
		}
	}
	return 0;
}
