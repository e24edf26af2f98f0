// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>

/*
 * The process' one log sink: nothing (the default, so a library never
 * prints unasked), an fd, or the embedder's callback. Lines are formatted
 * before the lock is taken; the read lock only keeps the sink from
 * changing under a line being delivered.
 */
static _Atomic int log_level = EVVM_LOG_WARN;
static pthread_rwlock_t sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static int sink_fd = -1;
static bool sink_show_level;
static evvm_log_fn sink_fn;
static void *sink_opaque;
static _Atomic bool log_show_origin;
static _Atomic unsigned long log_lost;
static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

/* The first error line of this thread while a capture is set (evvm_log_capture()). */
static _Thread_local char *capture_buf;
static _Thread_local size_t capture_size;

void evvm_log_set_output(int fd, bool show_level)
{
	pthread_rwlock_wrlock(&sink_lock);
	sink_fd = fd < 0 ? STDERR_FILENO : fd;
	sink_show_level = show_level;
	sink_fn = NULL;
	sink_opaque = NULL;
	pthread_rwlock_unlock(&sink_lock);
}

void evvm_log_set_callback(evvm_log_fn fn, void *opaque)
{
	pthread_rwlock_wrlock(&sink_lock);
	sink_fd = -1;
	sink_fn = fn;
	sink_opaque = fn ? opaque : NULL;
	pthread_rwlock_unlock(&sink_lock);
}

void evvm_log_set_level(enum evvm_log_level level)
{
	atomic_store(&log_level, level);
}

void evvm_log_capture(char *buf, size_t size)
{
	capture_buf = size ? buf : NULL;
	capture_size = size;
	if (capture_buf)
		buf[0] = '\0';
}

void evvm_log_set_origin(bool show)
{
	atomic_store(&log_show_origin, show);
}

unsigned long evvm_log_lost(void)
{
	return atomic_load(&log_lost);
}

/* One line to the fd: "evvm: [LEVEL] msg\n" in a single write(2). */
static void write_line(int fd, bool show_level, enum evvm_log_level level, const char *msg)
{
	char line[1100];
	int n;

	n = snprintf(line, sizeof(line), "evvm: %s%s%s%s\n", show_level ? "[" : "",
		     show_level ? level_names[level] : "", show_level ? "] " : "", msg);
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* Diagnostics are best effort: a line the output does not take is counted, not retried. */
	if (write(fd, line, n) != n)
		atomic_fetch_add(&log_lost, 1);
}

static void log_line(enum evvm_log_level level, const char *file, int lineno, const char *fmt,
		     va_list ap)
{
	char msg[1024];
	int n = 0;

	if ((int)level > atomic_load(&log_level) && !(level == EVVM_LOG_ERR && capture_buf))
		return;
	if (file && atomic_load(&log_show_origin))
		n = snprintf(msg, sizeof(msg), "[%s:%d] ", file, lineno);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	if (level == EVVM_LOG_ERR && capture_buf && !capture_buf[0])
		snprintf(capture_buf, capture_size, "%s", msg + n);
	if ((int)level > atomic_load(&log_level))
		return;
	pthread_rwlock_rdlock(&sink_lock);
	if (sink_fn)
		sink_fn(sink_opaque, level, msg);
	else if (sink_fd >= 0)
		write_line(sink_fd, sink_show_level, level, msg);
	pthread_rwlock_unlock(&sink_lock);
}

void evvm_log(enum evvm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void evvm_log_at(enum evvm_log_level level, const char *file, int lineno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, file, lineno, fmt, ap);
	va_end(ap);
}

const char *evvm_strerror(int err)
{
	static _Thread_local char buf[96];
	const char *name, *desc;

	if (err < 0)
		err = -err;
	name = strerrorname_np(err);
	desc = strerrordesc_np(err);
	snprintf(buf, sizeof(buf), "%s (%s)", name ? name : "E?", desc ? desc : "unknown error");
	return buf;
}

bool evvm_ratelimit(struct evvm_ratelimit *rl, unsigned long *dropped)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	*dropped = 0;
	if (ts.tv_sec != rl->sec) {
		*dropped = rl->dropped;
		rl->sec = ts.tv_sec;
		rl->lines = 0;
		rl->dropped = 0;
	}
	if (rl->lines >= rl->burst) {
		rl->dropped++;
		return false;
	}
	rl->lines++;
	return true;
}
