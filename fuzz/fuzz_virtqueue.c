// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the split virtqueue: the input is a hostile guest.
 *
 * Input: a 16-byte header (struct fuzz_hdr), then the image of guest RAM,
 * which fills the regions below in order (zeros past the input's end). The
 * rings sit at fixed offsets of region 0 that depend only on the queue size
 * (see ring_layout()); everything in them, descriptors and buffers included,
 * comes from the input. Each region is its own exact-size malloc, so ASan
 * reports any access a byte outside guest RAM.
 *
 * The target plays a device the way devices/ use a queue: notifications
 * off, pop and push until empty, notifications on, pop once more, then ask
 * whether to interrupt; the header picks which popped chains are held in
 * flight and how many bytes each push claims. Between rounds the "driver"
 * moves avail->idx to the header's next value. Every result is checked
 * against the contract in virtqueue.h and a violation aborts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>
#include <evvm/mem.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

struct fuzz_hdr {
	uint8_t qsize;	       /* bit 7 clear: size 1 << (bits % 9); set: bits 0-6 as is */
	uint8_t features;      /* bit 0: EVENT_IDX, bit 1: INDIRECT_DESC */
	uint8_t hold;	       /* bit (n % 8): keep the n-th popped chain in flight a while */
	uint8_t written;       /* a push claims written * (n + 1) bytes, clipped (see push_one) */
	uint16_t avail_idx[4]; /* avail->idx written before each round (little-endian) */
	uint8_t notify;	       /* bit r: skip the notification dance in round r */
	uint8_t reserved;      /* unused */
	uint16_t start;	       /* last_avail and used idx at the start (wraparound) */
};

_Static_assert(sizeof(struct fuzz_hdr) == 16, "the seeds depend on this layout");

#define NR_ROUNDS 4
#define NR_HELD	  4
#define MAX_POPS  512 /* per round; a round can pop at most the queue size anyway */

/* Guest RAM: regions 0 and 1 are adjacent (a buffer across them must be refused). */
static const struct {
	uint64_t gpa, size;
} ram_map[] = {
	{ 0x0, 0x1000 },
	{ 0x1000, 0x800 },
	{ 0x10000, 0x100 },
};
#define NR_RAM (sizeof(ram_map) / sizeof(ram_map[0]))

struct fuzz {
	struct evvm_mem mem;
	uint8_t *ram[NR_RAM];
	struct evvm_vq vq;
	uint16_t num;
	uint64_t desc, avail, used;
	struct vq_elem held[NR_HELD];
	bool is_held[NR_HELD];
	struct vq_elem elem;
	unsigned int pops;
};

static struct fuzz f; /* ~80 KiB of elements: not on the stack */
static volatile uint8_t sink;

#define check(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Nearly every input breaks the queue: keep its one log line out unless asked. */
	if (!getenv("FUZZ_VQ_LOG"))
		evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1));
	return 0;
}

/* The same packing as a simple driver: descriptors, avail, then used at 4-byte alignment. */
static void ring_layout(struct fuzz *z, uint16_t num)
{
	z->num = num;
	z->desc = ram_map[0].gpa;
	z->avail = z->desc + 16ULL * num;
	z->used = (z->avail + 6 + 2ULL * num + 3) & ~3ULL;
}

static uint16_t *guest_u16(struct fuzz *z, uint64_t gpa)
{
	uint16_t *p = mem_translate(&z->mem, gpa, 2);

	check(p);
	return p;
}

/* Every segment lies inside one RAM region, and the counts add up. */
static void check_elem(struct fuzz *z, const struct vq_elem *e)
{
	uint64_t out = 0, in = 0;

	check(e->head < z->num);
	check(e->out_num + e->in_num <= VQ_MAX_SEGS);
	for (unsigned int i = 0; i < e->out_num + e->in_num; i++) {
		const uint8_t *p = e->iov[i].iov_base;
		size_t len = e->iov[i].iov_len;
		bool inside = false;

		check(len > 0);
		for (unsigned int r = 0; r < NR_RAM; r++)
			inside |= p >= z->ram[r] && len <= ram_map[r].size &&
				  (size_t)(p - z->ram[r]) <= ram_map[r].size - len;
		check(inside);
		if (i < e->out_num)
			out += len;
		else
			in += len;
	}
	check(out == e->out_len && in == e->in_len);
}

/* Use the buffers as a device would: read some of what it reads, write some of what it writes. */
static void touch_elem(const struct vq_elem *e, unsigned int n)
{
	uint8_t buf[64], sum = 0;
	size_t got;

	got = iov_to_buf(e->iov, e->out_num, n % 7, buf, sizeof(buf));
	check(got <= sizeof(buf) && got <= e->out_len);
	memset(buf, 0xa5, sizeof(buf));
	got = iov_from_buf(e->iov + e->out_num, e->in_num, n % 5, buf, sizeof(buf));
	check(got <= sizeof(buf) && got <= e->in_len);
	/* Last byte of each buffer: the end is where an off-by-one would show. */
	for (unsigned int i = 0; i < e->out_num + e->in_num; i++)
		sum += ((const uint8_t *)e->iov[i].iov_base)[e->iov[i].iov_len - 1];
	sink = sum;
}

