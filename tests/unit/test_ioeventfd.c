// SPDX-License-Identifier: MIT
/*
 * ioeventfd collision and match rules against a table of cases taken from
 * KVM's documented behaviour (Documentation/virt/kvm/api.rst, KVM_IOEVENTFD;
 * virt/kvm/eventfd.c: ioeventfd_check_collision and ioeventfd_in_range),
 * and, where /dev/kvm exists, against KVM itself: evvm must answer exactly
 * as the kernel does.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/kvm.h>

#include <evvm/log.h>

#include "harness.h"
#include "ioeventfd.h"

#define A 0xd2000000ULL
#define P IOEVENTFD_PIO
#define M IOEVENTFD_MMIO

/* An existing entry, a new one, and what assigning the new one returns. */
struct collision_case {
	const char *what;
	struct ioeventfd_key old, new;
	int expect;
};

#define WILD(space, addr, len)	   { space, addr, len, false, 0 }
#define MATCH(space, addr, len, v) { space, addr, len, true, v }

static const struct collision_case cases[] = {
	{ "same key, wildcard", WILD(M, A, 4), WILD(M, A, 4), -EEXIST },
	{ "same datamatch", MATCH(M, A, 4, 1), MATCH(M, A, 4, 1), -EEXIST },
	{ "different datamatch", MATCH(M, A, 4, 1), MATCH(M, A, 4, 2), 0 },
	{ "wildcard over datamatch", MATCH(M, A, 4, 1), WILD(M, A, 4), -EEXIST },
	{ "datamatch over wildcard", WILD(M, A, 4), MATCH(M, A, 4, 1), -EEXIST },
	{ "different lengths", WILD(M, A, 4), WILD(M, A, 2), 0 },
	{ "different lengths, datamatch", MATCH(M, A, 4, 1), MATCH(M, A, 2, 1), 0 },
	{ "new length 0 over length 4", MATCH(M, A, 4, 1), WILD(M, A, 0), -EEXIST },
	{ "length 4 over length 0", WILD(M, A, 0), MATCH(M, A, 4, 7), -EEXIST },
	{ "length 0 twice", WILD(M, A, 0), WILD(M, A, 0), -EEXIST },
	{ "next address", WILD(M, A, 4), WILD(M, A + 1, 4), 0 },
	{ "overlapping but other start", WILD(M, A, 8), WILD(M, A + 4, 4), 0 },
	{ "other bus", WILD(M, 0x520, 2), WILD(P, 0x520, 2), 0 },
	{ "pio same key", WILD(P, 0x520, 2), WILD(P, 0x520, 2), -EEXIST },
	{ "pio length 0", MATCH(P, 0x520, 1, 3), WILD(P, 0x520, 0), -EEXIST },
	{ "datamatch with length 0", WILD(M, A + 64, 4), MATCH(M, A, 0, 1), -EINVAL },
	{ "length 3", WILD(M, A + 64, 4), WILD(M, A, 3), -EINVAL },
	{ "length 16", WILD(M, A + 64, 4), WILD(M, A, 16), -EINVAL },
	{ "range wraps", WILD(M, A + 64, 4), WILD(M, UINT64_MAX - 1, 4), -EINVAL },
};

static void test_collision_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ioeventfd_table t;
		int fd1 = eventfd(0, EFD_CLOEXEC), fd2 = eventfd(0, EFD_CLOEXEC);

		assert_int_equal(ioeventfd_table_init(&t, -1, true), 0);
		assert_int_equal(ioeventfd_assign(&t, &cases[i].old, fd1, NULL), 0);
		if (ioeventfd_assign(&t, &cases[i].new, fd2, NULL) != cases[i].expect)
			fail_msg("case '%s': expected %d", cases[i].what, cases[i].expect);
		ioeventfd_table_destroy(&t);
		close(fd1);
		close(fd2);
	}
}

