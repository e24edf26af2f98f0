// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <evvm/mem.h>

void mem_init(struct evvm_mem *mem)
{
	memset(mem, 0, sizeof(*mem));
}

int mem_add_region(struct evvm_mem *mem, const struct evvm_mem_region *r)
{
	unsigned int i, pos;

	if (r->size == 0 || r->gpa + r->size < r->gpa)
		return -EINVAL;
	if (mem->nr_regions == EVVM_MEM_MAX_REGIONS)
		return -ENOSPC;

	for (pos = 0; pos < mem->nr_regions; pos++) {
		const struct evvm_mem_region *o = &mem->regions[pos];

		if (r->gpa < o->gpa + o->size && o->gpa < r->gpa + r->size)
			return -EEXIST;
		if (r->gpa < o->gpa)
			break;
	}
	for (i = mem->nr_regions; i > pos; i--)
		mem->regions[i] = mem->regions[i - 1];
	mem->regions[pos] = *r;
	mem->nr_regions++;
	return 0;
}

const struct evvm_mem_region *mem_find(const struct evvm_mem *mem, uint64_t gpa)
{
	/* A handful of regions: a linear scan beats a search. */
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct evvm_mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *mem_translate(const struct evvm_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct evvm_mem_region *r = mem_find(mem, gpa);
	uint64_t off;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	if (len == 0)
		len = 1;
	/* off < size holds, so size - off cannot underflow. */
	if (len > r->size - off)
		return NULL;
	return (char *)r->hva + off;
}

int mem_write(const struct evvm_mem *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = mem_translate(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int mem_read(const struct evvm_mem *mem, uint64_t gpa, void *dst, size_t len)
{
	const void *src = mem_translate(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

static uint64_t region_pages(const struct evvm_mem_region *r)
{
	return (r->size + (1u << EVVM_MEM_PAGE_SHIFT) - 1) >> EVVM_MEM_PAGE_SHIFT;
}

int mem_log_start(struct evvm_mem *mem)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		struct evvm_mem_region *r = &mem->regions[i];

		r->dirty = calloc((region_pages(r) + 63) / 64, sizeof(uint64_t));
		if (!r->dirty) {
			mem_log_stop(mem);
			return -ENOMEM;
		}
	}
	mem->log_dirty = true;
	return 0;
}

void mem_log_stop(struct evvm_mem *mem)
{
	mem->log_dirty = false;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		free(mem->regions[i].dirty);
		mem->regions[i].dirty = NULL;
	}
}

void mem_mark_dirty(const struct evvm_mem *mem, const void *hva, size_t len)
{
	uintptr_t a = (uintptr_t)hva;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct evvm_mem_region *r = &mem->regions[i];
		uintptr_t base = (uintptr_t)r->hva;
		uint64_t first, last;

		if (!mem->log_dirty || a < base || a - base >= r->size)
			continue;
		/* Clipped to the region: a caller's length never reaches past it. */
		if (len > r->size - (a - base))
			len = r->size - (a - base);
		first = (a - base) >> EVVM_MEM_PAGE_SHIFT;
		last = (a - base + (len ? len - 1 : 0)) >> EVVM_MEM_PAGE_SHIFT;
		for (uint64_t p = first; p <= last; p++)
			__atomic_fetch_or(&r->dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
		return;
	}
}

void mem_log_take(const struct evvm_mem *mem, unsigned int i, uint64_t *bitmap)
{
	const struct evvm_mem_region *r = &mem->regions[i];

	if (!mem->log_dirty)
		return;
	for (uint64_t w = 0; w < (region_pages(r) + 63) / 64; w++)
		bitmap[w] |= __atomic_exchange_n(&r->dirty[w], 0, __ATOMIC_RELAXED);
}

int mem_memfd_create(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int err;

	if (fd < 0)
		return -errno;
	/* Sized first: the seals forbid any later change. */
	if (ftruncate(fd, size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
