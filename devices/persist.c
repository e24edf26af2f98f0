// SPDX-License-Identifier: MIT
/* Devices built again from a snapshot (include/evvm/devices.h: virtio_dev_load). */
#include <errno.h>
#include <string.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "persist.h"

/* The checks of a saved disk, each naming what is wrong. */
static const char *blk_persist_fault(const struct blk_persist *p, size_t len)
{
	if (len < sizeof(*p))
		return "disk state is shorter than its header";
	if (p->path_len != len - sizeof(*p))
		return "disk path length is not what the section holds";
	if (p->path_len == 0 || p->path_len > BLK_PERSIST_PATH_MAX)
		return "disk path is empty or too long";
	if (memchr(p + 1, 0, p->path_len))
		return "disk path has a NUL byte";
	if (p->readonly > 1 || p->rate_limited > 1 || p->reserved[0] || p->reserved[1])
		return "disk flags are not 0 or 1, or reserved bytes are set";
	if (p->queues > EVVM_VIRTIO_MAX_QUEUES)
		return "disk has more queues than a device may";
	return NULL;
}

static int blk_load(const char *id, const void *state, size_t len, const struct virtio_dev_env *env,
		    struct evvm_virtio_dev **out)
{
	const struct blk_persist *p = state;
	const char *bad = blk_persist_fault(p, len);
	char path[BLK_PERSIST_PATH_MAX + 1], serial[sizeof(p->serial) + 1] = "";
	struct blk_config cfg;
	uint64_t capacity = 0;
	int err;

	if (bad) {
		pr_err("snapshot '%s': %s: %s", env->origin, id, bad);
		return -EINVAL;
	}
	memcpy(path, p + 1, p->path_len);
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
	return 0;
}

int virtio_dev_load(uint32_t device_id, const char *id, const void *state, size_t len,
		    const struct virtio_dev_env *env, struct evvm_virtio_dev **out)
{
	*out = NULL;
	if (device_id == VIRTIO_ID_BLOCK)
		return blk_load(id, state, len, env, out);
	if ((device_id == VIRTIO_ID_RNG || device_id == VIRTIO_ID_CONSOLE) && len) {
		pr_err("snapshot '%s': %s: %u bytes of state for a device that saves none",
		       env->origin, id, (unsigned int)len);
		return -EINVAL;
	}
	if (device_id == VIRTIO_ID_RNG)
		return rng_create(id, out);
	if (device_id == VIRTIO_ID_CONSOLE)
		return console_create(id, &env->console, out);
	pr_err("snapshot '%s': %s: device type %u cannot be restored", env->origin, id, device_id);
	return -EINVAL;
}
