#include "virtio_rng.h"
#include "test.h"

/* Requests that return 0 bytes in a row before we give up. */
#define RNG_MAX_EMPTY		16

struct virtio_dev *rng_open(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_RNG, 0, false);

	if (!d || virtio_dev_begin(d, 0))
		return NULL;
	if (!virtio_queue_setup(d, 0, VIRTQ_MAX_SIZE)) {
		virtio_dev_reset(d);
		return NULL;
	}
	if (virtio_dev_ready(d))
		return NULL;
	return d;
}

int rng_read(struct virtio_dev *d, void *buf, u32 len)
{
	struct virtq *vq = &d->vq[0];
	unsigned int empty = 0;
	u32 got = 0, id, n;
	struct vbuf b;
	int head, rc;

	while (got < len) {
		b.addr = (u64)(unsigned long)buf + got;
		b.len = len - got;
		b.write = true;
		head = virtq_add(vq, &b, 1, NULL);
		if (head < 0)
			return test_fail("virtio-rng: no free descriptor");
		virtq_kick(vq);
		rc = virtq_wait_used(vq, &id, &n, VIRTIO_IO_TIMEOUT);
		if (rc < 0)
			return -1;
		if (!rc)
			return test_fail("virtio-rng: request not used within %lu cycles (Status 0x%x)",
					 VIRTIO_IO_TIMEOUT,
					 virtio_status(d));
		if (id != (u32)head)
			return test_fail("virtio-rng: used id %u, want %d", id, head);
		if (n > len - got)
			return test_fail("virtio-rng: device wrote %u bytes into a %u-byte buffer",
					 n, len - got);
		if (!n && ++empty == RNG_MAX_EMPTY)
			return test_fail("virtio-rng: %u requests in a row returned no data",
					 empty);
		if (n)
			empty = 0;
		got += n;
	}
	return 0;
}

bool rng_all_zero(const u8 *buf, u32 len)
{
	while (len--)
		if (*buf++)
			return false;
	return true;
}
