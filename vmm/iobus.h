/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_IOBUS_H
#define EVVM_VMM_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The userspace io bus: guest PIO or MMIO accesses that exit to evvm are
 * dispatched here to the device owning the address. Ranges never overlap and
 * are kept sorted, so lookup is a binary search. Registration normally
 * happens before vCPUs run; a read-write lock makes later changes safe and
 * guarantees that once iobus_unregister() returns, no handler of that range
 * is running. Handlers must not (un)register on the bus that called them.
 */

struct iobus_ops {
	/* Fill @len bytes at @data (little-endian) for a read at @offset. */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned int len);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned int len);
};

struct iobus_range {
	uint64_t base;
	uint64_t size;
	const struct iobus_ops *ops;
	void *opaque;
	const char *name; /* not owned; must outlive the registration */
};

#define IOBUS_LOGGED_MAX 64

struct iobus {
	const char *name; /* "pio" or "mmio" */
	pthread_rwlock_t lock;
	struct iobus_range *ranges;
	unsigned int nr_ranges;
	unsigned int cap_ranges;

	/* Accesses nobody owns: counted, and logged once per address. */
	pthread_mutex_t unowned_lock;
	uint64_t unowned_count;
	uint64_t logged[IOBUS_LOGGED_MAX];
	unsigned int nr_logged;
};

/* Initialise an empty bus. Returns 0 or -errno. */
int iobus_init(struct iobus *bus, const char *name);

/* Free the bus' memory; no access may be in progress. */
void iobus_destroy(struct iobus *bus);

/*
 * Give [@base, @base + @size) to a device. Returns 0, -EINVAL for size 0 or a
 * range that wraps, -EEXIST if any byte is already owned, -ENOMEM.
 */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t size, const struct iobus_ops *ops,
		   void *opaque, const char *name);

/* Remove the range starting exactly at @base. Returns 0 or -ENOENT. */
int iobus_unregister(struct iobus *bus, uint64_t base);

/*
 * Dispatch one access of @len (1..8) bytes. The access must lie entirely in
 * one range; otherwise it is unowned: reads return all-ones, writes are
 * dropped. Returns true if a device handled it.
 */
bool iobus_read(struct iobus *bus, uint64_t addr, void *data, unsigned int len);
bool iobus_write(struct iobus *bus, uint64_t addr, const void *data, unsigned int len);

/* Number of unowned accesses so far. */
uint64_t iobus_unowned_count(struct iobus *bus);

#endif
