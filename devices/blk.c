// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.2, 5.2) on a file or a block device, one or more
 * request queues, I/O through one io_uring on the device's I/O thread.
 *
 * A request's data moves straight between the file and the guest's buffers
 * (readv/writev on the iovecs vq_pop() mapped), so nothing but those
 * iovecs ever reaches guest memory. Each request has at most one io_uring
 * operation in flight: a short read or write, and each segment of a
 * discard or write-zeroes, is issued after the previous one completed.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "ratelimit.h"
#include "persist.h"

#define SECTOR_SHIFT	    9
#define SECTOR_SIZE	    (1u << SECTOR_SHIFT)

#define BLK_QUEUE_MAX	    256
#define BLK_SEG_MAX	    (BLK_QUEUE_MAX - 2) /* a chain also holds header and status */
#define BLK_DWZ_MAX_SEG	    32			/* segments per discard/write-zeroes */
#define BLK_DWZ_MAX_SECTORS (1u << 22)		/* 2 GiB per segment */
/*
 * One SQE per request in flight, and at most queue_max requests in flight:
 * the SQ never runs out within a batch, and the CQ (twice the SQ) never
 * overflows.
 */
#define BLK_RING_ENTRIES BLK_QUEUE_MAX
/* Resubmissions after -EAGAIN/-EINTR with no progress before giving up. */
#define BLK_MAX_RETRIES 64
/* Error lines per second at most; the rest are counted. */
#define BLK_LOG_BURST 5

struct virtio_blk_req_hdr {
	uint32_t type; /* le32 */
	uint32_t reserved;
	uint64_t sector; /* le64 */
} __attribute__((packed));

struct virtio_blk_dwz_seg {
	uint64_t sector;      /* le64 */
	uint32_t num_sectors; /* le32 */
	uint32_t flags;	      /* le32 */
} __attribute__((packed));

/* Config space (5.2.4) up to write_zeroes_may_unmap and its padding. */
struct virtio_blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "request header is 16 bytes");
_Static_assert(sizeof(struct virtio_blk_dwz_seg) == 16, "segment is 16 bytes");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "config layout of 5.2.4");

/* A discard/write-zeroes segment, checked and in host byte order. */
struct blk_seg {
	uint64_t sector;
	uint32_t num;
	bool unmap;
};

struct blk_req {
	struct blk_req *next_free;
	unsigned int q;
	uint32_t type;
	uint8_t *status;    /* the last device-writable byte */
	uint64_t written;   /* data bytes written into the driver's buffers */
	uint64_t out_bytes; /* OUT: data bytes to write */
	unsigned int retries;

	/* IN/OUT: what is left to transfer, a window into elem.iov. */
	struct iovec *iov;
	unsigned int iovcnt;
	uint64_t offset;
	uint64_t left;

	/* DISCARD/WRITE_ZEROES: segment in progress and its step. */
	unsigned int nseg, seg;
	int mode;     /* fallocate mode of the operation to issue / in flight */
	bool syncing; /* all segments done; write-through: fdatasync in flight */
	struct blk_seg segs[BLK_DWZ_MAX_SEG];

	struct vq_elem elem; /* last: large */
};

/*
 * A transfer the page cache can satisfy needs no worker thread, and on some
 * file systems (tmpfs) io_uring hands every buffered request to one, which
 * costs two context switches per request. So reads and writes are first
 * tried on the I/O thread itself, where they cannot block: with RWF_NOWAIT,
 * or, on a memory-backed file system that refuses the flag, plainly. What
 * would block goes to io_uring.
 */
enum blk_inline {
	BLK_INLINE_NOWAIT, /* try preadv2/pwritev2 with RWF_NOWAIT */
	BLK_INLINE_MEMORY, /* tmpfs: the data is in memory, plain preadv2/pwritev2 */
	BLK_INLINE_NEVER,  /* everything through the ring */
};

struct blk {
	struct evvm_virtio_dev *dev;
	int fd;
	bool readonly;
	bool bdev;
	bool can_punch;		   /* PUNCH_HOLE|KEEP_SIZE works on the file */
	enum blk_inline inline_io; /* how reads and writes may complete without the ring */
	bool no_zero_range;	   /* ZERO_RANGE refused: punch, then allocate */
	uint64_t capacity;	   /* sectors */
	uint32_t blksize;	   /* the file system's block size */
	char serial[VIRTIO_BLK_ID_BYTES];
	char *path; /* the file now (for snapshots) */
	/* Read on vCPU threads; only the capacity changes (blk_set_path), under the lock. */
	pthread_mutex_t config_lock;
	struct virtio_blk_config config;

	struct evvm_device_ops ops;		   /* per instance: the queue count */
	uint64_t requests[EVVM_VIRTIO_MAX_QUEUES]; /* popped per queue (relaxed atomics) */
	/* Completed requests, in Firecracker's terms (relaxed atomics, the I/O thread writes). */
	struct {
		uint64_t read_count, write_count, read_bytes, write_bytes, flush_count;
		uint64_t invalid_reqs_count; /* UNSUPP */
		uint64_t execute_fails;	     /* IOERR */
	} done;

	struct io_uring ring;
	bool ring_ok;
	int efd;		      /* signalled by the ring on completions */
	struct evvm_loop *watch_loop; /* where efd is watched, or NULL */

	bool started;
	bool writethrough; /* FLUSH not negotiated: a completed write is stable (5.2.6.4) */
	bool failed;	   /* virtio_dev_fail() called: pop nothing until reset */
	bool paused;	   /* quiesce(): pop nothing, complete nothing until resumed */

	/* Rate limits: a request without tokens waits here, popped, until the timer. */
	struct ratelimit rl;
	struct evvm_loop *rl_loop; /* where rl.timer_fd is watched, or NULL */
	struct blk_req *throttled;
	unsigned int throttled_q;
	uint64_t throttled_events; /* requests that had to wait (relaxed atomics) */
	unsigned int inflight;	   /* requests owning an operation in the ring */
	unsigned int pushed;	   /* bit q: pushed to queue q since the last notify */
	unsigned int stalled;	   /* bit q: stopped popping for lack of room or memory */
	struct blk_req *free_reqs;

	struct evvm_ratelimit log;
};

