// SPDX-License-Identifier: MIT
/* Firecracker's metrics line, from evvm's counters (cli/metrics.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <evvm/virtio.h>

#include "metrics.h"

/* evvm's device counters that Firecracker has under another name. */
static const struct {
	uint32_t device_id;
	const char *evvm, *firecracker;
} renames[] = {
	{ VIRTIO_ID_NET, "rx_packets", "rx_packets_count" },
	{ VIRTIO_ID_NET, "rx_bytes", "rx_bytes_count" },
	{ VIRTIO_ID_NET, "tx_packets", "tx_packets_count" },
	{ VIRTIO_ID_NET, "tx_bytes", "tx_bytes_count" },
	{ VIRTIO_ID_NET, "tx_errors", "tx_fails" },
	{ VIRTIO_ID_NET, "tx_dropped_bad_header", "tx_malformed_frames" },
	{ VIRTIO_ID_NET, "rx_rate_limiter_throttled", "rx_rate_limiter_throttled" },
	{ VIRTIO_ID_NET, "tx_rate_limiter_throttled", "tx_rate_limiter_throttled" },
	{ VIRTIO_ID_BLOCK, "read_count", "read_count" },
	{ VIRTIO_ID_BLOCK, "write_count", "write_count" },
	{ VIRTIO_ID_BLOCK, "read_bytes", "read_bytes" },
	{ VIRTIO_ID_BLOCK, "write_bytes", "write_bytes" },
	{ VIRTIO_ID_BLOCK, "flush_count", "flush_count" },
	{ VIRTIO_ID_BLOCK, "invalid_reqs_count", "invalid_reqs_count" },
	{ VIRTIO_ID_BLOCK, "execute_fails", "execute_fails" },
	{ VIRTIO_ID_BLOCK, "rate_limiter_throttled_events", "rate_limiter_throttled_events" },
	{ VIRTIO_ID_RNG, "entropy_event_count", "entropy_event_count" },
	{ VIRTIO_ID_RNG, "entropy_bytes", "entropy_bytes" },
	{ VIRTIO_ID_RNG, "entropy_rate_limiter_throttled", "entropy_rate_limiter_throttled" },
};

static const char *fc_name(uint32_t device_id, const char *name)
{
	for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++)
		if (renames[i].device_id == device_id && !strcmp(renames[i].evvm, name))
			return renames[i].firecracker;
	return NULL;
}

/* @o[@name], an object, created if need be (NULL when out of memory). */
static json_t *section(json_t *o, const char *name)
{
	json_t *s = json_object_get(o, name);

	if (!s && json_object_set_new(o, name, json_object()) == 0)
		s = json_object_get(o, name);
	return s;
}

/* @o[@key] += @v (an integer, 0 to start with). */
static void add(json_t *o, const char *key, uint64_t v)
{
	json_t *old = o ? json_object_get(o, key) : NULL;

	if (o)
		json_object_set_new(
			o, key,
			json_integer((json_int_t)(v + (old ? json_integer_value(old) : 0))));
}

/* The section of device @slot ("block_rootfs", "net_eth0", "entropy"), or NULL for none. */
static const char *dev_section(const struct vm_desc *d, unsigned int slot, uint32_t device_id,
			       char *buf, size_t size)
{
	if (device_id == VIRTIO_ID_RNG)
		return "entropy";
	if (!d)
		return NULL;
	for (unsigned int i = 0; device_id == VIRTIO_ID_BLOCK && i < d->nr_drives; i++)
		if (vmdesc_drive_slot(d, i) == slot && !d->drives[i].socket) {
			snprintf(buf, size, "block_%s", d->drives[i].id);
			return buf;
		}
	for (unsigned int i = 0; device_id == VIRTIO_ID_NET && i < d->nr_nets; i++)
		if (d->nr_drives + i == slot) {
			snprintf(buf, size, "net_%s", d->nets[i].id);
			return buf;
		}
	return NULL;
}

/*
 * Queue @q's entry under "evvm": its kicks, interrupts and kick-to-interrupt
 * histogram (vmm/kick_latency.h's buckets), all since the previous line.
 */
static json_t *queue_entry(const struct evvm_dev_metrics *now, const struct evvm_dev_metrics *was,
			   unsigned int q)
{
	json_t *hist = json_array();

	for (unsigned int i = 0; hist && i < EVVM_KICK_LATENCY_BUCKETS; i++)
		json_array_append_new(hist,
				      json_integer((json_int_t)(now->kick_to_interrupt[q][i] -
								was->kick_to_interrupt[q][i])));
	return json_pack("{s:I, s:I, s:o*}", "kicks", (json_int_t)(now->kicks[q] - was->kicks[q]),
			 "interrupts", (json_int_t)(now->interrupts[q] - was->interrupts[q]),
			 "kick_to_interrupt_us", hist);
}

