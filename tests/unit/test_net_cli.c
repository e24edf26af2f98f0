// SPDX-License-Identifier: MIT
/*
 * `evvm run --net`, `evvm run --disk vhost_user=on` and `evvm vhost-user-net`
 * command lines: bad values exit
 * 2 with one line naming the flag; good ones are accepted (checked with a
 * trailing --help, which returns 0 once everything before it parsed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "capture.h"
#include "cli.h"
#include "parse.h"

/* Run @cmd with @argv (NULL-terminated); returns its status, its stderr in @err. */
static int run(int (*cmd)(int, char **), const char *const *argv, char *err, size_t size)
{
	char *args[16], *copies[16];
	int argc = 0, status;
	FILE *saved = stdout;

	/* Writable copies: the parsers split values in place. */
	while (argv[argc]) {
		args[argc] = copies[argc] = strdup(argv[argc]);
		assert_non_null(copies[argc]);
		argc++;
	}
	args[argc] = NULL;
	stdout = fopen("/dev/null", "w"); /* --help text */
	assert_non_null(stdout);
	capture_begin();
	status = cmd(argc, args);
	capture_end(err, size, false);
	fclose(stdout);
	stdout = saved;
	for (int i = 0; i < argc; i++)
		free(copies[i]); /* the command may have replaced args[0] */
	return status;
}

static void bad_net(const char *value, const char *want)
{
	const char *argv[] = { "run", "--net", value, NULL };
	char err[1024];

	assert_int_equal(run(cmd_run, argv, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, want));
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
}

static void test_run_net_bad(void **state)
{
	(void)state;
	bad_net("", "evvm: --net: expected tap=NAME");
	bad_net("mac=52:54:00:12:34:56", "evvm: --net: expected tap=NAME");
	bad_net("tap=", "evvm: --net tap=: expected");
	bad_net("tap=a-name-of-16-chr", "evvm: --net tap=a-name-of-16-chr: expected");
	bad_net("tap=t0,mac=52:54:00:12:34", "evvm: --net mac=52:54:00:12:34: expected");
	bad_net("tap=t0,mac=01:00:5e:00:00:01", "evvm: --net mac=01:00:5e:00:00:01: expected");
	bad_net("tap=t0,mac=52-54-00-12-34-56", "evvm: --net mac=52-54-00-12-34-56");
	bad_net("tap=t0,event_idx=maybe", "evvm: --net event_idx=maybe: expected");
	bad_net("tap=t0,speed=10", "evvm: --net speed=10: expected");
	bad_net("tap=t0,id=", "evvm: --net id=: expected");
	bad_net("tap", "evvm: --net: expected tap=NAME");
	bad_net("vhost_user=on", "evvm: --net vhost_user=on: expected socket=PATH");
	bad_net("vhost_user=on,socket=/s,tap=t0", "evvm: --net vhost_user=on: expected socket");
	bad_net("vhost_user=on,socket=/s,mac=52:54:00:12:34:56", "the backend decides those");
	bad_net("vhost_user=on,socket=/s,event_idx=off", "the backend decides those");
	bad_net("tap=t0,socket=/s", "evvm: --net socket=/s: needs vhost_user=on");
	bad_net("vhost_user=yes,socket=/s", "evvm: --net vhost_user=yes: expected");
	bad_net("vhost_user=on,socket=/s,reconnect=0", "evvm: --net reconnect=0: expected");
	bad_net("vhost_user=on,socket=/s,reconnect=3601", "evvm: --net reconnect=3601");
	bad_net("vhost_user=on,socket=/s,queues=2", "evvm: --net queues=2: expected");
	bad_net("tap=t0,reconnect=1", "evvm: --net reconnect=: needs vhost_user=on");
}

static void bad_disk(const char *value, const char *want)
{
	const char *argv[] = { "run", "--disk", value, NULL };
	char err[1024];

	assert_int_equal(run(cmd_run, argv, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, want));
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
}

