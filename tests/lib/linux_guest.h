/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_LINUX_GUEST_H
#define EVVM_TESTS_LINUX_GUEST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The Debian kernel and busybox initramfs of tests/linux (README there),
 * and the text disk pattern its /init checks: sector I of pattern KIND is
 * "evvm KIND seed=S sector=I" padded with spaces to 511 bytes, then '\n'.
 */

/*
 * Run tests/linux/prepare (once per program): 0 and the kernel and
 * initramfs paths, or -1 and why they cannot be had in @why.
 */
int linux_guest_get(char *vmlinuz, char *initrd, size_t n, char *why, size_t whylen);

/* linux_guest_get(), failing the test (never skipping it) when it fails. */
void linux_guest_prepare(char *vmlinuz, char *initrd, size_t n);

/*
 * Whether /dev/kvm can run a Linux guest: hardware virtualization (vmx or
 * svm in /proc/cpuinfo, kvm_intel or kvm_amd loaded) and not PVM, whose
 * instruction emulator Linux does not survive. If not, @why says why.
 */
bool linux_guest_kvm_can_run(char *why, size_t n);

/* One sector of pattern @kind ("host" or "guest"). */
void linux_sector(char out[513], const char *kind, unsigned int seed, unsigned int i);

/* A disk file of @sectors sectors of the host pattern. */
void linux_disk_make(const char *path, unsigned int seed, unsigned int sectors);

/*
 * The file holds the host pattern, with the guest pattern over
 * [@first, @first + @count); fails at the first sector that does not.
 */
void linux_disk_check(const char *path, unsigned int seed, unsigned int sectors, unsigned int first,
		      unsigned int count);

/* sha256 (hex) of sectors [@first, @first + @count) of the file, by sha256sum. */
void linux_disk_sha256(const char *path, unsigned int first, unsigned int count, char out[65]);

#endif
