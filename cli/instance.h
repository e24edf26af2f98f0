/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_INSTANCE_H
#define EVVM_CLI_INSTANCE_H

#include <pthread.h>
#include <stdbool.h>

#include "vmdesc.h"

/*
 * One microVM's life as the API sees it: its description (under @lock),
 * then InstanceStart builds and creates the VM (on whichever thread asks)
 * and the main thread runs it. The API thread only ever takes @lock for
 * the time of a request, and never while the VM runs a vCPU for it.
 */

enum instance_state { INSTANCE_NOT_STARTED, INSTANCE_RUNNING, INSTANCE_EXITED };

#define INSTANCE_ID_MAX	   64
#define INSTANCE_METRICS_S 60 /* Firecracker writes its metrics this often */

struct instance {
	pthread_mutex_t lock;
	struct vm_desc desc;
	enum instance_state state;
	struct evvm_vm *vm;
	struct vmdesc_built built; /* what vm->cfg points into, kept until the VM is gone */
	int start_fd;		   /* eventfd: written once the VM exists */
	int metrics_timer;	   /* timerfd: a metrics line every INSTANCE_METRICS_S */
	int log_fd;		   /* the logger's file, or -1 */
	int metrics_fd;
	char id[INSTANCE_ID_MAX + 1];
	unsigned long requests, request_errors;
	unsigned long lost_metrics;
};

/* Initialize @in with an empty description; @id names the instance (<= 64 bytes). */
int instance_init(struct instance *in, const char *id);

/* Free everything (the VM must have ended). */
void instance_fini(struct instance *in);

/*
 * InstanceStart, with @in->lock held: validate the description, build the
 * VM and create it, then wake instance_run(). 0, or -errno with @msg
 * (VMDESC_MSG_MAX bytes) saying why.
 */
int instance_start_locked(struct instance *in, char *msg);

/*
 * Apply a logger (open its file, set level and format) or metrics section,
 * with @in->lock held; on success @in->desc owns its strings and the
 * section is zeroed.
 */
int instance_set_logger_locked(struct instance *in, struct vmdesc_logger *l, char *msg);
int instance_set_metrics_locked(struct instance *in, struct vmdesc_metrics *m, char *msg);

/* FlushMetrics, with @in->lock held: one JSON line to the metrics file. */
int instance_flush_metrics_locked(struct instance *in, char *msg);

/*
 * On the main thread, with SIGINT, SIGTERM and SIGHUP blocked in every
 * thread: wait for InstanceStart (or a signal), then run the VM to its
 * end; a metrics line is written every INSTANCE_METRICS_S seconds and a
 * last one at the end when metrics are configured. Returns evvm's exit
 * status.
 */
int instance_run(struct instance *in);

#endif
