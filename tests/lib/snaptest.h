/* SPDX-License-Identifier: MIT */
/*
 * What test_snapshot and test_snapshot_net share: a snapshot's files and
 * what the guest printed before it, and the checks of a restored guest
 * (cmocka assertions inside).
 */
#ifndef EVVM_TESTS_SNAPTEST_H
#define EVVM_TESTS_SNAPTEST_H

#include <stdbool.h>
#include <sys/types.h>

struct snap {
	char dir[64];
	char sock[128], log[128], state[128], mem[128], disk[128];
	bool devices; /* snap-io with a disk, rng and console; else snap-loop */
	bool pci;     /* the devices on virtio-pci, and 2 vCPUs */
	bool track;   /* --memory track_dirty_pages=on */
	bool vhost;   /* the disk served by `evvm vhost-user-blk` on s->vsock */
	char vsock[128], vlog[128];
	pid_t backend;	    /* that backend, or 0 */
	const char *test;   /* "snap-loop", "snap-io" or "snap-net" */
	const char *rounds; /* the guest's last round */
	unsigned int round; /* the last round the guest printed before the snapshot */
	bool cut_line;	    /* the snapshot came in the middle of a line of the guest's */
	char cut[96];	    /* that line's start, as the first process printed it */
};

/* The last "<test> round N " in @text that starts a whole line of the guest's, or 0. */
unsigned int last_round(const char *test, const char *text);

/* A fresh directory for @s's files; snap-io with @devices, else snap-loop (their rounds). */
void snap_paths(struct snap *s, bool devices);

/* A vhost-user backend must end on SIGTERM with status 0. */
void snap_backend_stop(pid_t pid);

/*
 * The guest's output in @log, without evvm's own lines ("evvm: ...\n",
 * on stderr into the same file), which may come in the middle of a line
 * of the guest's: a line the pause cut must still look cut. malloc'd.
 */
char *guest_output(const char *log);

/*
 * After the snapshotted process was killed: the last round it printed,
 * and the line the pause cut, from its log. Asserts it got past round 5
 * and not to the end.
 */
void snap_killed(struct snap *s);

/* Stop @s's backend, if any, and remove its directory. */
void snap_cleanup(struct snap *s);

/*
 * The restored guest's output in @log: the round after the snapshot first
 * (a line the pause cut finished exactly), no boot, all rounds (with
 * devices: every region verified), ok.
 */
void check_continued(const struct snap *s, const char *log);

/* `evvm run --restore` with @state_path, @mem_path and @extra (or NULL) fails with @needle. */
void expect_refused_with(const struct snap *s, const char *state_path, const char *mem_path,
			 const char *extra, const char *needle);

#endif
