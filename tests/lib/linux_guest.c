// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "linux_guest.h"
#include "proc.h"

#define PREPARE_TIMEOUT "300" /* the first run downloads ~27 MB */

static const char *linux_dir(void)
{
	return getenv("EVVM_LINUX_DIR") ? getenv("EVVM_LINUX_DIR") : "build/linux";
}

/* tools/kvm-nested ran tests/linux/prepare for this very directory before booting. */
static bool prepared_outside(void)
{
	const char *p = getenv("EVVM_LINUX_PREPARED");
	char a[PATH_MAX], b[PATH_MAX];

	return p && realpath(p, a) && realpath(linux_dir(), b) && !strcmp(a, b);
}

int linux_guest_get(char *vmlinuz, char *initrd, size_t n, char *why, size_t whylen)
{
	static int done = -1; /* -1 not run, 0 failed, 1 ok */
	static char msg[4608];

	if (done < 0 && prepared_outside())
		done = 1;

	if (done < 0 && access("tests/linux/prepare", X_OK) != 0) {
		snprintf(msg, sizeof(msg),
			 "tests/linux/prepare not found: run the tests from the repository root");
		done = 0;
	}
	if (done < 0) {
		char log[] = "/tmp/evvm-prepare-XXXXXX", cmd[512], tail[4096];
		double t0;
		int fd, st;
		FILE *f;
		long size;

		fd = mkstemp(log);
		assert_true(fd >= 0);
		close(fd);
		t0 = now_s();
		snprintf(cmd, sizeof(cmd), "timeout -k 5 %s tests/linux/prepare '%s' >'%s' 2>&1",
			 PREPARE_TIMEOUT, linux_dir(), log);
		st = system(cmd);
		print_message("tests/linux/prepare: %.1f s\n", now_s() - t0);
		done = st == 0;
		/* The log's last 4 KiB say why it failed. */
		f = fopen(log, "r");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fseek(f, size > (long)sizeof(tail) - 1 ? size - (long)sizeof(tail) + 1 : 0,
		      SEEK_SET);
		tail[fread(tail, 1, sizeof(tail) - 1, f)] = '\0';
		fclose(f);
		unlink(log);
		snprintf(msg, sizeof(msg),
			 "cannot prepare the Linux guest (tests/linux/prepare %s):\n%s",
			 linux_dir(), tail);
	}
	if (!done) {
		snprintf(why, whylen, "%s", msg);
		return -1;
	}
	snprintf(vmlinuz, n, "%s/vmlinuz", linux_dir());
	snprintf(initrd, n, "%s/initrd.gz", linux_dir());
	return 0;
}

void linux_guest_prepare(char *vmlinuz, char *initrd, size_t n)
{
	static char why[4608];

	if (linux_guest_get(vmlinuz, initrd, n, why, sizeof(why)))
		fail_msg("%s", why);
}

static bool cpuinfo_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *w;

		if (strncmp(line, "flags", 5))
			continue;
		for (w = strtok(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \n"); w;
		     w = strtok(NULL, " \n"))
			found |= !strcmp(w, flag);
		break; /* every CPU has the same flags */
	}
	fclose(f);
	return found;
}

bool linux_guest_kvm_can_run(char *why, size_t n)
{
	bool vmx = cpuinfo_flag("vmx"), svm = cpuinfo_flag("svm");

	if (access("/sys/module/kvm_pvm", F_OK) == 0) {
		snprintf(why, n,
			 "/dev/kvm is PVM (kvm_pvm loaded): guest code runs in KVM's "
			 "instruction emulator, which Linux does not survive");
		return false;
	}
	if (!vmx && !svm) {
		snprintf(why, n,
			 "no vmx or svm in /proc/cpuinfo: KVM has no hardware "
			 "virtualization here");
		return false;
	}
	if (access("/sys/module/kvm_intel", F_OK) && access("/sys/module/kvm_amd", F_OK)) {
		snprintf(why, n, "%s in /proc/cpuinfo but neither kvm_intel nor kvm_amd is loaded",
			 vmx ? "vmx" : "svm");
		return false;
	}
	return true;
}

void linux_sector(char out[513], const char *kind, unsigned int seed, unsigned int i)
{
	char text[96];

	snprintf(text, sizeof(text), "evvm %s seed=%u sector=%u", kind, seed, i);
	snprintf(out, 513, "%-511s\n", text);
}

void linux_disk_make(const char *path, unsigned int seed, unsigned int sectors)
{
	FILE *f = fopen(path, "w");
	char s[513];

	assert_non_null(f);
	for (unsigned int i = 0; i < sectors; i++) {
		linux_sector(s, "host", seed, i);
		assert_int_equal(fwrite(s, 1, 512, f), 512);
	}
	assert_int_equal(fclose(f), 0);
}

void linux_disk_check(const char *path, unsigned int seed, unsigned int sectors, unsigned int first,
		      unsigned int count)
{
	FILE *f = fopen(path, "r");
	char want[513], got[512];
	struct stat st;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	if (st.st_size != (off_t)sectors * 512)
		fail_msg("disk file is %lld bytes, was %u", (long long)st.st_size, sectors * 512);
	for (unsigned int i = 0; i < sectors; i++) {
		bool g = i >= first && i - first < count;

		linux_sector(want, g ? "guest" : "host", seed, i);
		assert_int_equal(fread(got, 1, 512, f), 512);
		if (memcmp(got, want, 512) != 0)
			fail_msg("disk file sector %u is not the %s pattern: \"%.60s\"", i,
				 g ? "guest" : "host", got);
	}
	fclose(f);
}

void linux_disk_sha256(const char *path, unsigned int first, unsigned int count, char out[65])
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "dd if='%s' bs=512 skip=%u count=%u status=none | sha256sum",
		 path, first, count);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 65, p));
	assert_int_equal(pclose(p), 0);
	assert_int_equal(strlen(out), 64);
}
