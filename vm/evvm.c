// SPDX-License-Identifier: MIT
/*
 * The public VM API (include/evvm/evvm.h): a VM description filled by
 * setters, built and created by evvm_start() as `evvm run` builds its own
 * (vmdesc_build(), vm_create()), then run by a thread of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evvm/evvm.h>
#include <evvm/log.h>
#include <evvm/vm.h>

#include "vmdesc.h"

_Static_assert(EVVM_LOG_LEVEL_ERROR == EVVM_LOG_ERR && EVVM_LOG_LEVEL_DEBUG == EVVM_LOG_DEBUG,
	       "public and internal log levels differ");

#define STOP_ON_DESTROY 255
#define ERRMSG_MAX	VMDESC_MSG_MAX

enum ctx_state { CTX_NEW, CTX_STARTING, CTX_RUNNING, CTX_EXITED, CTX_FAILED };

struct evvm_ctx {
	pthread_mutex_t lock;	  /* state, vm, status, stop_* */
	pthread_mutex_t msg_lock; /* errmsg: any-thread calls may fail at once */
	pthread_cond_t exited;
	enum ctx_state state;
	struct vm_desc desc;
	struct vmdesc_built built; /* what vm->cfg points into, kept until the VM is gone */
	struct evvm_vm *vm;
	pthread_t runner;
	int status;
	bool stop_requested;
	int stop_status;
	int cancel_fd; /* eventfd: readable once evvm_stop() came (ends backend waits) */
	char errmsg[ERRMSG_MAX];
};

const char *evvm_version(void)
{
	return EVVM_VERSION_STRING;
}

int evvm_set_log(evvm_log_callback fn, void *opaque, int max_level)
{
	if (max_level < EVVM_LOG_LEVEL_ERROR || max_level > EVVM_LOG_LEVEL_DEBUG)
		return -EINVAL;
	evvm_log_set_level(max_level);
	evvm_log_set_callback(fn, opaque);
	return 0;
}

/* Record why @vm refused a call; returns @err. */
__attribute__((format(printf, 3, 4))) static int refuse(struct evvm_ctx *vm, int err,
							const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->msg_lock);
	va_start(ap, fmt);
	vsnprintf(vm->errmsg, sizeof(vm->errmsg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&vm->msg_lock);
	return err;
}

int evvm_create(struct evvm_ctx **out)
{
	struct evvm_ctx *vm;

	if (!out)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->cancel_fd < 0) {
		int err = -errno;

		free(vm);
		return err;
	}
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->msg_lock, NULL);
	pthread_cond_init(&vm->exited, NULL);
	vmdesc_init(&vm->desc);
	vm->desc.kernel_required = true; /* a library has no bundled guest */
	vm->desc.stdio = (struct vmdesc_stdio){ true, -1, -1, -1, -1 };
	*out = vm;
	return 0;
}

const char *evvm_errmsg(struct evvm_ctx *vm)
{
	return vm ? vm->errmsg : "no VM (NULL)";
}

/* A setter's common check: a VM that exists and is not started. */
static int settable(struct evvm_ctx *vm, const char *fn)
{
	bool started;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	started = vm->state != CTX_NEW;
	pthread_mutex_unlock(&vm->lock);
	if (started)
		return refuse(vm, -EBUSY, "%s: the VM is already started", fn);
	return 0;
}

int evvm_set_cpus(struct evvm_ctx *vm, unsigned int nr)
{
	int err = settable(vm, __func__);

	if (err)
		return err;
	if (nr < 1 || nr > EVVM_MAX_CPUS)
		return refuse(vm, -EINVAL, "%s: %u vCPUs: must be 1 to %u", __func__, nr,
			      EVVM_MAX_CPUS);
	vm->desc.machine.vcpus = nr;
	return 0;
}

