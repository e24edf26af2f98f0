// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/confine.h>
#include <evvm/iothread.h>
#include <evvm/log.h>

struct evvm_iothread {
	struct evvm_loop *loop;
	pthread_t thread;
	char name[16];
};

static void *iothread_main(void *arg)
{
	struct evvm_iothread *t = arg;

	pthread_setname_np(pthread_self(), t->name);
	loop_run(t->loop);
	return NULL;
}

int iothread_create(const char *name, unsigned int poll_max_us, struct evvm_iothread **out)
{
	struct evvm_iothread *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	strncpy(t->name, name, sizeof(t->name) - 1);
	err = loop_create(&t->loop, name);
	if (err) {
		free(t);
		return err;
	}
	loop_set_poll_max(t->loop, poll_max_us);
	/* Confined (docs/seccomp.md) before its loop serves a device. */
	err = confine_pthread_create(&t->thread, EVVM_THREAD_IO, iothread_main, t);
	if (err) {
		pr_err("I/O thread '%s': start: %s", name, evvm_strerror(err));
		loop_destroy(t->loop);
		free(t);
		return err;
	}
	*out = t;
	return 0;
}

struct evvm_loop *iothread_loop(struct evvm_iothread *t)
{
	return t->loop;
}

void iothread_destroy(struct evvm_iothread *t)
{
	if (!t)
		return;
	loop_stop(t->loop);
	pthread_join(t->thread, NULL);
	loop_destroy(t->loop);
	free(t);
}
