/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_BACKEND_INT_H
#define EVVM_VHOST_BACKEND_INT_H

/*
 * The vhost-user backend's own state, shared by its files: backend.c (the
 * connection and setup), backend_msg.c (message handlers, control thread),
 * backend_rings.c (rings on the device's I/O thread).
 *
 * Ownership. The control thread owns the connection, the memory mappings
 * (and the table that lists them), each ring's configuration (size,
 * addresses, base) and its kick, call and err fds. The rings are spread
 * over I/O threads, one struct vub_group each (ring q: group q % nr_groups),
 * and each group serves its rings on a device instance of its own (group
 * 0: the caller's device; the others: ops->clone() of it), so device state
 * is never shared between threads. State a group's thread reads in its own
 * callbacks (kick, notify, needs_reset) -- which of its rings run and are
 * enabled, which fds they use, its device's features, its copy of the
 * memory table -- is written only on that thread, inside the vub_io_*()
 * functions, which run there with loop_call(); that call orders those
 * writes with everything the control thread does before and after it, so
 * neither side needs a lock. Only the control thread starts loop_call()s:
 * a group never calls into another (two loops calling each other could
 * deadlock); what one group must tell the others goes through an eventfd
 * the control loop watches (fail_efd).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <evvm/device.h>
#include <evvm/log.h>

#include "backend.h"
#include "inflight.h"
#include "memtable.h"
#include "vhost_user.h"
#include "wire.h"

/* A frontend that stalls in the middle of a message, or stops reading replies, is dropped. */
#define VUB_IO_TIMEOUT_MS 2000
/* Rejection lines per second at most; a frontend can cause them. */
#define VUB_LOG_BURST 20

/* One I/O thread and the device instance that serves its rings there. */
struct vub_group {
	struct vhost_backend *b;
	unsigned int index;
	struct evvm_iothread *io;
	struct evvm_loop *loop;
	struct evvm_virtio_dev *dev; /* group 0: the caller's; others: clones, ours */

	/* Written on the group's thread only. */
	struct vub_table mem_table; /* a copy of the control thread's: the same mappings */
	struct evvm_mem mem;	    /* dev->mem: keyed by guest physical address */
	bool all_enabled; /* VHOST_USER_F_PROTOCOL_FEATURES not acked: rings are enabled */
	bool dev_started;
	bool failed; /* needs_reset: no kicks reach the device until it restarts */
};

struct vub_ring {
	struct vhost_backend *b;
	struct vub_group *g; /* the thread that serves it */
	unsigned int index;
	char name[48]; /* "blk0.q0": the virtqueue's name in messages */

	/* Control thread: the frontend's configuration. */
	uint16_t num; /* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_ua, avail_ua, used_ua; /* frontend user addresses */
	uint16_t base;			     /* next avail index at the next start */

	/* Written on the group's thread only (see the top); the fds belong to the control thread.
	 */
	bool started;
	bool enabled;	   /* SET_VRING_ENABLE */
	bool kick_watched; /* kick_fd is in the I/O loop */
	int kick_fd, call_fd, err_fd;
	struct inflight_ring ir; /* in-flight tracking, when the frontend gave a region */
};

struct vhost_backend {
	struct evvm_virtio_dev *dev;
	const struct evvm_device_ops *ops;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[64]; /* "vhost-user blk0" in messages */
	dev_t sock_dev;
	ino_t sock_ino; /* of the socket we bound (0: none at the path) */
	uid_t uid;	/* frontends of this uid or root are served */
	bool group_set; /* and of group @gid */
	bool owner_set; /* @uid is the one we drop to; the socket is its */
	gid_t gid;
	int listen_fd, conn_fd;
	int guard_efd;	/* signalled when guest memory shrank under us (sigbus.h) */
	int idle_timer; /* timerfd: the connection's deadline for its first message */
	unsigned int idle_ms;
	bool conn_spoke; /* the connection sent a message */
	int fail_efd;	 /* written by a group whose device failed (vub_needs_reset()) */
	struct evvm_loop *ctl;
	atomic_bool stopping;

	/* Control thread: the mapped memory table; each group has a copy. */
	struct vub_table mem_table;
	unsigned int nr_groups;
	struct vub_group groups[EVVM_VIRTIO_MAX_QUEUES];
	struct vub_ring rings[EVVM_VIRTIO_MAX_QUEUES];

	/* Control thread; read on the I/O thread when a ring starts (see the top). */
	struct inflight_region inflight; /* GET/SET_INFLIGHT_FD, or none */

	/* Control thread: VHOST_USER_PROTOCOL_F_STATUS (SET_STATUS/GET_STATUS). */
	uint8_t status;	   /* the device status byte (virtio 1.2, 2.1) */
	bool features_set; /* SET_FEATURES accepted since the last reset: FEATURES_OK may stick */

