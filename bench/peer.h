/* SPDX-License-Identifier: MIT */
#ifndef EVVM_BENCH_PEER_H
#define EVVM_BENCH_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * bench/peer: the same test guest under evvm and under QEMU. peer_run.c
 * starts one VMM process per run and measures it; peer.c schedules the
 * runs and prints the table.
 */

/* Who runs the guest. QEMU_URING differs from QEMU only in its disk. */
enum side { SIDE_EVVM, SIDE_QEMU, SIDE_QEMU_URING, NR_SIDES };

struct peer_env {
	const char *evvm, *qemu; /* qemu NULL: not found */
	const char *guest;	 /* the test guest ELF */
	const char *disk;	 /* /proc/self/fd/N, inherited by the VMMs */
	double tsc_hz;		 /* the host's TSC rate, which the guests share */
	bool verbose;
};

/* One VMM process: what to run it with. */
struct vm_spec {
	enum side side;
	bool pci; /* evvm --transport=pci; QEMU q35 with virtio-*-pci */
	unsigned int mem_mib;
	const char *cmdline; /* the guest's */
	bool idle;	     /* tests=idle: sample memory, then SIGTERM */
};

struct vm_result {
	double wall_ms;	  /* fork to reaped (idle: to the memory sample) */
	double cpu_ms;	  /* user + sys of the VMM and all its threads */
	double rss_kib;	  /* idle only: the whole process */
	double guest_kib; /* idle only: Rss of the guest RAM mapping(s) */
	char *out;	  /* the serial console (and the VMM's stderr), malloc'd */
};

const char *side_name(enum side s);

/* Run one VM to its end; 0, or 1 after printing one line. Frees nothing on error. */
int vm_run_one(const struct peer_env *env, const struct vm_spec *spec, struct vm_result *r);

/* The text after @prefix on the first line of @buf that starts with it, or NULL. */
const char *out_line(const char *buf, const char *prefix);

#define MAX_RUNS 32

enum kind { K_BOOT, K_MEM, K_BLK, K_RNG };

/* One VM configuration, run on every side in @sides. */
struct pcase {
	enum kind kind;
	bool pci;
	unsigned int mem_mib, qd;
	const char *rw;
	unsigned int sides; /* bit per enum side */
	/* [side][run][metric]: boot wall, cpu ms; mem overhead, rss KiB; blk IOPS; rng MiB/s */
	double v[NR_SIDES][MAX_RUNS][2];
	double med[NR_SIDES][2];
};

struct opts {
	unsigned int runs, blk_n, rng_n;
	bool quick, verbose, want_pci[2];
	const char *json;
};

/* peer_report.c: the table on stdout, and the JSON file; 0, or 1 after a line. */
void report_table(const struct peer_env *env, const struct opts *o, const struct pcase *c,
		  unsigned int nc);
int report_json(const struct peer_env *env, const struct opts *o, const struct pcase *c,
		unsigned int nc, FILE *f);

#endif
