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

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/seccomp.h>
#include <evvm/loop.h>

#include <jansson.h>

#include "../vhost/frontend.h"
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

const char *instance_state_name(enum instance_state s)
{
	static const char *const names[] = {
		[INSTANCE_NOT_STARTED] = "Not started",
		[INSTANCE_RUNNING] = "Running",
		[INSTANCE_EXITED] = "Not started",
		[INSTANCE_PAUSED] = "Paused",
	};

	return names[s];
}

static const char not_before_start[] =
	"The requested operation is not supported before starting the microVM.";

/* The VM can take a post-boot request: started, not ended. */
static int started(struct instance *in, char *msg)
{
	if (in->state == INSTANCE_NOT_STARTED)
		return fail(msg, "%s", not_before_start);
	if (in->state == INSTANCE_EXITED)
		return fail(msg, "the microVM has ended");
	return 0;
}

int instance_pause_locked(struct instance *in, bool pause, char *msg)
{
	struct timespec t0, t1;
	int err;

	if (started(in, msg))
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = pause ? vm_pause(in->vm) : vm_resume(in->vm);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*(pause ? &in->pause_us : &in->resume_us) =
		(t1.tv_sec - t0.tv_sec) * 1000000ULL + (t1.tv_nsec - t0.tv_nsec) / 1000;
	if (err == -ECANCELED)
		return fail(msg, "the microVM is stopping");
	if (err && pause)
		return fail(msg, "cannot pause the microVM: %s (see the log)", evvm_strerror(err));
	/* A device that did not resume logged it; the vCPUs run anyway. */
	in->state = vm_is_paused(in->vm) ? INSTANCE_PAUSED : INSTANCE_RUNNING;
	if (err)
		return fail(msg, "the microVM runs, but a device did not resume: %s (see the log)",
			    evvm_strerror(err));
	return 0;
}

int instance_restore_locked(struct instance *in, const struct instance_restore *rs, char *msg)
{
	uint64_t one = 1;
	int err;

	/* Refused before anything is looked at: the API thread may be confined by now. */
	if (in->state != INSTANCE_NOT_STARTED)
		return fail(
			msg,
			"Loading a microVM snapshot not allowed after configuring boot-specific "
			"resources.");

	const struct evvm_vm_config base = {
		.disk_overrides = rs->disks,
		.nr_disk_overrides = rs->nr_disks,
		.net_overrides = rs->nets,
		.nr_net_overrides = rs->nr_nets,
		.mem_overcommit = in->desc.machine.overcommit,
		.track_dirty_pages = in->desc.machine.track_dirty_pages || rs->track_dirty_pages,
		.console_in = isatty(STDIN_FILENO) ? STDIN_FILENO : -1,
		.console_out = STDOUT_FILENO,
		.ioeventfd_user = in->desc.ioeventfd_user,
		.irqfd_user = in->desc.irqfd_user,
		/* A stop signal ends a wait on a backend, as at InstanceStart. */
		.vhost_user_load = vhost_user_dev_load,
		.vhost_user_cancel_fd = in->sig_fd,
	};

	err = vm_restore(&base, rs->state_path, rs->mem_path, &in->vm);
	if (err) {
		in->vm = NULL;
		return fail(msg, "cannot load the snapshot '%s': %s (see the log)", rs->state_path,
			    evvm_strerror(err));
	}
	/* Parked before their first instruction until resumed (vm_pause()). */
	if (!rs->resume && vm_pause(in->vm)) {
		vm_destroy(in->vm);
		in->vm = NULL;
		return fail(msg, "cannot keep the loaded microVM paused");
	}
	in->state = rs->resume ? INSTANCE_RUNNING : INSTANCE_PAUSED;
	in->desc.machine.track_dirty_pages = base.track_dirty_pages; /* GET /vm/config says so */
	if (write(in->start_fd, &one, sizeof(one)) != sizeof(one))
		pr_err("snapshot load: cannot wake the main thread: %s", evvm_strerror(errno));
	pr_info("instance '%s' restored from '%s'", in->id, rs->state_path);
	return 0;
}

int instance_snapshot_locked(struct instance *in, const char *state_path, const char *mem_path,
			     enum evvm_snapshot_type type, char *msg)
{
	int err;

	if (started(in, msg))
		return -EINVAL;
	if (in->state != INSTANCE_PAUSED)
		return fail(msg, "Create snapshot not allowed: the microVM is not paused.");
	err = vm_snapshot_create(in->vm, state_path, mem_path, type);
	if (err)
		return fail(msg, "cannot create the snapshot '%s': %s (see the log)", state_path,
			    evvm_strerror(err));
	return 0;
}

/* The started VM's disk @id that evvm serves, and its index in the description. */
static int find_disk(struct instance *in, const char *id, const char *what, unsigned int *index,
		     struct evvm_virtio_dev **dev, char *msg)
{
	struct vm_desc *d = &in->desc;
	unsigned int i;

	if (started(in, msg))
		return -EINVAL;
	for (i = 0; i < d->nr_drives && strcmp(d->drives[i].id, id); i++)
		;
	if (i == d->nr_drives)
		return fail(msg, "Drive update (patch) failed: no drive with id `%s`", id);
	if (d->drives[i].socket)
		return fail(msg,
			    "Drive update (patch) failed: drive `%s` is served by a "
			    "vhost-user backend: %s cannot be changed",
			    id, what);
	if (d->drives[i].iothreads > 1)
		return fail(msg,
			    "Drive update (patch) failed: drive `%s` is served by %u I/O "
			    "threads: %s cannot be changed",
			    id, d->drives[i].iothreads, what);
	*dev = vm_virtio_dev(in->vm, vmdesc_drive_slot(d, i));
	if (!*dev)
		return fail(msg, "Drive update (patch) failed: no device for drive `%s`", id);
	*index = i;
	return 0;
}

