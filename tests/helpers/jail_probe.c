// SPDX-License-Identifier: MIT
/*
 * Run by tests/integration/test_jailer as the jailer's exec file (built
 * static, without sanitizers, so it needs nothing in the jail): reports
 * what the process sees from inside.
 *
 *   jail-probe probe OUT [--sleep] PATH...
 *
 * writes to OUT ("-": stdout) its ids, pid, session id, groups, environment
 * size and open fds above 2, then for each PATH whether open() reaches it,
 * then "done"; with --sleep it then waits (up to 30 s) to be looked at.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	int i = 3, nenv = 0;
	FILE *out;

	if (argc < 3 || strcmp(argv[1], "probe")) {
		fprintf(stderr, "usage: jail-probe probe OUT [--sleep] PATH...\n");
		return 2;
	}
	char fds[256] = "fds:";

	/* Before opening OUT, which takes an fd itself. */
	for (int fd = 3; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0 && strlen(fds) < sizeof(fds) - 8)
			sprintf(fds + strlen(fds), " %d", fd);
	while (environ && environ[nenv])
		nenv++;
	out = strcmp(argv[2], "-") ? fopen(argv[2], "w") : stdout;
	if (!out) {
		fprintf(stderr, "jail-probe: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}

	fprintf(out, "uid=%u gid=%u euid=%u egid=%u pid=%d sid=%d groups=%d env=%d\n", getuid(),
		getgid(), geteuid(), getegid(), getpid(), getsid(0), getgroups(0, NULL), nenv);
	fprintf(out, "%s\n", fds);
	if (i < argc && !strcmp(argv[i], "--sleep"))
		i++;
	for (; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);

		fprintf(out, "open %s: %s\n", argv[i], fd >= 0 ? "reached" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	fprintf(out, "done\n");
	fclose(out);
	if (argc > 3 && !strcmp(argv[3], "--sleep"))
		sleep(30);
	return 0;
}
