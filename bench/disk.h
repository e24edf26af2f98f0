/* SPDX-License-Identifier: MIT */
#ifndef EVVM_BENCH_DISK_H
#define EVVM_BENCH_DISK_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <evvm/log.h>

/*
 * The disk bench/blk and bench/vhost-blk measure on: a file on tmpfs
 * (/dev/shm; /tmp with a note if that is absent), every page written with
 * data so reads hit real pages, and unlinked at once: the VMs or backends
 * open it through /proc/self/fd/N, so nothing is left behind whatever
 * happens. Closing the fd frees it.
 */

#define DISK_MIB    256
#define DISK_BLOCK  4096
#define DISK_GOLDEN 0x9e3779b97f4a7c15ULL

struct disk {
	int fd;
	uint64_t blocks; /* of DISK_BLOCK bytes */
	char dir[32];
	bool tmpfs;
};

/* The disk's content: the 8 bytes at file offset @off (8-aligned). */
static inline uint64_t disk_pattern(uint64_t off)
{
	return (off / 8 + 1) * DISK_GOLDEN;
}

/* Create, fill and unlink the disk; 0, or 1 after one line starting with @prog. */
static inline int disk_make(const char *prog, struct disk *d)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp" };
	const size_t chunk_bytes = 1 << 20;
	struct statfs sfs;
	struct stat st;
	char path[64];
	uint64_t *chunk;
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (!stat(dirs[i], &st) && S_ISDIR(st.st_mode))
			break;
	if (i == 2) {
		fprintf(stderr, "%s: neither /dev/shm nor /tmp is a directory\n", prog);
		return 1;
	}
	snprintf(d->dir, sizeof(d->dir), "%s", dirs[i]);
	d->tmpfs = !statfs(dirs[i], &sfs) && sfs.f_type == TMPFS_MAGIC;
	if (i)
		fprintf(stderr, "%s: note: no /dev/shm, the disk is on /tmp (%s)\n", prog,
			d->tmpfs ? "tmpfs" : "not tmpfs: page cache, writeback may show");
	snprintf(path, sizeof(path), "%s/evvm-%s-bench-XXXXXX", dirs[i], prog);
	/* Close-on-exec: a bench that spawns backends lets only them inherit it. */
	d->fd = mkostemp(path, O_CLOEXEC);
	if (d->fd < 0) {
		fprintf(stderr, "%s: creating a disk file in %s: %s\n", prog, dirs[i],
			evvm_strerror(errno));
		return 1;
	}
	unlink(path); /* the fd keeps it */
	d->blocks = ((uint64_t)DISK_MIB << 20) / DISK_BLOCK;
	chunk = malloc(chunk_bytes);
	if (!chunk) {
		fprintf(stderr, "%s: %s\n", prog, evvm_strerror(ENOMEM));
		close(d->fd);
		return 1;
	}
	for (uint64_t mib = 0; mib < DISK_MIB; mib++) {
		for (size_t w = 0; w < chunk_bytes / 8; w++)
			chunk[w] = disk_pattern((mib << 20) + w * 8);
		errno = 0;
		if (pwrite(d->fd, chunk, chunk_bytes, (off_t)(mib << 20)) != (ssize_t)chunk_bytes) {
			fprintf(stderr, "%s: writing the %d MiB disk in %s: %s\n", prog, DISK_MIB,
				dirs[i], errno ? evvm_strerror(errno) : "short write");
			free(chunk);
			close(d->fd);
			return 1;
		}
	}
	free(chunk);
	return 0;
}

#endif
