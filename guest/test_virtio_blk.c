/*
 * virtio-blk tests. Write tests take the first device that does not offer
 * VIRTIO_BLK_F_RO, virtio-blk-readonly the first that does, the others the
 * first device. The pattern (see docs/guest.md) is seeded by blk.seed and
 * covers blk.sectors sectors from 0.
 */
#include "cpu.h"
#include "cmdline.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio_blk.h"

/* After the last completion the interrupt is at most this late. */
#define IRQ_GRACE		((u64)1000000000)

struct blk_seg {		/* DISCARD / WRITE_ZEROES payload */
	u64 sector;
	u32 num_sectors;
	u32 flags;
};

static struct blk_seg seg __aligned(16);
static u8 id_buf[VIRTIO_BLK_ID_BYTES] __aligned(16);

/* Close, keeping the first failure; the device is left reset. */
static int finish(struct blk *b, int rc)
{
	if (!rc)
		rc = virtio_expect_irq(b->dev, IRQ_GRACE);
	if (blk_close(b))
		rc = -1;
	return rc;
}

static int check_fits(struct blk *b, u64 first, u64 count)
{
	if (first > b->capacity || count > b->capacity - first)
		return test_fail("virtio-blk: sectors [%lu, %lu) beyond the capacity of %lu",
				 first, first + count, b->capacity);
	return 0;
}

