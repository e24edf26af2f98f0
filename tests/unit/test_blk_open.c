// SPDX-License-Identifier: MIT
/*
 * A disk on a block device the host has mounted: blk_create() must refuse it
 * read-write (the kernel's exclusive claim answers EBUSY) and say so. Uses a
 * loop device with an ext4 file system mounted on a directory of its own;
 * all three are undone in teardown whatever the test did.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <evvm/devices.h>
#include <cmocka.h>

#include "capture.h"

struct mounted {
	char dir[64]; /* mkdtemp: the image and the mount point */
	char image[96];
	char mnt[96];
	char loop[64]; /* /dev/loopN once attached */
	bool attached;
	bool is_mounted;
	char why[256]; /* why the fixture could not be built, for skip */
};

/* Run @cmd with its output in @why; 0 if it exited 0. */
static int sh(struct mounted *m, const char *cmd)
{
	char line[256];
	FILE *p = popen(cmd, "r");
	int st;

	if (!p)
		return -1;
	m->why[0] = 0;
	while (fgets(line, sizeof(line), p))
		snprintf(m->why, sizeof(m->why), "%s", line);
	st = pclose(p);
	return st == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct mounted *m = calloc(1, sizeof(*m));
	char cmd[512];
	FILE *p;

	assert_non_null(m);
	*state = m;
	snprintf(m->dir, sizeof(m->dir), "/tmp/evvm-blkopen-XXXXXX");
	assert_non_null(mkdtemp(m->dir));
	snprintf(m->image, sizeof(m->image), "%s/fs.img", m->dir);
	snprintf(m->mnt, sizeof(m->mnt), "%s/mnt", m->dir);
	assert_int_equal(mkdir(m->mnt, 0700), 0);
	snprintf(cmd, sizeof(cmd), "truncate -s 16M %s 2>&1", m->image);
	assert_int_equal(sh(m, cmd), 0);

	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>&1", m->image);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(m->loop, sizeof(m->loop), p))
		m->loop[0] = 0;
	if (pclose(p) != 0 || strncmp(m->loop, "/dev/loop", 9)) {
		snprintf(m->why, sizeof(m->why), "losetup -f --show: %s", m->loop);
		m->loop[0] = 0;
		return 0;
	}
	m->loop[strcspn(m->loop, "\n")] = 0;
	m->attached = true;
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s 2>&1", m->loop);
	if (sh(m, cmd))
		return 0;
	if (mount(m->loop, m->mnt, "ext4", 0, NULL)) {
		snprintf(m->why, sizeof(m->why), "mount %s: %s", m->loop, strerror(errno));
		return 0;
	}
	m->is_mounted = true;
	return 0;
}

static int teardown(void **state)
{
	struct mounted *m = *state;
	char cmd[256];

	if (m->is_mounted && umount(m->mnt))
		fprintf(stderr, "umount %s: %s\n", m->mnt, strerror(errno));
	if (m->attached) {
		snprintf(cmd, sizeof(cmd), "losetup -d %s 2>&1", m->loop);
		if (sh(m, cmd))
			fprintf(stderr, "losetup -d %s: %s\n", m->loop, m->why);
	}
	unlink(m->image);
	rmdir(m->mnt);
	rmdir(m->dir);
	free(m);
	return 0;
}

static int create(const char *path, bool readonly, char *msg, size_t size)
{
	struct blk_config cfg = { .path = path, .readonly = readonly };
	struct evvm_virtio_dev *dev = NULL;
	int err;

	capture_begin();
	err = blk_create("blk0", &cfg, &dev);
	capture_end(msg, size, false);
	if (!err)
		virtio_dev_destroy(dev);
	return err;
}

static void test_mounted_block_device_refused(void **state)
{
	struct mounted *m = *state;
	char msg[512], want[256];

	if (!m->is_mounted) {
		fprintf(stderr, "skip: no mounted loop device: %s\n", m->why);
		skip();
	}
	assert_int_equal(create(m->loop, false, msg, sizeof(msg)), -EBUSY);
	snprintf(want, sizeof(want),
		 "evvm: disk '%s': block device in use by the host (mounted, or claimed by "
		 "another program): EBUSY; unmount it or use readonly=on\n",
		 m->loop);
	assert_string_equal(msg, want);

	/* Reading it cannot hurt the host's file system. */
	assert_int_equal(create(m->loop, true, msg, sizeof(msg)), 0);

	/* Unmounted, it is the guest's. */
	assert_int_equal(umount(m->mnt), 0);
	m->is_mounted = false;
	assert_int_equal(create(m->loop, false, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mounted_block_device_refused, setup, teardown),
	};

	return cmocka_run_group_tests_name("blk open", tests, NULL, NULL);
}
