// SPDX-License-Identifier: MIT
/*
 * `evvm firecracker`: Firecracker's REST API on a unix socket and its config
 * file, end to end against the real binary. Every response body is checked
 * against schemas written from Firecracker's swagger (api_schemas.py).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_client.h"
#include "fc.h"
#include "harness.h"
#include "proc.h"

#define TIMEOUT	  FC_TIMEOUT
#define API_LIMIT 51200
#define API_IDLE  5   /* evvm closes a connection idle this long */
#define API_CONNS 128 /* evvm serves this many connections at once */

static const char not_before_start[] =
	"The requested operation is not supported before starting the microVM.";

static void test_endpoints(void **state)
{
	struct fc f;
	char body[256], metrics[160];
	char *m;

	(void)state;
	fc_start(&f);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"state\":\"Not started\"");
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"id\":\"api_test\"");
	EXPECT(&f, "GET", "/version", NULL, 200, "FirecrackerVersion", "firecracker_version");
	EXPECT(&f, "GET", "/machine-config", NULL, 200, "MachineConfiguration",
	       "\"vcpu_count\":1,\"mem_size_mib\":128");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}", 204, NULL,
	       NULL);
	EXPECT(&f, "PATCH", "/machine-config", "{\"mem_size_mib\":64}", 204, NULL, NULL);
	EXPECT(&f, "GET", "/machine-config", NULL, 200, "MachineConfiguration",
	       "\"vcpu_count\":2,\"mem_size_mib\":64");
	/* Nothing to start yet. */
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 400, NULL,
	       "kernel_image_path");
	EXPECT(&f, "PUT", "/boot-source",
	       "{\"kernel_image_path\":\"/k\",\"boot_args\":\"console=ttyS0\"}", 204, NULL, NULL);
	EXPECT(&f, "PUT", "/drives/root_1",
	       "{\"drive_id\":\"root_1\",\"path_on_host\":\"/d.img\",\"is_root_device\":true,"
	       "\"is_read_only\":true,\"cache_type\":\"Writeback\"}",
	       204, NULL, NULL);
	EXPECT(&f, "PUT", "/drives/data",
	       "{\"drive_id\":\"data\",\"path_on_host\":\"/e.img\",\"is_root_device\":true}", 400,
	       NULL, "is_root_device");
	EXPECT(&f, "PUT", "/drives/limited",
	       "{\"drive_id\":\"limited\",\"path_on_host\":\"/l.img\",\"is_root_device\":false,"
	       "\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,\"refill_time\":100}}}",
	       204, NULL, NULL);
	EXPECT(&f, "PUT", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":"
	       "\"06:00:ac:10:00:02\"}",
	       204, NULL, NULL);
	EXPECT(&f, "PUT", "/network-interfaces/eth1",
	       "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"rx_rate_limiter\":{\"ops\":"
	       "{\"size\":100,\"refill_time\":1000}},\"tx_rate_limiter\":{\"bandwidth\":"
	       "{\"size\":1000000,\"one_time_burst\":5,\"refill_time\":100}}}",
	       204, NULL, NULL);
	EXPECT(&f, "PUT", "/entropy", "{}", 204, NULL, NULL);
	snprintf(body, sizeof(body), "{\"log_path\":\"%s/fc.log\",\"level\":\"Info\"}", f.dir);
	EXPECT(&f, "PUT", "/logger", body, 204, NULL, NULL);
	/* FlushMetrics is post-boot, metrics or not (Firecracker's pre-boot refusal). */
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}", 400, NULL,
	       not_before_start);
	snprintf(metrics, sizeof(metrics), "%s/metrics.json", f.dir);
	snprintf(body, sizeof(body), "{\"metrics_path\":\"%s\"}", metrics);
	EXPECT(&f, "PUT", "/metrics", body, 204, NULL, NULL);
	EXPECT(&f, "PUT", "/metrics", body, 400, NULL, "Reinitialization");
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}", 400, NULL,
	       not_before_start);
	m = slurp(metrics);
	assert_string_equal(m, ""); /* no line for a refused flush */
	free(m);
	EXPECT(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration",
	       "\"boot-source\":{\"kernel_image_path\":\"/k\",\"boot_args\":\"console=ttyS0\"}");
	m = expect(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", NULL);
	assert_contains(m, "\"drive_id\":\"root_1\",\"is_root_device\":true,\"is_read_only\":true,"
			   "\"cache_type\":\"Writeback\"");
	assert_contains(m, "\"path_on_host\":\"/d.img\"");
	assert_contains(m, "\"rate_limiter\":{\"bandwidth\":{\"size\":1048576,"
			   "\"one_time_burst\":0,\"refill_time\":100}}");
	assert_contains(m, "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":"
			   "\"06:00:ac:10:00:02\"}");
	assert_contains(m, "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\",\"guest_mac\":"
			   "\"52:54:00:12:34:51\",\"rx_rate_limiter\":{\"ops\":{\"size\":100,"
			   "\"one_time_burst\":0,\"refill_time\":1000}},\"tx_rate_limiter\":{"
			   "\"bandwidth\":{\"size\":1000000,\"one_time_burst\":5,"
			   "\"refill_time\":100}}}");
	assert_contains(m, "\"entropy\":{}");
	assert_contains(m, "\"vcpu_count\":2,\"mem_size_mib\":64");
	assert_contains(m, "\"metrics\":{\"metrics_path\":");
	free(m);
	/* Post-boot operations before the start: refused as Firecracker does. */
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", 400, NULL, not_before_start);
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Resumed\"}", 400, NULL, not_before_start);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", 400, NULL,
	       not_before_start);
	EXPECT(&f, "PATCH", "/drives/root_1", "{\"drive_id\":\"root_1\",\"path_on_host\":\"/x\"}",
	       400, NULL, not_before_start);
	EXPECT(&f, "PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\"}", 400, NULL,
	       not_before_start);
	/* Their bodies are checked first, naming the field. */
	EXPECT(&f, "PATCH", "/vm", "{\"state\":\"Stopped\"}", 400, NULL,
	       "unknown variant `Stopped`, expected `Paused` or `Resumed`");
	EXPECT(&f, "PATCH", "/vm", "{}", 400, NULL, "missing field `state`");
	EXPECT(&f, "PATCH", "/drives/root_1", "{\"drive_id\":\"other\"}", 400, NULL,
	       "does not match");
	EXPECT(&f, "PATCH", "/drives/root_1", "{\"drive_id\":\"root_1\",\"is_read_only\":true}",
	       400, NULL, "unknown field `is_read_only`");
	EXPECT(&f, "PATCH", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap1\"}", 400, NULL,
	       "unknown field `host_dev_name`");
	EXPECT(&f, "PATCH", "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"rx_rate_limiter\":{\"ops\":{\"size\":1}}}", 400, NULL,
	       "rx_rate_limiter.ops: missing field `refill_time`");
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"state\":\"Not started\"");
	/* What evvm does not do yet says so. */
	EXPECT(&f, "PUT", "/vsock", "{\"guest_cid\":3,\"uds_path\":\"/v\"}", 400, NULL,
	       "not implemented");
	EXPECT(&f, "GET", "/balloon", NULL, 400, NULL, "not implemented");
	check_schemas(&f);
	fc_stop(&f);
}

