/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_FRONTEND_H
#define EVVM_VHOST_FRONTEND_H

#include <stdint.h>

#include <evvm/device.h>

/*
 * A virtio device whose queues another process serves over vhost-user: the
 * VMM hands it guest RAM (the memfd), each queue's kick eventfd (the
 * ioeventfd behind QueueNotify) and the call eventfd (the device's irqfd),
 * and then does nothing per request. Connects to @socket_path now and
 * reads the backend's features and config space. Returns 0 or -errno after
 * logging a line that names @id and the socket.
 */
int vhost_user_dev_create(const char *id, uint32_t device_id, const char *socket_path,
			  struct evvm_virtio_dev **out);

#endif
