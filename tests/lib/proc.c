// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc.h"

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *p = NULL;
	size_t len = 0, cap = 0, n;

	if (f) {
		do {
			if (len + 4096 + 1 > cap) {
				cap = (len + 4096 + 1) * 2;
				p = realloc(p, cap);
				assert_non_null(p);
			}
			n = fread(p + len, 1, 4096, f);
			len += n;
		} while (n > 0);
		fclose(f);
	}
	if (!p)
		return strdup("");
	p[len] = '\0';
	return p;
}

pid_t spawn(const char *const argv[], const char *log)
{
	int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	pid_t pid;

	assert_true(!log || fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		dup2(in, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (fd >= 0)
		close(fd);
	return pid;
}

int wait_exit(pid_t pid, double timeout_s)
{
	double deadline = now_s() + timeout_s * test_time_scale();
	int ws;

	for (;;) {
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid)
			return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		assert_true(r == 0);
		if (now_s() >= deadline)
			return -1;
		usleep(20000);
	}
}

int run_cmd(const char *const argv[], const char *log, int timeout_s)
{
	pid_t pid = spawn(argv, log);
	int st = wait_exit(pid, timeout_s);

	if (st < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return st;
}

/*
 * From @pid's /proc/PID/net/unix, not the socket file: the file exists from
 * bind(), before listen(), and unix sockets are listed per network namespace
 * (the net backends may run in one of their own).
 */
static bool listening(pid_t pid, const char *path)
{
	char proc[64], line[512];
	FILE *f;
	bool found = false;

	snprintf(proc, sizeof(proc), "/proc/%d/net/unix", (int)pid);
	f = fopen(proc, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char name[256] = "";

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, name) == 2 &&
		    strcmp(name, path) == 0 && (flags & 0x10000)) /* __SO_ACCEPTCON */
			found = true;
	}
	fclose(f);
	return found;
}

bool wait_listening(pid_t pid, const char *path, double timeout_s, int *status)
{
	double deadline = now_s() + timeout_s * test_time_scale();

	while (!listening(pid, path)) {
		*status = wait_exit(pid, 0);
		if (*status >= 0 || now_s() > deadline)
			return false;
		usleep(10000);
	}
	return true;
}
