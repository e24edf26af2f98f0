// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for virtio-blk request parsing (devices/blk.c): the input
 * is a hostile driver's requests, posted with the shared fake guest driver
 * (tests/lib/fakeguest.c) on one queue; the virtqueue itself is fuzzed by
 * fuzz_virtqueue.c.
 *
 * Input: byte 0 picks the negotiated features (bit 0 EVENT_IDX, 1
 * INDIRECT_DESC, 2 FLUSH, 3 DISCARD, 4 WRITE_ZEROES; those the device
 * offers), byte 1 the number of chains (1..8). Then each chain: one byte
 * for its number of buffers (1..4), and per buffer one flags byte (bit 0
 * device-writable, bit 1 placed across the end of RAM, bit 2 empty), a
 * little-endian 16-bit length (at most BUF_MAX), and for a readable buffer
 * its content (the request header of the first one, say). Writable buffers
 * are filled with 0xee. Input that runs out ends the chains.
 *
 * The fuzzer is the device's I/O thread: it kicks the queue itself (reads
 * and writes on the tmpfs disk complete inline), then stops the device,
 * which waits for whatever went to io_uring and drops it. Checked: every
 * used entry names a chain that was posted and not used before, and claims
 * no more bytes than its writable buffers hold. ASan checks the rest: a
 * byte read or written outside guest RAM is a crash.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "fakeguest.h"

#define RAM_GPA	   0x100000ULL
#define RAM_SIZE   0x10000 /* the rings, then buffers */
#define HEAP	   (RAM_GPA + 0x3000)
#define QSIZE	   16
#define DISK_SECS  64
#define BUF_MAX	   4096
#define MAX_CHAINS 8
#define MAX_SEGS   4

#define check(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static struct {
	uint8_t *ram;
	struct fakeguest g;
	struct evvm_loop *loop;
	struct evvm_virtio_dev *dev;
} fz;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	(void)dev;
	check(q == 0);
}

static void on_fail(struct evvm_virtio_dev *dev)
{
	(void)dev;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct blk_config cfg = { 0 };
	char path[64];
	int fd;

	(void)argc;
	(void)argv;
	/* Nearly every input is a request blk rejects: keep its log lines out unless asked. */
	if (!getenv("FUZZ_BLK_LOG"))
		evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1));
	/* A tmpfs disk, so reads and writes complete inline on this thread. */
	fd = memfd_create("fuzz-blk-disk", MFD_CLOEXEC);
	check(fd >= 0 && ftruncate(fd, DISK_SECS * 512) == 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cfg.path = path;
	cfg.serial = "fuzz-blk";
	check(blk_create("blk0", &cfg, &fz.dev) == 0);
	close(fd); /* blk opened its own */
	/* Exactly RAM_SIZE bytes: ASan reports an access a byte outside. */
	fz.ram = malloc(RAM_SIZE);
	check(fz.ram && fg_init(&fz.g, fz.ram, RAM_GPA, RAM_SIZE, HEAP) == 0);
	check(loop_create(&fz.loop, "fuzz-blk") == 0);
	fz.dev->mem = &fz.g.mem;
	fz.dev->loop = fz.loop; /* never run: blk only registers its completion fd */
	fz.dev->notify = on_notify;
	fz.dev->needs_reset = on_fail;
	return 0;
}

struct input {
	const uint8_t *p;
	size_t left;
};

static bool take(struct input *in, void *out, size_t n)
{
	if (in->left < n)
		return false;
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

/* One chain from the input; false when the input (or RAM) ran out. *@in_cap: writable bytes. */
static bool post_one(struct input *in, struct fg_queue *q, uint64_t *in_cap, int *head)
{
	struct fg_seg segs[MAX_SEGS];
	uint8_t nsegs;

	if (!take(in, &nsegs, 1))
		return false;
	nsegs = 1 + nsegs % MAX_SEGS;
	/* No descriptor reused: each posted chain keeps its own head. */
	if (q->next_desc + nsegs > QSIZE)
		return false;
	*in_cap = 0;
	for (unsigned int i = 0; i < nsegs; i++) {
		uint8_t flags, lenb[2];
		uint32_t len;
		void *hva;

		if (!take(in, &flags, 1) || !take(in, lenb, 2))
			return false;
		len = flags & 4 ? 0 : (lenb[0] | lenb[1] << 8) % (BUF_MAX + 1);
		segs[i] = (struct fg_seg){ .len = len, .write = flags & 1 };
		if (flags & 2) {
			segs[i].gpa = RAM_GPA + RAM_SIZE - len / 2; /* half outside RAM */
			hva = NULL;
		} else {
			segs[i].gpa = fg_alloc(&fz.g, len);
			if (!segs[i].gpa)
				return false;
			hva = fg_hva(&fz.g, segs[i].gpa, len);
		}
		if (hva && segs[i].write)
			memset(hva, 0xee, len);
		else if (hva && !take(in, hva, len < in->left ? len : in->left))
			return false;
		if (segs[i].write)
			*in_cap += len;
	}
	*head = fg_post_chain(&fz.g, q, segs, nsegs);
	return *head >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int feature_bits[] = { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC,
						     VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD,
						     VIRTIO_BLK_F_WRITE_ZEROES };
	struct evvm_virtio_dev *dev = fz.dev;
	struct input in = { data, size };
	uint64_t cap[QSIZE] = { 0 };
	bool posted[QSIZE] = { false };
	struct fg_queue q;
	uint8_t pick, nchains;
	unsigned int n = 0;
	int used;

	if (!take(&in, &pick, 1) || !take(&in, &nchains, 1))
		return 0;
	dev->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	for (unsigned int i = 0; i < sizeof(feature_bits) / sizeof(feature_bits[0]); i++)
		if (pick & (1u << i))
			dev->features |= VIRTIO_BIT(feature_bits[i]) & dev->host_features;
	nchains = 1 + nchains % MAX_CHAINS;

	fg_free_all(&fz.g, HEAP);
	check(fg_queue_init(&fz.g, &q, RAM_GPA, QSIZE) == 0);
	check(vq_init(&dev->vqs[0], &fz.g.mem, "blk0.q0", QSIZE, q.desc, q.avail, q.used,
		      dev->features) == 0);
	check(dev->ops->start(dev) == 0);
	while (n < nchains) {
		uint64_t in_cap;
		int head;

		if (!post_one(&in, &q, &in_cap, &head))
			break;
		check(head < QSIZE);
		cap[head] = in_cap;
		posted[head] = true;
		n++;
	}
	dev->ops->kick(dev, 0);

	used = fg_used_idx(&fz.g, &q);
	check(used >= 0 && (unsigned int)used <= n);
	for (int i = 0; i < used; i++) {
		struct vring_used_elem e;

		check(fg_used_elem(&fz.g, &q, i, &e) == 0);
		check(e.id < QSIZE && posted[e.id]);
		check(e.len <= cap[e.id]);
		posted[e.id] = false; /* used once */
	}
	dev->ops->stop(dev);
	vq_reset(&dev->vqs[0]);
	return 0;
}
