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
 * Requests are 3-descriptor chains (header, 4 KiB, status), one fixed chain
 * per in-flight slot. At QD32 every batch of completions is refilled at
 * once and kicked once (unless the backend set VRING_USED_F_NO_NOTIFY).
 * Latency runs from just before a request is made available to the moment
 * the driver sees it in the used ring after its wake-up; IOPS counts the
 * completions after the warm-up over the time they took. Backends run
 * interleaved (alternating which goes first), workload by workload, run
 * after run, with the same offsets (seed) for both; the table shows medians
 * of the runs, and the backend's CPU time per request (all its threads,
 * over the timed part).
 *
 * Settings, each backend's fastest here (both buffered or O_DIRECT on tmpfs
 * end in the same page cache):
 *
 *   evvm  as it comes: its blk device, io_uring on the device's I/O thread,
 *         no busy polling (--evvm-arg=--poll-max-us=N adds it; on 2 CPUs
 *         it costs more than it saves)
 *   qsd   aio=native with cache.direct=on (QEMU's cache=none,aio=native):
 *         Linux AIO on tmpfs completes within io_submit(), qsd's fastest
 *         at QD1 by about 2x; --qsd-aio io_uring (cache.direct=off, evvm's
 *         I/O method) punts every request to an io-wq thread on tmpfs, and
 *         is no better at QD32. The export runs in qsd's main loop, which
 *         busy-polls the ring by itself; --qsd-iothread was no faster.
 *
 * Nothing is pinned by default (the bench, its idle frontend thread and the
 * backend's threads go where the scheduler puts them); --pin CPU puts all
 * of them on one CPU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <evvm/device.h>
#include <evvm/devices.h>
#include <evvm/iothread.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/mem.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "bench.h"
#include "disk.h"
#include "evvm_path.h"
#include "median.h"

#include "../vhost/frontend.h"

#define IO_BYTES   DISK_BLOCK
#define SECTOR	   512
#define MAX_RUNS   64
#define N_MIN	   100
#define N_MAX	   200000
#define MAX_QD	   32
#define QUEUE_NUM  128 /* >= 3 * MAX_QD descriptors */
#define MAX_EXTRA  16  /* --evvm-arg / --qsd-arg each */
#define START_SECS 10  /* for a backend to listen, and to exit after SIGTERM */

/* "Guest RAM": one memfd region; the layout inside it. */
#define RAM_GPA		 0x100000ULL
#define RAM_SIZE	 (1u << 20)
#define DESC_OFF	 0x0000	 /* 16 * QUEUE_NUM */
#define AVAIL_OFF	 0x1000	 /* 6 + 2 * QUEUE_NUM */
#define USED_OFF	 0x2000	 /* 6 + 8 * QUEUE_NUM */
#define HDR_OFF		 0x3000	 /* 16 per slot */
#define STATUS_OFF	 0x3800	 /* 1 per slot */
#define DATA_OFF	 0x10000 /* IO_BYTES per slot */

#define VIRTIO_BLK_T_IN	 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_S_OK	 0
#define VIRTIO_BLK_F_RO	 5

enum { EVVM, QSD, NR_BACKENDS };
static const char *const backend_names[NR_BACKENDS] = { "evvm", "qsd" };

struct workload {
	const char *rw;
	bool write;
	unsigned int qd;
};
static const struct workload workloads[] = {
	{ "read", false, 1 },
	{ "read", false, 32 },
	{ "write", true, 1 },
	{ "write", true, 32 },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

struct sample {
	double iops, mean_us, p99_us, cpu_us;
};

struct opts {
	unsigned int runs, n, warmup;
	int pin;
	bool use[NR_BACKENDS];
	const char *json;
	const char *bin[NR_BACKENDS];
	const char *qsd_aio;
	bool qsd_iothread;
	unsigned int qsd_poll_ns;
	const char *extra[NR_BACKENDS][MAX_EXTRA];
	unsigned int nr_extra[NR_BACKENDS];
	bool verbose;
};

/* A backend process. */
struct proc {
	pid_t pid;
	int out; /* memfd holding its stdout and stderr */
};

/* One connection to a running backend, as the guest would drive it. */
struct session {
	struct evvm_virtio_dev *dev;
	struct evvm_iothread *io; /* the frontend's loop (socket hang-ups, timer) */
	struct evvm_mem mem;
	uint8_t *ram;
	int ram_fd, kick_fd, call_fd, timer_fd;
	atomic_int failed; /* 0, or why the run must stop */

	/* The driver's side of the split ring. */
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[] */
	uint8_t *used;	 /* flags, idx, ring[] of vring_used_elem */
	uint16_t avail_idx, last_used;
	/* Counted over the timed part (after the warm-up), for -v. */
	bool counting;
	uint64_t kicks, kicks_skipped, sleeps;
};

enum { FAIL_NONE, FAIL_RESET, FAIL_TIMEOUT };

/* ---- backend processes --------------------------------------------------- */

/* The last non-empty line of what process @p printed, for an error message. */
static const char *proc_last_line(const struct proc *p)
{
	static char buf[4096];
	ssize_t n;
	off_t size;
	char *e;

	size = lseek(p->out, 0, SEEK_END);
	if (size <= 0)
		return "(it printed nothing)";
	n = pread(p->out, buf, sizeof(buf) - 1,
		  size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return "(its output cannot be read)";
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	e = strrchr(buf, '\n');
	return e ? e + 1 : buf;
}

static void proc_dump(const struct proc *p, const char *what)
{
	char buf[4096];
	ssize_t n;
	off_t off = 0;

	while ((n = pread(p->out, buf, sizeof(buf), off)) > 0) {
		if (!off)
			fprintf(stderr, "vhost-blk: %s printed:\n", what);
		fwrite(buf, 1, n, stderr);
		off += n;
	}
}

/*
 * fork/exec @argv with stdin /dev/null and stdout+stderr into a memfd, and
 * @keep_fd inherited; 0, or 1 after one line.
 */
static int spawn(char *const *argv, int keep_fd, struct proc *p)
{
	int devnull;

	p->pid = -1;
	p->out = memfd_create("vhost-blk-backend-out", MFD_CLOEXEC);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (p->out < 0 || devnull < 0) {
		fprintf(stderr, "vhost-blk: starting %s: %s\n", argv[0], evvm_strerror(errno));
		goto fail;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		fprintf(stderr, "vhost-blk: fork: %s\n", evvm_strerror(errno));
		goto fail;
	}
	if (p->pid == 0) {
		/* The backend goes with the bench, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(devnull, 0) < 0 || dup2(p->out, 1) < 0 || dup2(p->out, 2) < 0)
			_exit(127);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		execvp(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(devnull);
	return 0;
fail:
	if (devnull >= 0)
		close(devnull);
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
	return 1;
}

/* Whether a unix socket bound to @path is listening (from /proc/net/unix). */
static bool socket_listening(const char *path)
{
	char line[512], name[256];
	unsigned int flags;
	bool found = false;
	FILE *f = fopen("/proc/net/unix", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %255s", &flags, name) == 2 &&
		    (flags & 0x10000 /* __SO_ACCEPTCON */) && !strcmp(name, path))
			found = true;
	fclose(f);
	return found;
}

/* "exited with status N" / "killed by signal N" for a wait status. */
static const char *status_str(int status)
{
	static char buf[64];

	if (WIFEXITED(status))
		snprintf(buf, sizeof(buf), "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof(buf), "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, sizeof(buf), "ended with wait status 0x%x", status);
	return buf;
}

/* Wait up to START_SECS for @p to exit; its status, or -1 if it did not (then it is killed). */
static int proc_wait(struct proc *p)
{
	double deadline = now_ns() + START_SECS * 1e9;
	int status;

	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid) {
			p->pid = -1;
			return status;
		}
		if (r < 0 && errno != EINTR) {
			p->pid = -1;
			return -1;
		}
		if (now_ns() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = -1;
			return -1;
		}
		usleep(1000);
	}
}

/* Wait for the backend's socket to listen; 0, or 1 after one line. */
static int proc_wait_listen(struct proc *p, const char *name, const char *sock)
{
	double deadline = now_ns() + START_SECS * 1e9;
	int status;

	for (;;) {
		if (socket_listening(sock))
			return 0;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = -1;
			fprintf(stderr, "vhost-blk: %s %s before listening on %s: %s\n", name,
				status_str(status), sock, proc_last_line(p));
			return 1;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "vhost-blk: %s did not listen on %s within %d s: %s\n",
				name, sock, START_SECS, proc_last_line(p));
			return 1;
		}
		usleep(1000);
	}
}

/*
 * SIGTERM and reap the backend; 0, or 1 after one line when it did not exit
 * in time or (evvm) exited other than with status 0 (qsd may also die of
 * the SIGTERM itself).
 */
static int proc_stop(struct proc *p, int backend, bool verbose)
{
	const char *name = backend_names[backend];
	int status, rc = 0;

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		status = proc_wait(p);
		if (status == -1) {
			fprintf(stderr, "vhost-blk: %s did not exit within %d s of SIGTERM\n", name,
				START_SECS);
			rc = 1;
		} else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
			   !(backend == QSD && WIFSIGNALED(status) &&
			     WTERMSIG(status) == SIGTERM)) {
			fprintf(stderr, "vhost-blk: %s %s on SIGTERM: %s\n", name,
				status_str(status), proc_last_line(p));
			rc = 1;
		}
	}
	if (verbose && p->out >= 0)
		proc_dump(p, name);
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
	return rc;
}

