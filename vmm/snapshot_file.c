// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <evvm/evvm.h>
#include <evvm/log.h>

#include "snapshot_file.h"

/* On disk, little-endian (x86 only), every field naturally aligned. */
struct snapfile_header {
	char magic[8];
	uint32_t version;
	uint32_t flags; /* none defined: a file with any set is refused */
	char evvm_version[32];
	uint64_t file_size; /* of the whole file, checksum included */
	uint32_t nr_sections;
	uint32_t reserved;
};

struct snapfile_shdr {
	uint32_t tag, index;
	uint64_t len;
};

#define SNAPFILE_CRC_LEN 8 /* the CRC-32 and 4 zero bytes */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int snapfile_reserve(struct snapfile *sf, size_t more)
{
	size_t need = sf->len + more, cap = sf->cap ? sf->cap : 4096;
	char *p;

	if (need > SNAPFILE_MAX)
		return -E2BIG;
	while (cap < need)
		cap *= 2;
	if (cap == sf->cap)
		return 0;
	p = realloc(sf->buf, cap);
	if (!p)
		return -ENOMEM;
	sf->buf = p;
	sf->cap = cap;
	return 0;
}

int snapfile_init(struct snapfile *sf, const char *path)
{
	struct snapfile_header h = { .version = SNAPFILE_VERSION };

	memset(sf, 0, sizeof(*sf));
	sf->path = strdup(path);
	if (!sf->path || snapfile_reserve(sf, sizeof(h))) {
		snapfile_free(sf);
		return -ENOMEM;
	}
	memcpy(h.magic, SNAPFILE_MAGIC, sizeof(h.magic));
	snprintf(h.evvm_version, sizeof(h.evvm_version), "%s", EVVM_VERSION_STRING);
	memcpy(sf->buf, &h, sizeof(h));
	sf->len = sizeof(h);
	sf->version = SNAPFILE_VERSION;
	return 0;
}

int snapfile_add(struct snapfile *sf, uint32_t tag, uint32_t index, const void *data, size_t len)
{
	struct snapfile_shdr s = { .tag = tag, .index = index, .len = len };
	size_t total = sizeof(s) + pad8(len);
	int err;

	if (len > SNAPFILE_MAX)
		return -E2BIG;
	err = snapfile_reserve(sf, total);
	if (err)
		return err;
	memcpy(sf->buf + sf->len, &s, sizeof(s));
	memcpy(sf->buf + sf->len + sizeof(s), data, len);
	memset(sf->buf + sf->len + sizeof(s) + len, 0, pad8(len) - len);
	sf->len += total;
	sf->nr_sections++;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* The directory of @path, opened to fsync the rename. */
static int open_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	free(copy);
	return fd;
}

