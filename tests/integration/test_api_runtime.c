// SPDX-License-Identifier: MIT
/*
 * `evvm firecracker` after InstanceStart: PATCH /vm (pause and resume while
 * the guest does block I/O), PATCH /drives (a new backing file), PATCH
 * /network-interfaces (rate limiters, on a tap in a namespace of its own),
 * SendCtrlAltDel, and the metrics of a paused VM. Each boots evvm's test
 * guest, so each needs /dev/kvm.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "api_client.h"
#include "fc.h"
#include "harness.h"
#include "netpeer.h"
#include "proc.h"

#define LOOP_BYTES (128 * 512) /* what tests=blk-loop rewrites each round */

/* PUT /boot-source with the test guest and @args, and PUT /drives/rootfs on @disk. */
static void configure(struct fc *f, const char *args, const char *disk)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"kernel_image_path\":\"%s\",\"boot_args\":\"%s\"}",
		 guest_elf(), args);
	EXPECT(f, "PUT", "/boot-source", body, 204, NULL, NULL);
	if (!disk)
		return;
	snprintf(body, sizeof(body),
		 "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"is_read_only\":false}",
		 disk);
	EXPECT(f, "PUT", "/drives/rootfs", body, 204, NULL, NULL);
}

static void put_metrics(struct fc *f, char *path, size_t size)
{
	char body[256];

	snprintf(path, size, "%s/metrics.json", f->dir);
	snprintf(body, sizeof(body), "{\"metrics_path\":\"%s\"}", path);
	EXPECT(f, "PUT", "/metrics", body, 204, NULL, NULL);
}

static void flush_metrics(struct fc *f)
{
	EXPECT(f, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}", 204, NULL, NULL);
}

/* The last line of the metrics file, parsed. */
static json_t *last_metrics(const char *path)
{
	char *m = slurp(path), *last;
	json_error_t e;
	json_t *j;

	assert_true(strlen(m) > 1 && m[strlen(m) - 1] == '\n');
	m[strlen(m) - 1] = 0;
	last = strrchr(m, '\n');
	j = json_loads(last ? last + 1 : m, 0, &e);
	if (!j)
		fail_msg("metrics line: %s", e.text);
	free(m);
	return j;
}

static json_int_t metric(json_t *line, const char *sec, const char *key)
{
	json_t *v = json_object_get(json_object_get(line, sec), key);

	if (!json_is_integer(v))
		fail_msg("metrics: %s.%s missing", sec, key);
	return json_integer_value(v);
}

/* The kick-to-interrupt samples of queue @q of evvm's device @dev in @line. */
static json_int_t kick_samples(json_t *line, const char *dev, unsigned int q)
{
	json_t *queue = json_array_get(
		json_object_get(json_object_get(json_object_get(line, "evvm"), dev), "queues"), q);
	json_t *hist = json_object_get(queue, "kick_to_interrupt_us"), *v;
	json_int_t n = 0;
	size_t i;

	if (!json_is_array(hist))
		fail_msg("metrics: evvm.%s.queues[%u].kick_to_interrupt_us missing", dev, q);
	json_array_foreach(hist, i, v) n += json_integer_value(v);
	return n;
}

/* How many times @needle occurs in @hay. */
static unsigned int count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void read_file(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
	close(fd);
}

/*
 * Paused while the guest rewrites and checks its disk: no guest progress
 * (serial output, disk contents), no device activity (the metrics of the
 * paused interval are all zero); resumed, it goes on and every request
 * completes (the guest checks each status and every word it reads back).
 */
