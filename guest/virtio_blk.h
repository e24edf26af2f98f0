/*
 * virtio-blk (virtio 1.2 5.2): 512-byte sectors; one request queue, or with
 * blk_open_mq() up to BLK_MAX_QUEUES (VIRTIO_BLK_F_MQ).
 */
#ifndef GUEST_VIRTIO_BLK_H
#define GUEST_VIRTIO_BLK_H

#include "virtio.h"

#define BLK_SECTOR		512

/* Feature bits. */
#define VIRTIO_BLK_F_SIZE_MAX	1
#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_BLK_SIZE	6
#define VIRTIO_BLK_F_FLUSH	9
#define VIRTIO_BLK_F_MQ		12
#define VIRTIO_BLK_F_DISCARD	13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types. */
#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8
#define VIRTIO_BLK_T_DISCARD	11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte. */
#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2
#define BLK_STATUS_NONE		0xff	/* what we put there before submitting */

#define VIRTIO_BLK_ID_BYTES	20

/* Configuration space offsets. */
#define VIRTIO_BLK_CFG_CAPACITY		0
#define VIRTIO_BLK_CFG_NUM_QUEUES	34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG	40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN	44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS	48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG	52

/* Requests in flight at most (one slot each), over all queues. */
#define BLK_SLOTS		64
#define BLK_MAX_QUEUES		VIRTIO_MAX_QUEUES

/* Which device blk_open() takes. */
enum blk_want {
	BLK_ANY,
	BLK_WRITABLE,		/* does not offer VIRTIO_BLK_F_RO */
	BLK_READONLY,		/* offers VIRTIO_BLK_F_RO */
};

struct blk {
	struct virtio_dev *dev;
	struct virtq *vq;	/* vqs[0] */
	struct virtq *vqs[BLK_MAX_QUEUES];
	unsigned int nr_queues;
	u32 completed[BLK_MAX_QUEUES];	/* requests reaped, by queue */
	u64 capacity;		/* sectors */
	u32 max_discard_sectors, max_discard_seg, discard_align;
	u32 max_wz_sectors, max_wz_seg;
	unsigned int inflight;
};

/* Find, negotiate, set up and start a device. 0, or -1 after test_fail(). */
int blk_open(struct blk *b, enum blk_want want);

/*
 * The same with @queues request queues (1 to BLK_MAX_QUEUES; 0: as many as
 * the device has, at most BLK_MAX_QUEUES). More than one needs
 * VIRTIO_BLK_F_MQ and a num_queues at least as large.
 */
int blk_open_mq(struct blk *b, enum blk_want want, unsigned int queues);

/* Reset the device. 0, or -1 after test_fail(). */
int blk_close(struct blk *b);

/*
 * Queue request @type on @slot (< BLK_SLOTS) without notifying: header,
 * @len bytes at @data (none if @len is 0; device-writable for IN and GET_ID)
 * and the status byte, on queue @slot % nr_queues. 0, or -1 (no room in the
 * ring; no test_fail()).
 */
int blk_queue(struct blk *b, unsigned int slot, u32 type, u64 sector,
	      void *data, u32 len);
/* The same on queue @q (< nr_queues). */
int blk_queue_on(struct blk *b, unsigned int q, unsigned int slot, u32 type,
		 u64 sector, void *data, u32 len);

/* Notify every queue that has requests the device has not been told of. */
void blk_kick(struct blk *b);

/*
 * Wait for one completion on any queue; its slot, status and used length.
 * 1, or -1 after test_fail() (timeout, bad id).
 */
int blk_reap(struct blk *b, unsigned int *slot, u8 *status, u32 *used_len);
/* One completion already in queue @q's used ring: 1, 0 if none, -1 (test_fail()). */
int blk_reap_on(struct blk *b, unsigned int q, unsigned int *slot, u8 *status,
		u32 *used_len);

/* One request, synchronously; returns its status byte, or -1 (test_fail()). */
int blk_sync(struct blk *b, u32 type, u64 sector, void *data, u32 len);

/*
 * Read (IN) or write (OUT) sectors [@sector, @sector + @count) from/into
 * @buf in requests of BLK_REQ_SECTORS, keeping up to BLK_BATCH in flight.
 * Every status must be OK. 0, or -1 after test_fail().
 */
#define BLK_REQ_SECTORS		8
#define BLK_BATCH		16
int blk_rw(struct blk *b, u32 type, u64 sector, u64 count, void *buf);

/* The data pattern: word @i (byte offset 4 * i of the disk). */
static inline u32 blk_pattern_word(u32 i, u32 seed)
{
	u32 x = i * 0x9e3779b1u ^ seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* Fill/check @nwords words starting at disk word @first. */
void blk_pattern_fill(u32 *buf, u64 first, u32 nwords, u32 seed);
/* Index of the first mismatch, or -1. */
long blk_pattern_check(const u32 *buf, u64 first, u32 nwords, u32 seed);

/*
 * Write the pattern over [@sector, @sector + @count) / read it back and
 * compare, through a staging buffer. 0, or -1 after test_fail().
 */
int blk_write_pattern(struct blk *b, u64 sector, u64 count, u32 seed);
int blk_verify_pattern(struct blk *b, u64 sector, u64 count, u32 seed);

/* A 4 KiB-aligned buffer of BLK_STAGE_SECTORS sectors for tests. */
#define BLK_STAGE_SECTORS	(BLK_BATCH * BLK_REQ_SECTORS)
void *blk_stage(void);

/* blk.seed (default 1) and blk.sectors (default 512); -1 after test_fail(). */
int blk_args(u32 *seed, u64 *sectors);

#endif
