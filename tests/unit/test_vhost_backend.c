// SPDX-License-Identifier: MIT
/*
 * The vhost-user backend (vhost/backend.c) against a small frontend in this
 * file. The backend runs on a thread of this process, listening in a
 * temporary directory; the frontend sends messages the way QEMU does, with
 * a memfd as guest RAM, in which it writes descriptors and the avail ring
 * as a guest driver would, kicks through an eventfd and waits on the call
 * eventfd.
 *
 * Guest RAM is mapped to the backend at mmap_offset MAP_OFF of the memfd,
 * at guest address RAM_GPA, under a made-up frontend user address UA_BASE:
 * three different numbers, so a mix-up of any two cannot go unnoticed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* evvm headers first, as everywhere. */
#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "capture.h"
#include "../../vhost/backend.h"
#include "../../vhost/vhost_user.h"

#include <cmocka.h>

#define RAM_GPA	   0x40000000ULL
#define RAM_SIZE   (1u << 20)
#define MAP_OFF	   0x1000ULL	     /* mmap_offset of the region in the memfd */
#define UA_BASE	   0x7e5500000000ULL /* the frontend's "user address" of RAM_GPA */
#define QSIZE	   8
#define DESC_OFF   0x0000
#define AVAIL_OFF  0x1000
#define USED_OFF   0x2000
#define BUF_OFF	   0x4000

#define TIMEOUT_MS 5000

#define PROTO_ALL                                                                             \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |                                           \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                     \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_STATUS))

struct env {
	char dir[64];
	char sock[128];
	char disk[128];
	struct evvm_virtio_dev *dev;
	struct vhost_backend *b;
	pthread_t thread;
	bool running;

	int fd; /* the frontend's connection */
	int memfd;
	uint8_t *ram; /* the whole memfd, mapped here */
	int kick, call, err;
	unsigned int idle_ms; /* the backend's deadline for a first message (0: default) */
	uint16_t avail_idx;   /* the driver's copy */
	uint16_t used_seen;
};

/* ---- environment ---- */

static void *backend_main(void *arg)
{
	struct env *e = arg;

	vhost_backend_run(e->b);
	return NULL;
}

static void start_backend(struct env *e)
{
	const struct vhost_backend_config cfg = { .socket_path = e->sock,
						  .dev = e->dev,
						  .idle_ms = e->idle_ms };

	assert_int_equal(vhost_backend_create(&cfg, &e->b), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, backend_main, e), 0);
	e->running = true;
}

static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/evvm-vub-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
	e->fd = e->memfd = e->kick = e->call = e->err = -1;
	return e;
}

static int setup_rng(void **state)
{
	struct env *e = env_new();

	assert_int_equal(rng_create("rng0", &e->dev), 0);
	start_backend(e);
	*state = e;
	return 0;
}