static void test_pause_resume_block_io(void **state)
{
	char disk[128], metrics[160];
	static uint8_t before[LOOP_BYTES], after[LOOP_BYTES];
	unsigned int guest_lines, rounds;
	struct fc f;
	json_t *line;
	char *log;
	int st;

	(void)state;
	require_kvm();
	fc_start(&f);
	make_disk(f.dir, disk, sizeof(disk));
	put_metrics(&f, metrics, sizeof(metrics));
	/* Long enough (TSC time, pauses included) to be paused in the middle. */
	configure(&f, "tests=blk-loop blkloop.ms=20000", disk);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 204, NULL, NULL);
	wait_log(&f, "evvm-guest: blk-loop: round 16\n", FC_TIMEOUT);

	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", 204, NULL, NULL);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"state\":\"Paused\"");
	flush_metrics(&f); /* closes the interval before the pause */
	line = last_metrics(metrics);
	assert_true(metric(line, "block_rootfs", "write_count") > 0);
	assert_true(metric(line, "block_rootfs", "read_bytes") > 0);
	assert_true(metric(line, "latencies_us", "pause_vm") > 0);
	assert_true(kick_samples(line, "blk0", 0) > 0);
	json_decref(line);
	log = slurp(f.log);
	guest_lines = count(log, "evvm-guest:");
	rounds = count(log, "evvm-guest: blk-loop: round ");
	free(log);
	read_file(disk, before, sizeof(before));

	usleep(500000);
	log = slurp(f.log);
	assert_int_equal(count(log, "evvm-guest:"), guest_lines);
	free(log);
	read_file(disk, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	flush_metrics(&f);
	line = last_metrics(metrics);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(line, "vmm"), "state")),
		"Paused");
	assert_int_equal(metric(line, "block_rootfs", "read_count"), 0);
	assert_int_equal(metric(line, "block_rootfs", "write_count"), 0);
	assert_int_equal(metric(line, "block_rootfs", "queue_event_count"), 0);
	assert_int_equal(metric(line, "vcpu", "exit_io_out"), 0);
	assert_int_equal(metric(line, "vcpu", "exit_mmio_write"), 0);
	assert_int_equal(metric(line, "uart", "write_count"), 0);
	assert_int_equal(kick_samples(line, "blk0", 0), 0);
	json_decref(line);

	/* Pausing again is no error; resuming lets the guest finish. */
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", 204, NULL, NULL);
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Resumed\"}", 204, NULL, NULL);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"state\":\"Running\"");
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Resumed\"}", 204, NULL, NULL);
	st = wait_exit(f.pid, FC_TIMEOUT);
	log = slurp(f.log);
	if (st != 0)
		print_error("evvm exited with %d:\n%s\n", st, log);
	assert_int_equal(st, 0);
	assert_true(count(log, "evvm-guest: blk-loop: round ") > rounds); /* went on */
	assert_contains(log, "evvm-guest: test blk-loop: ok\n");
	assert_contains(log, "evvm-guest: 1 passed, 0 failed\n");
	free(log);
	/* The line written at the end has the guest's activity after the resume. */
	line = last_metrics(metrics);
	assert_true(metric(line, "block_rootfs", "write_count") > 0);
	assert_true(metric(line, "latencies_us", "resume_vm") > 0);
	json_decref(line);
	assert_true(record_metrics(&f, metrics) >= 3);
	check_schemas(&f);
	f.pid = -1;
	fc_stop(&f);
}

