/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_INSTANCE_H
#define EVVM_CLI_INSTANCE_H

#include <pthread.h>
#include <stdbool.h>

#include "../vm/vmdesc.h"
#include "metrics.h"
#include "vmjson.h"

/*
 * One microVM's life as the API sees it: its description (under @lock),
 * then InstanceStart builds and creates the VM (on whichever thread asks)
 * and the main thread runs it. The API thread only ever takes @lock for
 * the time of a request, and never while the VM runs a vCPU for it.
 */

enum instance_state { INSTANCE_NOT_STARTED, INSTANCE_RUNNING, INSTANCE_EXITED, INSTANCE_PAUSED };

/* GET /'s state (Firecracker's InstanceInfo: an ended VM is "Not started"). */
const char *instance_state_name(enum instance_state s);

#define INSTANCE_ID_MAX	   64
#define INSTANCE_METRICS_S 60 /* Firecracker writes its metrics this often */

struct instance {
	pthread_mutex_t lock;
	struct vm_desc desc;
	enum instance_state state;
	struct evvm_vm *vm;
	struct vmdesc_built built; /* what vm->cfg points into, kept until the VM is gone */
	int start_fd;		   /* eventfd: written once the VM exists */
	/*
	 * signalfd of the stop signals, never read while the instance lives: a
	 * stop signal stays pending, keeps it readable, and so ends every wait
	 * on a vhost-user backend (it is their cancel fd) as well as the VM.
	 */
	int sig_fd;
	int metrics_timer; /* timerfd: a metrics line every INSTANCE_METRICS_S */
	int log_fd;	   /* the logger's file, or -1 */
	int metrics_fd;
	char id[INSTANCE_ID_MAX + 1];
	unsigned long requests, request_errors;
	unsigned long lost_metrics;
	uint64_t pause_us, resume_us;	  /* how long the last PATCH /vm took */
	struct metrics_last metrics_last; /* the counters of the last metrics line */
	int (*before_run)(void *);	  /* instance_set_before_run() */
	void *before_run_arg;
};

/* The stop signal (SIGINT, SIGTERM, SIGHUP) pending, or 0. */
int instance_stop_signal(void);

/*
 * Block the stop signals in the calling thread, before any other thread
 * starts (every thread inherits the mask; the instance's signalfd sees them).
 */
void instance_block_stop_signals(void);

/* The EVVM_SECCOMP_DEV_* bits of the devices @d describes (for confine_setup()). */
unsigned int instance_seccomp_devs(const struct vm_desc *d);

/* evvm's exit status after a failed start: 128+N for stop signal N (logged), else failure. */
int instance_start_failed(void);

/* Initialize @in with an empty description; @id names the instance (<= 64 bytes). */
int instance_init(struct instance *in, const char *id);

/* Free everything (the VM must have ended). */
void instance_fini(struct instance *in);

/*
 * InstanceStart, with @in->lock held: validate the description, build the
 * VM and create it, then wake instance_run(). 0, or -errno with @msg
 * (VMDESC_MSG_MAX bytes) saying why: -ECANCELED when a stop signal came
 * while a vhost-user backend was awaited.
 */
int instance_start_locked(struct instance *in, char *msg);

/*
 * Apply a logger (open its file, set level and format) or metrics section,
 * with @in->lock held; on success @in->desc owns its strings and the
 * section is zeroed.
 */
int instance_set_logger_locked(struct instance *in, struct vmdesc_logger *l, char *msg);
int instance_set_metrics_locked(struct instance *in, struct vmdesc_metrics *m, char *msg);

/*
 * PATCH /vm, with @in->lock held: pause (@pause) or resume the started VM
 * (vm_pause/vm_resume); pausing a paused VM or resuming a running one is
 * no error. 0 or -EINVAL with @msg.
 */
int instance_pause_locked(struct instance *in, bool pause, char *msg);

/* What a snapshot load asks for. */
struct instance_restore {
	const char *state_path, *mem_path;
	const struct evvm_disk_override *disks; /* drives on other files */
	unsigned int nr_disks;
	const struct evvm_net_override *nets; /* interfaces on other taps */
	unsigned int nr_nets;
	bool resume;
	bool track_dirty_pages; /* the load's own: as if the description had it */
};

/*
 * PUT /snapshot/load or `evvm run --restore`, with @in->lock held, before
 * any start: the VM from @rs's state file and memory file (vm_restore),
 * with its overrides, running if @rs->resume, else paused until PATCH /vm
 * resumes it; then instance_run() runs it. 0 or -EINVAL with @msg.
 */
int instance_restore_locked(struct instance *in, const struct instance_restore *rs, char *msg);

/* What a restored VM's threads may need: the devices a snapshot can hold. */
#define INSTANCE_RESTORE_SECCOMP_DEVS                                         \
	(EVVM_SECCOMP_DEV_BLK | EVVM_SECCOMP_DEV_NET | EVVM_SECCOMP_DEV_RNG | \
	 EVVM_SECCOMP_DEV_CONSOLE | EVVM_SECCOMP_DEV_VHOST_FRONTEND)

/*
 * PUT /snapshot/create, with @in->lock held: the paused VM to @state_path
 * and @mem_path, a full or a diff snapshot (vm_snapshot_create). 0 or
 * -EINVAL with @msg.
 */
int instance_snapshot_locked(struct instance *in, const char *state_path, const char *mem_path,
			     enum evvm_snapshot_type type,
			     char *msg);

/*
 * PATCH /drives/{id} with a path_on_host, with @in->lock held: the started
 * VM's disk @id gets @path as its backing file (blk_set_path), and the
 * description follows. 0 or -EINVAL with @msg.
 */
int instance_set_drive_path_locked(struct instance *in, const char *id, const char *path,
				   char *msg);

/*
 * PATCH /drives/{id} with a rate_limiter, with @in->lock held: the buckets
 * given replace the disk's (size 0 turns one off), the others stay
 * (blk_set_rate_limit). 0 or -EINVAL with @msg.
 */
int instance_set_drive_rate_limit_locked(struct instance *in, const char *id,
					 const struct vmjson_rate_limiter *rl, char *msg);

/*
 * PATCH /network-interfaces/{id} with rx_rate_limiter and/or
 * tx_rate_limiter, with @in->lock held: for each limiter given, as for a
 * drive (net_set_rate_limit); a limiter not given stays as it is. 0 or
 * -EINVAL with @msg.
 */
int instance_set_net_rate_limit_locked(struct instance *in, const char *id,
				       const struct vmjson_rate_limiter *rx,
				       const struct vmjson_rate_limiter *tx, char *msg);

/* SendCtrlAltDel, with @in->lock held: the keys on the started VM's i8042. */
int instance_ctrl_alt_del_locked(struct instance *in, char *msg);

/*
 * One JSON line to the metrics file, with @in->lock held (FlushMetrics, the
 * 60 s timer, the end); none, and no error, without a metrics file.
 */
int instance_flush_metrics_locked(struct instance *in, char *msg);

/*
 * Have instance_run() call @fn(@arg) once the VM exists and before the
 * guest runs (the API confines its thread there); a non-zero result ends
 * the instance instead.
 */
void instance_set_before_run(struct instance *in, int (*fn)(void *), void *arg);

/*
 * On the main thread, with SIGINT, SIGTERM and SIGHUP blocked in every
 * thread: wait for InstanceStart (or a signal), then run the VM to its
 * end; a metrics line is written every INSTANCE_METRICS_S seconds and a
 * last one at the end when metrics are configured. Returns evvm's exit
 * status.
 */
int instance_run(struct instance *in);

#endif
