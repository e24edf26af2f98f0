// SPDX-License-Identifier: MIT
/*
 * evvm's vhost-user backends driven by the real Linux virtio drivers: Debian's
 * cloud kernel boots under QEMU in software mode (TCG, no /dev/kvm) with a
 * vhost-user device whose backend is `evvm vhost-user-blk` or
 * `evvm vhost-user-rng`. tests/linux/prepare provides the kernel and a busybox
 * initramfs whose /init (tests/linux/init) runs the in-guest half and prints
 * one "EVVM-LINUX: " verdict line; the host half checks the disk file.
 *
 * Controls: the same blk tests against qemu-storage-daemon's vhost-user-blk
 * export, and the rng test against QEMU's own virtio-rng-pci (Debian 12 has
 * no vhost-user-rng backend). If a control fails too, the fault is in this
 * harness, the guest or QEMU, not in evvm.
 *
 * Needs qemu-system-x86, busybox-static and cpio (tools/deps test) and, the
 * first time, network access to Debian's mirrors to download the kernel
 * package; without either the tests fail, they do not skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

/*
 * Bounds. A boot takes 3-4 s; six tests that all hang, each at
 * GUEST_TIMEOUT + 2 x BACKEND_TIMEOUT, stay under run-tests' 600 s.
 */
#define PREPARE_TIMEOUT 300 /* the first run downloads ~27 MB */
#define BACKEND_TIMEOUT 10  /* to listen, and to exit after SIGTERM */
#define GUEST_TIMEOUT	75  /* QEMU's start to its exit */
#define QEMU_MEM	"256"

#define DISK_SECTORS	16384 /* 8 MiB; the guest writes sectors 2048..10239 */
#define WRITE_FIRST	2048
#define WRITE_COUNT	8192

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The whole of a (small) file, NUL-terminated; "" if it cannot be read. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *p = NULL;
	size_t len = 0, cap = 0, n;

	if (f) {
		do {
			if (len + 4096 + 1 > cap) {
				cap = (len + 4096 + 1) * 2;
				p = realloc(p, cap);
				assert_non_null(p);
			}
			n = fread(p + len, 1, 4096, f);
			len += n;
		} while (n > 0);
		fclose(f);
	}
	if (!p)
		return strdup("");
	p[len] = '\0';
	return p;
}

/* Start @argv[0] (searched in PATH) with stdin /dev/null, stdout+stderr to @log. */
static pid_t spawn(const char *const argv[], const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	pid_t pid;

	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	return pid;
}

/* Wait up to @timeout_s for @pid; its exit status (128+signal) or -1 if still running. */
static int wait_exit(pid_t pid, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	int ws;

	for (;;) {
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid)
			return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		assert_true(r == 0);
		if (now_s() >= deadline)
			return -1;
		usleep(20000);
	}
}

/* A command's exit status (-1 on timeout, then killed); output to @log. */
static int run_cmd(const char *const argv[], const char *log, int timeout_s)
{
	pid_t pid = spawn(argv, log);
	int st = wait_exit(pid, timeout_s);

	if (st < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return st;
}

/* Whether some process listens on the unix socket @path (from /proc/net/unix). */
static bool listening(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char name[256] = "";

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, name) == 2 &&
		    strcmp(name, path) == 0 && (flags & 0x10000)) /* __SO_ACCEPTCON */
			found = true;
	}
	fclose(f);
	return found;
}

/* ---- the prepared guest ---- */

static const char *linux_dir(void)
{
	return getenv("EVVM_LINUX_DIR") ? getenv("EVVM_LINUX_DIR") : "build/linux";
}

/* Run tests/linux/prepare once per program; fail (not skip) if it fails. */
static void prepare_linux(char *vmlinuz, char *initrd, size_t n)
{
	static int done = -1; /* -1 not run, 0 failed, 1 ok */
	static char why[4096];
	static double took;
	char log[] = "/tmp/evvm-prepare-XXXXXX";
	int fd, st;

	if (done < 0) {
		double t0 = now_s();

		fd = mkstemp(log);
		assert_true(fd >= 0);
		close(fd);
		if (access("tests/linux/prepare", X_OK) != 0) {
			snprintf(why, sizeof(why),
				 "tests/linux/prepare not found: run the tests from the repository "
				 "root");
			done = 0;
		} else {
			st = run_cmd((const char *[]){ "tests/linux/prepare", linux_dir(), NULL },
				     log, PREPARE_TIMEOUT);
			char *out = slurp(log);

			if (st != 0)
				snprintf(why, sizeof(why), "tests/linux/prepare %s %s:\n%s",
					 linux_dir(), st < 0 ? "timed out" : "failed", out);
			done = st == 0;
			free(out);
		}
		unlink(log);
		took = now_s() - t0;
		print_message("tests/linux/prepare: %.1f s\n", took);
	}
	if (!done)
		fail_msg("cannot prepare the Linux guest: %s", why);
	snprintf(vmlinuz, n, "%s/vmlinuz", linux_dir());
	snprintf(initrd, n, "%s/initrd.gz", linux_dir());
}

