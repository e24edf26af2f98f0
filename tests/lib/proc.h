/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_PROC_H
#define EVVM_TESTS_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "timescale.h"

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);

/* The whole of a (small) file, NUL-terminated, malloc'd; "" if it cannot be read. */
char *slurp(const char *path);

/*
 * Start @argv[0] (searched in PATH) with stdin /dev/null and stdout+stderr
 * to @log, or to the test's own if @log is NULL.
 */
pid_t spawn(const char *const argv[], const char *log);

/* Wait up to @timeout_s for @pid; its exit status (128+signal) or -1 if still running. */
int wait_exit(pid_t pid, double timeout_s);

/* A command's exit status (-1 on timeout, then killed); output to @log. */
int run_cmd(const char *const argv[], const char *log, int timeout_s);

/*
 * Wait up to @timeout_s until @pid listens on the unix socket @path. False
 * if it did not: then *@status is its exit status, or -1 if it still runs.
 */
bool wait_listening(pid_t pid, const char *path, double timeout_s, int *status);

#endif
