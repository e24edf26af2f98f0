/*
 * tests=blk-bench: the guest half of bench/blk. 4 KiB random reads or writes
 * on the first virtio-blk device (the first writable one for writes), with
 * bbench.qd requests kept in flight until bbench.n have completed. Not in
 * the default test set: it needs a disk and testdev (--testdev).
 *
 * With bbench.queues=N the driver sets up N request queues
 * (VIRTIO_BLK_F_MQ) and, from its one vCPU, puts request k on queue k % N:
 * qd stays the total in flight, so a 1-queue and an N-queue run keep the
 * same number of requests outstanding and differ only in how many rings
 * (doorbells, interrupt vectors, device threads) carry them. The test fails
 * if a queue carried no request.
 *
 * Arguments (decimal or 0x hex):
 *	bbench.rw=read|write	default read
 *	bbench.qd=N		requests in flight, 1..64 (default 1)
 *	bbench.queues=N		request queues, 1..BLK_MAX_QUEUES (default 1)
 *	bbench.n=N		requests in all, 1..4096 (default 1000)
 *	bbench.seed=S		offset PRNG seed (default 1)
 *	bbench.sectors=N	offsets are 4 KiB aligned in [0, N) sectors;
 *				a multiple of 8, at most the capacity
 *				(default: the capacity rounded down to 4 KiB)
 *	bbench.wait=hlt|spin	how the driver waits for completions
 *				(default hlt)
 *	bbench.marks=on|off	off: no testdev, no MARK writes (for a VMM
 *				without testdev, such as QEMU: bench/peer
 *				converts cycles with the host's TSC rate)
 *
 * The timed part is bracketed by testdev MARK writes (0x10 before the
 * first submission, 0x110 after the n-th completion), so the host gets the
 * wall-clock time of the interval that the "cycles=" figure covers and can
 * convert cycles to ns.
 *
 * Latency of a request, in TSC cycles: from an rdtsc just before the request
 * is added to the ring (the kick follows once the pass has queued all its
 * resubmissions) to the rdtsc of the completion poll that first sees its
 * used element. With bbench.wait=hlt (the default) the driver sleeps in
 * `sti; hlt` while nothing is in the used ring and the used-buffer
 * interrupt wakes it, so the latency includes the interrupt's delivery and
 * its handler (InterruptStatus read, InterruptACK write, InterruptStatus
 * read, EOI): what an interrupt-driven driver sees. With bbench.wait=spin
 * it polls used->idx with interrupts on (the handler still runs for every
 * interrupt the device sends).
 *
 * Output: the result line, a detail line, then the usual test line:
 *	evvm-guest: blk-bench: rw=read qd=32 n=2000 cycles=<total> mean=<cycles> p99=<cycles> queues=1
 *	evvm-guest: blk-bench: detail: kicked=<cycles> waited=<cycles> waits=N hlts=N irqs=N notifies=N
 *	evvm-guest: blk-bench: per queue: <requests>[/<requests>...]
 * p99 is the nearest-rank 99th percentile: the ceil(0.99 n)-th smallest.
 * The detail line says where the timed loop's time went: kicked is the
 * cycles spent in virtq_kick() (see bb_kick()), waited the cycles spent
 * waiting for completions (halted or polling, plus the interrupt handlers
 * that ran meanwhile); cycles - kicked - waited is the driver's own code
 * (queueing, reaping, the PRNG). irqs and notifies count used-buffer
 * interrupts and QueueNotify writes in the loop (all queues).
 */
#include "cmdline.h"
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "testdev.h"
#include "virtio_blk.h"

#define BB_IO_BYTES		4096
#define BB_IO_SECTORS		(BB_IO_BYTES / BLK_SECTOR)
#define BB_QD_MAX		64		/* <= BLK_SLOTS */
#define BB_N_MAX		4096

#define BB_MARK_START		0x10
#define BB_MARK_END		0x110

/* One data buffer per slot; the device DMAs straight into/out of them. */
static u8 bb_buf[BB_QD_MAX][BB_IO_BYTES] __aligned(4096);
static u64 bb_submit_tsc[BB_QD_MAX];
static u32 bb_lat[BB_N_MAX];		/* by completion order */
static u8 bb_resubmit[BB_QD_MAX];