static int setup_blk(void **state)
{
	struct env *e = env_new();
	struct blk_config cfg = { 0 };
	uint8_t sector[512];
	int fd;

	snprintf(e->disk, sizeof(e->disk), "%s/disk", e->dir);
	fd = open(e->disk, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	for (unsigned int i = 0; i < sizeof(sector); i++)
		sector[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(pwrite(fd, sector, sizeof(sector), 0), (ssize_t)sizeof(sector));
	close(fd);
	cfg.path = e->disk;
	assert_int_equal(blk_create("blk0", &cfg, &e->dev), 0);
	start_backend(e);
	*state = e;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void fe_free_guest(struct env *e)
{
	if (e->ram)
		munmap(e->ram, RAM_SIZE + MAP_OFF);
	e->ram = NULL;
	close_fd(&e->memfd);
	close_fd(&e->kick);
	close_fd(&e->call);
	close_fd(&e->err);
	e->avail_idx = e->used_seen = 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char path[192];

	close_fd(&e->fd);
	fe_free_guest(e);
	if (e->running) {
		vhost_backend_stop(e->b);
		pthread_join(e->thread, NULL);
	}
	vhost_backend_destroy(e->b);
	virtio_dev_destroy(e->dev);
	/* destroy() removed the socket. */
	assert_int_equal(access(e->sock, F_OK), -1);
	if (e->disk[0])
		unlink(e->disk);
	snprintf(path, sizeof(path), "%s", e->dir);
	rmdir(path);
	free(e);
	return 0;
}

/* Open fds in this process (the backend's included: it is a thread here). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* Mappings of our guest RAM memfd in this process. */
static int count_ram_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:vub-test-ram"))
			n++;
	fclose(f);
	return n;
}

/* ---- the frontend ---- */

static void fe_connect(struct env *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	close_fd(&e->fd);
	e->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(e->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", e->sock);
	assert_int_equal(connect(e->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static int fe_send_raw(int fd, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		assert_true(nfds <= 16);
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void fe_send(struct env *e, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned int nfds)
{
	struct vhost_user_msg m = {
		.hdr = { .request = req, .flags = VHOST_USER_VERSION | flags, .size = size },
	};

	assert_true(size <= sizeof(m.payload));
	if (size)
		memcpy(&m.payload, payload, size);
	assert_int_equal(fe_send_raw(e->fd, &m, sizeof(m.hdr) + size, fds, nfds), 0);
}

/* Wait for @fd to be readable; false on timeout. */
static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Receive a reply: its payload size, -ECONNRESET at EOF, -ETIMEDOUT. */
static int fe_recv(struct env *e, struct vhost_user_msg *m, int ms)
{
	ssize_t n;

	if (!wait_readable(e->fd, ms))
		return -ETIMEDOUT;
	n = recv(e->fd, &m->hdr, sizeof(m->hdr), MSG_WAITALL);
	if (n <= 0)
		return -ECONNRESET;
	assert_int_equal(n, sizeof(m->hdr));
	assert_int_equal(m->hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
	assert_true(m->hdr.size <= sizeof(m->payload));
	if (m->hdr.size)
		assert_int_equal(recv(e->fd, &m->payload, m->hdr.size, MSG_WAITALL),
				 (ssize_t)m->hdr.size);
	return m->hdr.size;
}

/* A request with NEED_REPLY: returns the ack (0: accepted). */
static uint64_t fe_ack_fds(struct env *e, uint32_t req, const void *payload, uint32_t size,
			   const int *fds, unsigned int nfds)
{
	struct vhost_user_msg m;
	uint64_t v;

	fe_send(e, req, VHOST_USER_NEED_REPLY, payload, size, fds, nfds);
	assert_int_equal(fe_recv(e, &m, TIMEOUT_MS), 8);
	assert_int_equal(m.hdr.request, req);
	memcpy(&v, &m.payload, sizeof(v));
	return v;
}

static uint64_t fe_ack(struct env *e, uint32_t req, const void *payload, uint32_t size)
{
	return fe_ack_fds(e, req, payload, size, NULL, 0);
}

/* A request with a reply of its own: returns the reply's payload size. */
static int fe_query(struct env *e, uint32_t req, const void *payload, uint32_t size, void *out,
		    uint32_t out_size)
{
	struct vhost_user_msg m;
	int n;

	fe_send(e, req, 0, payload, size, NULL, 0);
	n = fe_recv(e, &m, TIMEOUT_MS);
	assert_true(n >= 0);
	assert_int_equal(m.hdr.request, req);
	if (out)
		memcpy(out, &m.payload, (uint32_t)n < out_size ? (uint32_t)n : out_size);
	return n;
}

static uint64_t fe_get_u64(struct env *e, uint32_t req)
{
	uint64_t v = 0;

	assert_int_equal(fe_query(e, req, NULL, 0, &v, sizeof(v)), 8);
	return v;
}

/* The backend still answers. */
static void fe_alive(struct env *e)
{
	uint64_t f = fe_get_u64(e, VHOST_USER_GET_FEATURES);

	assert_true(f & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	assert_true(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void *g2h(struct env *e, uint64_t gpa)
{
	assert_true(gpa >= RAM_GPA && gpa < RAM_GPA + RAM_SIZE);
	return e->ram + MAP_OFF + (gpa - RAM_GPA);
}

/* Guest RAM in a memfd that takes no seals (as the tests' default) or, with @sealable, does. */
static void fe_make_guest_ex(struct env *e, bool sealable)
{
	fe_free_guest(e);
	e->memfd = memfd_create("vub-test-ram", MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));
	assert_true(e->memfd >= 0);
	assert_int_equal(ftruncate(e->memfd, RAM_SIZE + MAP_OFF), 0);
	e->ram = mmap(NULL, RAM_SIZE + MAP_OFF, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	assert_true(e->ram != MAP_FAILED);
	e->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(e->kick >= 0 && e->call >= 0 && e->err >= 0);
}

static void fe_make_guest(struct env *e)
{
	fe_make_guest_ex(e, false);
}

static struct vhost_user_memory one_region(void)
{
	struct vhost_user_memory m = { .nregions = 1 };

	m.regions[0] = (struct vhost_user_region){
		.guest_phys_addr = RAM_GPA,
		.memory_size = RAM_SIZE,
		.userspace_addr = UA_BASE,
		.mmap_offset = MAP_OFF,
	};
	return m;
}

static uint32_t mem_size(const struct vhost_user_memory *m)
{
	return 8 + m->nregions * sizeof(struct vhost_user_region);
}

static void fe_negotiate(struct env *e)
{
	uint64_t f = fe_get_u64(e, VHOST_USER_GET_FEATURES), want, p, expect = PROTO_ALL;

	/* CONFIG is offered only by a device that has config space. */
	if (!e->dev->ops->config_size)
		expect &= ~VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG);
	/* In-flight tracking only by a device whose requests may be submitted again (blk). */
	if (e->dev->ops->resubmit_ok)
		expect |= VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
	assert_true(f & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	p = fe_get_u64(e, VHOST_USER_GET_PROTOCOL_FEATURES);
	assert_int_equal(p, expect);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_PROTOCOL_FEATURES, &expect, 8), 0);
	assert_int_equal(fe_get_u64(e, VHOST_USER_GET_QUEUE_NUM), e->dev->ops->nr_queues);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_OWNER, NULL, 0), 0);
	want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_FEATURES, &want, 8), 0);
}

static void fe_set_mem(struct env *e)
{
	struct vhost_user_memory m = one_region();

	assert_int_equal(fe_ack_fds(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1),
			 0);
}

static void fe_set_vring_fd(struct env *e, uint32_t req, int fd)
{
	uint64_t v = 0;

	assert_int_equal(fe_ack_fds(e, req, &v, 8, &fd, 1), 0);
}

/* Size, base and addresses of ring 0, then its call/err fds, kick (start) and maybe enable. */
static void fe_start_ring_ex(struct env *e, uint16_t base, bool enable)
{
	struct vhost_user_vring_state s = { .index = 0, .num = QSIZE };
	struct vhost_user_vring_addr a = {
		.index = 0,
		.desc = UA_BASE + DESC_OFF,
		.avail = UA_BASE + AVAIL_OFF,
		.used = UA_BASE + USED_OFF,
	};

	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s)), 0);
	s.num = base;
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_BASE, &s, sizeof(s)), 0);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a)), 0);
	fe_set_vring_fd(e, VHOST_USER_SET_VRING_CALL, e->call);
	fe_set_vring_fd(e, VHOST_USER_SET_VRING_ERR, e->err);
	fe_set_vring_fd(e, VHOST_USER_SET_VRING_KICK, e->kick);
	if (!enable)
		return;
	s.num = 1;
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s)), 0);
}