static int flush(struct blk *b)
{
	int st;

	if (!virtio_has(b->dev, VIRTIO_BLK_F_FLUSH)) {
		printf("evvm-guest: virtio-blk: no VIRTIO_BLK_F_FLUSH, not flushing (write-through)\n");
		return 0;
	}
	st = blk_sync(b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
	if (st < 0)
		return -1;
	if (st != VIRTIO_BLK_S_OK)
		return test_fail("virtio-blk: FLUSH status %d", st);
	return 0;
}

/* The pattern over blk.sectors from 0: @write writes and flushes it, @verify reads it back. */
static int pattern_op(bool write, bool verify)
{
	struct blk b;
	u64 n;
	u32 seed;
	int rc;

	if (blk_args(&seed, &n) || blk_open(&b, write ? BLK_WRITABLE : BLK_ANY))
		return -1;
	rc = check_fits(&b, 0, n);
	if (!rc && write)
		rc = blk_write_pattern(&b, 0, n, seed);
	if (!rc && write)
		rc = flush(&b);
	if (!rc && verify)
		rc = blk_verify_pattern(&b, 0, n, seed);
	return finish(&b, rc);
}

static int test_blk_write(void)
{
	return pattern_op(true, false);
}
GUEST_TEST("virtio-blk-write", test_blk_write);

static int test_blk_verify(void)
{
	return pattern_op(false, true);
}
GUEST_TEST("virtio-blk-verify", test_blk_verify);

/*
 * Write and verify the pattern; with blk.min-ms=N, again and again until N
 * "ms" of TSC at 1 GHz (N/4 ms or more on hosts up to 4 GHz) have passed: a
 * host that restarts the backend under the guest needs the guest busy
 * however fast it runs.
 */
static int test_blk(void)
{
	const char *min = cmdline_get("blk.min-ms");
	u64 ms = 0, deadline;
	int rc;

	if (min && (!virtio_parse_u64(min, &ms) || ms > 3600000))
		return test_fail("bad blk.min-ms '%s' (0 to 3600000)", min);
	deadline = tsc_deadline(ms * TSC_PER_MS);
	do
		rc = pattern_op(true, true);
	while (!rc && ms && !tsc_passed(deadline));
	return rc;
}
GUEST_TEST("virtio-blk", test_blk);

/*
 * Multi-queue: blk.queues=N (default: every queue the device has, at most
 * BLK_MAX_QUEUES; at least 2 either way) with VIRTIO_BLK_F_MQ. The pattern
 * is written and read back with blk_rw()'s requests spread over the queues
 * (slot s on queue s % N); every queue must have carried writes and reads.
 */
static int mq_phase(struct blk *b, bool write, u64 n, u32 seed)
{
	u32 before[BLK_MAX_QUEUES];
	unsigned int q;
	int rc;

	memcpy(before, b->completed, sizeof(before));
	rc = write ? blk_write_pattern(b, 0, n, seed) : blk_verify_pattern(b, 0, n, seed);
	for (q = 0; !rc && q < b->nr_queues; q++)
		if (b->completed[q] == before[q])
			rc = test_fail("virtio-blk: queue %u of %u carried no %s",
				       q, b->nr_queues, write ? "write" : "read");
	return rc;
}

static int test_blk_mq(void)
{
	struct blk b;
	u64 n, queues;
	u32 seed, q;
	int rc;

	if (blk_args(&seed, &n) ||
	    test_arg_u64("blk.queues", 0, 0, BLK_MAX_QUEUES, &queues) ||
	    blk_open_mq(&b, BLK_WRITABLE, queues))
		return -1;
	if (b.nr_queues < 2) {
		test_fail("virtio-blk: %u queue (no VIRTIO_BLK_F_MQ or num_queues 1): give evvm --disk ...,queues=2",
			  b.nr_queues);
		return finish(&b, -1);
	}
	rc = check_fits(&b, 0, n);
	/* Enough requests that every queue gets some: BLK_REQ_SECTORS each. */
	if (!rc && n < (u64)BLK_REQ_SECTORS * b.nr_queues)
		rc = test_fail("virtio-blk: blk.sectors %lu is too few for %u queues",
			       n, b.nr_queues);
	if (!rc)
		rc = mq_phase(&b, true, n, seed);
	if (!rc)
		rc = flush(&b);
	if (!rc)
		rc = mq_phase(&b, false, n, seed);
	if (!rc) {
		printf("evvm-guest: virtio-blk: %u queues, requests", b.nr_queues);
		for (q = 0; q < b.nr_queues; q++)
			printf("%s%u", q ? "/" : " ", b.completed[q]);
		printf("\n");
	}
	return finish(&b, rc);
}
GUEST_TEST("virtio-blk-mq", test_blk_mq);

/* One synchronous read; its status must be @want. */
static int read_expect(struct blk *b, u64 sector, u32 count, int want,
		       const char *what)
{
	int st = blk_sync(b, VIRTIO_BLK_T_IN, sector, blk_stage(),
			  count * BLK_SECTOR);

	if (st < 0)
		return -1;
	if (st != want)
		return test_fail("virtio-blk: %s (sector %lu, %u sectors, capacity %lu): status %d, want %d",
				 what, sector, count, b->capacity, st, want);
	return 0;
}

static int test_blk_past_end(void)
{
	struct blk b;
	int rc;

	if (blk_open(&b, BLK_ANY))
		return -1;
	if (!b.capacity) {
		test_fail("virtio-blk: capacity 0");
		return finish(&b, -1);
	}
	rc = read_expect(&b, b.capacity, 1, VIRTIO_BLK_S_IOERR,
			 "read at the capacity");
	if (!rc)
		rc = read_expect(&b, b.capacity - 1, 2, VIRTIO_BLK_S_IOERR,
				 "read crossing the capacity");
	if (!rc)
		rc = read_expect(&b, b.capacity - 1, 1, VIRTIO_BLK_S_OK,
				 "read of the last sector");
	return finish(&b, rc);
}
GUEST_TEST("virtio-blk-past-end", test_blk_past_end);

static int test_blk_readonly(void)
{
	struct blk b;
	int rc, st;

	if (blk_open(&b, BLK_READONLY))
		return -1;
	if (!virtio_has(b.dev, VIRTIO_BLK_F_RO)) {
		test_fail("virtio-blk: VIRTIO_BLK_F_RO offered but not negotiated");
		return finish(&b, -1);
	}
	/* Write back what sector 0 holds: even a wrong OK changes nothing. */
	rc = read_expect(&b, 0, 1, VIRTIO_BLK_S_OK, "read of sector 0");
	if (!rc) {
		st = blk_sync(&b, VIRTIO_BLK_T_OUT, 0, blk_stage(), BLK_SECTOR);
		if (st < 0)
			rc = -1;
		else if (st != VIRTIO_BLK_S_IOERR)
			rc = test_fail("virtio-blk: write to a read-only device: status %d, want IOERR",
				       st);
	}
	if (!rc && b.capacity > 1)
		rc = read_expect(&b, b.capacity - 1, 1, VIRTIO_BLK_S_OK,
				 "read of the last sector");
	return finish(&b, rc);
}
GUEST_TEST("virtio-blk-readonly", test_blk_readonly);

#define QD		64

static int test_blk_qd64(void)
{
	static u8 done[QD];
	u8 *buf = blk_stage();
	unsigned int i, slot;
	u32 used_len, id, len;
	struct blk b;
	u8 status;
	int rc = 0;

	if (blk_open(&b, BLK_ANY))
		return -1;
	if (!b.capacity) {
		test_fail("virtio-blk: capacity 0");
		return finish(&b, -1);
	}
	if (!virtio_has(b.dev, VIRTIO_F_INDIRECT_DESC) && b.vq->num < 3 * QD) {
		test_fail("virtio-blk: queue size %u is too small for %u 3-descriptor chains without VIRTIO_F_INDIRECT_DESC",
			  b.vq->num, QD);
		return finish(&b, -1);
	}
	memset(done, 0, sizeof(done));
	for (i = 0; i < QD; i++)
		if (blk_queue(&b, i, VIRTIO_BLK_T_IN, i % b.capacity,
			      buf + i * BLK_SECTOR, BLK_SECTOR)) {
			test_fail("virtio-blk: no room for request %u", i);
			return finish(&b, -1);
		}
	virtq_kick(b.vq);		/* one notify for all 64 */

	for (i = 0; i < QD; i++) {
		if (blk_reap(&b, &slot, &status, &used_len) < 0) {
			test_fail("virtio-blk: only %u of %u requests completed", i, QD);
			return finish(&b, -1);
		}
		if (done[slot]++) {
			test_fail("virtio-blk: request %u completed twice", slot);
			return finish(&b, -1);
		}
		if (status != VIRTIO_BLK_S_OK) {
			test_fail("virtio-blk: request %u status %u", slot, status);
			return finish(&b, -1);
		}
		if (used_len != BLK_SECTOR + 1) {
			test_fail("virtio-blk: request %u used len %u, want %u",
				  slot, used_len, BLK_SECTOR + 1);
			return finish(&b, -1);
		}
	}
	/* Nothing more may come: a duplicate would show up here. */
	tsc_delay(10 * TSC_PER_MS);
	rc = virtq_get_used(b.vq, &id, &len);
	if (rc > 0)
		rc = test_fail("virtio-blk: a 65th completion (id %u) after %u requests",
			       id, QD);
	return finish(&b, rc);
}
GUEST_TEST("virtio-blk-qd64", test_blk_qd64);

/*
 * The ID is "a NUL-padded ASCII string up to 20 bytes long" (5.2.6). The
 * buffer starts as 0xff, so bytes the device did not write show; QEMU 7.2
 * writes the string and one NUL only, which passes with a note.
 */
static int test_blk_id(void)
{
	const char *serial = cmdline_get("blk.serial");
	size_t want_len, got_len, i;
	bool padded = true;
	struct blk b;
	int st, rc = 0;

	if (!serial)
		return test_fail("no blk.serial= on the command line (the ID to expect)");
	if (blk_open(&b, BLK_ANY))
		return -1;
	want_len = strnlen(serial, VIRTIO_BLK_ID_BYTES);
	memset(id_buf, 0xff, sizeof(id_buf));
	st = blk_sync(&b, VIRTIO_BLK_T_GET_ID, 0, id_buf, sizeof(id_buf));
	if (st < 0)
		return finish(&b, -1);
	if (st != VIRTIO_BLK_S_OK)
		return finish(&b, test_fail("virtio-blk: GET_ID status %d", st));
	got_len = strnlen((const char *)id_buf, sizeof(id_buf));
	for (i = got_len; i < sizeof(id_buf); i++)
		padded &= !id_buf[i];
	if (got_len != want_len || memcmp(id_buf, serial, want_len)) {
		char hex[2 * VIRTIO_BLK_ID_BYTES + 1];

		for (i = 0; i < sizeof(id_buf); i++)
			snprintf(hex + 2 * i, 3, "%02x", id_buf[i]);
		rc = test_fail("virtio-blk: GET_ID %s ('%.20s'), want '%.20s' (blk.serial)",
			       hex, (const char *)id_buf, serial);
	} else if (!padded) {
		printf("evvm-guest: virtio-blk-id: the ID ends in one NUL, not NUL-padded to %u bytes\n",
		       VIRTIO_BLK_ID_BYTES);
	}
	return finish(&b, rc);
}
GUEST_TEST("virtio-blk-id", test_blk_id);

/*
 * Sectors [0, RANGE_END) get the pattern; [@first, @first + @count) is
 * discarded or zeroed, and every other sector must keep the pattern.
 */
#define RANGE_END		32
#define RANGE_FIRST		8
#define RANGE_COUNT		16

static int check_range(struct blk *b, u64 first, u32 count, u32 seed,
		       bool zeroes)
{
	const u32 *w = blk_stage();
	u32 s, i;

	memset(blk_stage(), 0xa5, RANGE_END * BLK_SECTOR);
	if (blk_rw(b, VIRTIO_BLK_T_IN, 0, RANGE_END, blk_stage()))
		return -1;
	for (s = 0; s < RANGE_END; s++) {
		const u32 *sw = w + s * (BLK_SECTOR / 4);
		bool in = s >= first && s < first + count;
		long bad;

		if (in && !zeroes)
			continue;	/* discarded: contents undefined */
		if (in) {
			for (i = 0; i < BLK_SECTOR / 4; i++)
				if (sw[i])
					return test_fail("virtio-blk: zeroed sector %u word %u is 0x%08x",
							 s, i, sw[i]);
			continue;
		}
		bad = blk_pattern_check(sw, (u64)s * (BLK_SECTOR / 4),
					BLK_SECTOR / 4, seed);
		if (bad >= 0)
			return test_fail("virtio-blk: sector %u outside the %s range changed (word %ld: 0x%08x)",
					 s, zeroes ? "zeroed" : "discarded",
					 bad, sw[bad]);
	}
	return 0;
}

static int range_op(bool zeroes)
{
	const char *op = zeroes ? "WRITE_ZEROES" : "DISCARD";
	struct blk b;
	u32 seed, max, count, align;
	u64 first, n;
	int st, rc;

	if (blk_args(&seed, &n) || blk_open(&b, BLK_WRITABLE))
		return -1;
	if (!virtio_has(b.dev, zeroes ? VIRTIO_BLK_F_WRITE_ZEROES :
					VIRTIO_BLK_F_DISCARD)) {
		test_fail("virtio-blk: the device does not offer VIRTIO_BLK_F_%s",
			  op);
		return finish(&b, -1);
	}
	max = zeroes ? b.max_wz_sectors : b.max_discard_sectors;
	if (!max || !(zeroes ? b.max_wz_seg : b.max_discard_seg)) {
		test_fail("virtio-blk: %s offered with max sectors %u, max segments %u",
			  op, max, zeroes ? b.max_wz_seg : b.max_discard_seg);
		return finish(&b, -1);
	}
	count = max < RANGE_COUNT ? max : RANGE_COUNT;
	first = RANGE_FIRST;
	align = zeroes ? 1 : b.discard_align;
	if (align > 1) {
		/* Whole aligned units inside [0, RANGE_END), else skip the check. */
		first = (RANGE_FIRST + align - 1) / align * align;
		count = first + align <= RANGE_END ? align : 0;
		if (count > max)
			count = 0;
	}
	rc = check_fits(&b, 0, RANGE_END);
	if (!rc)
		rc = blk_write_pattern(&b, 0, RANGE_END, seed);
	if (rc || !count) {
		if (!rc)
			rc = test_fail("virtio-blk: discard_sector_alignment %u leaves no range in [0, %u)",
				       align, RANGE_END);
		return finish(&b, rc);
	}
	seg.sector = first;
	seg.num_sectors = count;
	seg.flags = 0;		/* no unmap */
	st = blk_sync(&b, zeroes ? VIRTIO_BLK_T_WRITE_ZEROES :
				   VIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg));
	if (st < 0)
		return finish(&b, -1);
	if (st != VIRTIO_BLK_S_OK) {
		test_fail("virtio-blk: %s of sectors [%lu, %lu): status %d",
			  op, first, first + count, st);
		return finish(&b, -1);
	}
	rc = check_range(&b, first, count, seed, zeroes);
	return finish(&b, rc);
}

static int test_blk_write_zeroes(void)
{
	return range_op(true);
}
GUEST_TEST("virtio-blk-write-zeroes", test_blk_write_zeroes);

static int test_blk_discard(void)
{
	return range_op(false);
}
GUEST_TEST("virtio-blk-discard", test_blk_discard);