static void test_bad_input(void **state)
{
	char *big = malloc(API_LIMIT + 2);
	struct fc f;

	(void)state;
	assert_non_null(big);
	fc_start(&f);
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\": 1,", 400, NULL,
	       "An error occurred when deserializing the json body of a request");
	EXPECT(&f, "PUT", "/boot-source", "{\"kernel_image_path\":\"/k\",\"kernel_path\":\"/k\"}",
	       400, NULL, "unknown field `kernel_path`");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":\"2\",\"mem_size_mib\":128}", 400,
	       NULL, "`vcpu_count`: invalid type");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":2.5,\"mem_size_mib\":128}", 400, NULL,
	       "`vcpu_count`: invalid type");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":0,\"mem_size_mib\":128}", 400, NULL,
	       "vcpu_count 0");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":1}", 400, NULL,
	       "mem_size_mib");
	EXPECT(&f, "PUT", "/machine-config", "[1,2]", 400, NULL, "expected a JSON object");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":1,\"vcpu_count\":2}", 400, NULL,
	       "duplicate");
	EXPECT(&f, "PUT", "/drives/d1", "{\"drive_id\":\"d1\",\"path_on_host\":\"/x\"}", 400, NULL,
	       "missing field `is_root_device`");
	EXPECT(&f, "PUT", "/drives/d1",
	       "{\"drive_id\":\"d2\",\"path_on_host\":\"/x\",\"is_root_device\":false}", 400, NULL,
	       "does not match");
	EXPECT(&f, "PUT", "/drives/d1",
	       "{\"drive_id\":\"d1\",\"path_on_host\":\"/x\",\"is_root_device\":false,"
	       "\"rate_limiter\":{\"ops\":{\"size\":1}}}",
	       400, NULL, "rate_limiter.ops: missing field `refill_time`");
	EXPECT(&f, "PUT", "/drives/d1",
	       "{\"drive_id\":\"d1\",\"socket\":\"/s\",\"is_root_device\":false,"
	       "\"rate_limiter\":{\"ops\":{\"size\":1,\"refill_time\":1}}}",
	       400, NULL, "rate_limiter: a vhost-user backend does its own");
	EXPECT(&f, "PUT", "/network-interfaces/n1",
	       "{\"iface_id\":\"n1\",\"host_dev_name\":\"tap0\",\"tx_rate_limiter\":{\"ops\":"
	       "{\"size\":-1,\"refill_time\":1}}}",
	       400, NULL, "tx_rate_limiter.ops: field `size`: -1 is below the minimum of 0");
	EXPECT(&f, "PUT", "/network-interfaces/n1",
	       "{\"iface_id\":\"n1\",\"host_dev_name\":\"tap0\",\"rx_rate_limiter\":{\"ops\":"
	       "{\"size\":1,\"refill_time\":1},\"bytes\":{}}}",
	       400, NULL, "rx_rate_limiter: unknown field `bytes`");
	EXPECT(&f, "PUT", "/drives/d1",
	       "{\"drive_id\":\"d1\",\"path_on_host\":\"/x\",\"is_root_device\":false,"
	       "\"cache_type\":\"Sometimes\"}",
	       400, NULL, "cache_type");
	EXPECT(&f, "PUT", "/drives/bad-id", "{}", 400, NULL, "alphanumeric");
	EXPECT(&f, "PUT", "/drives", "{}", 400, NULL, "The ID cannot be empty.");
	EXPECT(&f, "PUT", "/network-interfaces/n0",
	       "{\"iface_id\":\"n0\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"01:00:00:00:00:"
	       "01\"}",
	       400, NULL, "guest_mac");
	EXPECT(&f, "PUT", "/network-interfaces/n0",
	       "{\"iface_id\":\"n0\",\"host_dev_name\":\"a_tap_name_too_long\"}", 400, NULL,
	       "host_dev_name");
	EXPECT(&f, "PUT", "/logger", "{\"level\":\"Loud\"}", 400, NULL, "level `Loud`");
	EXPECT(&f, "PUT", "/metrics", "{}", 400, NULL, "missing field `metrics_path`");
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"Reboot\"}", 400, NULL, "action_type");
	EXPECT(&f, "PUT", "/actions", "{\"action\":\"InstanceStart\"}", 400, NULL,
	       "unknown field `action`");
	EXPECT(&f, "PUT", "/actions", NULL, 400, NULL, "Empty PUT request.");
	/* Snapshot bodies, refused before anything is loaded or written. */
	EXPECT(&f, "PUT", "/snapshot/create",
	       "{\"snapshot_type\":\"Partial\",\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}",
	       400, NULL, "snapshot_type 'Partial': expected Full or Diff");
	EXPECT(&f, "PUT", "/snapshot/load",
	       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"network_overrides\":"
	       "[{\"iface_id\":\"n0\",\"host_dev_name\":\"t0\"},{\"iface_id\":\"n0\","
	       "\"host_dev_name\":\"t1\"}]}",
	       400, NULL, "network_overrides: interface 'n0' twice");
	EXPECT(&f, "PUT", "/snapshot/load",
	       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"evvm_drive_overrides\":"
	       "[{\"drive_id\":\"d0\",\"path_on_host\":\"\"}]}",
	       400, NULL, "evvm_drive_overrides[0]: want drive_id and path_on_host, not empty");
	EXPECT(&f, "PUT", "/snapshot/load",
	       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"network_overrides\":{}}", 400,
	       NULL, "network_overrides: an array of at most");
	EXPECT(&f, "GET", "/", "{}", 400, NULL, "GET request cannot have a body.");
	EXPECT(&f, "GET", "/nowhere", NULL, 400, NULL,
	       "Invalid request method and/or path: GET /nowhere.");
	EXPECT(&f, "POST", "/actions", "{}", 400, NULL,
	       "Invalid request method and/or path: POST /actions.");
	EXPECT(&f, "DELETE", "/drives/d1", NULL, 400, NULL, "Invalid request method and/or path");
	/* Bodies: the limit itself is fine, one byte more is not. */
	memset(big, ' ', API_LIMIT + 1);
	memcpy(big, "{\"kernel_image_path\":\"/k\"", 25);
	big[API_LIMIT - 1] = '}';
	big[API_LIMIT] = '\0';
	EXPECT(&f, "PUT", "/boot-source", big, 204, NULL, NULL);
	big[API_LIMIT - 1] = ' ';
	big[API_LIMIT] = '}';
	big[API_LIMIT + 1] = '\0';
	EXPECT(&f, "PUT", "/boot-source", big, 413, NULL, "larger than the limit of 51200");
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "Not started");
	check_schemas(&f);
	fc_stop(&f);
	free(big);
}

