// SPDX-License-Identifier: MIT
/* `evvm run --stats`: the fabric's counters, and the devices' own, as text or JSON. */
#include <stdlib.h>

#include <evvm/device.h>
#include <evvm/loop.h>

#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "vm.h"

static const char *space_name(enum ioeventfd_space s)
{
	return s == IOEVENTFD_PIO ? "pio" : "mmio";
}

/* Both tables' snapshots; one allocation. -ENOMEM if none. */
struct fabric_snapshot {
	struct ioeventfd_snapshot io;
	struct irqfd_snapshot irq;
};

static void stats_text(struct evvm_vm *vm, const struct fabric_snapshot *fs, FILE *f)
{
	const struct ioeventfd_snapshot *io = &fs->io;
	const struct irqfd_snapshot *irq = &fs->irq;

	fprintf(f, "ioeventfds (%s): %llu kicks seen, %llu matched by evvm\n",
		io->user ? "user" : "kernel", (unsigned long long)io->kicks,
		(unsigned long long)io->user_hits);
	for (unsigned int i = 0; i < io->nr; i++)
		fprintf(f, "  %s 0x%llx len %u: %llu kicks seen, %llu matched by evvm\n",
			space_name(io->e[i].key.space), (unsigned long long)io->e[i].key.addr,
			io->e[i].key.len, (unsigned long long)io->e[i].kicks,
			(unsigned long long)io->e[i].user_hits);
	fprintf(f, "irqfds (%s): %llu interrupts sent, %llu injected by evvm\n",
		irq->user ? "user" : "kernel", (unsigned long long)irq->signals,
		(unsigned long long)irq->injected);
	for (unsigned int i = 0; i < irq->nr; i++)
		fprintf(f, "  gsi %u%s: %llu interrupts sent, %llu injected by evvm\n",
			irq->e[i].gsi, irq->e[i].level ? " (level)" : "",
			(unsigned long long)irq->e[i].signals,
			(unsigned long long)irq->e[i].injected);
	fprintf(f, "unowned accesses: %llu pio, %llu mmio\n",
		(unsigned long long)iobus_unowned_count(&vm->pio),
		(unsigned long long)iobus_unowned_count(&vm->mmio));
}

static void stats_json(struct evvm_vm *vm, const struct fabric_snapshot *fs, FILE *f)
{
	const struct ioeventfd_snapshot *io = &fs->io;
	const struct irqfd_snapshot *irq = &fs->irq;

	fprintf(f,
		"{\"ioeventfd\": {\"mode\": \"%s\", \"kicks\": %llu, \"user_hits\": %llu, "
		"\"live\": [",
		io->user ? "user" : "kernel", (unsigned long long)io->kicks,
		(unsigned long long)io->user_hits);
	for (unsigned int i = 0; i < io->nr; i++)
		fprintf(f,
			"%s{\"space\": \"%s\", \"addr\": %llu, \"len\": %u, \"kicks\": %llu, "
			"\"user_hits\": %llu}",
			i ? ", " : "", space_name(io->e[i].key.space),
			(unsigned long long)io->e[i].key.addr, io->e[i].key.len,
			(unsigned long long)io->e[i].kicks, (unsigned long long)io->e[i].user_hits);
	fprintf(f,
		"]}, \"irqfd\": {\"mode\": \"%s\", \"signals\": %llu, \"injected\": %llu, "
		"\"live\": [",
		irq->user ? "user" : "kernel", (unsigned long long)irq->signals,
		(unsigned long long)irq->injected);
	for (unsigned int i = 0; i < irq->nr; i++)
		fprintf(f, "%s{\"gsi\": %u, \"level\": %s, \"signals\": %llu, \"injected\": %llu}",
			i ? ", " : "", irq->e[i].gsi, irq->e[i].level ? "true" : "false",
			(unsigned long long)irq->e[i].signals,
			(unsigned long long)irq->e[i].injected);
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
			"\"poll_ns\": %llu, \"polling\": %s, \"poll_trials\": %llu, "
			"\"mean_wait_ns_polling\": %llu, \"mean_wait_ns_sleeping\": %llu}",
			first ? "" : ", ", name, (unsigned long long)s.wakeups,
			(unsigned long long)s.poll_hits, (unsigned long long)s.dispatches,
			(unsigned long long)s.poll_ns, s.polling ? "true" : "false",
			(unsigned long long)s.poll_trials, (unsigned long long)s.poll_mean_ns[0],
			(unsigned long long)s.poll_mean_ns[1]);
	else
		fprintf(f,
			"loop %s: %llu wakeups, %llu poll hits, %llu dispatches, poll window %llu "
			"ns, polling %s (mean wait %llu ns polling, %llu ns sleeping; %llu "
			"trials)\n",
			name, (unsigned long long)s.wakeups, (unsigned long long)s.poll_hits,
			(unsigned long long)s.dispatches, (unsigned long long)s.poll_ns,
			s.polling ? "on" : "off", (unsigned long long)s.poll_mean_ns[0],
			(unsigned long long)s.poll_mean_ns[1], (unsigned long long)s.poll_trials);
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
		if (vm->virtio_pci[i]) /* (summed over its I/O threads' instances) */
			n = virtio_pci_counters(vm->virtio_pci[i], c, EVVM_DEV_MAX_COUNTERS);
		else
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

