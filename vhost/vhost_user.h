/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_USER_H
#define EVVM_VHOST_USER_H

#include <stdint.h>

/*
 * The vhost-user protocol (QEMU's docs/interop/vhost-user.rst): messages on
 * a unix socket, file descriptors in SCM_RIGHTS. Numbers are host-endian.
 * Shared by the backend server and the frontend.
 */

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
};

/* Header flags. */
#define VHOST_USER_VERSION	0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_REPLY	(1u << 2)
#define VHOST_USER_NEED_REPLY	(1u << 3)

/* Virtio feature bit reused to announce protocol features. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ	     0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD	     1
#define VHOST_USER_PROTOCOL_F_REPLY_ACK	     3
#define VHOST_USER_PROTOCOL_F_CONFIG	     9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE   13
#define VHOST_USER_PROTOCOL_F_STATUS	     16

/* SET_VRING_KICK/CALL/ERR payload: queue index, and bit 8 when no fd is sent. */
#define VHOST_USER_VRING_IDX_MASK  0xff
#define VHOST_USER_VRING_NOFD_MASK (1ULL << 8)

#define VHOST_USER_MAX_FDS	   8 /* fds one message may carry */
#define VHOST_USER_MAX_REGIONS	   8
#define VHOST_USER_MAX_CONFIG	   256

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes */
} __attribute__((packed));

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc; /* frontend user addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vhost_user_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
} __attribute__((packed));

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VHOST_USER_MAX_CONFIG];
} __attribute__((packed));

#define VHOST_USER_CONFIG_HDR_SIZE 12

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD: the in-flight tracking region ("Inflight I/O tracking"). */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding; /* QEMU's struct is not packed: 24 bytes */
} __attribute__((packed));

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_memory memory;
	struct vhost_user_config config;
	struct vhost_user_inflight inflight;
};

struct vhost_user_msg {
	struct vhost_user_hdr hdr;
	union vhost_user_payload payload;
} __attribute__((packed));

#endif
