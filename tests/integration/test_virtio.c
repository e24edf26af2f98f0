// SPDX-License-Identifier: MIT
/*
 * virtio devices driven by the test guest's own virtio drivers, under the
 * real evvm binary: rng, console, blk (data checked on the host side), and
 * hostile guests that post malformed chains. Each case that boots a guest
 * runs twice, as "<case>(mmio)" with --transport=mmio and "<case>(pci)"
 * with --transport=pci: the guest's one virtio core drives either.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/virtio.h>

#include "disk_pattern.h"
#include "harness.h"

#define TIMEOUT	     300
#define DISK_SECTORS 8192 /* 4 MiB */

/* The case's transport (its cmocka state): "--transport=mmio" or "--transport=pci". */
static const char *transport(void **state)
{
	return *state;
}

static bool on_pci(void **state)
{
	return !strcmp(transport(state), "--transport=pci");
}

/* A zeroed disk image of @sectors 512-byte sectors, on tmpfs when there is one. */
static void make_disk(char *path, unsigned long sectors)
{
	struct stat st;
	int fd;

	snprintf(path, 64, "%s/evvm-disk-XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)sectors * 512), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)sectors * 512);
	close(fd);
}

/* Run evvm; it must exit 0 with the guest saying test @test passed. The caller frees @r. */
static void expect_pass_result(struct run_result *r, const char *const args[], const char *test)
{
	char ok[96];

	run_evvm(r, TIMEOUT, args);
	snprintf(ok, sizeof(ok), "evvm-guest: test %s: ok\n", test);
	if (r->status != 0 || !strstr(r->out, ok))
		print_error("status %d\nstdout:\n%s\nstderr:\n%s\n", r->status, r->out, r->err);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, ok);
}

static void expect_pass(const char *const args[], const char *test)
{
	struct run_result r;

	expect_pass_result(&r, args, test);
	run_result_free(&r);
}

static void test_rng_bytes_change(void **state)
{
	require_kvm();
	expect_pass((const char *[]){ "run", transport(state), "--rng", "--cmdline",
				      "tests=virtio-rng", NULL },
		    "virtio-rng");
	/* The same through evvm's userspace fabric. */
	expect_pass((const char *[]){ "run", transport(state), "--rng", "--ioeventfd=user",
				      "--irqfd=user", "--cmdline", "tests=virtio-rng", NULL },
		    "virtio-rng");
}