/* A request sent but for its end, 1,000 requests in a row, 64 clients at once. */
static void test_slow_and_many_clients(void **state)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char half[] = "PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
				   "\r\n\r\n{\"kernel_im";
	int fds[64], stalled;
	double t0;
	struct fc f;
	char *body;

	(void)state;
	fc_start(&f);
	stalled = api_connect(f.sock);
	assert_true(stalled >= 0);
	assert_int_equal(api_send_all(stalled, half, sizeof(half) - 1), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(api_call(f.sock, "GET", "/", NULL, NULL), 200);
	for (int i = 0; i < 64; i++) {
		fds[i] = api_connect(f.sock);
		assert_true(fds[i] >= 0);
		assert_int_equal(api_send_all(fds[i], get, sizeof(get) - 1), 0);
	}
	for (int i = 0; i < 64; i++) {
		assert_int_equal(api_read_response(fds[i], 10, &body), 200);
		assert_contains(body, "\"app_name\":\"evvm\"");
		free(body);
		close(fds[i]);
	}
	/* The stalled client is dropped without an answer once it has been idle long enough. */
	t0 = now_s();
	assert_int_equal(api_read_response(stalled, API_IDLE + 10, NULL), -1);
	assert_true(now_s() - t0 < API_IDLE + 9); /* closed (EOF), not our own timeout */
	close(stalled);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "Not started");
	fc_stop(&f);
}

