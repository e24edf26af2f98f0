/* virtio-blk (virtio 1.2 5.2): one request queue, 512-byte sectors. */
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
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG	40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN	44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS	48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG	52

/* Requests in flight at most (one slot each). */
#define BLK_SLOTS		64

/* Which device blk_open() takes. */
enum blk_want {
	BLK_ANY,
	BLK_WRITABLE,		/* does not offer VIRTIO_BLK_F_RO */
	BLK_READONLY,		/* offers VIRTIO_BLK_F_RO */
};

struct blk {
	struct virtio_dev *dev;
	struct virtq *vq;
	u64 capacity;		/* sectors */
	u32 max_discard_sectors, max_discard_seg, discard_align;
	u32 max_wz_sectors, max_wz_seg;
	unsigned int inflight;
};

/* Find, negotiate, set up and start a device. 0, or -1 after test_fail(). */
int blk_open(struct blk *b, enum blk_want want);

/* Reset the device. 0, or -1 after test_fail(). */
int blk_close(struct blk *b);

/*
 * Queue request @type on @slot (< BLK_SLOTS) without notifying: header,
 * @len bytes at @data (none if @len is 0; device-writable for IN and GET_ID)
 * and the status byte. 0, or -1 (no room in the ring; no test_fail()).
 */
int blk_queue(struct blk *b, unsigned int slot, u32 type, u64 sector,
	      void *data, u32 len);

/*
 * Wait for one completion; its slot, status and used length. 1, or -1 after
 * test_fail() (timeout, bad id).
 */
int blk_reap(struct blk *b, unsigned int *slot, u8 *status, u32 *used_len);

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