/* One error line, at most BLK_LOG_BURST a second; a guest can cause them. */
static void blk_log(struct blk *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void blk_log(struct blk *b, const char *fmt, ...)
{
	unsigned long dropped;
	bool show = evvm_ratelimit(&b->log, &dropped);
	char msg[256];
	va_list ap;

	if (dropped)
		pr_err("%s: %lu more errors not shown", b->dev->id, dropped);
	if (!show)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s: %s", b->dev->id, msg);
}

static struct blk_req *blk_req_get(struct blk *b)
{
	struct blk_req *req = b->free_reqs;

	if (req) {
		b->free_reqs = req->next_free;
		return req;
	}
	return malloc(sizeof(*req));
}

static void blk_req_put(struct blk *b, struct blk_req *req)
{
	req->next_free = b->free_reqs;
	b->free_reqs = req;
}

static void blk_free_reqs(struct blk *b)
{
	while (b->free_reqs) {
		struct blk_req *req = b->free_reqs;

		b->free_reqs = req->next_free;
		free(req);
	}
}

static const char *blk_type_name(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return "read";
	case VIRTIO_BLK_T_OUT:
		return "write";
	case VIRTIO_BLK_T_FLUSH:
		return "flush";
	case VIRTIO_BLK_T_DISCARD:
		return "discard";
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return "write-zeroes";
	default:
		return "request";
	}
}

/*
 * Write the status byte and hand the chain back, unless the device failed
 * (the driver must reset it; the rings are not touched again).
 */
static void blk_count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* What the metrics say about a completed request. */
static void blk_count_done(struct blk *b, const struct blk_req *req, uint8_t status)
{
	if (status == VIRTIO_BLK_S_UNSUPP) {
		blk_count(&b->done.invalid_reqs_count, 1);
	} else if (status != VIRTIO_BLK_S_OK) {
		blk_count(&b->done.execute_fails, 1);
	} else if (req->type == VIRTIO_BLK_T_IN) {
		blk_count(&b->done.read_count, 1);
		blk_count(&b->done.read_bytes, req->written);
	} else if (req->type == VIRTIO_BLK_T_OUT) {
		blk_count(&b->done.write_count, 1);
		blk_count(&b->done.write_bytes, req->out_bytes);
	} else if (req->type == VIRTIO_BLK_T_FLUSH) {
		blk_count(&b->done.flush_count, 1);
	}
}

static void blk_finish(struct blk *b, struct blk_req *req, uint8_t status)
{
	struct evvm_vq *vq = &b->dev->vqs[req->q];

	blk_count_done(b, req, status);
	if (!b->failed && !vq->broken) {
		/* Used length: data read plus the status byte (u32 in the ring). */
		uint32_t len = req->written < UINT32_MAX ? req->written + 1 : UINT32_MAX;

		*req->status = status;
		if (vq_push(vq, &req->elem, len) < 0)
			blk_log(b, "push of head %u refused", req->elem.head);
		else
			b->pushed |= 1u << req->q;
	}
	blk_req_put(b, req);
}

static void blk_submit(struct blk *b)
{
	while (io_uring_sq_ready(&b->ring)) {
		int r = io_uring_submit(&b->ring);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			/* The SQEs stay queued and go with the next submit. */
			blk_log(b, "io_uring_submit: %s", evvm_strerror(r));
			return;
		}
		if (r == 0)
			return;
	}
}

static struct io_uring_sqe *blk_get_sqe(struct blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe) {
		blk_submit(b);
		sqe = io_uring_get_sqe(&b->ring);
	}
	return sqe;
}

#define PUNCH	 (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define ALLOCATE FALLOC_FL_KEEP_SIZE /* plain fallocate that keeps the size */

/* The fallocate mode that starts the current discard/write-zeroes segment. */
static int blk_dwz_mode(const struct blk *b, const struct blk_req *req)
{
	if (req->type == VIRTIO_BLK_T_DISCARD)
		return PUNCH;
	if (req->segs[req->seg].unmap && b->can_punch)
		return PUNCH;
	if (b->bdev || !b->no_zero_range)
		return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	/* No ZERO_RANGE here (tmpfs): punch, then allocate the range again. */
	return PUNCH;
}

/* Queue the request's next operation. Returns false when the SQ is full. */
static bool blk_issue(struct blk *b, struct blk_req *req)
{
	struct io_uring_sqe *sqe = blk_get_sqe(b);

	if (!sqe)
		return false;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		io_uring_prep_readv(sqe, b->fd, req->iov, req->iovcnt, req->offset);
		break;
	case VIRTIO_BLK_T_OUT:
		io_uring_prep_writev2(sqe, b->fd, req->iov, req->iovcnt, req->offset,
				      b->writethrough ? RWF_DSYNC : 0);
		break;
	case VIRTIO_BLK_T_FLUSH:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	default: {
		const struct blk_seg *s = &req->segs[req->seg];

		if (req->syncing) {
			io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
			break;
		}
		io_uring_prep_fallocate(sqe, b->fd, req->mode, (off_t)(s->sector << SECTOR_SHIFT),
					(off_t)s->num << SECTOR_SHIFT);
		break;
	}
	}
	io_uring_sqe_set_data(sqe, req);
	return true;
}