int evvm_set_memory(struct evvm_ctx *vm, uint64_t bytes, unsigned int flags)
{
	int err = settable(vm, __func__);

	if (err)
		return err;
	if (flags & ~EVVM_MEMORY_OVERCOMMIT)
		return refuse(vm, -EINVAL, "%s: unknown flags %#x", __func__,
			      flags & ~EVVM_MEMORY_OVERCOMMIT);
	if (bytes < EVVM_MEM_MIN || (bytes & 0xfff))
		return refuse(vm, -EINVAL,
			      "%s: %llu bytes: must be a multiple of 4 KiB and at least %llu MiB",
			      __func__, (unsigned long long)bytes, EVVM_MEM_MIN >> 20);
	vm->desc.machine.mem_size = bytes;
	vm->desc.machine.overcommit = flags & EVVM_MEMORY_OVERCOMMIT;
	return 0;
}

/* Replace *@field by a copy of @s (NULL clears it; "" is refused as @what). */
static int set_string(struct evvm_ctx *vm, const char *fn, const char *what, char **field,
		      const char *s, size_t max)
{
	char *copy = NULL;
	int err = settable(vm, fn);

	if (err)
		return err;
	if (s && !*s)
		return refuse(vm, -EINVAL, "%s: empty %s", fn, what);
	if (s && strlen(s) > max)
		return refuse(vm, -EINVAL, "%s: %s of %zu bytes: the limit is %zu", fn, what,
			      strlen(s), max);
	if (s && !(copy = strdup(s)))
		return refuse(vm, -ENOMEM, "%s: out of memory", fn);
	free(*field);
	*field = copy;
	return 0;
}

int evvm_set_kernel(struct evvm_ctx *vm, const char *path)
{
	if (!vm)
		return -EINVAL;
	if (!path)
		return refuse(vm, -EINVAL, "%s: no path", __func__);
	return set_string(vm, __func__, "path", &vm->desc.boot.kernel, path, SIZE_MAX);
}

int evvm_set_initramfs(struct evvm_ctx *vm, const char *path)
{
	if (!vm)
		return -EINVAL;
	return set_string(vm, __func__, "path", &vm->desc.boot.initrd, path, SIZE_MAX);
}

int evvm_set_cmdline(struct evvm_ctx *vm, const char *cmdline)
{
	if (!vm)
		return -EINVAL;
	if (cmdline && !*cmdline)
		cmdline = NULL; /* an empty command line is no command line */
	return set_string(vm, __func__, "command line", &vm->desc.boot.cmdline, cmdline,
			  EVVM_CMDLINE_MAX);
}

int evvm_set_serial(struct evvm_ctx *vm, int in_fd, int out_fd)
{
	int err = settable(vm, __func__);

	if (err)
		return err;
	if (in_fd < -1 || out_fd < -1)
		return refuse(vm, -EBADF, "%s: fds %d, %d: -1 or an open fd", __func__, in_fd,
			      out_fd);
	vm->desc.stdio.serial_in = in_fd;
	vm->desc.stdio.serial_out = out_fd;
	return 0;
}

static unsigned int nr_devices(const struct vm_desc *d)
{
	return d->nr_drives + d->nr_nets + d->rng + d->console;
}

/* The checks every device shares: room, and an id of the right size that is not taken. */
static int device_room(struct evvm_ctx *vm, const char *fn, const char *id, size_t id_max)
{
	const struct vm_desc *d;
	int err = settable(vm, fn);

	if (err)
		return err;
	d = &vm->desc;
	if (nr_devices(d) >= EVVM_MAX_VIRTIO)
		return refuse(vm, -ENOSPC, "%s: at most %u devices", fn, EVVM_MAX_VIRTIO);
	if (!id)
		return 0;
	if (strlen(id) > id_max)
		return refuse(vm, -EINVAL, "%s: id '%s': at most %zu bytes", fn, id, id_max);
	for (unsigned int i = 0; i < d->nr_drives; i++)
		if (!strcmp(d->drives[i].id, id))
			return refuse(vm, -EEXIST, "%s: id '%s' is taken by a disk", fn, id);
	for (unsigned int i = 0; i < d->nr_nets; i++)
		if (!strcmp(d->nets[i].id, id))
			return refuse(vm, -EEXIST, "%s: id '%s' is taken by a net", fn, id);
	return 0;
}

