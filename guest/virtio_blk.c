/*
 * virtio-blk driver: a request is a chain of header (device-readable), data
 * and status byte (device-writable); with VIRTIO_F_INDIRECT_DESC the chain
 * sits in the slot's own indirect table and takes one ring descriptor.
 * Slots are shared by all queues (a slot is on one queue at a time); the
 * head descriptor that names a slot is per queue.
 */
#include "virtio_blk.h"
#include "cmdline.h"
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"

struct blk_slot {
	/* struct virtio_blk_req's header: type, reserved, sector. */
	u32 type;
	u32 reserved;
	u64 sector;
	struct virtq_desc indirect[3];	/* 16-byte aligned: offset 16 */
	u32 data_len;
	bool busy;
	u8 status;
	u8 q;			/* the queue it was queued on */
} __aligned(64);

static struct blk_slot slots[BLK_SLOTS];
static u16 head_slot[BLK_MAX_QUEUES][VIRTQ_MAX_SIZE];

/* Staging buffer for blk_rw() users: BLK_BATCH requests' worth. */
#define STAGE_SECTORS		BLK_STAGE_SECTORS
static u8 stage[STAGE_SECTORS * BLK_SECTOR] __aligned(4096);

static const char *want_name(enum blk_want want)
{
	return want == BLK_WRITABLE ? "writable" : "read-only";
}

/* How many queues to set up on @d (negotiated): 1..BLK_MAX_QUEUES, or -1 after test_fail(). */
static int mq_count(struct virtio_dev *d, unsigned int want)
{
	unsigned int have = 1;

	if (virtio_has(d, VIRTIO_BLK_F_MQ))
		have = virtio_cfg_read16(d, VIRTIO_BLK_CFG_NUM_QUEUES);
	if (!have)
		return test_fail("virtio-blk at %s: VIRTIO_BLK_F_MQ with num_queues 0", d->where);
	if (!want)
		return have < BLK_MAX_QUEUES ? have : BLK_MAX_QUEUES;
	if (want > have)
		return test_fail("virtio-blk at %s: %u queues wanted, the device has %u%s",
				 d->where, want, have,
				 virtio_has(d, VIRTIO_BLK_F_MQ) ? "" :
				 " (no VIRTIO_BLK_F_MQ; give evvm --disk ...,queues=N)");
	return want;
}

/* The device's queues and configuration, then DRIVER_OK. */
static int setup(struct blk *b, struct virtio_dev *d, unsigned int queues)
{
	int n = mq_count(d, queues);
	unsigned int q;

	if (n < 0) {
		virtio_dev_reset(d);
		return -1;
	}
	b->dev = d;
	for (q = 0; q < (unsigned int)n; q++) {
		b->vqs[q] = virtio_queue_setup(d, q, VIRTQ_MAX_SIZE);
		if (!b->vqs[q]) {
			virtio_dev_reset(d);
			return -1;
		}
	}
	b->vq = b->vqs[0];
	b->nr_queues = n;
	b->capacity = virtio_cfg_read64(d, VIRTIO_BLK_CFG_CAPACITY);
	if (virtio_has(d, VIRTIO_BLK_F_DISCARD)) {
		b->max_discard_sectors =
			virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
		b->max_discard_seg =
			virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SEG);
		b->discard_align =
			virtio_cfg_read32(d, VIRTIO_BLK_CFG_DISCARD_ALIGN);
	}
	if (virtio_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
		b->max_wz_sectors =
			virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_WZ_SECTORS);
		b->max_wz_seg = virtio_cfg_read32(d, VIRTIO_BLK_CFG_MAX_WZ_SEG);
	}
	return virtio_dev_ready(d);
}

int blk_open_mq(struct blk *b, enum blk_want want, unsigned int queues)
{
	u64 feat = VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
		   VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
		   VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	struct virtio_dev *d;
	unsigned int nth;
	bool ro;

	memset(b, 0, sizeof(*b));
	memset(slots, 0, sizeof(slots));
	if (queues > BLK_MAX_QUEUES)
		return test_fail("virtio-blk: %u queues wanted, the driver takes at most %u",
				 queues, BLK_MAX_QUEUES);
	/* One queue: leave VIRTIO_BLK_F_MQ off, as a single-queue driver does. */
	if (queues != 1)
		feat |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	for (nth = 0;; nth++) {
		d = virtio_find(VIRTIO_ID_BLOCK, nth, nth > 0);
		if (!d && !nth)
			return -1;
		if (!d)
			return test_fail("no %s virtio-blk device among %u (%s)",
					 want_name(want), nth,
					 want == BLK_WRITABLE ?
					 "all offer VIRTIO_BLK_F_RO" :
					 "none offers VIRTIO_BLK_F_RO; give evvm a read-only --disk");
		if (virtio_dev_begin(d, feat))
			return -1;
		ro = d->offered & VIRTIO_BIT(VIRTIO_BLK_F_RO);
		if ((want == BLK_WRITABLE && ro) || (want == BLK_READONLY && !ro)) {
			if (virtio_dev_reset(d))
				return -1;
			continue;
		}
		break;
	}
	return setup(b, d, queues);
}

