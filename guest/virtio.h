/*
 * virtio over MMIO (version 2, modern only) and split virtqueues, after the
 * virtio 1.2 specification (4.2 MMIO transport, 2.7 split virtqueues).
 *
 * Devices are found on the command line, as Linux finds them:
 *	virtio_mmio.device=<size>@<base>:<gsi>[:<id>]
 * <size> and <base> are numbers with an optional 0x prefix (hex, else
 * decimal) and <size> may end in K, M or G; <gsi> is decimal. Each device's
 * GSI is routed on the IOAPIC (edge, active high) to GSI_VECTOR(gsi).
 *
 * Everything is static: rings live in .bss (guest physical == virtual), at
 * most VIRTIO_MAX_DEVS devices and VIRTIO_MAX_QUEUES queues per device.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "types.h"

/* MMIO registers (4.2.2); all 32-bit, little-endian. */
#define VIRTIO_MMIO_MAGIC		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEV_FEATURES	0x010
#define VIRTIO_MMIO_DEV_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRV_FEATURES	0x020
#define VIRTIO_MMIO_DRV_FEATURES_SEL	0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INT_STATUS		0x060
#define VIRTIO_MMIO_INT_ACK		0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LO	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HI	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LO	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HI	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LO	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HI	0x0a4
#define VIRTIO_MMIO_CONFIG_GEN		0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC_VALUE		0x74726976	/* "virt" */

/* Device status bits (2.1). */
#define VIRTIO_S_ACKNOWLEDGE		0x01
#define VIRTIO_S_DRIVER			0x02
#define VIRTIO_S_DRIVER_OK		0x04
#define VIRTIO_S_FEATURES_OK		0x08
#define VIRTIO_S_NEEDS_RESET		0x40
#define VIRTIO_S_FAILED			0x80

/* InterruptStatus bits. */
#define VIRTIO_INT_USED			0x1
#define VIRTIO_INT_CONFIG		0x2

/* Transport feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC		28
#define VIRTIO_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_BIT(b)			(1ULL << (b))

/* Device IDs (5). */
#define VIRTIO_ID_NET			1
#define VIRTIO_ID_BLOCK			2
#define VIRTIO_ID_CONSOLE		3
#define VIRTIO_ID_RNG			4

/* Split virtqueue layout (2.7). */
#define VRING_DESC_F_NEXT		1
#define VRING_DESC_F_WRITE		2
#define VRING_DESC_F_INDIRECT		4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY		1

struct virtq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct virtq_avail {
	u16 flags;
	u16 idx;
	u16 ring[];	/* [num], then u16 used_event */
};

struct virtq_used_elem {
	u32 id;
	u32 len;
};

struct virtq_used {
	u16 flags;
	u16 idx;
	struct virtq_used_elem ring[];	/* [num], then u16 avail_event */
};

#define VIRTIO_MAX_DEVS			8
#define VIRTIO_MAX_QUEUES		3	/* virtio-net: rx, tx, ctrl */
#define VIRTQ_MAX_SIZE			256

/* Default time limits, in TSC cycles (at least this long at <= 1 GHz). */
#define VIRTIO_IO_TIMEOUT		((u64)5000000000)
#define VIRTIO_RESET_TIMEOUT		((u64)1000000000)

struct virtio_dev;

struct virtq {
	struct virtio_dev *dev;
	u16 index;
	u16 num;		/* 0: not set up */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	u16 free_head;
	u16 num_free;
	u16 avail_idx;		/* next free slot in avail->ring, free-running */
	u16 kicked_idx;		/* avail_idx at the last notify decision */
	u16 last_used;		/* next used->ring entry to consume */
	u32 kicks, notifies;	/* virtq_kick() calls; QueueNotify writes */
	bool inflight[VIRTQ_MAX_SIZE];	/* by head descriptor */
};

struct virtio_dev {
	/* From the command line. */
	unsigned long base;
	u64 size;
	u32 gsi;
	/* From probing (once). */
	bool probed;
	bool usable;		/* magic and version 2 OK, ID != 0 */
	u32 version;
	u32 device_id;
	/* After virtio_dev_begin(). */
	u64 offered;		/* DeviceFeatures */
	u64 features;		/* negotiated */
	bool irq_routed;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	/* Counted by the interrupt handler. */
	u32 used_irqs;
	u32 config_irqs;
	u32 irqs;
};

/* Read/write a transport register (one exit each). */
u32 virtio_read(const struct virtio_dev *d, u32 reg);
void virtio_write(const struct virtio_dev *d, u32 reg, u32 val);

