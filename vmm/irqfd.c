// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <evvm/confine.h>
#include <evvm/log.h>

#include "irqfd.h"

#define PIC_PINS 16
/* How often the user-mode injector looks for the EOI of a level line. */
#define EOI_POLL_NS 20000

static bool gsi_is_pin(uint32_t gsi)
{
	return gsi < IRQFD_PINS;
}

static struct irqfd_msi_route *msi_find(struct irqfd_table *t, uint32_t gsi)
{
	for (unsigned int i = 0; i < t->nr_msi; i++)
		if (t->msi[i].gsi == gsi)
			return &t->msi[i];
	return NULL;
}

/*
 * KVM_SET_GSI_ROUTING replaces the whole table: KVM's default pin routes
 * (GSI n -> IOAPIC pin n, and PIC pin n for n < 16) plus our MSIs.
 */
static int irqfd_push_routes(struct irqfd_table *t)
{
	unsigned int max = IRQFD_PINS + PIC_PINS + t->nr_msi, n = 0;
	struct kvm_irq_routing *r;
	int err = 0;

	if (t->user || t->vm_fd < 0)
		return 0;
	r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	for (uint32_t pin = 0; pin < IRQFD_PINS; pin++) {
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = pin,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = pin },
		};
		if (pin < PIC_PINS)
			r->entries[n++] = (struct kvm_irq_routing_entry){
				.gsi = pin,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER
								  : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = pin % 8 },
			};
	}
	for (unsigned int i = 0; i < t->nr_msi; i++)
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = t->msi[i].gsi,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)t->msi[i].addr,
				   .address_hi = t->msi[i].addr >> 32,
				   .data = t->msi[i].data },
		};
	r->nr = n;
	if (ioctl(t->vm_fd, KVM_SET_GSI_ROUTING, r) < 0) {
		err = -errno;
		pr_err("KVM_SET_GSI_ROUTING (%u routes): %s", n, evvm_strerror(err));
	}
	free(r);
	return err;
}

static void *irqfd_injector(void *arg);

int irqfd_table_init(struct irqfd_table *t, int vm_fd, bool user)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->vm_fd = vm_fd;
	t->user = user;
	t->epfd = t->wake_fd = -1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->reaped, NULL);
	if (!user)
		return 0;

	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->epfd < 0 || t->wake_fd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0)
		return -errno;
	err = confine_pthread_create(&t->thread, EVVM_THREAD_IRQFD, irqfd_injector, t);
	if (err)
		return err;
	t->thread_started = true;
	return 0;
}

static int irqfd_kvm(struct irqfd_table *t, const struct irqfd *q, bool deassign)
{
	struct kvm_irqfd k = {
		.fd = q->fd,
		.gsi = q->gsi,
		.flags = deassign	       ? KVM_IRQFD_FLAG_DEASSIGN
			 : q->resample_fd >= 0 ? KVM_IRQFD_FLAG_RESAMPLE
					       : 0,
		.resamplefd = (!deassign && q->resample_fd >= 0) ? q->resample_fd : 0,
	};

	if (t->vm_fd < 0)
		return 0;
	if (ioctl(t->vm_fd, KVM_IRQFD, &k) < 0) {
		int err = -errno;

		pr_err("KVM_IRQFD %s gsi %u: %s", deassign ? "deassign" : "assign", q->gsi,
		       evvm_strerror(err));
		return err;
	}
	return 0;
}

void irqfd_table_destroy(struct irqfd_table *t)
{
	if (t->thread_started) {
		uint64_t one = 1;

		atomic_store(&t->stop, true);
		if (write(t->wake_fd, &one, sizeof(one)) < 0)
			pr_warn("irqfd injector: wake: %s", evvm_strerror(errno));
		pthread_join(t->thread, NULL);
	}
	for (unsigned int i = 0; i < t->nr; i++) {
		if (!t->user)
			irqfd_kvm(t, t->entries[i], true);
		free(t->entries[i]);
	}
	t->nr = 0;
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	pthread_cond_destroy(&t->reaped);
	pthread_mutex_destroy(&t->lock);
}

int irqfd_route_msi(struct irqfd_table *t, uint64_t addr, uint32_t data, uint32_t *gsi)
{
	uint32_t g = IRQFD_PINS;
	int err;

	pthread_mutex_lock(&t->lock);
	if (t->nr_msi == IRQFD_MSI_MAX) {
		pthread_mutex_unlock(&t->lock);
		return -ENOSPC;
	}
	while (msi_find(t, g))
		g++;
	t->msi[t->nr_msi++] = (struct irqfd_msi_route){ g, addr, data };
	err = irqfd_push_routes(t);
	if (err)
		t->nr_msi--;
	else
		*gsi = g;
	pthread_mutex_unlock(&t->lock);
	return err;
}

