// SPDX-License-Identifier: MIT
/* A microVM's life for the API: described, started once, run, ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>
#include <evvm/seccomp.h>
#include <evvm/loop.h>

#include "cli.h"
#include "instance.h"

#define fail(msg, ...) (snprintf(msg, VMDESC_MSG_MAX, __VA_ARGS__), -EINVAL)

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

int instance_stop_signal(void)
{
	sigset_t set;

	if (sigpending(&set) < 0)
		return 0;
	for (unsigned int i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		if (sigismember(&set, stop_signals[i]))
			return stop_signals[i];
	return 0;
}

static void stop_signal_set(sigset_t *mask)
{
	sigemptyset(mask);
	for (unsigned int i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(mask, stop_signals[i]);
}

void instance_block_stop_signals(void)
{
	sigset_t mask;

	stop_signal_set(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
}

static void log_stop(int sig, const char *when)
{
	pr_warn("stopping on %s%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", when);
}

unsigned int instance_seccomp_devs(const struct vm_desc *d)
{
	unsigned int devs = 0;

	for (unsigned int i = 0; i < d->nr_drives; i++)
		devs |= d->drives[i].socket ? EVVM_SECCOMP_DEV_VHOST_FRONTEND
					    : EVVM_SECCOMP_DEV_BLK;
	for (unsigned int i = 0; i < d->nr_nets; i++)
		devs |= d->nets[i].socket ? EVVM_SECCOMP_DEV_VHOST_FRONTEND : EVVM_SECCOMP_DEV_NET;
	if (d->rng)
		devs |= EVVM_SECCOMP_DEV_RNG;
	if (d->console)
		devs |= EVVM_SECCOMP_DEV_CONSOLE;
	return devs;
}

int instance_start_failed(void)
{
	int sig = instance_stop_signal();

	if (!sig)
		return EVVM_EXIT_FAILURE;
	log_stop(sig, "");
	return 128 + sig;
}

int instance_init(struct instance *in, const char *id)
{
	const struct itimerspec every = { { INSTANCE_METRICS_S, 0 }, { INSTANCE_METRICS_S, 0 } };
	sigset_t mask;
	int err;

	*in = (struct instance){ .log_fd = -1, .metrics_fd = -1, .metrics_timer = -1 };
	if (strlen(id) > INSTANCE_ID_MAX)
		return -EINVAL;
	strcpy(in->id, id);
	vmdesc_init(&in->desc);
	in->desc.kernel_required = true;
	stop_signal_set(&mask);
	in->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (in->sig_fd < 0)
		return -errno;
	in->start_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->start_fd < 0) {
		err = -errno;
		goto close_sig;
	}
	in->metrics_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (in->metrics_timer < 0 || timerfd_settime(in->metrics_timer, 0, &every, NULL)) {
		err = -errno;
		goto close_timer;
	}
	pthread_mutex_init(&in->lock, NULL);
	return 0;
close_timer:
	if (in->metrics_timer >= 0)
		close(in->metrics_timer);
	close(in->start_fd);
close_sig:
	close(in->sig_fd);
	return err;
}

void instance_fini(struct instance *in)
{
	vm_destroy(in->vm);
	in->vm = NULL;
	vmdesc_unbuild(&in->built);
	evvm_log_set_output(-1, false);
	if (in->log_fd >= 0)
		close(in->log_fd);
	if (in->metrics_fd >= 0)
		close(in->metrics_fd);
	close(in->start_fd);
	close(in->metrics_timer);
	/* Nothing waits on a backend any more: the stop signal is consumed. */
	for (struct signalfd_siginfo si; read(in->sig_fd, &si, sizeof(si)) == sizeof(si);)
		;
	close(in->sig_fd);
	vmdesc_release(&in->desc);
	pthread_mutex_destroy(&in->lock);
}

int instance_start_locked(struct instance *in, char *msg)
{
	struct vmdesc_built *b = &in->built;
	uint64_t one = 1;
	int err;

	if (in->state != INSTANCE_NOT_STARTED)
		return fail(msg, "The requested operation is not supported after starting the "
				 "microVM.");
	err = vmdesc_build(&in->desc, demo_guest_start, demo_guest_end - demo_guest_start,
			   in->sig_fd, b, msg);
	if (err)
		return err;
	err = vm_create(&b->cfg, &in->vm);
	b->cfg.nr_devices = 0; /* vm_create() owns them now, also on failure */
	if (err) {
		vmdesc_unbuild(b);
		in->vm = NULL;
		return fail(msg, "cannot create the microVM: %s (see the log)", evvm_strerror(err));
	}
	in->state = INSTANCE_RUNNING;
	if (write(in->start_fd, &one, sizeof(one)) != sizeof(one))
		pr_err("InstanceStart: cannot wake the main thread: %s", evvm_strerror(errno));
	pr_info("instance '%s' started", in->id);
	return 0;
}

/* A logger or metrics file: appended to, never blocking (a FIFO may be slow). */
static int open_sink(const char *what, const char *path, int *fd, char *msg)
{
	int nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);

	if (nfd < 0)
		return fail(msg, "%s '%s': open: %s", what, path, evvm_strerror(errno));
	if (*fd >= 0)
		close(*fd);
	*fd = nfd;
	return 0;
}

