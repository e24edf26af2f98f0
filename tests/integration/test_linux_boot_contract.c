// SPDX-License-Identifier: MIT
/*
 * The x86 Linux boot protocol as evvm implements it, checked from inside a
 * guest that presents itself as a Linux kernel (guest/linuxboot): the zero
 * page, e820, command line, initramfs, MP table, entry state and INIT/SIPI,
 * for a bzImage decompressed on the host, one that decompresses itself, and
 * a vmlinux ELF.
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
#include <zlib.h>
#include <cmocka.h>

#include "harness.h"

#define TIMEOUT 120
#define MEM	"128M"
#define MEM_B	"134217728"

static const char *image(const char *name)
{
	static char path[256];
	const char *elf = guest_elf(); /* build/guest/evvm-guest.elf */
	const char *slash = strrchr(elf, '/');

	snprintf(path, sizeof(path), "%.*s/linuxboot/%s", slash ? (int)(slash - elf) : 1,
		 slash ? elf : ".", name);
	return path;
}

static void expect_all_checks(const char *const args[])
{
	struct run_result r;

	run_evvm(&r, TIMEOUT, args);
	if (r.status != 0)
		print_error("status %d\nstdout:\n%s\nstderr:\n%s\n", r.status, r.out, r.err);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-linuxboot: booted via the 64-bit entry");
	assert_contains(r.out, "evvm-linuxboot: 10 passed, 0 failed\n");
	run_result_free(&r);
}

static void test_bzimage_decompressed_by_evvm(void **state)
{
	char kernel[256];

	(void)state;
	require_kvm();
	snprintf(kernel, sizeof(kernel), "%s", image("bzImage"));
	expect_all_checks((const char *[]){ "run", "--kernel", kernel, "--memory", "size=" MEM,
					    "--cpus", "boot=2", "--cmdline",
					    "linuxboot.mem=" MEM_B " linuxboot.cpus=2", NULL });
}

static void test_bzimage_decompressing_itself(void **state)
{
	char kernel[256];

	(void)state;
	require_kvm();
	snprintf(kernel, sizeof(kernel), "%s", image("bzImage"));
	expect_all_checks((const char *[]){ "run", "--kernel", kernel, "--kernel-decompress=guest",
					    "--memory", "size=" MEM, "--cpus", "boot=2",
					    "--cmdline", "linuxboot.mem=" MEM_B " linuxboot.cpus=2",
					    NULL });
}

static void test_vmlinux_elf(void **state)
{
	char kernel[256];

	(void)state;
	require_kvm();
	snprintf(kernel, sizeof(kernel), "%s", image("vmlinux"));
	expect_all_checks((const char *[]){ "run", "--kernel", kernel, "--memory", "size=" MEM,
					    "--cpus", "boot=2", "--cmdline",
					    "linuxboot.mem=" MEM_B " linuxboot.cpus=2", NULL });
}

/* An initramfs (bytes checked by CRC-32) and two virtio devices on the command line. */
static void test_initramfs_and_virtio_entries(void **state)
{
	char kernel[256], initrd[] = "/tmp/evvm-initrd-XXXXXX", disk[] = "/tmp/evvm-disk-XXXXXX";
	char cmdline[256], diskarg[64];
	unsigned char buf[12288];
	int fd;

	(void)state;
	require_kvm();
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	fd = mkstemp(initrd);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	fd = mkstemp(disk);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(kernel, sizeof(kernel), "%s", image("bzImage"));
	snprintf(diskarg, sizeof(diskarg), "path=%s", disk);
	snprintf(cmdline, sizeof(cmdline),
		 "linuxboot.mem=" MEM_B " linuxboot.cpus=2 linuxboot.initrd-size=%zu "
		 "linuxboot.initrd-sum=%08lx linuxboot.expect-virtio=2",
		 sizeof(buf), crc32(0, buf, sizeof(buf)));
	expect_all_checks((const char *[]){ "run", "--kernel", kernel, "--initramfs", initrd,
					    "--disk", diskarg, "--rng", "--memory", "size=" MEM,
					    "--cpus", "boot=2", "--cmdline", cmdline, NULL });
	unlink(initrd);
	unlink(disk);
}

/* --acpi=off: no RSDP in the zero page; the MP table still describes both CPUs. */
static void test_acpi_off(void **state)
{
	char kernel[256];

	(void)state;
	require_kvm();
	snprintf(kernel, sizeof(kernel), "%s", image("vmlinux"));
	expect_all_checks((const char *[]){ "run", "--kernel", kernel, "--acpi=off", "--memory",
					    "size=" MEM, "--cpus", "boot=2", "--rng", "--cmdline",
					    "linuxboot.mem=" MEM_B " linuxboot.cpus=2 "
					    "linuxboot.expect-virtio=1 linuxboot.acpi=0",
					    NULL });
}

/* The guest's checks can fail: a wrong expectation is reported, not passed. */
static void test_contract_guest_detects_a_mismatch(void **state)
{
	char kernel[256];
	struct run_result r;

	(void)state;
	require_kvm();
	snprintf(kernel, sizeof(kernel), "%s", image("bzImage"));
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--kernel", kernel, "--memory", "size=" MEM, "--cmdline",
				   "linuxboot.mem=268435456 linuxboot.cpus=1", NULL });
	assert_int_equal(r.status, 1);
	assert_contains(r.out, "evvm-linuxboot: e820: FAILED");
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_decompressed_by_evvm),
		cmocka_unit_test(test_bzimage_decompressing_itself),
		cmocka_unit_test(test_vmlinux_elf),
		cmocka_unit_test(test_initramfs_and_virtio_entries),
		cmocka_unit_test(test_acpi_off),
		cmocka_unit_test(test_contract_guest_detects_a_mismatch),
	};

	return cmocka_run_group_tests_name("linux boot protocol contract", tests, NULL, NULL);
}
