// SPDX-License-Identifier: MIT
/*
 * --transport=pci under the real evvm binary: the test guest's virtio-pci
 * driver (guest/virtio_pci.c) finds rng and blk through ECAM, runs requests
 * with MSI-X, masks and unmasks vectors and the function, and plays a
 * hostile driver; over KVM's ioeventfd/irqfd and over evvm's userspace
 * fabric. The blk write is checked on the host side.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define TIMEOUT 300
#define TESTS	"virtio-pci-rng,virtio-pci-msix-mask,virtio-pci-hostile,virtio-pci-blk"

static const char *const test_names[] = { "virtio-pci-rng", "virtio-pci-msix-mask",
					  "virtio-pci-hostile", "virtio-pci-blk" };

static void run_pci(const char *disk_arg, bool user)
{
	/* The userspace fabric: both flags; KVM's: neither (the array ends early). */
	const char *args[] = { "run",	       "--transport=pci",
			       "--rng",	       "--disk",
			       disk_arg,       "--cmdline",
			       "tests=" TESTS, user ? "--ioeventfd=user" : NULL,
			       "--irqfd=user", NULL };
	struct run_result r;
	char ok[96];

	run_evvm(&r, TIMEOUT, args);
	if (r.status != 0)
		print_error("status %d\nstdout:\n%s\nstderr:\n%s\n", r.status, r.out, r.err);
	assert_int_equal(r.status, 0);
	for (unsigned int i = 0; i < sizeof(test_names) / sizeof(test_names[0]); i++) {
		snprintf(ok, sizeof(ok), "evvm-guest: test %s: ok\n", test_names[i]);
		assert_contains(r.out, ok);
	}
	run_result_free(&r);
}

/* The guest wrote byte i * 7 + 3 at offset i of sector 0. */
static void check_sector0(const char *path)
{
	unsigned char b[512];
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, sizeof(b), 0), sizeof(b));
	close(fd);
	for (unsigned int i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], (unsigned char)(i * 7 + 3));
}

static void test_pci_devices_kernel_and_user_fabric(void **state)
{
	char disk[64], arg[96];
	int fd;

	(void)state;
	require_kvm();
	for (int user = 0; user < 2; user++) {
		snprintf(disk, sizeof(disk), "/tmp/evvm-pci-disk-XXXXXX");
		fd = mkstemp(disk);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 1 << 20), 0);
		close(fd);
		snprintf(arg, sizeof(arg), "path=%s", disk);
		run_pci(arg, user);
		check_sector0(disk);
		unlink(disk);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_devices_kernel_and_user_fabric),
	};

	return cmocka_run_group_tests_name("virtio-pci", tests, NULL, NULL);
}
