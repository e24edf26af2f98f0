// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/mem.h>

static char low[0x1000], high[0x1000];

static void setup_map(struct evvm_mem *m)
{
	const struct evvm_mem_region hi = { .gpa = 0x100000000ULL,
					    .size = sizeof(high),
					    .hva = high };
	const struct evvm_mem_region lo = { .gpa = 0, .size = sizeof(low), .hva = low };

	mem_init(m);
	assert_int_equal(mem_add_region(m, &hi), 0);
	assert_int_equal(mem_add_region(m, &lo), 0);
}

static void test_translate_bounds(void **state)
{
	struct evvm_mem m;

	(void)state;
	setup_map(&m);
	assert_ptr_equal(mem_translate(&m, 0, 1), low);
	assert_ptr_equal(mem_translate(&m, 0xfff, 1), low + 0xfff);
	assert_ptr_equal(mem_translate(&m, 0, 0x1000), low);
	assert_null(mem_translate(&m, 0, 0x1001));
	assert_null(mem_translate(&m, 0xfff, 2));
	assert_null(mem_translate(&m, 0x1000, 1));
	assert_ptr_equal(mem_translate(&m, 0x100000ff0ULL, 0x10), high + 0xff0);
	assert_null(mem_translate(&m, 0x100000ff0ULL, 0x11));
	/* Lengths that would wrap the address space. */
	assert_null(mem_translate(&m, 0x10, UINT64_MAX));
	assert_null(mem_translate(&m, UINT64_MAX, 2));
}

static void test_regions_disjoint_and_sorted(void **state)
{
	struct evvm_mem m;
	char buf[16];
	struct evvm_mem_region r = { .gpa = 0x800, .size = 0x1000, .hva = buf };

	(void)state;
	setup_map(&m);
	assert_int_equal(m.regions[0].gpa, 0);
	assert_int_equal(mem_add_region(&m, &r), -EEXIST);
	r.size = 0;
	assert_int_equal(mem_add_region(&m, &r), -EINVAL);
	r = (struct evvm_mem_region){ .gpa = UINT64_MAX - 1, .size = 4, .hva = buf };
	assert_int_equal(mem_add_region(&m, &r), -EINVAL);
}

static void test_read_write(void **state)
{
	struct evvm_mem m;
	uint32_t v = 0xdeadbeef, out = 0;

	(void)state;
	setup_map(&m);
	assert_int_equal(mem_write(&m, 0x10, &v, 4), 0);
	assert_int_equal(mem_read(&m, 0x10, &out, 4), 0);
	assert_int_equal(out, v);
	assert_int_equal(mem_write(&m, 0xffe, &v, 4), -EFAULT);
	assert_int_equal(mem_read(&m, 0x5000, &out, 4), -EFAULT);
}

/* Guest RAM's memfd: sized, then sealed so no peer can shrink it under a mapping. */
static void test_memfd_sealed(void **state)
{
	struct stat st;
	int fd;

	(void)state;
	fd = mem_memfd_create("test-ram", 1 << 20);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(ftruncate(fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 2 << 20), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate_bounds),
		cmocka_unit_test(test_regions_disjoint_and_sorted),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_memfd_sealed),
	};

	return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
