// SPDX-License-Identifier: MIT
/*
 * `evvm run` given host input it must not take as it is: a FIFO as the
 * kernel, more RAM than the host has, one disk twice, more vCPUs than the
 * guest handles; and the README's synopsis against --help.
 */
#include <ctype.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/vm.h>

#include "harness.h"

#define TIMEOUT 120

/* A directory of this test's own (removed by rm_tmp). */
static void mk_tmp(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/evvm-cli-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static void rm_tmp(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* open() of a FIFO with no writer blocks for ever: the type is checked first. */
static void test_fifo_kernel_refused(void **state)
{
	char dir[64], fifo[96], msg[160];
	struct run_result r;

	(void)state;
	mk_tmp(dir, sizeof(dir));
	snprintf(fifo, sizeof(fifo), "%s/kernel", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	run_evvm(&r, 10, (const char *[]){ "run", "--kernel", fifo, NULL });
	assert_false(r.timed_out);
	assert_int_equal(r.status, EVVM_EXIT_FAILURE);
	snprintf(msg, sizeof(msg), "evvm: kernel '%s': not a regular file\n", fifo);
	assert_string_equal(r.err, msg);
	run_result_free(&r);

	run_evvm(&r, 10,
		 (const char *[]){ "run", "--kernel", guest_elf(), "--initramfs", fifo, NULL });
	assert_false(r.timed_out);
	assert_int_equal(r.status, EVVM_EXIT_FAILURE);
	assert_contains(r.err, "': not a regular file");
	run_result_free(&r);
	rm_tmp(dir);
}

/* Twice what the host has in RAM and swap, in GiB: no host can back it. */
static unsigned long long too_much_gib(void)
{
	unsigned long long total = 0, v;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &v) == 1 ||
		    sscanf(line, "SwapTotal: %llu kB", &v) == 1)
			total += v;
	fclose(f);
	assert_true(total > 0);
	return 2 * ((total >> 20) + 1);
}

static void test_memory_beyond_host_refused(void **state)
{
	char size[64];
	struct run_result r;

	(void)state;
	snprintf(size, sizeof(size), "size=%lluG", too_much_gib());
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--memory", size, NULL });
	assert_int_equal(r.status, EVVM_EXIT_FAILURE);
	assert_contains(r.err, "evvm: guest RAM ");
	assert_contains(r.err, " MiB now (MemAvailable + SwapFree); overcommit=on allows it");
	assert_string_equal(r.out, "");
	run_result_free(&r);

	snprintf(size, sizeof(size), "size=%lluG,overcommit=maybe", too_much_gib());
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--memory", size, NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--memory overcommit=maybe: expected on or off");
	run_result_free(&r);
}

/*
 * Asked for explicitly, the same size gets past the check: with KVM the
 * guest boots; without it evvm gets as far as opening /dev/kvm.
 */
static void test_memory_overcommit_on(void **state)
{
	char size[64];
	struct run_result r;

	(void)state;
	snprintf(size, sizeof(size), "size=%lluG,overcommit=on", too_much_gib());
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--memory", size, "--cmdline", "exit=0", NULL });
	assert_null(strstr(r.err, "guest RAM"));
	if (access("/dev/kvm", F_OK) == 0) {
		assert_int_equal(r.status, 0);
	} else {
		assert_int_equal(r.status, EVVM_EXIT_FAILURE);
		assert_string_equal(r.err,
				    "evvm: /dev/kvm: open: ENOENT (No such file or directory)\n");
	}
	run_result_free(&r);
}

static void test_disk_given_twice(void **state)
{
	char dir[64], img[96], link[96], a[128], b[128], msg[256];
	struct run_result r;

	(void)state;
	mk_tmp(dir, sizeof(dir));
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(link, sizeof(link), "%s/link.img", dir);
	{
		FILE *f = fopen(img, "w");

		assert_non_null(f);
		assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
		fclose(f);
	}
	assert_int_equal(symlink(img, link), 0);

	snprintf(a, sizeof(a), "path=%s", img);
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", a, "--disk", a, NULL });
	assert_int_equal(r.status, 2);
	snprintf(msg, sizeof(msg), "evvm: disk '%s' given twice\n", img);
	assert_string_equal(r.err, msg);
	run_result_free(&r);

	/* Another name for the same file, and one of them read-only, is no better. */
	snprintf(b, sizeof(b), "path=%s,readonly=on", link);
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", a, "--disk", b, NULL });
	assert_int_equal(r.status, 2);
	snprintf(msg, sizeof(msg), "evvm: disk '%s' given twice (also as '%s')\n", link, img);
	assert_string_equal(r.err, msg);
	run_result_free(&r);

	/* Two readers of one file are fine (without KVM, evvm gets as far as /dev/kvm). */
	snprintf(a, sizeof(a), "path=%s,readonly=on", img);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--disk", a, "--disk", b, "--cmdline", "exit=0", NULL });
	if (access("/dev/kvm", F_OK) == 0) {
		assert_int_equal(r.status, 0);
		assert_string_equal(r.err, "");
	} else {
		assert_string_equal(r.err,
				    "evvm: /dev/kvm: open: ENOENT (No such file or directory)\n");
	}
	run_result_free(&r);
	rm_tmp(dir);
}

