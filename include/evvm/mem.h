/* SPDX-License-Identifier: MIT */
#ifndef EVVM_MEM_H
#define EVVM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Guest physical memory as seen by the host: a sorted set of disjoint regions,
 * each a host mapping of part of one file (a memfd, so it can be shared with
 * vhost-user backends). Every guest-controlled address is turned into a host
 * pointer through mem_translate(), which checks bounds and overflow.
 */

#define EVVM_MEM_MAX_REGIONS 8

struct evvm_mem_region {
	uint64_t gpa;	 /* guest physical start */
	uint64_t size;	 /* bytes */
	void *hva;	 /* host mapping of the region */
	int fd;		 /* file backing it, -1 if anonymous; not owned */
	uint64_t offset; /* offset of the region in @fd */
	uint64_t *dirty; /* NULL, or a bit per page the host wrote (mem_log_start) */
};

struct evvm_mem {
	bool log_dirty; /* between mem_log_start() and mem_log_stop() */
	unsigned int nr_regions;
	struct evvm_mem_region regions[EVVM_MEM_MAX_REGIONS];
};

/* Empty the map. Mappings are owned by whoever added them. */
void mem_init(struct evvm_mem *mem);

/*
 * Add a region. Returns 0, -EINVAL for an empty region or one whose end
 * overflows, -EEXIST if it overlaps a region already present, -ENOSPC when
 * the table is full.
 */
int mem_add_region(struct evvm_mem *mem, const struct evvm_mem_region *region);

/*
 * Host pointer for guest range [@gpa, @gpa + @len), or NULL unless the whole
 * range lies inside one region. @len 0 is treated as 1.
 */
void *mem_translate(const struct evvm_mem *mem, uint64_t gpa, uint64_t len);

/* Region holding @gpa, or NULL. */
const struct evvm_mem_region *mem_find(const struct evvm_mem *mem, uint64_t gpa);

/* Copy to/from guest memory. Return 0 or -EFAULT if not entirely in one region. */
int mem_write(const struct evvm_mem *mem, uint64_t gpa, const void *src, size_t len);
int mem_read(const struct evvm_mem *mem, uint64_t gpa, void *dst, size_t len);

/*
 * Logging of the host's own writes to guest RAM, for diff snapshots: KVM
 * logs what the vCPUs write, this what devices write through the rings.
 * mem_log_start() gives every region a zeroed bitmap (one bit per 4 KiB
 * page, 64 to a word, as KVM_GET_DIRTY_LOG's), 0 or -ENOMEM;
 * mem_log_stop() frees them. mem_mark_dirty() sets the bits of the pages
 * of [@hva, @hva + @len) in the region that maps @hva; it does nothing when
 * no log was started or @hva is not guest RAM, and is safe from any
 * thread. mem_log_take() ORs region @i's bits into @bitmap and clears
 * them; call it while nothing marks (a paused VM).
 */
#define EVVM_MEM_PAGE_SHIFT 12
int mem_log_start(struct evvm_mem *mem);
void mem_log_stop(struct evvm_mem *mem);
void mem_mark_dirty(const struct evvm_mem *mem, const void *hva, size_t len);
void mem_log_take(const struct evvm_mem *mem, unsigned int i, uint64_t *bitmap);

/*
 * A memfd of @size bytes for guest RAM, sealed against shrinking, growing
 * and further seals (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), so that a
 * process it is shared with (a vhost-user backend) can check with
 * F_GET_SEALS that its mapping never loses pages. Returns the fd
 * (close-on-exec) or -errno.
 */
int mem_memfd_create(const char *name, uint64_t size);

#endif