/* Where the timed loop's time went (the detail line). */
struct bb_detail {
	u64 kicked;		/* cycles in virtq_kick(), see bb_kick() */
	u64 waited;		/* cycles in bb_wait(): halted or polling, ISRs */
	u32 waits, hlts, irqs, notifies;
};

/* xorshift64: tiny, and never 0 from a non-zero state. */
static u64 bb_rand(u64 *state)
{
	u64 x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static void bb_sift_down(u32 *a, u32 n, u32 i)
{
	u32 v = a[i], c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[c] <= v)
			break;
		a[i] = a[c];
		i = c;
	}
	a[i] = v;
}

/*
 * The @rank-th smallest of @a[0..n) (1-based), by a partial in-place
 * heapsort: heapify (O(n)), then pop the n - rank largest. For p99 that is
 * about n/100 pops, far cheaper under emulation than a full sort.
 */
static u32 bb_rank(u32 *a, u32 n, u32 rank)
{
	u32 i, t, pops = n - rank;

	for (i = n / 2; i-- > 0;)
		bb_sift_down(a, n, i);
	for (i = 0; i < pops; i++) {
		t = a[0];
		a[0] = a[n - 1 - i];
		a[n - 1 - i] = t;
		bb_sift_down(a, n - 1 - i, 0);
	}
	return a[0];
}

struct bb_params {
	bool write;
	bool spin;
	bool marks;
	u32 qd, n, queues;
	u64 seed, sectors;
};

static int bb_args(struct bb_params *p)
{
	const char *rw = cmdline_get("bbench.rw");
	const char *wait = cmdline_get("bbench.wait");
	const char *marks = cmdline_get("bbench.marks");
	u64 v;

	if (!rw || !strcmp(rw, "read"))
		p->write = false;
	else if (!strcmp(rw, "write"))
		p->write = true;
	else
		return test_fail("bad bbench.rw '%s' (read or write)", rw);
	if (!wait || !strcmp(wait, "hlt"))
		p->spin = false;
	else if (!strcmp(wait, "spin"))
		p->spin = true;
	else
		return test_fail("bad bbench.wait '%s' (hlt or spin)", wait);
	if (!marks || !strcmp(marks, "on"))
		p->marks = true;
	else if (!strcmp(marks, "off"))
		p->marks = false;
	else
		return test_fail("bad bbench.marks '%s' (on or off)", marks);
	if (test_arg_u64("bbench.qd", 1, 1, BB_QD_MAX, &v))
		return -1;
	p->qd = v;
	if (test_arg_u64("bbench.queues", 1, 1, BLK_MAX_QUEUES, &v))
		return -1;
	p->queues = v;
	if (test_arg_u64("bbench.n", 1000, 1, BB_N_MAX, &v))
		return -1;
	p->n = v;
	if (test_arg_u64("bbench.seed", 1, 0, ~0ULL, &p->seed) ||
	    test_arg_u64("bbench.sectors", 0, 0, ~0ULL, &p->sectors))
		return -1;
	return 0;
}

static void bb_mark(const struct bb_params *p, u32 v)
{
	if (p->marks)
		outl(v, TESTDEV_MARK);
}

/* Request number @k (from 0) on @slot, on queue k % queues. */
static int bb_submit(struct blk *b, const struct bb_params *p, u64 *rng,
		     unsigned int slot, u32 k)
{
	u64 sector = bb_rand(rng) % (p->sectors / BB_IO_SECTORS) * BB_IO_SECTORS;
	unsigned int q = k % b->nr_queues;

	bb_submit_tsc[slot] = rdtsc();
	if (blk_queue_on(b, q, slot, p->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
			 sector, bb_buf[slot], BB_IO_BYTES))
		return test_fail("blk-bench: no room in queue %u's ring for slot %u (queue size %u)",
				 q, slot, b->vqs[q]->num);
	return 0;
}

/*
 * Publish and notify. With the vCPU and the device's threads on one host
 * CPU, the QueueNotify exit usually lets the device thread run the request
 * to completion and raise the interrupt before the vCPU resumes, and the
 * handler then runs right after the write: so this time holds the exit, the
 * device's work and the interrupt handler.
 */