/* The limit --help states is the one evvm enforces, and the demo guest brings all up. */
static void test_cpu_limit(void **state)
{
	char arg[32], want[128];
	struct run_result r;

	(void)state;
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--help", NULL });
	snprintf(want, sizeof(want),
		 "--cpus boot=N       number of vCPUs, 1..%u (default 1; the demo guest brings\n",
		 EVVM_MAX_CPUS);
	assert_contains(r.out, want);
	run_result_free(&r);

	snprintf(arg, sizeof(arg), "boot=%u", EVVM_MAX_CPUS + 1);
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cpus", arg, NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "expected a number from 1 to");
	run_result_free(&r);

	/* One more than the demo guest's old limit of 8. */
	require_kvm();
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--cpus", "boot=9", "--cmdline", "tests=smp", NULL });
	if (r.status && strstr(r.err, "this KVM allows at most")) {
		fprintf(stderr, "skip: %s", r.err);
		run_result_free(&r);
		skip();
	}
	assert_contains(r.out, "evvm-guest: smp: 9 cpus up");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* ---- README and --help name the same flags ---- */

#define MAX_FORMS 128

/* "--flag" or "--flag key" (for "--flag key=..."), as found in a text. */
struct forms {
	char f[MAX_FORMS][48];
	unsigned int n;
};

static void forms_add(struct forms *fs, const char *s, size_t len)
{
	for (unsigned int i = 0; i < fs->n; i++)
		if (strlen(fs->f[i]) == len && !strncmp(fs->f[i], s, len))
			return;
	if (fs->n == MAX_FORMS || len >= sizeof(fs->f[0]))
		fail_msg("flag form '%.*s': more than %d forms or longer than %zu bytes "
			 "(raise MAX_FORMS or the form size)",
			 (int)len, s, MAX_FORMS, sizeof(fs->f[0]) - 1);
	memcpy(fs->f[fs->n], s, len);
	fs->f[fs->n++][len] = 0;
}

static void forms_scan(struct forms *fs, const char *text, const char *end)
{
	for (const char *p = text; p + 2 < end; p++) {
		const char *q = p + 2, *k;

		if (p[0] != '-' || p[1] != '-' || !islower((unsigned char)*q) ||
		    (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '-')))
			continue;
		while (q < end && (islower((unsigned char)*q) || *q == '-'))
			q++;
		/* "--disk path=F": the first key names the form. */
		k = q + 1;
		while (*q == ' ' && k < end && (islower((unsigned char)*k) || *k == '_'))
			k++;
		if (*q == ' ' && k > q + 1 && k < end && *k == '=')
			q = k;
		if (strncmp(p, "--help", 6))
			forms_add(fs, p, q - p);
		p = q - 1;
	}
}

static bool forms_has(const struct forms *fs, const char *f)
{
	for (unsigned int i = 0; i < fs->n; i++)
		if (!strcmp(fs->f[i], f))
			return true;
	return false;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_readme_synopsis_matches_help(void **state)
{
	const char *src = getenv("EVVM_SRC") ? getenv("EVVM_SRC") : ".";
	struct forms help = { .n = 0 }, syn = { .n = 0 }, doc = { .n = 0 };
	char path[256], *readme, *start, *end, *using, *bench;
	struct run_result r;

	(void)state;
	snprintf(path, sizeof(path), "%s/README.md", src);
	readme = read_file(path);
	/* The synopsis: the indented block that starts with "build/evvm run [". */
	start = strstr(readme, "    build/evvm run [");
	assert_non_null(start);
	end = strstr(start, "\n\n");
	assert_non_null(end);
	forms_scan(&syn, start, end);
	/* The flags' descriptions: the rest of "## Using it", up to "## Benchmarks". */
	using = end;
	bench = strstr(using, "\n## Benchmarks");
	assert_non_null(bench);
	forms_scan(&doc, using, bench);

	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--help", NULL });
	assert_int_equal(r.status, 0);
	/* --help's own entries: lines starting "  --" or "  -v, --". */
	for (char *l = r.out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char *eol = strchr(l, '\n') ? strchr(l, '\n') : l + strlen(l);
		char *flag = strstr(l, "--");

		if (strncmp(l, "  -", 3) || !flag || flag > l + 6 || flag > eol)
			continue;
		eol = strchr(flag, ' ') && strchr(flag, ' ') < eol ? strchr(flag, ' ') : eol;
		/* up to the first blank after the flag and its first key */
		if (*eol == ' ' && strncmp(eol, "  ", 2)) {
			char *next = strchr(eol + 1, ' ');
			char *nl = strchr(eol + 1, '\n');

			eol = next && (!nl || next < nl) ? next : nl ? nl : eol + strlen(eol);
		}
		forms_scan(&help, flag, eol);
	}
	assert_true(help.n >= 20);
	for (unsigned int i = 0; i < help.n; i++) {
		if (!forms_has(&syn, help.f[i]))
			fail_msg("'%s' is in --help but not in the README's synopsis", help.f[i]);
		if (!forms_has(&doc, help.f[i]))
			fail_msg("'%s' is in --help but not described in the README", help.f[i]);
	}
	for (unsigned int i = 0; i < syn.n; i++)
		if (!forms_has(&help, syn.f[i]))
			fail_msg("'%s' is in the README's synopsis but not in --help", syn.f[i]);
	run_result_free(&r);
	free(readme);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_kernel_refused),
		cmocka_unit_test(test_memory_beyond_host_refused),
		cmocka_unit_test(test_memory_overcommit_on),
		cmocka_unit_test(test_disk_given_twice),
		cmocka_unit_test(test_cpu_limit),
		cmocka_unit_test(test_readme_synopsis_matches_help),
	};

	return cmocka_run_group_tests_name("evvm run: host input", tests, NULL, NULL);
}
