/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TAP_H
#define EVVM_TAP_H

/*
 * A tap device for virtio-net (devices/tap.c): /dev/net/tun attached to the
 * named interface with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, non-blocking,
 * with a 12-byte virtio_net_hdr_v1 in front of every frame.
 */

/*
 * Open tap @name (an existing one, or a new one if we have CAP_NET_ADMIN).
 * Returns the fd, or -errno after logging one line naming @id, the tap and
 * the cause: -ENOENT (no such interface and we may not create it), -EPERM
 * (it belongs to someone else), -EBUSY (another process has it open),
 * -EINVAL (the name is taken by an interface that is not a tap).
 */
int tap_open(const char *id, const char *name);

/* TUN_F_* offloads the tap may hand us (what the guest accepts). Returns 0 or -errno. */
int tap_set_offload(int fd, unsigned int tun_flags);

#endif
