// SPDX-License-Identifier: MIT
/*
 * Snapshot and restore end to end (needs KVM): the test guest's snap-loop
 * (1 MiB pattern per round, LAPIC timer ticks) runs under `evvm run
 * --api-sock`, is paused and snapshotted, the process is killed; the VM
 * is restored twice by `evvm run --restore` and once by PUT /snapshot/load
 * in a fresh `evvm firecracker`, and each continues from the round after
 * the snapshot to the end with its memory checked. A corrupt state file
 * and a memory file of the wrong size are refused with their messages.
 *
 * With devices: snap-io (memory, a virtio-blk region written with 16
 * requests in flight, virtio-rng, a virtio-console line, timer ticks per
 * round) is snapshotted the same way; two clones, each on its own copy of
 * the disk (--restore ...,disk=blk0:COPY), and a load through the API
 * (evvm_drive_overrides, after one naming no drive is refused) continue
 * and verify every block written. State
 * files with a corrupt device section (CRC made right again) and wrong
 * disk overrides are refused with their messages.
 *
 * Diff snapshots: snap-io with dirty page tracking gets a full snapshot,
 * runs on, and a diff; the diff's memory file, written onto the full one
 * (evvm rebase-snap), restores with the diff's state and the guest
 * verifies every region and block. A VM without tracking refuses a diff.
 *
 * snap-io with its disk behind `evvm vhost-user-blk`: restored against the
 * backend that served it and against one started again on a copy of the
 * disk, and refused when the backend's socket is missing.
 */
#include <sys/stat.h>
#define _GNU_SOURCE
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
#include "snaptest.h"
#include "snapshot.h"
#include "snapshot_file.h"
#include "virtio_state.h"

/* `evvm vhost-user-blk -v` on @disk, on @sock, its lines (rings started, stopped) to @log. */
static pid_t backend_start(const char *disk, const char *sock, const char *log)
{
	char arg[160];
	const char *argv[] = { evvm_bin(), "vhost-user-blk", "-v", "--socket",
			       sock,	   "--disk",	     arg,  NULL };
	pid_t pid;
	int st;

	snprintf(arg, sizeof(arg), "path=%s", disk);
	pid = spawn(argv, log);
	if (!wait_listening(pid, sock, 30, &st))
		fail_msg("evvm vhost-user-blk on '%s' does not listen on '%s' (status %d)", disk,
			 sock, st);
	return pid;
}

/* The guest under `evvm run --api-sock`, with or without its devices. */
static pid_t boot(struct snap *s)
{
	char cmdline[96], disk[160];
	const char *plain[] = { evvm_bin(), "run",	  "--kernel", guest_elf(), "--cmdline",
				cmdline,    "--api-sock", s->sock,    NULL };
	const char *devs[] = { evvm_bin(), "run", "--kernel", guest_elf(), "--cmdline",	 cmdline,
			       "--disk",   disk,  "--rng",    "--console", "--api-sock", s->sock,
			       NULL,	   NULL,  NULL,	      NULL,	   NULL,	 NULL };
	unsigned int n = 12;
	char cmd[256];

	snprintf(disk, sizeof(disk), "path=%s", s->disk);
	if (s->devices) {
		snprintf(cmdline, sizeof(cmdline), "tests=snap-io snapio.rounds=%s", s->rounds);
		snprintf(cmd, sizeof(cmd), "truncate -s 2M '%s'", s->disk);
		assert_int_equal(system(cmd), 0);
		if (s->vhost) {
			s->backend = backend_start(s->disk, s->vsock, s->vlog);
			snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", s->vsock);
		}
		if (s->pci) {
			devs[n++] = "--transport=pci";
			devs[n++] = "--cpus";
			devs[n++] = "boot=2";
		}
		if (s->track) {
			devs[n++] = "--memory";
			devs[n++] = "size=128M,track_dirty_pages=on";
		}
		return spawn(devs, s->log);
	}
	snprintf(cmdline, sizeof(cmdline), "tests=snap-loop snap_rounds=%s", s->rounds);
	return spawn(plain, s->log);
}

/* A VM without dirty page tracking refuses a diff snapshot, and writes no file. */
static void expect_no_diff(const struct snap *s)
{
	char body[512], *out;

	snprintf(body, sizeof(body),
		 "{\"snapshot_type\":\"Diff\",\"snapshot_path\":\"%s.diff\","
		 "\"mem_file_path\":\"%s.diff\"}",
		 s->state, s->mem);
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 400);
	free(out);
	snprintf(body, sizeof(body), "%s.diff", s->mem);
	assert_int_equal(access(body, F_OK), -1);
}

