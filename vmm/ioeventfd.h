/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_IOEVENTFD_H
#define EVVM_VMM_IOEVENTFD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * ioeventfds: a guest write to a registered PIO/MMIO address signals an
 * eventfd. In kernel mode KVM does it (KVM_IOEVENTFD) and the vCPU never
 * leaves the kernel; in user mode the write exits and the vCPU thread
 * applies the same match rules here (ioeventfd_user_write) before the io bus
 * sees it. The table mirrors KVM's keys and answers collisions as KVM does.
 */

enum ioeventfd_space { IOEVENTFD_PIO, IOEVENTFD_MMIO };

struct ioeventfd_key {
	enum ioeventfd_space space;
	uint64_t addr;
	uint32_t len;	/* 0 (any length), 1, 2, 4, 8 */
	bool datamatch; /* false: any value (wildcard) */
	uint64_t data;
};

struct ioeventfd {
	struct ioeventfd_key key;
	int fd;			    /* not owned */
	_Atomic uint64_t user_hits; /* writes matched in user mode */
	_Atomic uint64_t kicks;	    /* signals its consumer read (ioeventfd_note_kicks) */
};

/* The consumer of @e's eventfd read a count of @n: add it to the kicks seen. */
static inline void ioeventfd_note_kicks(struct ioeventfd *e, uint64_t n)
{
	atomic_fetch_add_explicit(&e->kicks, n, memory_order_relaxed);
}

#define IOEVENTFD_MAX 256

struct ioeventfd_table {
	int vm_fd; /* -1: no KVM (unit tests) */
	bool user; /* match in userspace instead of KVM */
	pthread_rwlock_t lock;
	unsigned int nr;
	struct ioeventfd *entries[IOEVENTFD_MAX];
	/* Counters of entries already deassigned, so totals survive them. */
	uint64_t retired_kicks, retired_user_hits;
};

/* One live entry's key and counters, as ioeventfd_snapshot() copies them. */
struct ioeventfd_stat {
	struct ioeventfd_key key;
	uint64_t kicks, user_hits;
};

/* The table as --stats shows it: its mode, its totals, and each live entry. */
struct ioeventfd_snapshot {
	bool user;
	uint64_t kicks, user_hits; /* over the table's life, deassigned entries included */
	unsigned int nr;
	struct ioeventfd_stat e[IOEVENTFD_MAX];
};

/* Fill @s under the table's lock; the entries may change right after. */
void ioeventfd_snapshot(struct ioeventfd_table *t, struct ioeventfd_snapshot *s);

/* Kicks and user-mode matches over the table's life, live entries included. */
void ioeventfd_totals(struct ioeventfd_table *t, uint64_t *kicks, uint64_t *user_hits);

int ioeventfd_table_init(struct ioeventfd_table *t, int vm_fd, bool user);

/* Deassign everything still assigned (from KVM too), then free. */
void ioeventfd_table_destroy(struct ioeventfd_table *t);

/*
 * KVM's rules, checked before any ioctl: -EINVAL for a length other than
 * 0/1/2/4/8, a range that wraps, or a datamatch with length 0; -EEXIST when
 * an entry on the same bus and address exists and either has length 0, or
 * both have the same length and either is a wildcard or the datamatches are
 * equal. 0 if @key may be assigned.
 */
int ioeventfd_check(const struct ioeventfd_table *t, const struct ioeventfd_key *key);

/*
 * Signal @fd (an eventfd, not owned; it must outlive the assignment) on
 * writes matching @key. Returns the entry (for its counters) via *@out if
 * @out is non-NULL, 0 or -errno.
 */
int ioeventfd_assign(struct ioeventfd_table *t, const struct ioeventfd_key *key, int fd,
		     struct ioeventfd **out);

/* Remove the entry with exactly @key and @fd (KVM's rule). 0 or -ENOENT. */
int ioeventfd_deassign(struct ioeventfd_table *t, const struct ioeventfd_key *key, int fd);

/*
 * User mode: if a write of @len bytes of @data at @addr matches an entry,
 * signal its eventfd and return true (the write goes nowhere else).
 * Always false in kernel mode.
 */
bool ioeventfd_user_write(struct ioeventfd_table *t, enum ioeventfd_space space, uint64_t addr,
			  const void *data, unsigned int len);

/* Would this write of @len bytes with @value hit @key? (KVM's ioeventfd_in_range) */
bool ioeventfd_matches(const struct ioeventfd_key *key, uint64_t addr, unsigned int len,
		       uint64_t value);

#endif
