// SPDX-License-Identifier: MIT
/* Devices built again from a snapshot (include/evvm/devices.h: virtio_dev_load). */
#include <errno.h>
#include <string.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "persist.h"

/* A disk of either format (checked); format 2 has no levels: its buckets start full. */
static int blk_load(const char *id, const void *state, const struct virtio_dev_env *env,
		    struct evvm_virtio_dev **out)
{
	const struct blk_persist_v2 *p = state;
	const struct blk_persist *p3 = state;
	size_t hdr = env->format == PERSIST_FORMAT_V2 ? sizeof(*p) : sizeof(*p3);
	char path[BLK_PERSIST_PATH_MAX + 1], serial[sizeof(p->serial) + 1] = "";
	struct blk_config cfg;
	uint64_t capacity = 0;
	int err;

	memcpy(path, (const char *)state + hdr, p->path_len);
	path[p->path_len] = 0;
	memcpy(serial, p->serial, sizeof(p->serial));
	cfg = (struct blk_config){
		.path = env->disk_path ? env->disk_path : path,
		.readonly = p->readonly,
		.serial = serial,
		.queues = p->queues,
		.rate_limit = p->rate_limited ? &p->rate_limit : NULL,
	};
	err = blk_create(id, &cfg, out); /* logs a line naming the disk */
	if (err)
		return err;
	/* The guest was told the size: another one would be read past or short of. */
	(*out)->ops->config_read(*out, 0, &capacity, sizeof(capacity));
	if (capacity != p->capacity) {
		pr_err("snapshot '%s': %s: disk '%s' has %llu sectors, the snapshot's had %llu",
		       env->origin, id, cfg.path, (unsigned long long)capacity,
		       (unsigned long long)p->capacity);
		virtio_dev_destroy(*out);
		*out = NULL;
		return -EINVAL;
	}
	if (env->format != PERSIST_FORMAT_V2 && p->rate_limited)
		blk_set_rate_level(*out, &p3->rate_level);
	return 0;
}

int virtio_dev_load(uint32_t device_id, const char *id, const void *state, size_t len,
		    const struct virtio_dev_env *env, struct evvm_virtio_dev **out)
{
	char why[160];

	*out = NULL;
	if (env->vhost_user && !env->vhost_user_load) {
		pr_err("snapshot '%s': %s: a vhost-user device, which this caller cannot restore",
		       env->origin, id);
		return -ENOTSUP;
	}
	if (env->vhost_user)
		return env->vhost_user_load(device_id, id, state, len, env, out);
	if (virtio_dev_state_check(device_id, state, len, env->format, why, sizeof(why))) {
		pr_err("snapshot '%s': %s: %s", env->origin, id, why);
		return -EINVAL;
	}
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return blk_load(id, state, env, out);
	case VIRTIO_ID_NET:
		return net_load(id, state, env, out);
	case VIRTIO_ID_RNG:
		return rng_create(id, out);
	default: /* VIRTIO_ID_CONSOLE: the check knows no other */
		return console_create(id, &env->console, out);
	}
}