int instance_set_logger_locked(struct instance *in, struct vmdesc_logger *l, char *msg)
{
	int fd = -1;

	if (l->path && open_sink("log_path", l->path, &fd, msg))
		return -EINVAL;
	evvm_log_set_output(fd >= 0 ? fd : -1, l->show_level);
	if (in->log_fd >= 0)
		close(in->log_fd);
	in->log_fd = fd;
	if (l->level >= 0)
		evvm_log_set_level(l->level);
	free(in->desc.logger.path);
	in->desc.logger = *l;
	*l = (struct vmdesc_logger){ 0 };
	return 0;
}

int instance_set_metrics_locked(struct instance *in, struct vmdesc_metrics *m, char *msg)
{
	if (in->metrics_fd >= 0)
		return fail(msg, "Reinitialization of metrics not allowed.");
	if (open_sink("metrics_path", m->path, &in->metrics_fd, msg))
		return -EINVAL;
	in->desc.metrics = *m;
	*m = (struct vmdesc_metrics){ 0 };
	return 0;
}

int instance_flush_metrics_locked(struct instance *in, char *msg)
{
	static const char *const states[] = { "Not started", "Running", "Exited" };
	struct timespec ts;
	char line[512];
	int n;

	if (in->metrics_fd < 0)
		return fail(msg, "FlushMetrics: the metrics system is not initialized "
				 "(PUT /metrics first)");
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line),
		     "{\"utc_timestamp_ms\":%lld,%s%s%s\"api_server\":{\"requests\":%lu,"
		     "\"request_errors\":%lu},\"vmm\":{\"state\":\"%s\"},"
		     "\"logger\":{\"missed_metrics_count\":%lu}}\n",
		     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
		     in->desc.metrics.emit_id ? "\"id\":\"" : "",
		     in->desc.metrics.emit_id ? in->id : "", in->desc.metrics.emit_id ? "\"," : "",
		     in->requests, in->request_errors, states[in->state], in->lost_metrics);
	/* A full FIFO loses the line rather than stalling the API thread. */
	if (n >= (int)sizeof(line) || write(in->metrics_fd, line, n) != n) {
		in->lost_metrics++;
		return fail(msg, "FlushMetrics: the metrics file did not take the line");
	}
	return 0;
}

/* The metrics timer expired: one line if metrics are configured (a lost one is counted). */
static void metrics_tick(struct instance *in)
{
	char msg[VMDESC_MSG_MAX];
	uint64_t n;

	if (read(in->metrics_timer, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&in->lock);
	if (in->metrics_fd >= 0 && instance_flush_metrics_locked(in, msg))
		pr_warn("metrics: %s", msg);
	pthread_mutex_unlock(&in->lock);
}

static void on_metrics_timer(void *opaque, uint32_t events)
{
	(void)events;
	metrics_tick(opaque);
}

struct run_signals {
	struct evvm_vm *vm;
	int fd;
};

/*
 * The signal is left pending (see instance.sig_fd), so the signalfd is
 * watched only until the first one: it stays readable while the VM stops.
 */
static void on_signal(void *opaque, uint32_t events)
{
	struct run_signals *s = opaque;
	int sig = instance_stop_signal();

	(void)events;
	if (!sig)
		return;
	loop_del(vm_loop(s->vm), s->fd);
	log_stop(sig, "");
	vm_stop(s->vm, 128 + sig);
}

/* Wait for InstanceStart or a signal: 0 once started, else 128+signal or failure. */
static int wait_start(struct instance *in, int sigfd)
{
	struct pollfd p[3] = { { .fd = in->start_fd, .events = POLLIN },
			       { .fd = sigfd, .events = POLLIN },
			       { .fd = in->metrics_timer, .events = POLLIN } };
	int sig;

	for (;;) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("poll: %s", evvm_strerror(errno));
			return EVVM_EXIT_FAILURE;
		}
		if (p[0].revents)
			return 0;
		if (p[2].revents)
			metrics_tick(in);
		if (p[1].revents && (sig = instance_stop_signal())) {
			log_stop(sig, " before InstanceStart");
			return 128 + sig;
		}
	}
}

int instance_run(struct instance *in)
{
	struct run_signals sigs = { .fd = in->sig_fd };
	char msg[VMDESC_MSG_MAX];
	bool metrics;
	int status;

	status = wait_start(in, sigs.fd);
	if (status)
		goto out;
	/* The VM exists and no request touches it: run it without the lock. */
	pthread_mutex_lock(&in->lock);
	sigs.vm = in->vm;
	metrics = in->metrics_fd >= 0; /* PUT /metrics is pre-boot only: now or never */
	pthread_mutex_unlock(&in->lock);
	if (loop_add(vm_loop(sigs.vm), sigs.fd, EPOLLIN, on_signal, &sigs) ||
	    (metrics &&
	     loop_add(vm_loop(sigs.vm), in->metrics_timer, EPOLLIN, on_metrics_timer, in))) {
		pr_err("cannot watch signals and the metrics timer");
		status = EVVM_EXIT_FAILURE;
		goto out;
	}
	status = vm_run(sigs.vm);
out:
	pthread_mutex_lock(&in->lock);
	in->state = INSTANCE_EXITED;
	if (in->metrics_fd >= 0 && instance_flush_metrics_locked(in, msg))
		pr_warn("metrics: %s", msg);
	pthread_mutex_unlock(&in->lock);
	return status;
}
