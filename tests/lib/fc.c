// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_client.h"
#include "fc.h"
#include "harness.h"
#include "proc.h"

const char *evvm_bin(void)
{
	const char *e = getenv("EVVM");

	return e && *e ? e : "build/evvm";
}

void fc_dir(struct fc *f)
{
	*f = (struct fc){ .pid = -1 };
	snprintf(f->dir, sizeof(f->dir), "/tmp/evvm-api-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/evvm.log", f->dir);
	snprintf(f->schemas, sizeof(f->schemas), "%s/schemas.txt", f->dir);
}

/* Start `evvm firecracker --api-sock ...` (through @bin) and wait until it listens. */
void fc_start_as(struct fc *f, const char *bin, bool subcommand)
{
	const char *argv[8];
	unsigned int n = 0;
	int st;

	argv[n++] = bin;
	if (subcommand)
		argv[n++] = "firecracker";
	argv[n++] = "--api-sock";
	argv[n++] = f->sock;
	argv[n++] = "--id";
	argv[n++] = "api_test";
	argv[n] = NULL;
	f->pid = spawn(argv, f->log);
	if (!wait_listening(f->pid, f->sock, 10, &st)) {
		char *log = slurp(f->log);

		print_error("evvm firecracker did not listen (status %d):\n%s\n", st, log);
		free(log);
		fail();
	}
}

void fc_start(struct fc *f)
{
	fc_dir(f);
	fc_start_as(f, evvm_bin(), true);
}

/* Stop evvm with SIGTERM; its status must say so. Removes the directory. */
void fc_stop(struct fc *f)
{
	char cmd[160];
	int st;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		st = wait_exit(f->pid, 10);
		if (st < 0) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, NULL, 0);
		}
		assert_int_equal(st, 128 + SIGTERM);
		assert_int_equal(access(f->sock, F_OK), -1); /* the socket is removed */
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
}

void record_schema(struct fc *f, const char *def, const char *body)
{
	FILE *s = fopen(f->schemas, "a");

	assert_non_null(s);
	fprintf(s, "%s\t%s\n", def, body);
	fclose(s);
}

/*
 * @method @path with @json must answer @status; a 4xx body is an Error
 * whose fault_message contains @needle, a 200 body is checked against @def
 * (and contains @needle if given). Returns the body (malloc'd).
 */
char *expect(struct fc *f, const char *method, const char *path, const char *json, int status,
	     const char *def, const char *needle)
{
	char *body = NULL;
	int st = api_call(f->sock, method, path, json, &body);

	if (st != status || (needle && !strstr(body, needle))) {
		char *log = slurp(f->log);

		print_error("%s %s %s: got %d '%s', expected %d with '%s'\nevvm's log:\n%s\n",
			    method, path, json ? json : "", st, body, status, needle ? needle : "",
			    log);
		free(log);
		fail();
	}
	if (status >= 400)
		record_schema(f, "Error", body);
	else if (status == 200)
		record_schema(f, def, body);
	else
		assert_string_equal(body, "");
	return body;
}

/* Every body recorded so far matches its swagger definition. */
void check_schemas(struct fc *f)
{
	char log[160];
	int st;

	/* Only 204s so far: no body to check. */
	if (access(f->schemas, F_OK) != 0 && errno == ENOENT)
		return;
	snprintf(log, sizeof(log), "%s/schemas.log", f->dir);
	st = run_cmd(
		(const char *[]){ "python3", "tests/integration/api_schemas.py", f->schemas, NULL },
		log, 60);
	if (st) {
		char *out = slurp(log);

		print_error("api_schemas.py (status %d):\n%s\n", st, out);
		free(out);
		fail();
	}
}

void wait_file(const char *path, const char *text, double timeout_s)
{
	double deadline = now_s() + timeout_s * test_time_scale();
	char *log;

	for (;;) {
		log = slurp(path);
		if (strstr(log, text) || now_s() > deadline)
			break;
		free(log);
		usleep(50000);
	}
	assert_contains(log, text);
	free(log);
}

/* Wait until @f's log (the guest's serial and evvm's stderr) contains @text. */
void wait_log(struct fc *f, const char *text, double timeout_s)
{
	wait_file(f->log, text, timeout_s);
}

/* A zeroed 4 MiB disk in @dir. */
void make_disk(const char *dir, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/disk.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	close(fd);
}

unsigned int record_metrics(struct fc *f, const char *path)
{
	char *m = slurp(path), *line, *save = NULL;
	unsigned int n = 0;

	for (line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++)
		record_schema(f, "MetricsLine", line);
	free(m);
	return n;
}
