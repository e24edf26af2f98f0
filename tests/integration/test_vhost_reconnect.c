// SPDX-License-Identifier: MIT
/*
 * Reconnect end to end without a VM: this test is the guest driver (rings
 * in a sealed memfd, kicks and interrupts through eventfds), evvm's
 * frontend runs on an I/O thread of the test with reconnect=1, and the
 * backend is `evvm vhost-user-blk`, SIGKILLed while requests are in flight
 * and started again on the same socket, with the queue kept full all the
 * time. Every write must complete exactly once with status OK, none may
 * hang, the frontend must have reconnected after each kill handing each new
 * backend the first one's in-flight region (from which they resubmit), and
 * the disk file must hold the pattern.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/loop.h>
#include <evvm/mem.h>
#include <evvm/virtio.h>

#include "../../vhost/frontend.h"
#include "capture.h"
#include "devtest.h"
#include "disk_pattern.h"
#include "proc.h"

#include <cmocka.h>

#define RAM_SIZE    (4u << 20)
#define QSIZE	    64
#define DESC_GPA    0x0
#define AVAIL_GPA   0x1000
#define USED_GPA    0x2000
#define HDR_GPA	    0x10000 /* 16 bytes per slot */
#define STATUS_GPA  0x20000 /* 1 byte per slot */
#define DATA_GPA    0x100000
#define SLOTS	    16 /* requests in flight, 3 descriptors each */
#define REQ_SECTORS 8
#define SECTORS	    8192
#define SEED	    4242
#define KILLS	    4
#define MAX_SEQ	    (1u << 20) /* writes one run may send */

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct env {
	char dir[64], sock[96], disk[96];
	pid_t pid;
	unsigned int spawns; /* backend i logs to backend.<i>.log */
	atomic_uint restarts;
	atomic_bool stop_chaos;

	struct evvm_loop *loop;
	pthread_t loop_thread;
	int memfd;
	uint8_t *ram;
	struct evvm_mem mem;
	int kick, call;
	struct evvm_virtio_dev *dev;
	atomic_int resets;

	/* The driver. */
	uint16_t avail_idx, used_seen;
	int64_t slot_req[SLOTS]; /* write (sequence number) in slot, -1 if free */
	uint8_t *completions;	 /* per sequence number */
};

static void backend_log(const struct env *e, unsigned int i, char *path, size_t size)
{
	snprintf(path, size, "%s/backend.%u.log", e->dir, i);
}

/* `evvm vhost-user-blk -v` (its in-flight region lines are info) on e->disk. */
static void backend_spawn(struct env *e)
{
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	char disk[128], log[128];
	int st;

	snprintf(disk, sizeof(disk), "path=%s", e->disk);
	backend_log(e, e->spawns++, log, sizeof(log));
	e->pid = spawn((const char *[]){ evvm, "vhost-user-blk", "-v", "--socket", e->sock,
					 "--disk", disk, NULL },
		       log);
	if (!wait_listening(e->pid, e->sock, 10, &st))
		fail_msg("evvm vhost-user-blk not listening on %s (status %d)", e->sock, st);
}

static void count_reset(struct evvm_virtio_dev *dev)
{
	struct env *e = dev->transport;

	atomic_fetch_add(&e->resets, 1);
}

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct evvm_mem_region r = { .gpa = 0, .size = RAM_SIZE };
	int fd;

	assert_non_null(e);
	strcpy(e->dir, "/tmp/evvm-vurc-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/blk.sock", e->dir);
	snprintf(e->disk, sizeof(e->disk), "%s/disk.img", e->dir);
	fd = open(e->disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SECTORS * 512), 0);
	close(fd);

	e->memfd = mem_memfd_create("vurc-ram", RAM_SIZE);
	assert_true(e->memfd >= 0);
	e->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	assert_true(e->ram != MAP_FAILED);
	r.hva = e->ram;
	r.fd = e->memfd;
	mem_init(&e->mem);
	assert_int_equal(mem_add_region(&e->mem, &r), 0);
	e->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(e->kick >= 0 && e->call >= 0);
	assert_int_equal(loop_create(&e->loop, "vurc"), 0);
	assert_int_equal(pthread_create(&e->loop_thread, NULL, devtest_loop_thread, e->loop), 0);
	for (unsigned int i = 0; i < SLOTS; i++)
		e->slot_req[i] = -1;
	e->completions = calloc(MAX_SEQ, 1);
	assert_non_null(e->completions);
	*state = e;
	return 0;
}

