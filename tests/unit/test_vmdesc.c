// SPDX-License-Identifier: MIT
/*
 * The VM description (vm/vmdesc.c), Firecracker's JSON to and from it
 * (cli/vmjson.c) and the --disk/--net grammar (cli/devargs.c): they fill
 * the same structures, checked in one place, with messages naming fields.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/device.h>
#include <evvm/virtio.h>

#include "devargs.h"
#include "vmdesc.h"
#include "vmjson.h"

static json_t *parse(const char *text)
{
	char msg[VMDESC_MSG_MAX];
	json_t *j = vmjson_parse(text, strlen(text), msg);

	if (!j)
		print_error("%s: %s\n", text, msg);
	assert_non_null(j);
	return j;
}

/* vmjson_config() on @text must fail with a message containing @needle. */
static void config_fails(const char *text, const char *needle)
{
	char msg[VMDESC_MSG_MAX] = "";
	struct vm_desc d;
	json_t *j = parse(text);

	vmdesc_init(&d);
	d.kernel_required = true;
	assert_int_equal(vmjson_config(j, &d, msg), -EINVAL);
	if (!strstr(msg, needle)) {
		print_error("'%s': got '%s', expected '%s'\n", text, msg, needle);
		fail();
	}
	json_decref(j);
	vmdesc_release(&d);
}

static const char full_config[] =
	"{\"boot-source\":{\"kernel_image_path\":\"/k\",\"initrd_path\":\"/i\","
	"\"boot_args\":\"console=ttyS0\"},"
	"\"drives\":[{\"drive_id\":\"data\",\"path_on_host\":\"/d\",\"is_root_device\":false},"
	"{\"drive_id\":\"root\",\"path_on_host\":\"/r\",\"is_root_device\":true,"
	"\"is_read_only\":true,\"cache_type\":\"Writeback\",\"io_engine\":\"Async\"}],"
	"\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":256,\"smt\":false},"
	"\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\","
	"\"guest_mac\":\"06:00:ac:10:00:02\","
	"\"rx_rate_limiter\":{\"bandwidth\":{\"size\":1000000,\"refill_time\":100}},"
	"\"tx_rate_limiter\":{\"ops\":{\"size\":100,\"one_time_burst\":7,\"refill_time\":1000}}}],"
	"\"entropy\":{\"rate_limiter\":{\"bandwidth\":{\"size\":4096,\"refill_time\":100},"
	"\"ops\":{\"size\":10,\"one_time_burst\":5,\"refill_time\":1000}}},"
	"\"logger\":{\"log_path\":\"/l\",\"level\":\"debug\",\"show_level\":true},"
	"\"metrics\":{\"metrics_path\":\"/m\"}}";