/* --disk's queues (local or vhost-user) and reconnect (vhost-user), each with its range. */
static void test_run_disk_vhost_user(void **state)
{
	const char *good[] = { "run",
			       "--disk",
			       "vhost_user=on,socket=/tmp/a.sock,queues=16,reconnect=1",
			       "--disk",
			       "vhost_user=on,socket=/tmp/b.sock,reconnect=3600",
			       "--disk",
			       "path=/tmp/c.img,queues=16,iothreads=16",
			       "--net",
			       "vhost_user=on,socket=/tmp/c.sock,reconnect=2",
			       "--help",
			       NULL };
	char err[1024];

	(void)state;
	bad_disk("vhost_user=on,socket=/s,queues=0", "evvm: --disk queues=0: expected");
	bad_disk("vhost_user=on,socket=/s,queues=17", "evvm: --disk queues=17: expected");
	bad_disk("vhost_user=on,socket=/s,queues=x", "evvm: --disk queues=x: expected");
	bad_disk("vhost_user=on,socket=/s,reconnect=0", "evvm: --disk reconnect=0: expected");
	bad_disk("vhost_user=on,socket=/s,reconnect=-1", "evvm: --disk reconnect=-1: expected");
	bad_disk("path=/x,reconnect=1", "evvm: --disk reconnect=: needs vhost_user=on");
	bad_disk("path=/x,queues=0", "evvm: --disk queues=0: expected");
	bad_disk("path=/x,queues=17", "evvm: --disk queues=17: expected");
	bad_disk("path=/x,iothreads=0", "evvm: --disk iothreads=0: expected");
	bad_disk("path=/x,queues=2,iothreads=3", "evvm: --disk iothreads=3: at most queues=2");
	bad_disk("vhost_user=on,socket=/s,iothreads=2",
		 "evvm: --disk vhost_user=on: expected socket=PATH, and no path=, readonly= or "
		 "iothreads=");
	bad_disk("socket=/s", "evvm: --disk socket=/s: needs vhost_user=on");
	assert_int_equal(run(cmd_run, good, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_run_net_good(void **state)
{
	const char *argv[] = { "run",
			       "--net",
			       "tap=t0",
			       "--net",
			       "tap=t1,mac=02:AA:bb:cc:dd:ee,id=uplink,event_idx=off",
			       "--net",
			       "vhost_user=on,socket=/tmp/x.sock,id=vu0",
			       "--help",
			       NULL };
	char err[1024];

	(void)state;
	assert_int_equal(run(cmd_run, argv, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_mac(void **state)
{
	uint8_t mac[6];
	const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

	(void)state;
	assert_int_equal(parse_mac("52:54:00:AB:cd:ef", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_not_equal(parse_mac("52:54:00:ab:cd:ef:", mac), 0);
	assert_int_not_equal(parse_mac("52:54:00:ab:cd:e", mac), 0);
	assert_int_not_equal(parse_mac("+2:54:00:ab:cd:ef", mac), 0);
	assert_int_not_equal(parse_mac("52 54 00 ab cd ef", mac), 0);
	assert_int_not_equal(parse_mac("ff:ff:ff:ff:ff:ff", mac), 0);
}

static void bad_vu(const char *const *argv, const char *want)
{
	char err[1024];

	assert_int_equal(run(cmd_vhost_user_net, argv, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, want));
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
}

static void test_vhost_user_net_bad(void **state)
{
	const char *no_tap[] = { "vhost-user-net", "--socket", "/tmp/x", NULL };
	const char *no_socket[] = { "vhost-user-net", "--tap", "t0", NULL };
	const char *bad_mac[] = { "vhost-user-net", "--socket",		 "/tmp/x", "--tap", "t0",
				  "--mac",	    "zz:54:00:12:34:56", NULL };
	const char *long_tap[] = { "vhost-user-net", "--socket",	 "/tmp/x",
				   "--tap",	     "a-name-of-16-chr", NULL };
	const char *bad_ei[] = { "vhost-user-net", "--socket", "/tmp/x", "--tap", "t0",
				 "--event-idx=2",  NULL };
	const char *disk[] = { "vhost-user-net", "--disk", "path=/x", NULL };
	const char *good[] = {
		"vhost-user-net", "--socket",	       "/tmp/x",	  "--tap",  "t0",
		"--mac",	  "52:54:00:12:34:99", "--event-idx=off", "--help", NULL
	};
	const char *tap_on_rng[] = { "vhost-user-rng", "--tap", "t0", NULL };
	char err[1024];

	(void)state;
	bad_vu(no_tap, "--tap NAME is required");
	bad_vu(no_socket, "--socket PATH is required");
	bad_vu(bad_mac, "evvm: --mac zz:54:00:12:34:56: expected");
	bad_vu(long_tap, "evvm: --tap a-name-of-16-chr: expected");
	bad_vu(bad_ei, "evvm: --event-idx=2: expected on or off");
	bad_vu(disk, "unrecognized option '--disk'");
	assert_int_equal(run(cmd_vhost_user_net, good, err, sizeof(err)), 0);
	assert_int_equal(run(cmd_vhost_user_rng, tap_on_rng, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "unrecognized option '--tap'"));
}

/* vhost-user-blk --queues: 1 to 16, blk only. */
static void test_vhost_user_blk_queues(void **state)
{
	const char *zero[] = { "vhost-user-blk", "--socket", "/tmp/x", "--disk",
			       "path=/x",	 "--queues", "0",      NULL };
	const char *many[] = { "vhost-user-blk", "--socket", "/tmp/x", "--disk",
			       "path=/x",	 "--queues", "17",     NULL };
	const char *good[] = { "vhost-user-blk", "--queues", "4", "--help", NULL };
	const char *on_rng[] = { "vhost-user-rng", "--socket", "/tmp/x", "--queues", "2", NULL };
	char err[4096];

	(void)state;
	assert_int_equal(run(cmd_vhost_user_blk, zero, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "evvm: --queues 0: expected 1 to 16"));
	assert_int_equal(run(cmd_vhost_user_blk, many, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "evvm: --queues 17: expected 1 to 16"));
	assert_int_equal(run(cmd_vhost_user_blk, good, err, sizeof(err)), 0);
	assert_int_equal(run(cmd_vhost_user_rng, on_rng, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "unrecognized option '--queues'"));
}

/* vhost-user-blk --iothreads: 1 to --queues (after both are parsed), blk only. */
static void test_vhost_user_blk_iothreads(void **state)
{
	const char *zero[] = { "vhost-user-blk", "--socket",	"/tmp/x", "--disk",
			       "path=/x",	 "--iothreads", "0",	  NULL };
	const char *over[] = { "vhost-user-blk", "--socket", "/tmp/x",	 "--disk", "path=/x",
			       "--iothreads",	 "3",	     "--queues", "2",	   NULL };
	const char *over_default[] = { "vhost-user-blk", "--socket",	"/tmp/x", "--disk",
				       "path=/x",	 "--iothreads", "17",	  NULL };
	const char *good[] = {
		"vhost-user-blk", "--queues", "4", "--iothreads", "4", "--help", NULL
	};
	const char *on_rng[] = { "vhost-user-rng", "--socket", "/tmp/x", "--iothreads", "1", NULL };
	char err[4096];

	(void)state;
	assert_int_equal(run(cmd_vhost_user_blk, zero, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "evvm: --iothreads 0: expected 1 to 16"));
	assert_int_equal(run(cmd_vhost_user_blk, over, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "evvm: --iothreads 3: expected 1 to --queues (2)"));
	assert_int_equal(run(cmd_vhost_user_blk, over_default, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "evvm: --iothreads 17: expected 1 to 16"));
	assert_int_equal(run(cmd_vhost_user_blk, good, err, sizeof(err)), 0);
	assert_int_equal(run(cmd_vhost_user_rng, on_rng, err, sizeof(err)), EXIT_USAGE);
	assert_non_null(strstr(err, "unrecognized option '--iothreads'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_net_bad),
		cmocka_unit_test(test_run_net_good),
		cmocka_unit_test(test_run_disk_vhost_user),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_vhost_user_net_bad),
		cmocka_unit_test(test_vhost_user_blk_queues),
		cmocka_unit_test(test_vhost_user_blk_iothreads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
