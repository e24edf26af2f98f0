// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what an API client or a config file controls: the
 * JSON bodies read by cli/vmjson.c into the VM description (vm/vmdesc.c).
 *
 * Input: one byte choosing the reader (a config file, or one of the PUT and
 * PATCH bodies, pre-boot or post-boot), then the JSON text. Whatever a reader accepts must pass
 * the description's own checks, and a description built from a config file
 * must export and read back to the same JSON. A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "../vm/vmdesc.h"
#include "../cli/vmjson.h"

enum {
	R_CONFIG,
	R_MACHINE,
	R_MACHINE_PATCH,
	R_BOOT,
	R_DRIVE,
	R_NET,
	R_ENTROPY,
	R_LOGGER,
	R_METRICS,
	R_VM_STATE,
	R_DRIVE_PATCH,
	R_NET_PATCH,
	R_NR
};

/* An accepted rate limiter has buckets only when set, and nothing negative. */
static void check_rate_limiter(const struct vmjson_rate_limiter *rl)
{
	const struct vmjson_bucket *b[] = { &rl->bandwidth, &rl->ops };

	for (unsigned int i = 0; i < 2; i++) {
		if (b[i]->set && !rl->set)
			abort();
		if (b[i]->size < 0 || b[i]->one_time_burst < 0 || b[i]->refill_time_ms < 0)
			abort();
	}
}

/* The post-boot bodies: what they accept is well-formed. */
static void read_patch(unsigned int which, const json_t *j, char *msg)
{
	struct vmjson_drive_update du;
	struct vmjson_net_update nu;
	bool pause;

	switch (which) {
	case R_VM_STATE:
		vmjson_vm_state(j, &pause, msg);
		break;
	case R_DRIVE_PATCH:
		if (!vmjson_drive_update(j, &du, msg)) {
			if (!du.id[0] || strlen(du.id) > VMDESC_ID_MAX || (du.path && !du.path[0]))
				abort();
			check_rate_limiter(&du.rate_limiter);
		}
		free(du.path);
		break;
	case R_NET_PATCH:
		if (!vmjson_net_update(j, &nu, msg)) {
			if (!nu.id[0] || strlen(nu.id) > VMDESC_NET_ID_MAX)
				abort();
			check_rate_limiter(&nu.rx);
			check_rate_limiter(&nu.tx);
		}
		break;
	}
}

/* A config that was accepted exports to JSON that reads back to the same export. */
static void check_round_trip(const struct vm_desc *d)
{
	char msg[VMDESC_MSG_MAX];
	json_t *a = vmjson_export(d), *b;
	struct vm_desc d2;
	char *sa, *sb;

	if (!a)
		return;
	vmdesc_init(&d2);
	d2.kernel_required = true;
	if (vmjson_config(a, &d2, msg))
		abort();
	b = vmjson_export(&d2);
	sa = json_dumps(a, JSON_SORT_KEYS);
	sb = b ? json_dumps(b, JSON_SORT_KEYS) : NULL;
	if (sa && sb && strcmp(sa, sb))
		abort();
	free(sa);
	free(sb);
	json_decref(a);
	json_decref(b);
	vmdesc_release(&d2);
}

static void read_one(unsigned int which, const json_t *j, struct vm_desc *d)
{
	char msg[VMDESC_MSG_MAX] = "";
	struct vmdesc_boot b = { 0 };
	struct vmdesc_drive drv = { 0 };
	struct vmdesc_net n = { 0 };
	struct vmdesc_logger l = { 0 };
	struct vmdesc_metrics m = { 0 };

	switch (which) {
	case R_CONFIG:
		if (!vmjson_config(j, d, msg)) {
			if (vmdesc_validate(d, msg))
				abort();
			check_round_trip(d);
		}
		break;
	case R_MACHINE:
	case R_MACHINE_PATCH:
		if (!vmjson_machine(j, which == R_MACHINE_PATCH, &d->machine, msg) &&
		    vmdesc_check_machine(&d->machine, msg))
			abort();
		break;
	case R_BOOT:
		if (!vmjson_boot(j, &b, msg) && vmdesc_check_boot(&b, true, msg))
			abort();
		vmdesc_boot_release(&b);
		break;
	case R_DRIVE:
		if (!vmjson_drive(j, &drv, msg) && vmdesc_put_drive(d, &drv, msg))
			abort(); /* one drive into an empty description always fits */
		vmdesc_drive_release(&drv);
		break;
	case R_NET:
		if (!vmjson_net(j, 0, &n, msg) && vmdesc_put_net(d, &n, msg))
			abort();
		vmdesc_net_release(&n);
		break;
	case R_ENTROPY:
		vmjson_entropy(j, d, msg);
		break;
	case R_LOGGER:
		vmjson_logger(j, &l, msg);
		free(l.path);
		break;
	case R_METRICS:
		vmjson_metrics(j, &m, msg);
		free(m.path);
		break;
	default:
		read_patch(which, j, msg);
		break;
	}
	/* Every message is a terminated string. */
	if (strnlen(msg, sizeof(msg)) == sizeof(msg))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[VMDESC_MSG_MAX];
	struct vm_desc d;
	json_t *j;

	if (size < 1)
		return 0;
	evvm_log_set_level(EVVM_LOG_ERR);
	j = vmjson_parse((const char *)data + 1, size - 1, msg);
	if (!j)
		return 0;
	vmdesc_init(&d);
	d.kernel_required = true;
	read_one(data[0] % R_NR, j, &d);
	json_decref(j);
	vmdesc_release(&d);
	return 0;
}
