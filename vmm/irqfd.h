/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_IRQFD_H
#define EVVM_VMM_IRQFD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * irqfds: writing an eventfd injects an interrupt. GSIs 0-23 are the
 * IOAPIC's pins (0-15 also the PIC's, as in KVM's default routing); GSIs
 * from 24 up are MSI routes allocated here. In kernel mode KVM_IRQFD does
 * the injection; in user mode a thread of ours waits on the same eventfds
 * and injects with KVM_IRQ_LINE / KVM_SIGNAL_MSI.
 *
 * Level lines (a resample eventfd given): the line is asserted on a signal
 * and deasserted on the guest's EOI, which writes the resample eventfd so
 * the device can signal again if it still has work. In user mode the line
 * is pulsed and the thread watches the pin's remote IRR to learn of the EOI,
 * which gives the guest the same interrupts.
 */

#define IRQFD_PINS    24
#define IRQFD_MSI_MAX 64
#define IRQFD_MAX     128

struct irqfd {
	int fd;		 /* not owned */
	int resample_fd; /* -1 for edge; not owned */
	uint32_t gsi;
	_Atomic uint64_t signals;  /* irqfd_signal() calls */
	_Atomic uint64_t injected; /* user mode: interrupts injected */
	bool in_service;	   /* user mode, level: waiting for the EOI */
	struct irqfd *next_dead;   /* user mode: deassigned, freed by the injector */
};

struct irqfd_msi_route {
	uint32_t gsi;
	uint64_t addr;
	uint32_t data;
};

struct irqfd_table {
	int vm_fd;
	bool user;
	pthread_mutex_t lock;
	struct irqfd_msi_route msi[IRQFD_MSI_MAX];
	unsigned int nr_msi;
	struct irqfd *entries[IRQFD_MAX];
	unsigned int nr;
	uint64_t retired_signals, retired_injected; /* of deassigned entries */

	/* user mode injector */
	int epfd;
	int wake_fd;
	pthread_t thread;
	bool thread_started;
	struct irqfd *graveyard; /* deassigned entries a batch may still name */
	pthread_cond_t reaped;
	atomic_bool stop;
};

int irqfd_table_init(struct irqfd_table *t, int vm_fd, bool user);

/* Deassign every irqfd (from KVM too), stop the injector, free. */
void irqfd_table_destroy(struct irqfd_table *t);

/* Route a new GSI to the MSI (@addr, @data). Returns 0 and sets *@gsi, or -errno. */
int irqfd_route_msi(struct irqfd_table *t, uint64_t addr, uint32_t data, uint32_t *gsi);

/*
 * Point the MSI route @gsi at (@addr, @data) in place: an irqfd bound to it
 * keeps working and its next interrupt goes to the new target (KVM swaps
 * the route atomically). 0, -ENOENT, or the ioctl's -errno (route unchanged).
 */
int irqfd_route_update(struct irqfd_table *t, uint32_t gsi, uint64_t addr, uint32_t data);

/* Free an MSI route no irqfd uses. 0, -ENOENT, or -EBUSY if in use. */
int irqfd_route_remove(struct irqfd_table *t, uint32_t gsi);

/*
 * Inject @gsi when @fd (an eventfd, not owned) is written. @resample_fd >= 0
 * makes the line level-triggered (pins only). An eventfd already signalled
 * delivers at once. -EBUSY if @fd already backs an irqfd, -EINVAL for a GSI
 * that is neither a pin nor a routed MSI, or level on an MSI.
 */
int irqfd_assign(struct irqfd_table *t, int fd, uint32_t gsi, int resample_fd, struct irqfd **out);

/* Remove the irqfd of @fd on @gsi. 0 or -ENOENT. */
int irqfd_deassign(struct irqfd_table *t, int fd, uint32_t gsi);

/* One live irqfd's GSI and counters, as irqfd_snapshot() copies them. */
struct irqfd_stat {
	uint32_t gsi;
	bool level;
	uint64_t signals, injected;
};

/* The table as --stats shows it: its mode, its totals, and each live irqfd. */
struct irqfd_snapshot {
	bool user;
	uint64_t signals, injected; /* over the table's life, deassigned irqfds included */
	unsigned int nr;
	struct irqfd_stat e[IRQFD_MAX];
};

/* Fill @s under the table's lock; the irqfds may change right after. */
void irqfd_snapshot(struct irqfd_table *t, struct irqfd_snapshot *s);

/* Signals and user-mode injections over the table's life. */
void irqfd_totals(struct irqfd_table *t, uint64_t *signals, uint64_t *injected);

/* Signal @irqfd from a device (counts it). 0 or -errno. */
int irqfd_signal(struct irqfd *irqfd);

#endif