/* Hand a checked request to the ring; it completes in blk_io_done(). */
static void blk_start_io(struct blk *b, struct blk_req *req)
{
	if (!blk_issue(b, req)) {
		blk_log(b, "%s: no room in the submission queue", blk_type_name(req->type));
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	b->inflight++;
}

/* Move past segments with nothing to do; false when none is left. */
static bool blk_dwz_skip_empty(struct blk_req *req)
{
	while (req->seg < req->nseg && req->segs[req->seg].num == 0)
		req->seg++;
	return req->seg < req->nseg;
}

/* Drop @n transferred bytes from the front of the request's iovec window. */
static void blk_advance(struct blk_req *req, uint64_t n)
{
	req->offset += n;
	req->left -= n;
	while (n && req->iovcnt) {
		if (n < req->iov->iov_len) {
			req->iov->iov_base = (uint8_t *)req->iov->iov_base + n;
			req->iov->iov_len -= n;
			return;
		}
		n -= req->iov->iov_len;
		req->iov++;
		req->iovcnt--;
	}
}

/*
 * An operation of @req completed with @res. Returns true when the request
 * holds an operation in the ring again (resubmitted or next step).
 */
static bool blk_io_done(struct blk *b, struct blk_req *req, int res)
{
	const char *what = blk_type_name(req->type);

	if (res == -EAGAIN || res == -EINTR) {
		if (++req->retries <= BLK_MAX_RETRIES && blk_issue(b, req))
			return true;
		blk_log(b, "%s: gave up after %u retries: %s", what, req->retries,
			evvm_strerror(res));
		goto ioerr;
	}

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (res < 0) {
			blk_log(b, "%s at byte %llu: %s", what, (unsigned long long)req->offset,
				evvm_strerror(res));
			goto ioerr;
		}
		if (res == 0 || (uint64_t)res > req->left) {
			/* The file shrank under us, or the kernel misbehaved. */
			blk_log(b, "%s at byte %llu: %s", what, (unsigned long long)req->offset,
				res ? "transferred more than asked" : "unexpected end of file");
			goto ioerr;
		}
		if (req->type == VIRTIO_BLK_T_IN)
			req->written += res;
		blk_advance(req, res);
		req->retries = 0;
		if (!req->left)
			break;
		if (blk_issue(b, req)) /* short transfer: the rest */
			return true;
		goto ioerr;
	case VIRTIO_BLK_T_FLUSH:
		if (res < 0) {
			blk_log(b, "flush: %s", evvm_strerror(res));
			goto ioerr;
		}
		break;
	default: /* DISCARD, WRITE_ZEROES */
		if (req->syncing) {
			if (res < 0) {
				blk_log(b, "%s: sync: %s", what, evvm_strerror(res));
				goto ioerr;
			}
			break;
		}
		if (res == -EOPNOTSUPP && (req->mode & FALLOC_FL_ZERO_RANGE) && b->can_punch) {
			/* Learnt once per device: punch and allocate from now on. */
			b->no_zero_range = true;
			req->mode = blk_dwz_mode(b, req);
			if (blk_issue(b, req))
				return true;
			goto ioerr;
		}
		if (res == -EOPNOTSUPP && req->mode == ALLOCATE)
			res = 0; /* no preallocation here: the punched range reads zeroes anyway */
		if (res < 0) {
			blk_log(b, "%s of sectors %llu+%u: %s", what,
				(unsigned long long)req->segs[req->seg].sector,
				req->segs[req->seg].num, evvm_strerror(res));
			goto ioerr;
		}
		req->retries = 0;
		if (req->type == VIRTIO_BLK_T_WRITE_ZEROES && req->mode == PUNCH &&
		    !req->segs[req->seg].unmap) {
			/* Zeroed by punching, but the driver did not allow unmapping. */
			req->mode = ALLOCATE;
		} else {
			req->seg++;
			if (blk_dwz_skip_empty(req))
				req->mode = blk_dwz_mode(b, req);
			else if (b->writethrough)
				req->syncing = true; /* stable before it completes */
			else
				break;
		}
		if (blk_issue(b, req))
			return true;
		goto ioerr;
	}
	blk_finish(b, req, VIRTIO_BLK_S_OK);
	return false;
ioerr:
	blk_finish(b, req, VIRTIO_BLK_S_IOERR);
	return false;
}

/* Whether [sector, sector + n) lies on the disk; no overflow for any input. */
static bool blk_in_range(const struct blk *b, uint64_t sector, uint64_t n)
{
	return sector <= b->capacity && n <= b->capacity - sector;
}

/*
 * Try to move the rest of an IN/OUT on the I/O thread without blocking.
 * Returns true when it is complete; otherwise what remains goes to the ring.
 */