/* SIGKILL and reap the backend (a run failed: its exit status says nothing more). */
static void proc_kill(struct proc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	p->pid = -1;
}

/*
 * The last resort against a backend that stops answering where the
 * frontend waits without a timeout (the handshake, GET_VRING_BASE): after
 * the deadline, SIGKILL it, which makes every such wait fail.
 */
static struct {
	pthread_mutex_t lock;
	pid_t pid; /* -1: disarmed */
	bool fired, armed;
	timer_t timer;
} guard = { .lock = PTHREAD_MUTEX_INITIALIZER, .pid = -1 };

static void guard_fire(union sigval v)
{
	(void)v;
	pthread_mutex_lock(&guard.lock);
	if (guard.pid > 0) {
		kill(guard.pid, SIGKILL);
		guard.fired = true;
	}
	pthread_mutex_unlock(&guard.lock);
}

static void guard_arm(pid_t pid, unsigned int secs)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD };
	struct itimerspec its = { .it_value.tv_sec = secs };

	sev.sigev_notify_function = guard_fire;
	pthread_mutex_lock(&guard.lock);
	guard.pid = pid;
	guard.fired = false;
	pthread_mutex_unlock(&guard.lock);
	guard.armed = !timer_create(CLOCK_MONOTONIC, &sev, &guard.timer);
	if (guard.armed && timer_settime(guard.timer, 0, &its, NULL)) {
		timer_delete(guard.timer);
		guard.armed = false;
	}
}

