// SPDX-License-Identifier: MIT
/*
 * tests/linux-boot: Debian's cloud kernel booted by evvm itself, end to end.
 * The busybox initramfs of tests/linux loads the virtio modules (the kernel
 * finds evvm's virtio-mmio devices through the ACPI DSDT: it has no
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), checks the host's pattern on a
 * virtio-blk disk, writes its own with O_DIRECT and fsync, reads it back,
 * and powers off (ACPI S5): `evvm run` must exit 0, the kernel must have
 * brought up every vCPU from the MADT, and the file on the host must hold
 * what the guest wrote.
 *
 * Linux needs hardware virtualization: under PVM (these development
 * machines) it dies in KVM's instruction emulator. There the test skips
 * with one line saying why; cmocka reports it as skipped, never passed.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "linux_guest.h"
#include "proc.h"

#define TIMEOUT	     120
#define DISK_SECTORS 16384 /* 8 MiB; /init writes sectors 2048..10239 */
#define WRITE_FIRST  2048
#define WRITE_COUNT  8192
#define CPUS	     "2"

static void require_linux_capable_kvm(void)
{
	char why[256];

	require_kvm();
	if (!linux_guest_kvm_can_run(why, sizeof(why))) {
		print_message("linux-boot: skipped: %s\n", why);
		skip();
	}
}

static void boot_blk(const char *decompress)
{
	char vmlinuz[256], initrd[256], disk[] = "/tmp/evvm-linux-disk-XXXXXX", cmdline[512];
	char sha[65], want[160];
	unsigned int seed = (unsigned int)getpid();
	struct run_result r;
	int fd;

	require_linux_capable_kvm();
	linux_guest_prepare(vmlinuz, initrd, sizeof(vmlinuz));
	fd = mkstemp(disk);
	assert_true(fd >= 0);
	close(fd);
	linux_disk_make(disk, seed, DISK_SECTORS);

	snprintf(cmdline, sizeof(cmdline),
		 "console=ttyS0 reboot=k panic=-1 evvm.test=blk evvm.seed=%u evvm.sectors=%u", seed,
		 DISK_SECTORS);
	char diskarg[300];

	snprintf(diskarg, sizeof(diskarg), "path=%s", disk);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "-v", "--kernel", vmlinuz, "--kernel-decompress",
				   decompress, "--initramfs", initrd, "--memory", "size=512M",
				   "--cpus", "boot=" CPUS, "--disk", diskarg, "--cmdline", cmdline,
				   NULL });
	if (r.status != 0 || !strstr(r.out, "EVVM-LINUX: blk ok "))
		print_error("status %d\nstdout:\n%s\nstderr:\n%s\n", r.status, r.out, r.err);
	assert_int_equal(r.status, 0);
	/* Every vCPU came up from the MADT, and the guest powered off through ACPI. */
	assert_contains(r.out, "smp: Brought up 1 node, " CPUS " CPUs");
	assert_contains(r.err, "guest powered off (ACPI S5)");

	linux_disk_sha256(disk, WRITE_FIRST, WRITE_COUNT, sha);
	snprintf(want, sizeof(want), "EVVM-LINUX: blk ok %s", sha);
	assert_contains(r.out, want);
	linux_disk_check(disk, seed, DISK_SECTORS, WRITE_FIRST, WRITE_COUNT);
	run_result_free(&r);
	unlink(disk);
}

/* "virtio0-req.0=N virtio0-req.1=M ..." in the guest's notes: each queue's vector fired. */
static void check_queue_interrupts(const char *out, unsigned int queues)
{
	const char *irqs = strstr(out, "per-queue interrupts: ");

	assert_non_null(irqs);
	for (unsigned int q = 0; q < queues; q++) {
		char name[16];
		const char *at;

		snprintf(name, sizeof(name), "-req.%u=", q);
		at = strstr(irqs, name);
		if (!at || strtoul(at + strlen(name), NULL, 10) == 0)
			fail_msg("queue %u had no interrupt of its own: %.120s", q, irqs);
	}
}

/*
 * --transport=pci, 2 vCPUs and the 2-queue disk @diskarg (on @disk): Linux
 * finds the virtio-pci function through ACPI (MCFG, PCI0), gets one blk-mq
 * hardware queue per vCPU, and I/O from each CPU completes through that
 * queue's own MSI-X vector. stderr is left in @r for more checks.
 */
