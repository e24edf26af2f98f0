// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>
#include <evvm/loop.h>

#define POLL_NS_INITIAL 4000 /* first window once polling pays off */
#define POLL_GROW	2
#define POLL_EPOCH	64  /* waits per measurement of polling on or off */
#define POLL_EVERY_MAX	128 /* epochs between trials of the other choice, at most */

/*
 * Whether polling pays, measured (QEMU's window rule alone cannot tell):
 * a busy-polling thread can slow down the very thing it waits for (a vCPU
 * on the same host CPU), so the event still arrives inside the window, and
 * the window stays at its maximum while each wait got longer. So the loop
 * measures the mean wait (from going idle to having events, capped at twice
 * the maximum window so a long idle spell does not decide) over an epoch
 * of POLL_EPOCH waits with polling and one without, and keeps polling only
 * if it shortened the wait by more than 2%. The choice is tried again after
 * @every epochs, and @every grows fourfold (up to POLL_EVERY_MAX) each time
 * the choice stands, so a losing choice costs at most 1/POLL_EVERY_MAX of the
 * time once things are steady.
 */
struct poll_judge {
	bool off;	     /* polling does not pay: sleep at once */
	bool trial;	     /* this epoch runs the other choice */
	unsigned int n;	     /* waits in this epoch */
	uint64_t sum_ns;     /* their total */
	uint64_t mean_ns[2]; /* last measured mean wait: [0] polling, [1] not */
	unsigned int epochs; /* since the last trial */
	unsigned int every;  /* epochs between trials */
	uint64_t trials;
};

struct loop_watch {
	int fd;
	evvm_loop_fn fn;
	void *opaque;
	bool dead; /* deleted while its batch is being dispatched */
	struct loop_watch *next;
};

/* A function queued by loop_call() from another thread. */
struct loop_call {
	int (*fn)(void *opaque);
	void *opaque;
	int ret;
	bool done;
	struct loop_call *next;
};

struct evvm_loop {
	int epfd;
	int wake_fd; /* stop requests and queued calls */
	atomic_bool stop;
	char name[32];
	struct loop_watch *watches;
	bool dispatching;

	uint64_t poll_max_ns;
	uint64_t poll_ns;
	struct poll_judge judge;

	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t call_done;
	struct loop_call *calls;
	bool running;
	pthread_t thread;

	_Atomic uint64_t wakeups, poll_hits, dispatches;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int loop_create(struct evvm_loop **out, const char *name)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct evvm_loop *loop;
	int err;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	strncpy(loop->name, name, sizeof(loop->name) - 1);
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->call_done, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wake_fd < 0)
		goto fail;
	/* data.ptr NULL marks the wake fd. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0)
		goto fail;
	*out = loop;
	return 0;
fail:
	err = -errno;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	free(loop);
	return err;
}

void loop_set_poll_max(struct evvm_loop *loop, unsigned int max_us)
{
	loop->poll_max_ns = max_us * 1000ULL;
	loop->poll_ns = 0;
	loop->judge = (struct poll_judge){ .every = 1 };
}

static struct loop_watch *loop_find(struct evvm_loop *loop, int fd)
{
	for (struct loop_watch *w = loop->watches; w; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int loop_add(struct evvm_loop *loop, int fd, uint32_t events, evvm_loop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct loop_watch *w;

	if (loop_find(loop, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct loop_watch){ .fd = fd, .fn = fn, .opaque = opaque, .next = loop->watches };
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		free(w);
		return err;
	}
	loop->watches = w;
	return 0;
}

int loop_mod(struct evvm_loop *loop, int fd, uint32_t events)
{
	struct loop_watch *w = loop_find(loop, fd);
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (!w)
		return -ENOENT;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

static void loop_reap(struct evvm_loop *loop)
{
	struct loop_watch **pp = &loop->watches;

	while (*pp) {
		struct loop_watch *w = *pp;

		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

int loop_del(struct evvm_loop *loop, int fd)
{
	struct loop_watch *w = loop_find(loop, fd);

	if (!w)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* A ready event for @w may still be in the current batch: free later. */
	w->dead = true;
	if (!loop->dispatching)
		loop_reap(loop);
	return 0;
}

static void loop_wake(struct evvm_loop *loop)
{
	uint64_t one = 1;

	/* Only fails if the counter would overflow, and then it is already readable. */
	if (write(loop->wake_fd, &one, sizeof(one)) < 0)
		return;
}