/*
 * After the full snapshot: resume, let 5 more rounds go, pause and take a
 * diff, which from then on is the snapshot (s->state, s->mem: the full
 * memory file with the diff's pages written onto it).
 */
static void take_diff(struct snap *s)
{
	char body[512], *out, key[32], diff[160], cmd[512];
	struct stat full_st, diff_st;
	unsigned int round;

	out = guest_output(s->log);
	round = last_round(s->test, out);
	free(out);
	assert_int_equal(api_call(s->sock, "PATCH", "/vm", "{\"state\":\"Resumed\"}", NULL), 204);
	snprintf(key, sizeof(key), "%s round %u ", s->test, round + 5);
	wait_file(s->log, key, FC_TIMEOUT);
	assert_int_equal(api_call(s->sock, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL), 204);
	snprintf(diff, sizeof(diff), "%s.diff", s->mem);
	snprintf(body, sizeof(body),
		 "{\"snapshot_type\":\"Diff\",\"snapshot_path\":\"%s\","
		 "\"mem_file_path\":\"%s\"}",
		 s->state, diff);
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 204);
	free(out);
	/* Only what was written since: fewer pages than the full file has. */
	assert_int_equal(stat(s->mem, &full_st), 0);
	assert_int_equal(stat(diff, &diff_st), 0);
	assert_int_equal(diff_st.st_size, full_st.st_size);
	if (diff_st.st_blocks >= full_st.st_blocks)
		fail_msg("diff holds %lld blocks, the full snapshot %lld",
			 (long long)diff_st.st_blocks, (long long)full_st.st_blocks);
	snprintf(cmd, sizeof(cmd), "'%s' rebase-snap --base-file '%s' --diff-file '%s'", evvm_bin(),
		 s->mem, diff);
	assert_int_equal(system(cmd), 0);
}

/*
 * Boot the loop (on @pci, with @track, with a vhost-user disk if @vhost:
 * see struct snap), pause it after round 5, snapshot it (with @track,
 * then a diff: take_diff()), kill the process.
 */
static void take_snapshot_with(struct snap *s, bool devices, bool pci, bool track, bool vhost)
{
	char body[512], *out, round5[32];
	pid_t pid;
	int st;

	snap_paths(s, devices);
	s->pci = pci;
	s->track = track;
	s->vhost = vhost;
	pid = boot(s);
	assert_true(wait_listening(pid, s->sock, 30, &st));
	snprintf(round5, sizeof(round5), "%s round 5 ", s->test);
	wait_file(s->log, round5, FC_TIMEOUT);

	snprintf(body, sizeof(body), "{\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\"}",
		 s->state, s->mem);
	/* A running VM is not snapshotted. */
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 400);
	assert_non_null(strstr(out, "not paused"));
	free(out);
	assert_int_equal(api_call(s->sock, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL), 204);
	if (!s->track)
		expect_no_diff(s);
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 204);
	free(out);
	if (s->track)
		take_diff(s);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 30), 128 + SIGKILL);
	snap_killed(s);
}

static void take_snapshot_on(struct snap *s, bool devices, bool pci, bool track)
{
	take_snapshot_with(s, devices, pci, track, false);
}

static void take_snapshot_of(struct snap *s, bool devices)
{
	take_snapshot_on(s, devices, false, false);
}

static void take_snapshot(struct snap *s)
{
	take_snapshot_of(s, false);
}

/* `evvm run --restore`; with @disk, the disk blk0 on that file. */
static void restore_cli_disk(const struct snap *s, const char *name, const char *disk)
{
	char arg[512], log[160];
	const char *argv[] = { evvm_bin(), "run", "--restore", arg, NULL };
	int n = snprintf(arg, sizeof(arg), "state=%s,mem=%s", s->state, s->mem);

	if (disk)
		snprintf(arg + n, sizeof(arg) - n, ",disk=blk0:%s", disk);
	snprintf(log, sizeof(log), "%s/%s.log", s->dir, name);
	if (run_cmd(argv, log, FC_TIMEOUT)) {
		char *out = slurp(log);

		fail_msg("%s did not run to the end; it printed:\n%s", name,
			 strlen(out) > 2000 ? out + strlen(out) - 2000 : out);
	}
	check_continued(s, log);
}

static void restore_cli(const struct snap *s, const char *name)
{
	restore_cli_disk(s, name, NULL);
}

