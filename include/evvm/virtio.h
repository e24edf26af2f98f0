/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VIRTIO_H
#define EVVM_VIRTIO_H

/* Constants from the virtio 1.2 specification. */

/* Device status (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 0x01
#define VIRTIO_STATUS_DRIVER		 0x02
#define VIRTIO_STATUS_DRIVER_OK		 0x04
#define VIRTIO_STATUS_FEATURES_OK	 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED		 0x80

/* Reserved feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED	34

/* Device IDs (5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

/* Interrupt status bits (4.2.2, virtio-mmio InterruptStatus). */
#define VIRTIO_INT_VRING  0x1
#define VIRTIO_INT_CONFIG 0x2

#define VIRTIO_BIT(b) (1ULL << (b))

#endif
