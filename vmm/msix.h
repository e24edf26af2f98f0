/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_MSIX_H
#define EVVM_VMM_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <evvm/log.h>

#include "irqfd.h"

struct pci_func;

/*
 * MSI-X (PCI 3.0, 6.8.2) for one function: the capability, the vector
 * table and the PBA (both in a BAR the owner dispatches here), and the
 * delivery of each vector through its own eventfd bound as an irqfd to a
 * KVM MSI route. A vector is deliverable when MSI-X is enabled, the
 * function is not masked, the vector is not masked and its address is a
 * local APIC's (0xfeexxxxx); otherwise an interrupt sets its pending bit
 * and is delivered when the vector becomes deliverable. Routes are created
 * and updated only while a vector is deliverable, under the same lock as
 * delivery, so no interrupt is delivered through a stale route or lost to
 * an update (the eventfd keeps its count until KVM consumes it).
 *
 * A vector's eventfd is bound (irqfd) to its route exactly while the
 * vector is deliverable, so another process may write it directly (a
 * vhost-user backend's call fd, msix_vector_fd): while the vector is
 * masked the writes wait in the eventfd's counter, which a PBA read and
 * the unmask turn into the pending bit and its delivery.
 */

#define MSIX_MAX_VECTORS 64
#define MSIX_NO_VECTOR	 0xffff /* VIRTIO_MSI_NO_VECTOR: no interrupt */
#define MSIX_CAP_ID	 0x11
#define MSIX_CAP_LEN	 12
#define MSIX_ENTRY_SIZE	 16

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* the table entry the guest sees */
	int fd;				       /* eventfd bound to @gsi once routed */
	struct irqfd *irqfd;
	uint32_t gsi;
	bool routed;
	uint64_t route_addr; /* what the route holds */
	uint32_t route_data;
};

struct msix {
	struct irqfd_table *irqfds; /* not owned */
	char name[48];
	unsigned int nr;
	unsigned int cap;	     /* capability offset in config space, 0: none */
	uint32_t table_off, pba_off; /* in the BAR */
	pthread_mutex_t lock;
	bool enabled, func_masked;
	uint64_t pending; /* the PBA */
	struct msix_vector v[MSIX_MAX_VECTORS];
	struct evvm_ratelimit rl;
};

/*
 * Set up @nr (1..MSIX_MAX_VECTORS) vectors, all masked, MSI-X disabled;
 * one eventfd each. 0 or -errno; msix_destroy() in either case.
 */
int msix_init(struct msix *m, struct irqfd_table *irqfds, unsigned int nr, const char *name);

/* Unbind and remove every route, close the eventfds. */
void msix_destroy(struct msix *m);

/*
 * Add the MSI-X capability to @f (before pci_func_add): the table at
 * @table_off and the PBA at @pba_off of BAR @bar (8-byte aligned, not
 * overlapping). Returns 0 or -ENOSPC.
 */
int msix_cap_add(struct msix *m, struct pci_func *f, unsigned int bar, uint32_t table_off,
		 uint32_t pba_off);

/* From the function's cfg_write hook: apply Message Control (enable, function mask). */
void msix_cfg_write(struct msix *m, struct pci_func *f, uint32_t off, unsigned int len);

/*
 * Accesses to the table and the PBA (@off relative to the BAR): whether
 * @off falls in either. Aligned 4- and 8-byte accesses work; others, and
 * accesses past the table or the PBA, read as zero and write nothing. The
 * PBA is read-only.
 */
bool msix_bar_read(struct msix *m, uint64_t off, void *data, unsigned int len);
bool msix_bar_write(struct msix *m, uint64_t off, const void *data, unsigned int len);

/*
 * Vector @vec's eventfd (-1 past the table): writing it raises the vector
 * as msix_notify() does, from any process. Owned by @m.
 */
int msix_vector_fd(struct msix *m, unsigned int vec);

/* MSI-X is enabled: interrupts go through msix_notify, not INTx. */
bool msix_enabled(struct msix *m);

/* A vector table entry as the guest wrote it (snapshots; on disk as is). */
struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

/* The table into @e[0 .. nr) and the PBA (waiting eventfd counts included) into *@pending. */
void msix_save(struct msix *m, struct msix_entry *e, uint64_t *pending);

/*
 * Load a saved table and PBA into @m while MSI-X is still disabled (a
 * function just created): nothing is routed or delivered until
 * msix_cfg_write() applies the saved Message Control; then what is
 * pending and deliverable is delivered, as after any enable.
 */
void msix_load(struct msix *m, const struct msix_entry *e, uint64_t pending);

/*
 * Raise vector @vec: delivered now if deliverable, else left pending.
 * MSIX_NO_VECTOR does nothing. Returns 0, or -EINVAL for a vector past the
 * table (the caller checked when the driver chose it; this is a backstop).
 */
int msix_notify(struct msix *m, unsigned int vec);

#endif
