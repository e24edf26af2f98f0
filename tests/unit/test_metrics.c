// SPDX-License-Identifier: MIT
/*
 * The metrics line (cli/metrics.c) from made-up counters: Firecracker's
 * sections and names, per-drive and per-interface sections named by the
 * description, counters as differences from the previous line, and the
 * line's shape checked by api_schemas.py's MetricsLine schema.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/virtio.h>

#include "metrics.h"
#include "proc.h"

struct fixture {
	struct vm_desc desc;
	struct evvm_vm_metrics vm;
	struct metrics_last last;
};

static void set_counter(struct evvm_dev_metrics *d, const char *name, uint64_t v)
{
	for (unsigned int i = 0; i < d->nr_counters; i++)
		if (!strcmp(d->counters[i].name, name)) {
			d->counters[i].value = v;
			return;
		}
	d->counters[d->nr_counters++] = (struct evvm_dev_counter){ name, v };
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char msg[VMDESC_MSG_MAX];
	struct vmdesc_drive data = { .id = "data", .path = strdup("/d") };
	struct vmdesc_drive root = { .id = "rootfs", .path = strdup("/r"), .is_root = true };
	struct vmdesc_net n = { .id = "eth0", .tap = strdup("tap0") };

	if (!f)
		return -1;
	vmdesc_init(&f->desc);
	/* "rootfs" is the root: slot 0, before "data" (slot 1); the net is slot 2. */
	if (vmdesc_put_drive(&f->desc, &data, msg) || vmdesc_put_drive(&f->desc, &root, msg) ||
	    vmdesc_put_net(&f->desc, &n, msg))
		return -1;
	f->desc.rng = true;
	f->vm.dev[0] = (struct evvm_dev_metrics){
		.id = "blk0", .device_id = VIRTIO_ID_BLOCK, .kicks_seen = true, .nr_queues = 1
	};
	f->vm.dev[1] = (struct evvm_dev_metrics){
		.id = "blk1", .device_id = VIRTIO_ID_BLOCK, .kicks_seen = true, .nr_queues = 1
	};
	f->vm.dev[2] = (struct evvm_dev_metrics){
		.id = "eth0", .device_id = VIRTIO_ID_NET, .kicks_seen = true, .nr_queues = 2
	};
	f->vm.dev[3] = (struct evvm_dev_metrics){
		.id = "rng0", .device_id = VIRTIO_ID_RNG, .kicks_seen = true, .nr_queues = 1
	};
	f->vm.dev[4] = (struct evvm_dev_metrics){
		.id = "console0", .device_id = VIRTIO_ID_CONSOLE, .kicks_seen = true, .nr_queues = 2
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmdesc_release(&f->desc);
	free(f);
	return 0;
}

static json_int_t at(json_t *line, const char *sec, const char *key)
{
	json_t *s = json_object_get(line, sec);
	json_t *v = s ? json_object_get(s, key) : NULL;

	if (!json_is_integer(v))
		fail_msg("%s.%s: missing", sec, key);
	return json_integer_value(v);
}

/* Bucket @b of queue 0's kick-to-interrupt histogram of evvm device @dev. */
static json_int_t hist_at(json_t *line, const char *dev, unsigned int b)
{
	json_t *q = json_array_get(
		json_object_get(json_object_get(json_object_get(line, "evvm"), dev), "queues"), 0);
	json_t *hist = json_object_get(q, "kick_to_interrupt_us");

	if (json_array_size(hist) != EVVM_KICK_LATENCY_BUCKETS)
		fail_msg("%s: queue 0 has no kick_to_interrupt_us of %u buckets", dev,
			 EVVM_KICK_LATENCY_BUCKETS);
	return json_integer_value(json_array_get(hist, b));
}

static json_t *line_of(struct fixture *f, const struct metrics_input *mi, FILE *schemas)
{
	json_t *line = metrics_line(mi, &f->last);
	char *text;

	assert_non_null(line);
	text = json_dumps(line, JSON_COMPACT);
	assert_non_null(text);
	fprintf(schemas, "MetricsLine\t%s\n", text);
	free(text);
	return line;
}

