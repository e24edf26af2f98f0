/*
 * virtio-rng: two 64-byte reads through the requestq must differ and must
 * not be all zero; the completions must raise the device's interrupt.
 */
#include "lib.h"
#include "test.h"
#include "virtio_rng.h"

#define RNG_BYTES		64

static u8 rng_a[RNG_BYTES], rng_b[RNG_BYTES];

static int test_virtio_rng(void)
{
	struct virtio_dev *d = rng_open();
	int rc = -1;

	if (!d)
		return -1;
	memset(rng_a, 0, RNG_BYTES);
	memset(rng_b, 0, RNG_BYTES);
	if (rng_read(d, rng_a, RNG_BYTES) || rng_read(d, rng_b, RNG_BYTES))
		goto out;
	if (rng_all_zero(rng_a, RNG_BYTES) || rng_all_zero(rng_b, RNG_BYTES)) {
		test_fail("virtio-rng: a 64-byte read is all zero");
		goto out;
	}
	if (!memcmp(rng_a, rng_b, RNG_BYTES)) {
		test_fail("virtio-rng: two 64-byte reads are identical");
		goto out;
	}
	rc = virtio_expect_irq(d, VIRTIO_IO_TIMEOUT);
out:
	if (virtio_dev_reset(d))
		rc = -1;
	return rc;
}
GUEST_TEST("virtio-rng", test_virtio_rng);