static void push_one(struct fuzz *z, const struct fuzz_hdr *h, const struct vq_elem *e,
		     unsigned int n)
{
	uint64_t want = (uint64_t)h->written * (n + 1);
	uint32_t inflight = z->vq.inflight;

	/* One more than the buffers hold is the device bug vq_push() must refuse. */
	if (want == e->in_len + 1 && e->in_len < UINT32_MAX) {
		check(vq_push(&z->vq, e, (uint32_t)want) == -EINVAL);
		check(z->vq.inflight == inflight);
	}
	if (want > e->in_len)
		want = e->in_len;
	check(vq_push(&z->vq, e, (uint32_t)want) == 0);
	check(z->vq.inflight == inflight - 1);
	check(*guest_u16(z, z->used + 2) == z->vq.used_idx);
}

/* Pop once and act on the result. Returns what vq_pop() returned. */
static int pop_one(struct fuzz *z, const struct fuzz_hdr *h)
{
	unsigned int n = z->pops++;
	int r = vq_pop(&z->vq, &z->elem);

	check(r == 1 || r == 0 || r == -EINVAL);
	check(z->vq.inflight <= z->num);
	if (r < 0) {
		check(z->vq.broken);
		check(vq_pop(&z->vq, &z->elem) == 0);
		return r;
	}
	if (r == 0)
		return 0;
	check(!z->vq.broken);
	check_elem(z, &z->elem);
	touch_elem(&z->elem, n);
	if (h->hold & (1u << (n % 8))) {
		for (unsigned int i = 0; i < NR_HELD; i++) {
			if (!z->is_held[i]) {
				z->held[i] = z->elem;
				z->is_held[i] = true;
				return 1;
			}
		}
	}
	push_one(z, h, &z->elem, n);
	return 1;
}

static void push_held(struct fuzz *z, const struct fuzz_hdr *h)
{
	for (unsigned int i = 0; i < NR_HELD; i++) {
		if (z->is_held[i]) {
			push_one(z, h, &z->held[i], i);
			z->is_held[i] = false;
		}
	}
}

static void run_round(struct fuzz *z, const struct fuzz_hdr *h, unsigned int round)
{
	bool dance = !(h->notify & (1u << round));
	int r = 0;

	if (dance)
		vq_set_notify(&z->vq, false);
	for (unsigned int i = 0; i < MAX_POPS; i++) {
		r = pop_one(z, h);
		if (r <= 0)
			break;
	}
	/* A well-formed round pops at most a queue's worth. */
	check(r <= 0);
	if (dance) {
		vq_set_notify(&z->vq, true);
		pop_one(z, h);
	}
	/* Held chains go back after newer ones: out-of-order completion. */
	if (round & 1)
		push_held(z, h);
	vq_should_notify(&z->vq);
	/* Nothing pushed since: no second interrupt. */
	check(!vq_should_notify(&z->vq));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz *z = &f;
	struct fuzz_hdr h;
	uint64_t features = 0;
	uint16_t num;
	size_t off = 0;
	int err;

	if (size < sizeof(h))
		return -1; /* not worth keeping in the corpus */
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);

	mem_init(&z->mem);
	for (unsigned int r = 0; r < NR_RAM; r++) {
		const struct evvm_mem_region reg = {
			.gpa = ram_map[r].gpa,
			.size = ram_map[r].size,
			.hva = z->ram[r] = malloc(ram_map[r].size),
			.fd = -1,
		};
		size_t n = size - off < ram_map[r].size ? size - off : ram_map[r].size;

		check(reg.hva);
		memcpy(z->ram[r], data + off, n);
		memset(z->ram[r] + n, 0, ram_map[r].size - n);
		off += n;
		check(mem_add_region(&z->mem, &reg) == 0);
	}

	num = h.qsize & 0x80 ? h.qsize & 0x7f : 1u << ((h.qsize & 0x7f) % 9);
	if (h.features & 1)
		features |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (h.features & 2)
		features |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	ring_layout(z, num);
	z->pops = 0;
	memset(z->is_held, 0, sizeof(z->is_held));

	err = vq_init(&z->vq, &z->mem, "fuzz", num, z->desc, z->avail, z->used, features);
	if (err == 0) {
		check(z->vq.ready && !z->vq.broken);
		/* As if the queue had run a while: the ring is the same, only the indices move. */
		z->vq.last_avail = z->vq.used_idx = z->vq.signalled_used = h.start;
		*guest_u16(z, z->used + 2) = h.start;
		for (unsigned int round = 0; round < NR_ROUNDS; round++) {
			*guest_u16(z, z->avail + 2) = h.avail_idx[round];
			run_round(z, &h, round);
		}
		/* Whatever happened, a reset and the same setup give a working queue. */
		vq_reset(&z->vq);
		check(!z->vq.ready && !z->vq.broken && vq_pop(&z->vq, &z->elem) == 0);
		err = vq_init(&z->vq, &z->mem, "fuzz", num, z->desc, z->avail, z->used, features);
		check(err == 0);
		pop_one(z, &h);
		memset(z->is_held, 0, sizeof(z->is_held));
	} else {
		check(!z->vq.ready);
		check(vq_pop(&z->vq, &z->elem) == 0);
	}
	vq_reset(&z->vq);

	for (unsigned int r = 0; r < NR_RAM; r++)
		free(z->ram[r]);
	return 0;
}