int blk_open(struct blk *b, enum blk_want want)
{
	return blk_open_mq(b, want, 1);
}

int blk_close(struct blk *b)
{
	if (!b->dev)
		return 0;
	return virtio_dev_reset(b->dev);
}

int blk_queue_on(struct blk *b, unsigned int q, unsigned int slot, u32 type,
		 u64 sector, void *data, u32 len)
{
	struct blk_slot *s = &slots[slot];
	struct vbuf bufs[3];
	unsigned int n = 0;
	int head;

	s->type = type;
	s->reserved = 0;
	s->sector = sector;
	s->status = BLK_STATUS_NONE;
	s->data_len = len;
	bufs[n].addr = (u64)(unsigned long)s;
	bufs[n].len = 16;
	bufs[n++].write = false;
	if (len) {
		bufs[n].addr = (u64)(unsigned long)data;
		bufs[n].len = len;
		bufs[n++].write = type == VIRTIO_BLK_T_IN ||
				  type == VIRTIO_BLK_T_GET_ID;
	}
	bufs[n].addr = (u64)(unsigned long)&s->status;
	bufs[n].len = 1;
	bufs[n++].write = true;
	head = virtq_add(b->vqs[q], bufs, n, s->indirect);
	if (head < 0)
		return -1;
	head_slot[q][head] = slot;
	s->q = q;
	s->busy = true;
	b->inflight++;
	return 0;
}

int blk_queue(struct blk *b, unsigned int slot, u32 type, u64 sector,
	      void *data, u32 len)
{
	return blk_queue_on(b, slot % b->nr_queues, slot, type, sector, data,
			    len);
}

void blk_kick(struct blk *b)
{
	unsigned int q;

	for (q = 0; q < b->nr_queues; q++)
		if (b->vqs[q]->avail_idx != b->vqs[q]->kicked_idx)
			virtq_kick(b->vqs[q]);
}

int blk_reap_on(struct blk *b, unsigned int q, unsigned int *slot, u8 *status,
		u32 *used_len)
{
	u32 id, len;
	int rc;

	rc = virtq_get_used(b->vqs[q], &id, &len);
	if (rc <= 0)
		return rc;
	*slot = head_slot[q][id];
	if (!slots[*slot].busy || slots[*slot].q != q)
		return test_fail("virtio-blk: queue %u completed head %u, whose slot %u is not in flight there",
				 q, id, *slot);
	slots[*slot].busy = false;
	*status = READ_ONCE(slots[*slot].status);
	*used_len = len;
	b->inflight--;
	b->completed[q]++;
	return 1;
}

int blk_reap(struct blk *b, unsigned int *slot, u8 *status, u32 *used_len)
{
	u64 deadline = tsc_deadline(VIRTIO_IO_TIMEOUT);
	unsigned int q;
	int rc;

	for (;;) {
		for (q = 0; q < b->nr_queues; q++) {
			rc = blk_reap_on(b, q, slot, status, used_len);
			if (rc)
				return rc;
		}
		if (tsc_passed(deadline))
			return test_fail("virtio-blk: %u requests not completed within %lu cycles (Status 0x%x)",
					 b->inflight, VIRTIO_IO_TIMEOUT,
					 virtio_status(b->dev));
		cpu_relax();
	}
}

/* A completed IN must report data + status as written (2.7.8: used len). */
static int check_len(unsigned int slot, u8 status, u32 used_len)
{
	const struct blk_slot *s = &slots[slot];

	if (s->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK &&
	    used_len != s->data_len + 1)
		return test_fail("virtio-blk: read of sector %lu: used len %u, want %u",
				 s->sector, used_len, s->data_len + 1);
	return 0;
}

