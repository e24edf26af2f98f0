/*
 * virtio devices (virtio 1.2, modern only) with split virtqueues (2.7), over
 * either transport: virtio-mmio (4.2; virtio_mmio.c) or modern virtio-pci
 * (4.1; virtio_pci.c). The core here negotiates, sets queues up, kicks and
 * counts interrupts through the device's transport ops, so the device
 * drivers (blk, net, rng, console) and their tests run over both.
 *
 * virtio-mmio devices are found on the command line, as Linux finds them:
 *	virtio_mmio.device=<size>@<base>:<gsi>[:<id>]
 * <size> and <base> are numbers with an optional 0x prefix (hex, else
 * decimal) and <size> may end in K, M or G; <gsi> is decimal. Each device's
 * GSI is routed on the IOAPIC (edge, active high) to GSI_VECTOR(gsi).
 *
 * virtio-pci functions are found on bus 0 through ECAM (pci.ecam=, default
 * evvm's 0xe0000000), only when the command line names no device of the
 * wanted type; each gets MSI-X vectors (config, one per queue) aimed at this
 * CPU's local APIC.
 *
 * Everything is static: rings live in .bss (guest physical == virtual), at
 * most VIRTIO_MAX_DEVS devices and VIRTIO_MAX_QUEUES queues per device.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "types.h"

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
#define VIRTIO_MAX_QUEUES		4	/* virtio-net: rx, tx, ctrl; blk: 4 */
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
	unsigned long notify_addr;	/* virtio-pci: this queue's doorbell */
	u16 free_head;
	u16 num_free;
	u16 avail_idx;		/* next free slot in avail->ring, free-running */
	u16 kicked_idx;		/* avail_idx at the last notify decision */
	u16 last_used;		/* next used->ring entry to consume */
	u32 kicks, notifies;	/* virtq_kick() calls; doorbell writes */
	bool inflight[VIRTQ_MAX_SIZE];	/* by head descriptor */
};

/*
 * A transport: what the core needs of a device's registers (virtio 1.2, 4).
 * Each op is one or a few exits; none runs per request but notify.
 */
struct virtio_transport {
	const char *name;			/* "virtio-mmio", "virtio-pci" */
	/* Once, on first use, unless discovery did it: sets usable, legacy. */
	void (*probe)(struct virtio_dev *d);
	u32 (*get_status)(const struct virtio_dev *d);
	void (*set_status)(const struct virtio_dev *d, u32 status);
	u64 (*device_features)(const struct virtio_dev *d);
	void (*driver_features)(const struct virtio_dev *d, u64 features);
	/* Select queue @index; its largest size (0: absent) or whether it is on. */
	u32 (*queue_max)(const struct virtio_dev *d, u16 index);
	bool (*queue_ready)(const struct virtio_dev *d, u16 index);
	/* Size, ring addresses, vector, enable; the queue is selected. 0 or -1. */
	int (*queue_program)(struct virtio_dev *d, struct virtq *vq);
	void (*notify)(struct virtq *vq);
	u32 (*cfg_read)(const struct virtio_dev *d, u32 off, unsigned int size);
	u32 (*config_generation)(const struct virtio_dev *d);
	/* Why the device's interrupts cannot be set up (test_fail()), or 0; may be NULL. */
	int (*irq_check)(const struct virtio_dev *d);
	/* Route and unmask; false if the device gets no interrupt. */
	bool (*irq_on)(struct virtio_dev *d);
	/* Before the reset (may be NULL), and after it. */
	void (*irq_mask)(struct virtio_dev *d);
	void (*irq_off)(struct virtio_dev *d);
};

/* Where a virtio-pci function's structures are (virtio 1.2, 4.1.4). */
struct virtio_pci_caps {
	unsigned long common, notify, isr, device;
	u32 notify_len, device_len;
	u32 notify_mult;
	unsigned long msix_table, msix_pba;
	unsigned int msix_cap, msix_size;
};

struct virtio_dev {
	const struct virtio_transport *t;
	char where[16];		/* "0xd1000000" or "pci 00:03.0", for messages */
	/* virtio-mmio: from the command line and the probe. */
	struct {
		unsigned long base;
		u64 size;
		u32 gsi;
		u32 version;
	} mmio;
	/* virtio-pci: from the ECAM walk. */
	struct {
		unsigned int slot;
		struct virtio_pci_caps caps;
		u8 vector;	/* MSI-X entry i is LAPIC vector + i */
	} pci;
	/* From probing (once). */
	bool probed;
	bool usable;		/* a modern device with an ID the driver knows */
	bool legacy;		/* refused: legacy virtio (mmio Version 1) */
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

extern const struct virtio_transport virtio_mmio_transport;
extern const struct virtio_transport virtio_pci_transport;

/* A new, zeroed device slot for a transport's discovery; NULL when full. */
struct virtio_dev *virtio_dev_new(const struct virtio_transport *t);

/* Discovery: add the command line's mmio devices; add bus 0's pci ones. */
void virtio_mmio_discover(void);
void virtio_pci_discover(void);

/* Status (one exit). */
u32 virtio_status(const struct virtio_dev *d);

/* Device-specific configuration space, at @off. */
u8 virtio_cfg_read8(const struct virtio_dev *d, u32 off);
u16 virtio_cfg_read16(const struct virtio_dev *d, u32 off);
u32 virtio_cfg_read32(const struct virtio_dev *d, u32 off);
/* A 64-bit field as two 32-bit reads, retried until ConfigGeneration holds. */
u64 virtio_cfg_read64(const struct virtio_dev *d, u32 off);

/*
 * The @nth (from 0) usable device with @device_id, or NULL: mmio devices
 * first, then (looked for only now) pci ones. On NULL, test_fail() has been
 * called with "no virtio-<type> device (run evvm with --<flag>)" or what
 * the probe refused (a legacy device, for one). With @quiet no failure is
 * recorded.
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

/* Select queue @index: its largest size, or whether it is enabled. */
u32 virtio_queue_max(struct virtio_dev *d, u16 index);
bool virtio_queue_ready(struct virtio_dev *d, u16 index);

/*
 * Program queue @index with exactly @num entries (no power-of-two or
 * maximum check: the hostile tests need that), addresses, its vector (pci)
 * and enable it. The queue must be selected already (virtio_queue_max()).
 * NULL after test_fail() if @num exceeds the driver's limits.
 */
struct virtq *virtio_queue_program(struct virtio_dev *d, u16 index, u16 num);

/*
 * Set the interrupts up (GSI or MSI-X), enable them (sti) and set
 * DRIVER_OK. Returns 0, or -1 after test_fail() and a reset (the device
 * reported NEEDS_RESET or FAILED).
 */
int virtio_dev_ready(struct virtio_dev *d);

/* The same, but returns the Status read back after DRIVER_OK, unjudged. */
u32 virtio_dev_ready_raw(struct virtio_dev *d);

/*
 * Write 0 to Status and wait until it reads 0; mask and unregister the
 * interrupts (around the reset as the transport needs) and forget the
 * queues. Returns 0, or -1 (test_fail()) if Status never read 0.
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

/* Notify the device: the queue index to its doorbell (mmio QueueNotify, pci notify address). */
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
