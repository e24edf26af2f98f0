/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_BACKEND_H
#define EVVM_VHOST_BACKEND_H

#include <stdbool.h>
#include <sys/types.h>

#include <evvm/device.h>

/*
 * The backend side of vhost-user (QEMU's docs/interop/vhost-user.rst): one
 * virtio device (rng_create(), blk_create(), ...) served to one frontend at
 * a time on a unix socket. The device code is unchanged: this file is its
 * transport, as virtio-mmio is in the VMM.
 *
 * Threads: the caller's thread runs the control loop (vhost_backend_run()),
 * which accepts frontends and handles their messages; the rings run on
 * nr_iothreads I/O threads (ring q on thread q % nr_iothreads), where every
 * device op except config_read/write is called (through loop_call()), kick
 * fds are watched and call fds written. Each thread has a device instance
 * of its own: the caller's for thread 0, ops->clone() of it for the others,
 * so device code runs on one thread per instance as device.h requires.
 * Starting and stopping the device (below) is per thread: its instance
 * starts with its first ring and stops with its last.
 *
 * Ring states map onto the device's ops as follows. A ring starts when its
 * kick fd arrives (SET_VRING_KICK) and stops at GET_VRING_BASE. The device
 * is started (ops->start()) when its first ring starts, after that ring is
 * vq_init()ed, and stopped (ops->stop()) when its last ring stops; a ring
 * that starts or stops while others run is vq_init()ed or vq_reset() with
 * the device running. Before a ring stops, and before the memory table is
 * replaced under running rings, the backend stops watching the kick fds and
 * waits (up to VHOST_BACKEND_DRAIN_MS) until the device has pushed back
 * every chain it popped, so that GET_VRING_BASE's index covers only
 * completed requests. What is still in flight after that is cancelled by
 * ops->stop() (the device is restarted if other rings still run). A
 * started ring is processed only while enabled: ops->kick() is not called
 * for a disabled ring, and is called once when it is enabled. Without
 * VHOST_USER_F_PROTOCOL_FEATURES in SET_FEATURES, rings are enabled.
 * With VHOST_USER_PROTOCOL_F_STATUS, SET_STATUS 0 stops every ring as
 * GET_VRING_BASE does (their configuration and saved indices stay: QEMU
 * 7.2 sends it before GET_VRING_BASE) and clears the status byte.
 */

/*
 * A frontend that connects and sends nothing for this long is dropped, so
 * that it cannot hold off the frontends queued behind it.
 */
#define VHOST_BACKEND_IDLE_MS 5000

/* Longest wait for requests in flight when a ring stops or memory changes. */
#define VHOST_BACKEND_DRAIN_MS 10000

struct vhost_backend;

struct vhost_backend_config {
	const char *socket_path;     /* where to listen */
	struct evvm_virtio_dev *dev; /* not owned; see vhost_backend_create() */
	unsigned int poll_max_us;    /* I/O thread busy-polling, as iothread_create() */
	unsigned int idle_ms;	     /* a new connection's deadline for its first message
					(0: VHOST_BACKEND_IDLE_MS) */
	unsigned int nr_iothreads;   /* I/O threads (0: 1); ring q is served by thread
					q % nr_iothreads */
	bool socket_group_set;	     /* the socket is 0660 and of group socket_gid */
	gid_t socket_gid;
	bool socket_owner_set; /* the socket is socket_uid's, and so are the frontends */
	uid_t socket_uid;      /* served (instead of ours): the uid we drop to */
};

/*
 * Listen on @cfg->socket_path (a stale socket file, one nobody listens on,
 * is replaced; anything else there is an error), mode 0600 whatever the
 * umask, or 0660 and group @cfg->socket_gid with @cfg->socket_group_set
 * (which our uid must be allowed to chown to), and of owner
 * @cfg->socket_uid with @cfg->socket_owner_set (root only). A frontend is served only
 * if its uid (SO_PEERCRED) is ours (or socket_uid) or root's, or, with a group, that group
 * is its gid or one of its supplementary groups; others are dropped with a
 * log line naming their uid and pid. Then start the I/O threads:
 * @cfg->nr_iothreads, 1 to the device's queue count, more than 1 only for
 * a device with ops->clone (-EINVAL otherwise). The backend uses @cfg->dev
 * until vhost_backend_destroy(): it sets dev->loop, dev->mem, dev->notify,
 * dev->needs_reset and dev->transport; the caller destroys the device after
 * the backend. Returns 0 and sets *@out, or -errno after logging one line
 * naming the socket and the cause.
 */
int vhost_backend_create(const struct vhost_backend_config *cfg, struct vhost_backend **out);

/*
 * Serve frontends, one at a time, until vhost_backend_stop(). A frontend
 * that disconnects, or sends a message that cannot be parsed, is dropped:
 * the device is stopped, its memory unmapped and its fds closed, and the
 * next frontend is accepted. Returns 0 (after stopping the device), or
 * -errno if the control loop failed.
 */
int vhost_backend_run(struct vhost_backend *b);

/*
 * Make vhost_backend_run() return (soon: a wait for requests in flight
 * ends early). Thread-safe, not async-signal-safe.
 */
void vhost_backend_stop(struct vhost_backend *b);

/*
 * Stop the device if a frontend is still connected, stop the I/O threads
 * (and destroy the device's clones), remove the socket file (if it is
 * still the one we bound) and free the backend. The device is stopped and can be
 * virtio_dev_destroy()ed. NULL is ignored. Not while vhost_backend_run() runs.
 */
void vhost_backend_destroy(struct vhost_backend *b);

#endif