int blk_sync(struct blk *b, u32 type, u64 sector, void *data, u32 len)
{
	unsigned int slot;
	u32 used_len;
	u8 status;

	if (blk_queue(b, 0, type, sector, data, len))
		return test_fail("virtio-blk: no room in the ring");
	blk_kick(b);
	if (blk_reap(b, &slot, &status, &used_len) < 0)
		return -1;
	if (check_len(slot, status, used_len))
		return -1;
	return status;
}

int blk_rw(struct blk *b, u32 type, u64 sector, u64 count, void *buf)
{
	u64 sub = 0;
	unsigned int slot, n;
	u32 used_len;
	u8 status;
	bool added;

	while (sub < count || b->inflight) {
		added = false;
		for (slot = 0; sub < count && slot < BLK_BATCH; slot++) {
			if (slots[slot].busy)
				continue;
			n = count - sub < BLK_REQ_SECTORS ?
			    count - sub : BLK_REQ_SECTORS;
			if (blk_queue(b, slot, type, sector + sub,
				      (u8 *)buf + sub * BLK_SECTOR,
				      n * BLK_SECTOR))
				break;	/* ring full: reap first */
			sub += n;
			added = true;
		}
		if (added)
			blk_kick(b);
		if (!b->inflight)
			return test_fail("virtio-blk: a request does not fit an empty ring");
		if (blk_reap(b, &slot, &status, &used_len) < 0)
			return -1;
		if (status != VIRTIO_BLK_S_OK)
			return test_fail("virtio-blk: %s of %u sectors at %lu: status %u",
					 type == VIRTIO_BLK_T_IN ? "read" : "write",
					 slots[slot].data_len / BLK_SECTOR,
					 slots[slot].sector, status);
		if (check_len(slot, status, used_len))
			return -1;
	}
	return 0;
}

void blk_pattern_fill(u32 *buf, u64 first, u32 nwords, u32 seed)
{
	u32 i;

	for (i = 0; i < nwords; i++)
		buf[i] = blk_pattern_word((u32)(first + i), seed);
}

long blk_pattern_check(const u32 *buf, u64 first, u32 nwords, u32 seed)
{
	u32 i;

	for (i = 0; i < nwords; i++)
		if (buf[i] != blk_pattern_word((u32)(first + i), seed))
			return i;
	return -1;
}

#define WORDS_PER_SECTOR	(BLK_SECTOR / 4)

int blk_write_pattern(struct blk *b, u64 sector, u64 count, u32 seed)
{
	u64 n;

	while (count) {
		n = count < STAGE_SECTORS ? count : STAGE_SECTORS;
		blk_pattern_fill((u32 *)stage, sector * WORDS_PER_SECTOR,
				 n * WORDS_PER_SECTOR, seed);
		if (blk_rw(b, VIRTIO_BLK_T_OUT, sector, n, stage))
			return -1;
		sector += n;
		count -= n;
	}
	return 0;
}

int blk_verify_pattern(struct blk *b, u64 sector, u64 count, u32 seed)
{
	const u32 *w = (const u32 *)stage;
	u64 n, first;
	long bad;

	while (count) {
		n = count < STAGE_SECTORS ? count : STAGE_SECTORS;
		memset(stage, 0, n * BLK_SECTOR);
		if (blk_rw(b, VIRTIO_BLK_T_IN, sector, n, stage))
			return -1;
		first = sector * WORDS_PER_SECTOR;
		bad = blk_pattern_check(w, first, n * WORDS_PER_SECTOR, seed);
		if (bad >= 0)
			return test_fail("virtio-blk: sector %lu word %lu: 0x%08x, want 0x%08x (seed %u)",
					 sector + bad / WORDS_PER_SECTOR,
					 bad % WORDS_PER_SECTOR, w[bad],
					 blk_pattern_word((u32)(first + bad), seed),
					 seed);
		sector += n;
		count -= n;
	}
	return 0;
}

int blk_args(u32 *seed, u64 *sectors)
{
	const char *s = cmdline_get("blk.seed");
	const char *n = cmdline_get("blk.sectors");
	u64 v;

	*seed = 1;
	*sectors = 512;
	if (s) {
		if (!virtio_parse_u64(s, &v) || v > 0xffffffffULL)
			return test_fail("bad blk.seed '%s' (a 32-bit number)", s);
		*seed = v;
	}
	if (n) {
		if (!virtio_parse_u64(n, &v) || !v)
			return test_fail("bad blk.sectors '%s' (a number > 0)", n);
		*sectors = v;
	}
	return 0;
}

/* For tests that want the staging buffer directly. */
void *blk_stage(void)
{
	return stage;
}
