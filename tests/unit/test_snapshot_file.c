// SPDX-License-Identifier: MIT
/*
 * The snapshot state file (vmm/snapshot_file.c), no KVM: a written file
 * loads back with its sections; every corrupt case (wrong magic, wrong
 * version, a flipped bit anywhere, truncated at any length, bytes after
 * the end, unknown flags, a section past the end, a memory file of the
 * wrong size) is refused with a message naming the file and the fault;
 * a failed write leaves nothing behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "capture.h"
#include "snapshot_file.h"

static char scratch[1 << 16]; /* logs of the loops, not checked */

struct fixture {
	char dir[64];
	char path[128];
	char *buf; /* the written file */
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/evvm-snapfile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->buf);
	free(f);
	return 0;
}

static const char regs[] = "registers of vcpu 0";
static const uint8_t lapic[1024] = { [0] = 1, [1023] = 0xff };

/* A file with three sections, written with snapfile_commit() and read back raw. */
static void write_sample(struct fixture *f)
{
	struct snapfile sf;
	struct stat st;
	int fd;

	assert_int_equal(snapfile_init(&sf, f->path), 0);
	assert_int_equal(snapfile_add(&sf, SNAP_VCPU_REGS, 0, regs, sizeof(regs)), 0);
	assert_int_equal(snapfile_add(&sf, SNAP_VCPU_LAPIC, 3, lapic, sizeof(lapic)), 0);
	assert_int_equal(snapfile_add(&sf, SNAP_VM_CLOCK, 0, "", 0), 0);
	assert_int_equal(snapfile_commit(&sf), 0);
	snapfile_free(&sf);

	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	f->len = st.st_size;
	free(f->buf); /* of an earlier write_sample() */
	f->buf = malloc(f->len);
	assert_int_equal(read(fd, f->buf, f->len), (ssize_t)f->len);
	close(fd);
}

/* Parse @len bytes of @buf, which must fail with a message containing @needle. */
static void expect_refused(const char *buf, size_t len, const char *needle)
{
	struct snapfile sf;
	char log[1024];

	capture_begin();
	assert_int_equal(snapfile_parse(&sf, "st.snap", buf, len), -EINVAL);
	capture_end(log, sizeof(log), false);
	if (!strstr(log, needle) || !strstr(log, "'st.snap'"))
		fail_msg("log '%s' lacks '%s' or the file's name", log, needle);
}

/* Rewrite the CRC after a deliberate change, so the check after the CRC's is reached. */
static void fix_crc(char *buf, size_t len)
{
	uint32_t crc = crc32(crc32(0, Z_NULL, 0), (const Bytef *)buf, len - 8);

	memcpy(buf + len - 8, &crc, sizeof(crc));
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;
	const char *p;
	size_t len = 0;

	write_sample(f);
	assert_int_equal(snapfile_load(&sf, f->path), 0);
	assert_int_equal(sf.nr_sections, 3);
	p = snapfile_find(&sf, SNAP_VCPU_REGS, 0, sizeof(regs), NULL);
	assert_non_null(p);
	assert_memory_equal(p, regs, sizeof(regs));
	p = snapfile_find(&sf, SNAP_VCPU_LAPIC, 3, 0, &len);
	assert_int_equal(len, sizeof(lapic));
	assert_memory_equal(p, lapic, sizeof(lapic));
	assert_non_null(snapfile_find(&sf, SNAP_VM_CLOCK, 0, 0, &len));
	assert_int_equal(len, 0);
	assert_null(snapfile_find_opt(&sf, SNAP_VCPU_LAPIC, 0, NULL));
	snapfile_free(&sf);
}

static void test_wrong_section_size(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;
	char log[512];

	write_sample(f);
	assert_int_equal(snapfile_load(&sf, f->path), 0);
	capture_begin();
	assert_null(snapfile_find(&sf, SNAP_VCPU_REGS, 0, sizeof(regs) + 1, NULL));
	assert_null(snapfile_find(&sf, SNAP_VCPU_SREGS, 0, 4, NULL));
	capture_end(log, sizeof(log), false);
	assert_non_null(strstr(log, "is 20 bytes, want 21"));
	assert_non_null(strstr(log, "is missing"));
	snapfile_free(&sf);
}

static void test_wrong_magic(void **state)
{
	struct fixture *f = *state;

	write_sample(f);
	f->buf[0] = 'X';
	expect_refused(f->buf, f->len, "not an evvm state file (wrong magic)");
}

static void test_wrong_version(void **state)
{
	struct fixture *f = *state;
	uint32_t v = SNAPFILE_VERSION + 1;
	char want[64];

	write_sample(f);
	memcpy(f->buf + 8, &v, sizeof(v));
	snprintf(want, sizeof(want), "format version %u", v);
	expect_refused(f->buf, f->len, want);
	/* Older than any layout this evvm knows: refused, not misread. */
	v = SNAPFILE_VERSION_MIN - 1;
	write_sample(f);
	memcpy(f->buf + 8, &v, sizeof(v));
	expect_refused(f->buf, f->len, "format version 1");
}