static void test_console_echo(void **state)
{
	struct run_result r;

	require_kvm();
	run_evvm_tty(&r, TIMEOUT,
		     (const char *[]){ "run", transport(state), "--console", "--cmdline",
				       "tests=virtio-console", NULL },
		     "virtio-console: type a line\n", "echo me\n");
	/* The reply came out through the console's transmitq (no "evvm-guest:" prefix). */
	assert_contains(r.out, "\nvirtio-console: got 'echo me'\n");
	assert_contains(r.out, "evvm-guest: test virtio-console: ok\n");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* The guest writes and flushes; what it was told is durable is in the file. */
static void test_blk_write_then_host_checks_file(void **state)
{
	char disk[64], arg[96];

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	snprintf(arg, sizeof(arg), "path=%s", disk);
	expect_pass((const char *[]){ "run", transport(state), "--disk", arg, "--cmdline",
				      "tests=virtio-blk-write blk.seed=77 blk.sectors=2048", NULL },
		    "virtio-blk-write");
	assert_int_equal(pattern_check(disk, 77, 2048), 0);
	unlink(disk);
}

/* The host writes a pattern; the guest reads it back and checks every word. */
static void test_blk_guest_verifies_host_data(void **state)
{
	char disk[64], arg[96];

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	pattern_fill(disk, 1234, 1024);
	snprintf(arg, sizeof(arg), "path=%s", disk);
	expect_pass((const char *[]){ "run", transport(state), "--disk", arg, "--cmdline",
				      "tests=virtio-blk-verify blk.seed=1234 blk.sectors=1024",
				      NULL },
		    "virtio-blk-verify");
	unlink(disk);
}

/*
 * Two request queues (on pci each on an I/O thread of its own): the guest
 * spreads the pattern's writes and reads over both, fails unless each
 * carried some, and the host finds the pattern in the file.
 */
static void test_blk_two_queues_carry_io(void **state)
{
	char disk[64], arg[128];
	struct run_result r;

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	snprintf(arg, sizeof(arg), "path=%s,queues=2%s", disk, on_pci(state) ? ",iothreads=2" : "");
	expect_pass_result(&r,
			   (const char *[]){ "run", transport(state), "--disk", arg, "--cmdline",
					     "tests=virtio-blk-mq blk.queues=2 blk.seed=91 "
					     "blk.sectors=2048",
					     NULL },
			   "virtio-blk-mq");
	assert_contains(r.out, "evvm-guest: virtio-blk: 2 queues, requests ");
	run_result_free(&r);
	assert_int_equal(pattern_check(disk, 91, 2048), 0);
	unlink(disk);
}

/* Write, read back, both notification schemes and with and without indirect. */
static void test_blk_roundtrip_event_idx_on_and_off(void **state)
{
	char disk[64], arg[96], cmdline[160];
	struct run_result r;

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	snprintf(arg, sizeof(arg), "path=%s", disk);
	for (int i = 0; i < 4; i++) {
		bool event_idx = i & 1, indirect = i & 2;
		unsigned int setups = 0;

		snprintf(cmdline, sizeof(cmdline),
			 "tests=virtio-blk,virtio-blk-qd64 virtio.verbose=1 virtio.event_idx=%d "
			 "virtio.indirect=%d",
			 event_idx, indirect);
		expect_pass_result(&r,
				   (const char *[]){ "run", transport(state), "--disk", arg,
						     "--cmdline", cmdline, NULL },
				   "virtio-blk-qd64");
		/* Every set-up of the device negotiated exactly the mode asked for. */
		for (const char *p = r.out; (p = strstr(p, "negotiated 0x")); p++) {
			unsigned long long f = strtoull(p + strlen("negotiated 0x"), NULL, 16);

			if (!!(f & (1ULL << VIRTIO_F_EVENT_IDX)) != event_idx ||
			    !!(f & (1ULL << VIRTIO_F_INDIRECT_DESC)) != indirect)
				fail_msg("%s: negotiated 0x%llx\nstdout:\n%s", cmdline, f, r.out);
			setups++;
		}
		assert_true(setups >= 2); /* one per guest test */
		run_result_free(&r);
	}
	unlink(disk);
}

/* The sum of "q0 K kicks N notifies" over the guest's reset lines: its QueueNotify writes. */
static unsigned long long guest_notifies(const char *out, unsigned long long *used_irqs)
{
	unsigned long long sum = 0;

	*used_irqs = 0;
	for (const char *p = out; (p = strstr(p, " reset: q0 ")); p++) {
		unsigned long long kicks, notifies, irqs, used;

		assert_int_equal(sscanf(p,
					" reset: q0 %llu kicks %llu notifies %*u used; %llu irqs "
					"(%llu used",
					&kicks, &notifies, &irqs, &used),
				 4);
		sum += notifies;
		*used_irqs = used;
	}
	return sum;
}

/* The number after "\"@key\": " in @json from @from on. */
static unsigned long long json_number(const char *json, const char *from, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = strstr(from, k);
	if (!p)
		fail_msg("no %s after offset %td in the stats: %s", k, from - json, json);
	return strtoull(p + strlen(k), NULL, 10);
}

/* The sum of the array after "\"@key\": " in @json from @from on (a histogram's samples). */
static unsigned long long json_array_sum(const char *json, const char *from, const char *key)
{
	unsigned long long sum = 0;
	char k[64], *end;
	const char *p;

	snprintf(k, sizeof(k), "\"%s\": [", key);
	p = strstr(from, k);
	if (!p)
		fail_msg("no %s after offset %td in the stats: %s", k, from - json, json);
	for (p += strlen(k); *p != ']'; p = end + (*end == ',')) {
		sum += strtoull(p, &end, 10);
		if (end == p)
			fail_msg("%s: not a list of numbers: %.40s", key, p);
	}
	return sum;
}

/*
 * --stats counts the guest's doorbells: the blk queue's kicks equal the
 * QueueNotify writes the guest made (with KVM's ioeventfd, evvm never sees
 * the write, only the eventfd count its I/O thread reads), and each
 * interrupt the guest took was sent; an interrupt that answered a kick
 * is one kick-to-interrupt sample. On either transport (per queue on
 * virtio-pci, where each queue has its own doorbell and MSI-X vector).
 */
static void test_blk_doorbells_counted(void **state)
{
	static const char *const modes[] = { "--ioeventfd=kernel", "--ioeventfd=user" };
	char disk[64], arg[96];
	struct run_result r;

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	snprintf(arg, sizeof(arg), "path=%s", disk);
	for (int i = 0; i < 2; i++) {
		unsigned long long notifies, used_irqs, kicks, wakeups, irqs, samples;
		const char *json, *blk;

		expect_pass_result(&r,
				   (const char *[]){ "run", transport(state), "--disk", arg,
						     modes[i], "--stats=json", "--cmdline",
						     "tests=virtio-blk virtio.verbose=1", NULL },
				   "virtio-blk");
		notifies = guest_notifies(r.out, &used_irqs);
		json = strstr(r.err, "{\"ioeventfd\"");
		assert_non_null(json);
		blk = strstr(json, "\"virtio\": {\"blk0\": {\"kicks_seen\": true");
		if (!blk)
			fail_msg("%s: no blk0 in the stats: %s", modes[i], json);
		kicks = json_number(json, blk, "kicks");
		wakeups = json_number(json, blk, "kick_wakeups");
		irqs = json_number(json, blk, "interrupts");
		samples = json_array_sum(json, blk, "kick_to_interrupt_us");
		print_message("%s: guest wrote QueueNotify %llu times; evvm counted %llu kicks "
			      "in %llu wakeups, sent %llu interrupts (guest took %llu)\n",
			      modes[i], notifies, kicks, wakeups, irqs, used_irqs);
		assert_true(notifies > 0);
		assert_int_equal(kicks, notifies);
		assert_true(wakeups >= 1 && wakeups <= kicks);
		assert_true(irqs >= used_irqs && irqs > 0);
		assert_true(samples > 0 && samples <= irqs);
		run_result_free(&r);
	}
	unlink(disk);
}

static void test_blk_errors_id_discard_zeroes(void **state)
{
	char disk[64], arg[96];

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	snprintf(arg, sizeof(arg), "path=%s,id=evvm-serial-7", disk);
	expect_pass((const char *[]){ "run", transport(state), "--disk", arg, "--cmdline",
				      "tests=virtio-blk-past-end,virtio-blk-id,virtio-blk-discard,"
				      "virtio-blk-write-zeroes blk.serial=evvm-serial-7",
				      NULL },
		    "virtio-blk-write-zeroes");
	unlink(disk);
}

static void test_blk_readonly_refuses_writes(void **state)
{
	char disk[64], arg[96];

	require_kvm();
	make_disk(disk, DISK_SECTORS);
	pattern_fill(disk, 5, 64);
	snprintf(arg, sizeof(arg), "path=%s,readonly=on", disk);
	expect_pass((const char *[]){ "run", transport(state), "--disk", arg, "--cmdline",
				      "tests=virtio-blk-readonly", NULL },
		    "virtio-blk-readonly");
	/* Not one byte changed. */
	assert_int_equal(pattern_check(disk, 5, 64), 0);
	unlink(disk);
}

/* Each malformed chain: NEEDS_RESET, the guest resets and reuses the device. */
static void test_hostile_guests(void **state)
{
	static const char *const cases[] = { "addr",	   "len",	"loop", "indirect-nested",
					     "avail-jump", "queue-size" };
	char cmdline[96], name[64];
	struct run_result r;

	require_kvm();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "virtio-hostile-%s", cases[i]);
		snprintf(cmdline, sizeof(cmdline), "tests=%s", name);
		run_evvm(&r, TIMEOUT,
			 (const char *[]){ "run", transport(state), "--rng", "--cmdline", cmdline,
					   NULL });
		if (r.status != 0)
			print_error("%s: status %d\nstdout:\n%s\nstderr:\n%s\n", name, r.status,
				    r.out, r.err);
		assert_int_equal(r.status, 0);
		/* The only device: 00:01.0 on the pci bus, the first mmio window otherwise. */
		assert_contains(r.err, on_pci(state)
					       ? "virtio-pci rng0@00:01.0: device needs reset"
					       : "virtio-mmio rng0@0xd1000000: device needs reset");
		run_result_free(&r);
	}
}

