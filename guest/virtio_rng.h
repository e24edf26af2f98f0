/* virtio-rng (entropy device, virtio 1.2 5.4): one queue, requestq. */
#ifndef GUEST_VIRTIO_RNG_H
#define GUEST_VIRTIO_RNG_H

#include "virtio.h"

/*
 * Find the first virtio-rng device, negotiate, set up its queue and set
 * DRIVER_OK. NULL after test_fail().
 */
struct virtio_dev *rng_open(void);

/*
 * Fill @buf with @len random bytes, one request at a time (the device may
 * return fewer bytes than asked). 0, or -1 after test_fail().
 */
int rng_read(struct virtio_dev *d, void *buf, u32 len);

/* Bytes that are all zero. */
bool rng_all_zero(const u8 *buf, u32 len);

#endif
