// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>

static _Atomic int log_level = EVVM_LOG_WARN;
static _Atomic int log_fd = STDERR_FILENO;
static _Atomic bool log_show_level;
static _Atomic bool log_show_origin;
static _Atomic unsigned long log_lost;
static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void evvm_log_set_output(int fd, bool show_level)
{
	atomic_store(&log_fd, fd < 0 ? STDERR_FILENO : fd);
	atomic_store(&log_show_level, show_level);
}

void evvm_log_set_level(enum evvm_log_level level)
{
	atomic_store(&log_level, level);
}

void evvm_log_set_origin(bool show)
{
	atomic_store(&log_show_origin, show);
}

unsigned long evvm_log_lost(void)
{
	return atomic_load(&log_lost);
}

static void log_line(enum evvm_log_level level, const char *file, int lineno, const char *fmt,
		     va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "evvm: ");
	if (atomic_load(&log_show_level))
		n += snprintf(line + n, sizeof(line) - n, "[%s] ", level_names[level]);
	if (file && atomic_load(&log_show_origin))
		n += snprintf(line + n, sizeof(line) - n, "[%s:%d] ", file, lineno);
	if (n < (int)sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Diagnostics are best effort: a line the output does not take is counted, not retried. */
	if (write(atomic_load(&log_fd), line, n) != n)
		atomic_fetch_add(&log_lost, 1);
}

void evvm_log(enum evvm_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	log_line(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void evvm_log_at(enum evvm_log_level level, const char *file, int lineno, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > atomic_load(&log_level))
		return;
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