/* Every older format this evvm reads is taken, and says which it is (its layouts differ). */
static void test_older_version(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;
	uint32_t v = SNAPFILE_VERSION_MIN;

	write_sample(f);
	memcpy(f->buf + 8, &v, sizeof(v));
	fix_crc(f->buf, f->len);
	assert_int_equal(snapfile_parse(&sf, "st.snap", f->buf, f->len), 0);
	assert_int_equal(sf.version, SNAPFILE_VERSION_MIN);
	snapfile_free(&sf);
	assert_int_equal(snapfile_init(&sf, "x"), 0);
	assert_int_equal(sf.version, SNAPFILE_VERSION);
	snapfile_free(&sf);
}

/* Every single bit of the file flipped in turn is refused. */
static void test_every_flipped_bit(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;

	write_sample(f);
	capture_begin();
	for (size_t i = 0; i < f->len * 8; i++) {
		f->buf[i / 8] ^= 1 << (i % 8);
		if (snapfile_parse(&sf, "st.snap", f->buf, f->len) != -EINVAL)
			fail_msg("bit %zu flipped: accepted", i);
		f->buf[i / 8] ^= 1 << (i % 8);
	}
	capture_end(scratch, sizeof(scratch), false);
	/* A bit in the body names the checksum. */
	f->buf[f->len / 2] ^= 0x10;
	expect_refused(f->buf, f->len, "checksum mismatch");
}

/* Cut at every length: refused, and "truncated" once past the header. */
static void test_every_truncation(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;

	write_sample(f);
	capture_begin();
	for (size_t n = 0; n < f->len; n++)
		if (snapfile_parse(&sf, "st.snap", f->buf, n) != -EINVAL)
			fail_msg("truncated to %zu of %zu bytes: accepted", n, f->len);
	capture_end(scratch, sizeof(scratch), false);
	expect_refused(f->buf, 10, "truncated");
	expect_refused(f->buf, f->len - 1, "truncated");
}

static void test_trailing_bytes(void **state)
{
	struct fixture *f = *state;
	char *longer;

	write_sample(f);
	longer = calloc(1, f->len + 8);
	memcpy(longer, f->buf, f->len);
	expect_refused(longer, f->len + 8, "8 bytes after the end");
	free(longer);
}

static void test_unknown_flags(void **state)
{
	struct fixture *f = *state;
	uint32_t flags = 4;

	write_sample(f);
	memcpy(f->buf + 12, &flags, sizeof(flags));
	fix_crc(f->buf, f->len);
	expect_refused(f->buf, f->len, "unknown flags 0x4");
}

/* A section length that points past the end, with a valid CRC. */
static void test_section_past_end(void **state)
{
	struct fixture *f = *state;
	uint64_t huge = 1ull << 40;

	write_sample(f);
	memcpy(f->buf + 64 + 8, &huge, sizeof(huge)); /* the first section's length */
	fix_crc(f->buf, f->len);
	expect_refused(f->buf, f->len, "past the end");
}

static void test_too_many_sections(void **state)
{
	struct fixture *f = *state;
	uint32_t n = 100000;

	write_sample(f);
	memcpy(f->buf + 56, &n, sizeof(n));
	fix_crc(f->buf, f->len);
	expect_refused(f->buf, f->len, "100000 sections do not fit");
}

static void test_memory_file_size(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;
	char mem[160], log[512];
	int fd;

	write_sample(f);
	assert_int_equal(snapfile_load(&sf, f->path), 0);
	snprintf(mem, sizeof(mem), "%s/mem", f->dir);
	fd = open(mem, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	assert_int_equal(snapfile_check_mem(&sf, mem, fd, 4 << 20), 0);
	capture_begin();
	assert_int_equal(snapfile_check_mem(&sf, mem, fd, 8 << 20), -EINVAL);
	capture_end(log, sizeof(log), false);
	assert_non_null(strstr(log, "4194304 bytes, but"));
	assert_non_null(strstr(log, "8388608 bytes of guest RAM"));
	assert_non_null(strstr(log, mem));
	close(fd);
	snapfile_free(&sf);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;
	char log[512];

	capture_begin();
	assert_int_equal(snapfile_load(&sf, f->path), -ENOENT);
	capture_end(log, sizeof(log), false);
	assert_non_null(strstr(log, f->path));
	assert_non_null(strstr(log, "ENOENT"));
}

/* A write that cannot happen leaves neither the file nor a temporary one. */
static void test_failed_write_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct snapfile sf;
	char path[160], cmd[200], log[512];

	snprintf(path, sizeof(path), "%s/no-such-dir/state", f->dir);
	assert_int_equal(snapfile_init(&sf, path), 0);
	assert_int_equal(snapfile_add(&sf, SNAP_VCPU_REGS, 0, regs, sizeof(regs)), 0);
	capture_begin();
	assert_int_equal(snapfile_commit(&sf), -ENOENT);
	capture_end(log, sizeof(log), false);
	assert_non_null(strstr(log, path));
	snapfile_free(&sf);
	/* Over an existing file: replaced whole, no temporary left. */
	write_sample(f);
	write_sample(f);
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", f->dir);
	assert_int_equal(system(cmd), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_roundtrip),	   T(test_wrong_section_size),
		T(test_wrong_magic),	   T(test_wrong_version),
		T(test_older_version),	   T(test_every_flipped_bit),
		T(test_every_truncation),  T(test_trailing_bytes),
		T(test_unknown_flags),	   T(test_section_past_end),
		T(test_too_many_sections), T(test_memory_file_size),
		T(test_missing_file),	   T(test_failed_write_leaves_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
