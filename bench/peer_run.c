// SPDX-License-Identifier: MIT
/*
 * bench/peer's runs: one VMM process (evvm or QEMU) per run, its serial
 * console and stderr in a memfd, its CPU time from wait4()'s rusage (every
 * thread of the process, reaped), and for an idling guest its memory from
 * /proc/PID/smaps while it runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "peer.h"

#define ARGV_MAX     48
#define OUT_MAX	     (1 << 20)
#define RUN_TIMEOUT  300		    /* s: nested TCG is slow, a stuck guest is not */
#define IDLE_TIMEOUT 120		    /* s until the idle guest says so */
#define IDLE_SETTLE  300		    /* ms after that before the memory sample */
#define QEMU_EXIT    "iobase=0xf4,iosize=4" /* the guest's EXIT_PORT */
#define Q35_ECAM     "pci.ecam=0xb0000000"

static const char *const side_names[] = { "evvm", "qemu", "qemu-uring" };

const char *side_name(enum side s)
{
	return side_names[s];
}

struct argv_buf {
	char *v[ARGV_MAX];
	unsigned int n;
	char store[4096];
	size_t used;
};

/* Append one argument, printf-style, into @a's own storage. */
static void __attribute__((format(printf, 2, 3))) arg(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (a->n + 1 >= ARGV_MAX)
		return;
	va_start(ap, fmt);
	len = vsnprintf(a->store + a->used, sizeof(a->store) - a->used, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(a->store) - a->used)
		return;
	a->v[a->n++] = a->store + a->used;
	a->v[a->n] = NULL;
	a->used += (size_t)len + 1;
}

static void evvm_argv(const struct peer_env *env, const struct vm_spec *s, struct argv_buf *a)
{
	arg(a, "%s", env->evvm);
	arg(a, "run");
	arg(a, "--kernel");
	arg(a, "%s", env->guest);
	arg(a, "--memory");
	arg(a, "size=%uM", s->mem_mib);
	arg(a, "--cmdline");
	arg(a, "%s", s->cmdline);
	arg(a, "--transport=%s", s->pci ? "pci" : "mmio");
	arg(a, "--rng");
	arg(a, "--disk");
	arg(a, "path=%s", env->disk);
}

/*
 * docs/guest.md's QEMU command lines with KVM: microvm with virtio-mmio
 * (acpi=off makes it announce the devices on the command line), or q35 with
 * modern virtio-pci functions (ECAM where q35 has it). No default devices.
 */
static void qemu_argv(const struct peer_env *env, const struct vm_spec *s, struct argv_buf *a)
{
	const char *bus = s->pci ? "pci" : "device";
	const char *legacy = s->pci ? ",disable-legacy=on" : "";

	arg(a, "%s", env->qemu);
	arg(a, "-M");
	arg(a, "%s",
	    s->pci ? "q35"
		   : "microvm,x-option-roms=off,rtc=off,isa-serial=on,pic=off,pit=off,acpi=off");
	arg(a, "-accel");
	arg(a, "kvm");
	arg(a, "-cpu");
	arg(a, "host");
	arg(a, "-m");
	arg(a, "%u", s->mem_mib);
	arg(a, "-nodefaults");
	arg(a, "-no-user-config");
	arg(a, "-display");
	arg(a, "none");
	arg(a, "-serial");
	arg(a, "stdio");
	arg(a, "-no-reboot");
	arg(a, "-kernel");
	arg(a, "%s", env->guest);
	arg(a, "-append");
	arg(a, "%s%s%s", s->cmdline, s->pci ? " " : "", s->pci ? Q35_ECAM : "");
	arg(a, "-device");
	arg(a, "isa-debug-exit,%s", QEMU_EXIT);
	if (!s->pci) {
		arg(a, "-global");
		arg(a, "virtio-mmio.force-legacy=false");
	}
	arg(a, "-device");
	arg(a, "virtio-rng-%s%s", bus, legacy);
	arg(a, "-drive");
	arg(a, "id=d0,file=%s,format=raw,if=none%s", env->disk,
	    s->side == SIDE_QEMU_URING ? ",aio=io_uring" : "");
	arg(a, "-device");
	arg(a, "virtio-blk-%s,drive=d0%s", bus, legacy);
}

const char *out_line(const char *buf, const char *prefix)
{
	size_t len = strlen(prefix);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, len))
			return p + len;
	return NULL;
}

/* The memfd's text so far into a fresh NUL-terminated buffer, or NULL. */
static char *read_out(int fd)
{
	char *buf = malloc(OUT_MAX + 1);
	ssize_t got;

	if (!buf)
		return NULL;
	got = pread(fd, buf, OUT_MAX, 0);
	buf[got > 0 ? got : 0] = '\0';
	return buf;
}

/*
 * The process's Rss and that of its guest RAM: every mapping between the
 * RAM size and 4 MiB more (QEMU's RAMBlock, evvm's memory region); 0, or
 * -errno.
 */
