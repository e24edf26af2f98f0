/*
 * tests=blk-loop: block I/O that goes on for a while, for the host's
 * pause/resume test (tests/integration/test_api.c). Round r writes the
 * pattern with seed r over sectors [0, blkloop.sectors) of the first
 * writable virtio-blk device (BLK_BATCH requests in flight) and reads it
 * back, every request's status checked; every 16th round prints
 *	evvm-guest: blk-loop: round R
 * Rounds go on until blkloop.ms milliseconds of guest TSC time have passed
 * (the VM's pauses included). Not in the default set: it needs a disk.
 *
 * Arguments: blkloop.sectors=N (8..4096, default 128), blkloop.ms=N
 * (1..600000, default 2000).
 */
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio_blk.h"

static int test_blk_loop(void)
{
	u64 sectors, ms, deadline;
	struct blk b;
	u32 round = 0;
	int rc = 0;

	if (test_arg_u64("blkloop.sectors", 128, 8, 4096, &sectors) ||
	    test_arg_u64("blkloop.ms", 2000, 1, 600000, &ms) || blk_open(&b, BLK_WRITABLE))
		return -1;
	if (sectors > b.capacity) {
		test_fail("blk-loop: %lu sectors, the disk has %lu", sectors, b.capacity);
		blk_close(&b);
		return -1;
	}
	deadline = tsc_deadline(ms * TSC_PER_MS);
	while (!rc && rdtsc() < deadline) {
		round++;
		rc = blk_write_pattern(&b, 0, sectors, round);
		if (!rc)
			rc = blk_verify_pattern(&b, 0, sectors, round);
		if (!rc && round % 16 == 0)
			printf("evvm-guest: blk-loop: round %u\n", round);
	}
	if (!rc)
		printf("evvm-guest: blk-loop: %u rounds\n", round);
	if (blk_close(&b))
		rc = -1;
	return rc;
}
GUEST_TEST("blk-loop", test_blk_loop);
