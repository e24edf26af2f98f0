// SPDX-License-Identifier: MIT
/*
 * Snapshot and restore end to end (needs KVM): the test guest's snap-loop
 * (1 MiB pattern per round, LAPIC timer ticks) runs under `evvm run
 * --api-sock`, is paused and snapshotted, the process is killed; the VM
 * is restored twice by `evvm run --restore` and once by PUT /snapshot/load
 * in a fresh `evvm firecracker`, and each continues from the round after
 * the snapshot to the end with its memory checked. A corrupt state file
 * and a memory file of the wrong size are refused with their messages.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_client.h"
#include "fc.h"
#include "harness.h"
#include "proc.h"

#define ROUNDS "150"

struct snap {
	char dir[64];
	char sock[128], log[128], state[128], mem[128];
	unsigned int round; /* the last round the guest printed whole before the snapshot */
	bool partial;	    /* and it was paused in the middle of the next one's line */
};

/* The last "snap-loop round N " in @text, or 0. */
static unsigned int last_round(const char *text)
{
	const char *p = text, *hit;
	unsigned int n = 0;

	/* Only whole lines: a VM paused in the middle of one printed part of it. */
	while ((hit = strstr(p, "snap-loop round ")) != NULL) {
		char *end;
		unsigned long v = strtoul(hit + 16, &end, 10);

		if (!strncmp(end, " ticks", 6) && strchr(end, '\n'))
			n = (unsigned int)v;
		p = hit + 16;
	}
	return n;
}

/* Boot the loop, pause it after round 5, snapshot it, kill the process. */
static void take_snapshot(struct snap *s)
{
	char cmdline[] = "tests=snap-loop snap_rounds=" ROUNDS, body[512], *out;
	const char *argv[] = { evvm_bin(), "run",	 "--kernel", guest_elf(), "--cmdline",
			       cmdline,	   "--api-sock", s->sock,    NULL };
	pid_t pid;
	int st;

	strcpy(s->dir, "/tmp/evvm-snap-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/api.sock", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/boot.log", s->dir);
	snprintf(s->state, sizeof(s->state), "%s/vm.state", s->dir);
	snprintf(s->mem, sizeof(s->mem), "%s/vm.mem", s->dir);
	pid = spawn(argv, s->log);
	assert_true(wait_listening(pid, s->sock, 30, &st));
	wait_file(s->log, "snap-loop round 5 ", FC_TIMEOUT);

	snprintf(body, sizeof(body), "{\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\"}",
		 s->state, s->mem);
	/* A running VM is not snapshotted. */
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 400);
	assert_non_null(strstr(out, "not paused"));
	free(out);
	assert_int_equal(api_call(s->sock, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL), 204);
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 204);
	free(out);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 30), 128 + SIGKILL);
	out = slurp(s->log);
	s->round = last_round(out);
	s->partial = strstr(strrchr(out, '\n') ?: out, "snap-loop round ") != NULL;
	free(out);
	assert_true(s->round >= 5);
	assert_true(s->round < 150);
}

static void cleanup(struct snap *s)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * The restored guest's output: the round after the snapshot first, no boot,
 * all rounds, ok. A guest paused in the middle of a line prints the rest of
 * it first, so its first whole line is the round after that one.
 */
static void check_continued(const struct snap *s, const char *log)
{
	unsigned int next = s->round + (s->partial ? 2 : 1);
	char *out = slurp(log), first[64];
	const char *hit = strstr(out, "snap-loop round ");

	snprintf(first, sizeof(first), "snap-loop round %u ", next);
	if (!hit || strncmp(hit, first, strlen(first)) || strstr(out, "booted") ||
	    !strstr(out, "snap-loop round " ROUNDS " ") || !strstr(out, "test snap-loop: ok"))
		fail_msg("restored guest did not continue from round %u to the end; it "
			 "printed:\n%.300s\n...\n%s",
			 next, out, strlen(out) > 300 ? out + strlen(out) - 200 : "");
	free(out);
}

static void restore_cli(const struct snap *s, const char *name)
{
	char arg[300], log[160];
	const char *argv[] = { evvm_bin(), "run", "--restore", arg, NULL };

	snprintf(arg, sizeof(arg), "state=%s,mem=%s", s->state, s->mem);
	snprintf(log, sizeof(log), "%s/%s.log", s->dir, name);
	assert_int_equal(run_cmd(argv, log, FC_TIMEOUT), 0);
	check_continued(s, log);
}

