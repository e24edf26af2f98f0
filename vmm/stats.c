// SPDX-License-Identifier: MIT
/* `evvm run --stats`: the fabric's counters, and the devices' own, as text or JSON. */
#include <evvm/device.h>
#include <evvm/loop.h>

#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "vm.h"

static const char *space_name(enum ioeventfd_space s)
{
	return s == IOEVENTFD_PIO ? "pio" : "mmio";
}

static void stats_text(struct evvm_vm *vm, FILE *f)
{
	struct ioeventfd_table *io = &vm->ioeventfds;
	struct irqfd_table *irq = &vm->irqfds;
	uint64_t kicks, hits, signals, injected;

	ioeventfd_totals(io, &kicks, &hits);
	irqfd_totals(irq, &signals, &injected);
	fprintf(f, "ioeventfds (%s): %llu kicks seen, %llu matched by evvm\n",
		io->user ? "user" : "kernel", (unsigned long long)kicks, (unsigned long long)hits);
	pthread_rwlock_rdlock(&io->lock);
	for (unsigned int i = 0; i < io->nr; i++) {
		struct ioeventfd *e = io->entries[i];

		fprintf(f, "  %s 0x%llx len %u: %llu kicks seen, %llu matched by evvm\n",
			space_name(e->key.space), (unsigned long long)e->key.addr, e->key.len,
			(unsigned long long)atomic_load(&e->kicks),
			(unsigned long long)atomic_load(&e->user_hits));
	}
	pthread_rwlock_unlock(&io->lock);

	fprintf(f, "irqfds (%s): %llu interrupts sent, %llu injected by evvm\n",
		irq->user ? "user" : "kernel", (unsigned long long)signals,
		(unsigned long long)injected);
	pthread_mutex_lock(&irq->lock);
	for (unsigned int i = 0; i < irq->nr; i++) {
		struct irqfd *q = irq->entries[i];

		fprintf(f, "  gsi %u%s: %llu interrupts sent, %llu injected by evvm\n", q->gsi,
			q->resample_fd >= 0 ? " (level)" : "",
			(unsigned long long)atomic_load(&q->signals),
			(unsigned long long)atomic_load(&q->injected));
	}
	pthread_mutex_unlock(&irq->lock);
	fprintf(f, "unowned accesses: %llu pio, %llu mmio\n",
		(unsigned long long)iobus_unowned_count(&vm->pio),
		(unsigned long long)iobus_unowned_count(&vm->mmio));
}

static void stats_json(struct evvm_vm *vm, FILE *f)
{
	struct ioeventfd_table *io = &vm->ioeventfds;
	struct irqfd_table *irq = &vm->irqfds;
	uint64_t kicks, hits, signals, injected;

	ioeventfd_totals(io, &kicks, &hits);
	irqfd_totals(irq, &signals, &injected);
	fprintf(f, "{\"ioeventfd\": {\"mode\": \"%s\", \"kicks\": %llu, \"user_hits\": %llu, "
		   "\"live\": [",
		io->user ? "user" : "kernel", (unsigned long long)kicks, (unsigned long long)hits);
	pthread_rwlock_rdlock(&io->lock);
	for (unsigned int i = 0; i < io->nr; i++) {
		struct ioeventfd *e = io->entries[i];

		fprintf(f, "%s{\"space\": \"%s\", \"addr\": %llu, \"len\": %u, \"kicks\": %llu, "
			   "\"user_hits\": %llu}",
			i ? ", " : "", space_name(e->key.space), (unsigned long long)e->key.addr,
			e->key.len, (unsigned long long)atomic_load(&e->kicks),
			(unsigned long long)atomic_load(&e->user_hits));
	}
	pthread_rwlock_unlock(&io->lock);
	fprintf(f, "]}, \"irqfd\": {\"mode\": \"%s\", \"signals\": %llu, \"injected\": %llu, "
		   "\"live\": [",
		irq->user ? "user" : "kernel", (unsigned long long)signals,
		(unsigned long long)injected);
	pthread_mutex_lock(&irq->lock);
	for (unsigned int i = 0; i < irq->nr; i++) {
		struct irqfd *q = irq->entries[i];

		fprintf(f, "%s{\"gsi\": %u, \"level\": %s, \"signals\": %llu, \"injected\": %llu}",
			i ? ", " : "", q->gsi, q->resample_fd >= 0 ? "true" : "false",
			(unsigned long long)atomic_load(&q->signals),
			(unsigned long long)atomic_load(&q->injected));
	}
	pthread_mutex_unlock(&irq->lock);
	fprintf(f, "]}, \"unowned\": {\"pio\": %llu, \"mmio\": %llu}, \"loops\": {",
		(unsigned long long)iobus_unowned_count(&vm->pio),
		(unsigned long long)iobus_unowned_count(&vm->mmio));
}

static void stats_loop(FILE *f, bool json, bool first, const char *name, struct evvm_loop *loop)
{
	struct evvm_loop_stats s;

	loop_get_stats(loop, &s);
	if (json)
		fprintf(f,
			"%s\"%s\": {\"wakeups\": %llu, \"poll_hits\": %llu, \"dispatches\": %llu, "
			"\"poll_ns\": %llu}",
			first ? "" : ", ", name, (unsigned long long)s.wakeups,
			(unsigned long long)s.poll_hits, (unsigned long long)s.dispatches,
			(unsigned long long)s.poll_ns);
	else
		fprintf(f,
			"loop %s: %llu wakeups, %llu poll hits, %llu dispatches, poll window %llu "
			"ns\n",
			name, (unsigned long long)s.wakeups, (unsigned long long)s.poll_hits,
			(unsigned long long)s.dispatches, (unsigned long long)s.poll_ns);
}

/*
 * Devices with counters: text "device net0: rx_packets 3, ...", one line
 * each; JSON "devices": {"net0": {"rx_packets": 3, ...}}.
 */
static void stats_devices(struct evvm_vm *vm, FILE *f, bool json)
{
	bool first = true;

	if (json)
		fprintf(f, "}, \"devices\": {");
	for (unsigned int i = 0; i < EVVM_MAX_VIRTIO; i++) {
		struct evvm_virtio_dev *dev = vm->virtio[i] ? virtio_mmio_dev(vm->virtio[i]) : NULL;
		struct evvm_dev_counter c[EVVM_DEV_MAX_COUNTERS];
		unsigned int n;

		if (vm->virtio_pci[i])
			dev = virtio_pci_dev(vm->virtio_pci[i]);
		if (!dev || !dev->ops->counters)
			continue;
		n = dev->ops->counters(dev, c, EVVM_DEV_MAX_COUNTERS);
		fprintf(f, json ? "%s\"%s\": {" : "%sdevice %s:", json && !first ? ", " : "",
			dev->id);
		for (unsigned int k = 0; k < n; k++)
			fprintf(f, json ? "%s\"%s\": %llu" : "%s %s %llu",
				k ? (json ? ", " : ",") : "", c[k].name,
				(unsigned long long)c[k].value);
		fprintf(f, json ? "}" : "\n");
		first = false;
	}
}

void vm_print_stats(struct evvm_vm *vm, FILE *f, bool json)
{
	if (json)
		stats_json(vm, f);
	else
		stats_text(vm, f);
	stats_loop(f, json, true, "vm", vm->loop);
	if (vm->testdev)
		stats_loop(f, json, false, "testdev-io", testdev_loop(vm->testdev));
	stats_devices(vm, f, json);
	if (json)
		fprintf(f, "}}\n");
}