static void bb_kick(struct blk *b, struct bb_detail *det)
{
	u64 t = rdtsc();

	blk_kick(b);
	det->kicked += rdtsc() - t;
}

/* Whether any queue's used ring holds something not yet reaped. */
static bool bb_any_used(const struct blk *b)
{
	unsigned int q;

	for (q = 0; q < b->nr_queues; q++)
		if (READ_ONCE(b->vqs[q]->used->idx) != b->vqs[q]->last_used)
			return true;
	return false;
}

/* Doorbell writes so far, all queues. */
static u32 bb_notifies(const struct blk *b)
{
	unsigned int q;
	u32 n = 0;

	for (q = 0; q < b->nr_queues; q++)
		n += b->vqs[q]->notifies;
	return n;
}

/*
 * Wait until the used ring holds something; false if nothing came within
 * VIRTIO_IO_TIMEOUT. In hlt mode a wait with no interrupt at all never
 * returns (there is no timer): the host's watchdog ends the VM then.
 */
static bool bb_wait(const struct blk *b, bool spin, struct bb_detail *det)
{
	u64 t = rdtsc(), deadline = t + VIRTIO_IO_TIMEOUT;
	bool ok = true;

	det->waits++;
	for (;;) {
		if (spin) {
			if (bb_any_used(b))
				break;
			cpu_relax();
		} else {
			cli();
			if (bb_any_used(b)) {
				sti();
				break;
			}
			/* sti's shadow: no interrupt slips in before hlt. */
			asm volatile("sti; hlt" : : : "memory");
			det->hlts++;
		}
		if (tsc_passed(deadline)) {
			ok = false;
			break;
		}
	}
	det->waited += rdtsc() - t;
	return ok;
}

/* Progress of the timed loop. */
struct bb_state {
	u64 rng;
	u32 submitted, done;
};

/*
 * Reap what every queue's used ring held at @seen (read just before @now,
 * the completion time of all of it) and note which slots to resubmit. The
 * number of those, or -1 (test_fail()).
 */
static int bb_reap(struct blk *b, const struct bb_params *p, struct bb_state *st,
		   const u16 *seen, u64 now)
{
	unsigned int q, slot, nre = 0;
	u32 used_len;
	u64 w;
	u8 status;
	int rc;

	for (q = 0; q < b->nr_queues; q++) {
		while (b->vqs[q]->last_used != seen[q]) {
			rc = blk_reap_on(b, q, &slot, &status, &used_len);
			if (rc < 0)
				return -1;
			if (!rc)
				return test_fail("blk-bench: queue %u: used->idx %u, but no element to reap",
						 q, seen[q]);
			if (status != VIRTIO_BLK_S_OK)
				return test_fail("blk-bench: %s of slot %u: status %u",
						 p->write ? "write" : "read", slot, status);
			if (!p->write && used_len != BB_IO_BYTES + 1)
				return test_fail("blk-bench: read of slot %u: used len %u, want %u",
						 slot, used_len, BB_IO_BYTES + 1);
			w = now - bb_submit_tsc[slot];
			bb_lat[st->done++] = w > 0xffffffffULL ? 0xffffffffU : (u32)w;
			if (st->submitted < p->n) {
				bb_resubmit[nre++] = slot;
				st->submitted++;
			}
		}
	}
	return nre;
}

/* The timed loop; fills bb_lat[0..n) and *@cycles. 0, or -1 (test_fail()). */
static int bb_run(struct blk *b, const struct bb_params *p, u64 *cycles,
		  struct bb_detail *det)
{
	struct bb_state st = { .rng = p->seed ^ 0x9e3779b97f4a7c15ULL };
	u16 seen[BLK_MAX_QUEUES];
	unsigned int slot, q;
	u64 t0, now;
	int nre, i;

	if (!st.rng)
		st.rng = 1;
	det->irqs = READ_ONCE(b->dev->used_irqs);
	det->notifies = bb_notifies(b);
	bb_mark(p, BB_MARK_START);
	t0 = rdtsc();
	for (slot = 0; slot < p->qd && st.submitted < p->n; slot++, st.submitted++)
		if (bb_submit(b, p, &st.rng, slot, st.submitted))
			return -1;
	bb_kick(b, det);

