/* SPDX-License-Identifier: MIT */
#ifndef EVVM_LOG_H
#define EVVM_LOG_H

#include <stdbool.h>

/*
 * Diagnostics on stderr, one line per call, prefixed "evvm: ". A line is
 * written with a single write(2), so lines from several threads never mix.
 */

enum evvm_log_level {
	EVVM_LOG_ERR,
	EVVM_LOG_WARN,
	EVVM_LOG_INFO,
	EVVM_LOG_DEBUG,
};

/* Lines above @level are dropped. Default EVVM_LOG_WARN. */
void evvm_log_set_level(enum evvm_log_level level);

/*
 * Write lines to @fd (not owned; -1: stderr again), prefixed with
 * "[LEVEL] " after "evvm: " when @show_level. Thread-safe.
 */
void evvm_log_set_output(int fd, bool show_level);

/* Also show where each line comes from ("[file.c:123] ") when @show. Thread-safe. */
void evvm_log_set_origin(bool show);

/* Lines the output did not take (a full pipe, a closed file) since the start. */
unsigned long evvm_log_lost(void);

/* Format and write one line (a trailing newline is added). */
void evvm_log(enum evvm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The same, from @file:@line (what the pr_*() macros pass). */
void evvm_log_at(enum evvm_log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * At most @burst lines a second for messages a guest or a peer can cause.
 * evvm_ratelimit() says whether the next line may be written; when a new
 * second begins it sets *@dropped to how many the last one held back (0 if
 * none), for the caller to report in its own words.
 */
struct evvm_ratelimit {
	unsigned int burst;
	long sec;
	unsigned int lines;
	unsigned long dropped;
};

#define EVVM_RATELIMIT_INIT(n)          \
	{                               \
		.burst = (n), .sec = -1 \
	}

bool evvm_ratelimit(struct evvm_ratelimit *rl, unsigned long *dropped);

/* "ENOENT (No such file or directory)" for -ENOENT or ENOENT; static storage. */
const char *evvm_strerror(int err);

#define pr_err(...)   evvm_log_at(EVVM_LOG_ERR, __FILE__, __LINE__, __VA_ARGS__)
#define pr_warn(...)  evvm_log_at(EVVM_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define pr_info(...)  evvm_log_at(EVVM_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define pr_debug(...) evvm_log_at(EVVM_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