/* vmdesc_put_*()'s verdict, its reason prefixed with @fn. */
static int put_result(struct evvm_ctx *vm, const char *fn, int err, const char *msg)
{
	if (err)
		return refuse(vm, err, "%s: %s", fn, msg);
	return 0;
}

/* A drive section for a file (@path) or a vhost-user socket, ids defaulted. */
static int add_drive(struct evvm_ctx *vm, const char *fn, struct vmdesc_drive *drv, const char *id)
{
	char msg[VMDESC_MSG_MAX];
	int err = device_room(vm, fn, id, VMDESC_ID_MAX);

	if (!err && ((drv->path && !*drv->path) || (drv->socket && !*drv->socket)))
		err = refuse(vm, -EINVAL, "%s: empty path", fn);
	if (!err && drv->is_root)
		for (unsigned int i = 0; i < vm->desc.nr_drives; i++)
			if (vm->desc.drives[i].is_root)
				err = refuse(vm, -EEXIST, "%s: disk '%s' is the root disk already",
					     fn, vm->desc.drives[i].id);
	if (err)
		return err;
	if (id)
		strcpy(drv->id, id);
	else
		snprintf(drv->id, sizeof(drv->id), "blk%u", vm->desc.nr_drives);
	if ((drv->path && !(drv->path = strdup(drv->path))) ||
	    (drv->socket && !(drv->socket = strdup(drv->socket)))) {
		vmdesc_drive_release(drv);
		return refuse(vm, -ENOMEM, "%s: out of memory", fn);
	}
	err = put_result(vm, fn, vmdesc_put_drive(&vm->desc, drv, msg), msg);
	vmdesc_drive_release(drv); /* zeroed when put */
	return err;
}

int evvm_add_disk(struct evvm_ctx *vm, const char *path, const char *id, unsigned int flags)
{
	struct vmdesc_drive drv = { .path = (char *)path };

	if (vm && !path)
		return refuse(vm, -EINVAL, "%s: no path", __func__);
	if (vm && (flags & ~(EVVM_DISK_READONLY | EVVM_DISK_ROOT)))
		return refuse(vm, -EINVAL, "%s: unknown flags %#x", __func__,
			      flags & ~(EVVM_DISK_READONLY | EVVM_DISK_ROOT));
	drv.readonly = flags & EVVM_DISK_READONLY;
	drv.is_root = flags & EVVM_DISK_ROOT;
	return add_drive(vm, __func__, &drv, id);
}

/* A net section for a tap or a vhost-user socket, ids and MAC defaulted. */
static int add_net(struct evvm_ctx *vm, const char *fn, struct vmdesc_net *n, const char *id)
{
	char msg[VMDESC_MSG_MAX];
	int err = device_room(vm, fn, id, VMDESC_NET_ID_MAX);

	if (err)
		return err;
	if (id)
		strcpy(n->id, id);
	else
		snprintf(n->id, sizeof(n->id), "net%u", vm->desc.nr_nets);
	if (!n->mac_given && n->tap)
		vmdesc_default_mac(n->mac, vm->desc.nr_nets);
	if ((n->tap && !(n->tap = strdup(n->tap))) ||
	    (n->socket && !(n->socket = strdup(n->socket)))) {
		vmdesc_net_release(n);
		return refuse(vm, -ENOMEM, "%s: out of memory", fn);
	}
	err = put_result(vm, fn, vmdesc_put_net(&vm->desc, n, msg), msg);
	vmdesc_net_release(n);
	return err;
}

int evvm_add_net_tap(struct evvm_ctx *vm, const char *tap, const char *id, const uint8_t mac[6])
{
	struct vmdesc_net n = { .tap = (char *)tap, .event_idx = true };

	if (vm && !tap)
		return refuse(vm, -EINVAL, "%s: no tap", __func__);
	if (mac) {
		memcpy(n.mac, mac, sizeof(n.mac));
		n.mac_given = true;
	}
	return add_net(vm, __func__, &n, id);
}