static void test_config_fills_the_description(void **state)
{
	char msg[VMDESC_MSG_MAX];
	struct vm_desc d, d2;
	json_t *j = parse(full_config), *out, *out2;
	char *a, *b;

	(void)state;
	vmdesc_init(&d);
	d.kernel_required = true;
	assert_int_equal(vmjson_config(j, &d, msg), 0);
	assert_int_equal(d.machine.vcpus, 2);
	assert_int_equal(d.machine.mem_size, 256ULL << 20);
	assert_string_equal(d.boot.kernel, "/k");
	assert_string_equal(d.boot.initrd, "/i");
	assert_string_equal(d.boot.cmdline, "console=ttyS0");
	assert_int_equal(d.nr_drives, 2);
	assert_string_equal(d.drives[1].id, "root");
	assert_true(d.drives[1].is_root && d.drives[1].readonly && d.drives[1].writeback);
	assert_int_equal(d.nr_nets, 1);
	assert_string_equal(d.nets[0].tap, "tap0");
	assert_int_equal(d.nets[0].mac[5], 2);
	assert_true(d.nets[0].rx_rate_limited && d.nets[0].tx_rate_limited);
	assert_int_equal(d.nets[0].rx_rate_limit.bandwidth.size, 1000000);
	assert_int_equal(d.nets[0].rx_rate_limit.bandwidth.refill_ms, 100);
	assert_int_equal(d.nets[0].rx_rate_limit.ops.size, 0);
	assert_int_equal(d.nets[0].tx_rate_limit.ops.size, 100);
	assert_int_equal(d.nets[0].tx_rate_limit.ops.one_time_burst, 7);
	assert_int_equal(d.nets[0].tx_rate_limit.bandwidth.size, 0);
	assert_true(d.rng && d.rng_rate_limited);
	assert_int_equal(d.rng_rate_limit.bandwidth.size, 4096);
	assert_int_equal(d.rng_rate_limit.bandwidth.refill_ms, 100);
	assert_int_equal(d.rng_rate_limit.ops.one_time_burst, 5);
	assert_string_equal(d.logger.path, "/l");
	assert_true(d.logger.show_level);
	assert_string_equal(d.metrics.path, "/m");
	assert_int_equal(vmdesc_validate(&d, msg), 0);

	/* Exported and read back, the description says the same. */
	out = vmjson_export(&d);
	assert_non_null(out);
	vmdesc_init(&d2);
	assert_int_equal(vmjson_config(out, &d2, msg), 0);
	out2 = vmjson_export(&d2);
	a = json_dumps(out, JSON_SORT_KEYS);
	b = json_dumps(out2, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_decref(out);
	json_decref(out2);
	json_decref(j);
	vmdesc_release(&d);
	vmdesc_release(&d2);
}

static void test_config_errors_name_the_field(void **state)
{
	(void)state;
	config_fails("{}", "missing field `boot-source`");
	config_fails("{\"boot-source\":{}}", "boot-source: missing field `kernel_image_path`");
	config_fails("{\"boot-source\":{\"kernel_image_path\":1}}",
		     "boot-source: field `kernel_image_path`: invalid type, expected a string");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"sound\":{}}",
		     "unknown field `sound`");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"machine-config\":"
		     "{\"vcpu_count\":65,\"mem_size_mib\":128}}",
		     "vcpu_count 65");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"machine-config\":"
		     "{\"vcpu_count\":1,\"mem_size_mib\":-1}}",
		     "mem_size_mib -1");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"machine-config\":"
		     "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":true}}",
		     "smt");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":["
		     "{\"drive_id\":\"a\",\"path_on_host\":\"/a\",\"is_root_device\":true},"
		     "{\"drive_id\":\"b\",\"path_on_host\":\"/b\",\"is_root_device\":true}]}",
		     "drives[1]: drive 'b': is_root_device: drive 'a' already is the root device");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":["
		     "{\"drive_id\":\"a\",\"is_root_device\":false}]}",
		     "drives[0]: drive 'a': exactly one of path_on_host and socket");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":["
		     "{\"drive_id\":\"a\",\"socket\":\"/s\",\"is_read_only\":true,"
		     "\"is_root_device\":false}]}",
		     "drives[0]: drive 'a': socket");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":["
		     "{\"drive_id\":\"a_name_of_21_characters\",\"path_on_host\":\"/a\","
		     "\"is_root_device\":false}]}",
		     "field `drive_id`: 1 to 20 characters");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"network-interfaces\":"
		     "[{\"iface_id\":\"n\",\"host_dev_name\":\"t\",\"mtu\":1500}]}",
		     "network-interfaces[0]: field `mtu`: not supported");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"network-interfaces\":"
		     "[{\"iface_id\":\"n\",\"host_dev_name\":\"t\",\"tx_rate_limiter\":"
		     "{\"bandwidth\":{\"size\":-5,\"refill_time\":1}}}]}",
		     "network-interfaces[0]: tx_rate_limiter.bandwidth: field `size`: -5 is below");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"network-interfaces\":"
		     "[{\"iface_id\":\"n\",\"host_dev_name\":\"t\",\"rx_rate_limiter\":"
		     "{\"iops\":{}}}]}",
		     "network-interfaces[0]: rx_rate_limiter: unknown field `iops`");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"network-interfaces\":"
		     "[{\"iface_id\":\"n\",\"host_dev_name\":\"t\",\"rx_rate_limiter\":[]}]}",
		     "network-interfaces[0]: field `rx_rate_limiter`: invalid type");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"logger\":"
		     "{\"module\":\"api_server\"}}",
		     "logger: field `module`: not supported");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"logger\":"
		     "{\"show_log_origin\":1}}",
		     "logger: field `show_log_origin`: invalid type");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":{}}",
		     "field `drives`: invalid type, expected an array");
	config_fails("{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"entropy\":"
		     "{\"rate_limiter\":{\"ops\":{\"size\":-1,\"refill_time\":1}}}}",
		     "entropy: rate_limiter.ops");
}