static void fe_start_ring(struct env *e, uint16_t base)
{
	fe_start_ring_ex(e, base, true);
}

static void fe_setup(struct env *e)
{
	fe_make_guest(e);
	fe_connect(e);
	fe_negotiate(e);
	fe_set_mem(e);
	fe_start_ring(e, 0);
}

static uint16_t used_idx(struct env *e)
{
	return __atomic_load_n((uint16_t *)g2h(e, RAM_GPA + USED_OFF + 2), __ATOMIC_ACQUIRE);
}

static struct vring_used_elem used_elem(struct env *e, uint16_t i)
{
	struct vring_used_elem u;

	memcpy(&u, (uint8_t *)g2h(e, RAM_GPA + USED_OFF + 4) + 8 * (i % QSIZE), sizeof(u));
	return u;
}

/* Post a chain of descriptors (head = slot @d) in the avail ring; no kick. */
static void post(struct env *e, uint16_t d, const struct vring_desc *chain, unsigned int n)
{
	struct vring_desc *desc = g2h(e, RAM_GPA + DESC_OFF);
	uint16_t *avail = g2h(e, RAM_GPA + AVAIL_OFF);

	for (unsigned int i = 0; i < n; i++) {
		desc[d + i] = chain[i];
		if (i + 1 < n) {
			desc[d + i].flags |= VRING_DESC_F_NEXT;
			desc[d + i].next = d + i + 1;
		}
	}
	avail[2 + e->avail_idx % QSIZE] = d;
	e->avail_idx++;
	__atomic_store_n(&avail[1], e->avail_idx, __ATOMIC_RELEASE);
}

static void kick(struct env *e)
{
	assert_int_equal(eventfd_write(e->kick, 1), 0);
}

/* Wait for the call fd and the used entry that follows; returns it. */
static struct vring_used_elem wait_used(struct env *e)
{
	uint64_t deadline = (uint64_t)time(NULL) + TIMEOUT_MS / 1000;
	eventfd_t v;

	while (used_idx(e) == e->used_seen) {
		assert_true(wait_readable(e->call, TIMEOUT_MS));
		assert_true((uint64_t)time(NULL) <= deadline);
		eventfd_read(e->call, &v);
	}
	return used_elem(e, e->used_seen++);
}

/* One rng request of @len bytes into a zeroed buffer; checks what came back. */
static void rng_request(struct env *e, uint32_t len)
{
	uint64_t buf = RAM_GPA + BUF_OFF;
	struct vring_desc d = { .addr = buf, .len = len, .flags = VRING_DESC_F_WRITE };
	struct vring_used_elem u;
	uint8_t *p = g2h(e, buf);
	bool nonzero = false;

	memset(p, 0, len);
	post(e, 0, &d, 1);
	kick(e);
	u = wait_used(e);
	assert_int_equal(u.id, 0);
	assert_int_equal(u.len, len);
	for (uint32_t i = 0; i < len; i++)
		nonzero |= p[i] != 0;
	assert_true(nonzero);
}

static uint32_t get_vring_base(struct env *e, uint32_t index)
{
	struct vhost_user_vring_state s = { .index = index };

	assert_int_equal(fe_query(e, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), &s, sizeof(s)),
			 sizeof(s));
	assert_int_equal(s.index, index);
	return s.num;
}

/* ---- tests ---- */

/* The happy path: rng bytes arrive, GET_VRING_BASE stops the ring, a restart resumes. */
static void test_rng_data_path(void **state)
{
	struct env *e = *state;
	struct vring_desc d = { .addr = RAM_GPA + BUF_OFF, .len = 16, .flags = VRING_DESC_F_WRITE };
	int old_kick;

	fe_setup(e);
	rng_request(e, 64);
	rng_request(e, 4096);
	assert_int_equal(get_vring_base(e, 0), 2);

	/* Stopped: a kick on the old fd does nothing. */
	post(e, 0, &d, 1);
	kick(e);
	usleep(100 * 1000);
	assert_int_equal(used_idx(e), 2);

	/* Restarted at 2 with a new kick fd: the pending request is served without a kick. */
	old_kick = e->kick;
	e->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	close(old_kick);
	fe_start_ring(e, 2);
	assert_int_equal(wait_used(e).len, 16);
	rng_request(e, 32);
	assert_int_equal(get_vring_base(e, 0), 4);
	/* A stopped ring keeps its index: asking again gives the same. */
	assert_int_equal(get_vring_base(e, 0), 4);
}

static void fe_enable(struct env *e, uint32_t on)
{
	struct vhost_user_vring_state s = { .index = 0, .num = on };

	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s)), 0);
}

/* Nothing new is used within 100 ms. */
static void expect_idle(struct env *e)
{
	uint16_t before = used_idx(e);

	usleep(100 * 1000);
	assert_int_equal(used_idx(e), before);
}

/*
 * With VHOST_USER_F_PROTOCOL_FEATURES a ring starts disabled and runs only
 * while enabled; without, it starts enabled.
 */
