// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <evvm/log.h>

#include "iobus.h"

/* A device that records its last access. */
struct rec {
	uint64_t offset;
	unsigned int len;
	unsigned int reads, writes;
	uint8_t wdata[8];
};

static void rec_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct rec *r = opaque;

	r->offset = offset;
	r->len = len;
	r->reads++;
	memset(data, 0x5a, len);
}

static void rec_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct rec *r = opaque;

	r->offset = offset;
	r->len = len;
	r->writes++;
	memcpy(r->wdata, data, len);
}

static const struct iobus_ops rec_ops = { .read = rec_read, .write = rec_write };

static int setup(void **state)
{
	static struct iobus bus;

	evvm_log_set_level(EVVM_LOG_ERR); /* unowned accesses would warn */
	assert_int_equal(iobus_init(&bus, "mmio"), 0);
	*state = &bus;
	return 0;
}

static int teardown(void **state)
{
	iobus_destroy(*state);
	return 0;
}

static void test_sorted_after_any_order(void **state)
{
	struct iobus *bus = *state;
	static struct rec r[5];
	const uint64_t bases[] = { 0x5000, 0x1000, 0x9000, 0x3000, 0x7000 };

	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(iobus_register(bus, bases[i], 0x100, &rec_ops, &r[i], "r"), 0);
	assert_int_equal(bus->nr_ranges, 5);
	for (unsigned int i = 1; i < bus->nr_ranges; i++)
		assert_true(bus->ranges[i - 1].base < bus->ranges[i].base);

	/* Each address reaches the device registered there. */
	for (unsigned int i = 0; i < 5; i++) {
		uint8_t v = 0;

		assert_true(iobus_read(bus, bases[i] + 0x10, &v, 1));
		assert_int_equal(r[i].reads, 1);
		assert_int_equal(r[i].offset, 0x10);
	}
}

static void test_overlap_refused(void **state)
{
	struct iobus *bus = *state;
	static struct rec r;

	assert_int_equal(iobus_register(bus, 0x1000, 0x100, &rec_ops, &r, "a"), 0);
	assert_int_equal(iobus_register(bus, 0x2000, 0x100, &rec_ops, &r, "b"), 0);
	/* Same base, inside, straddling either end, covering everything. */
	assert_int_equal(iobus_register(bus, 0x1000, 0x100, &rec_ops, &r, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x1080, 0x10, &rec_ops, &r, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x0f00, 0x101, &rec_ops, &r, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x10ff, 0x2, &rec_ops, &r, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x1fff, 0x2, &rec_ops, &r, "x"), -EEXIST);
	assert_int_equal(iobus_register(bus, 0x0, 0x10000, &rec_ops, &r, "x"), -EEXIST);
	/* Touching ranges are fine. */
	assert_int_equal(iobus_register(bus, 0x0f00, 0x100, &rec_ops, &r, "c"), 0);
	assert_int_equal(iobus_register(bus, 0x1100, 0xf00, &rec_ops, &r, "d"), 0);
	assert_int_equal(bus->nr_ranges, 4);
	/* Empty and wrapping ranges are invalid. */
	assert_int_equal(iobus_register(bus, 0x8000, 0, &rec_ops, &r, "x"), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX - 1, 3, &rec_ops, &r, "x"), -EINVAL);
	assert_int_equal(iobus_register(bus, UINT64_MAX - 1, 2, &rec_ops, &r, "top"), 0);
}

static void test_range_edges(void **state)
{
	struct iobus *bus = *state;
	static struct rec r;
	uint8_t buf[8];

	assert_int_equal(iobus_register(bus, 0x3f8, 8, &rec_ops, &r, "uart"), 0);

	/* First and last byte. */
	assert_true(iobus_read(bus, 0x3f8, buf, 1));
	assert_int_equal(r.offset, 0);
	assert_true(iobus_read(bus, 0x3ff, buf, 1));
	assert_int_equal(r.offset, 7);
	/* A wide access ending exactly at the end, and one crossing it. */
	assert_true(iobus_read(bus, 0x3fc, buf, 4));
	assert_int_equal(r.offset, 4);
	assert_int_equal(r.reads, 3);
	assert_false(iobus_read(bus, 0x3fd, buf, 4));
	assert_int_equal(r.reads, 3);
	/* One below and one past. */
	assert_false(iobus_read(bus, 0x3f7, buf, 1));
	assert_false(iobus_read(bus, 0x400, buf, 1));
	assert_int_equal(iobus_unowned_count(bus), 3);
}