/* Device-specific configuration space, at VIRTIO_MMIO_CONFIG + @off. */
u8 virtio_cfg_read8(const struct virtio_dev *d, u32 off);
u16 virtio_cfg_read16(const struct virtio_dev *d, u32 off);
u32 virtio_cfg_read32(const struct virtio_dev *d, u32 off);
/* A 64-bit field as two 32-bit reads, retried until ConfigGeneration holds. */
u64 virtio_cfg_read64(const struct virtio_dev *d, u32 off);

/*
 * The @nth (from 0) usable device with @device_id, or NULL. On NULL,
 * test_fail() has been called with "no virtio-<type> device (run evvm with
 * --<flag>)" and whatever the probe refused (a legacy device, for one).
 * With @quiet no failure is recorded.
 */
struct virtio_dev *virtio_find(u32 device_id, unsigned int nth, bool quiet);
const char *virtio_type_name(u32 device_id);

/*
 * Reset, ACKNOWLEDGE, DRIVER, offer VERSION_1 plus @want & DeviceFeatures
 * (plus EVENT_IDX and INDIRECT_DESC when offered and not turned off by
 * virtio.event_idx=0 / virtio.indirect=0), FEATURES_OK and check it stuck.
 * Returns 0, or -1 after test_fail() with the device left reset.
 */
int virtio_dev_begin(struct virtio_dev *d, u64 want);

/*
 * Set up queue @index with min(QueueNumMax, @max_num, VIRTQ_MAX_SIZE)
 * entries (@max_num must be a power of two). Returns the virtqueue, or NULL
 * after test_fail().
 */
struct virtq *virtio_queue_setup(struct virtio_dev *d, u16 index,
				 u16 max_num);

/*
 * Program queue @index with exactly @num entries (no power-of-two or
 * QueueNumMax check: the hostile tests need that), addresses and
 * QueueReady = 1. QueueSel must already select @index. NULL after
 * test_fail() if @num exceeds the driver's limits.
 */
struct virtq *virtio_queue_program(struct virtio_dev *d, u16 index, u16 num);

/*
 * Route the GSI, enable interrupts (sti) and set DRIVER_OK. Returns 0, or -1
 * after test_fail() and a reset (the device reported NEEDS_RESET or FAILED).
 */
int virtio_dev_ready(struct virtio_dev *d);

/* The same, but returns the Status read back after DRIVER_OK, unjudged. */
u32 virtio_dev_ready_raw(struct virtio_dev *d);

/*
 * Write 0 to Status and wait until it reads 0; then mask and unregister the
 * interrupt and forget the queues. Returns 0, or -1 (test_fail()) if Status
 * never read 0.
 */
int virtio_dev_reset(struct virtio_dev *d);

/* Status & VIRTIO_S_NEEDS_RESET within @cycles (polled every ~1 ms). */
bool virtio_wait_needs_reset(struct virtio_dev *d, u64 cycles);

/*
 * Parse all of @s as a number (0x-prefixed hex, else decimal); false if it
 * is not one.
 */
bool virtio_parse_u64(const char *s, u64 *out);

static inline bool virtio_has(const struct virtio_dev *d, unsigned int bit)
{
	return d->features & VIRTIO_BIT(bit);
}

/* One buffer of a descriptor chain. */
struct vbuf {
	u64 addr;
	u32 len;
	bool write;		/* device-writable */
};

/*
 * Add a chain of @n buffers. With @indirect (room for @n descriptors, 16-byte
 * aligned) and VIRTIO_F_INDIRECT_DESC negotiated, the chain goes into that
 * table and takes one ring descriptor. Does not publish. Returns the head
 * descriptor, or -1 if the ring lacks room.
 */
int virtq_add(struct virtq *vq, const struct vbuf *bufs, unsigned int n,
	      struct virtq_desc *indirect);

/* Publish added chains (avail->idx) and notify unless the device opted out. */
void virtq_kick(struct virtq *vq);

/* Make avail->idx = vq->avail_idx visible without notifying. */
void virtq_publish(struct virtq *vq);

/* Notify the device: QueueNotify = queue index (32-bit write). */
void virtq_notify(struct virtq *vq);

/*
 * Take one used element: 1 (id, len set), 0 if none, -1 after test_fail()
 * when the device returned an id that is not an in-flight head.
 */
int virtq_get_used(struct virtq *vq, u32 *id, u32 *len);

/*
 * Wait for a used element, up to @cycles. 1, 0 on timeout (no test_fail()),
 * -1 on a bad id.
 */
int virtq_wait_used(struct virtq *vq, u32 *id, u32 *len, u64 cycles);

/*
 * Wait up to @cycles for at least one used-buffer interrupt since the device
 * was set up; test_fail() and -1 if none came.
 */
int virtio_expect_irq(struct virtio_dev *d, u64 cycles);

/* Full memory barrier (a locked add: no SSE needed). */
static inline void virtio_mb(void)
{
	asm volatile("lock; addl $0, (%%rsp)" : : : "memory", "cc");
}

#endif
