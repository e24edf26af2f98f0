/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_VMJSON_H
#define EVVM_CLI_VMJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../vm/vmdesc.h"

/*
 * Firecracker's JSON bodies (its API's PUT bodies, and its config file made
 * of them) to and from the VM description. Each reader checks the body's
 * shape (an object, no unknown field, every field of its type, the required
 * ones present; null counts as absent for an optional field) and fills the
 * section; on error it returns -EINVAL with a message in @msg
 * (VMDESC_MSG_MAX bytes) that names the field. Values are judged by
 * vmdesc_check_*(), not here.
 */

/* Parse @len bytes of JSON; NULL with the parser's message (line, column) in @msg. */
json_t *vmjson_parse(const char *buf, size_t len, char *msg);

/* MachineConfiguration; with @patch no field is required and *@m is updated. */
int vmjson_machine(const json_t *j, bool patch, struct vmdesc_machine *m, char *msg);

/* BootSource into a zeroed *@b. */
int vmjson_boot(const json_t *j, struct vmdesc_boot *b, char *msg);

/* Drive into a zeroed *@drv (evvm's extension: "socket" for vhost-user). */
int vmjson_drive(const json_t *j, struct vmdesc_drive *drv, char *msg);

/* NetworkInterface into a zeroed *@n; the MAC defaults by @index. */
int vmjson_net(const json_t *j, unsigned int index, struct vmdesc_net *n, char *msg);

/*
 * EntropyDevice into @d: the rng on, its rate limiter (or none) replacing
 * what was there. On failure @d is unchanged.
 */
int vmjson_entropy(const json_t *j, struct vm_desc *d, char *msg);

/* Logger and Metrics into zeroed sections. */
int vmjson_logger(const json_t *j, struct vmdesc_logger *l, char *msg);
int vmjson_metrics(const json_t *j, struct vmdesc_metrics *m, char *msg);

/* PATCH /vm's Vm body: *@pause is true for "Paused", false for "Resumed". */
int vmjson_vm_state(const json_t *j, bool *pause, char *msg);

/* A TokenBucket; refill_time in milliseconds. */
struct vmjson_bucket {
	bool set;
	int64_t size, one_time_burst, refill_time_ms;
};

/* A RateLimiter: set when given and not null; its buckets when given. */
struct vmjson_rate_limiter {
	bool set;
	struct vmjson_bucket bandwidth, ops;
};

/* A RateLimiter at @j (NULL or null: none), named @name in messages. */
int vmjson_rate_limiter(const json_t *j, const char *name, struct vmjson_rate_limiter *rl,
			char *msg);

/*
 * Apply @rl to @out as Firecracker's updates do: a bucket given replaces
 * the old one (size 0 turns it off), a bucket not given stays.
 */
void vmjson_rate_limit_apply(const struct vmjson_rate_limiter *rl, struct evvm_rate_limit *out);

/* PATCH /drives/{id}'s PartialDrive; the caller frees @u->path (also on error). */
struct vmjson_drive_update {
	char id[VMDESC_ID_MAX + 1];
	char *path; /* NULL: keep the backing file */
	struct vmjson_rate_limiter rate_limiter;
};
int vmjson_drive_update(const json_t *j, struct vmjson_drive_update *u, char *msg);

/* PATCH /network-interfaces/{id}'s PartialNetworkInterface. */
struct vmjson_net_update {
	char id[VMDESC_NET_ID_MAX + 1];
	struct vmjson_rate_limiter rx, tx;
};
int vmjson_net_update(const json_t *j, struct vmjson_net_update *u, char *msg);

/* Firecracker's config file ("boot-source", "drives", ...) into *@d. */
int vmjson_config(const json_t *j, struct vm_desc *d, char *msg);

/* GET /machine-config's body, and GET /vm/config's (FullVmConfiguration). */
json_t *vmjson_export_machine(const struct vmdesc_machine *m);
json_t *vmjson_export(const struct vm_desc *d);

#endif