static int smaps_sample(pid_t pid, unsigned int mem_mib, double *rss_kib, double *guest_kib)
{
	uint64_t lo = (uint64_t)mem_mib << 10, hi = lo + 4096, size = 0, kib;
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*rss_kib = *guest_kib = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %" SCNu64 " kB", &kib) == 1)
			size = kib;
		else if (sscanf(line, "Rss: %" SCNu64 " kB", &kib) == 1) {
			*rss_kib += (double)kib;
			if (size >= lo && size < hi)
				*guest_kib += (double)kib;
		}
	}
	fclose(f);
	return *rss_kib > 0 ? 0 : -ENODATA;
}

static pid_t spawn(char *const *argv, int out)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Wait for the idle guest's line, then sample; 0, or 1 after a line. */
static int idle_sample(const struct vm_spec *s, pid_t pid, int out, const char *what,
		       struct vm_result *r, double t0)
{
	double deadline = t0 + IDLE_TIMEOUT * 1e9;
	struct timespec settle = { 0, IDLE_SETTLE * 1000000L };
	char *text;
	bool idle = false;
	int err;

	while (!idle && now_ns() < deadline && waitpid(pid, NULL, WNOHANG) == 0) {
		text = read_out(out);
		idle = text && strstr(text, "evvm-guest: idle");
		free(text);
		if (!idle)
			usleep(10000);
	}
	if (!idle) {
		fprintf(stderr, "peer: %s: the guest did not reach tests=idle\n", what);
		return 1;
	}
	nanosleep(&settle, NULL);
	r->wall_ms = (now_ns() - t0) / 1e6;
	err = smaps_sample(pid, s->mem_mib, &r->rss_kib, &r->guest_kib);
	if (err) {
		fprintf(stderr, "peer: %s: /proc/%d/smaps: %s\n", what, (int)pid, strerror(-err));
		return 1;
	}
	kill(pid, SIGTERM);
	return 0;
}

/* Reap @pid within RUN_TIMEOUT s (else SIGKILL); its wait status, or -1. */
static int reap(pid_t pid, struct rusage *ru)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), status = -1;
	struct pollfd p = { .fd = pfd, .events = POLLIN };

	if (pfd >= 0 && poll(&p, 1, RUN_TIMEOUT * 1000) == 0)
		kill(pid, SIGKILL);
	if (wait4(pid, &status, 0, ru) != pid)
		status = -1;
	if (pfd >= 0)
		close(pfd);
	return status;
}

/* Did the guest exit with 0? QEMU's isa-debug-exit makes that (0 << 1) | 1. */
static bool guest_passed(enum side side, int status)
{
	if (!WIFEXITED(status))
		return false;
	return WEXITSTATUS(status) == (side == SIDE_EVVM ? 0 : 1);
}

int vm_run_one(const struct peer_env *env, const struct vm_spec *s, struct vm_result *r)
{
	struct argv_buf a = { .n = 0 };
	struct rusage ru;
	char what[96];
	double t0;
	int out, status, rc = 1;
	pid_t pid;

	snprintf(what, sizeof(what), "%s %s %u MiB '%s'", side_name(s->side),
		 s->pci ? "pci" : "mmio", s->mem_mib, s->cmdline);
	(s->side == SIDE_EVVM ? evvm_argv : qemu_argv)(env, s, &a);
	memset(r, 0, sizeof(*r));
	out = memfd_create("peer-console", MFD_CLOEXEC);
	if (out < 0) {
		fprintf(stderr, "peer: %s: memfd_create: %s\n", what, strerror(errno));
		return 1;
	}
	t0 = now_ns();
	pid = spawn(a.v, out);
	if (pid < 0) {
		fprintf(stderr, "peer: %s: fork: %s\n", what, strerror(errno));
		close(out);
		return 1;
	}
	if (s->idle && idle_sample(s, pid, out, what, r, t0))
		kill(pid, SIGKILL);
	else
		rc = 0;
	status = reap(pid, &ru);
	if (!s->idle)
		r->wall_ms = (now_ns() - t0) / 1e6;
	r->cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	r->out = read_out(out);
	close(out);
	if (env->verbose && r->out)
		fprintf(stderr,
			"--- %s: %.1f ms, cpu %.1f ms, rss %.0f KiB, guest RAM rss %.0f KiB\n%s",
			what, r->wall_ms, r->cpu_ms, r->rss_kib, r->guest_kib, r->out);
	if (!rc && !s->idle && !guest_passed(s->side, status)) {
		const char *fail = r->out ? out_line(r->out, "evvm-guest: test ") : NULL;

		fprintf(stderr, "peer: %s: exit status 0x%x%s%.*s\n", what, status,
			fail ? ": " : "", fail ? (int)strcspn(fail, "\n") : 0, fail ? fail : "");
		if (!fail && r->out)
			fprintf(stderr, "%.2000s", r->out);
		rc = 1;
	}
	return rc;
}
