// SPDX-License-Identifier: MIT
/*
 * bench/vhost-blk's backend processes: started with their output in a
 * memfd, awaited until their socket listens, stopped with SIGTERM, killed
 * by a guard timer if they stop answering. See vhost_blk.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>

#include "bench.h"
#include "vhost_blk.h"

/* The last non-empty line of what process @p printed, for an error message. */
const char *proc_last_line(const struct proc *p)
{
	static char buf[4096];
	ssize_t n;
	off_t size;
	char *e;

	size = lseek(p->out, 0, SEEK_END);
	if (size <= 0)
		return "(it printed nothing)";
	n = pread(p->out, buf, sizeof(buf) - 1,
		  size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return "(its output cannot be read)";
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	e = strrchr(buf, '\n');
	return e ? e + 1 : buf;
}

void proc_dump(const struct proc *p, const char *what)
{
	char buf[4096];
	ssize_t n;
	off_t off = 0;

	while ((n = pread(p->out, buf, sizeof(buf), off)) > 0) {
		if (!off)
			fprintf(stderr, "vhost-blk: %s printed:\n", what);
		fwrite(buf, 1, n, stderr);
		off += n;
	}
}

/*
 * fork/exec @argv with stdin /dev/null and stdout+stderr into a memfd, and
 * @keep_fd inherited; 0, or 1 after one line.
 */
int spawn(char *const *argv, int keep_fd, struct proc *p)
{
	int devnull;

	p->pid = -1;
	p->out = memfd_create("vhost-blk-backend-out", MFD_CLOEXEC);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (p->out < 0 || devnull < 0) {
		fprintf(stderr, "vhost-blk: starting %s: %s\n", argv[0], evvm_strerror(errno));
		goto fail;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		fprintf(stderr, "vhost-blk: fork: %s\n", evvm_strerror(errno));
		goto fail;
	}
	if (p->pid == 0) {
		/* The backend goes with the bench, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(devnull, 0) < 0 || dup2(p->out, 1) < 0 || dup2(p->out, 2) < 0)
			_exit(127);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		execvp(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(devnull);
	return 0;
fail:
	if (devnull >= 0)
		close(devnull);
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
	return 1;
}

/* Whether a unix socket bound to @path is listening (from /proc/net/unix). */
static bool socket_listening(const char *path)
{
	char line[512], name[256];
	unsigned int flags;
	bool found = false;
	FILE *f = fopen("/proc/net/unix", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %255s", &flags, name) == 2 &&
		    (flags & 0x10000 /* __SO_ACCEPTCON */) && !strcmp(name, path))
			found = true;
	fclose(f);
	return found;
}

/* "exited with status N" / "killed by signal N" for a wait status. */
static const char *status_str(int status)
{
	static char buf[64];

	if (WIFEXITED(status))
		snprintf(buf, sizeof(buf), "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof(buf), "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, sizeof(buf), "ended with wait status 0x%x", status);
	return buf;
}

/* Wait up to START_SECS for @p to exit; its status, or -1 if it did not (then it is killed). */
static int proc_wait(struct proc *p)
{
	double deadline = now_ns() + START_SECS * 1e9;
	int status;

	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid) {
			p->pid = -1;
			return status;
		}
		if (r < 0 && errno != EINTR) {
			p->pid = -1;
			return -1;
		}
		if (now_ns() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = -1;
			return -1;
		}
		usleep(1000);
	}
}

/* Wait for the backend's socket to listen; 0, or 1 after one line. */
int proc_wait_listen(struct proc *p, const char *name, const char *sock)
{
	double deadline = now_ns() + START_SECS * 1e9;
	int status;

	for (;;) {
		if (socket_listening(sock))
			return 0;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = -1;
			fprintf(stderr, "vhost-blk: %s %s before listening on %s: %s\n", name,
				status_str(status), sock, proc_last_line(p));
			return 1;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "vhost-blk: %s did not listen on %s within %d s: %s\n",
				name, sock, START_SECS, proc_last_line(p));
			return 1;
		}
		usleep(1000);
	}
}

/*
 * SIGTERM and reap the backend; 0, or 1 after one line when it did not exit
 * in time or (evvm) exited other than with status 0 (qsd may also die of
 * the SIGTERM itself).
 */
int proc_stop(struct proc *p, int backend, bool verbose)
{
	const char *name = backend_names[backend];
	int status, rc = 0;

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		status = proc_wait(p);
		if (status == -1) {
			fprintf(stderr, "vhost-blk: %s did not exit within %d s of SIGTERM\n", name,
				START_SECS);
			rc = 1;
		} else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
			   !(backend == QSD && WIFSIGNALED(status) &&
			     WTERMSIG(status) == SIGTERM)) {
			fprintf(stderr, "vhost-blk: %s %s on SIGTERM: %s\n", name,
				status_str(status), proc_last_line(p));
			rc = 1;
		}
	}
	if (verbose && p->out >= 0)
		proc_dump(p, name);
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
	return rc;
}