int evvm_add_vhost_user(struct evvm_ctx *vm, enum evvm_vhost_user_type type, const char *socket,
			const char *id, unsigned int queues, unsigned int reconnect_s)
{
	if (vm && !socket)
		return refuse(vm, -EINVAL, "%s: no socket path", __func__);
	if (type == EVVM_VHOST_USER_BLK) {
		struct vmdesc_drive drv = { .socket = (char *)socket,
					    .queues = queues,
					    .reconnect_s = reconnect_s };

		return add_drive(vm, __func__, &drv, id);
	}
	if (type == EVVM_VHOST_USER_NET) {
		struct vmdesc_net n = { .socket = (char *)socket, .reconnect_s = reconnect_s };

		if (vm && queues > 1)
			return refuse(vm, -EINVAL, "%s: a net has one queue pair", __func__);
		return add_net(vm, __func__, &n, id);
	}
	return vm ? refuse(vm, -EINVAL, "%s: unknown type %d", __func__, (int)type) : -EINVAL;
}

int evvm_add_rng(struct evvm_ctx *vm)
{
	int err = device_room(vm, __func__, NULL, 0);

	if (err)
		return err;
	if (vm->desc.rng)
		return refuse(vm, -EEXIST, "%s: the VM has an rng already", __func__);
	vm->desc.rng = true;
	return 0;
}

int evvm_add_console(struct evvm_ctx *vm, int in_fd, int out_fd)
{
	int err = device_room(vm, __func__, NULL, 0);

	if (err)
		return err;
	if (vm->desc.console)
		return refuse(vm, -EEXIST, "%s: the VM has a console already", __func__);
	if (in_fd < -1 || out_fd < -1)
		return refuse(vm, -EBADF, "%s: fds %d, %d: -1 or an open fd", __func__, in_fd,
			      out_fd);
	vm->desc.console = true;
	vm->desc.stdio.console_in = in_fd;
	vm->desc.stdio.console_out = out_fd;
	return 0;
}

