// SPDX-License-Identifier: MIT
/*
 * A saved vhost-user frontend in a snapshot (vhost/frontend_state.c,
 * reached through virtio_dev_load() as vmm/snapshot_dev.c calls it), no
 * KVM and no backend: each hostile field is refused with a line naming
 * the file and the device before any backend is reached, a good state
 * reaches for its backend (missing here), and a caller without a
 * vhost-user loader refuses it. test_frontend.c saves and loads one
 * against a backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <evvm/devices.h>
#include <evvm/virtio.h>

#include "../../vhost/frontend.h"
#include "../../vhost/frontend_state.h"
#include "capture.h"

#define FILE "f.state"
/* A started vhost-user disk's state (socket @path) in @buf; its length. */
static size_t vu_state(char *buf, const char *path)
{
	struct vu_persist p = {
		.device_id = VIRTIO_ID_BLOCK,
		.queues = 2,
		.reconnect_s = 1,
		.config_size = 60,
		.host_features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_MQ),
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_MQ),
		.ring_base = { 5, 9 },
		.running = 1,
		.config = { 0x10 },
		.path_len = (uint32_t)strlen(path),
	};

	memcpy(buf, &p, sizeof(p));
	memcpy(buf + sizeof(p), path, p.path_len);
	return sizeof(p) + p.path_len;
}

/* virtio_dev_load() of a vhost-user device's @len bytes: its result, the log in @log. */
static int vu_load(const char *buf, size_t len, bool loader, char *log, size_t log_size)
{
	const struct virtio_dev_env env = {
		.origin = FILE,
		.vhost_user = true,
		.vhost_user_load = loader ? vhost_user_dev_load : NULL,
		.cancel_fd = -1,
	};
	struct evvm_virtio_dev *dev = NULL;
	int err;

	capture_begin();
	err = virtio_dev_load(VIRTIO_ID_BLOCK, "blk0", buf, len, &env, &dev);
	capture_end(log, log_size, false);
	assert_null(dev);
	return err;
}

/* One field of a good state changed by @mutate, refused with @needle. */
#define VU_CASE(mutate, needle)                                                                  \
	do {                                                                                     \
		len = vu_state(buf, "/nonexistent/blk.sock");                                    \
		mutate;                                                                          \
		assert_int_equal(vu_load(buf, len, true, log, sizeof(log)), -EINVAL);            \
		if (!strstr(log, "snapshot '" FILE "': blk0: ") || !strstr(log, needle))         \
			fail_msg("want '%s' naming the file and device, got:\n%s", needle, log); \
	} while (0)

static void test_vhost_user_state(void **state)
{
	char buf[1024], log[4096];
	struct vu_persist *p = (struct vu_persist *)buf;
	size_t len = vu_state(buf, "/nonexistent/blk.sock");

	(void)state;
	/* Good: it goes for the backend, which is not there. */
	assert_int_equal(vu_load(buf, len, true, log, sizeof(log)), -ENOENT);
	assert_non_null(strstr(log, "snapshot '" FILE "': blk0: vhost-user backend "
				    "'/nonexistent/blk.sock' cannot take the device back"));
	/* A caller that cannot reach backends. */
	assert_int_equal(vu_load(buf, len, false, log, sizeof(log)), -ENOTSUP);
	assert_non_null(strstr(log, "a vhost-user device, which this caller cannot restore"));

	VU_CASE(len = sizeof(*p) - 1, "shorter than its header");
	VU_CASE(len -= 1, "socket path length is not what the section holds");
	VU_CASE(len = vu_state(buf, ""), "socket path is empty or too long");
	VU_CASE(len = vu_state(buf,
			       "/x/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		"socket path is empty or too long");
	VU_CASE(buf[sizeof(*p) + 3] = 0, "socket path has a NUL byte");
	VU_CASE(p->device_id = VIRTIO_ID_RNG, "not one a vhost-user frontend serves");
	VU_CASE(p->config_size = 12, "config size is not the device type's");
	VU_CASE(p->config[60] = 1, "config bytes past the config size are set");
	VU_CASE(p->queues = 0, "queue count is not 1 to 16");
	VU_CASE(p->queues = EVVM_VIRTIO_MAX_QUEUES + 1, "queue count is not 1 to 16");
	VU_CASE(p->reconnect_s = 3601, "reconnect interval is over 3600 s");
	VU_CASE(p->running = 2, "flags are not 0 or 1");
	VU_CASE(p->reserved[5] = 1, "reserved bytes are set");
	VU_CASE(p->reserved2 = 1, "reserved bytes are set");
	VU_CASE(p->features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH),
		"include some that were not offered");
	VU_CASE(p->features = VIRTIO_BIT(VIRTIO_BLK_F_MQ), "started without VERSION_1");
	VU_CASE(p->ring_base[2] = 1, "ring base set for a queue the device does not have");
	VU_CASE(p->running = 0, "ring base set for a queue the device does not have, or before");
	/* The section's type and the state's must agree. */
	len = vu_state(buf, "/nonexistent/blk.sock");
	p->device_id = VIRTIO_ID_NET;
	p->config_size = 12;
	memset(p->config, 0, sizeof(p->config));
	assert_int_equal(vu_load(buf, len, true, log, sizeof(log)), -EINVAL);
	assert_non_null(strstr(log, "device type is not the one its section names"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vhost_user_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