/* JSON may spell a NUL inside a string; no path or id can hold one. */
static void test_nul_in_a_string_refused(void **state)
{
	static const char text[] = "{\"kernel_image_path\":\"/k\\u0000/other\"}";
	char msg[VMDESC_MSG_MAX];

	(void)state;
	assert_null(vmjson_parse(text, strlen(text), msg));
	assert_non_null(strstr(msg, "\\u0000 is not allowed"));
}

static void test_device_limit_and_replace(void **state)
{
	char msg[VMDESC_MSG_MAX];
	struct vm_desc d;

	(void)state;
	vmdesc_init(&d);
	for (unsigned int i = 0; i < EVVM_MAX_VIRTIO; i++) {
		struct vmdesc_drive drv = { .path = strdup("/x") };

		snprintf(drv.id, sizeof(drv.id), "d%u", i);
		assert_int_equal(vmdesc_put_drive(&d, &drv, msg), 0);
		assert_null(drv.path); /* the description owns it now */
	}
	/* The same id replaces; a new one is one too many. */
	{
		struct vmdesc_drive same = { .id = "d3", .path = strdup("/y") };
		struct vmdesc_drive more = { .id = "d10", .path = strdup("/z") };

		assert_int_equal(vmdesc_put_drive(&d, &same, msg), 0);
		assert_string_equal(d.drives[3].path, "/y");
		assert_int_equal(d.nr_drives, EVVM_MAX_VIRTIO);
		assert_int_equal(vmdesc_put_drive(&d, &more, msg), -EINVAL);
		assert_non_null(strstr(msg, "at most 10 virtio devices"));
		vmdesc_drive_release(&more);
	}
	d.rng = true;
	assert_int_equal(vmdesc_validate(&d, msg), -EINVAL);
	assert_non_null(strstr(msg, "11 virtio devices: at most 10"));
	vmdesc_release(&d);
}

static void test_machine_patch_keeps_the_rest(void **state)
{
	struct vmdesc_machine m = { .vcpus = 4, .mem_size = 512ULL << 20 };
	char msg[VMDESC_MSG_MAX];
	json_t *j = parse("{\"mem_size_mib\":64}");

	(void)state;
	assert_int_equal(vmjson_machine(j, true, &m, msg), 0);
	assert_int_equal(m.vcpus, 4);
	assert_int_equal(m.mem_size, 64ULL << 20);
	assert_int_equal(vmjson_machine(j, false, &m, msg), -EINVAL);
	assert_non_null(strstr(msg, "missing field `vcpu_count`"));
	json_decref(j);
}

