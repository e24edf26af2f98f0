// SPDX-License-Identifier: MIT
/*
 * Guest RAM of a snapshot: its own file, the size of RAM, laid out as RAM
 * is (slot by slot at their offsets in the memfd). A full snapshot holds
 * every page the guest has (sparse where it never wrote); a diff only the
 * pages written since the last snapshot, which is its base: KVM's dirty
 * log says what the vCPUs wrote, the memory map's log (mem_log_start())
 * what devices wrote through the rings. Each snapshot, full or diff,
 * takes both logs and so starts the next diff's interval.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <evvm/log.h>

#include "snapshot.h"
#include "vm.h"

#define PAGE_SIZE (1ULL << EVVM_MEM_PAGE_SHIFT)

/* Copy @len bytes at @off of @ram into @fd at @off. */
static int snap_write_range(int fd, const char *ram, uint64_t off, uint64_t len)
{
	while (len) {
		ssize_t n = pwrite(fd, ram + off, len > (1u << 30) ? (1u << 30) : len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * All of guest RAM to @fd: only what the memfd has data for (SEEK_DATA),
 * the rest is a hole of the file's size; a restored VM's private mapping
 * has no memfd, so all of it.
 */
static int snap_write_full(struct evvm_vm *vm, int fd)
{
	uint64_t size = vm->ram_size, off = 0;
	int err = 0;

	if (vm->mem_fd < 0)
		return snap_write_range(fd, vm->ram, 0, size);
	while (off < size && !err) {
		off_t data = lseek(vm->mem_fd, off, SEEK_DATA), hole;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(vm->mem_fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		err = snap_write_range(fd, vm->ram, data, hole - data);
		off = hole;
	}
	return err;
}

static uint64_t slot_words(const struct evvm_mem_region *r)
{
	return ((r->size >> EVVM_MEM_PAGE_SHIFT) + 63) / 64;
}

/* Region (slot) @i's pages written since the last take, KVM's and the devices', into @bitmap. */
static int snap_take_log(struct evvm_vm *vm, unsigned int i, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = bitmap };

	memset(bitmap, 0, slot_words(&vm->mem.regions[i]) * sizeof(uint64_t));
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		int err = -errno;

		pr_err("KVM_GET_DIRTY_LOG (slot %u): %s", i, evvm_strerror(err));
		return err;
	}
	mem_log_take(&vm->mem, i, bitmap);
	return 0;
}

/* The runs of set bits of region @r's @bitmap to @fd (@fd NULL: only count them). */
static int snap_write_dirty(struct evvm_vm *vm, const struct evvm_mem_region *r,
			    const uint64_t *bitmap, int fd, uint64_t *pages)
{
	uint64_t n = r->size >> EVVM_MEM_PAGE_SHIFT, p = 0;
	int err = 0;

	while (p < n && !err) {
		uint64_t start;

		while (p < n && !(bitmap[p / 64] & (1ULL << (p % 64))))
			p++;
		start = p;
		while (p < n && (bitmap[p / 64] & (1ULL << (p % 64))))
			p++;
		if (p == start)
			break;
		*pages += p - start;
		if (fd >= 0)
			err = snap_write_range(fd, vm->ram, r->offset + start * PAGE_SIZE,
					       (p - start) * PAGE_SIZE);
	}
	return err;
}

/*
 * Take every slot's log; with @fd >= 0, write the pages it names (a diff).
 * A snapshot that took the logs and then failed leaves no base.
 */
static int snap_logged_pages(struct evvm_vm *vm, int fd, uint64_t *pages)
{
	uint64_t *bitmap = NULL;
	int err = 0;

	vm->dirty_base = false;
	for (unsigned int i = 0; i < vm->mem.nr_regions && !err; i++) {
		uint64_t *b = realloc(bitmap, slot_words(&vm->mem.regions[i]) * sizeof(uint64_t));

		if (!b) {
			err = -ENOMEM;
			break;
		}
		bitmap = b;
		err = snap_take_log(vm, i, bitmap);
		if (!err)
			err = snap_write_dirty(vm, &vm->mem.regions[i], bitmap, fd, pages);
	}
	free(bitmap);
	return err;
}

/*
 * A diff file keeps its unwritten pages as holes, or a rebase would copy
 * zeroes over the base: refuse a file system that fills them in.
 */
static int snap_check_sparse(int fd, uint64_t size, uint64_t pages)
{
	struct stat st;

	if (pages * PAGE_SIZE >= size)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	return (uint64_t)st.st_blocks * 512 >= size ? -EOPNOTSUPP : 0;
}

static int snap_write_ram(struct evvm_vm *vm, int fd, enum evvm_snapshot_type type,
			  const char *path)
{
	uint64_t pages = 0;
	bool diff = type == EVVM_SNAPSHOT_DIFF && vm->dirty_base;
	int err;

	if (ftruncate(fd, vm->ram_size) < 0)
		return -errno;
	if (type == EVVM_SNAPSHOT_DIFF && !vm->dirty_base)
		pr_info("snapshot memory '%s': diff with no base snapshot yet: every page", path);
	if (!diff) {
		err = snap_write_full(vm, fd);
		/* A full snapshot is the next diff's base too. */
		if (!err && vm->cfg.track_dirty_pages)
			err = snap_logged_pages(vm, -1, &pages);
		return err;
	}
	err = snap_logged_pages(vm, fd, &pages);
	if (!err)
		err = snap_check_sparse(fd, vm->ram_size, pages);
	if (!err)
		pr_info("snapshot memory '%s': diff of %llu pages (%llu KiB)", path,
			(unsigned long long)pages, (unsigned long long)(pages * PAGE_SIZE >> 10));
	return err;
}

int snapshot_mem_save(struct evvm_vm *vm, const char *path, enum evvm_snapshot_type type)
{
	char *tmp = NULL;
	const char *what = "create";
	int fd, err;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto free_tmp;
	}
	what = "write";
	err = snap_write_ram(vm, fd, type, path);
	if (!err && fsync(fd) < 0) {
		what = "fsync";
		err = -errno;
	}
	close(fd);
	if (!err && rename(tmp, path) < 0) {
		what = "rename";
		err = -errno;
	}
	if (err) {
		unlink(tmp);
		vm->dirty_base = false;
	} else if (vm->cfg.track_dirty_pages) {
		vm->dirty_base = true;
	}
free_tmp:
	free(tmp);
	if (err == -EOPNOTSUPP)
		pr_err("snapshot memory '%s': the file system does not keep a file's holes, "
		       "which a diff snapshot needs (tmpfs, ext4 and xfs do)",
		       path);
	else if (err)
		pr_err("snapshot memory '%s': %s: %s", path, what, evvm_strerror(err));
	return err;
}

/* Copy [@off, @off + @len) of @from into @to at the same offset. */
static int copy_extent(int from, int to, off_t off, off_t len)
{
	while (len > 0) {
		loff_t in = off, out = off;
		ssize_t n = copy_file_range(from, &in, to, &out, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += n;
		len -= n;
	}
	return 0;
}

static int rebase_open(const char *path, int flags, struct stat *st)
{
	int fd = open(path, flags | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		pr_err("snapshot memory '%s': open: %s", path, evvm_strerror(err));
		return err;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		err = S_ISREG(st->st_mode) ? -errno : -EINVAL;
		pr_err("snapshot memory '%s': %s", path,
		       err == -EINVAL ? "not a regular file" : evvm_strerror(err));
		close(fd);
		return err;
	}
	return fd;
}

int vm_snapshot_rebase(const char *base_path, const char *diff_path)
{
	struct stat bst, dst;
	off_t off = 0;
	int base, diff, err = 0;

	diff = rebase_open(diff_path, O_RDONLY, &dst);
	if (diff < 0)
		return diff;
	base = rebase_open(base_path, O_WRONLY, &bst);
	if (base < 0) {
		err = base;
		goto close_diff;
	}
	if (bst.st_size != dst.st_size) {
		pr_err("snapshot memory '%s': %lld bytes, its diff '%s' %lld: not one VM's memory",
		       base_path, (long long)bst.st_size, diff_path, (long long)dst.st_size);
		err = -EINVAL;
		goto close_base;
	}
	while (!err && off < dst.st_size) {
		off_t data = lseek(diff, off, SEEK_DATA), hole;

		if (data < 0) {
			err = errno == ENXIO ? 0 : -errno;
			break;
		}
		hole = lseek(diff, data, SEEK_HOLE);
		if (hole < 0) {
			err = -errno;
			break;
		}
		err = copy_extent(diff, base, data, hole - data);
		off = hole;
	}
	if (!err && fsync(base) < 0)
		err = -errno;
	if (err)
		pr_err("snapshot memory '%s': rebase onto it from '%s': %s", base_path, diff_path,
		       evvm_strerror(err));
close_base:
	close(base);
close_diff:
	close(diff);
	return err;
}
