// SPDX-License-Identifier: MIT
/*
 * bench/peer's output: one row per figure and QEMU configuration, with
 * evvm's median, QEMU's, their ratio and which side wins by how much.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

/* One printed figure: which metric of a case, against which QEMU side. */
struct row {
	char label[48];
	const char *unit;
	bool lower_better;
	double scale; /* unit per stored value */
	int metric;
	enum side peer;
};

/* The rows a case prints into @r (at most 2); their count. */
static unsigned int case_rows(const struct pcase *c, struct row *r)
{
	switch (c->kind) {
	case K_BOOT:
		r[0] = (struct row){ "boot to exit=0, wall", "ms", true, 1, 0, SIDE_QEMU };
		r[1] = (struct row){ "boot to exit=0, VMM CPU", "ms", true, 1, 1, SIDE_QEMU };
		return 2;
	case K_MEM:
		r[0] = (struct row){ "", "MiB", true, 1.0 / 1024, 0, SIDE_QEMU };
		snprintf(r[0].label, sizeof(r[0].label), "VMM memory overhead, %u MiB guest",
			 c->mem_mib);
		return 1;
	case K_BLK:
		if (!(c->sides & 1u << SIDE_QEMU)) {
			r[0] = (struct row){ "", "IOPS", false, 1, 0, SIDE_QEMU };
			snprintf(r[0].label, sizeof(r[0].label), "blk 4K %s qd%u", c->rw, c->qd);
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			r[i] = (struct row){ "", "IOPS", false, 1, 0,
					     i ? SIDE_QEMU_URING : SIDE_QEMU };
			snprintf(r[i].label, sizeof(r[i].label), "blk 4K %s qd%u, qemu %s", c->rw,
				 c->qd, i ? "aio=io_uring" : "defaults");
		}
		return 2;
	case K_RNG:
		r[0] = (struct row){ "rng 4 KiB requests", "MiB/s", false, 1, 0, SIDE_QEMU };
		return 1;
	}
	return 0;
}

/* Who wins @r and by how much (>= 1); NULL when QEMU did not run. */
static const char *winner(const struct pcase *c, const struct row *r, double *factor)
{
	double e = c->med[SIDE_EVVM][r->metric], q = c->med[r->peer][r->metric];
	bool evvm_wins;

	if (!(c->sides & 1u << r->peer) || e <= 0 || q <= 0)
		return NULL;
	evvm_wins = r->lower_better ? e <= q : e >= q;
	*factor = evvm_wins == r->lower_better ? q / e : e / q;
	return evvm_wins ? "evvm" : side_name(r->peer);
}

void report_table(const struct peer_env *env, const struct opts *o, const struct pcase *c,
		  unsigned int nc)
{
	printf("bench/peer: evvm vs %s -accel kvm, same test guest, 1 vCPU; %u run%s, medians; "
	       "blk n=%u, rng n=%u x 4 KiB; TSC %.3f GHz\n",
	       env->qemu ? env->qemu : "QEMU (not found)", o->runs, o->runs == 1 ? "" : "s",
	       o->blk_n, o->rng_n, env->tsc_hz / 1e9);
	printf("%-5s %-38s %-5s %10s %10s %9s  %s\n", "trans", "row", "unit", "evvm", "qemu",
	       "evvm/qemu", "winner");
	for (unsigned int i = 0; i < nc; i++) {
		struct row r[2];
		unsigned int n = case_rows(&c[i], r);

		for (unsigned int k = 0; k < n; k++) {
			double f = 0, e = c[i].med[SIDE_EVVM][r[k].metric] * r[k].scale;
			const char *w = winner(&c[i], &r[k], &f);

			printf("%-5s %-38s %-5s %10.2f ", c[i].pci ? "pci" : "mmio", r[k].label,
			       r[k].unit, e);
			if (w)
				printf("%10.2f %9.2f  %s by %.2fx\n",
				       c[i].med[r[k].peer][r[k].metric] * r[k].scale,
				       c[i].med[SIDE_EVVM][r[k].metric] /
					       c[i].med[r[k].peer][r[k].metric],
				       w, f);
			else
				printf("%10s %9s  -\n", "-", "-");
		}
	}
	if (!env->qemu)
		printf("QEMU rows missing: %s\n", getenv("QEMU") && *getenv("QEMU") ?
			"$QEMU is not an executable" : "no qemu-system-x86_64 in PATH (nor $QEMU)");
}

int report_json(const struct peer_env *env, const struct opts *o, const struct pcase *c,
		unsigned int nc, FILE *f)
{
	bool first = true;

	fprintf(f, "{\"runs\": %u, \"quick\": %s, \"blk_n\": %u, \"rng_n\": %u, \"tsc_hz\": %.0f, ",
		o->runs, o->quick ? "true" : "false", o->blk_n, o->rng_n, env->tsc_hz);
	fprintf(f, "\"qemu\": %s%s%s, \"rows\": [", env->qemu ? "\"" : "",
		env->qemu ? env->qemu : "null", env->qemu ? "\"" : "");
	for (unsigned int i = 0; i < nc; i++) {
		struct row r[2];
		unsigned int n = case_rows(&c[i], r);

		for (unsigned int k = 0; k < n; k++) {
			double fct = 0;
			const char *w = winner(&c[i], &r[k], &fct);

			fprintf(f,
				"%s\n  {\"transport\": \"%s\", \"row\": \"%s\", \"unit\": \"%s\", "
				"\"better\": \"%s\", \"evvm\": %.3f, ",
				first ? "" : ",", c[i].pci ? "pci" : "mmio", r[k].label, r[k].unit,
				r[k].lower_better ? "lower" : "higher",
				c[i].med[SIDE_EVVM][r[k].metric] * r[k].scale);
			if (w)
				fprintf(f, "\"qemu\": %.3f, \"qemu_config\": \"%s\", "
					   "\"winner\": \"%s\", \"factor\": %.3f}",
					c[i].med[r[k].peer][r[k].metric] * r[k].scale,
					side_name(r[k].peer), w, fct);
			else
				fprintf(f, "\"qemu\": null, \"winner\": null, \"factor\": null}");
			first = false;
		}
	}
	fprintf(f, "\n]}\n");
	return fclose(f) ? 1 : 0;
}
