// SPDX-License-Identifier: MIT
#include <errno.h>

#include "gate.h"

int gate_init(struct vcpu_gate *g)
{
	int err;

	*g = (struct vcpu_gate){ .closed = false };
	err = pthread_mutex_init(&g->lock, NULL);
	if (err)
		return -err;
	err = pthread_cond_init(&g->cond, NULL);
	if (err) {
		pthread_mutex_destroy(&g->lock);
		return -err;
	}
	return 0;
}

void gate_destroy(struct vcpu_gate *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

void gate_enter(struct vcpu_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->running++;
	pthread_mutex_unlock(&g->lock);
}

void gate_leave(struct vcpu_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->running--;
	/* A closer may be waiting for this thread to park: it never will. */
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

bool gate_pass(struct vcpu_gate *g)
{
	bool go;

	/* The common case: one load, no lock. */
	if (!atomic_load(&g->closed))
		return !__atomic_load_n(&g->stopping, __ATOMIC_RELAXED);
	pthread_mutex_lock(&g->lock);
	if (atomic_load(&g->closed) && !g->stopping) {
		g->parked++;
		pthread_cond_broadcast(&g->cond);
		while (atomic_load(&g->closed) && !g->stopping)
			pthread_cond_wait(&g->cond, &g->lock);
		g->parked--;
	}
	go = !g->stopping;
	pthread_mutex_unlock(&g->lock);
	return go;
}

int gate_close(struct vcpu_gate *g, void (*kick)(void *opaque), void *opaque)
{
	int err = 0;

	pthread_mutex_lock(&g->lock);
	if (g->stopping) {
		pthread_mutex_unlock(&g->lock);
		return -ECANCELED;
	}
	if (atomic_load(&g->closed)) {
		pthread_mutex_unlock(&g->lock);
		return -EALREADY;
	}
	/* Closed before the kick: a kicked thread sees it at its next pass. */
	atomic_store(&g->closed, true);
	pthread_mutex_unlock(&g->lock);
	kick(opaque);
	pthread_mutex_lock(&g->lock);
	while (g->parked < g->running && !g->stopping)
		pthread_cond_wait(&g->cond, &g->lock);
	if (g->stopping) {
		atomic_store(&g->closed, false);
		err = -ECANCELED;
	}
	pthread_mutex_unlock(&g->lock);
	return err;
}

void gate_open(struct vcpu_gate *g)
{
	pthread_mutex_lock(&g->lock);
	atomic_store(&g->closed, false);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

bool gate_is_closed(struct vcpu_gate *g)
{
	return atomic_load(&g->closed);
}

void gate_stop(struct vcpu_gate *g)
{
	pthread_mutex_lock(&g->lock);
	__atomic_store_n(&g->stopping, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}
