/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VM_H
#define EVVM_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <evvm/mem.h>
#include <evvm/vm.h>

#include "iobus.h"
#include "ioeventfd.h"
#include "irqfd.h"

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
};

/* Fixed guest-physical layout (see docs/memory-map.md). */
#define LOW_RAM_END	 0xc0000000ULL	/* RAM below 4 GiB ends here */
#define HIGH_RAM_START	 0x100000000ULL /* the rest of RAM starts here */
#define IOAPIC_BASE	 0xfec00000ULL
#define LAPIC_BASE	 0xfee00000ULL
#define KVM_IDMAP_ADDR	 0xfffbc000ULL /* one page, VMX real-mode identity map */
#define KVM_TSS_ADDR	 0xfffbd000ULL /* three pages, VMX real-mode TSS */
#define DEBUG_EXIT_PORT	 0xf4
#define COM1_PORT	 0x3f8
#define COM1_IRQ	 4
#define VIRTIO_MMIO_BASE 0xd1000000ULL /* device i at base + i * 4 KiB */

struct evvm_vm {
	struct evvm_vm_config cfg;
	int kvm_fd;
	int vm_fd;
	size_t run_size;

	int mem_fd; /* memfd backing all guest RAM */
	void *ram;
	uint64_t ram_size;
	struct evvm_mem mem;

	struct iobus pio;
	struct iobus mmio;
	struct ioeventfd_table ioeventfds;
	struct irqfd_table irqfds;
	bool fabric_ready; /* the two tables above are initialised */

	struct kvm_cpuid2 *cpuid; /* what KVM supports; patched per vCPU */
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	uint64_t entry_rip; /* boot vCPU entry and %rbx (PVH start_info) */
	uint64_t entry_rbx;
	bool entry_linux64; /* enter in 64-bit mode with %rsi = entry_rsi (boot/linux.c) */
	uint64_t entry_rsi; /* the zero page */

	struct evvm_loop *loop;
	struct uart *uart;
	struct i8042 *i8042;
	struct testdev *testdev;
	struct virtio_mmio *virtio[EVVM_MAX_VIRTIO];
	struct pci_bus *pci; /* --transport=pci: the root complex */
	struct virtio_pci *virtio_pci[EVVM_MAX_VIRTIO];
	char *cmdline; /* the configured one plus virtio_mmio.device= entries */

	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	int status;
};

/* vcpu.c */
int vcpu_create(struct evvm_vm *vm, struct vcpu *vcpu, unsigned int id);
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct evvm_vm *vm, struct vcpu *vcpu);

/* Raise or lower an irqchip input line (GSI) from userspace. */
int vm_set_irq_line(struct evvm_vm *vm, unsigned int gsi, int level);

/* debug_exit.c */
int debug_exit_init(struct evvm_vm *vm);

/* acpi_sleep.c: the ACPI sleep control/status register; S5 ends the VM with status 0. */
int acpi_sleep_init(struct evvm_vm *vm);

/* i8042.c: the keyboard controller at ports 0x60 and 0x64 (reset only). */
int i8042_create(struct evvm_vm *vm, struct i8042 **out);
void i8042_destroy(struct i8042 *kbc);

/* testdev.c */
int testdev_create(struct evvm_vm *vm, struct testdev **out);
void testdev_destroy(struct testdev *td);
unsigned int testdev_marks(struct testdev *td, struct evvm_mark *out, unsigned int max);
struct evvm_loop *testdev_loop(struct testdev *td);

#endif