static bool qemu_has_device(const char *dev)
{
	char log[] = "/tmp/evvm-qemu-help-XXXXXX", want[128];
	int fd = mkstemp(log), st;
	char *out;
	bool has;

	assert_true(fd >= 0);
	close(fd);
	st = run_cmd((const char *[]){ "qemu-system-x86_64", "-device", "help", NULL }, log, 30);
	out = slurp(log);
	unlink(log);
	if (st != 0)
		fail_msg("qemu-system-x86_64 -device help: status %d (install qemu-system-x86: "
			 "tools/deps test):\n%s",
			 st, out);
	snprintf(want, sizeof(want), "name \"%s\"", dev);
	has = strstr(out, want) != NULL;
	free(out);
	return has;
}

/* ---- one test's processes and files, cleaned up in teardown ---- */

struct ctx {
	char dir[64]; /* temp dir: disk.img, vhost.sock, backend.log, qemu.log */
	char disk[96], sock[96], blog[96], qlog[96];
	pid_t backend, qemu;
	char *verdict; /* the guest's, from boot() */
	unsigned seed;
	double t0;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "%s/evvm-vhost-XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->disk, sizeof(c->disk), "%s/disk.img", c->dir);
	snprintf(c->sock, sizeof(c->sock), "%s/vhost.sock", c->dir);
	snprintf(c->blog, sizeof(c->blog), "%s/backend.log", c->dir);
	snprintf(c->qlog, sizeof(c->qlog), "%s/qemu.log", c->dir);
	c->seed = (unsigned)(getpid() * 2654435761u ^ (unsigned)time(NULL)) % 1000000;
	c->t0 = now_s();
	*state = c;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->qemu > 0) {
		kill(c->qemu, SIGKILL);
		waitpid(c->qemu, NULL, 0);
	}
	if (c->backend > 0) {
		kill(c->backend, SIGKILL);
		waitpid(c->backend, NULL, 0);
	}
	free(c->verdict);
	print_message("wall time: %.1f s\n", now_s() - c->t0);
	nftw(c->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/* Fail with @why, the backend's and QEMU's output. */
#define fail_ctx(c, ...)                                                        \
	do {                                                                    \
		char *b_ = slurp((c)->blog), *q_ = slurp((c)->qlog);            \
		print_error("backend output:\n%s\nQEMU output:\n%s\n", b_, q_); \
		free(b_);                                                       \
		free(q_);                                                       \
		fail_msg(__VA_ARGS__);                                          \
	} while (0)

/* Start the backend and wait until it listens on c->sock. */
static void start_backend(struct ctx *c, const char *const argv[])
{
	double deadline = now_s() + BACKEND_TIMEOUT;
	int st;

	c->backend = spawn(argv, c->blog);
	while (!listening(c->sock)) {
		st = wait_exit(c->backend, 0);
		if (st >= 0) {
			c->backend = 0;
			fail_ctx(c, "backend %s exited with status %d before listening on %s",
				 argv[0], st, c->sock);
		}
		if (now_s() > deadline)
			fail_ctx(c, "backend %s does not listen on %s after %d s", argv[0], c->sock,
				 BACKEND_TIMEOUT);
		usleep(10000);
	}
}

/*
 * Boot the guest with @device (a vhost-user device is connected to c->sock)
 * and the test @cmdline; wait for QEMU to exit. Returns the verdict line
 * (after "EVVM-LINUX: ", owned by @c); fails if there is none or QEMU did not
 * exit 0.
 */
static char *boot(struct ctx *c, const char *device, const char *cmdline)
{
	char vmlinuz[256], initrd[256], append[512], chardev[160], dev[96];
	const char *argv[40];
	size_t n = 0;
	double t0;
	char *out, *v, *end, *verdict;
	int st;

	prepare_linux(vmlinuz, initrd, sizeof(vmlinuz));
	snprintf(append, sizeof(append), "console=ttyS0 panic=-1 quiet %s", cmdline);
	/* clang-format off */
	const char *const qemu[] = {
		"qemu-system-x86_64", "-M", "pc,memory-backend=mem", "-accel", "tcg",
		"-m", QEMU_MEM, "-object", "memory-backend-memfd,id=mem,size=" QEMU_MEM "M,share=on",
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", vmlinuz, "-initrd", initrd, "-append", append, NULL
	};
	/* clang-format on */
	for (size_t i = 0; qemu[i]; i++)
		argv[n++] = qemu[i];
	if (strncmp(device, "vhost-user-", 11) == 0) {
		snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", c->sock);
		snprintf(dev, sizeof(dev), "%s,chardev=c0", device);
		argv[n++] = "-chardev";
		argv[n++] = chardev;
	} else {
		snprintf(dev, sizeof(dev), "%s", device);
	}
	argv[n++] = "-device";
	argv[n++] = dev;
	argv[n] = NULL;
	t0 = now_s();
	c->qemu = spawn(argv, c->qlog);
	st = wait_exit(c->qemu, GUEST_TIMEOUT);
	out = slurp(c->qlog);
	v = strstr(out, "EVVM-LINUX: ");
	if (st < 0) {
		kill(c->qemu, SIGKILL);
		waitpid(c->qemu, NULL, 0);
		c->qemu = 0;
		free(out);
		fail_ctx(c, "QEMU did not exit within %d s (%s)", GUEST_TIMEOUT,
			 v ? "after the guest's verdict: stuck stopping the vhost-user device?"
			   : "no verdict from the guest");
	}
	c->qemu = 0;
	print_message("QEMU: boot to power-off %.1f s\n", now_s() - t0);
	if (!v) {
		free(out);
		fail_ctx(c, "QEMU exited with status %d and no \"EVVM-LINUX: \" line", st);
	}
	v += strlen("EVVM-LINUX: ");
	end = v + strcspn(v, "\r\n");
	verdict = c->verdict = strndup(v, end - v);
	free(out);
	assert_non_null(verdict);
	print_message("guest: %s\n", verdict);
	if (st != 0)
		fail_ctx(c, "QEMU exited with status %d (verdict: %s)", st, verdict);
	return verdict;
}

/* SIGTERM the backend: it must exit 0 within BACKEND_TIMEOUT and remove its socket. */
static void stop_backend(struct ctx *c)
{
	int st = wait_exit(c->backend, 0);

	if (st >= 0) {
		c->backend = 0;
		fail_ctx(c, "backend exited by itself (status %d) before SIGTERM", st);
	}
	assert_int_equal(kill(c->backend, SIGTERM), 0);
	st = wait_exit(c->backend, BACKEND_TIMEOUT);
	if (st < 0)
		fail_ctx(c, "backend still running %d s after SIGTERM", BACKEND_TIMEOUT);
	c->backend = 0;
	if (st != 0)
		fail_ctx(c, "backend exited with status %d after SIGTERM, not 0", st);
	if (access(c->sock, F_OK) == 0)
		fail_ctx(c, "backend left its socket %s behind", c->sock);
}

/* ---- the disk: patterns as tests/linux/init writes them ---- */

static void sector(char out[513], const char *kind, unsigned seed, unsigned i)
{
	char text[96];

	snprintf(text, sizeof(text), "evvm %s seed=%u sector=%u", kind, seed, i);
	snprintf(out, 513, "%-511s\n", text);
}

static void make_disk(struct ctx *c)
{
	FILE *f = fopen(c->disk, "w");
	char s[513];

	assert_non_null(f);
	for (unsigned i = 0; i < DISK_SECTORS; i++) {
		sector(s, "host", c->seed, i);
		assert_int_equal(fwrite(s, 1, 512, f), 512);
	}
	assert_int_equal(fclose(f), 0);
}

/*
 * The disk file holds the host pattern, with the guest pattern over sectors
 * WRITE_FIRST.. if @written; fails at the first sector that does not.
 */
static void check_disk(struct ctx *c, bool written)
{
	FILE *f = fopen(c->disk, "r");
	char want[513], got[512];
	struct stat st;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	if (st.st_size != DISK_SECTORS * 512)
		fail_msg("disk file is %lld bytes, was %d", (long long)st.st_size,
			 DISK_SECTORS * 512);
	for (unsigned i = 0; i < DISK_SECTORS; i++) {
		bool g = written && i >= WRITE_FIRST && i < WRITE_FIRST + WRITE_COUNT;

		sector(want, g ? "guest" : "host", c->seed, i);
		assert_int_equal(fread(got, 1, 512, f), 512);
		if (memcmp(got, want, 512) != 0)
			fail_msg("disk file sector %u is not the %s pattern: \"%.60s\"", i,
				 g ? "guest" : "host", got);
	}
	fclose(f);
}

/* sha256 of the written range of the disk file, by the host's sha256sum. */
static void written_sha256(struct ctx *c, char out[65])
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "dd if='%s' bs=512 skip=%d count=%d status=none | sha256sum",
		 c->disk, WRITE_FIRST, WRITE_COUNT);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 65, p));
	assert_int_equal(pclose(p), 0);
	assert_int_equal(strlen(out), 64);
}

