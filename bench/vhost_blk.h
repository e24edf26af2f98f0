/* SPDX-License-Identifier: MIT */
#ifndef EVVM_BENCH_VHOST_BLK_H
#define EVVM_BENCH_VHOST_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "disk.h"

#define IO_BYTES   DISK_BLOCK
#define MAX_RUNS   64
#define N_MIN	   100
#define N_MAX	   200000
#define MAX_QD	   32
#define MAX_QUEUES 8			   /* --queues */
#define MAX_QLIST  4			   /* queue counts in one --queues list, and --iothreads */
#define MAX_ROWS   (MAX_QLIST * MAX_QLIST) /* (queues, iothreads) pairs */
#define QUEUE_NUM  128			   /* >= 3 * MAX_QD descriptors */
#define MAX_EXTRA  16			   /* --evvm-arg / --qsd-arg each */
#define START_SECS 10			   /* for a backend to listen, and to exit after SIGTERM */

enum { EVVM, QSD, NR_BACKENDS };
extern const char *const backend_names[NR_BACKENDS];

struct workload {
	const char *rw;
	bool write;
	unsigned int qd; /* per queue */
};

struct sample {
	double iops, mean_us, p99_us, cpu_us;
};

struct opts {
	unsigned int runs, n, warmup;
	int pin;
	bool use[NR_BACKENDS];
	bool inflight[2]; /* [0]: runs without the in-flight region, [1]: with */
	unsigned int queues[MAX_QLIST], nr_queues;
	unsigned int iothreads[MAX_QLIST], nr_iothreads; /* evvm's --iothreads */
	/* Every (queue count, evvm I/O threads) measured; qsd runs once per queue count. */
	struct row {
		unsigned int queues, iothreads;
		unsigned int qsd_row; /* the row of this queue count qsd runs in */
	} rows[MAX_ROWS];
	unsigned int nr_rows;
	const char *json;
	const char *bin[NR_BACKENDS];
	const char *qsd_aio;
	bool qsd_iothread;
	unsigned int qsd_poll_ns;
	const char *extra[NR_BACKENDS][MAX_EXTRA];
	unsigned int nr_extra[NR_BACKENDS];
	bool verbose;
};

/* ---- vhost_blk_proc.c: backend processes ---- */

/* A backend process. */
struct proc {
	pid_t pid;
	int out; /* memfd holding its stdout and stderr */
};

/* The last non-empty line of what process @p printed, for an error message. */
const char *proc_last_line(const struct proc *p);

/* Copy everything @p printed to stderr, under a line naming @what. */
void proc_dump(const struct proc *p, const char *what);

/*
 * fork/exec @argv with stdin /dev/null and stdout+stderr into a memfd, and
 * @keep_fd inherited; 0, or 1 after one line.
 */
int spawn(char *const *argv, int keep_fd, struct proc *p);

/* Wait for the backend's socket @sock to listen; 0, or 1 after one line. */
int proc_wait_listen(struct proc *p, const char *name, const char *sock);

/*
 * SIGTERM and reap the backend; 0, or 1 after one line when it did not exit
 * in time or (evvm) exited other than with status 0.
 */
int proc_stop(struct proc *p, int backend, bool verbose);

/* SIGKILL and reap the backend (a run failed). */
void proc_kill(struct proc *p);

/*
 * The last resort against a backend that stops answering where the
 * frontend waits without a timeout: SIGKILL @pid after @secs.
 */
void guard_arm(pid_t pid, unsigned int secs);

/* Disarm (before the backend is reaped); whether it fired. */
bool guard_disarm(void);

/* Run @argv to completion and put the first line of its output in @out ("" if none). */
void capture_line(char *const *argv, char *out, size_t max);

/*
 * The command line starting backend @b on @sock for @row (its queue count;
 * evvm: and I/O threads); argv (16 + MAX_EXTRA entries) points into @store.
 */
void backend_argv(const struct opts *o, int b, const char *sock, int disk_fd, const struct row *row,
		  char store[4][512], char **argv);

/* ---- vhost_blk_drive.c: the frontend session and its driver threads ---- */

/*
 * One run: connect to backend @name (process @backend) on @sock with
 * @queues queues, the in-flight region negotiated or refused (@inflight),
 * drive @w on every queue from a thread of its own (@o->warmup then
 * @o->n requests each, @seed), stop the rings. The figures in @out
 * (IOPS summed over the queues, latency over all requests). @deadline_s
 * bounds the whole run. 0, or 1 after one line.
 */
int session_run(const struct opts *o, const struct disk *d, const char *name, const char *sock,
		pid_t backend, unsigned int queues, bool inflight, const struct workload *w,
		unsigned int seed, unsigned int deadline_s, struct sample *out, const char *what);

#endif
