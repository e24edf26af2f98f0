// SPDX-License-Identifier: MIT
/*
 * The post-boot bodies of Firecracker's API (cli/vmjson.c): PATCH /vm's
 * Vm, PATCH /drives' PartialDrive, PATCH /network-interfaces'
 * PartialNetworkInterface and the RateLimiter/TokenBucket inside them;
 * and vmdesc_drive_slot(), which finds the device a drive became.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmdesc.h"
#include "vmjson.h"

static json_t *parse(const char *text)
{
	char msg[VMDESC_MSG_MAX];
	json_t *j = vmjson_parse(text, strlen(text), msg);

	if (!j)
		print_error("%s: %s\n", text, msg);
	assert_non_null(j);
	return j;
}

static void msg_has(const char *msg, const char *needle)
{
	if (!strstr(msg, needle)) {
		print_error("got '%s', expected '%s'\n", msg, needle);
		fail();
	}
}

static int vm_state(const char *text, bool *pause, char *msg)
{
	json_t *j = parse(text);
	int err = vmjson_vm_state(j, pause, msg);

	json_decref(j);
	return err;
}

static void test_vm_state(void **state)
{
	char msg[VMDESC_MSG_MAX] = "";
	bool pause = false;

	(void)state;
	assert_int_equal(vm_state("{\"state\":\"Paused\"}", &pause, msg), 0);
	assert_true(pause);
	assert_int_equal(vm_state("{\"state\":\"Resumed\"}", &pause, msg), 0);
	assert_false(pause);
	assert_int_equal(vm_state("{\"state\":\"paused\"}", &pause, msg), -EINVAL);
	msg_has(msg, "unknown variant `paused`, expected `Paused` or `Resumed`");
	assert_int_equal(vm_state("{}", &pause, msg), -EINVAL);
	msg_has(msg, "missing field `state`");
	assert_int_equal(vm_state("{\"state\":1}", &pause, msg), -EINVAL);
	msg_has(msg, "field `state`: invalid type, expected a string");
	assert_int_equal(vm_state("{\"state\":\"Paused\",\"x\":1}", &pause, msg), -EINVAL);
	msg_has(msg, "unknown field `x`");
	assert_int_equal(vm_state("[\"Paused\"]", &pause, msg), -EINVAL);
	msg_has(msg, "expected a JSON object");
}

static int drive_update(const char *text, struct vmjson_drive_update *u, char *msg)
{
	json_t *j = parse(text);
	int err = vmjson_drive_update(j, u, msg);

	json_decref(j);
	return err;
}

static void test_drive_update(void **state)
{
	char msg[VMDESC_MSG_MAX] = "";
	struct vmjson_drive_update u;

	(void)state;
	assert_int_equal(
		drive_update("{\"drive_id\":\"rootfs\",\"path_on_host\":\"/new.img\"}", &u, msg),
		0);
	assert_string_equal(u.id, "rootfs");
	assert_string_equal(u.path, "/new.img");
	assert_false(u.rate_limiter.set);
	free(u.path);

	/* Only the id: nothing to change, and valid. */
	assert_int_equal(drive_update("{\"drive_id\":\"d\"}", &u, msg), 0);
	assert_null(u.path);
	free(u.path);

	assert_int_equal(drive_update("{\"drive_id\":\"d\",\"rate_limiter\":{\"bandwidth\":"
				      "{\"size\":1048576,\"refill_time\":100},\"ops\":{\"size\":"
				      "10,\"one_time_burst\":5,\"refill_time\":1000}}}",
				      &u, msg),
			 0);
	assert_true(u.rate_limiter.set);
	assert_true(u.rate_limiter.bandwidth.set);
	assert_int_equal(u.rate_limiter.bandwidth.size, 1048576);
	assert_int_equal(u.rate_limiter.bandwidth.refill_time_ms, 100);
	assert_int_equal(u.rate_limiter.bandwidth.one_time_burst, 0);
	assert_int_equal(u.rate_limiter.ops.one_time_burst, 5);
	free(u.path);

	assert_int_equal(drive_update("{\"drive_id\":\"\"}", &u, msg), -EINVAL);
	msg_has(msg, "field `drive_id`: 1 to 20 characters");
	free(u.path);
	assert_int_equal(drive_update("{\"path_on_host\":\"/x\"}", &u, msg), -EINVAL);
	msg_has(msg, "missing field `drive_id`");
	free(u.path);
	assert_int_equal(drive_update("{\"drive_id\":\"d\",\"is_read_only\":true}", &u, msg),
			 -EINVAL);
	msg_has(msg, "unknown field `is_read_only`");
	free(u.path);
	assert_int_equal(drive_update("{\"drive_id\":\"d\",\"path_on_host\":\"\"}", &u, msg),
			 -EINVAL);
	msg_has(msg, "path_on_host");
	free(u.path);
	assert_int_equal(drive_update("{\"drive_id\":\"d\",\"path_on_host\":7}", &u, msg), -EINVAL);
	msg_has(msg, "field `path_on_host`: invalid type, expected a string");
	free(u.path);
	assert_int_equal(drive_update("{\"drive_id\":\"d\",\"rate_limiter\":{\"bandwidth\":"
				      "{\"size\":1}}}",
				      &u, msg),
			 -EINVAL);
	msg_has(msg, "rate_limiter.bandwidth: missing field `refill_time`");
	free(u.path);
	assert_int_equal(drive_update("{\"drive_id\":\"d\",\"rate_limiter\":{\"ops\":"
				      "{\"size\":-1,\"refill_time\":5}}}",
				      &u, msg),
			 -EINVAL);
	msg_has(msg, "rate_limiter.ops: field `size`: -1 is below the minimum of 0");
	free(u.path);
	assert_int_equal(
		drive_update("{\"drive_id\":\"d\",\"rate_limiter\":{\"iops\":{}}}", &u, msg),
		-EINVAL);
	msg_has(msg, "rate_limiter: unknown field `iops`");
	free(u.path);
}