/*
 * More than API_CONNS clients at once: those past it wait to be accepted and
 * are answered in turn. Clients that go before their answer (evvm's writes
 * to them fail) cost nothing.
 */
static void test_connection_limit(void **state)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static const char gets[] = "GET /vm/config HTTP/1.1\r\nHost: x\r\n\r\n";
	int fds[API_CONNS + 8];
	struct fc f;

	(void)state;
	/* As a shell starts it: SIGPIPE not ignored (this test's SIG_IGN would be inherited). */
	signal(SIGPIPE, SIG_DFL);
	fc_start(&f);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < API_CONNS + 8; i++) {
		fds[i] = api_connect(f.sock);
		assert_true(fds[i] >= 0);
		assert_int_equal(api_send_all(fds[i], get, sizeof(get) - 1), 0);
	}
	for (int i = 0; i < API_CONNS + 8; i++) {
		assert_int_equal(api_read_response(fds[i], 10, NULL), 200);
		close(fds[i]);
	}
	for (int i = 0; i < 200; i++) {
		int fd = api_connect(f.sock);

		assert_true(fd >= 0);
		for (int j = 0; j < 20; j++)
			api_send_all(fd, gets, sizeof(gets) - 1);
		close(fd);
	}
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "Not started");
	fc_stop(&f);
}

