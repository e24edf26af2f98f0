// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "proc.h"

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_read(struct buf *b, int fd, bool *open)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			*open = false;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, tmp, n);
	b->len += n;
	b->p[b->len] = '\0';
}

struct run_opts {
	const char *wait_for; /* then send @sig, or type @input */
	int sig;
	const char *input;
	bool tty; /* stdin is a pseudo-terminal */
	const struct run_step *steps;
	unsigned int nr_steps;
};

static void run(struct run_result *r, int timeout_s, const char *const args[],
		const struct run_opts *o)
{
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	const char *argv[64];
	int out[2], err[2], ws;
	struct buf bo = { 0 }, be = { 0 };
	bool oo = true, eo = true, acted = false;
	unsigned int step = 0;
	int master = -1, slave = -1;
	double deadline = now_s() + timeout_s * test_time_scale();
	size_t n = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	argv[n++] = evvm;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	if (o->tty)
		assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = o->tty ? slave : open("/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(evvm, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", evvm, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	if (slave >= 0)
		close(slave);

	while (oo || eo) {
		struct pollfd p[2] = { { oo ? out[0] : -1, POLLIN, 0 }, { eo ? err[0] : -1, POLLIN, 0 } };
		double left = deadline - now_s();

		if (left <= 0) {
			r->timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			buf_read(&bo, out[0], &oo);
		if (p[1].revents)
			buf_read(&be, err[0], &eo);
		while (step < o->nr_steps) {
			const struct run_step *st = &o->steps[step];
			const char *hay = st->stream == 2 ? be.p : bo.p;

			if (!hay || !strstr(hay, st->text))
				break;
			if (st->sig)
				kill(pid, st->sig);
			if (st->hook)
				st->hook(st->arg);
			step++;
		}
		if (o->wait_for && !acted && bo.p && strstr(bo.p, o->wait_for)) {
			if (o->input)
				assert_int_equal(write(master, o->input, strlen(o->input)),
						 (ssize_t)strlen(o->input));
			else
				kill(pid, o->sig);
			acted = true;
		}
	}
	close(out[0]);
	close(err[0]);
	waitpid(pid, &ws, 0);
	if (master >= 0)
		close(master);
	r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	r->out = bo.p ? bo.p : strdup("");
	r->err = be.p ? be.p : strdup("");
	if (r->timed_out)
		print_error("evvm timed out after %d s\nstdout:\n%s\nstderr:\n%s\n", timeout_s,
			    r->out, r->err);
}

void run_evvm(struct run_result *r, int timeout_s, const char *const args[])
{
	const struct run_opts o = { 0 };

	run(r, timeout_s, args, &o);
}

void run_evvm_signal(struct run_result *r, int timeout_s, const char *const args[],
		     const char *wait_for, int sig)
{
	const struct run_opts o = { .wait_for = wait_for, .sig = sig };

	run(r, timeout_s, args, &o);
}

void run_evvm_tty(struct run_result *r, int timeout_s, const char *const args[],
		  const char *wait_for, const char *input)
{
	const struct run_opts o = { .wait_for = wait_for, .input = input, .tty = true };

	run(r, timeout_s, args, &o);
}

void run_evvm_steps(struct run_result *r, int timeout_s, const char *const args[],
		    const struct run_step *steps, unsigned int nr_steps)
{
	const struct run_opts o = { .steps = steps, .nr_steps = nr_steps };

	run(r, timeout_s, args, &o);
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/*
 * EVVM_TEST_FILTER=NAME runs only that test of the program (cmocka's glob):
 * tools/run-tests runs, under tools/kvm-nested, just the tests that skipped
 * for want of /dev/kvm, not the whole program again.
 */
__attribute__((constructor)) static void test_filter_from_env(void)
{
	const char *name = getenv("EVVM_TEST_FILTER");

	if (name && *name)
		cmocka_set_test_filter(name);
}

void require_kvm(void)
{
	int fd;

	if (access("/dev/kvm", F_OK) != 0) {
		print_message("SKIP: /dev/kvm does not exist on this machine\n");
		skip();
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail_msg("/dev/kvm exists but cannot be opened: %s", strerror(errno));
	close(fd);
}

void require_tap_kvm(void)
{
	if (geteuid() != 0) {
		print_message("SKIP: network namespaces and taps need root\n");
		skip();
	}
	if (access("/dev/net/tun", F_OK) != 0) {
		print_message("SKIP: /dev/net/tun does not exist on this machine\n");
		skip();
	}
	require_kvm();
}

const char *guest_elf(void)
{
	return getenv("GUEST_ELF") ? getenv("GUEST_ELF") : "build/guest/evvm-guest.elf";
}

void assert_contains_(const char *hay, const char *needle, const char *what, const char *file,
		      int line)
{
	if (hay && strstr(hay, needle))
		return;
	print_error("%s:%d: %s does not contain \"%s\"; it is:\n%s\n", file, line, what, needle,
		    hay ? hay : "(null)");
	_fail(file, line);
}