static void test_unowned_all_ones(void **state)
{
	struct iobus *bus = *state;
	uint64_t v = 0;

	assert_false(iobus_read(bus, 0xd0000000, &v, 8));
	assert_true(v == UINT64_MAX);
	v = 0;
	assert_false(iobus_read(bus, 0xd0000000, &v, 2));
	assert_true(v == 0xffff);
	assert_false(iobus_write(bus, 0xd0000000, &v, 4));
	assert_int_equal(iobus_unowned_count(bus), 3);
	/* Logged once per address. */
	assert_int_equal(bus->nr_logged, 1);
}

static void test_write_reaches_device(void **state)
{
	struct iobus *bus = *state;
	static struct rec r;
	const uint32_t v = 0x11223344;

	assert_int_equal(iobus_register(bus, 0xf4, 4, &rec_ops, &r, "exit"), 0);
	assert_true(iobus_write(bus, 0xf4, &v, 4));
	assert_int_equal(r.writes, 1);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.wdata, &v, 4);
}

static void test_unregister(void **state)
{
	struct iobus *bus = *state;
	static struct rec a, b;
	uint8_t v;

	assert_int_equal(iobus_register(bus, 0x1000, 0x10, &rec_ops, &a, "a"), 0);
	assert_int_equal(iobus_register(bus, 0x2000, 0x10, &rec_ops, &b, "b"), 0);
	/* Only an exact base unregisters. */
	assert_int_equal(iobus_unregister(bus, 0x1001), -ENOENT);
	assert_int_equal(iobus_unregister(bus, 0x1000), 0);
	assert_int_equal(iobus_unregister(bus, 0x1000), -ENOENT);
	assert_false(iobus_read(bus, 0x1000, &v, 1));
	assert_true(iobus_read(bus, 0x2000, &v, 1));
	assert_int_equal(b.reads, 1);
	/* The space is free again. */
	assert_int_equal(iobus_register(bus, 0x1008, 0x10, &rec_ops, &a, "a2"), 0);
	assert_true(iobus_read(bus, 0x1010, &v, 1));
	assert_int_equal(a.offset, 8);
}

static void test_write_only_device_reads_ones(void **state)
{
	struct iobus *bus = *state;
	static const struct iobus_ops wo = { .write = rec_write };
	static struct rec r;
	uint32_t v = 0;

	assert_int_equal(iobus_register(bus, 0x80, 1, &wo, &r, "post"), 0);
	assert_true(iobus_read(bus, 0x80, &v, 1));
	assert_int_equal(v, 0xff);
	assert_int_equal(iobus_unowned_count(bus), 0);
}

static void test_many_ranges_lookup(void **state)
{
	struct iobus *bus = *state;
	static struct rec r[100];
	uint8_t v;

	/* Forces the array to grow; every range still found at both ends. */
	for (int i = 99; i >= 0; i--)
		assert_int_equal(iobus_register(bus, 0x10000 + i * 0x20, 0x10, &rec_ops, &r[i], "m"),
				 0);
	for (int i = 0; i < 100; i++) {
		assert_true(iobus_read(bus, 0x10000 + i * 0x20, &v, 1));
		assert_true(iobus_read(bus, 0x10000 + i * 0x20 + 0xf, &v, 1));
		assert_false(iobus_read(bus, 0x10000 + i * 0x20 + 0x10, &v, 1));
		assert_int_equal(r[i].reads, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sorted_after_any_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unowned_all_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_reaches_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_only_device_reads_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ranges_lookup, setup, teardown),
	};

	return cmocka_run_group_tests_name("iobus", tests, NULL, NULL);
}