/* A path that is not a stale socket is refused; a stale one is replaced. */
static void test_socket_path(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fc f, g;
	char *content;
	int fd, st;

	(void)state;
	fc_dir(&f);
	fd = open(f.sock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	st = run_cmd((const char *[]){ evvm_bin(), "firecracker", "--api-sock", f.sock, NULL },
		     f.log, 10);
	assert_int_equal(st, 1);
	content = slurp(f.sock);
	assert_string_equal(content, "keep");
	free(content);
	content = slurp(f.log);
	assert_contains(content, "exists and is not a socket");
	free(content);
	assert_int_equal(unlink(f.sock), 0);

	/* A socket bound and closed by a process that died: stale. */
	strcpy(sa.sun_path, f.sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	fc_start_as(&f, evvm_bin(), true);

	/* The same path while f listens: in use. */
	fc_dir(&g);
	st = run_cmd((const char *[]){ evvm_bin(), "firecracker", "--api-sock", f.sock, NULL },
		     g.log, 10);
	assert_int_equal(st, 1);
	content = slurp(g.log);
	assert_contains(content, "another process is listening on it");
	free(content);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "Not started");
	fc_stop(&f);
	g.pid = -1;
	fc_stop(&g);
}

/* Wait until the file @path contains @text. */
static void test_command_line(void **state)
{
	char link[160], logfile[160], target[PATH_MAX];
	struct run_result r;
	struct fc f;
	char *log;
	int st;

	(void)state;
	run_evvm(&r, 10, (const char *[]){ "firecracker", "--no-api", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--no-api needs --config-file");
	run_result_free(&r);
	run_evvm(&r, 10, (const char *[]){ "firecracker", "--level", "Loud", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--log-path/--level: level `Loud`");
	run_result_free(&r);
	run_evvm(&r, 10, (const char *[]){ "firecracker", "--bogus", NULL });
	assert_int_equal(r.status, 2);
	run_result_free(&r);
	run_evvm(&r, 10, (const char *[]){ "firecracker", "--help", NULL });
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "--api-sock PATH");
	run_result_free(&r);

	/* Called as "firecracker", with the flags jailer passes it, logging to a file. */
	fc_dir(&f);
	snprintf(link, sizeof(link), "%s/firecracker", f.dir);
	snprintf(logfile, sizeof(logfile), "%s/fc.log", f.dir);
	assert_non_null(realpath(evvm_bin(), target));
	assert_int_equal(symlink(target, link), 0);
	f.pid = spawn((const char *[]){ link, "--api-sock", f.sock, "--id", "fc_link",
					"--no-seccomp", "--start-time-us", "1", "--log-path",
					logfile, "--show-level", NULL },
		      f.log);
	assert_true(wait_listening(f.pid, f.sock, 10, &st));
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"id\":\"fc_link\"");
	/* The API may answer before the line saying so is written. */
	wait_file(logfile, "evvm: [INFO] API listening on '", 10);
	log = slurp(logfile);
	assert_contains(log, "evvm: [WARN] --start-time-us: accepted, not honoured by evvm yet\n");
	/* --no-seccomp is honoured (--seccomp=off), so not in that list. */
	assert_null(strstr(log, "--no-seccomp"));
	free(log);
	fc_stop(&f);
}

/* --metrics-path: the last metrics line is written when evvm ends. */
static void test_metrics_at_exit(void **state)
{
	char metrics[160];
	struct fc f;
	char *m;
	int st;

	(void)state;
	fc_dir(&f);
	snprintf(metrics, sizeof(metrics), "%s/metrics.json", f.dir);
	f.pid = spawn((const char *[]){ evvm_bin(), "firecracker", "--api-sock", f.sock,
					"--metrics-path", metrics, NULL },
		      f.log);
	assert_true(wait_listening(f.pid, f.sock, 10, &st));
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "Not started");
	m = slurp(metrics);
	assert_string_equal(m, ""); /* nothing before a flush, the exit or 60 s */
	free(m);
	kill(f.pid, SIGTERM);
	assert_int_equal(wait_exit(f.pid, 10), 128 + SIGTERM);
	f.pid = -1;
	m = slurp(metrics);
	assert_contains(m, "\"api_server\":{\"requests\":1,\"request_errors\":0}");
	assert_contains(m, "\"vmm\":{\"state\":\"Exited\"}");
	assert_ptr_equal(strchr(m, '\n'), m + strlen(m) - 1); /* one line */
	free(m);
	assert_int_equal(record_metrics(&f, metrics), 1);
	check_schemas(&f);
	fc_stop(&f);
}

/* Firecracker's getting-started sequence, with evvm's test guest as the kernel. */
static void test_getting_started(void **state)
{
	char body[512], disk[128];
	struct fc f;
	char *m;
	int st;

	(void)state;
	require_kvm();
	fc_start(&f);
	make_disk(f.dir, disk, sizeof(disk));
	snprintf(body, sizeof(body), "{\"log_path\":\"%s/fc.log\",\"level\":\"Debug\"}", f.dir);
	EXPECT(&f, "PUT", "/logger", body, 204, NULL, NULL);
	snprintf(body, sizeof(body),
		 "{\"kernel_image_path\":\"%s\",\"boot_args\":\"tests=virtio-blk\"}", guest_elf());
	EXPECT(&f, "PUT", "/boot-source", body, 204, NULL, NULL);
	snprintf(body, sizeof(body),
		 "{\"drive_id\":\"rootfs\",\"path_on_host\":\"%s\",\"is_root_device\":false,"
		 "\"is_read_only\":false}",
		 disk);
	EXPECT(&f, "PUT", "/drives/rootfs", body, 204, NULL, NULL);
	m = expect(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", "tests=virtio-blk");
	assert_contains(m, disk);
	free(m);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 204, NULL, NULL);
	st = wait_exit(f.pid, TIMEOUT);
	m = slurp(f.log);
	if (st != 0)
		print_error("evvm exited with %d:\n%s\n", st, m);
	assert_int_equal(st, 0);
	assert_contains(m, "evvm-guest: test virtio-blk: ok\n");
	assert_contains(m, "evvm-guest: 1 passed, 0 failed\n");
	free(m);
	check_schemas(&f);
	f.pid = -1;
	fc_stop(&f);
}

/* After InstanceStart, pre-boot resources are refused and the instance is Running. */
static void test_after_start(void **state)
{
	char body[512];
	struct fc f;

	(void)state;
	require_kvm();
	fc_start(&f);
	snprintf(body, sizeof(body), "{\"kernel_image_path\":\"%s\",\"boot_args\":\"tests=idle\"}",
		 guest_elf());
	EXPECT(&f, "PUT", "/boot-source", body, 204, NULL, NULL);
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 204, NULL, NULL);
	wait_log(&f, "evvm-guest: idle\n", TIMEOUT);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"state\":\"Running\"");
	EXPECT(&f, "PUT", "/boot-source", body, 400, NULL,
	       "The requested operation is not supported after starting the microVM.");
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64}", 400, NULL,
	       "after starting");
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 400, NULL,
	       "after starting");
	/* As Firecracker: without PUT /metrics a flush writes nothing and is no error. */
	EXPECT(&f, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}", 204, NULL, NULL);
	EXPECT(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", "tests=idle");
	check_schemas(&f);
	fc_stop(&f);
}

