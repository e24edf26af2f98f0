// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for a saved vhost-user frontend (vhost/frontend_state.c):
 * the input is the device's bytes of a hostile snapshot, as
 * vhost_user_dev_load() gets them before it reaches for any backend.
 * Whatever vu_persist_parse() accepts must be a device the frontend can
 * build: a socket path that is a string of the saved length, a device
 * type it serves with that type's config size, 1 to 16 queues, ring bases
 * only on those queues.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "../vhost/frontend_state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[VU_PERSIST_PATH_MAX + 1];
	struct vu_persist p;

	if (vu_persist_parse(data, size, &p, path))
		return 0;
	if (strlen(path) != p.path_len || sizeof(p) + p.path_len != size)
		abort();
	if (!vu_config_size(p.device_id) || p.config_size != vu_config_size(p.device_id) ||
	    p.config_size > sizeof(p.config))
		abort();
	if (p.queues < 1 || p.queues > EVVM_VIRTIO_MAX_QUEUES)
		abort();
	for (unsigned int q = p.queues; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (p.ring_base[q])
			abort();
	return 0;
}