static void test_restore_twice(void **state)
{
	struct snap s;

	(void)state;
	require_kvm();
	take_snapshot(&s);
	restore_cli(&s, "clone1");
	restore_cli(&s, "clone2");
	snap_cleanup(&s);
}

static void load_through_api(bool devices)
{
	struct snap s;
	struct fc f;
	char body[512];
	int st;

	require_kvm();
	take_snapshot_of(&s, devices);
	fc_start(&f);
	/* evvm's lines to a file of their own: in f.log they would split the guest's. */
	snprintf(body, sizeof(body), "{\"log_path\":\"%s/fc.log\"}", f.dir);
	EXPECT(&f, "PUT", "/logger", body, 204, NULL, NULL);
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\":\"%s\",\"mem_backend\":{\"backend_type\":\"Uffd\","
		 "\"backend_path\":\"%s\"}}",
		 s.state, s.mem);
	EXPECT(&f, "PUT", "/snapshot/load", body, 400, NULL, "File only");
	if (devices) {
		/* evvm's extension: a drive the snapshot lacks, then blk0 on a copy. */
		snprintf(body, sizeof(body),
			 "{\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\","
			 "\"evvm_drive_overrides\":[{\"drive_id\":\"nope\",\"path_on_host\":"
			 "\"%s\"}]}",
			 s.state, s.mem, s.disk);
		EXPECT(&f, "PUT", "/snapshot/load", body, 400, NULL, "cannot load the snapshot");
		snprintf(body, sizeof(body), "cp '%s' '%s/api.img'", s.disk, s.dir);
		assert_int_equal(system(body), 0);
	}
	snprintf(body, sizeof(body),
		 "{\"snapshot_path\":\"%s\",\"mem_backend\":{\"backend_type\":\"File\","
		 "\"backend_path\":\"%s\"},\"resume_vm\":true%s%s%s}",
		 s.state, s.mem,
		 devices ? ",\"evvm_drive_overrides\":[{\"drive_id\":\"blk0\","
			   "\"path_on_host\":\""
			 : "",
		 devices ? s.dir : "", devices ? "/api.img\"}]" : "");
	EXPECT(&f, "PUT", "/snapshot/load", body, 204, NULL, NULL);
	/* A second load into the same process is refused. */
	EXPECT(&f, "PUT", "/snapshot/load", body, 400, NULL, "not allowed");
	st = wait_exit(f.pid, FC_TIMEOUT);
	assert_int_equal(st, 0);
	check_continued(&s, f.log);
	snprintf(body, sizeof(body), "%s/fc.log", f.dir);
	if (devices) {
		char *log = slurp(body);

		if (!strstr(log, "no disk 'nope' to give the file"))
			fail_msg("want the refused override in the log:\n%s", log);
		free(log);
	}
	unlink(body);
	unlink(f.sock);
	rmdir(f.dir);
	snap_cleanup(&s);
}

static void test_load_through_api(void **state)
{
	(void)state;
	load_through_api(false);
}

static void expect_refused(const struct snap *s, const char *state_path, const char *mem_path,
			   const char *needle)
{
	expect_refused_with(s, state_path, mem_path, NULL, needle);
}

/* Copy @src to @dst with bit 4 of byte @off flipped. */
static void copy_flip(const char *src, const char *dst, size_t off)
{
	static char buf[1 << 20];
	int in = open(src, O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	n = read(in, buf, sizeof(buf));
	close(in);
	assert_true(n > (ssize_t)off);
	buf[off] ^= 0x10;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	assert_int_equal(write(out, buf, n), n);
	close(out);
}

static void test_refused(void **state)
{
	struct snap s;
	char bad[160], cmd[1024];

	(void)state;
	require_kvm();
	take_snapshot(&s);
	/* One flipped bit in the middle. */
	snprintf(bad, sizeof(bad), "%s/flipped.state", s.dir);
	copy_flip(s.state, bad, 2000);
	expect_refused(&s, bad, s.mem, "checksum mismatch: the file is corrupt");
	/* Truncated. */
	snprintf(cmd, sizeof(cmd), "head -c 1000 '%s' > '%s'", s.state, bad);
	assert_int_equal(system(cmd), 0);
	expect_refused(&s, bad, s.mem, "truncated: 1000 of");
	/* Memory file one page short. */
	snprintf(bad, sizeof(bad), "%s/short.mem", s.dir);
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s' && truncate -s -4096 '%s'", s.mem,
		 bad, bad);
	assert_int_equal(system(cmd), 0);
	expect_refused(&s, s.state, bad, "bytes of guest RAM");
	snap_cleanup(&s);
}