/* --disk and --net fill the same sections the JSON bodies do. */
static void test_flags_and_json_agree(void **state)
{
	char msg[VMDESC_MSG_MAX];
	struct vmdesc_drive a, b = { 0 };
	struct vmdesc_net n, m = { 0 };
	json_t *j;

	(void)state;
	assert_int_equal(devarg_disk("path=/x,readonly=on,id=d1", 0, &a), 0);
	j = parse("{\"drive_id\":\"d1\",\"path_on_host\":\"/x\",\"is_read_only\":true,"
		  "\"is_root_device\":false}");
	assert_int_equal(vmjson_drive(j, &b, msg), 0);
	assert_string_equal(a.id, b.id);
	assert_string_equal(a.path, b.path);
	assert_int_equal(a.readonly, b.readonly);
	assert_null(a.socket);
	json_decref(j);
	vmdesc_drive_release(&a);
	vmdesc_drive_release(&b);

	assert_int_equal(devarg_disk("path=/x,queues=4", 0, &a), 0);
	j = parse("{\"drive_id\":\"blk0\",\"path_on_host\":\"/x\",\"queues\":4,"
		  "\"is_root_device\":false}");
	assert_int_equal(vmjson_drive(j, &b, msg), 0);
	assert_int_equal(a.queues, 4);
	assert_int_equal(b.queues, 4);
	json_decref(j);
	vmdesc_drive_release(&b);
	j = parse("{\"drive_id\":\"blk0\",\"path_on_host\":\"/x\",\"queues\":17,"
		  "\"is_root_device\":false}");
	assert_int_equal(vmjson_drive(j, &b, msg), -EINVAL);
	assert_string_equal(msg, "queues 17: expected 1 to 16");
	json_decref(j);
	vmdesc_drive_release(&a);
	vmdesc_drive_release(&b);

	assert_int_equal(devarg_disk("vhost_user=on,socket=/s", 2, &a), 0);
	assert_string_equal(a.id, "blk2");
	assert_string_equal(a.socket, "/s");
	assert_int_equal(vmdesc_check_drive(&a, msg), 0);
	vmdesc_drive_release(&a);

	assert_int_equal(devarg_net("tap=tap0,id=eth0", 1, &n), 0);
	j = parse("{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}");
	assert_int_equal(vmjson_net(j, 1, &m, msg), 0);
	assert_string_equal(n.id, m.id);
	assert_string_equal(n.tap, m.tap);
	assert_memory_equal(n.mac, m.mac, 6);
	assert_int_equal(n.mac[5], 0x51); /* 52:54:00:12:34:5N for the Nth */
	assert_int_equal(n.event_idx, m.event_idx);
	json_decref(j);
	vmdesc_net_release(&n);
	vmdesc_net_release(&m);
}

/* A vhost-user interface's backend does its own rate limiting: evvm's limiters are refused. */
static void test_net_rate_limit_not_for_vhost_user(void **state)
{
	char msg[VMDESC_MSG_MAX];
	struct vmdesc_net n = { .id = "eth0", .socket = "/s" };

	(void)state;
	assert_int_equal(vmdesc_check_net(&n, msg), 0);
	n.tx_rate_limited = true;
	assert_int_equal(vmdesc_check_net(&n, msg), -EINVAL);
	assert_non_null(strstr(msg, "network interface 'eth0': rx_rate_limiter, tx_rate_limiter"));
	n = (struct vmdesc_net){ .id = "eth0", .tap = "tap0", .rx_rate_limited = true };
	assert_int_equal(vmdesc_check_net(&n, msg), 0);
}

