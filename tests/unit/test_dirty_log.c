// SPDX-License-Identifier: MIT
/*
 * The host's half of the dirty page log behind diff snapshots: what devices
 * write through a virtqueue is marked in the memory map's log (the vCPUs'
 * half is KVM's), and the snapshot's rebase puts a diff's pages onto its
 * base and nothing else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/mem.h>
#include <evvm/virtqueue.h>
#include <evvm/vm.h>

#define PAGE	 4096ULL
#define GPA_LOW	 0ULL
#define GPA_HIGH 0x100000000ULL
#define NPAGES	 200 /* more than one bitmap word */

static uint8_t *low, *high;

static void map(struct evvm_mem *m)
{
	const struct evvm_mem_region lo = { .gpa = GPA_LOW, .size = NPAGES * PAGE, .hva = low };
	const struct evvm_mem_region hi = { .gpa = GPA_HIGH, .size = NPAGES * PAGE, .hva = high };

	mem_init(m);
	assert_int_equal(mem_add_region(m, &lo), 0);
	assert_int_equal(mem_add_region(m, &hi), 0);
}

static int setup(void **state)
{
	(void)state;
	low = calloc(NPAGES, PAGE);
	high = calloc(NPAGES, PAGE);
	return low && high ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(low);
	free(high);
	return 0;
}

static bool bit(const uint64_t *b, unsigned int page)
{
	return b[page / 64] & (1ULL << (page % 64));
}

/* The set pages of region @i, as a taken bitmap; the log is empty after. */
static unsigned int take(struct evvm_mem *m, unsigned int i, uint64_t *b)
{
	unsigned int n = 0;

	memset(b, 0, (NPAGES + 63) / 64 * sizeof(*b));
	mem_log_take(m, i, b);
	for (unsigned int p = 0; p < NPAGES; p++)
		n += bit(b, p);
	return n;
}

static void test_mark_and_take(void **state)
{
	uint64_t b[(NPAGES + 63) / 64];
	struct evvm_mem m;

	(void)state;
	map(&m);
	/* Not logging: marks are dropped, nothing to take. */
	mem_mark_dirty(&m, low, 1);
	assert_int_equal(take(&m, 0, b), 0);

	assert_int_equal(mem_log_start(&m), 0);
	mem_mark_dirty(&m, low + 5 * PAGE + 100, 1);
	/* Straddles pages 69 and 70 (a word boundary at 64 before them). */
	mem_mark_dirty(&m, low + 70 * PAGE - 2, 4);
	/* Past the region's end: clipped, not a write outside the bitmap. */
	mem_mark_dirty(&m, high + (NPAGES - 1) * PAGE, 3 * PAGE);
	/* Not guest RAM: ignored. */
	mem_mark_dirty(&m, b, sizeof(b));
	assert_int_equal(take(&m, 0, b), 3);
	assert_true(bit(b, 5) && bit(b, 69) && bit(b, 70));
	assert_int_equal(take(&m, 0, b), 0); /* taking clears */
	assert_int_equal(take(&m, 1, b), 1);
	assert_true(bit(b, NPAGES - 1));

	/* A taken bitmap is ORed into, so KVM's bits come through. */
	memset(b, 0, sizeof(b));
	b[0] = 1;
	mem_mark_dirty(&m, low + 2 * PAGE, PAGE);
	mem_log_take(&m, 0, b);
	assert_int_equal(b[0], 1 | 4);
	mem_log_stop(&m);
	assert_false(m.log_dirty);
}

/*
 * A device's push marks the used ring and every device-writable buffer of
 * the chain, whole (a status byte may lie past the length pushed), and not
 * the buffers it only read.
 */
static void test_vq_push_marks(void **state)
{
	const uint64_t desc = 0, avail = 0x1000, used = 0x2000;
	uint64_t b[(NPAGES + 63) / 64];
	struct vring_desc *d = (struct vring_desc *)low;
	uint16_t *av = (uint16_t *)(low + avail);
	struct evvm_mem m;
	struct evvm_vq vq;
	struct vq_elem e;

	(void)state;
	map(&m);
	assert_int_equal(vq_init(&vq, &m, "q0", 8, desc, avail, used, 0), 0);
	/* Read 0x10000+16; write 0x20000+4096 and 0x30ff0+32 (pages 48 and 49). */
	d[0] = (struct vring_desc){
		.addr = 0x10000, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 1
	};
	d[1] = (struct vring_desc){ .addr = 0x20000,
				    .len = 4096,
				    .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
				    .next = 2 };
	d[2] = (struct vring_desc){ .addr = 0x30ff0, .len = 32, .flags = VRING_DESC_F_WRITE };
	av[2] = 0;
	av[1] = 1;
	assert_int_equal(mem_log_start(&m), 0);
	assert_int_equal(vq_pop(&vq, &e), 1);
	assert_int_equal(take(&m, 0, b), 0); /* popping writes nothing */
	assert_int_equal(vq_push(&vq, &e, 1), 0);
	assert_int_equal(take(&m, 0, b), 4);
	assert_true(bit(b, 2) && bit(b, 0x20) && bit(b, 0x30) && bit(b, 0x31));
	assert_false(bit(b, 0x10));
	/* Turning notifications on or off writes the used area. */
	vq_set_notify(&vq, false);
	assert_int_equal(take(&m, 0, b), 1);
	assert_true(bit(b, 2));
	mem_log_stop(&m);
}

static void write_file(const char *path, const void *buf, size_t len, off_t off, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	if (len)
		assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

/* The diff's data lands on the base; the base's other pages stay, holes copy nothing. */
static void test_rebase(void **state)
{
	char dir[] = "/tmp/evvm-rebase-XXXXXX", base[64], diff[64], odd[64];
	static uint8_t want[16 * 4096], got[16 * 4096];
	uint8_t page[4096];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	snprintf(odd, sizeof(odd), "%s/odd", dir);
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i / PAGE + 1);
	write_file(base, want, sizeof(want), 0, sizeof(want));
	/* The diff: page 3 of zeroes (written, so data) and page 9, the rest holes. */
	memset(page, 0, sizeof(page));
	write_file(diff, page, sizeof(page), 3 * PAGE, sizeof(want));
	fd = open(diff, O_WRONLY);
	memset(page, 0xee, sizeof(page));
	assert_int_equal(pwrite(fd, page, sizeof(page), 9 * PAGE), (ssize_t)sizeof(page));
	close(fd);
	memset(want + 3 * PAGE, 0, PAGE);
	memset(want + 9 * PAGE, 0xee, PAGE);

	assert_int_equal(vm_snapshot_rebase(base, diff), 0);
	fd = open(base, O_RDONLY);
	assert_int_equal(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	close(fd);
	assert_memory_equal(got, want, sizeof(want));

	/* One VM's memory or nothing: another size is refused, the base untouched. */
	write_file(odd, page, sizeof(page), 0, 2 * sizeof(want));
	assert_int_equal(vm_snapshot_rebase(base, odd), -EINVAL);
	fd = open(base, O_RDONLY);
	assert_int_equal(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	close(fd);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(vm_snapshot_rebase(base, "/nonexistent/diff"), -ENOENT);
	unlink(base);
	unlink(diff);
	unlink(odd);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_and_take),
		cmocka_unit_test(test_vq_push_marks),
		cmocka_unit_test(test_rebase),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
