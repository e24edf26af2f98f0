// SPDX-License-Identifier: MIT
/* vm_get_metrics(): the counters Firecracker-style metrics are made of. */
#include <string.h>

#include "uart.h"
#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "vm.h"

static uint64_t load(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void metrics_dev(struct virtio_mmio *mmio, struct virtio_pci *pci,
			struct evvm_dev_metrics *d)
{
	struct evvm_virtio_dev *dev = mmio ? virtio_mmio_dev(mmio) : virtio_pci_dev(pci);
	struct virtio_mmio_stats s;

	d->id = dev->id;
	d->device_id = dev->ops->device_id;
	if (pci)
		d->nr_counters = virtio_pci_counters(pci, d->counters, EVVM_DEV_MAX_COUNTERS);
	else if (dev->ops->counters)
		d->nr_counters = dev->ops->counters(dev, d->counters, EVVM_DEV_MAX_COUNTERS);
	if (mmio)
		virtio_mmio_get_stats(mmio, &s);
	else
		virtio_pci_get_stats(pci, &s);
	d->kicks_seen = s.kicks_seen;
	d->config_interrupts = s.config_interrupts;
	if (!s.kicks_seen)
		return;
	d->nr_queues = s.nr_queues;
	for (unsigned int q = 0; q < s.nr_queues; q++) {
		d->kicks[q] = s.q[q].kicks;
		d->interrupts[q] = s.q[q].interrupts;
		memcpy(d->kick_to_interrupt[q], s.q[q].kick_to_interrupt,
		       sizeof(d->kick_to_interrupt[q]));
	}
}

void vm_get_metrics(struct evvm_vm *vm, struct evvm_vm_metrics *m)
{
	struct uart_counters u;

	memset(m, 0, sizeof(*m));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		const struct vcpu *v = &vm->vcpus[i];

		m->exit_io_in += load(&v->exit_io_in);
		m->exit_io_out += load(&v->exit_io_out);
		m->exit_mmio_read += load(&v->exit_mmio_read);
		m->exit_mmio_write += load(&v->exit_mmio_write);
		m->vcpu_failures += load(&v->failures);
	}
	if (vm->uart) {
		uart_get_counters(vm->uart, &u);
		m->uart_read_count = u.read_count;
		m->uart_write_count = u.write_count;
		m->uart_error_count = u.error_count;
	}
	for (unsigned int i = 0; i < EVVM_MAX_VIRTIO; i++)
		if (vm->virtio[i] || vm->virtio_pci[i])
			metrics_dev(vm->virtio[i], vm->virtio_pci[i], &m->dev[i]);
}