/*
 * Two clones of @s, each restored on its own copy of the disk: both run to
 * the end, and the saved disk itself is left alone.
 */
static void restore_two_clones(struct snap *s)
{
	char copy[3][160], cmd[1024];

	for (unsigned int i = 0; i < 3; i++) {
		snprintf(copy[i], sizeof(copy[i]), "%s/copy%u.img", s->dir, i);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", s->disk, copy[i]);
		assert_int_equal(system(cmd), 0);
	}
	restore_cli_disk(s, "clone1", copy[1]);
	restore_cli_disk(s, "clone2", copy[2]);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", s->disk, copy[0]);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", copy[1], copy[0]);
	assert_int_not_equal(system(cmd), 0);
	snap_cleanup(s);
}

static void test_devices_clones(void **state)
{
	struct snap s;

	(void)state;
	require_kvm();
	take_snapshot_of(&s, true);
	restore_two_clones(&s);
}

/* PUT /snapshot/load of a VM with devices, blk0 on a copy (evvm_drive_overrides). */
static void test_devices_api_load(void **state)
{
	(void)state;
	load_through_api(true);
}

/* A copy of the state file @src at @dst with section (@tag, @index) changed by @fn. */
static void rewrite(const char *src, const char *dst, uint32_t tag, uint32_t index,
		    void (*fn)(void *data, size_t *len))
{
	struct snapfile in, out;
	bool found = false;

	assert_int_equal(snapfile_load(&in, src), 0);
	assert_int_equal(snapfile_init(&out, dst), 0);
	for (unsigned int i = 0; i < in.nr_sections; i++) {
		const struct snapfile_section *sec = &in.sections[i];
		size_t len = sec->len;
		char *copy = malloc(len + 1);

		assert_non_null(copy);
		memcpy(copy, sec->data, len);
		if (sec->tag == tag && sec->index == index) {
			fn(copy, &len);
			found = true;
		}
		assert_int_equal(snapfile_add(&out, sec->tag, sec->index, copy, len), 0);
		free(copy);
	}
	assert_true(found);
	assert_int_equal(snapfile_commit(&out), 0);
	snapfile_free(&out);
	snapfile_free(&in);
}

static void ring_outside_ram(void *d, size_t *len)
{
	(void)len;
	((struct virtio_state *)d)->q[0].desc = 1ULL << 40;
}

static void size_not_pow2(void *d, size_t *len)
{
	(void)len;
	((struct virtio_state *)d)->q[0].num = 100;
}

static void feature_not_offered(void *d, size_t *len)
{
	(void)len;
	((struct virtio_state *)d)->driver_features |= 1ULL << 50;
}

static void used_idx_off(void *d, size_t *len)
{
	(void)len;
	((struct virtio_state *)d)->q[0].used_idx += 1;
}

static void driver_ok_alone(void *d, size_t *len)
{
	(void)len;
	((struct virtio_state *)d)->status &= ~VIRTIO_STATUS_FEATURES_OK;
}

static void path_cut(void *d, size_t *len)
{
	(void)d;
	*len -= 1;
}

static void test_devices_refused(void **state)
{
	static const struct {
		uint32_t tag;
		void (*fn)(void *, size_t *);
		const char *needle;
	} cases[] = {
		{ SNAP_VIRTIO_MMIO, ring_outside_ram, "blk0: queue 0: rings not in guest RAM" },
		{ SNAP_VIRTIO_MMIO, size_not_pow2,
		  "blk0: queue 0 (size 100) has a size that is "
		  "not a power of 2" },
		{ SNAP_VIRTIO_MMIO, feature_not_offered,
		  "blk0: driver features include some the device does not offer" },
		{ SNAP_VIRTIO_MMIO, used_idx_off, "but the memory file's ring has" },
		{ SNAP_VIRTIO_MMIO, driver_ok_alone, "DRIVER_OK without FEATURES_OK" },
		{ SNAP_VIRTIO_DEV, path_cut, "disk path length is not what the section holds" },
	};
	struct snap s;
	char bad[160], small[160], extra[300], cmd[1024];

	(void)state;
	require_kvm();
	take_snapshot_of(&s, true);
	snprintf(bad, sizeof(bad), "%s/bad.state", s.dir);
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rewrite(s.state, bad, cases[i].tag, 0, cases[i].fn);
		expect_refused(&s, bad, s.mem, cases[i].needle);
	}
	/* An override for a drive the snapshot does not have. */
	expect_refused_with(&s, s.state, s.mem, "disk=nope:/dev/null", "no disk 'nope'");
	/* A copy of another size: the guest was told the old one. */
	snprintf(small, sizeof(small), "%s/small.img", s.dir);
	snprintf(cmd, sizeof(cmd), "truncate -s 1M '%s'", small);
	assert_int_equal(system(cmd), 0);
	snprintf(extra, sizeof(extra), "disk=blk0:%s", small);
	expect_refused_with(&s, s.state, s.mem, extra, "has 2048 sectors, the snapshot's had 4096");
	snap_cleanup(&s);
}

