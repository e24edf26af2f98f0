/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_DEVARGS_H
#define EVVM_CLI_DEVARGS_H

#include "../vm/vmdesc.h"

/*
 * The device flags' grammar, one parser each, shared by `evvm run` and the
 * vhost-user backends. Each fills a zeroed section (strings copied, to be
 * freed with vmdesc_*_release()), or prints one line naming the flag and
 * returns -EINVAL. @index numbers the device among its kind (default ids
 * blkN/netN, default MAC).
 */

/* "path=F[,readonly=on|off][,id=NAME]" or "vhost_user=on,socket=PATH" for --disk. */
int devarg_disk(const char *arg, unsigned int index, struct vmdesc_drive *d);

/*
 * "tap=NAME[,mac=MAC][,id=NAME][,event_idx=on|off]" or
 * "vhost_user=on,socket=PATH[,id=NAME]" for --net.
 */
int devarg_net(const char *arg, unsigned int index, struct vmdesc_net *n);

#endif
