#include "test.h"
#include "cmdline.h"
#include "exit.h"
#include "lib.h"
#include "printf.h"
#include "virtio.h"

#define DEFAULT_TESTS		"serial,mmio-unowned,serial-irq,smp"

/* guest.ld: the GUEST_TEST() entries of all files. */
extern const struct guest_test guest_tests_start[], guest_tests_end[];

static char fail_reason[160];
static bool failed;

int test_fail(const char *fmt, ...)
{
	va_list ap;

	if (!failed) {
		failed = true;
		va_start(ap, fmt);
		vsnprintf(fail_reason, sizeof(fail_reason), fmt, ap);
		va_end(ap);
	}
	return -1;
}

int test_arg_u64(const char *key, u64 def, u64 min, u64 max, u64 *out)
{
	const char *s = cmdline_get(key);

	*out = def;
	if (!s)
		return 0;
	if (!virtio_parse_u64(s, out) || *out < min || *out > max)
		return test_fail("bad %s '%s' (want %lu..%lu)", key, s, min, max);
	return 0;
}

static const struct guest_test *test_find(const char *name, size_t len)
{
	const struct guest_test *t;

	for (t = guest_tests_start; t < guest_tests_end; t++)
		if (!strncmp(t->name, name, len) && !t->name[len])
			return t;
	return NULL;
}

/* Length of the name at @p, which ends at ',' or the end of the list. */
static size_t name_len(const char *p)
{
	const char *comma = strchr(p, ',');

	return comma ? (size_t)(comma - p) : strlen(p);
}

static bool run_one(const struct guest_test *t)
{
	int rc;

	failed = false;
	rc = t->fn();
	if (rc && !failed)
		test_fail("returned %d", rc);
	if (failed)
		printf("evvm-guest: test %s: FAILED: %s\n", t->name,
		       fail_reason);
	else
		printf("evvm-guest: test %s: ok\n", t->name);
	return !failed;
}

void tests_run(const char *list)
{
	unsigned int passed = 0, nfailed = 0;
	const char *p;
	size_t len;

	if (!list)
		list = DEFAULT_TESTS;

	/* Check every name first, so a typo runs nothing. */
	for (p = list; *p; p += len + (p[len] == ',')) {
		len = name_len(p);
		if (len && !test_find(p, len)) {
			printf("evvm-guest: unknown test '%.*s'\n", (int)len, p);
			guest_exit(EXIT_ERROR);
		}
	}

	for (p = list; *p; p += len + (p[len] == ',')) {
		len = name_len(p);
		if (!len)
			continue;
		if (run_one(test_find(p, len)))
			passed++;
		else
			nfailed++;
	}

	printf("evvm-guest: %u passed, %u failed\n", passed, nfailed);
	guest_exit(nfailed ? EXIT_FAIL : EXIT_PASS);
}
