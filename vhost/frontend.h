/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_FRONTEND_H
#define EVVM_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/device.h>
#include <evvm/devices.h>

/* How a device reaches its backend. */
struct vhost_user_opts {
	const char *socket; /* the backend's unix socket */
	/*
	 * Queues to use (virtio-blk only; 0 means 1). More than the backend
	 * has is refused at create.
	 */
	unsigned int queues;
	/*
	 * 0: a backend that goes away leaves the device in DEVICE_NEEDS_RESET.
	 * N: the device pauses instead, tries the socket every N seconds and,
	 * once a backend answers, replays the whole set-up; the guest goes on.
	 */
	unsigned int reconnect_s;
	/*
	 * Every wait on the backend gives up as soon as this fd is readable
	 * (evvm is stopping); -1: only the deadline ends a wait. Not owned; it
	 * must stay open until the device is destroyed.
	 */
	int cancel_fd;
	/*
	 * false: VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD is negotiated whenever
	 * the backend offers it. true: never (a backend started again cannot
	 * resubmit what was in flight; bench/vhost-blk measures the cost).
	 */
	bool no_inflight;
	/*
	 * NULL: every queue signals the device's call_fd. Otherwise one call
	 * eventfd per queue (queues entries), for a frontend that has a vector
	 * per queue; not owned, they must stay open until the device is destroyed.
	 */
	const int *call_fds;
};

/*
 * A virtio device whose queues another process serves over vhost-user: the
 * VMM hands it guest RAM (the memfd), each queue's kick eventfd (the
 * ioeventfd behind QueueNotify) and the call eventfd (the device's irqfd),
 * and then does nothing per request. Connects to the socket now and reads
 * the backend's features, queue count and config space; each reply is
 * awaited at most VHOST_USER_REPLY_TIMEOUT_MS. Returns 0, -ECANCELED when
 * @o->cancel_fd became readable meanwhile, or another -errno, after logging
 * a line that names @id and the socket.
 */
int vhost_user_dev_create(const char *id, uint32_t device_id, const struct vhost_user_opts *o,
			  struct evvm_virtio_dev **out);

/*
 * A device saved by the frontend's ops->save() in another process (a
 * snapshot; a virtio_dev_loader for virtio_dev_env.vhost_user_load):
 * @state is checked (frontend_state.h), the backend on the saved socket,
 * or on env->disk_path instead, is connected to and must serve the device
 * the guest saw (queues, every feature the driver accepted, the same
 * config space), else the load is refused naming the backend and what
 * it lacks. The device's first start (the transport's restore) hands the
 * backend the saved ring bases. 0, or -errno after a line naming
 * env->origin and @id.
 */
int vhost_user_dev_load(uint32_t device_id, const char *id, const void *state, size_t len,
			const struct virtio_dev_env *env, struct evvm_virtio_dev **out);

#endif