int instance_set_drive_rate_limit_locked(struct instance *in, const char *id,
					 const struct vmjson_rate_limiter *rl, char *msg)
{
	struct evvm_virtio_dev *dev;
	struct evvm_rate_limit next;
	unsigned int i;

	if (find_disk(in, id, "rate_limiter", &i, &dev, msg))
		return -EINVAL;
	next = in->desc.drives[i].rate_limit;
	vmjson_rate_limit_apply(rl, &next);
	if (blk_set_rate_limit(dev, &next))
		return fail(msg, "Drive update (patch) failed: rate limiter (see the log)");
	in->desc.drives[i].rate_limit = next;
	in->desc.drives[i].rate_limited = true;
	return 0;
}

int instance_set_net_rate_limit_locked(struct instance *in, const char *id,
				       const struct vmjson_rate_limiter *rx,
				       const struct vmjson_rate_limiter *tx, char *msg)
{
	struct vm_desc *d = &in->desc;
	struct evvm_virtio_dev *dev;
	struct evvm_rate_limit next_rx, next_tx;
	struct vmdesc_net *n;
	unsigned int i;

	if (started(in, msg))
		return -EINVAL;
	for (i = 0; i < d->nr_nets && strcmp(d->nets[i].id, id); i++)
		;
	if (i == d->nr_nets)
		return fail(msg, "Network interface update failed: no interface with id `%s`", id);
	n = &d->nets[i];
	if (n->socket)
		return fail(msg,
			    "Network interface update failed: interface `%s` is served by a "
			    "vhost-user backend: its rate limiters cannot be changed",
			    id);
	dev = vm_virtio_dev(in->vm, vmdesc_net_slot(d, i));
	if (!dev)
		return fail(msg, "Network interface update failed: no device for interface `%s`",
			    id);
	next_rx = n->rx_rate_limit;
	vmjson_rate_limit_apply(rx, &next_rx);
	next_tx = n->tx_rate_limit;
	vmjson_rate_limit_apply(tx, &next_tx);
	if (net_set_rate_limit(dev, rx->set ? &next_rx : NULL, tx->set ? &next_tx : NULL))
		return fail(msg, "Network interface update failed: rate limiter (see the log)");
	n->rx_rate_limit = next_rx;
	n->rx_rate_limited |= rx->set;
	n->tx_rate_limit = next_tx;
	n->tx_rate_limited |= tx->set;
	return 0;
}

int instance_set_drive_path_locked(struct instance *in, const char *id, const char *path, char *msg)
{
	struct vm_desc *d = &in->desc;
	struct evvm_virtio_dev *dev;
	unsigned int i;
	char *copy;
	int err;

	if (find_disk(in, id, "path_on_host", &i, &dev, msg))
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return fail(msg, "Drive update (patch) failed: out of memory");
	err = blk_set_path(dev, path);
	if (err) {
		free(copy);
		return fail(msg, "Drive update (patch) failed: '%s': %s (see the log)", path,
			    evvm_strerror(err));
	}
	free(d->drives[i].path);
	d->drives[i].path = copy;
	return 0;
}

int instance_ctrl_alt_del_locked(struct instance *in, char *msg)
{
	int err;

	if (started(in, msg))
		return -EINVAL;
	err = vm_send_ctrl_alt_del(in->vm);
	if (err)
		return fail(msg, "SendCtrlAltDel: %s", evvm_strerror(err));
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
	evvm_log_set_origin(l->show_origin);
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
	static const char *const states[] = { "Not started", "Running", "Exited", "Paused" };
	struct evvm_vm_metrics *vm = NULL;
	struct metrics_input mi = {
		.id = in->desc.metrics.emit_id ? in->id : NULL,
		.state = states[in->state],
		.requests = in->requests,
		.request_errors = in->request_errors,
		.lost_metrics = in->lost_metrics,
		.lost_logs = evvm_log_lost(),
		.pause_us = in->pause_us,
		.resume_us = in->resume_us,
		.desc = &in->desc,
	};
	struct timespec ts;
	char *text = NULL;
	json_t *line;
	ssize_t n = -1;

	/* As Firecracker: no metrics file, no line, and no error either. */
	if (in->metrics_fd < 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	mi.utc_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (in->vm && (vm = malloc(sizeof(*vm))))
		vm_get_metrics(in->vm, vm);
	mi.vm = vm;
	line = (!in->vm || vm) ? metrics_line(&mi, &in->metrics_last) : NULL;
	free(vm);
	text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	if (text) {
		size_t len = strlen(text);

		text[len] =
			'\n'; /* json_dumps() gives len + 1 bytes: the NUL becomes the newline */
		n = write(in->metrics_fd, text, len + 1) == (ssize_t)(len + 1) ? 0 : -1;
	}
	free(text);
	/* A full FIFO loses the line rather than stalling the API thread. */
	if (n < 0) {
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

void instance_set_before_run(struct instance *in, int (*fn)(void *), void *arg)
{
	in->before_run = fn;
	in->before_run_arg = arg;
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
	if (in->before_run && in->before_run(in->before_run_arg)) {
		status = EVVM_EXIT_FAILURE;
		goto out;
	}
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
