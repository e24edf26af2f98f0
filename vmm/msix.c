// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "le.h"
#include "msix.h"
#include "pci.h"

#define MSIX_CTRL_ENABLE    0x8000
#define MSIX_CTRL_FUNC_MASK 0x4000
#define MSIX_VEC_MASKED	    1u
#define LAPIC_MSI_MASK	    0xfff00000u
#define LAPIC_MSI_BASE	    0xfee00000u

int msix_init(struct msix *m, struct irqfd_table *irqfds, unsigned int nr, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->irqfds = irqfds;
	snprintf(m->name, sizeof(m->name), "%s", name);
	pthread_mutex_init(&m->lock, NULL);
	m->rl = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(5);
	for (unsigned int i = 0; i < MSIX_MAX_VECTORS; i++)
		m->v[i].fd = -1;
	if (nr == 0 || nr > MSIX_MAX_VECTORS)
		return -EINVAL;
	m->nr = nr;
	for (unsigned int i = 0; i < nr; i++) {
		m->v[i].ctrl = MSIX_VEC_MASKED;
		m->v[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->v[i].fd < 0)
			return -errno;
	}
	return 0;
}

void msix_destroy(struct msix *m)
{
	for (unsigned int i = 0; i < MSIX_MAX_VECTORS; i++) {
		struct msix_vector *v = &m->v[i];

		if (v->irqfd)
			irqfd_deassign(m->irqfds, v->fd, v->gsi);
		if (v->routed)
			irqfd_route_remove(m->irqfds, v->gsi);
		if (v->fd >= 0)
			close(v->fd);
	}
	pthread_mutex_destroy(&m->lock);
}

int msix_cap_add(struct msix *m, struct pci_func *f, unsigned int bar, uint32_t table_off,
		 uint32_t pba_off)
{
	unsigned int c = pci_cap_add(f, MSIX_CAP_ID, MSIX_CAP_LEN);

	if (!c)
		return -ENOSPC;
	m->cap = c;
	m->table_off = table_off;
	m->pba_off = pba_off;
	put_le16(&f->cfg[c + 2], (uint16_t)(m->nr - 1));
	put_le16(&f->wmask[c + 2], MSIX_CTRL_ENABLE | MSIX_CTRL_FUNC_MASK);
	put_le32(&f->cfg[c + 4], table_off | bar);
	put_le32(&f->cfg[c + 8], pba_off | bar);
	return 0;
}

static bool vector_masked(const struct msix *m, const struct msix_vector *v)
{
	return !m->enabled || m->func_masked || (v->ctrl & MSIX_VEC_MASKED);
}

/*
 * Make vector @i's route match its table entry, binding its eventfd on
 * first use. False if it cannot deliver (bad address, no route): the
 * interrupt then stays pending. Lock held.
 */
static bool vector_route(struct msix *m, unsigned int i)
{
	struct msix_vector *v = &m->v[i];
	uint64_t addr = (uint64_t)v->addr_hi << 32 | v->addr_lo;
	unsigned long dropped;
	int err = 0;

	if ((addr & ~(uint64_t)0xfffff) != LAPIC_MSI_BASE) {
		if (evvm_ratelimit(&m->rl, &dropped))
			pr_warn("%s: MSI-X vector %u address 0x%llx is no local APIC's; held "
				"pending",
				m->name, i, (unsigned long long)addr);
		return false;
	}
	if (!v->routed) {
		err = irqfd_route_msi(m->irqfds, addr, v->data, &v->gsi);
		v->routed = !err;
	} else if (v->route_addr != addr || v->route_data != v->data) {
		err = irqfd_route_update(m->irqfds, v->gsi, addr, v->data);
	}
	if (!err && !v->irqfd)
		err = irqfd_assign(m->irqfds, v->fd, v->gsi, -1, &v->irqfd);
	if (err) {
		pr_warn("%s: MSI-X vector %u: route: %s", m->name, i, evvm_strerror(err));
		return false;
	}
	v->route_addr = addr;
	v->route_data = v->data;
	return true;
}

/*
 * Vector @i is not deliverable: its eventfd leaves KVM (or the injector),
 * so what another process writes there waits in the counter. Lock held.
 */
static void vector_unbind(struct msix *m, unsigned int i)
{
	struct msix_vector *v = &m->v[i];

	if (v->irqfd && irqfd_deassign(m->irqfds, v->fd, v->gsi))
		pr_warn("%s: MSI-X vector %u: unbind failed", m->name, i);
	v->irqfd = NULL;
}

/* Another process's interrupts that waited in the unbound eventfd: pending. Lock held. */
static void vector_collect(struct msix *m, unsigned int i)
{
	uint64_t n;

	if (!m->v[i].irqfd && read(m->v[i].fd, &n, sizeof(n)) == sizeof(n) && n)
		m->pending |= 1ULL << i;
}

/* Deliver vector @i now: its route is current. Lock held. */
static void vector_fire(struct msix *m, unsigned int i)
{
	if (!vector_route(m, i)) {
		m->pending |= 1ULL << i;
		vector_unbind(m, i);
		return;
	}
	m->pending &= ~(1ULL << i);
	if (irqfd_signal(m->v[i].irqfd))
		pr_warn("%s: MSI-X vector %u: signal failed", m->name, i);
}

/*
 * Vector @i's deliverability changed, or its entry: bound to its route
 * exactly while deliverable, and what waited delivered. Lock held.
 */