/* `evvm run --api-sock` describes the VM its flags made, and refuses to change it. */
static void test_run_api_sock(void **state)
{
	struct fc f;
	char *m;
	int st;

	(void)state;
	require_kvm();
	fc_dir(&f);
	f.pid = spawn((const char *[]){ evvm_bin(), "run", "--api-sock", f.sock, "--cpus", "boot=2",
					"--rng", "--cmdline", "tests=idle", NULL },
		      f.log);
	assert_true(wait_listening(f.pid, f.sock, 30, &st));
	wait_log(&f, "evvm-guest: idle\n", TIMEOUT);
	EXPECT(&f, "GET", "/", NULL, 200, "InstanceInfo", "\"state\":\"Running\"");
	m = expect(&f, "GET", "/vm/config", NULL, 200, "FullVmConfiguration", "\"entropy\":{}");
	assert_contains(m, "\"vcpu_count\":2");
	free(m);
	EXPECT(&f, "PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":64}", 400, NULL,
	       "after starting");
	check_schemas(&f);
	fc_stop(&f);
}

/* The same VM as the getting-started sequence, from a config file, without the API. */
static void test_config_file(void **state)
{
	char path[160], disk[128];
	struct fc f;
	FILE *c;
	char *m;
	int st;

	(void)state;
	require_kvm();
	fc_dir(&f);
	make_disk(f.dir, disk, sizeof(disk));
	snprintf(path, sizeof(path), "%s/vm.json", f.dir);
	c = fopen(path, "w");
	assert_non_null(c);
	fprintf(c,
		"{\"boot-source\":{\"kernel_image_path\":\"%s\",\"boot_args\":"
		"\"tests=virtio-blk\"},\n \"drives\":[{\"drive_id\":\"rootfs\",\"path_on_host\":"
		"\"%s\",\"is_root_device\":false,\"is_read_only\":false}],\n"
		" \"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":64}}\n",
		guest_elf(), disk);
	fclose(c);
	st = run_cmd((const char *[]){ evvm_bin(), "firecracker", "--no-api", "--config-file", path,
				       NULL },
		     f.log, TIMEOUT);
	m = slurp(f.log);
	if (st != 0)
		print_error("evvm exited with %d:\n%s\n", st, m);
	assert_int_equal(st, 0);
	assert_contains(m, "evvm-guest: test virtio-blk: ok\n");
	free(m);
	fc_stop(&f);
}