	/* Rejection log limiting (control thread). */
	struct evvm_ratelimit log;
};

/* A message as received, and the reply of a request that has one. */
struct vub_msg {
	struct vhost_wire_msg w;
	union vhost_user_payload reply;
	uint32_t reply_size;
	int reply_fd; /* sent with the reply and closed, or -1 */
};

/* backend.c */

/* Log why @msg was rejected (rate-limited); returns @err. */
int vub_reject(struct vhost_backend *b, const struct vub_msg *msg, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The frontend is gone: stop the device, unmap its memory, close its fds and the connection. */
void vub_disconnect(struct vhost_backend *b);

/* Close *@fd if open and set it to -1. */
void vub_close_fd(int *fd);

/* backend_sock.c */

/*
 * Listen on @b->path (vhost_backend_create()'s contract): mode 0600, or
 * 0660 and group @b->gid with @b->group_set, whatever the umask. Sets
 * @b->listen_fd, and @b->sock_dev and @b->sock_ino once bound (on failure,
 * vhost_backend_destroy() removes that file). Returns 0 or -errno after
 * logging.
 */
int vub_listen(struct vhost_backend *b);

/*
 * Whether the peer on the accepted @fd may be served: SO_PEERCRED's uid is
 * @b->uid or root, or (@b->group_set) its gid or one of its supplementary
 * groups at connect time is @b->gid. Logs (rate-limited) who was refused.
 */
bool vub_peer_allowed(struct vhost_backend *b, int fd);

/* backend_msg.c */

/*
 * Check and handle one message, and reply: requests with a reply of their
 * own get it (an empty payload on error), others a u64 with NEED_REPLY.
 * The message's fds are closed or kept. Returns 0, or -errno when the
 * reply could not be sent.
 */
int vub_dispatch(struct vhost_backend *b, struct vub_msg *msg);

/* Close every ring's fds and forget its configuration (control thread). */
void vub_rings_forget(struct vhost_backend *b);

/* backend_rings.c: dev->notify and dev->needs_reset (the group's thread). */
void vub_notify(struct evvm_virtio_dev *dev, unsigned int q);
void vub_needs_reset(struct evvm_virtio_dev *dev);

/* fail_efd was written: every group stops processing and signals its rings' err fds. */
void vub_fail_all(struct vhost_backend *b);

/* Rings in the started state, one bit each. */
uint64_t vub_rings_started(const struct vhost_backend *b);

/*
 * Control-thread entry points into the I/O threads: each runs on the
 * ring's group thread, or on each group's in turn, with loop_call() and
 * returns what it says.
 */

/* SET_VRING_KICK on a stopped ring: map it, watch @fd (taken on success), start the device. */
int vub_io_ring_start(struct vhost_backend *b, unsigned int q, int fd);
/* SET_VRING_KICK on a started ring: watch *@fd instead; *@fd is then the old one to close. */
int vub_io_ring_set_kick(struct vhost_backend *b, unsigned int q, int *fd);
/* SET_VRING_CALL (@err false) or SET_VRING_ERR: swap in *@fd; *@fd is then the old one. */
void vub_io_ring_set_signal(struct vhost_backend *b, unsigned int q, bool err, int *fd);
/* SET_VRING_ENABLE. */
void vub_io_ring_enable(struct vhost_backend *b, unsigned int q, bool enable);
/*
 * GET_VRING_BASE on a started ring whose kick fd is unwatched: stop it.
 * Returns the next avail index; *@kick_fd is the fd to close.
 */
uint16_t vub_io_ring_stop(struct vhost_backend *b, unsigned int q, int *kick_fd);
/*
 * Install @t and @mem (the table is swapped: @t holds the old one after,
 * which no group uses any more), remapping started rings, one group after
 * the other; @quiesced: they have nothing in flight (a group's device is
 * reset around the switch otherwise).
 */
void vub_io_mem_swap(struct vhost_backend *b, struct vub_table *t, const struct evvm_mem *mem,
		     bool quiesced);
/* SET_FEATURES (the protocol-features bit decides whether rings start enabled). */
void vub_io_set_features(struct vhost_backend *b, uint64_t features);
/* RESET_OWNER: disable every ring. */
void vub_io_disable_all(struct vhost_backend *b);
/*
 * Stop the device and every ring (the fds stay for the control thread).
 * With @old (the end of a connection), also forget the features and the
 * memory table, which is handed back in @old for unmapping.
 */
void vub_io_reset(struct vhost_backend *b, struct vub_table *old);
/*
 * Unwatch the kick fds of the rings in @mask and wait until they have
 * nothing in flight: the I/O thread keeps completing requests meanwhile.
 * Returns false after VHOST_BACKEND_DRAIN_MS, on a stop request, or when
 * the device failed (it pushes nothing more).
 */
bool vub_rings_drain(struct vhost_backend *b, uint64_t mask);

#endif