static void test_disk_errors(void **state)
{
	struct run_result r;

	(void)state;
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", "path=/nonexistent/d.img", NULL });
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "disk '/nonexistent/d.img': open: ENOENT");
	run_result_free(&r);

	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", "readonly=on", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--disk: expected path=FILE");
	run_result_free(&r);

	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", "path=/x,cache=none", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--disk cache=none: expected path=FILE");
	run_result_free(&r);
}

/* A case over both transports, named "<case>(mmio)" and "<case>(pci)". */
#define BOTH(f)                                                      \
	{ #f "(mmio)", f, NULL, NULL, (void *)"--transport=mmio" },  \
	{                                                            \
#f "(pci)", f, NULL, NULL, (void *)"--transport=pci" \
	}
#define MMIO_ONLY(f)                                                   \
	{                                                              \
#f "(mmio)", f, NULL, NULL, (void *)"--transport=mmio" \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_errors),
		BOTH(test_rng_bytes_change),
		BOTH(test_console_echo),
		BOTH(test_blk_write_then_host_checks_file),
		BOTH(test_blk_guest_verifies_host_data),
		BOTH(test_blk_roundtrip_event_idx_on_and_off),
		BOTH(test_blk_two_queues_carry_io),
		BOTH(test_blk_doorbells_counted),
		BOTH(test_blk_errors_id_discard_zeroes),
		BOTH(test_blk_readonly_refuses_writes),
		BOTH(test_hostile_guests),
	};

	return cmocka_run_group_tests_name("virtio devices", tests, NULL, NULL);
}
