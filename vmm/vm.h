/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VM_H
#define EVVM_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <evvm/mem.h>
#include <evvm/vm.h>

#include "gate.h"
#include "iobus.h"
#include "ioeventfd.h"
#include "irqfd.h"
#include "layout.h"
#include "legacy.h"

struct kvm_run;
struct kvm_cpuid2;
struct uart;
struct testdev;
struct i8042;
struct virtio_mmio;
struct virtio_pci;
struct pci_bus;

struct vcpu {
	struct evvm_vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	/* Exits, counted by the vCPU's thread (relaxed atomics: read by the metrics). */
	uint64_t exit_io_in, exit_io_out, exit_mmio_read, exit_mmio_write, failures;
};

struct evvm_vm {
	struct evvm_vm_config cfg;
	int kvm_fd;
	int vm_fd;
	size_t run_size;

	int mem_fd; /* memfd backing all guest RAM */
	void *ram;
	uint64_t ram_size;
	struct evvm_mem mem; /* region i is KVM memory slot i */
	/*
	 * cfg.track_dirty_pages: the last snapshot (or the restore) is the base
	 * a diff snapshot is taken against; false until then, or after a
	 * snapshot that failed once the logs were taken: the next diff holds
	 * every page.
	 */
	bool dirty_base;

	struct iobus pio;
	struct iobus mmio;
	struct ioeventfd_table ioeventfds;
	struct irqfd_table irqfds;
	bool fabric_ready; /* the two tables above are initialised */

	struct kvm_cpuid2 *cpuid; /* what KVM supports; patched per vCPU */
	struct vcpu *vcpus;
	unsigned int nr_vcpus;

	struct evvm_loop *loop;
	struct uart *uart;
	struct i8042 *i8042;
	struct stop_hook stop; /* how the vCPUs, debug-exit, ACPI sleep and the i8042 end the VM */
	struct irq_hook irq;   /* how the i8042 raises its interrupt */
	struct testdev *testdev;
	struct virtio_mmio *virtio[EVVM_MAX_VIRTIO];
	struct pci_bus *pci; /* --transport=pci: the root complex */
	struct virtio_pci *virtio_pci[EVVM_MAX_VIRTIO];
	char *cmdline; /* the configured one plus virtio_mmio.device= entries */

	pthread_mutex_t stop_lock;
	pthread_cond_t go_cond; /* vCPUs wait for go (under stop_lock) before KVM_RUN */
	bool go;		/* the main thread has confined itself (vm_run()) */
	atomic_bool stopping;
	int status;

	struct vcpu_gate gate;	    /* where the vCPUs park while paused */
	pthread_mutex_t pause_lock; /* one vm_pause/vm_resume at a time */
	bool paused;		    /* under pause_lock: vCPUs parked, devices quiesced */
};

/* vcpu.c */
int vcpu_create(struct evvm_vm *vm, struct vcpu *vcpu, unsigned int id);
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct evvm_vm *vm, struct vcpu *vcpu);

/*
 * vm_create(), or with @ram_fd >= 0 the shape of a VM to restore: guest
 * RAM mapped MAP_PRIVATE from @ram_fd (not owned; the mapping keeps the
 * file), no kernel, tables or boot registers (snapshot_vm.c loads them).
 * With @ram_shared, @ram_fd is a memfd holding the RAM instead, mapped
 * shared and kept (a dup) as the VM's memfd, which a vhost-user backend
 * maps too.
 */
int vm_create_from(const struct evvm_vm_config *cfg, int ram_fd, bool ram_shared,
		   struct evvm_vm **out);

/* Raise or lower an irqchip input line (GSI) from userspace. */
int vm_set_irq_line(struct evvm_vm *vm, unsigned int gsi, int level);

/* testdev.c */
int testdev_create(struct evvm_vm *vm, struct testdev **out);
void testdev_destroy(struct testdev *td);
unsigned int testdev_marks(struct testdev *td, struct evvm_mark *out, unsigned int max);
struct evvm_loop *testdev_loop(struct testdev *td);

#endif