static void test_net_update(void **state)
{
	char msg[VMDESC_MSG_MAX] = "";
	struct vmjson_net_update u;
	json_t *j;

	(void)state;
	j = parse("{\"iface_id\":\"eth0\",\"rx_rate_limiter\":{\"bandwidth\":{\"size\":100,"
		  "\"refill_time\":10}},\"tx_rate_limiter\":null}");
	assert_int_equal(vmjson_net_update(j, &u, msg), 0);
	assert_string_equal(u.id, "eth0");
	assert_true(u.rx.set);
	assert_false(u.tx.set);
	json_decref(j);
	j = parse("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap1\"}");
	assert_int_equal(vmjson_net_update(j, &u, msg), -EINVAL);
	msg_has(msg, "unknown field `host_dev_name`");
	json_decref(j);
	j = parse("{\"iface_id\":\"\"}");
	assert_int_equal(vmjson_net_update(j, &u, msg), -EINVAL);
	msg_has(msg, "field `iface_id`: 1 to");
	json_decref(j);
	j = parse("{\"iface_id\":\"eth0\",\"tx_rate_limiter\":{\"ops\":{\"size\":1,"
		  "\"refill_time\":\"1\"}}}");
	assert_int_equal(vmjson_net_update(j, &u, msg), -EINVAL);
	msg_has(msg, "tx_rate_limiter.ops: field `refill_time`: invalid type");
	json_decref(j);
}

/* The root drive is placed first whatever its order in the description. */
static void test_drive_slot(void **state)
{
	char msg[VMDESC_MSG_MAX];
	const char *const ids[] = { "a", "b", "c" };
	struct vm_desc d;

	(void)state;
	vmdesc_init(&d);
	for (unsigned int i = 0; i < 3; i++) {
		struct vmdesc_drive drv = { .path = strdup("/x"), .readonly = true };

		strcpy(drv.id, ids[i]);
		drv.is_root = i == 2;
		assert_int_equal(vmdesc_put_drive(&d, &drv, msg), 0);
	}
	assert_int_equal(vmdesc_drive_slot(&d, 2), 0);
	assert_int_equal(vmdesc_drive_slot(&d, 0), 1);
	assert_int_equal(vmdesc_drive_slot(&d, 1), 2);
	d.drives[2].is_root = false;
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(vmdesc_drive_slot(&d, i), i);
	vmdesc_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_state),
		cmocka_unit_test(test_drive_update),
		cmocka_unit_test(test_net_update),
		cmocka_unit_test(test_drive_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
