/* SPDX-License-Identifier: MIT */
#ifndef EVVM_BENCH_EVVM_PATH_H
#define EVVM_BENCH_EVVM_PATH_H

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The evvm binary a benchmark runs: $EVVM, else the one beside it
 * (build/bench/x -> build/evvm) or, for the copy at bench/x, build/evvm
 * of the same tree.
 */
static const char *find_evvm(void)
{
	static char path[PATH_MAX];
	static const char *const rel[] = { "/../evvm", "/../build/evvm" };
	const char *env = getenv("EVVM");
	char self[PATH_MAX - 32], *slash;
	struct stat st;
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return "build/evvm";
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	for (unsigned int i = 0; i < 2; i++) {
		char real[PATH_MAX];

		snprintf(path, sizeof(path), "%s%s", self, rel[i]);
		if (!stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK)) {
			if (realpath(path, real))
				snprintf(path, sizeof(path), "%s", real);
			return path;
		}
	}
	snprintf(path, sizeof(path), "%s/../build/evvm", self);
	return path;
}

/* The test guest: $GUEST_ELF, else guest/evvm-guest.elf beside evvm. */
static inline const char *find_guest(const char *evvm)
{
	static char path[PATH_MAX];
	const char *env = getenv("GUEST_ELF");
	char dir[PATH_MAX];

	if (env && *env)
		return env;
	snprintf(dir, sizeof(dir), "%s", evvm);
	snprintf(path, sizeof(path), "%s/guest/evvm-guest.elf", dirname(dir));
	return path;
}

#endif
