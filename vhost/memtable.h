/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_MEMTABLE_H
#define EVVM_VHOST_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <evvm/mem.h>

#include "vhost_user.h"

/*
 * A vhost-user frontend's memory table (SET_MEM_TABLE), mapped here: each
 * region is known by its guest physical address (the evvm_mem the device
 * uses) and by the frontend's user address (the one ring addresses use).
 */

/* One region of the frontend's memory, mapped here. */
struct vub_region {
	uint64_t gpa;	/* guest physical start */
	uint64_t size;	/* bytes */
	uint64_t uaddr; /* the frontend's user address of the start */
	void *map;	/* our mapping (page-aligned, may start before the region) */
	size_t map_len;
	int guard; /* sigbus_guard() slot, or -1: the fd is sealed against shrinking */
};

struct vub_table {
	unsigned int nr;
	struct vub_region r[VHOST_USER_MAX_REGIONS];
};

/* The three ring areas' guest addresses. */
struct ring_gpas {
	uint64_t desc, avail, used;
};

/*
 * Check @m (nregions already checked against the payload size and @fds)
 * and map each region from @fds[i] into @t, and add it to @mem (reset
 * first). Regions must be non-empty, not overflow, not overlap (in guest or
 * user addresses), and lie within their file. A memfd that can still be
 * sealed is sealed against shrinking (F_SEAL_SHRINK); a mapping whose file
 * could shrink under us is guarded (sigbus.h), with @guard_efd signalled
 * on a fault. The fds stay the caller's. Returns 0, or -errno with @why
 * (@why_len bytes) saying what was wrong; nothing stays mapped then.
 */
int memtable_build(const struct vhost_user_memory *m, const int *fds, int guard_efd,
		   struct vub_table *t, struct evvm_mem *mem, char *why, size_t why_len);

/* Unmap every region; the table is empty after. */
void memtable_unmap(struct vub_table *t);

/*
 * Translate a ring of @num entries at the frontend user addresses @desc_ua,
 * @avail_ua and @used_ua (each area wholly in one region) into @g. Returns
 * 0, or -EFAULT with *@bad naming the area that is not in the table.
 */
int memtable_ring_gpas(const struct vub_table *t, uint64_t desc_ua, uint64_t avail_ua,
		       uint64_t used_ua, uint16_t num, struct ring_gpas *g, const char **bad);

#endif