/* A bad config file is refused before anything runs, naming the field. */
static void test_config_file_errors(void **state)
{
	static const struct {
		const char *json, *needle;
	} cases[] = {
		{ "{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":[{\"drive_id\":\"a\","
		  "\"is_root_device\":\"yes\"}]}",
		  "drives[0]: field `is_root_device`: invalid type" },
		{ "{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":128}}",
		  "missing field `boot-source`" },
		{ "{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"vsock\":{}}",
		  "field `vsock`: not supported" },
		{ "{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"machine-config\":"
		  "{\"vcpu_count\":1}}",
		  "machine-config: missing field `mem_size_mib`" },
		{ "{\"boot-source\":", "config file" },
	};
	char path[160];
	struct fc f;

	(void)state;
	fc_dir(&f);
	snprintf(path, sizeof(path), "%s/vm.json", f.dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *c = fopen(path, "w");
		char *m;

		assert_non_null(c);
		fputs(cases[i].json, c);
		fclose(c);
		assert_int_equal(run_cmd((const char *[]){ evvm_bin(), "firecracker", "--no-api",
							   "--config-file", path, NULL },
					 f.log, 10),
				 1);
		m = slurp(f.log);
		assert_contains(m, cases[i].needle);
		free(m);
	}
	fc_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_slow_and_many_clients),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_config_file_errors),
		cmocka_unit_test(test_metrics_at_exit),
		cmocka_unit_test(test_getting_started),
		cmocka_unit_test(test_after_start),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_run_api_sock),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