/* The runner: vm_run() dispatches the VM's loop here until the VM ends. */
static void *vm_runner(void *arg)
{
	struct evvm_ctx *vm = arg;
	int status;

	pthread_setname_np(pthread_self(), "evvm-vm");
	status = vm_run(vm->vm);
	pthread_mutex_lock(&vm->lock);
	vm->status = status;
	vm->state = CTX_EXITED;
	pthread_cond_broadcast(&vm->exited);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

/* Build and create the VM; the reason of a failure goes to vm->errmsg. */
static int create_vm(struct evvm_ctx *vm)
{
	char msg[VMDESC_MSG_MAX] = "", first[ERRMSG_MAX];
	int err;

	evvm_log_capture(first, sizeof(first));
	err = vmdesc_build(&vm->desc, NULL, 0, vm->cancel_fd, &vm->built, msg);
	if (err) {
		evvm_log_capture(NULL, 0);
		if (err == -ECANCELED)
			return refuse(vm, err, "evvm_start: cancelled by evvm_stop()");
		/* A description refused has its reason in @msg, other failures in the log. */
		if (err == -EINVAL && *msg)
			return refuse(vm, err, "evvm_start: %s", msg);
		return refuse(vm, err, "evvm_start: %s", *first ? first : msg);
	}
	err = vm_create(&vm->built.cfg, &vm->vm);
	vm->built.cfg.nr_devices = 0; /* vm_create() owns them now, also on failure */
	evvm_log_capture(NULL, 0);
	if (err) {
		vm->vm = NULL;
		vmdesc_unbuild(&vm->built);
		return refuse(vm, err, "evvm_start: %s", *first ? first : evvm_strerror(err));
	}
	return 0;
}

/* NEW -> STARTING, or why not (with vm->lock held). */
static int start_begin_locked(struct evvm_ctx *vm)
{
	int err = 0;

	if (vm->state != CTX_NEW)
		return refuse(vm, -EALREADY, "evvm_start: called before");
	if (vm->stop_requested)
		err = refuse(vm, -ECANCELED, "evvm_start: evvm_stop() came first");
	else if (!vm->desc.boot.kernel)
		err = refuse(vm, -EINVAL, "evvm_start: no kernel (evvm_set_kernel())");
	vm->state = err ? CTX_FAILED : CTX_STARTING;
	return err;
}

int evvm_start(struct evvm_ctx *vm)
{
	sigset_t all, saved;
	int err;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	err = start_begin_locked(vm);
	pthread_mutex_unlock(&vm->lock);
	if (err)
		return err;

	/* Every thread evvm starts inherits this mask (vCPUs unblock their kick). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	err = create_vm(vm);
	pthread_mutex_lock(&vm->lock);
	if (!err && vm->stop_requested)
		err = refuse(vm, -ECANCELED, "evvm_start: cancelled by evvm_stop()");
	if (!err) {
		err = -pthread_create(&vm->runner, NULL, vm_runner, vm);
		if (err)
			refuse(vm, err, "evvm_start: cannot start the VM's thread: %s",
			       evvm_strerror(err));
	}
	vm->state = err ? CTX_FAILED : CTX_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (err) {
		vm_destroy(vm->vm);
		vm->vm = NULL;
		vmdesc_unbuild(&vm->built);
	}
	return err;
}

int evvm_wait(struct evvm_ctx *vm, int *status)
{
	int err = 0;

	if (!vm || !status)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->state != CTX_RUNNING && vm->state != CTX_EXITED)
		err = refuse(vm, -EINVAL, "evvm_wait: the VM was not started");
	while (!err && vm->state != CTX_EXITED)
		pthread_cond_wait(&vm->exited, &vm->lock);
	if (!err)
		*status = vm->status;
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int evvm_stop(struct evvm_ctx *vm, int status)
{
	uint64_t one = 1;

	if (!vm)
		return -EINVAL;
	if (status < 0 || status > 255)
		return refuse(vm, -EINVAL, "evvm_stop: status %d: must be 0 to 255", status);
	pthread_mutex_lock(&vm->lock);
	if (!vm->stop_requested) {
		vm->stop_requested = true;
		vm->stop_status = status;
		/* Ends a wait for a vhost-user backend; the counter cannot overflow from one write.
		 */
		if (write(vm->cancel_fd, &one, sizeof(one)) != sizeof(one))
			pr_warn("evvm_stop: cannot signal the cancel eventfd");
		if (vm->state == CTX_RUNNING)
			vm_stop(vm->vm, status);
	}
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* vm_pause() or vm_resume() on a running VM. */
static int pause_op(struct evvm_ctx *vm, const char *fn, int (*op)(struct evvm_vm *))
{
	int err;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->state != CTX_RUNNING)
		err = refuse(vm, -EINVAL, "%s: the VM is not running", fn);
	else if ((err = op(vm->vm)))
		refuse(vm, err, "%s: %s", fn, evvm_strerror(err));
	pthread_mutex_unlock(&vm->lock);
	return err;
}

int evvm_pause(struct evvm_ctx *vm)
{
	return pause_op(vm, __func__, vm_pause);
}

int evvm_resume(struct evvm_ctx *vm)
{
	return pause_op(vm, __func__, vm_resume);
}

void evvm_destroy(struct evvm_ctx *vm)
{
	bool started;

	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	started = vm->state == CTX_RUNNING || vm->state == CTX_EXITED;
	pthread_mutex_unlock(&vm->lock);
	if (started) {
		evvm_stop(vm, STOP_ON_DESTROY);
		pthread_join(vm->runner, NULL);
	}
	vm_destroy(vm->vm);
	vmdesc_unbuild(&vm->built);
	vmdesc_release(&vm->desc);
	close(vm->cancel_fd);
	pthread_cond_destroy(&vm->exited);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->msg_lock);
	free(vm);
}
