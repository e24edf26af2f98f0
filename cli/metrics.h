/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_METRICS_H
#define EVVM_CLI_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <evvm/vm.h>

#include "../vm/vmdesc.h"

/*
 * One metrics line in Firecracker's schema (its docs/metrics.md) where
 * evvm has the concept: counters are what happened since the previous
 * line, as Firecracker's are. Sections: api_server, block (all drives) and
 * block_<drive_id>, vhost_user_block_<drive_id>, net and net_<iface_id>,
 * entropy, vcpu, vmm, uart, latencies_us, logger; and evvm's own under
 * "evvm": per device its counters and, per queue, kicks, interrupts and
 * the kick-to-interrupt histogram ("kick_to_interrupt_us": the samples per
 * bucket of EVVM_KICK_LATENCY_BUCKETS).
 */

/* What the instance knows besides the VM's counters. */
struct metrics_input {
	long long utc_ms;
	const char *id; /* NULL: no "id" */
	const char *state;
	unsigned long requests, request_errors;
	unsigned long lost_metrics, lost_logs;
	uint64_t pause_us, resume_us;	  /* the last pause and resume took this long; 0: none */
	const struct vm_desc *desc;	  /* names the devices by slot */
	const struct evvm_vm_metrics *vm; /* NULL: no VM yet */
};

/* The counters of the previous line (zeroed before the first). */
struct metrics_last {
	unsigned long requests, request_errors, lost_metrics, lost_logs;
	struct evvm_vm_metrics vm;
};

/*
 * The line for @in (a JSON object), with the counters as differences
 * from @last, which is then updated. NULL when out of memory.
 */
json_t *metrics_line(const struct metrics_input *in, struct metrics_last *last);

#endif