static bool blk_rw_inline(struct blk *b, struct blk_req *req)
{
	bool in = req->type == VIRTIO_BLK_T_IN;
	int flags = b->writethrough && !in ? RWF_DSYNC : 0;
	ssize_t n;

	if (b->inline_io == BLK_INLINE_NEVER)
		return false;
	if (b->inline_io == BLK_INLINE_NOWAIT)
		flags |= RWF_NOWAIT;
	do {
		n = in ? preadv2(b->fd, req->iov, req->iovcnt, req->offset, flags)
		       : pwritev2(b->fd, req->iov, req->iovcnt, req->offset, flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* Learnt once: a file system without RWF_NOWAIT uses the ring. */
		if (errno == EOPNOTSUPP && b->inline_io == BLK_INLINE_NOWAIT)
			b->inline_io = BLK_INLINE_NEVER;
		return false; /* EAGAIN (would block), or an error the ring reports */
	}
	if (n == 0 || (uint64_t)n > req->left)
		return false; /* end of file or worse: the ring's path reports it */
	if (in)
		req->written += n;
	blk_advance(req, n);
	return req->left == 0;
}

/* IN or OUT: check the data and start the transfer. */
static void blk_rw(struct blk *b, struct blk_req *req, uint64_t sector, struct iovec *iov,
		   unsigned int iovcnt, uint64_t len)
{
	if (len % SECTOR_SIZE || !blk_in_range(b, sector, len >> SECTOR_SHIFT)) {
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (!len) {
		blk_finish(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	req->iov = iov;
	req->iovcnt = iovcnt;
	req->offset = sector << SECTOR_SHIFT;
	req->left = len;
	if (blk_rw_inline(b, req)) {
		blk_finish(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	blk_start_io(b, req);
}

/* DISCARD or WRITE_ZEROES: read and check every segment before doing any. */
static void blk_dwz(struct blk *b, struct blk_req *req, uint64_t data_len)
{
	struct virtio_blk_dwz_seg raw[BLK_DWZ_MAX_SEG];
	const struct vq_elem *e = &req->elem;
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	uint32_t max = discard ? le32toh(b->config.max_discard_sectors)
			       : le32toh(b->config.max_write_zeroes_sectors);
	unsigned int n;

	if (!data_len || data_len % sizeof(raw[0]) || data_len / sizeof(raw[0]) > BLK_DWZ_MAX_SEG) {
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	n = data_len / sizeof(raw[0]);
	iov_to_buf(e->iov, e->out_num, sizeof(struct virtio_blk_req_hdr), raw, n * sizeof(raw[0]));
	for (unsigned int i = 0; i < n; i++) {
		struct blk_seg *s = &req->segs[i];
		uint32_t flags = le32toh(raw[i].flags);

		s->sector = le64toh(raw[i].sector);
		s->num = le32toh(raw[i].num_sectors);
		s->unmap = flags & VIRTIO_BLK_WZ_F_UNMAP;
		/* 5.2.6.2: unknown flags, and unmap on a discard, are UNSUPP. */
		if ((flags & ~VIRTIO_BLK_WZ_F_UNMAP) || (discard && s->unmap)) {
			blk_finish(b, req, VIRTIO_BLK_S_UNSUPP);
			return;
		}
		if (s->num > max || !blk_in_range(b, s->sector, s->num)) {
			blk_finish(b, req, VIRTIO_BLK_S_IOERR);
			return;
		}
	}
	req->nseg = n;
	req->seg = 0;
	req->syncing = false;
	if (!blk_dwz_skip_empty(req)) {
		blk_finish(b, req, VIRTIO_BLK_S_OK);
		return;
	}
	req->mode = blk_dwz_mode(b, req);
	blk_start_io(b, req);
}

static void blk_get_id(struct blk *b, struct blk_req *req, struct iovec *iov, unsigned int iovcnt,
		       uint64_t len)
{
	size_t n = len < VIRTIO_BLK_ID_BYTES ? len : VIRTIO_BLK_ID_BYTES;

	req->written = iov_from_buf(iov, iovcnt, 0, b->serial, n);
	blk_finish(b, req, VIRTIO_BLK_S_OK);
}

/*
 * Parse a popped chain and start it (or complete it at once). Returns false
 * when the chain is unusable and the device has been failed.
 */
static bool blk_request(struct blk *b, unsigned int q, struct blk_req *req)
{
	struct virtio_blk_req_hdr hdr;
	struct vq_elem *e = &req->elem;
	uint64_t features = b->dev->features;
	unsigned int last, skip_idx;
	uint64_t sector, skip;

	req->q = q;
	req->written = 0;
	req->out_bytes = 0;
	req->retries = 0;
	req->mode = 0;

	/* The status byte: the last byte of the last non-empty writable buffer. */
	req->status = NULL;
	for (last = e->out_num + e->in_num; last-- > e->out_num;) {
		if (e->iov[last].iov_len) {
			e->iov[last].iov_len--;
			req->status = (uint8_t *)e->iov[last].iov_base + e->iov[last].iov_len;
			break;
		}
	}
	if (!req->status) {
		/* Nowhere to say anything: a driver bug the device cannot answer. */
		blk_log(b, "request (head %u) has no status byte", e->head);
		blk_req_put(b, req);
		b->failed = true;
		virtio_dev_fail(b->dev);
		return false;
	}

	/* The header may be split over any number of readable buffers. */
	if (iov_to_buf(e->iov, e->out_num, 0, &hdr, sizeof(hdr)) < sizeof(hdr)) {
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return true;
	}
	req->type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		/* Data: the writable buffers, less the status byte. */
		blk_rw(b, req, sector, &e->iov[e->out_num], last - e->out_num + 1, e->in_len - 1);
		return true;
	case VIRTIO_BLK_T_GET_ID:
		blk_get_id(b, req, &e->iov[e->out_num], last - e->out_num + 1, e->in_len - 1);
		return true;
	case VIRTIO_BLK_T_FLUSH:
		blk_start_io(b, req);
		return true;
	case VIRTIO_BLK_T_OUT:
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		break;
	default:
		blk_finish(b, req, VIRTIO_BLK_S_UNSUPP);
		return true;
	}

	/* Everything below changes the disk. */
	if (b->readonly) {
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return true;
	}
	if ((req->type == VIRTIO_BLK_T_DISCARD && !(features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD))) ||
	    (req->type == VIRTIO_BLK_T_WRITE_ZEROES &&
	     !(features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)))) {
		blk_finish(b, req, VIRTIO_BLK_S_UNSUPP);
		return true;
	}
	if (req->type != VIRTIO_BLK_T_OUT) {
		blk_dwz(b, req, e->out_len - sizeof(hdr));
		return true;
	}

	/* OUT data: the readable buffers after the header's 16 bytes. */
	skip = sizeof(hdr);
	for (skip_idx = 0; skip && skip_idx < e->out_num; skip_idx++) {
		if (skip < e->iov[skip_idx].iov_len) {
			e->iov[skip_idx].iov_base = (uint8_t *)e->iov[skip_idx].iov_base + skip;
			e->iov[skip_idx].iov_len -= skip;
			break;
		}
		skip -= e->iov[skip_idx].iov_len;
	}
	req->out_bytes = e->out_len - sizeof(hdr);
	blk_rw(b, req, sector, &e->iov[skip_idx], e->out_num - skip_idx, req->out_bytes);
	return true;
}

/* What a request costs the bandwidth bucket: its buffers less header and status. */
static uint64_t blk_req_bytes(const struct blk_req *req)
{
	uint64_t all = (uint64_t)req->elem.in_len + req->elem.out_len;

	return all > sizeof(struct virtio_blk_req_hdr) + 1
		       ? all - sizeof(struct virtio_blk_req_hdr) - 1
		       : 0;
}

/* The request that waited for tokens: start it if they are there now. */
static bool blk_throttled_go(struct blk *b)
{
	struct blk_req *req = b->throttled;

	if (ratelimit_admit(&b->rl, blk_req_bytes(req), ratelimit_now()))
		return false;
	b->throttled = NULL;
	blk_request(b, b->throttled_q, req);
	return !b->failed;
}

/*
 * Pop and start everything available on queue @q, with driver kicks off
 * meanwhile; turn them back on, and look again, before going idle.
 */
static void blk_drain(struct blk *b, unsigned int q)
{
	struct evvm_vq *vq = &b->dev->vqs[q];
	bool notify_on = false;

	b->stalled &= ~(1u << q);
	if (!vq->ready)
		return;
	if (b->throttled && !blk_throttled_go(b)) {
		b->stalled |= 1u << q; /* the timer drains it */
		return;
	}
	vq_set_notify(vq, false);
	for (;;) {
		struct blk_req *req;
		int r;

		if (b->failed)
			return;
		if (b->inflight >= BLK_RING_ENTRIES) {
			/* Only with a queue larger than queue_max; completions resume us. */
			b->stalled |= 1u << q;
			return;
		}
		req = blk_req_get(b);
		if (!req) {
			blk_log(b, "out of memory for a request");
			if (b->inflight) {
				b->stalled |= 1u << q; /* retried when one completes */
				return;
			}
			vq_set_notify(vq, true); /* retried at the next kick */
			return;
		}
		r = vq_pop(vq, &req->elem);
		if (r <= 0) {
			blk_req_put(b, req);
			if (r < 0) {
				/* vq_pop() logged the fault; the queue is broken. */
				b->failed = true;
				virtio_dev_fail(b->dev);
				return;
			}
			if (notify_on)
				return;
			vq_set_notify(vq, true);
			notify_on = true;
			continue; /* what came in before the driver could see it */
		}
		if (notify_on) {
			vq_set_notify(vq, false);
			notify_on = false;
		}
		__atomic_fetch_add(&b->requests[q], 1, __ATOMIC_RELAXED);
		if (b->rl.on && ratelimit_admit(&b->rl, blk_req_bytes(req), ratelimit_now())) {
			/* Kicks stay off: the timer comes back for it and the rest. */
			__atomic_store_n(&b->throttled_events, b->throttled_events + 1,
					 __ATOMIC_RELAXED);
			b->throttled = req;
			b->throttled_q = q;
			b->stalled |= 1u << q;
			return;
		}
		if (!blk_request(b, q, req))
			return;
	}
}

static void blk_notify_pushed(struct blk *b)
{
	for (unsigned int q = 0; b->pushed; q++) {
		if (b->pushed & (1u << q)) {
			b->pushed &= ~(1u << q);
			virtio_dev_notify(b->dev, q);
		}
	}
}

/* I/O thread: the ring posted completions. */
static void blk_on_completion(void *opaque, uint32_t events)
{
	struct blk *b = opaque;
	struct io_uring_cqe *cqe;
	uint64_t v;

	(void)events;
	/* Clear first: completions posted from here on signal again. */
	if (read(b->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		blk_log(b, "completion eventfd: %s", evvm_strerror(errno));
	if (!b->started || b->paused)
		return;
	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct blk_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&b->ring, cqe);
		if (!blk_io_done(b, req, res))
			b->inflight--;
	}
	for (unsigned int q = 0; b->stalled && q < b->ops.nr_queues; q++)
		if (b->stalled & (1u << q))
			blk_drain(b, q);
	blk_submit(b);
	blk_notify_pushed(b);
}

static void blk_kick(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct blk *b = dev->priv;

	if (!b->started || b->failed || b->paused || q >= b->ops.nr_queues)
		return;
	blk_drain(b, q);
	blk_submit(b);
	blk_notify_pushed(b);
}

/* I/O thread: the rate limiter's timer; the waiting request may go, and what queued behind it. */
static void blk_on_rl_timer(void *opaque, uint32_t events)
{
	struct blk *b = opaque;
	uint64_t n;

	(void)events;
	if (read(b->rl.timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		blk_log(b, "rate limiter timer: %s", evvm_strerror(errno));
	if (!b->started || b->paused || b->failed)
		return;
	for (unsigned int q = 0; q < b->ops.nr_queues && !b->failed; q++)
		if (b->stalled & (1u << q))
			blk_drain(b, q);
	blk_submit(b);
	blk_notify_pushed(b);
}

static int blk_rl_watch(struct blk *b, struct evvm_loop *loop)
{
	int err;

	if (b->rl_loop || b->rl.timer_fd < 0)
		return 0;
	err = loop_add(loop, b->rl.timer_fd, EPOLLIN, blk_on_rl_timer, b);
	if (err)
		pr_err("%s: watching the rate limiter: %s", b->dev->id, evvm_strerror(err));
	else
		b->rl_loop = loop;
	return err;
}

static void blk_rl_unwatch(struct blk *b)
{
	if (b->rl_loop)
		loop_del(b->rl_loop, b->rl.timer_fd);
	b->rl_loop = NULL;
}

static int blk_start(struct evvm_virtio_dev *dev)
{
	struct blk *b = dev->priv;
	int err;

	if (!b->watch_loop) {
		err = loop_add(dev->loop, b->efd, EPOLLIN, blk_on_completion, b);
		if (err) {
			pr_err("%s: watching completions: %s", dev->id, evvm_strerror(err));
			return err;
		}
		b->watch_loop = dev->loop;
	}
	err = blk_rl_watch(b, dev->loop);
	if (err)
		return err;
	b->writethrough = !(dev->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	b->failed = false;
	b->paused = false;
	b->pushed = 0;
	b->stalled = 0;
	b->started = true;
	return 0;
}

/*
 * Wait for every request in the ring. @complete: as if its completions had
 * come through blk_on_completion() (pushed, the driver notified; pausing);
 * else dropped with nothing pushed and the status bytes left alone (the
 * device is being reset). Pops nothing new. Returns 0, or -errno when the
 * ring cannot be waited on.
 */
static int blk_wait_inflight(struct blk *b, bool complete, const char *why)
{
	while (b->inflight) {
		struct io_uring_cqe *cqe;
		int r;

		/* Submits anything still queued (a failed submit), then waits. */
		r = io_uring_submit_and_wait(&b->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			pr_err("%s: %s: waiting for %u requests in flight: %s", b->dev->id, why,
			       b->inflight, evvm_strerror(r));
			return r;
		}
		while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
			struct blk_req *req = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&b->ring, cqe);
			if (!complete) {
				blk_req_put(b, req);
				b->inflight--;
			} else if (!blk_io_done(b, req, res)) {
				/* (a short transfer goes on with its next operation) */
				b->inflight--;
			}
		}
		if (complete)
			blk_submit(b);
	}
	if (complete)
		blk_notify_pushed(b);
	return 0;
}

static void blk_quiesce(struct blk *b)
{
	blk_wait_inflight(b, false, "reset");
}

static int blk_quiesce_op(struct evvm_virtio_dev *dev, bool quiesced)
{
	struct blk *b = dev->priv;
	int err;

	if (!b->started)
		return 0;
	if (!quiesced) {
		b->paused = false;
		/* Queues that stalled, or were kicked while paused, are looked at again. */
		for (unsigned int q = 0; q < b->ops.nr_queues && !b->failed; q++)
			blk_drain(b, q);
		blk_submit(b);
		blk_notify_pushed(b);
		return 0;
	}
	b->paused = true;
	err = blk_wait_inflight(b, true, "pause");
	if (err)
		b->paused = false;
	return err;
}

static void blk_stop(struct evvm_virtio_dev *dev)
{
	struct blk *b = dev->priv;
	uint64_t v;

	blk_quiesce(b);
	if (b->throttled) /* cancelled with the queues, as those in flight are */
		blk_req_put(b, b->throttled);
	b->throttled = NULL;
	ratelimit_disarm(&b->rl);
	blk_rl_unwatch(b);
	b->started = false;
	b->pushed = 0;
	b->stalled = 0;
	/*
	 * Unwatch now rather than in destroy(): this runs on the I/O thread,
	 * while destroy() may run after the loop is gone.
	 */
	if (b->watch_loop) {
		loop_del(b->watch_loop, b->efd);
		b->watch_loop = NULL;
	}
	if (read(b->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("%s: completion eventfd: %s", dev->id, evvm_strerror(errno));
	blk_free_reqs(b);
}

static void blk_free(struct blk *b)
{
	if (b->ring_ok) {
		blk_quiesce(b);
		io_uring_queue_exit(&b->ring);
	}
	if (b->efd >= 0)
		close(b->efd);
	if (b->fd >= 0)
		close(b->fd); /* drops the flock */
	blk_free_reqs(b);
	ratelimit_fini(&b->rl);
	pthread_mutex_destroy(&b->config_lock);
	free(b->path);
	free(b);
}

static void blk_destroy(struct evvm_virtio_dev *dev)
{
	struct blk *b = dev->priv;

	if (!b)
		return;
	if (b->watch_loop)
		loop_del(b->watch_loop, b->efd); /* stop() was not called */
	blk_rl_unwatch(b);
	if (b->throttled)
		blk_req_put(b, b->throttled);
	b->throttled = NULL;
	blk_free(b);
	dev->priv = NULL;
}

static void blk_config_read(struct evvm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
	struct blk *b = dev->priv;

	pthread_mutex_lock(&b->config_lock);
	memcpy(data, (const uint8_t *)&b->config + offset, len);
	pthread_mutex_unlock(&b->config_lock);
}

static void blk_config_write(struct evvm_virtio_dev *dev, uint32_t offset, const void *data,
			     uint32_t len)
{
	/* Nothing is writable without VIRTIO_BLK_F_CONFIG_WCE, which is not offered. */
	(void)dev;
	(void)offset;
	(void)data;
	(void)len;
}

static const char *const blk_counter_names[EVVM_VIRTIO_MAX_QUEUES] = {
	"q0_requests",	"q1_requests",	"q2_requests",	"q3_requests",
	"q4_requests",	"q5_requests",	"q6_requests",	"q7_requests",
	"q8_requests",	"q9_requests",	"q10_requests", "q11_requests",
	"q12_requests", "q13_requests", "q14_requests", "q15_requests",
};

/* Completed requests by kind (Firecracker's names), then requests taken from each queue. */
static unsigned int blk_counters(struct evvm_virtio_dev *dev, struct evvm_dev_counter *out,
				 unsigned int max)
{
	const struct blk *b = dev->priv;
	const struct evvm_dev_counter done[] = {
#define C(f) { #f, __atomic_load_n(&b->done.f, __ATOMIC_RELAXED) }
		C(read_count),
		C(write_count),
		C(read_bytes),
		C(write_bytes),
		C(flush_count),
		C(invalid_reqs_count),
		C(execute_fails),
#undef C
		{ "rate_limiter_throttled_events",
		  __atomic_load_n(&b->throttled_events, __ATOMIC_RELAXED) },
	};
	unsigned int n = 0;

	for (unsigned int i = 0; i < sizeof(done) / sizeof(done[0]) && n < max; i++)
		out[n++] = done[i];
	for (unsigned int q = 0; q < b->ops.nr_queues && n < max; q++, n++) {
		out[n].name = blk_counter_names[q];
		out[n].value = __atomic_load_n(&b->requests[q], __ATOMIC_RELAXED);
	}
	return n;
}

static int blk_clone(struct evvm_virtio_dev *dev, struct evvm_virtio_dev **out);
static int blk_save(struct evvm_virtio_dev *dev, void *buf, size_t cap);

static const struct evvm_device_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_max = BLK_QUEUE_MAX,
	.config_size = sizeof(struct virtio_blk_config),
	.resubmit_ok = true,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.start = blk_start,
	.kick = blk_kick,
	.stop = blk_stop,
	.quiesce = blk_quiesce_op,
	.destroy = blk_destroy,
	.counters = blk_counters,
	.clone = blk_clone,
	.save = blk_save,
};

/*
 * Whether the file system punches holes. The probe punches one sector just
 * past the end of the file: the VFS passes it on to the file system, which
 * refuses a mode it lacks (EOPNOTSUPP) before looking at the range, yet the
 * range holds no data, and KEEP_SIZE leaves the size alone. (A length of 0
 * would prove nothing: the VFS rejects it with EINVAL before asking the
 * file system.) ZERO_RANGE is not probed the same way, since past the end
 * it would allocate blocks there; it is tried on first use instead, with
 * punch-then-allocate as the fallback.
 */
static bool blk_probe_punch(int fd, uint64_t size)
{
	return fallocate(fd, PUNCH, (off_t)size, SECTOR_SIZE) == 0;
}

/* tmpfs keeps file data in memory: I/O on it never waits for a device. */
static bool blk_memory_backed(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* Open, lock and size the disk; fills b->fd, capacity, bdev. */
static int blk_open(struct blk *b, const char *path, bool readonly)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	bool excl = false;
	struct stat st;
	uint64_t size;
	int err;

	/*
	 * A writable block device is claimed exclusively: the kernel answers
	 * EBUSY while the host has it mounted (or another program claimed it),
	 * so the guest cannot corrupt a file system the host is using.
	 */
	if (!readonly && stat(path, &st) == 0 && S_ISBLK(st.st_mode)) {
		flags |= O_EXCL;
		excl = true;
	}
	b->fd = open(path, flags);
	if (b->fd < 0) {
		err = -errno;
		if (excl && err == -EBUSY)
			pr_err("disk '%s': block device in use by the host (mounted, or claimed by "
			       "another program): EBUSY; unmount it or use readonly=on",
			       path);
		else
			pr_err("disk '%s': open: %s", path, evvm_strerror(err));
		return err;
	}
	if (fstat(b->fd, &st) < 0) {
		err = -errno;
		pr_err("disk '%s': stat: %s", path, evvm_strerror(err));
		return err;
	}
	if (S_ISBLK(st.st_mode) && !readonly && !excl) {
		pr_err("disk '%s': became a block device while being opened", path);
		return -EAGAIN;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
			err = -errno;
			pr_err("disk '%s': BLKGETSIZE64: %s", path, evvm_strerror(err));
			return err;
		}
		b->bdev = true;
	} else if (S_ISREG(st.st_mode)) {
		size = st.st_size;
	} else {
		pr_err("disk '%s': not a regular file or a block device", path);
		return -EINVAL;
	}
	if (size % SECTOR_SIZE) {
		pr_err("disk '%s': size %llu is not a multiple of %u bytes", path,
		       (unsigned long long)size, SECTOR_SIZE);
		return -EINVAL;
	}
	/* Two VMs writing one disk corrupt it: one writer, or any number of readers. */
	if (flock(b->fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		err = -errno;
		if (err == -EWOULDBLOCK)
			pr_err("disk '%s': in use by another process", path);
		else
			pr_err("disk '%s': lock: %s", path, evvm_strerror(err));
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	b->capacity = size >> SECTOR_SHIFT;
	b->inline_io = blk_memory_backed(b->fd) ? BLK_INLINE_MEMORY : BLK_INLINE_NOWAIT;
	if (!readonly && !b->bdev)
		b->can_punch = blk_probe_punch(b->fd, size);
	b->blksize = st.st_blksize;
	return 0;
}

/* The features offered, and the config space that goes with them. */
static uint64_t blk_features(struct blk *b, const struct blk_config *cfg)
{
	uint64_t f;

	f = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
	    VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
	    VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	b->config.capacity = htole64(b->capacity);
	b->config.seg_max = htole32(BLK_SEG_MAX);
	b->config.blk_size = htole32(SECTOR_SIZE);
	if (cfg->queues) {
		f |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
		b->config.num_queues = htole16(cfg->queues);
	}
	if (b->readonly)
		f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	if (!b->readonly && b->can_punch) {
		f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
		b->config.max_discard_sectors = htole32(BLK_DWZ_MAX_SECTORS);
		b->config.max_discard_seg = htole32(BLK_DWZ_MAX_SEG);
		b->config.discard_sector_alignment =
			htole32(b->blksize > SECTOR_SIZE ? b->blksize >> SECTOR_SHIFT : 1);
	}
	/* A block device zeroes with ZERO_RANGE (the kernel writes zeroes if it must). */
	if (!b->readonly && (b->can_punch || b->bdev)) {
		f |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
		b->config.max_write_zeroes_sectors = htole32(BLK_DWZ_MAX_SECTORS);
		b->config.max_write_zeroes_seg = htole32(BLK_DWZ_MAX_SEG);
		b->config.write_zeroes_may_unmap = b->can_punch;
	}
	return f;
}

/* The io_uring and its completion eventfd; @what names the disk in messages. */
static int blk_ring_init(struct blk *b, const char *what)
{
	int err;

	err = io_uring_queue_init(BLK_RING_ENTRIES, &b->ring, 0);
	if (err) {
		pr_err("disk '%s': io_uring_queue_init: %s", what, evvm_strerror(err));
		return err;
	}
	b->ring_ok = true;
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		err = -errno;
		pr_err("disk '%s': eventfd: %s", what, evvm_strerror(err));
		return err;
	}
	err = io_uring_register_eventfd(&b->ring, b->efd);
	if (err)
		pr_err("disk '%s': io_uring_register_eventfd: %s", what, evvm_strerror(err));
	return err;
}

/*
 * Another instance on the same disk (ops->clone): the fd is duplicated, so
 * the lock taken at create (which belongs to the open file) is shared and
 * held until the last instance closes; what was learnt about the file and
 * the config are copied; the ring, the request pool and every counter are
 * the clone's own.
 */
static int blk_clone(struct evvm_virtio_dev *dev, struct evvm_virtio_dev **out)
{
	const struct blk *src = dev->priv;
	struct evvm_virtio_dev *cdev = calloc(1, sizeof(*cdev));
	struct blk *b = calloc(1, sizeof(*b));
	int err;

	if (!cdev || !b) {
		free(cdev);
		free(b);
		pr_err("%s: clone: %s", dev->id, evvm_strerror(ENOMEM));
		return -ENOMEM;
	}
	b->efd = -1;
	ratelimit_init(&b->rl); /* clones serve vhost-user rings: no rate limit */
	b->log = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(BLK_LOG_BURST);
	b->dev = cdev;
	b->readonly = src->readonly;
	b->bdev = src->bdev;
	b->can_punch = src->can_punch;
	b->inline_io = src->inline_io;
	b->no_zero_range = src->no_zero_range;
	b->capacity = src->capacity;
	b->blksize = src->blksize;
	memcpy(b->serial, src->serial, sizeof(b->serial));
	b->config = src->config;
	b->ops = src->ops;
	cdev->priv = b;
	cdev->ops = &b->ops;
	cdev->host_features = dev->host_features;
	snprintf(cdev->id, sizeof(cdev->id), "%s", dev->id);
	b->fd = fcntl(src->fd, F_DUPFD_CLOEXEC, 0);
	if (b->fd < 0) {
		err = -errno;
		pr_err("%s: clone: dup: %s", dev->id, evvm_strerror(err));
		goto fail;
	}
	err = blk_ring_init(b, dev->id);
	if (err)
		goto fail;
	*out = cdev;
	return 0;
fail:
	blk_free(b);
	free(cdev);
	return err;
}

/* What a snapshot records of the file; a failed copy keeps the old name (logged). */
static void blk_note_path(struct blk *b, const char *path)
{
	char *p = strdup(path);

	if (!p) {
		pr_warn("%s: out of memory for the disk's new name", b->dev->id);
		return;
	}
	free(b->path);
	b->path = p;
}

/*
 * ops->save(): the disk's configuration and its buckets' levels
 * (devices/persist.h); nothing is in flight.
 */
static int blk_save(struct evvm_virtio_dev *dev, void *buf, size_t cap)
{
	static const struct evvm_rate_limit none;
	struct blk *b = dev->priv;
	struct blk_persist p = {
		.cfg = {
			.capacity = b->capacity,
			.queues = (dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ))
					  ? b->ops.nr_queues : 0,
			.readonly = b->readonly,
			.path_len = b->path ? (uint32_t)strlen(b->path) : 0,
		},
	};

	if (!b->path)
		return -ENOTSUP; /* a clone serving queues for another device */
	if (p.cfg.path_len > BLK_PERSIST_PATH_MAX || cap < sizeof(p) + p.cfg.path_len)
		return -ENOSPC;
	memcpy(p.cfg.serial, b->serial, sizeof(p.cfg.serial));
	ratelimit_save(&b->rl, ratelimit_now(), &p.cfg.rate_limit, &p.rate_level);
	p.cfg.rate_limited = memcmp(&p.cfg.rate_limit, &none, sizeof(none)) != 0;
	memcpy(buf, &p, sizeof(p));
	memcpy((char *)buf + sizeof(p), b->path, p.cfg.path_len);
	return (int)(sizeof(p) + p.cfg.path_len);
}

void blk_set_rate_level(struct evvm_virtio_dev *dev, const struct ratelimit_level *level)
{
	struct blk *b = dev->priv;

	ratelimit_set_level(&b->rl, level, ratelimit_now());
}

int blk_create(const char *id, const struct blk_config *cfg, struct evvm_virtio_dev **out)
{
	struct evvm_virtio_dev *dev;
	struct blk *b;
	const char *serial;
	int err;

	if (!cfg || !cfg->path) {
		pr_err("%s: no disk given", id);
		return -EINVAL;
	}
	if (cfg->queues > EVVM_VIRTIO_MAX_QUEUES) {
		pr_err("disk '%s': %u queues (1 to %d)", cfg->path, cfg->queues,
		       EVVM_VIRTIO_MAX_QUEUES);
		return -EINVAL;
	}
	if (cfg->serial && strlen(cfg->serial) > VIRTIO_BLK_ID_BYTES) {
		pr_err("disk '%s': serial '%s' is longer than %d bytes", cfg->path, cfg->serial,
		       VIRTIO_BLK_ID_BYTES);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	b = calloc(1, sizeof(*b));
	if (!dev || !b) {
		free(dev);
		free(b);
		pr_err("disk '%s': %s", cfg->path, evvm_strerror(ENOMEM));
		return -ENOMEM;
	}
	b->fd = -1;
	b->efd = -1;
	ratelimit_init(&b->rl);
	pthread_mutex_init(&b->config_lock, NULL);
	b->log = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(BLK_LOG_BURST);
	b->dev = dev;
	b->readonly = cfg->readonly;
	dev->priv = b;
	b->ops = blk_ops;
	b->ops.nr_queues = cfg->queues ? cfg->queues : 1;
	dev->ops = &b->ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);
	/* NUL-padded, no terminator at 20 bytes (5.2.6). */
	serial = cfg->serial ? cfg->serial : id;
	memcpy(b->serial, serial, strnlen(serial, VIRTIO_BLK_ID_BYTES));

	err = blk_open(b, cfg->path, cfg->readonly);
	if (err)
		goto fail;
	b->path = strdup(cfg->path);
	if (!b->path) {
		err = -ENOMEM;
		goto fail;
	}
	/* Made now: a limit PATCHed in later is set on the I/O thread, whose seccomp list has no timerfd_create. */
	err = ratelimit_prepare(&b->rl);
	if (!err)
		err = ratelimit_set(&b->rl, cfg->rate_limit, ratelimit_now());
	if (err) {
		pr_err("disk '%s': rate limiter timer: %s", cfg->path, evvm_strerror(err));
		goto fail;
	}
	err = blk_ring_init(b, cfg->path);
	if (err)
		goto fail;

	dev->host_features = blk_features(b, cfg);
	pr_info("%s: disk '%s': %llu sectors, %u queue%s%s%s", dev->id, cfg->path,
		(unsigned long long)b->capacity, b->ops.nr_queues, b->ops.nr_queues == 1 ? "" : "s",
		b->readonly ? ", read-only" : "", b->can_punch ? ", discard" : "");
	*out = dev;
	return 0;
fail:
	blk_free(b);
	free(dev);
	return err;
}

struct blk_swap {
	struct evvm_virtio_dev *dev;
	const char *path;
	struct blk *nb; /* opened by blk_set_path() */
};

/* Take @nb's file (opened by blk_open) as the disk; nothing is in flight. */
static void blk_take_file(struct blk *b, struct blk *nb)
{
	uint64_t cap = htole64(nb->capacity);

	close(b->fd);
	b->fd = nb->fd;
	nb->fd = -1;
	b->bdev = nb->bdev;
	b->inline_io = nb->inline_io;
	b->can_punch = nb->can_punch;
	b->no_zero_range = false;
	b->blksize = nb->blksize;
	b->capacity = nb->capacity;
	pthread_mutex_lock(&b->config_lock);
	memcpy(&b->config.capacity, &cap, sizeof(cap));
	pthread_mutex_unlock(&b->config_lock);
}

/* On the I/O thread, between two requests. */
static int blk_swap_on_loop(void *opaque)
{
	struct blk_swap *a = opaque;
	struct blk *b = a->dev->priv;
	int err = 0;

	if (b->started && !b->paused)
		err = blk_wait_inflight(b, true, "path swap");
	if (err)
		return err;
	blk_take_file(b, a->nb);
	pr_info("%s: disk '%s': %llu sectors%s", a->dev->id, a->path,
		(unsigned long long)b->capacity, b->readonly ? ", read-only" : "");
	if (b->started && !b->paused) {
		/* What was popped meanwhile waits no longer. */
		for (unsigned int q = 0; q < b->ops.nr_queues && !b->failed; q++)
			blk_drain(b, q);
		blk_submit(b);
		blk_notify_pushed(b);
	}
	return 0;
}

int blk_set_path(struct evvm_virtio_dev *dev, const char *path)
{
	struct blk nb = { .fd = -1 };
	struct blk_swap a = { dev, path, &nb };
	struct blk *b = dev->priv;
	int err;

	if (dev->ops->kick != blk_kick) {
		pr_err("%s: not a virtio-blk disk evvm serves", dev->id);
		return -ENOTSUP;
	}
	/*
	 * Opened here, not on the I/O thread, whose seccomp list has no open,
	 * flock or stat. The old file's lock goes first: the new path may name
	 * the same file. Only the swap itself runs between requests.
	 */
	if (flock(b->fd, LOCK_UN) < 0)
		pr_warn("%s: unlock the old file: %s", dev->id, evvm_strerror(-errno));
	err = blk_open(&nb, path, b->readonly);
	if (!err)
		err = loop_call(dev->loop, blk_swap_on_loop, &a);
	if (err) {
		if (nb.fd >= 0)
			close(nb.fd);
		if (flock(b->fd, (b->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
			pr_err("%s: the old file cannot be locked again: %s", dev->id,
			       evvm_strerror(-errno));
		return err;
	}
	blk_note_path(b, path);
	if (dev->config_changed)
		dev->config_changed(dev);
	return err;
}

struct blk_rl_arg {
	struct evvm_virtio_dev *dev;
	const struct evvm_rate_limit *rl;
};

static int blk_set_rl_on_loop(void *opaque)
{
	struct blk_rl_arg *a = opaque;
	struct blk *b = a->dev->priv;
	int err = ratelimit_set(&b->rl, a->rl, ratelimit_now());

	if (!err && b->started)
		err = blk_rl_watch(b, a->dev->loop);
	if (err)
		return err;
	/* A request waiting under the old limits is judged by the new ones. */
	if (b->started && !b->paused && b->stalled) {
		for (unsigned int q = 0; q < b->ops.nr_queues && !b->failed; q++)
			if (b->stalled & (1u << q))
				blk_drain(b, q);
		blk_submit(b);
		blk_notify_pushed(b);
	}
	return 0;
}

int blk_set_rate_limit(struct evvm_virtio_dev *dev, const struct evvm_rate_limit *rl)
{
	struct blk_rl_arg a = { dev, rl };
	int err;

	if (dev->ops->kick != blk_kick) {
		pr_err("%s: not a virtio-blk disk evvm serves", dev->id);
		return -ENOTSUP;
	}
	err = loop_call(dev->loop, blk_set_rl_on_loop, &a);
	if (err)
		pr_err("%s: rate limiter: %s", dev->id, evvm_strerror(err));
	return err;
}