static void test_ring_enable(void **state)
{
	struct env *e = *state;
	struct vring_desc d = { .addr = RAM_GPA + BUF_OFF, .len = 8, .flags = VRING_DESC_F_WRITE };
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	int call2;
	eventfd_t v;

	fe_setup(e);
	fe_enable(e, 0);
	post(e, 0, &d, 1);
	kick(e);
	expect_idle(e);
	fe_enable(e, 1); /* served without another kick */
	assert_int_equal(wait_used(e).len, 8);

	/* A new call fd for a running ring is signalled at once (nothing gets lost). */
	fe_enable(e, 0);
	call2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(call2 >= 0);
	fe_set_vring_fd(e, VHOST_USER_SET_VRING_CALL, call2);
	assert_true(wait_readable(call2, TIMEOUT_MS));
	assert_int_equal(eventfd_read(call2, &v), 0);
	close(e->call);
	e->call = call2;
	post(e, 0, &d, 1);
	kick(e);
	expect_idle(e);
	fe_enable(e, 1);
	assert_int_equal(wait_used(e).len, 8);
	assert_int_equal(get_vring_base(e, 0), 2);

	/* RESET_OWNER disables every ring. */
	fe_start_ring(e, 2);
	assert_int_equal(fe_ack(e, VHOST_USER_RESET_OWNER, NULL, 0), 0);
	post(e, 0, &d, 1);
	kick(e);
	expect_idle(e);
	fe_enable(e, 1);
	assert_int_equal(wait_used(e).len, 8);

	/* A frontend that does not ack protocol features: rings start enabled. */
	fe_make_guest(e);
	fe_connect(e);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_OWNER, NULL, 0), 0);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_FEATURES, &f, 8), 0);
	fe_set_mem(e);
	fe_start_ring_ex(e, 0, false);
	rng_request(e, 64);
}