static void vector_sync(struct msix *m, unsigned int i)
{
	struct msix_vector *v = &m->v[i];

	if (vector_masked(m, v)) {
		vector_unbind(m, i);
		return;
	}
	vector_collect(m, i);
	if (m->pending & (1ULL << i))
		vector_fire(m, i);
	else if (!vector_route(m, i))
		vector_unbind(m, i); /* (its address is no local APIC's) */
}

/* After the enable or function-mask bit changed. Lock held. */
static void msix_sync_all(struct msix *m)
{
	for (unsigned int i = 0; i < m->nr; i++)
		vector_sync(m, i);
}

int msix_notify(struct msix *m, unsigned int vec)
{
	if (vec == MSIX_NO_VECTOR)
		return 0;
	if (vec >= m->nr)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (vector_masked(m, &m->v[vec]))
		m->pending |= 1ULL << vec;
	else
		vector_fire(m, vec);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int msix_vector_fd(struct msix *m, unsigned int vec)
{
	return vec < m->nr ? m->v[vec].fd : -1;
}

bool msix_enabled(struct msix *m)
{
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return on;
}

void msix_cfg_write(struct msix *m, struct pci_func *f, uint32_t off, unsigned int len)
{
	uint16_t ctrl;

	if (!m->cap || off >= m->cap + 4 || off + len <= m->cap + 2)
		return;
	ctrl = get_le16(&f->cfg[m->cap + 2]);
	pthread_mutex_lock(&m->lock);
	m->enabled = ctrl & MSIX_CTRL_ENABLE;
	m->func_masked = ctrl & MSIX_CTRL_FUNC_MASK;
	msix_sync_all(m);
	pthread_mutex_unlock(&m->lock);
}

static bool access_ok(uint64_t off, unsigned int len)
{
	return (len == 4 || len == 8) && off % len == 0;
}

bool msix_bar_read(struct msix *m, uint64_t off, void *data, unsigned int len)
{
	uint64_t t = m->table_off, p = m->pba_off;
	uint8_t buf[8] = { 0 };

	if (off >= t && off < t + m->nr * MSIX_ENTRY_SIZE) {
		if (access_ok(off, len)) {
			pthread_mutex_lock(&m->lock);
			for (unsigned int i = 0; i < len; i += 4) {
				uint64_t o = off - t + i;
				const struct msix_vector *v = &m->v[o / MSIX_ENTRY_SIZE];
				const uint32_t f[4] = { v->addr_lo, v->addr_hi, v->data, v->ctrl };

				put_le32(buf + i, f[(o % MSIX_ENTRY_SIZE) / 4]);
			}
			pthread_mutex_unlock(&m->lock);
		}
	} else if (off >= p && off < p + 8) {
		if (access_ok(off, len)) {
			pthread_mutex_lock(&m->lock);
			for (unsigned int i = 0; i < m->nr; i++)
				vector_collect(m, i);
			put_le64(buf, m->pending);
			pthread_mutex_unlock(&m->lock);
			memmove(buf, buf + (off - p), len);
		}
	} else {
		return false;
	}
	memcpy(data, buf, len);
	return true;
}

/* One dword of the table; lock held. */
static void table_write32(struct msix *m, uint64_t o, uint32_t val)
{
	unsigned int i = (unsigned int)(o / MSIX_ENTRY_SIZE);
	struct msix_vector *v = &m->v[i];

	switch (o % MSIX_ENTRY_SIZE) {
	case 0:
		v->addr_lo = val & ~3u; /* dword aligned */
		break;
	case 4:
		v->addr_hi = val;
		break;
	case 8:
		v->data = val;
		break;
	default:
		v->ctrl = val & MSIX_VEC_MASKED; /* other bits reserved */
		break;
	}
	/* An unmasked entry changed: the route follows (the spec leaves this undefined). */
	vector_sync(m, i);
}

bool msix_bar_write(struct msix *m, uint64_t off, const void *data, unsigned int len)
{
	uint64_t t = m->table_off, p = m->pba_off;
	const uint8_t *b = data;

	if (off >= p && off < p + 8)
		return true; /* read-only */
	if (off < t || off >= t + m->nr * MSIX_ENTRY_SIZE)
		return false;
	if (!access_ok(off, len))
		return true;
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < len; i += 4)
		table_write32(m, off - t + i, get_le32(b + i));
	pthread_mutex_unlock(&m->lock);
	return true;
}

void msix_save(struct msix *m, struct msix_entry *e, uint64_t *pending)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < m->nr; i++) {
		const struct msix_vector *v = &m->v[i];

		vector_collect(m, i);
		e[i] = (struct msix_entry){ v->addr_lo, v->addr_hi, v->data, v->ctrl };
	}
	*pending = m->pending;
	pthread_mutex_unlock(&m->lock);
}

void msix_load(struct msix *m, const struct msix_entry *e, uint64_t pending)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < m->nr; i++) {
		struct msix_vector *v = &m->v[i];

		/* As table_write32() takes them; routes follow when msix_cfg_write() enables. */
		v->addr_lo = e[i].addr_lo & ~3u;
		v->addr_hi = e[i].addr_hi;
		v->data = e[i].data;
		v->ctrl = e[i].ctrl & MSIX_VEC_MASKED;
	}
	m->pending = pending & (m->nr < 64 ? (1ULL << m->nr) - 1 : ~0ULL);
	pthread_mutex_unlock(&m->lock);
}