/* ---- the tests ---- */

static void blk_test(struct ctx *c, const char *const backend[])
{
	char cmdline[128], sha[65], want[80];
	char *v;

	make_disk(c);
	start_backend(c, backend);
	snprintf(cmdline, sizeof(cmdline), "evvm.test=blk evvm.seed=%u evvm.sectors=%d", c->seed,
		 DISK_SECTORS);
	v = boot(c, "vhost-user-blk-pci", cmdline);
	stop_backend(c);
	if (strncmp(v, "blk ok ", 7) != 0)
		fail_ctx(c, "the guest says: %s", v);
	/* What the guest read back is what is in the file, and it is the pattern. */
	written_sha256(c, sha);
	snprintf(want, sizeof(want), "blk ok %s", sha);
	if (strcmp(v, want) != 0)
		fail_msg("the guest read back sha256 %s; the disk file has %s", v + 7, sha);
	check_disk(c, true);
}

static void blk_ro_test(struct ctx *c, const char *const backend[])
{
	char cmdline[128];
	char *v;

	make_disk(c);
	start_backend(c, backend);
	snprintf(cmdline, sizeof(cmdline), "evvm.test=blk-ro evvm.seed=%u evvm.sectors=%d", c->seed,
		 DISK_SECTORS);
	v = boot(c, "vhost-user-blk-pci", cmdline);
	stop_backend(c);
	if (strcmp(v, "blk-ro ok") != 0)
		fail_ctx(c, "the guest says: %s", v);
	check_disk(c, false);
}