/* Disconnect: everything freed; the next frontend is served from scratch. */
static void test_reconnect(void **state)
{
	struct env *e = *state;
	int fds0 = count_fds();

	fe_setup(e);
	rng_request(e, 128);
	assert_true(count_ram_maps() >= 2); /* ours and the backend's */

	/* Drop the connection with the ring running, and our guest with it. */
	close_fd(&e->fd);
	fe_free_guest(e);
	fe_connect(e);
	fe_alive(e); /* answered: the old connection has been torn down */
	assert_int_equal(count_ram_maps(), 0);
	assert_int_equal(count_fds(), fds0 + 2); /* the new connection, both ends */

	fe_setup(e);
	rng_request(e, 64);
	assert_int_equal(get_vring_base(e, 0), 1);

	/* A second frontend waits until the first one leaves. */
	{
		int first = e->fd;
		struct vhost_user_msg m;

		e->fd = -1;
		fe_connect(e);
		fe_send(e, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
		assert_int_equal(fe_recv(e, &m, 200), -ETIMEDOUT);
		close(first);
		assert_int_equal(fe_recv(e, &m, TIMEOUT_MS), 8);
	}
	fe_alive(e);
}

/* Replacing the memory table under a running ring moves the ring with it. */
static void test_mem_table_replace(void **state)
{
	struct env *e = *state;
	struct vhost_user_memory m = one_region();
	uint8_t *old_ram;
	int old_memfd, memfd;

	fe_setup(e);
	rng_request(e, 64);

	/* A new memfd holding a copy of guest RAM, sent while the ring runs. */
	memfd = memfd_create("vub-test-ram", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, RAM_SIZE + MAP_OFF), 0);
	old_ram = e->ram;
	old_memfd = e->memfd;
	e->ram = mmap(NULL, RAM_SIZE + MAP_OFF, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_true(e->ram != MAP_FAILED);
	memcpy(e->ram, old_ram, RAM_SIZE + MAP_OFF);
	e->memfd = memfd;
	assert_int_equal(fe_ack_fds(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &memfd, 1), 0);
	/* The old RAM is no longer used: scribble over it. */
	memset(old_ram, 0xff, RAM_SIZE + MAP_OFF);
	munmap(old_ram, RAM_SIZE + MAP_OFF);
	close(old_memfd);

	rng_request(e, 256);
	assert_int_equal(get_vring_base(e, 0), 2);
}

/* needs_reset: the err fd is signalled, the ring stops, the backend stays up. */
static void test_needs_reset(void **state)
{
	struct env *e = *state;
	uint16_t *avail;
	struct vring_desc d = { .addr = RAM_GPA + BUF_OFF, .len = 16, .flags = VRING_DESC_F_WRITE };

	fe_setup(e);
	rng_request(e, 16);
	/* A head out of range. */
	avail = g2h(e, RAM_GPA + AVAIL_OFF);
	avail[2 + e->avail_idx % QSIZE] = 200;
	e->avail_idx++;
	__atomic_store_n(&avail[1], e->avail_idx, __ATOMIC_RELEASE);
	kick(e);
	assert_true(wait_readable(e->err, TIMEOUT_MS));
	assert_int_equal(used_idx(e), 1);
	fe_alive(e);

	/* A reset and a fresh start serve requests again. */
	assert_int_equal(fe_ack(e, VHOST_USER_RESET_DEVICE, NULL, 0), 0);
	memset(e->ram, 0, RAM_SIZE + MAP_OFF);
	e->avail_idx = e->used_seen = 0;
	fe_start_ring(e, 0);
	post(e, 0, &d, 1);
	kick(e);
	assert_int_equal(wait_used(e).len, 16);
}

/* GET_CONFIG and friends on blk, and its data path. */
static void test_blk_config_and_io(void **state)
{
	struct env *e = *state;
	struct vhost_user_config c = { .offset = 0, .size = 60 };
	uint64_t cap;
	uint32_t v;
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} hdr = { .type = 0 /* IN */, .sector = 0 };
	uint64_t h = RAM_GPA + BUF_OFF, data = h + 0x100, status = h + 0x80;
	struct vring_desc chain[3] = {
		{ .addr = h, .len = sizeof(hdr) },
		{ .addr = data, .len = 512, .flags = VRING_DESC_F_WRITE },
		{ .addr = status, .len = 1, .flags = VRING_DESC_F_WRITE },
	};
	struct vring_used_elem u;
	uint32_t base;

	fe_connect(e);
	fe_negotiate(e);
	assert_int_equal(fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 60, &c,
				  sizeof(c)),
			 VHOST_USER_CONFIG_HDR_SIZE + 60);
	assert_int_equal(c.offset, 0);
	assert_int_equal(c.size, 60);
	memcpy(&cap, c.payload, 8);
	assert_int_equal(le64toh(cap), 2048); /* 1 MiB in sectors */
	memcpy(&v, c.payload + 20, 4);
	assert_int_equal(le32toh(v), 512); /* blk_size */

	/* A part of it. */
	c = (struct vhost_user_config){ .offset = 20, .size = 4 };
	assert_int_equal(fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, &c,
				  sizeof(c)),
			 VHOST_USER_CONFIG_HDR_SIZE + 4);
	memcpy(&v, c.payload, 4);
	assert_int_equal(le32toh(v), 512);

	/* Errors are empty replies: past the end, empty, a size that disagrees, bad flags. */
	c = (struct vhost_user_config){ .offset = 56, .size = 8 };
	assert_int_equal(
		fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0), 0);
	c = (struct vhost_user_config){ .offset = 0xffffffff, .size = 4 };
	assert_int_equal(
		fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0), 0);
	c = (struct vhost_user_config){ .offset = 0, .size = 0 };
	assert_int_equal(
		fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE, NULL, 0), 0);
	c = (struct vhost_user_config){ .offset = 0, .size = 8 };
	assert_int_equal(
		fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0), 0);
	c = (struct vhost_user_config){ .offset = 0, .size = 4, .flags = 2 };
	assert_int_equal(
		fe_query(e, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0), 0);
	assert_int_equal(fe_query(e, VHOST_USER_GET_CONFIG, &c, 4, NULL, 0), 0);
	/* SET_CONFIG: accepted (the device ignores read-only fields), or refused past the end. */
	c = (struct vhost_user_config){ .offset = 0, .size = 4 };
	assert_int_equal(fe_ack(e, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4), 0);
	c = (struct vhost_user_config){ .offset = 60, .size = 1 };
	assert_int_not_equal(fe_ack(e, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 1),
			     0);

	/* Read sector 0 through the ring. */
	fe_make_guest(e);
	fe_set_mem(e);
	fe_start_ring(e, 0);
	memcpy(g2h(e, h), &hdr, sizeof(hdr));
	*(uint8_t *)g2h(e, status) = 0xee;
	post(e, 0, chain, 3);
	kick(e);
	u = wait_used(e);
	assert_int_equal(u.id, 0);
	assert_int_equal(u.len, 513);
	assert_int_equal(*(uint8_t *)g2h(e, status), 0);
	for (unsigned int i = 0; i < 512; i++)
		assert_int_equal(((uint8_t *)g2h(e, data))[i], (uint8_t)(i * 7 + 3));

	/* Write sector 1, then stop the ring: the write has reached the file. */
	hdr.type = 1; /* OUT */
	hdr.sector = 1;
	memcpy(g2h(e, h), &hdr, sizeof(hdr));
	memset(g2h(e, data), 0x5a, 512);
	chain[1].flags = 0;
	post(e, 0, chain, 3);
	kick(e);
	u = wait_used(e);
	assert_int_equal(*(uint8_t *)g2h(e, status), 0);
	assert_int_equal(get_vring_base(e, 0), 2);
	{
		uint8_t sec[512];
		int fd = open(e->disk, O_RDONLY);

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, sec, 512, 512), 512);
		close(fd);
		for (unsigned int i = 0; i < 512; i++)
			assert_int_equal(sec[i], 0x5a);
	}

	/*
	 * Two 128 KiB writes, and GET_VRING_BASE right after the kick: the
	 * index returned covers exactly the requests completed in the used ring
	 * (the backend waits for those in flight).
	 */
	fe_start_ring(e, 2);
	for (unsigned int r = 0; r < 2; r++) {
		uint64_t rh = RAM_GPA + 0x10000 + r * 0x40000;
		struct vring_desc c2[3] = {
			{ .addr = rh, .len = sizeof(hdr) },
			{ .addr = rh + 0x1000, .len = 128 << 10 },
			{ .addr = rh + 0x800, .len = 1, .flags = VRING_DESC_F_WRITE },
		};

		hdr.type = 1;
		hdr.sector = 8 + r * 512;
		memcpy(g2h(e, rh), &hdr, sizeof(hdr));
		memset(g2h(e, rh + 0x1000), 0x60 + r, 128 << 10);
		*(uint8_t *)g2h(e, rh + 0x800) = 0xee;
		post(e, 3 * r, c2, 3);
	}
	kick(e);
	base = get_vring_base(e, 0);
	assert_int_equal(base, used_idx(e));
	assert_int_equal(base, 4);
	assert_int_equal(*(uint8_t *)g2h(e, RAM_GPA + 0x10000 + 0x800), 0);
	assert_int_equal(*(uint8_t *)g2h(e, RAM_GPA + 0x50000 + 0x800), 0);
}

/* Send a bad message with NEED_REPLY; expect a non-zero ack, no fd kept, the backend alive. */
static void expect_rejected(struct env *e, uint32_t req, const void *payload, uint32_t size,
			    const int *fds, unsigned int nfds)
{
	int before = count_fds();

	assert_int_not_equal(fe_ack_fds(e, req, payload, size, fds, nfds), 0);
	assert_int_equal(count_fds(), before);
	fe_alive(e);
}

