/*
 * tests=rng-bench: the guest half of bench/peer's virtio-rng row. Reads
 * rbench.n requests of rbench.bytes random bytes each from the first
 * virtio-rng device, one request in flight at a time (rng_read(): a
 * request the device fills short is followed by one for the rest), and
 * prints the TSC cycles the loop took:
 *
 *	evvm-guest: rng-bench: bytes=<per request> n=<requests> cycles=<total>
 *
 * Needs no testdev (it runs under QEMU too); the host converts cycles with
 * its own TSC rate. Not in the default test set: it needs a virtio-rng.
 *
 * Arguments (decimal or 0x hex):
 *	rbench.bytes=N		bytes per request, 1..65536 (default 4096)
 *	rbench.n=N		requests, 1..1000000 (default 1000)
 */
#include "cpu.h"
#include "printf.h"
#include "test.h"
#include "virtio_rng.h"

#define RB_BYTES_MAX		65536

static u8 rb_buf[RB_BYTES_MAX] __aligned(4096);

static int test_rng_bench(void)
{
	struct virtio_dev *d;
	u64 bytes, n, i, t;

	if (test_arg_u64("rbench.bytes", 4096, 1, RB_BYTES_MAX, &bytes) ||
	    test_arg_u64("rbench.n", 1000, 1, 1000000, &n))
		return -1;
	d = rng_open();
	if (!d)
		return -1;
	t = rdtsc();
	for (i = 0; i < n; i++)
		if (rng_read(d, rb_buf, (u32)bytes))
			return -1;
	t = rdtsc() - t;
	if (rng_all_zero(rb_buf, (u32)bytes))
		return test_fail("rng-bench: the last %lu bytes are all zero", bytes);
	printf("evvm-guest: rng-bench: bytes=%lu n=%lu cycles=%lu\n", bytes, n, t);
	return 0;
}
GUEST_TEST("rng-bench", test_rng_bench);
