// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "iobus.h"

int iobus_init(struct iobus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	if (pthread_rwlock_init(&bus->lock, NULL))
		return -ENOMEM;
	if (pthread_mutex_init(&bus->unowned_lock, NULL)) {
		pthread_rwlock_destroy(&bus->lock);
		return -ENOMEM;
	}
	return 0;
}

void iobus_destroy(struct iobus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr_ranges = bus->cap_ranges = 0;
	pthread_mutex_destroy(&bus->unowned_lock);
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose base is > @addr. */
static unsigned int iobus_upper(const struct iobus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Range containing [@addr, @addr + @len), or NULL. */
static const struct iobus_range *iobus_find(const struct iobus *bus, uint64_t addr, uint64_t len)
{
	unsigned int i = iobus_upper(bus, addr);
	const struct iobus_range *r;

	if (i == 0)
		return NULL;
	r = &bus->ranges[i - 1];
	/* addr >= r->base here, so addr - r->base cannot underflow. */
	if (addr - r->base >= r->size || len > r->size - (addr - r->base))
		return NULL;
	return r;
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t size, const struct iobus_ops *ops,
		   void *opaque, const char *name)
{
	unsigned int i;
	int err = 0;

	if (size == 0 || base + size - 1 < base)
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	i = iobus_upper(bus, base);
	/* Overlap is only possible with the neighbours on either side. */
	if (i > 0 && base - bus->ranges[i - 1].base < bus->ranges[i - 1].size)
		err = -EEXIST;
	else if (i < bus->nr_ranges && bus->ranges[i].base - base < size)
		err = -EEXIST;
	if (err)
		goto out;

	if (bus->nr_ranges == bus->cap_ranges) {
		unsigned int cap = bus->cap_ranges ? bus->cap_ranges * 2 : 16;
		struct iobus_range *n = realloc(bus->ranges, cap * sizeof(*n));

		if (!n) {
			err = -ENOMEM;
			goto out;
		}
		bus->ranges = n;
		bus->cap_ranges = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr_ranges - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct iobus_range){ base, size, ops, opaque, name };
	bus->nr_ranges++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return err;
}

int iobus_unregister(struct iobus *bus, uint64_t base)
{
	unsigned int i;
	int err = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = iobus_upper(bus, base);
	if (i > 0 && bus->ranges[i - 1].base == base) {
		i--;
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->nr_ranges - i - 1) * sizeof(bus->ranges[0]));
		bus->nr_ranges--;
		err = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return err;
}

static void iobus_unowned(struct iobus *bus, uint64_t addr, unsigned int len, bool write)
{
	bool log = true;

	pthread_mutex_lock(&bus->unowned_lock);
	bus->unowned_count++;
	for (unsigned int i = 0; i < bus->nr_logged; i++) {
		if (bus->logged[i] == addr) {
			log = false;
			break;
		}
	}
	if (log && bus->nr_logged < IOBUS_LOGGED_MAX)
		bus->logged[bus->nr_logged++] = addr;
	else if (log)
		log = false; /* the table is full: stay quiet rather than flood */
	pthread_mutex_unlock(&bus->unowned_lock);

	/* Info, not a warning: guests probe absent hardware (--stats counts it). */
	if (log)
		pr_info("%s: unowned %u-byte %s at 0x%llx (logged once per address)", bus->name,
			len, write ? "write" : "read", (unsigned long long)addr);
}

bool iobus_read(struct iobus *bus, uint64_t addr, void *data, unsigned int len)
{
	const struct iobus_range *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = iobus_find(bus, addr, len);
	memset(data, 0xff, len);
	if (r) {
		/* A write-only device reads as all-ones, like an open bus. */
		if (r->ops->read)
			r->ops->read(r->opaque, addr - r->base, data, len);
		pthread_rwlock_unlock(&bus->lock);
		return true;
	}
	pthread_rwlock_unlock(&bus->lock);
	iobus_unowned(bus, addr, len, false);
	return false;
}

bool iobus_write(struct iobus *bus, uint64_t addr, const void *data, unsigned int len)
{
	const struct iobus_range *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = iobus_find(bus, addr, len);
	if (r) {
		if (r->ops->write)
			r->ops->write(r->opaque, addr - r->base, data, len);
		pthread_rwlock_unlock(&bus->lock);
		return true;
	}
	pthread_rwlock_unlock(&bus->lock);
	iobus_unowned(bus, addr, len, true);
	return false;
}

uint64_t iobus_unowned_count(struct iobus *bus)
{
	uint64_t n;

	pthread_mutex_lock(&bus->unowned_lock);
	n = bus->unowned_count;
	pthread_mutex_unlock(&bus->unowned_lock);
	return n;
}