static const char *evvm(void)
{
	return getenv("EVVM") ? getenv("EVVM") : "build/evvm";
}

/* Control: the harness and guest against qemu-storage-daemon's backend. */
static void test_control_qsd_blk(void **state)
{
	struct ctx *c = *state;
	char file[256], addr[256];

	snprintf(file, sizeof(file), "driver=file,node-name=f0,filename=%s", c->disk);
	snprintf(addr, sizeof(addr),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=on",
		 c->sock);
	blk_test(c, (const char *[]){ "qemu-storage-daemon", "--blockdev", file, "--blockdev",
				      "driver=raw,node-name=d0,file=f0", "--export", addr, NULL });
}

static void test_control_qsd_blk_readonly(void **state)
{
	struct ctx *c = *state;
	char file[256], addr[256];

	snprintf(file, sizeof(file), "driver=file,node-name=f0,filename=%s,read-only=on", c->disk);
	snprintf(addr, sizeof(addr),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=off",
		 c->sock);
	blk_ro_test(c, (const char *[]){ "qemu-storage-daemon", "--blockdev", file, "--blockdev",
					 "driver=raw,node-name=d0,file=f0,read-only=on", "--export",
					 addr, NULL });
}

/* Control: the guest's rng test against QEMU's own virtio-rng-pci (no vhost-user). */
static void test_control_qemu_rng(void **state)
{
	struct ctx *c = *state;
	char *v = boot(c, "virtio-rng-pci", "evvm.test=rng");

	if (strcmp(v, "rng ok") != 0)
		fail_ctx(c, "the guest says: %s", v);
}

static void test_evvm_blk(void **state)
{
	struct ctx *c = *state;
	char disk[160];

	snprintf(disk, sizeof(disk), "path=%s", c->disk);
	blk_test(c, (const char *[]){ evvm(), "vhost-user-blk", "--socket", c->sock, "--disk", disk,
				      NULL });
}

static void test_evvm_blk_readonly(void **state)
{
	struct ctx *c = *state;
	char disk[160];

	snprintf(disk, sizeof(disk), "path=%s,readonly=on", c->disk);
	blk_ro_test(c, (const char *[]){ evvm(), "vhost-user-blk", "--socket", c->sock, "--disk",
					 disk, NULL });
}

static void test_evvm_rng(void **state)
{
	struct ctx *c = *state;
	char *v;

	if (!qemu_has_device("vhost-user-rng-pci")) {
		print_message("SKIP: this QEMU has no vhost-user-rng-pci device "
			      "(qemu-system-x86_64 -device help)\n");
		skip();
	}
	start_backend(c, (const char *[]){ evvm(), "vhost-user-rng", "--socket", c->sock, NULL });
	v = boot(c, "vhost-user-rng-pci", "evvm.test=rng");
	stop_backend(c);
	if (strcmp(v, "rng ok") != 0)
		fail_ctx(c, "the guest says: %s", v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_qsd_blk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_qsd_blk_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_qemu_rng, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_rng, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
