// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evvm/log.h>
#include <evvm/loop.h>

struct loop_watch {
	int fd;
	evvm_loop_fn fn;
	void *opaque;
	bool dead; /* deleted while its batch is being dispatched */
	struct loop_watch *next;
};

struct evvm_loop {
	int epfd;
	int stop_fd;
	atomic_bool stop;
	char name[32];
	struct loop_watch *watches;
	bool dispatching;
};

int loop_create(struct evvm_loop **out, const char *name)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct evvm_loop *loop;
	int err;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	strncpy(loop->name, name, sizeof(loop->name) - 1);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->stop_fd < 0)
		goto fail;
	ev.data.ptr = NULL; /* NULL marks the stop fd */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stop_fd, &ev) < 0)
		goto fail;
	*out = loop;
	return 0;
fail:
	err = -errno;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->stop_fd >= 0)
		close(loop->stop_fd);
	free(loop);
	return err;
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

int loop_mod(struct evvm_loop *loop, int fd, uint32_t events)
{
	struct loop_watch *w = loop_find(loop, fd);
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (!w)
		return -ENOENT;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int loop_run(struct evvm_loop *loop)
{
	struct epoll_event evs[16];

	while (!atomic_load(&loop->stop)) {
		int n = epoll_wait(loop->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("loop '%s': epoll_wait: %s", loop->name, evvm_strerror(errno));
			return -errno;
		}
		loop->dispatching = true;
		for (int i = 0; i < n && !atomic_load(&loop->stop); i++) {
			struct loop_watch *w = evs[i].data.ptr;

			if (w && !w->dead)
				w->fn(w->opaque, evs[i].events);
		}
		loop->dispatching = false;
		loop_reap(loop);
	}
	return 0;
}

void loop_stop(struct evvm_loop *loop)
{
	uint64_t one = 1;

	atomic_store(&loop->stop, true);
	/* The counter cannot overflow from this; a failed write still set the flag. */
	if (write(loop->stop_fd, &one, sizeof(one)) < 0)
		return;
}

void loop_destroy(struct evvm_loop *loop)
{
	if (!loop)
		return;
	for (struct loop_watch *w = loop->watches; w; w = w->next)
		w->dead = true;
	loop_reap(loop);
	close(loop->epfd);
	close(loop->stop_fd);
	free(loop);
}