/* One device: its Firecracker section(s), and its counters and queues under "evvm". */
static void line_dev(json_t *line, const struct metrics_input *in, unsigned int slot,
		     const struct evvm_dev_metrics *now, const struct evvm_dev_metrics *was)
{
	const char *agg = now->device_id == VIRTIO_ID_BLOCK ? "block"
			  : now->device_id == VIRTIO_ID_NET ? "net"
							    : NULL;
	char buf[64];
	const char *name = dev_section(in->desc, slot, now->device_id, buf, sizeof(buf));
	json_t *own = name ? section(line, name) : NULL;
	json_t *sum = name && agg ? section(line, agg) : NULL;
	json_t *ev = section(section(line, "evvm"), now->id);
	json_t *counters = section(ev, "counters"), *queues = json_array();
	uint64_t kicks = 0;

	for (unsigned int k = 0; k < now->nr_counters; k++) {
		uint64_t d = now->counters[k].value -
			     (k < was->nr_counters ? was->counters[k].value : 0);
		const char *fc = fc_name(now->device_id, now->counters[k].name);

		add(counters, now->counters[k].name, d);
		if (fc) {
			add(own, fc, d);
			add(sum, fc, d);
		}
	}
	for (unsigned int q = 0; q < now->nr_queues; q++) {
		uint64_t dk = now->kicks[q] - was->kicks[q];

		kicks += dk;
		json_array_append_new(queues, queue_entry(now, was, q));
		if (now->device_id == VIRTIO_ID_NET && q < 2) {
			add(own, q ? "tx_queue_event_count" : "rx_queue_event_count", dk);
			add(sum, q ? "tx_queue_event_count" : "rx_queue_event_count", dk);
		}
	}
	if (now->device_id == VIRTIO_ID_BLOCK && now->kicks_seen) {
		add(own, "queue_event_count", kicks);
		add(sum, "queue_event_count", kicks);
	}
	if (ev) {
		json_object_set_new(ev, "kicks_seen", json_boolean(now->kicks_seen));
		json_object_set_new(ev, "queues", queues);
		add(ev, "config_interrupts", now->config_interrupts - was->config_interrupts);
	} else {
		json_decref(queues);
	}
}

static void line_vm(json_t *line, const struct metrics_input *in, const struct evvm_vm_metrics *was)
{
	const struct evvm_vm_metrics *m = in->vm;

	json_object_set_new(
		line, "vcpu",
		json_pack("{s:I, s:I, s:I, s:I, s:I}", "exit_io_in",
			  (json_int_t)(m->exit_io_in - was->exit_io_in), "exit_io_out",
			  (json_int_t)(m->exit_io_out - was->exit_io_out), "exit_mmio_read",
			  (json_int_t)(m->exit_mmio_read - was->exit_mmio_read), "exit_mmio_write",
			  (json_int_t)(m->exit_mmio_write - was->exit_mmio_write), "failures",
			  (json_int_t)(m->vcpu_failures - was->vcpu_failures)));
	json_object_set_new(
		line, "uart",
		json_pack("{s:I, s:I, s:I}", "read_count",
			  (json_int_t)(m->uart_read_count - was->uart_read_count), "write_count",
			  (json_int_t)(m->uart_write_count - was->uart_write_count), "error_count",
			  (json_int_t)(m->uart_error_count - was->uart_error_count)));
	for (unsigned int i = 0; i < EVVM_MAX_VIRTIO; i++)
		if (m->dev[i].id)
			line_dev(line, in, i, &m->dev[i], &was->dev[i]);
}

json_t *metrics_line(const struct metrics_input *in, struct metrics_last *last)
{
	json_t *line = json_object(), *lat;

	if (!line)
		return NULL;
	json_object_set_new(line, "utc_timestamp_ms", json_integer(in->utc_ms));
	if (in->id)
		json_object_set_new(line, "id", json_string(in->id));
	json_object_set_new(line, "api_server",
			    json_pack("{s:I, s:I}", "requests",
				      (json_int_t)(in->requests - last->requests), "request_errors",
				      (json_int_t)(in->request_errors - last->request_errors)));
	if (in->vm)
		line_vm(line, in, &last->vm);
	json_object_set_new(line, "vmm", json_pack("{s:s}", "state", in->state));
	lat = json_object();
	if (lat && in->pause_us)
		json_object_set_new(lat, "pause_vm", json_integer((json_int_t)in->pause_us));
	if (lat && in->resume_us)
		json_object_set_new(lat, "resume_vm", json_integer((json_int_t)in->resume_us));
	json_object_set_new(line, "latencies_us", lat);
	json_object_set_new(line, "logger",
			    json_pack("{s:I, s:I}", "missed_metrics_count",
				      (json_int_t)(in->lost_metrics - last->lost_metrics),
				      "missed_log_count",
				      (json_int_t)(in->lost_logs - last->lost_logs)));
	last->requests = in->requests;
	last->request_errors = in->request_errors;
	last->lost_metrics = in->lost_metrics;
	last->lost_logs = in->lost_logs;
	if (in->vm)
		last->vm = *in->vm;
	return line;
}