static void test_sections_and_deltas(void **state)
{
	struct fixture *f = *state;
	struct metrics_input mi = { .utc_ms = 1700000000000LL,
				    .state = "Running",
				    .requests = 5,
				    .request_errors = 1,
				    .desc = &f->desc,
				    .vm = &f->vm };
	char path[] = "/tmp/evvm-metrics-XXXXXX";
	int fd = mkstemp(path), st;
	FILE *schemas = fdopen(fd, "w");
	json_t *line, *q;

	assert_non_null(schemas);
	set_counter(&f->vm.dev[0], "read_count", 10);
	set_counter(&f->vm.dev[0], "read_bytes", 40960);
	set_counter(&f->vm.dev[0], "q0_requests", 12);
	set_counter(&f->vm.dev[0], "rate_limiter_throttled_events", 2);
	set_counter(&f->vm.dev[1], "write_count", 3);
	set_counter(&f->vm.dev[2], "rx_packets", 7);
	set_counter(&f->vm.dev[2], "rx_stalls", 1);
	set_counter(&f->vm.dev[3], "entropy_bytes", 64);
	f->vm.dev[0].kicks[0] = 9;
	f->vm.dev[0].interrupts[0] = 8;
	f->vm.dev[0].kick_to_interrupt[0][3] = 5;
	f->vm.dev[0].kick_to_interrupt[0][EVVM_KICK_LATENCY_BUCKETS - 1] = 1;
	f->vm.dev[2].kicks[1] = 4;
	f->vm.exit_io_out = 100;
	f->vm.uart_write_count = 100;

	line = line_of(f, &mi, schemas);
	assert_int_equal(at(line, "block_rootfs", "read_count"), 10);
	assert_int_equal(at(line, "block_rootfs", "read_bytes"), 40960);
	assert_int_equal(at(line, "block_rootfs", "queue_event_count"), 9);
	assert_int_equal(at(line, "block_rootfs", "rate_limiter_throttled_events"), 2);
	assert_int_equal(at(line, "block_data", "write_count"), 3);
	assert_int_equal(at(line, "block", "read_count"), 10);
	assert_int_equal(at(line, "block", "write_count"), 3);
	assert_int_equal(at(line, "net_eth0", "rx_packets_count"), 7);
	assert_int_equal(at(line, "net_eth0", "tx_queue_event_count"), 4);
	assert_int_equal(at(line, "net", "rx_packets_count"), 7);
	assert_int_equal(at(line, "entropy", "entropy_bytes"), 64);
	assert_int_equal(at(line, "vcpu", "exit_io_out"), 100);
	assert_int_equal(at(line, "uart", "write_count"), 100);
	assert_int_equal(at(line, "api_server", "requests"), 5);
	/* evvm's own: every device counter and the queues. */
	q = json_object_get(json_object_get(line, "evvm"), "blk0");
	assert_non_null(q);
	assert_int_equal(at(q, "counters", "q0_requests"), 12);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(q, "queues"), 0), "interrupts")),
			 8);
	assert_int_equal(hist_at(line, "blk0", 3), 5);
	assert_int_equal(hist_at(line, "blk0", EVVM_KICK_LATENCY_BUCKETS - 1), 1);
	assert_int_equal(hist_at(line, "blk0", 0), 0);
	assert_non_null(json_object_get(json_object_get(line, "evvm"), "console0"));
	assert_null(json_object_get(line, "id"));
	json_decref(line);

	/* The next line: only what happened since. */
	set_counter(&f->vm.dev[0], "read_count", 15);
	f->vm.dev[0].kick_to_interrupt[0][3] = 7;
	f->vm.exit_io_out = 130;
	mi.requests = 6;
	mi.lost_logs = 2;
	mi.pause_us = 850;
	mi.id = "vm1";
	mi.state = "Paused";
	line = line_of(f, &mi, schemas);
	assert_int_equal(at(line, "block_rootfs", "read_count"), 5);
	assert_int_equal(at(line, "block_rootfs", "queue_event_count"), 0);
	assert_int_equal(hist_at(line, "blk0", 3), 2);
	assert_int_equal(hist_at(line, "blk0", EVVM_KICK_LATENCY_BUCKETS - 1), 0);
	assert_int_equal(at(line, "block", "write_count"), 0);
	assert_int_equal(at(line, "vcpu", "exit_io_out"), 30);
	assert_int_equal(at(line, "api_server", "requests"), 1);
	assert_int_equal(at(line, "logger", "missed_log_count"), 2);
	assert_int_equal(at(line, "latencies_us", "pause_vm"), 850);
	assert_string_equal(json_string_value(json_object_get(line, "id")), "vm1");
	json_decref(line);

	/* Before the VM exists: no device sections at all. */
	mi.vm = NULL;
	mi.state = "Not started";
	line = line_of(f, &mi, schemas);
	assert_null(json_object_get(line, "block"));
	assert_null(json_object_get(line, "vcpu"));
	json_decref(line);
	fclose(schemas);

	st = run_cmd((const char *[]){ "python3", "tests/integration/api_schemas.py", path, NULL },
		     "/dev/null", 60);
	if (st) {
		run_cmd((const char *[]){ "python3", "tests/integration/api_schemas.py", path,
					  NULL },
			"/dev/stderr", 60);
		fail_msg("api_schemas.py: status %d", st);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sections_and_deltas, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