static void boot_pci_blk_mq(struct run_result *r, const char *disk, unsigned int seed,
			    const char *diskarg)
{
	char vmlinuz[256], initrd[256], cmdline[512];

	linux_guest_prepare(vmlinuz, initrd, sizeof(vmlinuz));
	snprintf(cmdline, sizeof(cmdline),
		 "console=ttyS0 reboot=k panic=-1 evvm.test=blk-mq evvm.seed=%u evvm.sectors=%u",
		 seed, DISK_SECTORS);
	run_evvm(r, TIMEOUT,
		 (const char *[]){ "run", "-v", "--transport=pci", "--kernel", vmlinuz,
				   "--initramfs", initrd, "--memory", "size=512M", "--cpus",
				   "boot=" CPUS, "--disk", diskarg, "--cmdline", cmdline, NULL });
	if (r->status != 0 || !strstr(r->out, "EVVM-LINUX: blk-mq ok "))
		print_error("status %d\nstdout:\n%s\nstderr:\n%s\n", r->status, r->out, r->err);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "EVVM-LINUX: blk-mq ok queues=2 cpus=" CPUS);
	check_queue_interrupts(r->out, 2);
	assert_contains(r->err, "guest powered off (ACPI S5)");
	/* 64 KiB from each CPU at sector 2048 + 128 * cpu: 256 sectors of guest pattern. */
	linux_disk_check(disk, seed, DISK_SECTORS, 2048, 256);
}

static void test_debian_kernel_pci_multiqueue_blk(void **state)
{
	char disk[] = "/tmp/evvm-linux-disk-XXXXXX", diskarg[300], want[400];
	unsigned int seed = (unsigned int)getpid();
	struct run_result r;
	int fd;

	(void)state;
	require_linux_capable_kvm();
	fd = mkstemp(disk);
	assert_true(fd >= 0);
	close(fd);
	linux_disk_make(disk, seed, DISK_SECTORS);
	snprintf(diskarg, sizeof(diskarg), "path=%s,queues=2", disk);
	boot_pci_blk_mq(&r, disk, seed, diskarg);
	snprintf(want, sizeof(want), "blk0: disk '%s': %u sectors, 2 queues", disk, DISK_SECTORS);
	assert_contains(r.err, want);
	run_result_free(&r);
	unlink(disk);
}

/* The same with iothreads=2: queue 1 served by a clone of the disk on a second I/O thread. */
static void test_debian_kernel_pci_blk_iothreads(void **state)
{
	char disk[] = "/tmp/evvm-linux-disk-XXXXXX", diskarg[300];
	unsigned int seed = (unsigned int)getpid();
	struct run_result r;
	int fd;

	(void)state;
	require_linux_capable_kvm();
	fd = mkstemp(disk);
	assert_true(fd >= 0);
	close(fd);
	linux_disk_make(disk, seed, DISK_SECTORS);
	snprintf(diskarg, sizeof(diskarg), "path=%s,queues=2,iothreads=2", disk);
	boot_pci_blk_mq(&r, disk, seed, diskarg);
	assert_contains(r.err, "2 queues on 2 I/O threads");
	run_result_free(&r);
	unlink(disk);
}

/*
 * The same over vhost-user: `evvm vhost-user-blk --queues 2` serves the
 * disk, and its interrupts reach Linux through each queue's MSI-X vector
 * eventfd, which it writes itself.
 */
static void test_debian_kernel_pci_vhost_user_blk(void **state)
{
	char dir[] = "/tmp/evvm-linux-vu-XXXXXX", disk[64], sock[64], diskarg[128], path[80];
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	unsigned int seed = (unsigned int)getpid();
	struct run_result r;
	pid_t pid;
	int fd, st;

	(void)state;
	require_linux_capable_kvm();
	assert_non_null(mkdtemp(dir));
	snprintf(disk, sizeof(disk), "%s/disk.img", dir);
	snprintf(sock, sizeof(sock), "%s/blk.sock", dir);
	fd = open(disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	linux_disk_make(disk, seed, DISK_SECTORS);
	snprintf(path, sizeof(path), "path=%s", disk);
	pid = spawn((const char *[]){ evvm, "vhost-user-blk", "--socket", sock, "--disk", path,
				      "--queues", "2", NULL },
		    NULL);
	if (!wait_listening(pid, sock, 5 * test_time_scale(), &st)) {
		kill(pid, SIGKILL);
		fail_msg("evvm vhost-user-blk does not listen on %s (status %d)", sock, st);
	}
	snprintf(diskarg, sizeof(diskarg), "vhost_user=on,socket=%s,queues=2", sock);
	boot_pci_blk_mq(&r, disk, seed, diskarg);
	run_result_free(&r);
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, 10 * test_time_scale()), 0);
	unlink(disk);
	rmdir(dir);
}

static void test_debian_kernel_virtio_blk(void **state)
{
	(void)state;
	boot_blk("host");
}

static void test_debian_kernel_decompressing_itself(void **state)
{
	(void)state;
	boot_blk("guest");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian_kernel_virtio_blk),
		cmocka_unit_test(test_debian_kernel_decompressing_itself),
		cmocka_unit_test(test_debian_kernel_pci_multiqueue_blk),
		cmocka_unit_test(test_debian_kernel_pci_blk_iothreads),
		cmocka_unit_test(test_debian_kernel_pci_vhost_user_blk),
	};

	return cmocka_run_group_tests_name("linux-boot", tests, NULL, NULL);
}