/* SIGKILL and reap the backend (a run failed: its exit status says nothing more). */
void proc_kill(struct proc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	p->pid = -1;
}

/*
 * The last resort against a backend that stops answering where the
 * frontend waits without a timeout (the handshake, GET_VRING_BASE): after
 * the deadline, SIGKILL it, which makes every such wait fail.
 */
static struct {
	pthread_mutex_t lock;
	pid_t pid; /* -1: disarmed */
	bool fired, armed;
	timer_t timer;
} guard = { .lock = PTHREAD_MUTEX_INITIALIZER, .pid = -1 };

static void guard_fire(union sigval v)
{
	(void)v;
	pthread_mutex_lock(&guard.lock);
	if (guard.pid > 0) {
		kill(guard.pid, SIGKILL);
		guard.fired = true;
	}
	pthread_mutex_unlock(&guard.lock);
}

void guard_arm(pid_t pid, unsigned int secs)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD };
	struct itimerspec its = { .it_value.tv_sec = secs };

	sev.sigev_notify_function = guard_fire;
	pthread_mutex_lock(&guard.lock);
	guard.pid = pid;
	guard.fired = false;
	pthread_mutex_unlock(&guard.lock);
	guard.armed = !timer_create(CLOCK_MONOTONIC, &sev, &guard.timer);
	if (guard.armed && timer_settime(guard.timer, 0, &its, NULL)) {
		timer_delete(guard.timer);
		guard.armed = false;
	}
}

/* Disarm (before the backend is reaped); whether it fired. */
bool guard_disarm(void)
{
	bool fired;

	if (guard.armed)
		timer_delete(guard.timer);
	guard.armed = false;
	pthread_mutex_lock(&guard.lock);
	guard.pid = -1;
	fired = guard.fired;
	pthread_mutex_unlock(&guard.lock);
	return fired;
}

/* Run @argv to completion and return the first line of its output ("" if none). */
void capture_line(char *const *argv, char *out, size_t max)
{
	struct proc p;
	ssize_t n;
	char *e;

	out[0] = '\0';
	if (spawn(argv, -1, &p))
		return;
	if (proc_wait(&p) >= 0) {
		n = pread(p.out, out, max - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		e = strchr(out, '\n');
		if (e)
			*e = '\0';
	}
	close(p.out);
}

/* The command line starting backend @b on @sock; argv points into @store. */
void backend_argv(const struct opts *o, int b, const char *sock, int disk_fd, const struct row *row,
		  char store[4][512], char **argv)
{
	unsigned int i = 0, queues = row->queues;

	argv[i++] = (char *)o->bin[b];
	if (b == EVVM) {
		snprintf(store[0], sizeof(store[0]), "path=/proc/self/fd/%d", disk_fd);
		snprintf(store[1], sizeof(store[1]), "--iothreads=%u", row->iothreads);
		argv[i++] = "vhost-user-blk";
		argv[i++] = "--socket";
		argv[i++] = (char *)sock;
		argv[i++] = "--disk";
		argv[i++] = store[0];
		argv[i++] = store[1];
	} else {
		/*
		 * The file node: buffered (cache.direct=off, as evvm's blk opens
		 * its file), with the chosen aio; aio=native needs O_DIRECT.
		 */
		snprintf(
			store[0], sizeof(store[0]),
			"driver=file,node-name=f0,filename=/proc/self/fd/%d,aio=%s,cache.direct=%s",
			disk_fd, o->qsd_aio, strcmp(o->qsd_aio, "native") ? "off" : "on");
		snprintf(store[1], sizeof(store[1]), "iothread,id=iot0,poll-max-ns=%u",
			 o->qsd_poll_ns);
		snprintf(store[2], sizeof(store[2]),
			 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,"
			 "writable=on,num-queues=%u%s",
			 sock, queues, o->qsd_iothread ? ",iothread=iot0" : "");
		argv[i++] = "--blockdev";
		argv[i++] = store[0];
		argv[i++] = "--blockdev";
		argv[i++] = "driver=raw,node-name=d0,file=f0";
		if (o->qsd_iothread) {
			argv[i++] = "--object";
			argv[i++] = store[1];
		}
		argv[i++] = "--export";
		argv[i++] = store[2];
	}
	for (unsigned int e = 0; e < o->nr_extra[b]; e++)
		argv[i++] = (char *)o->extra[b][e];
	argv[i] = NULL;
}