/* Disarm (before the backend is reaped); whether it fired. */
static bool guard_disarm(void)
{
	bool fired;

	if (guard.armed)
		timer_delete(guard.timer);
	guard.armed = false;
	pthread_mutex_lock(&guard.lock);
	guard.pid = -1;
	fired = guard.fired;
	pthread_mutex_unlock(&guard.lock);
	return fired;
}

/* Run @argv to completion and return the first line of its output ("" if none). */
static void capture_line(char *const *argv, char *out, size_t max)
{
	struct proc p;
	ssize_t n;
	char *e;

	out[0] = '\0';
	if (spawn(argv, -1, &p))
		return;
	if (proc_wait(&p) >= 0) {
		n = pread(p.out, out, max - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		e = strchr(out, '\n');
		if (e)
			*e = '\0';
	}
	close(p.out);
}

/* The command line starting backend @b on @sock; argv points into @store. */
static void backend_argv(const struct opts *o, int b, const char *sock, int disk_fd,
			 char store[4][512], char **argv)
{
	unsigned int i = 0;

	argv[i++] = (char *)o->bin[b];
	if (b == EVVM) {
		snprintf(store[0], sizeof(store[0]), "path=/proc/self/fd/%d", disk_fd);
		argv[i++] = "vhost-user-blk";
		argv[i++] = "--socket";
		argv[i++] = (char *)sock;
		argv[i++] = "--disk";
		argv[i++] = store[0];
	} else {
		/*
		 * The file node: buffered (cache.direct=off, as evvm's blk opens
		 * its file), with the chosen aio; aio=native needs O_DIRECT.
		 */
		snprintf(
			store[0], sizeof(store[0]),
			"driver=file,node-name=f0,filename=/proc/self/fd/%d,aio=%s,cache.direct=%s",
			disk_fd, o->qsd_aio, strcmp(o->qsd_aio, "native") ? "off" : "on");
		snprintf(store[1], sizeof(store[1]), "iothread,id=iot0,poll-max-ns=%u",
			 o->qsd_poll_ns);
		snprintf(store[2], sizeof(store[2]),
			 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,"
			 "writable=on%s",
			 sock, o->qsd_iothread ? ",iothread=iot0" : "");
		argv[i++] = "--blockdev";
		argv[i++] = store[0];
		argv[i++] = "--blockdev";
		argv[i++] = "driver=raw,node-name=d0,file=f0";
		if (o->qsd_iothread) {
			argv[i++] = "--object";
			argv[i++] = store[1];
		}
		argv[i++] = "--export";
		argv[i++] = store[2];
	}
	for (unsigned int e = 0; e < o->nr_extra[b]; e++)
		argv[i++] = (char *)o->extra[b][e];
	argv[i] = NULL;
}

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

/* ---- the frontend session ------------------------------------------------ */

static void sess_fail(struct session *s, int why)
{
	const uint64_t one = 1;
	int expected = FAIL_NONE;

	atomic_compare_exchange_strong(&s->failed, &expected, why);
	/* Wake the driver if it sleeps on the call eventfd. */
	if (write(s->call_fd, &one, sizeof(one)) < 0)
		return;
}

static void sess_needs_reset(struct evvm_virtio_dev *dev)
{
	sess_fail(dev->transport, FAIL_RESET);
}

static void sess_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	(void)q;
	/* A vhost-user device signals through call_fd; this is never expected. */
	sess_fail(dev->transport, FAIL_RESET);
}

static void sess_timer(void *opaque, uint32_t events)
{
	struct session *s = opaque;
	uint64_t v;

	(void)events;
	if (read(s->timer_fd, &v, sizeof(v)) == sizeof(v))
		sess_fail(s, FAIL_TIMEOUT);
}

static int sess_start_on_loop(void *opaque)
{
	struct session *s = opaque;
	int err = loop_add(s->dev->loop, s->timer_fd, EPOLLIN, sess_timer, s);

	return err ? err : s->dev->ops->start(s->dev);
}

static int sess_stop_on_loop(void *opaque)
{
	struct session *s = opaque;

	if (s->dev) {
		s->dev->ops->stop(s->dev);
		virtio_dev_destroy(s->dev);
		s->dev = NULL;
	}
	loop_del(iothread_loop(s->io), s->timer_fd);
	return 0;
}

static void sess_close(struct session *s)
{
	if (s->io) {
		loop_call(iothread_loop(s->io), sess_stop_on_loop, s);
		iothread_destroy(s->io);
	} else if (s->dev) {
		virtio_dev_destroy(s->dev);
	}
	if (s->ram)
		munmap(s->ram, RAM_SIZE);
	if (s->ram_fd >= 0)
		close(s->ram_fd);
	if (s->kick_fd >= 0)
		close(s->kick_fd);
	if (s->call_fd >= 0)
		close(s->call_fd);
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	memset(s, 0, sizeof(*s));
	s->ram_fd = s->kick_fd = s->call_fd = s->timer_fd = -1;
}

/*
 * Connect to @sock, negotiate, share the RAM and start queue 0, with a
 * deadline of @secs for the whole run; 0, or 1 after one line (the
 * frontend may have logged the cause before it).
 */
