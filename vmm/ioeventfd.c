// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <evvm/log.h>

#include "ioeventfd.h"

int ioeventfd_table_init(struct ioeventfd_table *t, int vm_fd, bool user)
{
	memset(t, 0, sizeof(*t));
	t->vm_fd = vm_fd;
	t->user = user;
	return pthread_rwlock_init(&t->lock, NULL) ? -ENOMEM : 0;
}

static int ioeventfd_kvm(struct ioeventfd_table *t, const struct ioeventfd_key *k, int fd,
			 bool deassign)
{
	struct kvm_ioeventfd io = {
		.datamatch = k->datamatch ? k->data : 0,
		.addr = k->addr,
		.len = k->len,
		.fd = fd,
		.flags = (k->datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (k->space == IOEVENTFD_PIO ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};

	if (t->user || t->vm_fd < 0)
		return 0;
	if (ioctl(t->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		int err = -errno;

		pr_err("KVM_IOEVENTFD %s %s 0x%llx len %u: %s", deassign ? "deassign" : "assign",
		       k->space == IOEVENTFD_PIO ? "pio" : "mmio", (unsigned long long)k->addr,
		       k->len, evvm_strerror(err));
		return err;
	}
	return 0;
}

void ioeventfd_table_destroy(struct ioeventfd_table *t)
{
	/* Closing an eventfd does not remove it from KVM: deassign explicitly. */
	for (unsigned int i = 0; i < t->nr; i++) {
		ioeventfd_kvm(t, &t->entries[i]->key, t->entries[i]->fd, true);
		free(t->entries[i]);
	}
	t->nr = 0;
	pthread_rwlock_destroy(&t->lock);
}

static bool ioeventfd_collides(const struct ioeventfd_key *a, const struct ioeventfd_key *b)
{
	return a->space == b->space && a->addr == b->addr &&
	       (a->len == 0 || b->len == 0 ||
		(a->len == b->len && (!a->datamatch || !b->datamatch || a->data == b->data)));
}

static int ioeventfd_check_locked(const struct ioeventfd_table *t, const struct ioeventfd_key *k)
{
	switch (k->len) {
	case 0:
	case 1:
	case 2:
	case 4:
	case 8:
		break;
	default:
		return -EINVAL;
	}
	if (k->addr + k->len < k->addr)
		return -EINVAL;
	if (k->len == 0 && k->datamatch)
		return -EINVAL;
	for (unsigned int i = 0; i < t->nr; i++)
		if (ioeventfd_collides(&t->entries[i]->key, k))
			return -EEXIST;
	return 0;
}

int ioeventfd_check(const struct ioeventfd_table *t, const struct ioeventfd_key *k)
{
	int err;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&t->lock);
	err = ioeventfd_check_locked(t, k);
	pthread_rwlock_unlock((pthread_rwlock_t *)&t->lock);
	return err;
}

int ioeventfd_assign(struct ioeventfd_table *t, const struct ioeventfd_key *k, int fd,
		     struct ioeventfd **out)
{
	struct ioeventfd *e;
	int err;

	if (fd < 0)
		return -EBADF;
	pthread_rwlock_wrlock(&t->lock);
	err = ioeventfd_check_locked(t, k);
	if (!err && t->nr == IOEVENTFD_MAX)
		err = -ENOSPC;
	if (err)
		goto out;
	e = calloc(1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	e->key = *k;
	if (!e->key.datamatch)
		e->key.data = 0;
	e->fd = fd;
	err = ioeventfd_kvm(t, &e->key, fd, false);
	if (err) {
		free(e);
		goto out;
	}
	t->entries[t->nr++] = e;
	if (out)
		*out = e;
out:
	pthread_rwlock_unlock(&t->lock);
	return err;
}

static bool ioeventfd_same(const struct ioeventfd *e, const struct ioeventfd_key *k, int fd)
{
	return e->fd == fd && e->key.space == k->space && e->key.addr == k->addr &&
	       e->key.len == k->len && e->key.datamatch == k->datamatch &&
	       (!k->datamatch || e->key.data == k->data);
}

int ioeventfd_deassign(struct ioeventfd_table *t, const struct ioeventfd_key *k, int fd)
{
	int err = -ENOENT;

	pthread_rwlock_wrlock(&t->lock);
	for (unsigned int i = 0; i < t->nr; i++) {
		struct ioeventfd *e = t->entries[i];

		if (!ioeventfd_same(e, k, fd))
			continue;
		err = ioeventfd_kvm(t, &e->key, fd, true);
		if (err)
			break;
		t->retired_kicks += atomic_load(&e->kicks);
		t->retired_user_hits += atomic_load(&e->user_hits);
		t->entries[i] = t->entries[--t->nr];
		free(e);
		break;
	}
	pthread_rwlock_unlock(&t->lock);
	return err;
}

bool ioeventfd_matches(const struct ioeventfd_key *k, uint64_t addr, unsigned int len,
		       uint64_t value)
{
	if (addr != k->addr)
		return false;
	if (k->len == 0)
		return true; /* any write to the address */
	if (len != k->len)
		return false;
	return !k->datamatch || value == k->data;
}

bool ioeventfd_user_write(struct ioeventfd_table *t, enum ioeventfd_space space, uint64_t addr,
			  const void *data, unsigned int len)
{
	uint64_t value = 0, one = 1;
	bool hit = false;

	if (!t->user || len > sizeof(value))
		return false;
	memcpy(&value, data, len); /* little-endian: the low @len bytes */

	pthread_rwlock_rdlock(&t->lock);
	/* Collisions are refused, so at most one entry can accept a write. */
	for (unsigned int i = 0; i < t->nr; i++) {
		struct ioeventfd *e = t->entries[i];

		if (e->key.space != space || !ioeventfd_matches(&e->key, addr, len, value))
			continue;
		atomic_fetch_add_explicit(&e->user_hits, 1, memory_order_relaxed);
		/* EAGAIN means the counter is saturated: already signalled. */
		if (write(e->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			pr_warn("ioeventfd 0x%llx: write: %s", (unsigned long long)addr,
				evvm_strerror(errno));
		hit = true;
		break;
	}
	pthread_rwlock_unlock(&t->lock);
	return hit;
}

void ioeventfd_totals(struct ioeventfd_table *t, uint64_t *kicks, uint64_t *user_hits)
{
	pthread_rwlock_rdlock(&t->lock);
	*kicks = t->retired_kicks;
	*user_hits = t->retired_user_hits;
	for (unsigned int i = 0; i < t->nr; i++) {
		*kicks += atomic_load(&t->entries[i]->kicks);
		*user_hits += atomic_load(&t->entries[i]->user_hits);
	}
	pthread_rwlock_unlock(&t->lock);
}

void ioeventfd_snapshot(struct ioeventfd_table *t, struct ioeventfd_snapshot *s)
{
	pthread_rwlock_rdlock(&t->lock);
	s->user = t->user;
	s->kicks = t->retired_kicks;
	s->user_hits = t->retired_user_hits;
	s->nr = t->nr;
	for (unsigned int i = 0; i < t->nr; i++) {
		const struct ioeventfd *e = t->entries[i];

		s->e[i] = (struct ioeventfd_stat){ .key = e->key,
						   .kicks = atomic_load(&e->kicks),
						   .user_hits = atomic_load(&e->user_hits) };
		s->kicks += s->e[i].kicks;
		s->user_hits += s->e[i].user_hits;
	}
	pthread_rwlock_unlock(&t->lock);
}
