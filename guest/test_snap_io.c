/*
 * tests=snap-io: snap-loop with devices, for snapshot/restore of virtio
 * devices (tests/integration/test_snapshot.c). Each round r fills 256 KiB
 * of memory with a pattern of its own, writes the blk pattern (seed r)
 * over its region of the first writable disk (16 requests in flight),
 * reads 32 bytes from virtio-rng, sends a line on the virtio console's
 * transmitq, waits for the LAPIC timer to tick twice, then checks memory
 * and reads its region back. At the end every region written is read
 * back against the seed of the last round that wrote it. A snapshot
 * taken anywhere in between must lose and repeat nothing: a lost page,
 * block, used entry or timer tick fails or stalls a round. The page
 * "kept" is written by the device alone (the first 4 KiB of the region,
 * read at the end of each round) and checked in the next round, after
 * its ticks: a diff snapshot that missed what the device wrote fails it. Prints
 *	evvm-guest: snap-io round R ticks T
 * on the UART and "evvm-guest: snap-io console R" on the console.
 *
 * Arguments: snapio.rounds=N (1..100000, default 60), snapio.sectors=N
 * per round (8..1024, default 64); regions: up to 64, as fit the disk.
 */
#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio_blk.h"
#include "virtio_rng.h"

#define IO_WORDS		(1u << 15)	/* 256 KiB of u64 */
#define IO_TICKS		2
#define IO_VECTOR		(FREE_VECTOR_BASE + 2)
#define IO_REGIONS		64
#define CON_TXQ			1
#define KEEP_SECTORS		8

#define LAPIC_LVT_TIMER		0x320
#define LAPIC_TIMER_INIT	0x380
#define LAPIC_TIMER_DIV		0x3e0
#define LVT_TIMER_PERIODIC	0x20000
#define TIMER_DIV_16		0x3
#define TIMER_COUNT		625000		/* 10 ms at KVM's 1 GHz */

static u64 io_buf[IO_WORDS];
static u32 region_seed[IO_REGIONS];
static char con_line[64] __aligned(64);
static u8 rnd[32];
static u32 kept[KEEP_SECTORS * 128] __aligned(4096); /* only the device writes it */
static u64 kept_first;				      /* its disk word, and its seed */
static u32 kept_seed;
static volatile unsigned int io_ticks;

static void io_tick(struct irq_frame *frame)
{
	(void)frame;
	io_ticks++;
	lapic_eoi();
}

static u64 next(u64 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Fill (@check false) or check the round's memory pattern: the first bad word, or IO_WORDS. */
static unsigned int mem_pattern(u64 round, bool check)
{
	u64 x = 0x2545f4914f6cdd1dull ^ (round * 0x100000001b3ull);

	for (unsigned int i = 0; i < IO_WORDS; i++) {
		u64 v = next(&x);

		if (!check)
			io_buf[i] = v;
		else if (io_buf[i] != v)
			return i;
	}
	return IO_WORDS;
}

/* One line on the console's transmitq, waited for. */
static int con_send(struct virtio_dev *con, u64 round)
{
	struct virtq *vq = &con->vq[CON_TXQ];
	struct vbuf b = { .addr = (u64)(unsigned long)con_line };
	u32 id, len;
	int head, rc;

	b.len = (u32)snprintf(con_line, sizeof(con_line), "evvm-guest: snap-io console %lu\n",
			      round);
	head = virtq_add(vq, &b, 1, NULL);
	if (head < 0)
		return test_fail("snap-io: console: no free descriptor");
	virtq_kick(vq);
	rc = virtq_wait_used(vq, &id, &len, VIRTIO_IO_TIMEOUT);
	if (rc <= 0 || id != (u32)head)
		return test_fail("snap-io: console round %lu: used %d id %u, want %d", round, rc,
				 id, head);
	return 0;
}

static struct virtio_dev *con_open(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_CONSOLE, 0, false);

	if (!d || virtio_dev_begin(d, 0))
		return NULL;
	if (!virtio_queue_setup(d, CON_TXQ, 16) || virtio_dev_ready(d))
		return NULL;
	return d;
}

static void timer_on(bool on)
{
	if (!on) {
		lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
		irq_register(IO_VECTOR, NULL);
		return;
	}
	irq_register(IO_VECTOR, io_tick);
	lapic_enable();
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | IO_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, TIMER_COUNT);
}

/* One round: memory, a block region, entropy, a console line, ticks, checks. */
static int io_round(struct blk *b, struct virtio_dev *rng, struct virtio_dev *con, u64 r,
		    u64 sectors, unsigned int regions)
{
	unsigned int reg = (unsigned int)((r - 1) % regions), until, bad;

	mem_pattern(r, false);
	region_seed[reg] = (u32)r;
	if (blk_write_pattern(b, reg * sectors, sectors, (u32)r))
		return -1;
	if (rng_read(rng, rnd, sizeof(rnd)))
		return -1;
	if (rng_all_zero(rnd, sizeof(rnd)))
		return test_fail("snap-io: round %lu: 32 random bytes all zero", r);
	if (con_send(con, r))
		return -1;
	until = io_ticks + IO_TICKS;
	while ((int)(io_ticks - until) < 0) {
		sti();
		hlt();
		cli();
	}
	bad = mem_pattern(r, true);
	if (bad != IO_WORDS)
		return test_fail("snap-io: round %lu: word %u of 256 KiB is not the pattern", r,
				 bad);
	if (kept_seed && blk_pattern_check(kept, kept_first, sizeof(kept) / 4, kept_seed) >= 0)
		return test_fail("snap-io: round %lu: the page the device read in round %u "
				 "is not what it read",
				 r, kept_seed);
	if (blk_verify_pattern(b, reg * sectors, sectors, (u32)r))
		return -1;
	if (blk_rw(b, VIRTIO_BLK_T_IN, reg * sectors, KEEP_SECTORS, kept))
		return -1;
	kept_first = reg * sectors * (BLK_SECTOR / 4);
	kept_seed = (u32)r;
	printf("evvm-guest: snap-io round %lu ticks %u\n", r, io_ticks);
	return 0;
}

static int test_snap_io(void)
{
	struct virtio_dev *rng, *con;
	u64 rounds, sectors;
	unsigned int regions;
	struct blk b;
	int rc = 0;

	if (test_arg_u64("snapio.rounds", 60, 1, 100000, &rounds) ||
	    test_arg_u64("snapio.sectors", 64, 8, 1024, &sectors) || blk_open(&b, BLK_WRITABLE))
		return -1;
	rng = rng_open();
	con = rng ? con_open() : NULL;
	regions = (unsigned int)(b.capacity / sectors);
	if (regions > IO_REGIONS)
		regions = IO_REGIONS;
	if (!con || !regions) {
		blk_close(&b);
		return regions ? -1 : test_fail("snap-io: %lu sectors do not fit the disk", sectors);
	}
	timer_on(true);
	for (u64 r = 1; !rc && r <= rounds; r++)
		rc = io_round(&b, rng, con, r, sectors, regions);
	timer_on(false);
	/* Every block written, against the last round that wrote it. */
	for (unsigned int i = 0; !rc && i < regions && region_seed[i]; i++)
		rc = blk_verify_pattern(&b, i * sectors, sectors, region_seed[i]);
	if (!rc)
		printf("evvm-guest: snap-io: %lu rounds, every region verified\n", rounds);
	if (blk_close(&b) || virtio_dev_reset(rng) || virtio_dev_reset(con))
		rc = -1;
	return rc;
}
GUEST_TEST("snap-io", test_snap_io);
