// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "disk_pattern.h"

uint32_t pattern_word(uint32_t i, uint32_t seed)
{
	uint32_t x = i * 0x9e3779b1u ^ seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

void pattern_fill(const char *path, uint32_t seed, uint32_t sectors)
{
	uint32_t *buf = malloc((size_t)sectors * 512);
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_non_null(buf);
	assert_true(fd >= 0);
	for (uint32_t i = 0; i < sectors * 128; i++)
		buf[i] = pattern_word(i, seed);
	assert_int_equal(pwrite(fd, buf, (size_t)sectors * 512, 0), (ssize_t)sectors * 512);
	close(fd);
	free(buf);
}

uint32_t pattern_check(const char *path, uint32_t seed, uint32_t sectors)
{
	uint32_t *buf = malloc((size_t)sectors * 512), bad = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, (size_t)sectors * 512, 0), (ssize_t)sectors * 512);
	close(fd);
	for (uint32_t i = 0; i < sectors * 128 && !bad; i++)
		if (buf[i] != pattern_word(i, seed))
			bad = i + 1;
	free(buf);
	return bad;
}