	while (st.done < p->n) {
		if (!bb_wait(b, p->spin, det))
			return test_fail("blk-bench: %u of %u requests done, %u in flight, none completed within %lu cycles",
					 st.done, p->n, b->inflight, VIRTIO_IO_TIMEOUT);
		/* The entries up to @seen had completed by @now. */
		for (q = 0; q < b->nr_queues; q++)
			seen[q] = READ_ONCE(b->vqs[q]->used->idx);
		now = rdtsc();
		nre = bb_reap(b, p, &st, seen, now);
		if (nre < 0)
			return -1;
		/* Resubmitted requests keep their numbers: k = submitted - nre + i. */
		for (i = 0; i < nre; i++)
			if (bb_submit(b, p, &st.rng, bb_resubmit[i], st.submitted - nre + i))
				return -1;
		if (nre)
			bb_kick(b, det);
	}
	*cycles = rdtsc() - t0;
	bb_mark(p, BB_MARK_END);
	det->irqs = READ_ONCE(b->dev->used_irqs) - det->irqs;
	det->notifies = bb_notifies(b) - det->notifies;
	return 0;
}

static int test_blk_bench(void)
{
	struct bb_detail det = { 0 };
	struct bb_params p;
	struct blk b;
	u64 cycles = 0, sum = 0, w;
	u32 i, p99;
	int rc;

	if (bb_args(&p) || (p.marks && testdev_check()))
		return -1;
	if (blk_open_mq(&b, p.write ? BLK_WRITABLE : BLK_ANY, p.queues))
		return -1;
	if (!p.sectors)
		p.sectors = b.capacity / BB_IO_SECTORS * BB_IO_SECTORS;
	if (p.sectors < BB_IO_SECTORS || p.sectors % BB_IO_SECTORS ||
	    p.sectors > b.capacity) {
		test_fail("blk-bench: bbench.sectors %lu: want a non-zero multiple of %u, at most the capacity of %lu",
			  p.sectors, BB_IO_SECTORS, b.capacity);
		blk_close(&b);
		return -1;
	}
	/* Each queue has the same size; qd requests fit in the first, so in any. */
	if (!virtio_has(b.dev, VIRTIO_F_INDIRECT_DESC) && b.vq->num < 3 * p.qd) {
		test_fail("blk-bench: queue size %u is too small for %u 3-descriptor chains without VIRTIO_F_INDIRECT_DESC",
			  b.vq->num, p.qd);
		blk_close(&b);
		return -1;
	}
	/* Something other than zeros to write. */
	if (p.write)
		for (i = 0; i < p.qd; i++)
			for (w = 0; w < BB_IO_BYTES / 8; w++)
				((u64 *)bb_buf[i])[w] = (w + 1) * 0x9e3779b97f4a7c15ULL ^ i;

	rc = bb_run(&b, &p, &cycles, &det);
	/* Requests k, k + N, ... went to queue k % N: each must have carried some. */
	for (i = 0; !rc && i < b.nr_queues && i < p.n; i++)
		if (!b.completed[i])
			rc = test_fail("blk-bench: queue %u of %u completed no request",
				       i, b.nr_queues);
	if (blk_close(&b))
		rc = -1;
	if (rc)
		return -1;

	for (i = 0; i < p.n; i++)
		sum += bb_lat[i];
	p99 = bb_rank(bb_lat, p.n, (u32)(((u64)p.n * 99 + 99) / 100));
	/* queues= last: bench/peer parses the fields before it. */
	printf("evvm-guest: blk-bench: rw=%s qd=%u n=%u cycles=%lu mean=%lu p99=%u queues=%u\n",
	       p.write ? "write" : "read", p.qd, p.n, cycles, sum / p.n, p99, b.nr_queues);
	printf("evvm-guest: blk-bench: detail: kicked=%lu waited=%lu waits=%u hlts=%u irqs=%u notifies=%u\n",
	       det.kicked, det.waited, det.waits, det.hlts, det.irqs, det.notifies);
	printf("evvm-guest: blk-bench: per queue:");
	for (i = 0; i < b.nr_queues; i++)
		printf("%s%u", i ? "/" : " ", b.completed[i]);
	printf("\n");
	return 0;
}
GUEST_TEST("blk-bench", test_blk_bench);