static int sess_open(struct session *s, const char *name, const char *sock, const struct disk *d,
		     unsigned int secs)
{
	struct itimerspec its = { .it_value.tv_sec = secs };
	struct evvm_mem_region r;
	struct evvm_virtio_dev *dev;
	uint64_t capacity;
	int err, flags;

	memset(s, 0, sizeof(*s));
	s->ram_fd = s->kick_fd = s->call_fd = s->timer_fd = -1;

	s->ram_fd = memfd_create("vhost-blk-guest-ram", MFD_CLOEXEC);
	if (s->ram_fd < 0 || ftruncate(s->ram_fd, RAM_SIZE) < 0) {
		fprintf(stderr, "vhost-blk: guest RAM memfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	s->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->ram_fd, 0);
	if (s->ram == MAP_FAILED) {
		s->ram = NULL;
		fprintf(stderr, "vhost-blk: mapping guest RAM: %s\n", evvm_strerror(errno));
		return 1;
	}
	/* The driver sleeps in read() on call_fd; kicks never block. */
	s->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->call_fd = eventfd(0, EFD_CLOEXEC);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->kick_fd < 0 || s->call_fd < 0 || s->timer_fd < 0) {
		fprintf(stderr, "vhost-blk: eventfd/timerfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	mem_init(&s->mem);
	r = (struct evvm_mem_region){
		.gpa = RAM_GPA, .size = RAM_SIZE, .hva = s->ram, .fd = s->ram_fd, .offset = 0
	};
	err = mem_add_region(&s->mem, &r);
	if (err) {
		fprintf(stderr, "vhost-blk: guest RAM region: %s\n", evvm_strerror(err));
		return 1;
	}

	err = vhost_user_dev_create("vhost-blk", VIRTIO_ID_BLOCK,
				    &(struct vhost_user_opts){ .socket = sock, .cancel_fd = -1 },
				    &dev);
	if (err) {
		fprintf(stderr, "vhost-blk: %s: connecting to %s: %s\n", name, sock,
			evvm_strerror(err));
		return 1;
	}
	s->dev = dev;
	if (!(dev->host_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)) ||
	    (dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO))) {
		fprintf(stderr,
			"vhost-blk: %s offers features 0x%" PRIx64 ": want VERSION_1 and not RO\n",
			name, dev->host_features);
		return 1;
	}
	/* Config space: capacity (le64 at 0) must hold the whole disk. */
	dev->ops->config_read(dev, 0, &capacity, sizeof(capacity));
	if (capacity < d->blocks * (IO_BYTES / SECTOR)) {
		fprintf(stderr,
			"vhost-blk: %s reports a capacity of %" PRIu64
			" sectors, the disk has %" PRIu64 "\n",
			name, capacity, d->blocks * (IO_BYTES / SECTOR));
		return 1;
	}

	err = iothread_create("vhost-blk-fe", 0, &s->io);
	if (err) {
		fprintf(stderr, "vhost-blk: frontend thread: %s\n", evvm_strerror(err));
		return 1;
	}
	/* What a transport sets up, with this program as the guest. */
	dev->mem = &s->mem;
	dev->loop = iothread_loop(s->io);
	dev->transport = s;
	dev->notify = sess_notify;
	dev->needs_reset = sess_needs_reset;
	dev->kick_fds[0] = s->kick_fd;
	dev->call_fd = s->call_fd;
	dev->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	s->desc = (struct vring_desc *)(s->ram + DESC_OFF);
	s->avail = (uint16_t *)(s->ram + AVAIL_OFF);
	s->used = s->ram + USED_OFF;
	err = vq_init(&dev->vqs[0], &s->mem, "vhost-blk.q0", QUEUE_NUM, RAM_GPA + DESC_OFF,
		      RAM_GPA + AVAIL_OFF, RAM_GPA + USED_OFF, dev->features);
	if (err) {
		fprintf(stderr, "vhost-blk: vq_init: %s\n", evvm_strerror(err));
		return 1;
	}
	if (timerfd_settime(s->timer_fd, 0, &its, NULL)) {
		fprintf(stderr, "vhost-blk: timerfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	err = loop_call(dev->loop, sess_start_on_loop, s);
	if (err) {
		fprintf(stderr, "vhost-blk: %s: starting the queue: %s\n", name,
			evvm_strerror(err));
		return 1;
	}
	/*
	 * The backend shares the eventfd's open file and may have made it
	 * non-blocking (QEMU does that to every fd it receives). Make it
	 * blocking again, so the driver waits the same way, in one read(),
	 * whoever the backend is; the backend's writes never block on it.
	 */
	flags = fcntl(s->call_fd, F_GETFL);
	if (flags < 0 || fcntl(s->call_fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		fprintf(stderr, "vhost-blk: call eventfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- the driver ---------------------------------------------------------- */

static inline uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The fixed chain of slot @slot: header, data (device-writable for reads), status. */
static void build_chains(struct session *s, const struct workload *w)
{
	for (unsigned int slot = 0; slot < w->qd; slot++) {
		struct vring_desc *dd = &s->desc[3 * slot];

		dd[0] = (struct vring_desc){ RAM_GPA + HDR_OFF + 16 * slot, 16, VRING_DESC_F_NEXT,
					     (uint16_t)(3 * slot + 1) };
		dd[1] = (struct vring_desc){ RAM_GPA + DATA_OFF + (uint64_t)IO_BYTES * slot,
					     IO_BYTES,
					     VRING_DESC_F_NEXT |
						     (w->write ? 0 : VRING_DESC_F_WRITE),
					     (uint16_t)(3 * slot + 2) };
		dd[2] = (struct vring_desc){ RAM_GPA + STATUS_OFF + slot, 1, VRING_DESC_F_WRITE,
					     0 };
	}
}

/* Fill slot @slot's header (and data, for a write) and put it in the avail ring (unpublished). */
static void queue_req(struct session *s, const struct workload *w, unsigned int slot,
		      uint64_t block)
{
	uint8_t *hdr = s->ram + HDR_OFF + 16 * slot;
	const uint32_t type = w->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	const uint32_t reserved = 0;
	const uint64_t sector = block * (IO_BYTES / SECTOR);

	memcpy(hdr, &type, 4);
	memcpy(hdr + 4, &reserved, 4);
	memcpy(hdr + 8, &sector, 8);
	s->ram[STATUS_OFF + slot] = 0xff;
	if (w->write) {
		const uint64_t v = disk_pattern(block * IO_BYTES);

		memcpy(s->ram + DATA_OFF + (size_t)IO_BYTES * slot, &v, 8);
	}
	s->avail[2 + s->avail_idx % QUEUE_NUM] = 3 * slot;
	s->avail_idx++;
}

/* Publish what queue_req() added, and kick unless the backend said not to. */
static int publish(struct session *s)
{
	const uint64_t one = 1;
	uint16_t used_flags;

	/* Descriptors, headers, data and ring entries before the index. */
	__atomic_store_n(&s->avail[1], s->avail_idx, __ATOMIC_RELEASE);
	/* The index store before the flags load (a full barrier, 2.7.13.4). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	used_flags = __atomic_load_n((uint16_t *)s->used, __ATOMIC_RELAXED);
	if (used_flags & VRING_USED_F_NO_NOTIFY) {
		s->kicks_skipped += s->counting;
		return 0;
	}
	s->kicks += s->counting;
	if (write(s->kick_fd, &one, sizeof(one)) != sizeof(one)) {
		fprintf(stderr, "vhost-blk: kick: %s\n", evvm_strerror(errno));
		return -1;
	}
	return 0;
}

/* Sleep on the call eventfd until the used index moves; its value, or -1 after one line. */
static int wait_used(struct session *s, const char *what)
{
	for (;;) {
		uint16_t idx = __atomic_load_n((uint16_t *)(s->used + 2), __ATOMIC_ACQUIRE);
		uint64_t v;
		ssize_t r;

		if (idx != s->last_used)
			return idx;
		switch (atomic_load(&s->failed)) {
		case FAIL_RESET:
			fprintf(stderr, "vhost-blk: %s: the backend hung up or broke the queue\n",
				what);
			return -1;
		case FAIL_TIMEOUT:
			fprintf(stderr,
				"vhost-blk: %s: did not finish in time (%u of the requests "
				"outstanding)\n",
				what, (uint16_t)(s->avail_idx - s->last_used));
			return -1;
		}
		s->sleeps += s->counting;
		r = read(s->call_fd, &v, sizeof(v));
		if (r < 0 && errno == EAGAIN) {
			/* The backend made the shared eventfd non-blocking. */
			struct pollfd pfd = { s->call_fd, POLLIN, 0 };

			poll(&pfd, 1, -1);
		} else if (r < 0 && errno != EINTR) {
			fprintf(stderr, "vhost-blk: %s: reading the call eventfd: %s\n", what,
				evvm_strerror(errno));
			return -1;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * @warmup then @n requests of @w; the timed part's figures in @out. 0, or
 * 1 after one line.
 */
static int drive(struct session *s, const struct workload *w, unsigned int warmup, unsigned int n,
		 uint64_t seed, const struct disk *d, pid_t backend, uint64_t *lat,
		 struct sample *out, const char *what)
{
	const unsigned int total = warmup + n;
	double t_sub[MAX_QD], t0 = 0, t_end = 0, sum = 0;
	unsigned int seq[MAX_QD], submitted = 0, completed = 0, nlat = 0;
	uint64_t block[MAX_QD], x = seed * DISK_GOLDEN | 1;
	struct timespec cpu0 = { 0 }, cpu1;
	clockid_t cpu_clock;
	bool have_cpu;
	double t;

	have_cpu = !clock_getcpuclockid(backend, &cpu_clock);
	for (unsigned int slot = 0; slot < MAX_QD; slot++)
		t_sub[slot] = -1;
	build_chains(s, w);
	t = now_ns();
	for (unsigned int slot = 0; slot < w->qd && submitted < total; slot++) {
		block[slot] = xorshift(&x) % d->blocks;
		seq[slot] = submitted++;
		t_sub[slot] = t;
		queue_req(s, w, slot, block[slot]);
	}
	if (publish(s))
		return 1;

	while (completed < total) {
		int idx = wait_used(s, what);
		unsigned int refill = 0;

		if (idx < 0)
			return 1;
		t = now_ns();
		while (s->last_used != (uint16_t)idx) {
			const struct vring_used_elem *e =
				(const struct vring_used_elem *)(s->used + 4) +
				s->last_used % QUEUE_NUM;
			uint32_t id = e->id;
			unsigned int slot = id / 3;
			uint8_t status;

			s->last_used++;
			if (id % 3 || slot >= w->qd || t_sub[slot] < 0) {
				fprintf(stderr,
					"vhost-blk: %s: used ring returned id %u, "
					"which is no request in flight\n",
					what, id);
				return 1;
			}
			status = s->ram[STATUS_OFF + slot];
			if (status != VIRTIO_BLK_S_OK) {
				fprintf(stderr,
					"vhost-blk: %s: %s of block %" PRIu64
					" failed with status %u\n",
					what, w->rw, block[slot], status);
				return 1;
			}
			if (!w->write) {
				uint64_t v;

				memcpy(&v, s->ram + DATA_OFF + (size_t)IO_BYTES * slot, 8);
				if (v != disk_pattern(block[slot] * IO_BYTES)) {
					fprintf(stderr,
						"vhost-blk: %s: read of block %" PRIu64
						" returned the wrong data\n",
						what, block[slot]);
					return 1;
				}
			}
			if (seq[slot] >= warmup && nlat < n) {
				lat[nlat++] = (uint64_t)(t - t_sub[slot]);
				sum += t - t_sub[slot];
			}
			t_sub[slot] = -1;
			completed++;
			if (completed == warmup) {
				t0 = t;
				s->counting = true;
				if (have_cpu)
					clock_gettime(cpu_clock, &cpu0);
			}
			if (submitted < total) {
				block[slot] = xorshift(&x) % d->blocks;
				seq[slot] = submitted++;
				t_sub[slot] = now_ns();
				queue_req(s, w, slot, block[slot]);
				refill++;
			}
		}
		t_end = t;
		if (refill && publish(s))
			return 1;
	}
	have_cpu = have_cpu && !clock_gettime(cpu_clock, &cpu1);

	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	out->iops = n / ((t_end - t0) / 1e9);
	out->mean_us = sum / nlat / 1e3;
	out->p99_us = lat[(nlat * 99 + 99) / 100 - 1] / 1e3;
	out->cpu_us =
		have_cpu ? ((cpu1.tv_sec - cpu0.tv_sec) * 1e9 + (cpu1.tv_nsec - cpu0.tv_nsec)) /
				   1e3 / n
			 : -1;
	return 0;
}

/* ---- runs ---------------------------------------------------------------- */

/* One workload on one backend, in a backend process of its own; 0, or 1 after one line. */
static int run_one(const struct opts *o, const struct disk *d, const char *sockdir, int b,
		   const struct workload *w, unsigned int seed, uint64_t *lat, struct sample *smp)
{
	char store[4][512], *argv[16 + MAX_EXTRA], sock[128], what[64];
	/* Generous: 1 ms a request, where tens of us are expected. */
	unsigned int secs = 10 + (o->warmup + o->n) / 1000;
	struct session s;
	struct proc p;
	bool fired = false;
	int rc = 1;

	snprintf(what, sizeof(what), "%s %s qd=%u", backend_names[b], w->rw, w->qd);
	snprintf(sock, sizeof(sock), "%s/%s.sock", sockdir, backend_names[b]);
	unlink(sock);
	snprintf(cleanup_sock, sizeof(cleanup_sock), "%s", sock);
	backend_argv(o, b, sock, d->fd, store, argv);
	if (spawn(argv, d->fd, &p))
		return 1;
	memset(&s, 0, sizeof(s));
	s.ram_fd = s.kick_fd = s.call_fd = s.timer_fd = -1;
	guard_arm(p.pid, secs + START_SECS);
	if (proc_wait_listen(&p, backend_names[b], sock))
		goto out;
	if (sess_open(&s, backend_names[b], sock, d, secs))
		goto out;
	if (drive(&s, w, o->warmup, o->n, seed, d, p.pid, lat, smp, what))
		goto out;
	if (o->verbose)
		fprintf(stderr,
			"vhost-blk: %s: %.0f IOPS, mean %.1f us, p99 %.1f us, backend CPU %.2f "
			"us/req; per request: %.2f kicks, %.2f kicks skipped (NO_NOTIFY), "
			"%.2f sleeps on the call eventfd\n",
			what, smp->iops, smp->mean_us, smp->p99_us, smp->cpu_us,
			(double)s.kicks / o->n, (double)s.kicks_skipped / o->n,
			(double)s.sleeps / o->n);
	rc = 0;
out:
	if (rc) {
		/* Nothing to wait for: the frontend's goodbyes then fail at once. */
		fired = guard_disarm();
		proc_kill(&p);
	}
	sess_close(&s); /* stops the ring (GET_VRING_BASE) and closes the socket */
	if (!rc)
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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench/vhost-blk [--runs R] [--n N] [--warmup W] [--pin CPU]\n"
		"                       [--backends evvm,qsd] [--qsd-aio io_uring|threads|native]\n"
		"                       [--qsd-iothread[=POLL_NS]] [--evvm-arg ARG]... [--qsd-arg "
		"ARG]...\n"
		"                       [--json FILE] [-v]\n"
		"  4 KiB random read/write at queue depth 1 and 32 against vhost-user-blk\n"
		"  backends on a %d MiB disk file on /dev/shm, this program playing the guest\n"
		"  (no VM): evvm vhost-user-blk and qemu-storage-daemon (qsd), interleaved.\n"
		"  --runs R          repetitions of every workload and backend (default 5)\n"
		"  --n N             timed requests per run, %d..%d (default 10000)\n"
		"  --warmup W        untimed requests before them (default 500)\n"
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
		DISK_MIB, N_MIN, N_MAX);
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

int main(int argc, char **argv)
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
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.runs = 5,
		.n = 10000,
		.warmup = 500,
		.pin = -1,
		.use = { true, true },
		.qsd_aio = "native",
		.qsd_poll_ns = 32768,
	};
	static struct sample samples[NR_WORKLOADS][NR_BACKENDS][MAX_RUNS];
	struct sample med[NR_WORKLOADS][NR_BACKENDS];
	char sockdir[] = "/tmp/evvm-vhost-blk-XXXXXX";
	char qsd_version[128] = "", evvm_version[128] = "", qsd_blockdev[600];
	double v[MAX_RUNS];
	uint64_t *lat = NULL;
	struct disk d = { .fd = -1 };
	FILE *json = NULL;
	int opt, err, rc = 1;
	const char *env;

	while ((opt = getopt_long(argc, argv, "hv", lopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (!opt_uint("vhost-blk", "runs", optarg, 1, MAX_RUNS, &o.runs))
				return 2;
			break;
		case 'n':
			if (!opt_uint("vhost-blk", "n", optarg, N_MIN, N_MAX, &o.n))
				return 2;
			break;
		case 'W':
			if (!opt_uint("vhost-blk", "warmup", optarg, 1, N_MAX, &o.warmup))
				return 2;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'c':
			if (!opt_cpu("vhost-blk", optarg, &o.pin))
				return 2;
			break;
		case 'b':
			if (!parse_backends(optarg, o.use)) {
				fprintf(stderr,
					"vhost-blk: --backends '%s': want evvm, qsd or "
					"evvm,qsd\n",
					optarg);
				return 2;
			}
			break;
		case 'a':
			if (strcmp(optarg, "io_uring") && strcmp(optarg, "threads") &&
			    strcmp(optarg, "native")) {
				fprintf(stderr,
					"vhost-blk: --qsd-aio '%s': want io_uring, threads "
					"or native\n",
					optarg);
				return 2;
			}
			o.qsd_aio = optarg;
			break;
		case 'i':
			o.qsd_iothread = true;
			if (optarg && !parse_uint(optarg, &o.qsd_poll_ns)) {
				fprintf(stderr,
					"vhost-blk: --qsd-iothread='%s': want a poll-max-ns "
					"value\n",
					optarg);
				return 2;
			}
			break;
		case 'E':
		case 'Q': {
			int b = opt == 'E' ? EVVM : QSD;

			if (o.nr_extra[b] == MAX_EXTRA) {
				fprintf(stderr, "vhost-blk: at most %d --%s-arg\n", MAX_EXTRA,
					backend_names[b]);
				return 2;
			}
			o.extra[b][o.nr_extra[b]++] = optarg;
			break;
		}
		case 'v':
			o.verbose = true;
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
		fprintf(stderr, "vhost-blk: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
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
	lat = calloc(o.n, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "vhost-blk: %s\n", evvm_strerror(ENOMEM));
		goto out;
	}
	/* Every thread and process created from here on inherits this. */
	err = o.pin >= 0 ? pin_cpu(o.pin) : 0;
	if (err) {
		fprintf(stderr, "vhost-blk: --pin %d: %s\n", o.pin, evvm_strerror(err));
		goto out;
	}
	if (o.use[QSD]) {
		char *av[] = { (char *)o.bin[QSD], "--version", NULL };

		capture_line(av, qsd_version, sizeof(qsd_version));
		if (strncmp(qsd_version, "qemu-storage-daemon", 19)) {
			fprintf(stderr,
				"vhost-blk: %s --version: %s (set $QSD, or --backends "
				"evvm)\n",
				o.bin[QSD], qsd_version[0] ? qsd_version : "no output");
			goto out;
		}
	}
	if (o.use[EVVM]) {
		char *av[] = { (char *)o.bin[EVVM], "--version", NULL };

		capture_line(av, evvm_version, sizeof(evvm_version));
		if (strncmp(evvm_version, "evvm", 4)) {
			fprintf(stderr,
				"vhost-blk: %s --version: %s (set $EVVM, or --backends "
				"qsd)\n",
				o.bin[EVVM], evvm_version[0] ? evvm_version : "no output");
			goto out;
		}
	}
	if (!mkdtemp(sockdir)) {
		fprintf(stderr, "vhost-blk: mkdtemp %s: %s\n", sockdir, evvm_strerror(errno));
		goto out;
	}
	snprintf(cleanup_dir, sizeof(cleanup_dir), "%s", sockdir);
	catch_signals();
	if (disk_make("vhost-blk", &d)) {
		rmdir(sockdir);
		goto out;
	}

	for (unsigned int r = 0; r < o.runs; r++) {
		for (unsigned int w = 0; w < NR_WORKLOADS; w++) {
			for (int i = 0; i < NR_BACKENDS; i++) {
				/* Alternate which backend goes first. */
				int b = (i + r) % NR_BACKENDS;

				if (!o.use[b])
					continue;
				if (run_one(&o, &d, sockdir, b, &workloads[w],
					    r * NR_WORKLOADS + w + 1, lat, &samples[w][b][r])) {
					close(d.fd);
					rmdir(sockdir);
					goto out;
				}
			}
		}
	}
	close(d.fd); /* the last reference: tmpfs frees the disk */
	rmdir(sockdir);

	for (unsigned int w = 0; w < NR_WORKLOADS; w++) {
		for (int b = 0; b < NR_BACKENDS; b++) {
			if (!o.use[b])
				continue;
			for (unsigned int r = 0; r < o.runs; r++)
				v[r] = samples[w][b][r].iops;
			med[w][b].iops = median(v, o.runs);
			for (unsigned int r = 0; r < o.runs; r++)
				v[r] = samples[w][b][r].mean_us;
			med[w][b].mean_us = median(v, o.runs);
			for (unsigned int r = 0; r < o.runs; r++)
				v[r] = samples[w][b][r].p99_us;
			med[w][b].p99_us = median(v, o.runs);
			for (unsigned int r = 0; r < o.runs; r++)
				v[r] = samples[w][b][r].cpu_us;
			med[w][b].cpu_us = median(v, o.runs);
		}
	}

	snprintf(qsd_blockdev, sizeof(qsd_blockdev), "file aio=%s cache.direct=%s, raw, %s",
		 o.qsd_aio, strcmp(o.qsd_aio, "native") ? "off" : "on",
		 o.qsd_iothread ? "export in an iothread" : "export in the main loop");
	if (o.qsd_iothread)
		snprintf(qsd_blockdev + strlen(qsd_blockdev),
			 sizeof(qsd_blockdev) - strlen(qsd_blockdev), " (poll-max-ns=%u)",
			 o.qsd_poll_ns);

	printf("bench/vhost-blk: 4 KiB random I/O on a %d MiB disk in %s (%s), %u runs x %u "
	       "requests (+%u warm-up), ",
	       DISK_MIB, d.dir, d.tmpfs ? "tmpfs" : "not tmpfs", o.runs, o.n, o.warmup);
	if (o.pin >= 0)
		printf("bench and backend on host CPU %d", o.pin);
	else
		printf("unpinned on %ld CPUs", sysconf(_SC_NPROCESSORS_ONLN));
	printf(", driver sleeps on the call eventfd; medians\n");
	if (o.use[EVVM]) {
		printf("  evvm: %s vhost-user-blk (%s)", o.bin[EVVM], evvm_version);
		for (unsigned int e = 0; e < o.nr_extra[EVVM]; e++)
			printf(" %s", o.extra[EVVM][e]);
		printf("\n");
	}
	if (o.use[QSD]) {
		printf("  qsd:  %s: %s", qsd_version, qsd_blockdev);
		for (unsigned int e = 0; e < o.nr_extra[QSD]; e++)
			printf(" %s", o.extra[QSD][e]);
		printf("\n");
	}
	printf("%-7s %-6s %3s %10s %10s %10s %12s", "backend", "rw", "qd", "IOPS", "mean_us",
	       "p99_us", "be_cpu_us/io");
	if (o.use[EVVM] && o.use[QSD])
		printf(" %14s", "IOPS evvm/qsd");
	printf("\n");
	for (unsigned int w = 0; w < NR_WORKLOADS; w++) {
		for (int b = 0; b < NR_BACKENDS; b++) {
			if (!o.use[b])
				continue;
			printf("%-7s %-6s %3u %10.0f %10.1f %10.1f %12.2f", backend_names[b],
			       workloads[w].rw, workloads[w].qd, med[w][b].iops, med[w][b].mean_us,
			       med[w][b].p99_us, med[w][b].cpu_us);
			if (b == EVVM && o.use[QSD])
				printf(" %13.2fx", med[w][EVVM].iops / med[w][QSD].iops);
			printf("\n");
		}
	}
	if (o.use[EVVM] && o.use[QSD]) {
		printf("evvm / qsd mean latency:");
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			printf(" %s qd%u %.2fx%s", workloads[w].rw, workloads[w].qd,
			       med[w][EVVM].mean_us / med[w][QSD].mean_us,
			       w + 1 < NR_WORKLOADS ? "," : "\n");
	}

	if (json) {
		FILE *f = json;
		bool first = true;

		json = NULL;
		fprintf(f,
			"{\"n\": %u, \"warmup\": %u, \"pinned_cpu\": %d, \"disk_mib\": %d, "
			"\"disk_dir\": \"%s\", \"tmpfs\": %s, \"qd_max\": %d, \"queue_size\": %d",
			o.n, o.warmup, o.pin, DISK_MIB, d.dir, d.tmpfs ? "true" : "false", MAX_QD,
			QUEUE_NUM);
		if (o.use[EVVM])
			fprintf(f, ", \"evvm\": {\"version\": \"%s\"}", evvm_version);
		if (o.use[QSD])
			fprintf(f,
				", \"qsd\": {\"version\": \"%s\", \"aio\": \"%s\", "
				"\"cache_direct\": %s, \"iothread\": %s, \"poll_max_ns\": %u}",
				qsd_version, o.qsd_aio,
				strcmp(o.qsd_aio, "native") ? "false" : "true",
				o.qsd_iothread ? "true" : "false",
				o.qsd_iothread ? o.qsd_poll_ns : 0);
		fprintf(f, ", \"workloads\": [");
		for (unsigned int w = 0; w < NR_WORKLOADS; w++)
			for (int b = 0; b < NR_BACKENDS; b++) {
				if (!o.use[b])
					continue;
				fprintf(f,
					"%s\n  {\"backend\": \"%s\", \"rw\": \"%s\", \"qd\": %u, "
					"\"iops\": %.1f, \"mean_us\": %.2f, \"p99_us\": %.2f, "
					"\"backend_cpu_us_per_io\": %.3f, \"runs\": %u}",
					first ? "" : ",", backend_names[b], workloads[w].rw,
					workloads[w].qd, med[w][b].iops, med[w][b].mean_us,
					med[w][b].p99_us, med[w][b].cpu_us, o.runs);
				first = false;
			}
		fprintf(f, "\n]");
		if (o.use[EVVM] && o.use[QSD]) {
			fprintf(f, ", \"evvm_over_qsd\": [");
			for (unsigned int w = 0; w < NR_WORKLOADS; w++)
				fprintf(f,
					"%s\n  {\"rw\": \"%s\", \"qd\": %u, \"iops\": %.3f, "
					"\"mean_us\": %.3f, \"p99_us\": %.3f}",
					w ? "," : "", workloads[w].rw, workloads[w].qd,
					med[w][EVVM].iops / med[w][QSD].iops,
					med[w][EVVM].mean_us / med[w][QSD].mean_us,
					med[w][EVVM].p99_us / med[w][QSD].p99_us);
			fprintf(f, "\n]");
		}
		fprintf(f, "}\n");
		if (fclose(f)) {
			fprintf(stderr, "vhost-blk: %s: %s\n", o.json, evvm_strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	if (json) {
		fclose(json);
		unlink(o.json);
	}
	free(lat);
	return rc;
}