int irqfd_route_update(struct irqfd_table *t, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct irqfd_msi_route *m, old;
	int err;

	pthread_mutex_lock(&t->lock);
	m = msi_find(t, gsi);
	if (!m) {
		pthread_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	old = *m;
	m->addr = addr;
	m->data = data;
	err = irqfd_push_routes(t);
	if (err)
		*m = old;
	pthread_mutex_unlock(&t->lock);
	return err;
}

int irqfd_route_remove(struct irqfd_table *t, uint32_t gsi)
{
	struct irqfd_msi_route *m;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	m = msi_find(t, gsi);
	if (!m)
		err = -ENOENT;
	for (unsigned int i = 0; !err && i < t->nr; i++)
		if (t->entries[i]->gsi == gsi)
			err = -EBUSY;
	if (!err) {
		*m = t->msi[--t->nr_msi];
		err = irqfd_push_routes(t);
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* User mode: raise the interrupt @q stands for. Called with the lock held. */
static void irqfd_inject(struct irqfd_table *t, struct irqfd *q)
{
	struct irqfd_msi_route *m = msi_find(t, q->gsi);
	int r;

	if (m) {
		struct kvm_msi msi = { .address_lo = (uint32_t)m->addr,
				       .address_hi = m->addr >> 32,
				       .data = m->data };

		r = ioctl(t->vm_fd, KVM_SIGNAL_MSI, &msi);
	} else {
		struct kvm_irq_level up = { .irq = q->gsi, .level = 1 };
		struct kvm_irq_level down = { .irq = q->gsi, .level = 0 };

		/* A pulse: edge pins see one edge; level pins see one assertion until EOI. */
		r = ioctl(t->vm_fd, KVM_IRQ_LINE, &up);
		if (r >= 0)
			r = ioctl(t->vm_fd, KVM_IRQ_LINE, &down);
		if (q->resample_fd >= 0)
			q->in_service = true;
	}
	if (r < 0)
		pr_err("irqfd gsi %u: inject: %s", q->gsi, evvm_strerror(errno));
	else
		atomic_fetch_add_explicit(&q->injected, 1, memory_order_relaxed);
}

/* User mode, level lines: after the guest's EOI, resample. Lock held. */
static bool irqfd_check_eois(struct irqfd_table *t)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	bool waiting = false;
	uint64_t one = 1;

	for (unsigned int i = 0; i < t->nr; i++)
		waiting |= t->entries[i]->in_service;
	if (!waiting)
		return false;
	if (ioctl(t->vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
		pr_err("KVM_GET_IRQCHIP: %s", evvm_strerror(errno));
		return false;
	}
	waiting = false;
	for (unsigned int i = 0; i < t->nr; i++) {
		struct irqfd *q = t->entries[i];

		if (!q->in_service)
			continue;
		if (chip.chip.ioapic.redirtbl[q->gsi].fields.remote_irr) {
			waiting = true;
			continue;
		}
		q->in_service = false;
		if (write(q->resample_fd, &one, sizeof(one)) < 0)
			pr_warn("irqfd gsi %u: resample: %s", q->gsi, evvm_strerror(errno));
	}
	return waiting;
}

static bool irqfd_is_dead(struct irqfd_table *t, struct irqfd *q)
{
	for (struct irqfd *d = t->graveyard; d; d = d->next_dead)
		if (d == q)
			return true;
	return false;
}

static void *irqfd_injector(void *arg)
{
	struct irqfd_table *t = arg;
	struct timespec poll = { 0, EOI_POLL_NS };
	bool waiting = false;

	while (!atomic_load(&t->stop)) {
		struct epoll_event evs[16];
		int n = epoll_pwait2(t->epfd, evs, 16, waiting ? &poll : NULL, NULL);

		if (n < 0 && errno != EINTR) {
			pr_err("irqfd injector: epoll: %s", evvm_strerror(errno));
			break;
		}
		pthread_mutex_lock(&t->lock);
		for (int i = 0; i < n; i++) {
			struct irqfd *q = evs[i].data.ptr;
			uint64_t v;

			if (!q) {
				if (read(t->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					pr_warn("irqfd injector: wake: %s", evvm_strerror(errno));
				continue;
			}
			/* Deassigned since epoll_wait returned: in the graveyard, skip. */
			if (irqfd_is_dead(t, q))
				continue;
			if (read(q->fd, &v, sizeof(v)) == sizeof(v))
				irqfd_inject(t, q);
		}
		waiting = irqfd_check_eois(t);
		/* This batch is done: nothing names the deassigned entries any more. */
		while (t->graveyard) {
			struct irqfd *q = t->graveyard;

			t->graveyard = q->next_dead;
			free(q);
		}
		pthread_cond_broadcast(&t->reaped);
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

static int irqfd_user_watch(struct irqfd_table *t, struct irqfd *q, bool add)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = q };
	uint64_t one = 1;

	if (epoll_ctl(t->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, q->fd, &ev) < 0)
		return -errno;
	/* Let the injector re-evaluate (e.g. an already-signalled eventfd). */
	if (write(t->wake_fd, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

int irqfd_assign(struct irqfd_table *t, int fd, uint32_t gsi, int resample_fd, struct irqfd **out)
{
	struct irqfd *q;
	int err = 0;

	if (fd < 0)
		return -EBADF;
	pthread_mutex_lock(&t->lock);
	if (!gsi_is_pin(gsi) && !msi_find(t, gsi))
		err = -EINVAL;
	else if (!gsi_is_pin(gsi) && resample_fd >= 0)
		err = -EINVAL; /* MSIs have no EOI to resample on */
	for (unsigned int i = 0; !err && i < t->nr; i++)
		if (t->entries[i]->fd == fd)
			err = -EBUSY;
	if (!err && t->nr == IRQFD_MAX)
		err = -ENOSPC;
	if (err)
		goto out;
	q = calloc(1, sizeof(*q));
	if (!q) {
		err = -ENOMEM;
		goto out;
	}
	q->fd = fd;
	q->gsi = gsi;
	q->resample_fd = resample_fd;
	err = t->user ? irqfd_user_watch(t, q, true) : irqfd_kvm(t, q, false);
	if (err) {
		free(q);
		goto out;
	}
	t->entries[t->nr++] = q;
	if (out)
		*out = q;
out:
	pthread_mutex_unlock(&t->lock);
	return err;
}

int irqfd_deassign(struct irqfd_table *t, int fd, uint32_t gsi)
{
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	for (unsigned int i = 0; i < t->nr; i++) {
		struct irqfd *q = t->entries[i];

		if (q->fd != fd || q->gsi != gsi)
			continue;
		err = t->user ? irqfd_user_watch(t, q, false) : irqfd_kvm(t, q, true);
		if (err)
			break;
		t->retired_signals += atomic_load(&q->signals);
		t->retired_injected += atomic_load(&q->injected);
		t->entries[i] = t->entries[--t->nr];
		if (!t->user) {
			free(q);
			break;
		}
		/* An event for @q may be in the injector's batch: let it free @q. */
		q->next_dead = t->graveyard;
		t->graveyard = q;
		while (t->graveyard)
			pthread_cond_wait(&t->reaped, &t->lock);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

void irqfd_totals(struct irqfd_table *t, uint64_t *signals, uint64_t *injected)
{
	pthread_mutex_lock(&t->lock);
	*signals = t->retired_signals;
	*injected = t->retired_injected;
	for (unsigned int i = 0; i < t->nr; i++) {
		*signals += atomic_load(&t->entries[i]->signals);
		*injected += atomic_load(&t->entries[i]->injected);
	}
	pthread_mutex_unlock(&t->lock);
}

void irqfd_snapshot(struct irqfd_table *t, struct irqfd_snapshot *s)
{
	pthread_mutex_lock(&t->lock);
	s->user = t->user;
	s->signals = t->retired_signals;
	s->injected = t->retired_injected;
	s->nr = t->nr;
	for (unsigned int i = 0; i < t->nr; i++) {
		const struct irqfd *q = t->entries[i];

		s->e[i] = (struct irqfd_stat){ .gsi = q->gsi,
					       .level = q->resample_fd >= 0,
					       .signals = atomic_load(&q->signals),
					       .injected = atomic_load(&q->injected) };
		s->signals += s->e[i].signals;
		s->injected += s->e[i].injected;
	}
	pthread_mutex_unlock(&t->lock);
}

int irqfd_signal(struct irqfd *q)
{
	uint64_t one = 1;

	atomic_fetch_add_explicit(&q->signals, 1, memory_order_relaxed);
	if (write(q->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}