static int destroy_on_loop(void *opaque)
{
	virtio_dev_destroy(opaque);
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (e->dev) {
		devtest_stop(e->loop, e->dev);
		loop_call(e->loop, destroy_on_loop, e->dev);
	}
	loop_stop(e->loop);
	pthread_join(e->loop_thread, NULL);
	loop_destroy(e->loop);
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, NULL, 0);
	}
	for (unsigned int i = 0; i < e->spawns; i++) {
		char path[128];

		backend_log(e, i, path, sizeof(path));
		unlink(path);
	}
	close(e->kick);
	close(e->call);
	munmap(e->ram, RAM_SIZE);
	close(e->memfd);
	unlink(e->sock);
	unlink(e->disk);
	rmdir(e->dir);
	free(e->completions);
	free(e);
	return 0;
}

static void *gpa(struct env *e, uint64_t a)
{
	return e->ram + a;
}

static void put_desc(struct env *e, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc *d = gpa(e, DESC_GPA + 16 * i);

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/*
 * Write number @seq in @slot, and make it available: the pattern over its
 * REQ_SECTORS, the writes going round the disk (rewriting what is there).
 */
static void submit(struct env *e, unsigned int slot, unsigned int seq)
{
	unsigned int req = seq % (SECTORS / REQ_SECTORS);
	struct blk_hdr *h = gpa(e, HDR_GPA + 16 * slot);
	uint32_t *data = gpa(e, DATA_GPA + slot * REQ_SECTORS * 512);
	uint16_t *avail = gpa(e, AVAIL_GPA);
	uint32_t first_word = req * REQ_SECTORS * 128;

	*h = (struct blk_hdr){ .type = VIRTIO_BLK_T_OUT, .sector = req * REQ_SECTORS };
	for (uint32_t w = 0; w < REQ_SECTORS * 128; w++)
		data[w] = pattern_word(first_word + w, SEED);
	*(uint8_t *)gpa(e, STATUS_GPA + slot) = 0xff;
	put_desc(e, 3 * slot, HDR_GPA + 16 * slot, 16, VRING_DESC_F_NEXT, 3 * slot + 1);
	put_desc(e, 3 * slot + 1, DATA_GPA + slot * REQ_SECTORS * 512, REQ_SECTORS * 512,
		 VRING_DESC_F_NEXT, 3 * slot + 2);
	put_desc(e, 3 * slot + 2, STATUS_GPA + slot, 1, VRING_DESC_F_WRITE, 0);
	avail[2 + e->avail_idx % QSIZE] = 3 * slot;
	__atomic_store_n(&avail[1], (uint16_t)(e->avail_idx + 1), __ATOMIC_RELEASE);
	e->avail_idx++;
	e->slot_req[slot] = seq;
}

static void kick(struct env *e)
{
	const uint64_t one = 1;

	assert_int_equal(write(e->kick, &one, sizeof(one)), (ssize_t)sizeof(one));
}

/* Take what the device used; returns how many completed. */
static unsigned int reap(struct env *e)
{
	uint8_t *used = gpa(e, USED_GPA);
	uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	unsigned int n = 0;

	for (; e->used_seen != idx; e->used_seen++, n++) {
		const struct vring_used_elem *u =
			(const void *)(used + 4 + 8 * (e->used_seen % QSIZE));
		unsigned int slot = u->id / 3;

		assert_true(u->id % 3 == 0 && slot < SLOTS);
		if (e->slot_req[slot] < 0)
			fail_msg("slot %u completed twice (used entry %u)", slot, e->used_seen);
		assert_int_equal(*(uint8_t *)gpa(e, STATUS_GPA + slot), VIRTIO_BLK_S_OK);
		e->completions[e->slot_req[slot]]++;
		e->slot_req[slot] = -1;
	}
	return n;
}

/* Kill the backend KILLS times, each time once the frontend had time (1 s ticks) to come back. */
static void *chaos_thread(void *arg)
{
	struct env *e = arg;

	for (unsigned int i = 0; i < KILLS && !atomic_load(&e->stop_chaos); i++) {
		usleep(1500 * 1000);
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
		usleep(50 * 1000);
		backend_spawn(e);
		atomic_fetch_add(&e->restarts, 1);
	}
	return NULL;
}

/* Lines of backend @i's log that contain @needle. */
static unsigned int backend_says(const struct env *e, unsigned int i, const char *needle);

static unsigned int count(const char *hay, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static unsigned int backend_says(const struct env *e, unsigned int i, const char *needle)
{
	char path[128], *log;
	unsigned int n;

	backend_log(e, i, path, sizeof(path));
	log = slurp(path);
	n = count(log, needle);
	free(log);
	return n;
}

static void test_writes_survive_backend_kills(void **state)
{
	struct env *e = *state;
	const struct vhost_user_opts o = { .socket = e->sock, .reconnect_s = 1, .cancel_fd = -1 };
	const unsigned int nr_reqs = SECTORS / REQ_SECTORS;
	unsigned int next = 0, done = 0, target = 0, resubmitted = 0;
	static char log[65536];
	double deadline;
	pthread_t chaos;

	backend_spawn(e);
	assert_int_equal(vhost_user_dev_create("blk0", VIRTIO_ID_BLOCK, &o, &e->dev), 0);
	e->dev->mem = &e->mem;
	e->dev->loop = e->loop;
	e->dev->transport = e;
	e->dev->needs_reset = count_reset;
	e->dev->call_fd = e->call;
	e->dev->kick_fds[0] = e->kick;
	e->dev->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	assert_int_equal(vq_init(&e->dev->vqs[0], &e->mem, "blk0.q0", QSIZE, DESC_GPA, AVAIL_GPA,
				 USED_GPA, e->dev->features),
			 0);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);

	capture_begin();
	assert_int_equal(pthread_create(&chaos, NULL, chaos_thread, e), 0);
	deadline = now_s() + 120;
	/* Writes go on until the last restart, then one more pass over the disk. */
	while ((!target || done < target) && now_s() < deadline) {
		struct pollfd p = { .fd = e->call, .events = POLLIN };
		uint64_t n;
		bool kicked = false;

		if (!target && atomic_load(&e->restarts) == KILLS)
			target = next + nr_reqs;
		for (unsigned int s = 0; s < SLOTS && (!target || next < target) && next < MAX_SEQ;
		     s++) {
			if (e->slot_req[s] >= 0)
				continue;
			submit(e, s, next++);
			kicked = true;
		}
		if (kicked)
			kick(e);
		if (poll(&p, 1, 100) > 0 && read(e->call, &n, sizeof(n)) < 0)
			assert_int_equal(errno, EAGAIN);
		done += reap(e);
	}
	atomic_store(&e->stop_chaos, true);
	pthread_join(chaos, NULL);
	capture_end(log, sizeof(log), true);
	if (!target || done < target)
		fail_msg("%u of %u writes completed in 120 s: the device hangs", done, next);
	for (unsigned int seq = 0; seq < next; seq++)
		if (e->completions[seq] != 1)
			fail_msg("write %u completed %u times", seq, e->completions[seq]);
	assert_int_equal(atomic_load(&e->restarts), KILLS);
	/* Each kill was seen and recovered from. */
	assert_int_equal(count(log, "queues paused, reconnecting every 1 s"), KILLS);
	assert_int_equal(count(log, "reconnected, queues resumed"), KILLS);
	assert_int_equal(atomic_load(&e->resets), 0);
	assert_int_equal(pattern_check(e->disk, SEED, SECTORS), 0);
	/*
	 * The in-flight region came from the first backend, and with the queue
	 * always full, backends started again found requests to submit again.
	 */
	assert_int_equal(backend_says(e, 0, " bytes for 1 queues of 64"), 1); /* GET_INFLIGHT_FD */
	for (unsigned int i = 1; i <= KILLS; i++) {
		assert_int_equal(backend_says(e, i, " bytes for "), 0);
		/* SET_INFLIGHT_FD, with the first backend's region. */
		assert_int_equal(backend_says(e, i, "in-flight region of 1 queues of 64 entries"),
				 1);
		resubmitted += backend_says(e, i, "before the restart are submitted again");
	}
	assert_true(resubmitted >= 1);
	print_message("%u writes, %u backend restarts, %u of them resubmitted in-flight requests\n",
		      next, atomic_load(&e->restarts), resubmitted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writes_survive_backend_kills, env_setup,
						env_teardown),
	};

	return cmocka_run_group_tests_name("vhost-user reconnect", tests, NULL, NULL);
}