/* A full snapshot, 5 rounds, a diff rebased onto it: two clones continue from the diff. */
static void test_diff_rebased(void **state)
{
	struct snap s;

	(void)state;
	require_kvm();
	take_snapshot_on(&s, true, false, true);
	restore_two_clones(&s);
}

/*
 * Devices on virtio-pci (MSI-X vectors, BARs where the guest put them)
 * and 2 vCPUs: two clones continue, each on its own copy of the disk.
 */
static void test_pci_two_vcpus(void **state)
{
	struct snap s;

	(void)state;
	require_kvm();
	take_snapshot_on(&s, true, true, false);
	restore_two_clones(&s);
}

/*
 * The disk served by `evvm vhost-user-blk`: the snapshot keeps where the
 * backend stopped its ring. Restored in a new process, the guest goes on
 * with the same backend (it outlived the first evvm), then from the same
 * snapshot with a backend started on a copy of the disk as it was at the
 * snapshot (disk=blk0:SOCKET); each starts the ring at the index the
 * first backend stopped at, and every block written is verified. A load
 * whose backend socket does not exist fails with its message.
 */
/* The index of the last "stopped at avail index N" in the backend log @log; its length in *@len. */
static unsigned int last_stop(const char *log, size_t *len)
{
	char *out = slurp(log);
	const char *p = out, *hit, *key = "stopped at avail index ";
	unsigned int n = 0;

	while ((hit = strstr(p, key)) != NULL) {
		n = (unsigned int)strtoul(hit + strlen(key), NULL, 10);
		p = hit + 1;
	}
	*len = strlen(out);
	free(out);
	return n;
}

/* The backend log @log, from byte @from on, must show the ring started at avail index @base. */
static void expect_started_at(const char *log, size_t from, unsigned int base)
{
	char *out = slurp(log), want[64];

	snprintf(want, sizeof(want), ", avail index %u)", base);
	if (strlen(out) < from || !strstr(out + from, want))
		fail_msg("want the restored ring started at the saved base (%s) in:\n%s", want,
			 strlen(out) >= from ? out + from : out);
	free(out);
}

static void test_vhost_user_disk(void **state)
{
	struct snap s;
	char copy[160], sock2[160], log2[160], none[300], cmd[512];
	unsigned int base;
	size_t mark;
	pid_t second;

	(void)state;
	require_kvm();
	take_snapshot_with(&s, true, false, false, true);
	/* Where GET_VRING_BASE stopped the ring at the pause: the guest had done I/O. */
	base = last_stop(s.vlog, &mark);
	assert_true(base > 0);
	/* The disk as the snapshot saw it: the paused guest and its backend write nothing. */
	snprintf(copy, sizeof(copy), "%s/copy.img", s.dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", s.disk, copy);
	assert_int_equal(system(cmd), 0);
	restore_cli(&s, "same-backend");
	expect_started_at(s.vlog, mark, base);

	snprintf(sock2, sizeof(sock2), "%s/blk2.sock", s.dir);
	snprintf(log2, sizeof(log2), "%s/backend2.log", s.dir);
	second = backend_start(copy, sock2, log2);
	restore_cli_disk(&s, "second-backend", sock2);
	snap_backend_stop(second);
	expect_started_at(log2, 0, base);

	snprintf(none, sizeof(none), "disk=blk0:%s/none.sock", s.dir);
	expect_refused_with(&s, s.state, s.mem, none, "cannot take the device back");
	snap_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devices_clones),	 cmocka_unit_test(test_devices_api_load),
		cmocka_unit_test(test_devices_refused),	 cmocka_unit_test(test_restore_twice),
		cmocka_unit_test(test_load_through_api), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_pci_two_vcpus),	 cmocka_unit_test(test_diff_rebased),
		cmocka_unit_test(test_vhost_user_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