/*
 * A queue's kick-to-interrupt histogram: JSON an array of the buckets'
 * counts; text the buckets that have samples, "<1us 3, <4us 12, >=65536us 1".
 */
static void stats_latency(FILE *f, bool json, const uint64_t *b)
{
	bool first = true;

	if (json) {
		fprintf(f, ", \"kick_to_interrupt_us\": [");
		for (unsigned int i = 0; i < EVVM_KICK_LATENCY_BUCKETS; i++)
			fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)b[i]);
		fprintf(f, "]");
		return;
	}
	for (unsigned int i = 0; i < EVVM_KICK_LATENCY_BUCKETS; i++) {
		if (!b[i])
			continue;
		if (i + 1 < EVVM_KICK_LATENCY_BUCKETS)
			fprintf(f, "%s<%lluus %llu", first ? "; kick to interrupt: " : ", ",
				1ULL << i, (unsigned long long)b[i]);
		else
			fprintf(f, "%s>=%lluus %llu", first ? "; kick to interrupt: " : ", ",
				1ULL << (i - 1), (unsigned long long)b[i]);
		first = false;
	}
}

/*
 * Each virtio device's doorbells, per queue (see struct virtio_mmio_stats):
 * text "virtio blk0 q0: 12 kicks (10 wakeups), 12 interrupts; kick to
 * interrupt: <16us 10", JSON "virtio": {"blk0": {"kicks_seen": true,
 * "config_interrupts": 0, "queues": [{"kicks": 12, "kick_wakeups": 10,
 * "interrupts": 12, "kick_to_interrupt_us": [0, ...]}]}}.
 */
static void stats_virtio(struct evvm_vm *vm, FILE *f, bool json)
{
	bool first = true;

	if (json)
		fprintf(f, "}, \"virtio\": {");
	for (unsigned int i = 0; i < EVVM_MAX_VIRTIO; i++) {
		struct virtio_mmio_stats s;
		const char *id;

		if (vm->virtio[i]) {
			id = virtio_mmio_dev(vm->virtio[i])->id;
			virtio_mmio_get_stats(vm->virtio[i], &s);
		} else if (vm->virtio_pci[i]) {
			id = virtio_pci_dev(vm->virtio_pci[i])->id;
			virtio_pci_get_stats(vm->virtio_pci[i], &s);
		} else {
			continue;
		}
		if (!json && first)
			fprintf(f,
				"virtio doorbells (kicks: guest writes to QueueNotify or a pci "
				"doorbell, summed from the kick eventfd's counter by the device's "
				"I/O thread; wakeups: its reads; interrupts: used-buffer "
				"notifications sent; kick to interrupt: from a wakeup to the "
				"queue's next interrupt, samples per bucket):\n");
		if (json) {
			fprintf(f,
				"%s\"%s\": {\"kicks_seen\": %s, \"config_interrupts\": %llu, "
				"\"queues\": [",
				first ? "" : ", ", id, s.kicks_seen ? "true" : "false",
				(unsigned long long)s.config_interrupts);
			for (unsigned int q = 0; q < s.nr_queues; q++) {
				fprintf(f,
					"%s{\"kicks\": %llu, \"kick_wakeups\": %llu, "
					"\"interrupts\": %llu",
					q ? ", " : "", (unsigned long long)s.q[q].kicks,
					(unsigned long long)s.q[q].kick_wakeups,
					(unsigned long long)s.q[q].interrupts);
				stats_latency(f, true, s.q[q].kick_to_interrupt);
				fprintf(f, "}");
			}
			fprintf(f, "]}");
		} else if (!s.kicks_seen) {
			fprintf(f,
				"  %s: served by a vhost-user backend, which reads its kicks and "
				"sends its interrupts itself (not counted here)\n",
				id);
		} else {
			for (unsigned int q = 0; q < s.nr_queues; q++) {
				fprintf(f, "  %s q%u: %llu kicks (%llu wakeups), %llu interrupts",
					id, q, (unsigned long long)s.q[q].kicks,
					(unsigned long long)s.q[q].kick_wakeups,
					(unsigned long long)s.q[q].interrupts);
				stats_latency(f, false, s.q[q].kick_to_interrupt);
				fprintf(f, "\n");
			}
			if (s.config_interrupts)
				fprintf(f, "  %s: %llu configuration interrupts\n", id,
					(unsigned long long)s.config_interrupts);
		}
		first = false;
	}
}

void vm_print_stats(struct evvm_vm *vm, FILE *f, bool json)
{
	struct fabric_snapshot *fs = malloc(sizeof(*fs));

	if (!fs) {
		fprintf(f, json ? "{\"error\": \"out of memory\"}\n" : "stats: out of memory\n");
		return;
	}
	ioeventfd_snapshot(&vm->ioeventfds, &fs->io);
	irqfd_snapshot(&vm->irqfds, &fs->irq);
	if (json)
		stats_json(vm, fs, f);
	else
		stats_text(vm, fs, f);
	free(fs);
	stats_loop(f, json, true, "vm", vm->loop);
	if (vm->testdev)
		stats_loop(f, json, false, "testdev-io", testdev_loop(vm->testdev));
	stats_virtio(vm, f, json);
	stats_devices(vm, f, json);
	if (json)
		fprintf(f, "}}\n");
}
