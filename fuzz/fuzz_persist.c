// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the checks of a device's saved bytes in a
 * snapshot (devices/persist_check.c): the input is a format byte, a
 * device type byte and a hostile device state. What the checks accept
 * must be safe to build from: a disk's path and a net's tap name inside
 * the state and NUL-free or NUL-terminated, a pending frame inside the
 * state and no larger than a tap hands over.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>
#include <evvm/virtio.h>

#include "../devices/persist.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1));
	return 0;
}

static void accepted_blk(const char *st, size_t len, unsigned int format)
{
	const struct blk_persist_v2 *p = (const void *)st;
	size_t hdr = format == PERSIST_FORMAT_V2 ? sizeof(*p) : sizeof(struct blk_persist);

	if (len < hdr || hdr + p->path_len != len || !p->path_len ||
	    p->path_len > BLK_PERSIST_PATH_MAX || memchr(st + hdr, 0, p->path_len))
		abort();
}

static void accepted_net(const char *st, size_t len)
{
	const struct net_persist *p = (const void *)st;

	if (len < sizeof(*p) || sizeof(*p) + p->frame_len != len ||
	    p->frame_len > NET_PERSIST_FRAME_MAX || !memchr(p->tap, 0, sizeof(p->tap)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t types[] = { VIRTIO_ID_BLOCK, VIRTIO_ID_NET, VIRTIO_ID_RNG,
					  VIRTIO_ID_CONSOLE };
	unsigned int format;
	uint32_t type;
	char why[160];
	char *st;

	if (size < 2)
		return 0;
	format = data[0] & 3 ? 1 + (data[0] & 3) : data[0]; /* mostly 2 and 3 */
	type = types[data[1] % 4];
	size -= 2;
	/* A section's bytes are 8-aligned in the file; ASan sees every read past them. */
	st = malloc(size ? size : 1);
	if (!st)
		return 0;
	memcpy(st, data + 2, size);
	if (!virtio_dev_state_check(type, st, size, format, why, sizeof(why))) {
		if (type == VIRTIO_ID_BLOCK)
			accepted_blk(st, size, format);
		else if (type == VIRTIO_ID_NET)
			accepted_net(st, size);
		else if (size)
			abort();
	} else if (!memchr(why, 0, sizeof(why)) || !why[0]) {
		abort();
	}
	free(st);
	return 0;
}