/* A root drive goes first and adds root= to the command line, as Firecracker does. */
static void test_build_root_drive(void **state)
{
	static const unsigned char demo[16];
	char path[] = "/tmp/evvm-vmdesc-XXXXXX", msg[VMDESC_MSG_MAX];
	/* Both read-only: they share one file. */
	struct vmdesc_drive data = { .id = "data", .readonly = true };
	struct vmdesc_drive root = { .id = "root", .readonly = true };
	struct vmdesc_built b;
	struct vm_desc d;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	vmdesc_init(&d);
	d.boot.cmdline = strdup("console=ttyS0");
	data.path = strdup(path);
	root.path = strdup(path);
	root.is_root = true;
	assert_int_equal(vmdesc_put_drive(&d, &data, msg), 0);
	assert_int_equal(vmdesc_put_drive(&d, &root, msg), 0);
	assert_int_equal(vmdesc_build(&d, demo, sizeof(demo), -1, &b, msg), 0);
	assert_string_equal(b.cfg.cmdline, "console=ttyS0 root=/dev/vda ro");
	assert_int_equal(b.cfg.nr_devices, 2);
	assert_ptr_equal(b.cfg.kernel, demo);
	vmdesc_unbuild(&b);
	unlink(path);

	/* A file that is not there fails the build and leaves nothing behind. */
	free(d.drives[1].path);
	d.drives[1].path = strdup("/nonexistent/evvm.img");
	assert_int_not_equal(vmdesc_build(&d, demo, sizeof(demo), -1, &b, msg), 0);
	assert_int_equal(b.cfg.nr_devices, 0);
	vmdesc_release(&d);
}