/* PATCH /drives after the start: a new backing file, and what is refused. */
static void test_patch_drive(void **state)
{
	char disk[128], disk2[160], body[512], want[256];
	struct fc f;
	char *m;
	int fd;

	(void)state;
	require_kvm();
	fc_start(&f);
	make_disk(f.dir, disk, sizeof(disk));
	snprintf(disk2, sizeof(disk2), "%s/bigger.img", f.dir);
	fd = open(disk2, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 << 20), 0);
	close(fd);
	configure(&f, "tests=idle", disk);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 204, NULL, NULL);
	wait_log(&f, "evvm-guest: idle\n", FC_TIMEOUT);

	snprintf(body, sizeof(body), "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\"}", disk2);
	EXPECT(&f, "PATCH", "/drives/rootfs", body, 204, NULL, NULL);
	snprintf(want, sizeof(want), "disk '%s': 16384 sectors", disk2);
	wait_log(&f, want, 10);
	m = expect(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", disk2);
	free(m);
	/* The old file is ours no more: evvm's lock on it is gone, the new one is held. */
	fd = open(disk, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);

	/* The same path again: a resize. */
	assert_int_equal(truncate(disk2, 12 << 20), 0);
	EXPECT(&f, "PATCH", "/drives/rootfs", body, 204, NULL, NULL);
	wait_log(&f, "24576 sectors", 10);

	snprintf(body, sizeof(body), "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s/none.img\"}",
		 f.dir);
	EXPECT(&f, "PATCH", "/drives/rootfs", body, 400, NULL, "none.img");
	m = expect(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", disk2);
	free(m);
	EXPECT(&f, "PATCH", "/drives/other", "{\"drive_id\":\"other\",\"path_on_host\":\"/x\"}",
	       400, NULL, "no drive with id `other`");
	/* New limits: the ops bucket is set, the bandwidth one stays as it was (none). */
	EXPECT(&f, "PATCH", "/drives/rootfs",
	       "{\"drive_id\":\"rootfs\",\"rate_limiter\":{\"ops\":{\"size\":10,"
	       "\"refill_time\":100}}}",
	       204, NULL, NULL);
	EXPECT(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration",
	       "\"rate_limiter\":{\"ops\":{\"size\":10,\"one_time_burst\":0,"
	       "\"refill_time\":100}}");
	EXPECT(&f, "PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\"}", 204, NULL, NULL);
	EXPECT(&f, "PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\"}", 400, NULL,
	       "no interface with id `eth0`");
	/* Pre-boot resources stay refused. */
	EXPECT(&f, "PUT", "/drives/rootfs",
	       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/x\",\"is_root_device\":false}", 400,
	       NULL, "after starting");
	/* A paused VM stops on a signal like a running one (fc_stop checks the status). */
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", 204, NULL, NULL);
	check_schemas(&f);
	fc_stop(&f);
}

/* The namespace of test_patch_net, deleted by its teardown also after a failure. */
static struct netns patch_ns = { .home_fd = -1 };

static int patch_net_teardown(void **state)
{
	(void)state;
	netns_destroy(&patch_ns);
	return 0;
}

/*
 * PATCH /network-interfaces after the start: the rate limiters given reach
 * the tap's device (a bucket given replaces the interface's, size 0 turns
 * it off, the others stay) and GET /vm/config follows; what cannot apply
 * is refused, naming the field. The device's side is test_net_rl's.
 */
static void test_patch_net(void **state)
{
	char err[160], metrics[256];
	struct fc f;
	json_t *line;
	char *m;

	(void)state;
	if (geteuid() != 0 || access("/dev/net/tun", F_OK)) {
		print_message("SKIP: a tap needs root and /dev/net/tun\n");
		skip();
	}
	require_kvm();
	if (netns_create(&patch_ns, "patchnet", "evtap9", err, sizeof(err)))
		fail_msg("%s", err);
	fc_start(&f);
	configure(&f, "tests=idle", NULL);
	EXPECT(&f, "PUT", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"host_dev_name\":\"evtap9\",\"tx_rate_limiter\":"
	       "{\"ops\":{\"size\":1000,\"refill_time\":1000}}}",
	       204, NULL, NULL);
	put_metrics(&f, metrics, sizeof(metrics));
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 204, NULL, NULL);
	wait_log(&f, "evvm-guest: idle\n", FC_TIMEOUT);

	EXPECT(&f, "PATCH", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"rx_rate_limiter\":{\"bandwidth\":{\"size\":1000000,"
	       "\"refill_time\":100}}}",
	       204, NULL, NULL);
	EXPECT(&f, "PATCH", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"tx_rate_limiter\":{\"ops\":{\"size\":0,"
	       "\"refill_time\":1000},\"bandwidth\":{\"size\":5000,\"refill_time\":10}}}",
	       204, NULL, NULL);
	m = expect(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", NULL);
	assert_contains(m,
			"\"rx_rate_limiter\":{\"bandwidth\":{\"size\":1000000,"
			"\"one_time_burst\":0,\"refill_time\":100}},\"tx_rate_limiter\":"
			"{\"bandwidth\":{\"size\":5000,\"one_time_burst\":0,\"refill_time\":10}}}");
	free(m);
	EXPECT(&f, "PATCH", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"tx_rate_limiter\":{\"ops\":{\"size\":\"1\","
	       "\"refill_time\":1}}}",
	       400, NULL, "tx_rate_limiter.ops: field `size`: invalid type");
	EXPECT(&f, "PATCH", "/network-interfaces/eth9",
	       "{\"iface_id\":\"eth9\",\"rx_rate_limiter\":{}}", 400, NULL,
	       "no interface with id `eth9`");
	EXPECT(&f, "PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\"}", 204, NULL, NULL);
	flush_metrics(&f);
	line = last_metrics(metrics);
	assert_int_equal(metric(line, "net_eth0", "tx_rate_limiter_throttled"), 0);
	assert_int_equal(metric(line, "net_eth0", "rx_rate_limiter_throttled"), 0);
	json_decref(line);
	check_schemas(&f);
	fc_stop(&f);
}

/*
 * SendCtrlAltDel reaches the guest: tests=i8042-keys routes IRQ 1 through
 * its IOAPIC, reads the four bytes at port 0x60 in the handler and checks
 * they are Ctrl, Alt and Del pressed (scan code set 1).
 */
static void test_send_ctrl_alt_del(void **state)
{
	struct fc f;
	char *log;
	int st;

	(void)state;
	require_kvm();
	fc_start(&f);
	configure(&f, "tests=i8042-keys", NULL);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 204, NULL, NULL);
	wait_log(&f, "evvm-guest: i8042: waiting for keys\n", FC_TIMEOUT);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", 204, NULL, NULL);
	st = wait_exit(f.pid, FC_TIMEOUT);
	log = slurp(f.log);
	if (st != 0)
		print_error("evvm exited with %d:\n%s\n", st, log);
	assert_int_equal(st, 0);
	assert_contains(log, "evvm-guest: i8042: keys 1d 38 e0 53 (");
	assert_contains(log, "evvm-guest: test i8042-keys: ok\n");
	free(log);
	check_schemas(&f);
	f.pid = -1;
	fc_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_resume_block_io),
		cmocka_unit_test(test_patch_drive),
		cmocka_unit_test_teardown(test_patch_net, patch_net_teardown),
		cmocka_unit_test(test_send_ctrl_alt_del),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