int snapfile_commit(struct snapfile *sf)
{
	struct snapfile_header *h;
	uint32_t crc[2] = { 0, 0 };
	char *tmp = NULL;
	const char *what;
	int fd = -1, dfd, err;

	err = snapfile_reserve(sf, SNAPFILE_CRC_LEN);
	if (err) {
		pr_err("snapshot '%s': %s", sf->path, evvm_strerror(err));
		return err;
	}
	h = (struct snapfile_header *)sf->buf;
	h->nr_sections = sf->nr_sections;
	h->file_size = sf->len + SNAPFILE_CRC_LEN;
	crc[0] = crc32(crc32(0, Z_NULL, 0), (const Bytef *)sf->buf, sf->len);

	what = "temporary file";
	if (asprintf(&tmp, "%s.tmp.XXXXXX", sf->path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto fail;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	what = "write";
	err = write_all(fd, sf->buf, sf->len);
	if (!err)
		err = write_all(fd, (const char *)crc, sizeof(crc));
	if (err)
		goto unlink_tmp;
	what = "fsync";
	if (fsync(fd) < 0) {
		err = -errno;
		goto unlink_tmp;
	}
	close(fd);
	fd = -1;
	what = "rename";
	if (rename(tmp, sf->path) < 0) {
		err = -errno;
		goto unlink_tmp;
	}
	/* The rename itself reaches the disk with the directory. */
	dfd = open_dir_of(sf->path);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	return 0;
unlink_tmp:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
fail:
	pr_err("snapshot '%s': %s: %s", sf->path, what, evvm_strerror(err));
	return err;
}

/* The header checks, in the order that names the likeliest fault first. */
static int snapfile_check_header(const char *name, const struct snapfile_header *h, size_t len)
{
	if (memcmp(h->magic, SNAPFILE_MAGIC, sizeof(h->magic))) {
		pr_err("snapshot '%s': not an evvm state file (wrong magic)", name);
		return -EINVAL;
	}
	if (h->version < SNAPFILE_VERSION_MIN || h->version > SNAPFILE_VERSION) {
		pr_err("snapshot '%s': format version %u (written by evvm %.32s), this evvm reads "
		       "versions %u to %u",
		       name, h->version, memchr(h->evvm_version, 0, 32) ? h->evvm_version : "?",
		       SNAPFILE_VERSION_MIN, SNAPFILE_VERSION);
		return -EINVAL;
	}
	if (h->file_size > len) {
		pr_err("snapshot '%s': truncated: %zu of %llu bytes", name, len,
		       (unsigned long long)h->file_size);
		return -EINVAL;
	}
	if (h->file_size < len) {
		pr_err("snapshot '%s': %zu bytes after the end the header gives (%llu bytes)", name,
		       len - (size_t)h->file_size, (unsigned long long)h->file_size);
		return -EINVAL;
	}
	return 0;
}

/* Walk the sections of a checksummed buffer into sf->sections. */
static int snapfile_index(struct snapfile *sf, const char *name, unsigned int nr)
{
	size_t off = sizeof(struct snapfile_header), end = sf->len - SNAPFILE_CRC_LEN;

	/* Each section takes at least its header: more than fit is a lie. */
	if (nr > end / sizeof(struct snapfile_shdr)) {
		pr_err("snapshot '%s': %u sections do not fit in %zu bytes", name, nr, sf->len);
		return -EINVAL;
	}
	sf->sections = calloc(nr ? nr : 1, sizeof(*sf->sections));
	if (!sf->sections)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr; i++) {
		struct snapfile_shdr s;

		if (end - off < sizeof(s)) {
			pr_err("snapshot '%s': section %u of %u: header past the end", name, i, nr);
			return -EINVAL;
		}
		memcpy(&s, sf->buf + off, sizeof(s));
		off += sizeof(s);
		if (s.len > end - off || pad8(s.len) > end - off) {
			pr_err("snapshot '%s': section %u (tag %u): %llu bytes past the end", name,
			       i, s.tag, (unsigned long long)s.len);
			return -EINVAL;
		}
		sf->sections[i] = (struct snapfile_section){
			.tag = s.tag, .index = s.index, .len = s.len, .data = sf->buf + off
		};
		off += pad8(s.len);
	}
	if (off != end) {
		pr_err("snapshot '%s': %zu bytes after the last section", name, end - off);
		return -EINVAL;
	}
	sf->nr_sections = nr;
	return 0;
}

int snapfile_parse(struct snapfile *sf, const char *name, const void *data, size_t len)
{
	struct snapfile_header h;
	uint32_t crc[2];
	int err;

	memset(sf, 0, sizeof(*sf));
	if (len < sizeof(h) + SNAPFILE_CRC_LEN) {
		pr_err("snapshot '%s': truncated: %zu bytes, not even a header", name, len);
		return -EINVAL;
	}
	memcpy(&h, data, sizeof(h));
	err = snapfile_check_header(name, &h, len);
	if (err)
		return err;
	memcpy(crc, (const char *)data + len - SNAPFILE_CRC_LEN, sizeof(crc));
	if (crc[0] != crc32(crc32(0, Z_NULL, 0), data, len - SNAPFILE_CRC_LEN) || crc[1]) {
		pr_err("snapshot '%s': checksum mismatch: the file is corrupt", name);
		return -EINVAL;
	}
	if (h.flags) {
		pr_err("snapshot '%s': unknown flags 0x%x", name, h.flags);
		return -EINVAL;
	}
	sf->buf = malloc(len);
	sf->path = strdup(name);
	if (!sf->buf || !sf->path) {
		snapfile_free(sf);
		return -ENOMEM;
	}
	memcpy(sf->buf, data, len);
	sf->len = sf->cap = len;
	sf->version = h.version;
	err = snapfile_index(sf, name, h.nr_sections);
	if (err)
		snapfile_free(sf);
	return err;
}

static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t done = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SNAPFILE_MAX) {
		err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto close_fd;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto close_fd;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			free(buf);
			goto close_fd;
		}
		done += n;
	}
	*out = buf;
	*len = done;
close_fd:
	close(fd);
	return err;
}

int snapfile_load(struct snapfile *sf, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	memset(sf, 0, sizeof(*sf));
	err = read_file(path, &buf, &len);
	if (err) {
		pr_err("snapshot '%s': read: %s", path,
		       err == -EFBIG ? "larger than a state file can be" : evvm_strerror(err));
		return err;
	}
	err = snapfile_parse(sf, path, buf, len);
	free(buf);
	return err;
}

const void *snapfile_find_opt(const struct snapfile *sf, uint32_t tag, uint32_t index,
			      size_t *len_out)
{
	for (unsigned int i = 0; i < sf->nr_sections; i++) {
		if (sf->sections[i].tag == tag && sf->sections[i].index == index) {
			if (len_out)
				*len_out = sf->sections[i].len;
			return sf->sections[i].data;
		}
	}
	return NULL;
}

const void *snapfile_find(const struct snapfile *sf, uint32_t tag, uint32_t index, size_t len,
			  size_t *len_out)
{
	size_t have = 0;
	const void *p = snapfile_find_opt(sf, tag, index, &have);

	if (!p) {
		pr_err("snapshot '%s': section %u.%u is missing", sf->path, tag, index);
		return NULL;
	}
	if (len && have != len) {
		pr_err("snapshot '%s': section %u.%u is %zu bytes, want %zu", sf->path, tag, index,
		       have, len);
		return NULL;
	}
	if (len_out)
		*len_out = have;
	return p;
}

int snapfile_check_mem(const struct snapfile *sf, const char *path, int fd, uint64_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int err = -errno;

		pr_err("snapshot memory '%s': stat: %s", path, evvm_strerror(err));
		return err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		pr_err("snapshot memory '%s': %llu bytes, but '%s' has %llu bytes of guest RAM",
		       path, (unsigned long long)st.st_size, sf->path, (unsigned long long)size);
		return -EINVAL;
	}
	return 0;
}

void snapfile_free(struct snapfile *sf)
{
	free(sf->buf);
	free(sf->sections);
	free(sf->path);
	memset(sf, 0, sizeof(*sf));
}