static void test_restore_twice(void **state)
{
	struct snap s;

	(void)state;
	require_kvm();
	take_snapshot(&s);
	restore_cli(&s, "clone1");
	restore_cli(&s, "clone2");
	cleanup(&s);
}

static void test_load_through_api(void **state)
{
	struct snap s;
	struct fc f;
	char body[512];
	int st;

	(void)state;
	require_kvm();
	take_snapshot(&s);
	fc_start(&f);
	/* evvm's lines to a file of their own: they would split the guest's. */
	snprintf(body, sizeof(body), "{\"log_path\":\"%s/fc.log\"}", f.dir);
	EXPECT(&f, "PUT", "/logger", body, 204, NULL, NULL);
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\":\"%s\",\"mem_backend\":{\"backend_type\":\"Uffd\","
		 "\"backend_path\":\"%s\"}}",
		 s.state, s.mem);
	EXPECT(&f, "PUT", "/snapshot/load", body, 400, NULL, "File only");
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\":\"%s\",\"mem_backend\":{\"backend_type\":\"File\","
		 "\"backend_path\":\"%s\"},\"resume_vm\":true}",
		 s.state, s.mem);
	EXPECT(&f, "PUT", "/snapshot/load", body, 204, NULL, NULL);
	/* A second load into the same process is refused. */
	EXPECT(&f, "PUT", "/snapshot/load", body, 400, NULL, "not allowed");
	st = wait_exit(f.pid, FC_TIMEOUT);
	assert_int_equal(st, 0);
	check_continued(&s, f.log);
	unlink(f.sock);
	snprintf(body, sizeof(body), "%s/fc.log", f.dir);
	unlink(body);
	rmdir(f.dir);
	cleanup(&s);
}

/* `evvm run --restore` with @state and @mem fails with @needle and both names. */
static void expect_refused(const struct snap *s, const char *state_path, const char *mem_path,
			   const char *needle)
{
	char arg[300], log[160], *out;
	const char *argv[] = { evvm_bin(), "run", "--restore", arg, NULL };

	snprintf(arg, sizeof(arg), "state=%s,mem=%s", state_path, mem_path);
	snprintf(log, sizeof(log), "%s/refused.log", s->dir);
	assert_int_equal(run_cmd(argv, log, FC_TIMEOUT), 1);
	out = slurp(log);
	if (!strstr(out, needle) || strstr(out, "snap-loop round"))
		fail_msg("want '%s' and no guest output:\n%s", needle, out);
	free(out);
}

/* Copy @src to @dst with bit 4 of byte @off flipped. */
static void copy_flip(const char *src, const char *dst, size_t off)
{
	static char buf[1 << 20];
	int in = open(src, O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	n = read(in, buf, sizeof(buf));
	close(in);
	assert_true(n > (ssize_t)off);
	buf[off] ^= 0x10;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	assert_int_equal(write(out, buf, n), n);
	close(out);
}

static void test_refused(void **state)
{
	struct snap s;
	char bad[160], cmd[1024];

	(void)state;
	require_kvm();
	take_snapshot(&s);
	/* One flipped bit in the middle. */
	snprintf(bad, sizeof(bad), "%s/flipped.state", s.dir);
	copy_flip(s.state, bad, 2000);
	expect_refused(&s, bad, s.mem, "checksum mismatch: the file is corrupt");
	/* Truncated. */
	snprintf(cmd, sizeof(cmd), "head -c 1000 '%s' > '%s'", s.state, bad);
	assert_int_equal(system(cmd), 0);
	expect_refused(&s, bad, s.mem, "truncated: 1000 of");
	/* Memory file one page short. */
	snprintf(bad, sizeof(bad), "%s/short.mem", s.dir);
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s' && truncate -s -4096 '%s'", s.mem,
		 bad, bad);
	assert_int_equal(system(cmd), 0);
	expect_refused(&s, s.state, bad, "bytes of guest RAM");
	cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_twice),
		cmocka_unit_test(test_load_through_api),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