/* The same table, asked of KVM: its errno must be ours. */
static void test_collision_table_matches_kvm(void **state)
{
	int kvm, vm;

	(void)state;
	require_kvm();
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(kvm >= 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ioeventfd_table t;
		int fd1 = eventfd(0, EFD_CLOEXEC), fd2 = eventfd(0, EFD_CLOEXEC);
		int ours;

		vm = ioctl(kvm, KVM_CREATE_VM, 0);
		if (vm < 0)
			fail_msg("KVM_CREATE_VM: %s", evvm_strerror(errno));
		/* Kernel mode: evvm checks, then KVM is asked too. */
		assert_int_equal(ioeventfd_table_init(&t, vm, false), 0);
		assert_int_equal(ioeventfd_assign(&t, &cases[i].old, fd1, NULL), 0);
		ours = ioeventfd_check(&t, &cases[i].new);

		/* Ask KVM directly, bypassing evvm's check. */
		struct kvm_ioeventfd io = {
			.datamatch = cases[i].new.data,
			.addr = cases[i].new.addr,
			.len = cases[i].new.len,
			.fd = fd2,
			.flags = (cases[i].new.datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
				 (cases[i].new.space == P ? KVM_IOEVENTFD_FLAG_PIO : 0),
		};
		int theirs = ioctl(vm, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;

		if (ours != theirs)
			fail_msg("case '%s': evvm says %d, KVM says %d", cases[i].what, ours,
				 theirs);
		if (theirs == 0) {
			io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
			assert_int_equal(ioctl(vm, KVM_IOEVENTFD, &io), 0);
		}
		ioeventfd_table_destroy(&t);
		close(vm);
		close(fd1);
		close(fd2);
	}
	close(kvm);
}

static void test_match_rules(void **state)
{
	const struct ioeventfd_key w4 = WILD(M, A, 4), d2 = MATCH(M, A, 2, 0xbeef),
				   any = WILD(M, A, 0), d1 = MATCH(M, A, 1, 0x100);

	(void)state;
	assert_true(ioeventfd_matches(&w4, A, 4, 123));
	assert_false(ioeventfd_matches(&w4, A, 2, 123)); /* length must match */
	assert_false(ioeventfd_matches(&w4, A + 1, 4, 123));
	assert_true(ioeventfd_matches(&d2, A, 2, 0xbeef));
	assert_false(ioeventfd_matches(&d2, A, 2, 0xbeee));
	for (unsigned int len = 1; len <= 8; len *= 2)
		assert_true(ioeventfd_matches(&any, A, len, len));
	/* A datamatch wider than the access can never match. */
	assert_false(ioeventfd_matches(&d1, A, 1, 0x00));
}

static void test_user_write_signals_and_deassign(void **state)
{
	const struct ioeventfd_key k = MATCH(P, 0x520, 2, 0x55);
	struct ioeventfd_table t;
	struct ioeventfd *e;
	uint16_t hit = 0x55, miss = 0x56;
	uint64_t n = 0;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	(void)state;
	assert_int_equal(ioeventfd_table_init(&t, -1, true), 0);
	assert_int_equal(ioeventfd_assign(&t, &k, fd, &e), 0);
	assert_true(ioeventfd_user_write(&t, P, 0x520, &hit, 2));
	assert_true(ioeventfd_user_write(&t, P, 0x520, &hit, 2));
	assert_false(ioeventfd_user_write(&t, P, 0x520, &miss, 2));
	assert_false(ioeventfd_user_write(&t, M, 0x520, &hit, 2));
	assert_int_equal(read(fd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 2);
	assert_int_equal(atomic_load(&e->user_hits), 2);
	/* Deassign needs the identical key and fd. */
	const struct ioeventfd_key other = MATCH(P, 0x520, 2, 0x56);
	assert_int_equal(ioeventfd_deassign(&t, &other, fd), -ENOENT);
	assert_int_equal(ioeventfd_deassign(&t, &k, fd + 1000), -ENOENT);
	assert_int_equal(ioeventfd_deassign(&t, &k, fd), 0);
	assert_false(ioeventfd_user_write(&t, P, 0x520, &hit, 2));
	ioeventfd_table_destroy(&t);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collision_table),
		cmocka_unit_test(test_match_rules),
		cmocka_unit_test(test_user_write_signals_and_deassign),
		cmocka_unit_test(test_collision_table_matches_kvm),
	};

	return cmocka_run_group_tests_name("ioeventfd", tests, NULL, NULL);
}
