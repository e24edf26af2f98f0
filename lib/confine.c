// SPDX-License-Identifier: MIT
/* Every thread confines itself at its start: privileges first, then its seccomp list. */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdbool.h>

#include <evvm/confine.h>
#include <evvm/log.h>

static bool confine_active;

int confine_setup(const struct evvm_confine *c)
{
	int err = seccomp_setup(c->seccomp, c->devs);

	if (err)
		return err;
	privs_setup(&c->privs);
	confine_active = true;
	return 0;
}

int confine_thread(enum evvm_thread_kind kind)
{
	int err;

	if (!confine_active)
		return 0;
	/* Before the filter: the calls that drop privileges are in no list. */
	err = privs_thread_drop();
	return err ? err : seccomp_thread_enter(kind);
}

struct confine_start {
	enum evvm_thread_kind kind;
	void *(*fn)(void *);
	void *arg;
	sem_t done;
	int err;
};

static void *confine_trampoline(void *opaque)
{
	struct confine_start *s = opaque;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;
	int err = confine_thread(s->kind);

	s->err = err;
	sem_post(&s->done); /* @s is the creator's: not touched after this */
	return err ? NULL : fn(arg);
}

int confine_pthread_create(pthread_t *t, enum evvm_thread_kind kind, void *(*fn)(void *), void *arg)
{
	struct confine_start s = { .kind = kind, .fn = fn, .arg = arg };
	int err;

	if (sem_init(&s.done, 0, 0) < 0)
		return -errno;
	err = -pthread_create(t, NULL, confine_trampoline, &s);
	if (!err) {
		while (sem_wait(&s.done) < 0 && errno == EINTR)
			;
		err = s.err;
		if (err)
			pthread_join(*t, NULL);
	}
	sem_destroy(&s.done);
	return err;
}