static void test_malformed(void **state)
{
	struct env *e = *state;
	struct vhost_user_memory m;
	struct vhost_user_vring_state s;
	struct vhost_user_vring_addr a = { 0 };
	uint64_t v;
	int fds[9], efd, small;

	fe_make_guest(e);
	fe_connect(e);
	fe_negotiate(e);
	for (unsigned int i = 0; i < 9; i++)
		fds[i] = e->call;

	/* Sizes. */
	expect_rejected(e, VHOST_USER_SET_FEATURES, &(uint64_t){ 0 }, 4, NULL, 0);
	expect_rejected(e, VHOST_USER_SET_OWNER, &(uint64_t){ 0 }, 8, NULL, 0);
	s = (struct vhost_user_vring_state){ .index = 0, .num = 8 };
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &s, 4, NULL, 0);
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &a, sizeof(a), NULL, 0);
	/* Features not offered, flags, unknown requests. */
	expect_rejected(e, VHOST_USER_SET_FEATURES, &(uint64_t){ 1ULL << 63 }, 8, NULL, 0);
	expect_rejected(e, VHOST_USER_SET_PROTOCOL_FEATURES, &(uint64_t){ 1ULL << 40 }, 8, NULL, 0);
	expect_rejected(e, 99, NULL, 0, NULL, 0);
	expect_rejected(e, VHOST_USER_SET_LOG_BASE, &(uint64_t){ 0 }, 8, &e->call, 1);
	expect_rejected(e, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &e->call, 1);
	/* Fds: where none belong, too many, the wrong count for the NOFD flag. */
	expect_rejected(e, VHOST_USER_SET_OWNER, NULL, 0, fds, 1);
	expect_rejected(e, VHOST_USER_SET_OWNER, NULL, 0, fds, 9);
	v = 0;
	expect_rejected(e, VHOST_USER_SET_VRING_CALL, &v, 8, fds, 2);
	expect_rejected(e, VHOST_USER_SET_VRING_CALL, &v, 8, fds, 9);
	expect_rejected(e, VHOST_USER_SET_VRING_CALL, &v, 8, NULL, 0);
	v = VHOST_USER_VRING_NOFD_MASK;
	expect_rejected(e, VHOST_USER_SET_VRING_CALL, &v, 8, fds, 1);
	v = 1ULL << 20;
	expect_rejected(e, VHOST_USER_SET_VRING_CALL, &v, 8, fds, 1);
	/* Queue indices out of range. */
	v = 1;
	expect_rejected(e, VHOST_USER_SET_VRING_KICK, &v, 8, &e->kick, 1);
	v = 5;
	expect_rejected(e, VHOST_USER_SET_VRING_ERR, &v, 8, &e->err, 1);
	s = (struct vhost_user_vring_state){ .index = 1, .num = 8 };
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0);
	s.index = 0x100;
	expect_rejected(e, VHOST_USER_SET_VRING_BASE, &s, sizeof(s), NULL, 0);
	expect_rejected(e, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0);
	/* Ring sizes, base, enable values. */
	s = (struct vhost_user_vring_state){ .index = 0, .num = 3 };
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0);
	s.num = 0;
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0);
	s.num = 512; /* rng's queue_max is 256 */
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0);
	s.num = 0x10000;
	expect_rejected(e, VHOST_USER_SET_VRING_BASE, &s, sizeof(s), NULL, 0);
	s.num = 2;
	expect_rejected(e, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0);
	/* A ring cannot start without memory, size and addresses; nor poll without a kick fd. */
	v = 0;
	expect_rejected(e, VHOST_USER_SET_VRING_KICK, &v, 8, &e->kick, 1);
	v = VHOST_USER_VRING_NOFD_MASK;
	expect_rejected(e, VHOST_USER_SET_VRING_KICK, &v, 8, NULL, 0);

	/* Memory tables. */
	m = one_region();
	m.nregions = 0;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, 8, NULL, 0);
	m.nregions = 9;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, 8 + 8 * 32, fds, 8);
	m = one_region();
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m) + 8, &e->memfd, 1);
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), NULL, 0);
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, 4, NULL, 0);
	/* Two regions, one fd: the second region's fd is missing. */
	m.nregions = 2;
	m.regions[1] = m.regions[0];
	m.regions[1].guest_phys_addr += RAM_SIZE;
	m.regions[1].userspace_addr += RAM_SIZE;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1);
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), fds, 3);
	/* Overlap in guest memory, in user addresses. */
	m.regions[1].guest_phys_addr = RAM_GPA + RAM_SIZE / 2;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m),
			(int[]){ e->memfd, e->memfd }, 2);
	m.regions[1].guest_phys_addr = RAM_GPA + RAM_SIZE;
	m.regions[1].userspace_addr = UA_BASE + 4096;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m),
			(int[]){ e->memfd, e->memfd }, 2);
	/* Empty, overflowing, past the end of the file, not mappable. */
	m = one_region();
	m.regions[0].memory_size = 0;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1);
	m = one_region();
	m.regions[0].guest_phys_addr = ~0ULL - 4096;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1);
	m = one_region();
	m.regions[0].userspace_addr = ~0ULL - 4096;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1);
	m = one_region();
	m.regions[0].mmap_offset = ~0ULL - 4096;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1);
	m = one_region();
	m.regions[0].mmap_offset = 2 * MAP_OFF;
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &e->memfd, 1);
	small = memfd_create("vub-test-small", MFD_CLOEXEC);
	assert_true(small >= 0);
	assert_int_equal(ftruncate(small, 4096), 0);
	m = one_region();
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &small, 1);
	close(small);
	efd = eventfd(0, EFD_CLOEXEC);
	expect_rejected(e, VHOST_USER_SET_MEM_TABLE, &m, mem_size(&m), &efd, 1);
	close(efd);
	assert_int_equal(count_ram_maps(), 1); /* only ours: nothing stayed mapped */

	/* With memory: ring addresses outside it, and dirty logging. */
	fe_set_mem(e);
	s = (struct vhost_user_vring_state){ .index = 0, .num = QSIZE };
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s)), 0);
	a = (struct vhost_user_vring_addr){
		.index = 0,
		.desc = UA_BASE + DESC_OFF,
		.avail = UA_BASE + AVAIL_OFF,
		.used = UA_BASE + RAM_SIZE - 8, /* runs past the end */
	};
	expect_rejected(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	a.used = RAM_GPA + USED_OFF; /* a guest address, not a user address */
	expect_rejected(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	a.used = UA_BASE + USED_OFF;
	a.flags = 1;
	expect_rejected(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	a.flags = 2;
	expect_rejected(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	a.index = 3;
	a.flags = 0;
	expect_rejected(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);

	/* Requests with a reply of their own answer an error with an empty payload. */
	s = (struct vhost_user_vring_state){ .index = 7 };
	assert_int_equal(fe_query(e, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, 0), 0);
	assert_int_equal(fe_query(e, VHOST_USER_GET_FEATURES, &v, 8, NULL, 0), 0);
	assert_int_equal(fe_query(e, VHOST_USER_GET_INFLIGHT_FD, &v, 8, NULL, 0), 0);
	/* A request marked as a reply. */
	fe_send(e, VHOST_USER_SET_OWNER, VHOST_USER_REPLY | VHOST_USER_NEED_REPLY, NULL, 0, NULL,
		0);
	{
		struct vhost_user_msg r;

		assert_int_equal(fe_recv(e, &r, TIMEOUT_MS), 8);
		memcpy(&v, &r.payload, 8);
		assert_int_not_equal(v, 0);
	}

	/* After all that, the whole setup and a request still work on this connection. */
	fe_set_mem(e);
	fe_start_ring(e, 0);
	rng_request(e, 64);
	/* A running ring refuses changes to its size, base and addresses. */
	s = (struct vhost_user_vring_state){ .index = 0, .num = QSIZE };
	expect_rejected(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0);
	expect_rejected(e, VHOST_USER_SET_VRING_BASE, &s, sizeof(s), NULL, 0);
	a = (struct vhost_user_vring_addr){ .desc = UA_BASE,
					    .avail = UA_BASE + AVAIL_OFF,
					    .used = UA_BASE + USED_OFF };
	expect_rejected(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	rng_request(e, 64);
}

/* Messages that cannot be framed drop the connection; the next frontend is served. */
/*
 * GET/SET_INFLIGHT_FD from a frontend that gets them wrong: each is refused
 * with an error reply, no fd leaks, and the connection stays usable; a good
 * GET_INFLIGHT_FD then gets a region (a sealed memfd) that SET_INFLIGHT_FD
 * takes back.
 */
static void test_inflight_malformed(void **state)
{
	struct env *e = *state;
	struct vhost_user_inflight in = { .num_queues = 1, .queue_size = QSIZE };
	struct vhost_user_msg m;
	int before, memfd, shm, seals;
	char shm_path[160];

	fe_connect(e);
	fe_negotiate(e);
	/* GET: wrong size, no queues, too many, a queue size that is not a power of 2. */
	assert_int_equal(fe_query(e, VHOST_USER_GET_INFLIGHT_FD, &in, 20, NULL, 0), 0);
	in.num_queues = 0;
	assert_int_equal(fe_query(e, VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0), 0);
	in.num_queues = e->dev->ops->nr_queues + 1;
	assert_int_equal(fe_query(e, VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0), 0);
	in = (struct vhost_user_inflight){ .num_queues = 1, .queue_size = 3 };
	assert_int_equal(fe_query(e, VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0), 0);
	fe_alive(e);

	/* SET: no fd, two fds, a region too small for its queues, a file too short. */
	before = count_fds();
	memfd = memfd_create("inflight-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, 4096), 0);
	in = (struct vhost_user_inflight){ .mmap_size = 4096,
					   .num_queues = 1,
					   .queue_size = QSIZE };
	expect_rejected(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), NULL, 0);
	expect_rejected(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), (int[]){ memfd, memfd }, 2);
	in.mmap_size = 64; /* 1 queue of 8 entries needs 16 + 8 * 16 bytes, rounded to 192 */
	expect_rejected(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &memfd, 1);
	in.mmap_size = 4096;
	in.mmap_offset = 4096; /* past the end of the file */
	expect_rejected(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &memfd, 1);
	in.mmap_offset = 0;
	in.queue_size = 2 * e->dev->ops->queue_max;
	expect_rejected(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &memfd, 1);
	/* A file that can shrink and cannot be sealed (tmpfs, not a memfd). */
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/evvm-inflight-%d", (int)getpid());
	shm = open(shm_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (shm >= 0) {
		unlink(shm_path);
		assert_int_equal(ftruncate(shm, 4096), 0);
		in.queue_size = QSIZE;
		expect_rejected(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &shm, 1);
		close(shm);
	}
	/* A good one: taken, and sealed against shrinking by the backend. */
	in.queue_size = QSIZE;
	assert_int_equal(fe_ack_fds(e, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &memfd, 1), 0);
	seals = fcntl(memfd, F_GET_SEALS);
	assert_true(seals >= 0 && (seals & F_SEAL_SHRINK));
	close(memfd);
	assert_int_equal(count_fds(), before);

	/* GET: the region comes back with its size. */
	in = (struct vhost_user_inflight){ .num_queues = 1, .queue_size = QSIZE };
	fe_send(e, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
	assert_int_equal(fe_recv(e, &m, TIMEOUT_MS), (int)sizeof(in));
	memcpy(&in, &m.payload, sizeof(in));
	assert_int_equal(in.mmap_size, 192);
	assert_int_equal(in.num_queues, 1);
	assert_int_equal(in.queue_size, QSIZE);
	fe_alive(e);
}

/*
 * A frontend shrinks the memory it shared. A memfd that takes seals was
 * sealed by the backend: the ftruncate() fails. One that takes none is
 * guarded: a kick after the ftruncate() makes the backend fault on guest
 * memory, and it drops that frontend instead of dying; the next is served.
 */
static void test_shrunk_memory(void **state)
{
	struct env *e = *state;
	struct vring_desc d = { .addr = RAM_GPA + BUF_OFF, .len = 16, .flags = VRING_DESC_F_WRITE };
	struct vhost_user_msg m;

	fe_make_guest_ex(e, true);
	fe_connect(e);
	fe_negotiate(e);
	fe_set_mem(e);
	fe_start_ring(e, 0);
	assert_int_equal(ftruncate(e->memfd, 0), -1);
	assert_int_equal(errno, EPERM);
	rng_request(e, 32);

	fe_setup(e); /* a memfd without seals */
	rng_request(e, 32);
	post(e, 0, &d, 1);
	/* Everything after the first page is gone (our own mapping too: no more g2h()). */
	assert_int_equal(ftruncate(e->memfd, 4096), 0);
	kick(e);
	/* Dropped: the socket reads end-of-file. */
	assert_true(wait_readable(e->fd, TIMEOUT_MS));
	assert_int_equal(recv(e->fd, &m, sizeof(m), 0), 0);
	fe_setup(e);
	rng_request(e, 32);
}

/* A frontend that connects and says nothing is dropped after the idle deadline. */
static void test_idle_deadline(void **state)
{
	struct env *e = *state;
	struct vhost_user_msg m;
	int silent;

	fe_connect(e);
	silent = e->fd;
	e->fd = -1;
	fe_connect(e);
	fe_send(e, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
	/* Queued behind the silent one... */
	assert_int_equal(fe_recv(e, &m, 50), -ETIMEDOUT);
	/* ...which is dropped at its deadline (300 ms), and then this one is served. */
	assert_true(wait_readable(silent, TIMEOUT_MS));
	assert_int_equal(recv(silent, &m, sizeof(m), 0), 0);
	close(silent);
	assert_int_equal(fe_recv(e, &m, TIMEOUT_MS), 8);
	/* Having spoken, a frontend may then stay quiet as long as it likes. */
	usleep(500000);
	fe_alive(e);
}

static int setup_rng_idle(void **state)
{
	struct env *e = env_new();

	e->idle_ms = 300;
	assert_int_equal(rng_create("rng0", &e->dev), 0);
	start_backend(e);
	*state = e;
	return 0;
}

static void test_unparseable(void **state)
{
	struct env *e = *state;
	struct vhost_user_msg m;
	struct vhost_user_hdr h;
	int fds0;

	fe_connect(e);
	fe_alive(e);
	fds0 = count_fds();

	/* A payload larger than any request's, with an fd: dropped, the fd closed. */
	h = (struct vhost_user_hdr){ .request = VHOST_USER_SET_FEATURES,
				     .flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY,
				     .size = 0x1000 };
	assert_int_equal(fe_send_raw(e->fd, &h, sizeof(h), &e->fd, 1), 0);
	assert_int_equal(fe_recv(e, &m, TIMEOUT_MS), -ECONNRESET);
	fe_connect(e);
	fe_alive(e);
	assert_int_equal(count_fds(), fds0);

	/* An unknown version. */
	h = (struct vhost_user_hdr){ .request = VHOST_USER_GET_FEATURES, .flags = 2 };
	assert_int_equal(fe_send_raw(e->fd, &h, sizeof(h), NULL, 0), 0);
	assert_int_equal(fe_recv(e, &m, TIMEOUT_MS), -ECONNRESET);
	fe_connect(e);
	fe_alive(e);

	/* Half a header, then gone. */
	assert_int_equal(fe_send_raw(e->fd, &h, 6, NULL, 0), 0);
	fe_connect(e);
	fe_alive(e);

	/* A header that promises 8 bytes and sends 4, then stalls: dropped after a timeout. */
	h = (struct vhost_user_hdr){ .request = VHOST_USER_SET_FEATURES,
				     .flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY,
				     .size = 8 };
	{
		uint8_t buf[sizeof(h) + 4] = { 0 };

		memcpy(buf, &h, sizeof(h));
		assert_int_equal(fe_send_raw(e->fd, buf, sizeof(buf), NULL, 0), 0);
	}
	assert_int_equal(fe_recv(e, &m, 3 * TIMEOUT_MS), -ECONNRESET);
	fe_connect(e);
	fe_alive(e);
	assert_int_equal(count_fds(), fds0);
}

/* The socket file: a stale one is replaced, a live one or a non-socket is an error. */
static void test_socket_path(void **state)
{
	struct env *e = *state; /* a backend listens on e->sock */
	struct evvm_virtio_dev *dev;
	struct vhost_backend *b;
	struct vhost_backend_config cfg = { .socket_path = e->sock };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[192];
	int fd;

	assert_int_equal(rng_create("rng1", &dev), 0);
	cfg.dev = dev;
	assert_int_equal(vhost_backend_create(&cfg, &b), -EADDRINUSE);
	fe_connect(e);
	fe_alive(e); /* the first backend's socket is still there */

	/* A stale socket: bound, then closed. */
	snprintf(path, sizeof(path), "%s/stale", e->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cfg.socket_path = path;
	assert_int_equal(vhost_backend_create(&cfg, &b), 0);
	vhost_backend_destroy(b);
	assert_int_equal(access(path, F_OK), -1);

	/* A regular file is left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vhost_backend_create(&cfg, &b), -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	virtio_dev_destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured_setup_teardown(test_rng_data_path, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_ring_enable, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_reconnect, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_mem_table_replace, setup_rng,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_needs_reset, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_blk_config_and_io, setup_blk,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_malformed, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_inflight_malformed, setup_blk,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_shrunk_memory, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_idle_deadline, setup_rng_idle,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_unparseable, setup_rng, teardown),
		cmocka_unit_test_captured_setup_teardown(test_socket_path, setup_rng, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
