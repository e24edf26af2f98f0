/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_FC_H
#define EVVM_TESTS_FC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>

/*
 * `evvm firecracker` driven through its API socket, for the integration
 * tests (cmocka assertions inside): start it in a directory of its own,
 * send requests and check their answers, record every body for
 * api_schemas.py.
 */

#define FC_TIMEOUT 120 /* seconds a guest may take */

/* One `evvm firecracker` with its files in a directory of its own. */
struct fc {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
	char schemas[128]; /* "Definition\tbody" lines for api_schemas.py */
};

/* $EVVM, or build/evvm. */
const char *evvm_bin(void);

/* A fresh directory for @f (socket, log and schema file paths in it). */
void fc_dir(struct fc *f);

/* Start `@bin [firecracker] --api-sock ... --id api_test` and wait until it listens. */
void fc_start_as(struct fc *f, const char *bin, bool subcommand);

/* fc_dir() and fc_start_as() with evvm's own binary. */
void fc_start(struct fc *f);

/* Stop evvm with SIGTERM (its status must say so), check the socket is gone, remove the directory.
 */
void fc_stop(struct fc *f);

/* Append "@def<TAB>@body" to the schema file. */
void record_schema(struct fc *f, const char *def, const char *body);

/*
 * @method @path with @json must answer @status; a 4xx body is an Error
 * whose fault_message contains @needle, a 200 body is checked against @def
 * (and contains @needle if given), a 204 has no body. Returns the body (malloc'd).
 */
char *expect(struct fc *f, const char *method, const char *path, const char *json, int status,
	     const char *def, const char *needle);
#define EXPECT(...) free(expect(__VA_ARGS__))

/* Record every line of the metrics file @path as a MetricsLine; returns how many. */
unsigned int record_metrics(struct fc *f, const char *path);

/* Every body recorded so far matches its swagger definition (api_schemas.py). */
void check_schemas(struct fc *f);

/* Wait up to @timeout_s until the file at @path contains @text (asserted). */
void wait_file(const char *path, const char *text, double timeout_s);

/* The same for @f's log (the guest's serial and evvm's stderr). */
void wait_log(struct fc *f, const char *text, double timeout_s);

/* A zeroed 4 MiB disk.img in @dir; its path into @path. */
void make_disk(const char *dir, char *path, size_t size);

#endif
