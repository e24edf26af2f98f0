// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fc.h"
#include "proc.h"
#include "snaptest.h"

#define ROUNDS	  "150"
#define IO_ROUNDS "200"

unsigned int last_round(const char *test, const char *text)
{
	const char *p = text, *hit;
	unsigned int n = 0;
	char key[32];
	size_t klen = (size_t)snprintf(key, sizeof(key), "%s round ", test);

	/* Only whole lines: a VM paused in the middle of one printed part of it. */
	while ((hit = strstr(p, key)) != NULL) {
		char *end;
		unsigned long v = strtoul(hit + klen, &end, 10);

		if ((!strncmp(end, " ticks", 6) || !strncmp(end, " replies", 8)) &&
		    strchr(end, '\n'))
			n = (unsigned int)v;
		p = hit + klen;
	}
	return n;
}

void snap_paths(struct snap *s, bool devices)
{
	s->devices = devices;
	s->pci = false;
	s->track = false;
	s->vhost = false;
	s->backend = 0;
	s->test = devices ? "snap-io" : "snap-loop";
	s->rounds = devices ? IO_ROUNDS : ROUNDS;
	strcpy(s->dir, "/tmp/evvm-snap-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/api.sock", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/boot.log", s->dir);
	snprintf(s->state, sizeof(s->state), "%s/vm.state", s->dir);
	snprintf(s->mem, sizeof(s->mem), "%s/vm.mem", s->dir);
	snprintf(s->disk, sizeof(s->disk), "%s/disk.img", s->dir);
	snprintf(s->vsock, sizeof(s->vsock), "%s/blk.sock", s->dir);
	snprintf(s->vlog, sizeof(s->vlog), "%s/backend.log", s->dir);
}

void snap_backend_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, 30), 0);
}

char *guest_output(const char *log)
{
	char *out = slurp(log), *p;

	while ((p = strstr(out, "evvm: ")) != NULL) {
		char *nl = strchr(p, '\n');

		memmove(p, nl ? nl + 1 : p + strlen(p), strlen(nl ? nl + 1 : p + strlen(p)) + 1);
	}
	return out;
}

void snap_killed(struct snap *s)
{
	char *out = guest_output(s->log);

	s->round = last_round(s->test, out);
	s->cut_line = *out && out[strlen(out) - 1] != '\n';
	snprintf(s->cut, sizeof(s->cut), "%s", strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out);
	free(out);
	assert_true(s->round >= 5);
	assert_true(s->round < (unsigned int)atoi(s->rounds));
}

void snap_cleanup(struct snap *s)
{
	char cmd[128];

	if (s->backend > 0)
		snap_backend_stop(s->backend);
	s->backend = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * Whether @line is one whole line of @test's: a round's ("ticks T", or
 * snap-net's "replies N resent M") or, for snap-io, a console line.
 */
static bool guest_line(const char *test, const char *line)
{
	int len = (int)strlen(line), n1 = -1, n2 = -1, n3 = -1;
	unsigned int a, b, c;
	char name[32];

	if ((sscanf(line, "evvm-guest: %31s round %u ticks %u%n", name, &a, &b, &n1) == 3 &&
	     n1 == len) ||
	    (sscanf(line, "evvm-guest: %31s console %u%n", name, &a, &n2) == 2 && n2 == len) ||
	    (sscanf(line, "evvm-guest: %31s round %u replies %u resent %u%n", name, &a, &b, &c,
		    &n3) == 4 &&
	     n3 == len))
		return !strcmp(name, test);
	return false;
}

/*
 * The seam: a line the snapshot cut is finished by the restored guest's
 * first bytes, with no byte sent twice or lost (a vCPU saved before KVM
 * finished an OUT would send its byte again).
 */
static void check_seam(const struct snap *s, const char *out)
{
	char line[192];
	size_t n = strcspn(out, "\n");

	if (!s->cut_line)
		return;
	snprintf(line, sizeof(line), "%s%.*s", s->cut, (int)n, out);
	if (!guest_line(s->test, line))
		fail_msg("the line the snapshot cut ('%s') and the restored guest's first bytes "
			 "('%.*s') do not make one line",
			 s->cut, (int)n, out);
}

void check_continued(const struct snap *s, const char *log)
{
	char *out = guest_output(log), first[64], key[32], last[64], ok[32];
	const char *hit;

	snprintf(key, sizeof(key), "%s round ", s->test);
	snprintf(first, sizeof(first), "%s round %u ", s->test, s->round + 1);
	snprintf(last, sizeof(last), "%s round %s ", s->test, s->rounds);
	snprintf(ok, sizeof(ok), "test %s: ok", s->test);
	hit = strstr(out, key);
	/* Paused within a round's line: its rest comes first, the next round is the first whole. */
	if (s->cut_line && hit && strncmp(hit, first, strlen(first)))
		snprintf(first, sizeof(first), "%s round %u ", s->test, s->round + 2);
	if (!hit || strncmp(hit, first, strlen(first)) || strstr(out, "booted") ||
	    !strstr(out, last) || !strstr(out, ok) ||
	    (s->devices && !strstr(out, "every region verified")))
		fail_msg("restored guest did not continue from round %u to the end (cut line: "
			 "%d, first: '%.40s'); it printed:\n%.300s\n...\n%s",
			 s->round + 1, s->cut_line, hit ? hit : "", out,
			 strlen(out) > 300 ? out + strlen(out) - 200 : "");
	check_seam(s, out);
	free(out);
}

void expect_refused_with(const struct snap *s, const char *state_path, const char *mem_path,
			 const char *extra, const char *needle)
{
	char arg[512], log[160], *out, key[32];
	const char *argv[] = { evvm_bin(), "run", "--restore", arg, NULL };

	snprintf(arg, sizeof(arg), "state=%s,mem=%s%s%s", state_path, mem_path, extra ? "," : "",
		 extra ? extra : "");
	snprintf(log, sizeof(log), "%s/refused.log", s->dir);
	snprintf(key, sizeof(key), "%s round", s->test);
	assert_int_equal(run_cmd(argv, log, FC_TIMEOUT), 1);
	out = slurp(log);
	if (!strstr(out, needle) || strstr(out, key))
		fail_msg("want '%s' and no guest output:\n%s", needle, out);
	free(out);
}