/* Every device is its own: rng and console after a drive are not the drive again. */
static void test_build_devices_in_order(void **state)
{
	static const unsigned char demo[16];
	char path[] = "/tmp/evvm-vmdesc-XXXXXX", msg[VMDESC_MSG_MAX];
	struct vmdesc_drive drv = { .id = "data" };
	struct vmdesc_built b;
	struct vm_desc d;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	vmdesc_init(&d);
	drv.path = strdup(path);
	assert_int_equal(vmdesc_put_drive(&d, &drv, msg), 0);
	d.rng = true;
	d.console = true;
	assert_int_equal(vmdesc_build(&d, demo, sizeof(demo), -1, &b, msg), 0);
	assert_int_equal(b.cfg.nr_devices, 3);
	assert_int_equal(b.cfg.devices[0]->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(b.cfg.devices[1]->ops->device_id, VIRTIO_ID_RNG);
	assert_int_equal(b.cfg.devices[2]->ops->device_id, VIRTIO_ID_CONSOLE);
	assert_string_equal(b.cfg.devices[1]->id, "rng0");
	assert_string_equal(b.cfg.devices[2]->id, "console0");
	vmdesc_unbuild(&b);
	vmdesc_release(&d);
	unlink(path);
}

/* queues=: as given; else one per vCPU (at most 16) on pci, one on mmio and for vhost-user. */
static void test_drive_queues_default(void **state)
{
	struct vmdesc_drive local = { .path = "/x" }, vu = { .socket = "/s" };
	struct vm_desc d;

	(void)state;
	vmdesc_init(&d);
	d.machine.vcpus = 4;
	assert_int_equal(vmdesc_drive_queues(&d, &local), 0); /* mmio: the default */
	d.transport = EVVM_TRANSPORT_PCI;
	assert_int_equal(vmdesc_drive_queues(&d, &local), 4);
	assert_int_equal(vmdesc_drive_queues(&d, &vu), 0);
	d.machine.vcpus = 64;
	assert_int_equal(vmdesc_drive_queues(&d, &local), 16);
	d.machine.vcpus = 1;
	assert_int_equal(vmdesc_drive_queues(&d, &local), 0); /* one, without MQ */
	local.queues = 3;
	assert_int_equal(vmdesc_drive_queues(&d, &local), 3);
	d.transport = EVVM_TRANSPORT_MMIO;
	assert_int_equal(vmdesc_drive_queues(&d, &local), 3);
	vmdesc_release(&d);
}

/* iothreads=M: 1 to the queues, pci only, a local disk without rate limiter; JSON as flags. */
static void test_drive_iothreads(void **state)
{
	char msg[VMDESC_MSG_MAX];
	struct vmdesc_drive a, b = { 0 };
	struct vm_desc d;
	json_t *j;

	(void)state;
	assert_int_equal(devarg_disk("path=/x,queues=4,iothreads=2", 0, &a), 0);
	j = parse("{\"drive_id\":\"blk0\",\"path_on_host\":\"/x\",\"queues\":4,"
		  "\"iothreads\":2,\"is_root_device\":false}");
	assert_int_equal(vmjson_drive(j, &b, msg), 0);
	json_decref(j);
	assert_int_equal(a.iothreads, 2);
	assert_int_equal(b.iothreads, 2);
	vmdesc_drive_release(&b);
	vmdesc_init(&d);
	d.machine.vcpus = 2;
	assert_int_equal(vmdesc_put_drive(&d, &a, msg), 0);
	assert_int_equal(vmdesc_validate(&d, msg), -EINVAL);
	assert_string_equal(msg, "drive 'blk0': iothreads=2 needs --transport=pci");
	d.transport = EVVM_TRANSPORT_PCI;
	assert_int_equal(vmdesc_validate(&d, msg), 0);
	/* With the default queues: one per vCPU, 2 here. */
	d.drives[0].queues = 0;
	assert_int_equal(vmdesc_validate(&d, msg), 0);
	d.drives[0].iothreads = 3;
	assert_int_equal(vmdesc_validate(&d, msg), -EINVAL);
	assert_string_equal(msg, "drive 'blk0': iothreads=3: more than its 2 queues");
	d.drives[0].iothreads = 2;
	d.drives[0].rate_limited = true;
	assert_int_equal(vmdesc_validate(&d, msg), -EINVAL);
	assert_non_null(strstr(msg, "iothreads: for a local disk without rate_limiter"));
	vmdesc_release(&d);
}

/* A local disk with queues= builds a device with that many queues, VIRTIO_BLK_F_MQ offered. */
static void test_build_multiqueue_disk(void **state)
{
	static const unsigned char demo[16];
	char path[] = "/tmp/evvm-vmdesc-XXXXXX", msg[VMDESC_MSG_MAX];
	struct vmdesc_drive drv = { .id = "data", .queues = 3 };
	struct vmdesc_built b;
	struct vm_desc d;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	vmdesc_init(&d);
	drv.path = strdup(path);
	assert_int_equal(vmdesc_put_drive(&d, &drv, msg), 0);
	assert_int_equal(vmdesc_build(&d, demo, sizeof(demo), -1, &b, msg), 0);
	assert_int_equal(b.cfg.devices[0]->ops->nr_queues, 3);
	assert_true(b.cfg.devices[0]->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	vmdesc_unbuild(&b);
	/* The default on pci with 2 vCPUs: 2. */
	d.drives[0].queues = 0;
	d.machine.vcpus = 2;
	d.transport = EVVM_TRANSPORT_PCI;
	assert_int_equal(vmdesc_build(&d, demo, sizeof(demo), -1, &b, msg), 0);
	assert_int_equal(b.cfg.devices[0]->ops->nr_queues, 2);
	assert_int_equal(b.cfg.devices[0]->nr_iothreads, 0);
	vmdesc_unbuild(&b);
	/* iothreads= reaches the device, for its transport. */
	d.drives[0].iothreads = 2;
	assert_int_equal(vmdesc_build(&d, demo, sizeof(demo), -1, &b, msg), 0);
	assert_int_equal(b.cfg.devices[0]->nr_iothreads, 2);
	vmdesc_unbuild(&b);
	vmdesc_release(&d);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_fills_the_description),
		cmocka_unit_test(test_config_errors_name_the_field),
		cmocka_unit_test(test_nul_in_a_string_refused),
		cmocka_unit_test(test_device_limit_and_replace),
		cmocka_unit_test(test_machine_patch_keeps_the_rest),
		cmocka_unit_test(test_flags_and_json_agree),
		cmocka_unit_test(test_net_rate_limit_not_for_vhost_user),
		cmocka_unit_test(test_build_root_drive),
		cmocka_unit_test(test_build_devices_in_order),
		cmocka_unit_test(test_drive_queues_default),
		cmocka_unit_test(test_build_multiqueue_disk),
		cmocka_unit_test(test_drive_iothreads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
