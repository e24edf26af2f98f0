// SPDX-License-Identifier: MIT
/*
 * The saved vhost-user frontend's checks, apart from the frontend so that
 * a fuzzer reaches them without a backend (fuzz/fuzz_snapshot.c): every
 * byte comes from a state file that may be hostile.
 */
#include <string.h>

#include <evvm/virtio.h>

#include "frontend_state.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

uint32_t vu_config_size(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 60; /* struct virtio_blk_config up to the write-zeroes fields */
	case VIRTIO_ID_NET:
		return 12; /* mac, status, max_virtqueue_pairs, mtu */
	default:
		return 0;
	}
}

static const char *fields_fault(const struct vu_persist *p)
{
	if (!vu_config_size(p->device_id))
		return "device type is not one a vhost-user frontend serves (blk, net)";
	if (p->config_size != vu_config_size(p->device_id))
		return "config size is not the device type's";
	if (!all_zero(p->config + p->config_size, sizeof(p->config) - p->config_size))
		return "config bytes past the config size are set";
	if (p->queues < 1 || p->queues > EVVM_VIRTIO_MAX_QUEUES)
		return "queue count is not 1 to 16";
	if (p->reconnect_s > VU_PERSIST_RECONNECT_MAX)
		return "reconnect interval is over 3600 s";
	if (p->running > 1 || p->no_inflight > 1 || !all_zero(p->reserved, sizeof(p->reserved)) ||
	    p->reserved2)
		return "flags are not 0 or 1, or reserved bytes are set";
	/* The transport offers VERSION_1 whatever the backend does. */
	if (p->features & ~(p->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return "driver features include some that were not offered";
	if (p->running && !(p->features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return "device was started without VERSION_1";
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (p->ring_base[q] && (!p->running || q >= p->queues))
			return "ring base set for a queue the device does not have, or before "
			       "start";
	return NULL;
}

const char *vu_persist_parse(const void *state, size_t len, struct vu_persist *out, char *path)
{
	const char *fault;

	if (len < sizeof(*out))
		return "vhost-user state is shorter than its header";
	memcpy(out, state, sizeof(*out));
	if (out->path_len != len - sizeof(*out))
		return "socket path length is not what the section holds";
	if (out->path_len == 0 || out->path_len > VU_PERSIST_PATH_MAX)
		return "socket path is empty or too long for a unix socket";
	memcpy(path, (const char *)state + sizeof(*out), out->path_len);
	path[out->path_len] = 0;
	if (strlen(path) != out->path_len)
		return "socket path has a NUL byte";
	fault = fields_fault(out);
	return fault;
}
