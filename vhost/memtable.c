// SPDX-License-Identifier: MIT
/* A vhost-user frontend's memory table, checked and mapped (see memtable.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evvm/log.h>

#include "memtable.h"
#include "sigbus.h"

/* Frontend user range [ua, ua + len) -> guest physical address, within one region. */
static int table_ua_to_gpa(const struct vub_table *t, uint64_t ua, uint64_t len, uint64_t *gpa)
{
	for (unsigned int i = 0; i < t->nr; i++) {
		const struct vub_region *r = &t->r[i];

		if (ua >= r->uaddr && ua - r->uaddr < r->size) {
			if (len > r->size - (ua - r->uaddr))
				return -EFAULT;
			*gpa = r->gpa + (ua - r->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

void memtable_unmap(struct vub_table *t)
{
	for (unsigned int i = 0; i < t->nr; i++) {
		sigbus_unguard(t->r[i].guard);
		munmap(t->r[i].map, t->r[i].map_len);
	}
	t->nr = 0;
}

int memtable_ring_gpas(const struct vub_table *t, uint64_t desc_ua, uint64_t avail_ua,
		       uint64_t used_ua, uint16_t num, struct ring_gpas *g, const char **bad)
{
	if (table_ua_to_gpa(t, desc_ua, 16ULL * num, &g->desc)) {
		*bad = "descriptor table";
		return -EFAULT;
	}
	if (table_ua_to_gpa(t, avail_ua, 6 + 2ULL * num, &g->avail)) {
		*bad = "driver (avail) area";
		return -EFAULT;
	}
	if (table_ua_to_gpa(t, used_ua, 6 + 8ULL * num, &g->used)) {
		*bad = "device (used) area";
		return -EFAULT;
	}
	return 0;
}

/* Region sizes, overflows and overlaps, before anything is mapped. */
static int table_check(const struct vhost_user_memory *m, char *why, size_t why_len)
{
	for (unsigned int i = 0; i < m->nregions; i++) {
		const struct vhost_user_region *r = &m->regions[i];

		if (r->memory_size == 0) {
			snprintf(why, why_len, "region %u is empty", i);
			return -EINVAL;
		}
		if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
		    r->userspace_addr + r->memory_size < r->userspace_addr ||
		    r->mmap_offset + r->memory_size < r->mmap_offset ||
		    r->mmap_offset + r->memory_size > (uint64_t)SIZE_MAX / 2) {
			snprintf(why, why_len, "region %u (size 0x%llx) overflows", i,
				 (unsigned long long)r->memory_size);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			const struct vhost_user_region *o = &m->regions[j];

			if (r->guest_phys_addr < o->guest_phys_addr + o->memory_size &&
			    o->guest_phys_addr < r->guest_phys_addr + r->memory_size) {
				snprintf(why, why_len, "regions %u and %u overlap in guest memory",
					 j, i);
				return -EINVAL;
			}
			if (r->userspace_addr < o->userspace_addr + o->memory_size &&
			    o->userspace_addr < r->userspace_addr + r->memory_size) {
				snprintf(
					why, why_len,
					"regions %u and %u overlap in the frontend's address space",
					j, i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/*
 * Whether @fd cannot shrink: sealed against it, or a memfd that still takes
 * seals and is sealed now (the frontend then cannot shrink its own memory,
 * which it shares with us). False for files that take no seals.
 */
static bool fd_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return false;
	if (seals & F_SEAL_SHRINK)
		return true;
	return !(seals & F_SEAL_SEAL) && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0;
}

/* Map region @i of @m from @fd into @v. */
static int region_map(const struct vhost_user_memory *m, unsigned int i, int fd,
		      struct vub_region *v, uint64_t *hva_off, char *why, size_t why_len)
{
	const struct vhost_user_region *r = &m->regions[i];
	long pagesize = sysconf(_SC_PAGESIZE);
	uint64_t align = pagesize, map_off;
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0) {
		snprintf(why, why_len, "region %u: fstat: %s", i, evvm_strerror(errno));
		return -errno;
	}
	/* Beyond the end of the file, an access would raise SIGBUS here. */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->mmap_offset + r->memory_size) {
		snprintf(why, why_len,
			 "region %u: offset 0x%llx + size 0x%llx is past the end of its file "
			 "(0x%llx bytes)",
			 i, (unsigned long long)r->mmap_offset, (unsigned long long)r->memory_size,
			 (unsigned long long)st.st_size);
		return -EINVAL;
	}
	/* hugetlbfs reports its page size here; the mapping must start on one. */
	if (st.st_blksize > pagesize && !(st.st_blksize & (st.st_blksize - 1)))
		align = st.st_blksize;
	map_off = r->mmap_offset - r->mmap_offset % align;
	v->map_len = r->mmap_offset - map_off + r->memory_size;
	p = mmap(NULL, v->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_off);
	if (p == MAP_FAILED) {
		int err = -errno;

		snprintf(why, why_len, "region %u: mmap of 0x%llx bytes: %s", i,
			 (unsigned long long)r->memory_size, evvm_strerror(err));
		return err;
	}
	v->map = p;
	v->gpa = r->guest_phys_addr;
	v->size = r->memory_size;
	v->uaddr = r->userspace_addr;
	v->guard = -1;
	*hva_off = r->mmap_offset - map_off;
	return 0;
}

int memtable_build(const struct vhost_user_memory *m, const int *fds, int guard_efd,
		   struct vub_table *t, struct evvm_mem *mem, char *why, size_t why_len)
{
	int err;

	t->nr = 0;
	mem_init(mem);
	err = table_check(m, why, why_len);
	if (err)
		return err;
	for (unsigned int i = 0; i < m->nregions; i++) {
		struct vub_region *v = &t->r[i];
		uint64_t hva_off = 0;

		err = region_map(m, i, fds[i], v, &hva_off, why, why_len);
		if (err)
			goto fail;
		t->nr++;
		if (!fd_sealed(fds[i])) {
			v->guard = sigbus_guard(v->map, v->map_len, guard_efd);
			if (v->guard < 0) {
				err = v->guard;
				snprintf(why, why_len, "region %u: guarding the mapping: %s", i,
					 evvm_strerror(err));
				goto fail;
			}
		}
		err = mem_add_region(mem, &(struct evvm_mem_region){
						  .gpa = v->gpa,
						  .size = v->size,
						  .hva = (uint8_t *)v->map + hva_off,
						  .fd = -1,
						  .offset = m->regions[i].mmap_offset,
					  });
		if (err) {
			snprintf(why, why_len, "region %u: %s", i, evvm_strerror(err));
			goto fail;
		}
		pr_debug(
			"vhost-user: region %u: guest 0x%llx size 0x%llx user 0x%llx offset 0x%llx",
			i, (unsigned long long)v->gpa, (unsigned long long)v->size,
			(unsigned long long)v->uaddr,
			(unsigned long long)m->regions[i].mmap_offset);
	}
	return 0;
fail:
	memtable_unmap(t);
	return err;
}