int loop_call(struct evvm_loop *loop, int (*fn)(void *opaque), void *opaque)
{
	struct loop_call c = { .fn = fn, .opaque = opaque };

	pthread_mutex_lock(&loop->lock);
	if (!loop->running || pthread_equal(loop->thread, pthread_self())) {
		pthread_mutex_unlock(&loop->lock);
		return fn(opaque);
	}
	c.next = loop->calls;
	loop->calls = &c;
	loop_wake(loop);
	while (!c.done)
		pthread_cond_wait(&loop->call_done, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	return c.ret;
}

static void loop_run_calls(struct evvm_loop *loop)
{
	struct loop_call *c;

	pthread_mutex_lock(&loop->lock);
	while ((c = loop->calls)) {
		loop->calls = c->next;
		pthread_mutex_unlock(&loop->lock);
		c->ret = c->fn(c->opaque);
		pthread_mutex_lock(&loop->lock);
		c->done = true;
	}
	pthread_cond_broadcast(&loop->call_done);
	pthread_mutex_unlock(&loop->lock);
}

static void loop_dispatch(struct evvm_loop *loop, struct epoll_event *evs, int n)
{
	loop->dispatching = true;
	for (int i = 0; i < n && !atomic_load(&loop->stop); i++) {
		struct loop_watch *w = evs[i].data.ptr;

		if (!w) {
			uint64_t v;

			if (read(loop->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				pr_warn("loop '%s': wake fd: %s", loop->name, evvm_strerror(errno));
			loop_run_calls(loop);
		} else if (!w->dead) {
			w->fn(w->opaque, evs[i].events);
			atomic_fetch_add_explicit(&loop->dispatches, 1, memory_order_relaxed);
		}
	}
	loop->dispatching = false;
	loop_reap(loop);
}

/* Does this wait poll? (The window's choice, or the other one during a trial.) */
static bool loop_polls(const struct evvm_loop *loop)
{
	return loop->poll_ns && loop->judge.off == loop->judge.trial;
}

/* One more wait of @block_ns for struct poll_judge's measurement. */
static void loop_judge_poll(struct evvm_loop *loop, uint64_t block_ns)
{
	struct poll_judge *j = &loop->judge;
	bool off;

	j->sum_ns += block_ns < 2 * loop->poll_max_ns ? block_ns : 2 * loop->poll_max_ns;
	if (++j->n < POLL_EPOCH)
		return;
	j->mean_ns[j->off != j->trial] = j->sum_ns / j->n;
	j->n = 0;
	j->sum_ns = 0;
	if (!j->trial) {
		j->trial = ++j->epochs >= j->every;
		return;
	}
	/* Both choices measured: polling must win by more than 2%. */
	off = j->mean_ns[0] * 50 >= j->mean_ns[1] * 49;
	j->every =
		off == j->off ? (j->every * 4 > POLL_EVERY_MAX ? POLL_EVERY_MAX : j->every * 4) : 1;
	j->off = off;
	j->trial = false;
	j->epochs = 0;
	j->trials++;
}

/* QEMU's rule: keep a window that caught the event, grow one that nearly did. */
static void loop_adjust_poll(struct evvm_loop *loop, uint64_t block_ns)
{
	/* Only waits with a window say whether polling pays. */
	if (loop->poll_ns)
		loop_judge_poll(loop, block_ns);
	if (block_ns <= loop->poll_ns)
		return;
	if (block_ns > loop->poll_max_ns) {
		loop->poll_ns = 0;
	} else if (loop->poll_ns < loop->poll_max_ns) {
		loop->poll_ns = loop->poll_ns ? loop->poll_ns * POLL_GROW : POLL_NS_INITIAL;
		if (loop->poll_ns > loop->poll_max_ns)
			loop->poll_ns = loop->poll_max_ns;
	}
}

/* Busy-poll for up to poll_ns; returns the number of ready events (0: none). */
static int loop_poll(struct evvm_loop *loop, struct epoll_event *evs, int max, uint64_t start)
{
	do {
		int n = epoll_wait(loop->epfd, evs, max, 0);

		if (n != 0)
			return n;
	} while (now_ns() - start < loop->poll_ns && !atomic_load(&loop->stop));
	return 0;
}

int loop_run(struct evvm_loop *loop)
{
	struct epoll_event evs[16];
	int err = 0;

	pthread_mutex_lock(&loop->lock);
	loop->running = true;
	loop->thread = pthread_self();
	pthread_mutex_unlock(&loop->lock);

	while (!atomic_load(&loop->stop)) {
		uint64_t start = loop->poll_max_ns ? now_ns() : 0;
		int n = 0;

		if (loop_polls(loop)) {
			n = loop_poll(loop, evs, 16, start);
			if (n > 0)
				atomic_fetch_add_explicit(&loop->poll_hits, 1,
							  memory_order_relaxed);
		}
		if (n == 0) {
			n = epoll_wait(loop->epfd, evs, 16, -1);
			if (n > 0)
				atomic_fetch_add_explicit(&loop->wakeups, 1, memory_order_relaxed);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_err("loop '%s': epoll_wait: %s", loop->name, evvm_strerror(err));
			break;
		}
		if (loop->poll_max_ns)
			loop_adjust_poll(loop, now_ns() - start);
		loop_dispatch(loop, evs, n);
	}

	pthread_mutex_lock(&loop->lock);
	loop->running = false;
	pthread_mutex_unlock(&loop->lock);
	/* Nobody waits forever on a call the loop will no longer run. */
	loop_run_calls(loop);
	return err;
}

void loop_stop(struct evvm_loop *loop)
{
	atomic_store(&loop->stop, true);
	loop_wake(loop);
}

void loop_get_stats(struct evvm_loop *loop, struct evvm_loop_stats *s)
{
	s->wakeups = atomic_load(&loop->wakeups);
	s->poll_hits = atomic_load(&loop->poll_hits);
	s->dispatches = atomic_load(&loop->dispatches);
	s->poll_ns = loop->poll_ns;
	s->polling = loop_polls(loop);
	s->poll_trials = loop->judge.trials;
	s->poll_mean_ns[0] = loop->judge.mean_ns[0];
	s->poll_mean_ns[1] = loop->judge.mean_ns[1];
}

void loop_destroy(struct evvm_loop *loop)
{
	if (!loop)
		return;
	for (struct loop_watch *w = loop->watches; w; w = w->next)
		w->dead = true;
	loop_reap(loop);
	close(loop->epfd);
	close(loop->wake_fd);
	pthread_cond_destroy(&loop->call_done);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}
