// SPDX-License-Identifier: MIT
/* `evvm run`: flags -> VM config, then run the VM until the guest ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/vm.h>

#include "../vhost/frontend.h"
#include "../vhost/frontend_conn.h"
#include "cli.h"
#include "parse.h"

#define DEFAULT_MEM_SIZE (128ULL << 20)

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: evvm run [OPTIONS]\n"
		"\n"
		"Boot a guest and run it until it exits; evvm's exit status is the guest's.\n"
		"\n"
		"  --kernel PATH       kernel to boot: a Linux bzImage or an ELF (vmlinux or a\n"
		"                      PVH kernel); default: the bundled demo guest\n"
		"  --boot=PROTO        how to enter an ELF kernel: auto (default: PVH if it has\n"
		"                      the PVH note and no --initramfs is given, else linux64),\n"
		"                      pvh, or linux64 (Linux's 64-bit boot protocol, zero page\n"
		"                      in %%rsi); a bzImage always boots with linux64\n"
		"  --kernel-decompress=WHERE\n"
		"                      a bzImage's payload: host (default: evvm decompresses it\n"
		"                      and loads the vmlinux) or guest (the kernel does)\n"
		"  --initramfs PATH    initramfs for linux64, placed page-aligned as high as the\n"
		"                      kernel allows in RAM below 3 GiB\n"
		"  --cmdline STR       kernel command line (at most %u bytes, and for linux64 at\n"
		"                      most the kernel's cmdline_size: 2047 for a vmlinux)\n"
		"  --cpus boot=N       number of vCPUs, 1..%u (default 1; the demo guest brings\n"
		"                      up all %u), and at most what KVM allows\n"
		"                      (KVM_CAP_MAX_VCPUS, checked at start)\n"
		"  --memory size=SIZE[,overcommit=on]\n"
		"                      guest RAM, e.g. 512M or 2G, a multiple of 4K, at least\n"
		"                      %lluM (default %lluM), and at most what the host can\n"
		"                      back now (MemAvailable + SwapFree) unless overcommit=on\n"
		"  --ioeventfd=MODE    doorbells: kernel (KVM_IOEVENTFD, default) or user "
		"(matched\n"
		"                      by evvm after the exit, same rules)\n"
		"  --irqfd=MODE        interrupts: kernel (KVM_IRQFD, default) or user (an evvm\n"
		"                      thread injects with KVM_IRQ_LINE/KVM_SIGNAL_MSI)\n"
		"  --poll-max-us=N     I/O threads busy-poll up to N us before sleeping (default "
		"0)\n"
		"  --stats[=FORMAT]    print fabric and device (net) counters to stderr at exit:\n"
		"                      text (default) or json\n"
		"  --disk path=F[,readonly=on][,id=NAME]\n"
		"                      a virtio-blk disk on file F (repeatable); id is the\n"
		"                      serial the guest reads (default blkN)\n"
		"  --disk vhost_user=on,socket=PATH[,queues=N][,reconnect=SECS]\n"
		"                      a virtio-blk disk served by a vhost-user backend, with\n"
		"                      N queues (1..%u, default 1; the backend must have them);\n"
		"                      with reconnect, a backend that goes away pauses the disk\n"
		"                      and evvm tries the socket every SECS (1..3600) seconds,\n"
		"                      then replays the set-up; without, the disk needs a reset.\n"
		"                      A backend silent for %d ms counts as gone.\n"
		"  --net tap=NAME[,mac=MAC][,id=NAME][,event_idx=on|off]\n"
		"                      a virtio-net device on tap NAME (repeatable; an existing\n"
		"                      tap, or a new one with CAP_NET_ADMIN); mac default\n"
		"                      52:54:00:12:34:5N for the Nth --net, id default netN\n"
		"  --net vhost_user=on,socket=PATH[,id=NAME][,reconnect=SECS]\n"
		"                      a virtio-net device served by a vhost-user backend\n"
		"                      (evvm vhost-user-net, for one); reconnect as for --disk\n"
		"  --rng               a virtio-rng device fed by getrandom(2)\n"
		"  --console           a virtio-console on this terminal (COM1 keeps output only)\n"
		"  --testdev           add the fabric test device (docs/testdev.md)\n"
		"  --acpi=on|off       ACPI tables (default on; off: the MP table only)\n"
		"  --transport=T       virtio transport of every device: mmio (default) or pci\n"
		"                      (modern virtio-pci with MSI-X behind a PCI root complex,\n"
		"                      described by ACPI; not yet for vhost-user devices)\n"
		"  -v, --verbose       log more (repeat for debug messages)\n"
		"  -h, --help          this text\n"
		"\n"
		"The guest's serial port (COM1) is this terminal. Exit status: the value\n"
		"the guest wrote to the debug-exit port (0xf4), 0 when it powered off or\n"
		"rebooted (an i8042 reset, as Linux's reboot=k does), %d when the VM failed\n"
		"(triple fault, KVM error), 128+N when stopped by signal N, %d for a bad\n"
		"command line. docs/boot.md describes the boot protocols.\n",
		EVVM_CMDLINE_MAX, EVVM_MAX_CPUS, EVVM_MAX_CPUS, EVVM_MEM_MIN >> 20,
		DEFAULT_MEM_SIZE >> 20, EVVM_VIRTIO_MAX_QUEUES, VHOST_USER_REPLY_TIMEOUT_MS,
		EVVM_EXIT_FAILURE, EXIT_USAGE);
}

enum {
	OPT_KERNEL = 256,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_IOEVENTFD,
	OPT_IRQFD,
	OPT_POLL,
	OPT_STATS,
	OPT_TESTDEV,
	OPT_ACPI,
	OPT_DISK,
	OPT_RNG,
	OPT_CONSOLE,
	OPT_BOOT,
	OPT_DECOMPRESS,
	OPT_INITRAMFS,
	OPT_NET,
	OPT_TRANSPORT,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "ioeventfd", required_argument, NULL, OPT_IOEVENTFD },
	{ "irqfd", required_argument, NULL, OPT_IRQFD },
	{ "poll-max-us", required_argument, NULL, OPT_POLL },
	{ "stats", optional_argument, NULL, OPT_STATS },
	{ "testdev", no_argument, NULL, OPT_TESTDEV },
	{ "acpi", required_argument, NULL, OPT_ACPI },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "console", no_argument, NULL, OPT_CONSOLE },
	{ "boot", required_argument, NULL, OPT_BOOT },
	{ "kernel-decompress", required_argument, NULL, OPT_DECOMPRESS },
	{ "initramfs", required_argument, NULL, OPT_INITRAMFS },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static bool on_off(const char *val, bool *out);

const struct option *run_option_table(void)
{
	return run_options;
}

/* Parse "boot=N" for --cpus. */
static int parse_cpus(char *arg, unsigned int *nr)
{
	char *key, *val;
	uint64_t v;
	int r;

	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (strcmp(key, "boot")) {
			fprintf(stderr, "evvm: --cpus: unknown key '%s' (expected boot=N)\n", key);
			return -EINVAL;
		}
		if (parse_uint(val, 1, EVVM_MAX_CPUS, &v)) {
			fprintf(stderr, "evvm: --cpus boot=%s: expected a number from 1 to %u\n",
				val, EVVM_MAX_CPUS);
			return -EINVAL;
		}
		*nr = v;
	}
	if (r < 0)
		fprintf(stderr, "evvm: --cpus: expected boot=N\n");
	return r;
}

/* Parse "size=SIZE[,overcommit=on|off]" for --memory. */
static int parse_memory(char *arg, uint64_t *size, bool *overcommit)
{
	char *key, *val;
	int r;

	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "overcommit")) {
			if (!on_off(val, overcommit)) {
				fprintf(stderr,
					"evvm: --memory overcommit=%s: expected on or off\n", val);
				return -EINVAL;
			}
			continue;
		}
		if (strcmp(key, "size")) {
			fprintf(stderr,
				"evvm: --memory: unknown key '%s' (expected size=SIZE, "
				"overcommit=on|off)\n",
				key);
			return -EINVAL;
		}
		if (parse_size(val, size)) {
			fprintf(stderr, "evvm: --memory size=%s: expected a size such as 512M\n",
				val);
			return -EINVAL;
		}
	}
	if (r < 0)
		fprintf(stderr, "evvm: --memory: expected size=SIZE[,overcommit=on|off]\n");
	return r;
}

/* "kernel" or "user" for --ioeventfd / --irqfd. */
static int parse_mode(const char *flag, const char *arg, bool *user)
{
	if (!strcmp(arg, "kernel") || !strcmp(arg, "user")) {
		*user = !strcmp(arg, "user");
		return 0;
	}
	fprintf(stderr, "evvm: --%s=%s: expected kernel or user\n", flag, arg);
	return -EINVAL;
}

/* One --disk: a file evvm serves, or a vhost-user backend's socket. */
struct disk_arg {
	struct blk_config blk;
	struct vhost_user_opts vu; /* vu.socket set: vhost_user=on */
	char id[24];
};

#define RECONNECT_MAX_S 3600

/* reconnect=SECS of a vhost-user --disk or --net. */
static bool parse_reconnect(const char *val, unsigned int *secs)
{
	uint64_t v;

	if (parse_uint(val, 1, RECONNECT_MAX_S, &v))
		return false;
	*secs = v;
	return true;
}

static bool on_off(const char *val, bool *out)
{
	if (strcmp(val, "on") && strcmp(val, "off"))
		return false;
	*out = !strcmp(val, "on");
	return true;
}

/*
 * Parse "path=F[,readonly=on|off][,id=NAME]" or
 * "vhost_user=on,socket=PATH[,queues=N][,reconnect=SECS]" for --disk.
 */
static int parse_disk(char *arg, struct disk_arg *d, unsigned int index)
{
	bool vhost_user = false, readonly_given = false;
	char *key, *val;
	uint64_t v;
	int r;

	*d = (struct disk_arg){ 0 };
	snprintf(d->id, sizeof(d->id), "blk%u", index);
	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "path") && *val) {
			d->blk.path = val;
		} else if (!strcmp(key, "readonly") && on_off(val, &d->blk.readonly)) {
			readonly_given = true;
		} else if (!strcmp(key, "id") && *val && strlen(val) <= 20) {
			snprintf(d->id, sizeof(d->id), "%s", val);
			d->blk.serial = d->id;
		} else if (!strcmp(key, "vhost_user") && on_off(val, &vhost_user)) {
			continue;
		} else if (!strcmp(key, "socket") && *val) {
			d->vu.socket = val;
		} else if (!strcmp(key, "queues") &&
			   !parse_uint(val, 1, EVVM_VIRTIO_MAX_QUEUES, &v)) {
			d->vu.queues = v;
		} else if (!strcmp(key, "reconnect") && parse_reconnect(val, &d->vu.reconnect_s)) {
			continue;
		} else {
			fprintf(stderr,
				"evvm: --disk %s=%s: expected path=FILE, readonly=on|off, "
				"id=NAME (at most 20 characters), vhost_user=on|off, "
				"socket=PATH, queues=1..%u or reconnect=1..%u\n",
				key, val, EVVM_VIRTIO_MAX_QUEUES, RECONNECT_MAX_S);
			return -EINVAL;
		}
	}
	if (r < 0)
		goto usage;
	if (vhost_user) {
		/* The backend owns the disk: its file and mode are its business. */
		if (!d->vu.socket || d->blk.path || readonly_given) {
			fprintf(stderr, "evvm: --disk vhost_user=on: expected socket=PATH, and no "
					"path= or readonly= (the backend decides those)\n");
			return -EINVAL;
		}
		return 0;
	}
	if (d->vu.socket) {
		fprintf(stderr, "evvm: --disk socket=%s: needs vhost_user=on\n", d->vu.socket);
		return -EINVAL;
	}
	if (d->vu.queues || d->vu.reconnect_s) {
		fprintf(stderr, "evvm: --disk queues= and reconnect=: need vhost_user=on\n");
		return -EINVAL;
	}
	if (d->blk.path)
		return 0;
usage:
	fprintf(stderr, "evvm: --disk: expected path=FILE[,readonly=on][,id=NAME] or "
			"vhost_user=on,socket=PATH[,queues=N][,reconnect=SECS]\n");
	return -EINVAL;
}

/* Same file or device? (Paths that do not stat are left to blk_create to report.) */
static bool same_disk(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) || stat(b, &sb))
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * A file given twice would meet its own lock (and two writers of one disk
 * corrupt it); read-only twice is harmless and allowed.
 */
static int check_disks_distinct(const struct disk_arg *disks, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		for (unsigned int j = 0; j < i; j++) {
			const struct blk_config *a = &disks[j].blk, *b = &disks[i].blk;

			if (!a->path || !b->path || (a->readonly && b->readonly) ||
			    !same_disk(a->path, b->path))
				continue;
			if (!strcmp(a->path, b->path))
				fprintf(stderr, "evvm: disk '%s' given twice\n", b->path);
			else
				fprintf(stderr, "evvm: disk '%s' given twice (also as '%s')\n",
					b->path, a->path);
			return -EINVAL;
		}
	}
	return 0;
}

/* 52:54:00:12:34:5N for the Nth --net (N from 0). */
static void net_default_mac(uint8_t mac[6], unsigned int index)
{
	const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x50 };

	memcpy(mac, base, sizeof(base));
	mac[5] += index;
}

/* One --net: a tap evvm serves, or a vhost-user backend's socket. */
struct net_arg {
	struct net_config net;
	struct vhost_user_opts vu; /* vu.socket set: vhost_user=on */
	char id[24];
};

/*
 * Parse "tap=NAME[,mac=MAC][,id=NAME][,event_idx=on|off]" or
 * "vhost_user=on,socket=PATH[,id=NAME][,reconnect=SECS]" for --net.
 */
static int parse_net(char *arg, struct net_arg *a, unsigned int index)
{
	bool vhost_user = false, mac_given = false, ei_given = false;
	char *key, *val;
	int r;

	*a = (struct net_arg){ .net.event_idx = true };
	snprintf(a->id, sizeof(a->id), "net%u", index);
	net_default_mac(a->net.mac, index);
	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "tap") && *val && strlen(val) < 16) {
			a->net.tap = val;
		} else if (!strcmp(key, "mac") && !parse_mac(val, a->net.mac)) {
			mac_given = true;
		} else if (!strcmp(key, "id") && *val && strlen(val) < sizeof(a->id)) {
			snprintf(a->id, sizeof(a->id), "%s", val);
		} else if (!strcmp(key, "event_idx") && on_off(val, &a->net.event_idx)) {
			ei_given = true;
		} else if (!strcmp(key, "vhost_user") && on_off(val, &vhost_user)) {
			continue;
		} else if (!strcmp(key, "socket") && *val) {
			a->vu.socket = val;
		} else if (!strcmp(key, "reconnect") && parse_reconnect(val, &a->vu.reconnect_s)) {
			continue;
		} else {
			fprintf(stderr,
				"evvm: --net %s=%s: expected tap=NAME (1 to 15 characters), "
				"mac=XX:XX:XX:XX:XX:XX (unicast), id=NAME (at most %zu "
				"characters), event_idx=on|off, vhost_user=on|off, socket=PATH or "
				"reconnect=1..%u\n",
				key, val, sizeof(a->id) - 1, RECONNECT_MAX_S);
			return -EINVAL;
		}
	}
	if (r < 0)
		goto usage;
	if (vhost_user) {
		/* The backend owns the tap, the address and the features. */
		if (!a->vu.socket || a->net.tap || mac_given || ei_given) {
			fprintf(stderr, "evvm: --net vhost_user=on: expected socket=PATH, and no "
					"tap=, mac= or event_idx= (the backend decides those)\n");
			return -EINVAL;
		}
		return 0;
	}
	if (a->vu.socket) {
		fprintf(stderr, "evvm: --net socket=%s: needs vhost_user=on\n", a->vu.socket);
		return -EINVAL;
	}
	if (a->vu.reconnect_s) {
		fprintf(stderr, "evvm: --net reconnect=: needs vhost_user=on\n");
		return -EINVAL;
	}
	if (a->net.tap)
		return 0;
usage:
	fprintf(stderr, "evvm: --net: expected tap=NAME[,mac=MAC][,id=NAME][,event_idx=on|off] "
			"or vhost_user=on,socket=PATH[,reconnect=SECS]\n");
	return -EINVAL;
}

/* Map a kernel or initramfs file read-only; it is copied into guest RAM at create. */
static int map_file(const char *what, const char *path, const void **image, size_t *size)
{
	struct stat st;
	void *p;
	int fd, err;

	/* O_NONBLOCK: a FIFO or a device must not block the open before the type check. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("%s '%s': open: %s", what, path, evvm_strerror(err));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		pr_err("%s '%s': stat: %s", what, path, evvm_strerror(err));
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		pr_err("%s '%s': %s", what, path,
		       S_ISREG(st.st_mode) ? "empty file" : "not a regular file");
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err) {
		pr_err("%s '%s': mmap: %s", what, path, evvm_strerror(err));
		return err;
	}
	*image = p;
	*size = st.st_size;
	return 0;
}

/*
 * Create the virtio devices in their fixed order: disks, nets, rng, console.
 * Waits on vhost-user backends give up once @cancel_fd is readable
 * (-ECANCELED).
 */
static int add_devices(struct evvm_vm_config *cfg, struct disk_arg *disks, unsigned int nr_disks,
		       struct net_arg *nets, unsigned int nr_nets, bool rng, bool console,
		       int cancel_fd)
{
	const struct console_config cc = {
		.in_fd = isatty(STDIN_FILENO) ? STDIN_FILENO : -1,
		.out_fd = STDOUT_FILENO,
	};
	int err = 0;

	for (unsigned int i = 0; i < nr_disks && !err; i++) {
		char id[16];

		snprintf(id, sizeof(id), "blk%u", i);
		disks[i].vu.cancel_fd = cancel_fd;
		if (disks[i].vu.socket)
			err = vhost_user_dev_create(id, VIRTIO_ID_BLOCK, &disks[i].vu,
						    &cfg->devices[cfg->nr_devices]);
		else
			err = blk_create(id, &disks[i].blk, &cfg->devices[cfg->nr_devices]);
		if (!err)
			cfg->nr_devices++;
	}
	for (unsigned int i = 0; i < nr_nets && !err; i++) {
		nets[i].vu.cancel_fd = cancel_fd;
		if (nets[i].vu.socket)
			err = vhost_user_dev_create(nets[i].id, VIRTIO_ID_NET, &nets[i].vu,
						    &cfg->devices[cfg->nr_devices]);
		else
			err = net_create(nets[i].id, &nets[i].net, &cfg->devices[cfg->nr_devices]);
		if (!err)
			cfg->nr_devices++;
	}
	if (!err && rng) {
		err = rng_create("rng0", &cfg->devices[cfg->nr_devices]);
		if (!err)
			cfg->nr_devices++;
	}
	if (!err && console) {
		err = console_create("console0", &cc, &cfg->devices[cfg->nr_devices]);
		if (!err)
			cfg->nr_devices++;
	}
	if (err) {
		/* vm_create() never saw them: they are still ours. */
		for (unsigned int i = 0; i < cfg->nr_devices; i++)
			virtio_dev_destroy(cfg->devices[i]);
		cfg->nr_devices = 0;
	}
	return err;
}

struct run_signals {
	struct evvm_vm *vm;
	int fd;
};

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* The stop signal pending (blocked, so it waits in the signalfd), or 0. */
static int pending_stop_signal(void)
{
	sigset_t set;

	if (sigpending(&set) < 0)
		return 0;
	for (unsigned int i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		if (sigismember(&set, stop_signals[i]))
			return stop_signals[i];
	return 0;
}

static void log_stop(int sig)
{
	pr_warn("stopping on %s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
}

/*
 * A stop signal is never read from the signalfd: left pending, it keeps
 * the signalfd readable, and that is what makes every wait on a vhost-user
 * backend give up (the signalfd is the frontends' cancel fd), before the
 * VM runs as well as while it stops. So it is watched only until then.
 */
static void run_on_signal(void *opaque, uint32_t events)
{
	struct run_signals *s = opaque;
	int sig = pending_stop_signal();

	(void)events;
	if (!sig)
		return;
	loop_del(vm_loop(s->vm), s->fd);
	log_stop(sig);
	vm_stop(s->vm, 128 + sig);
}

/*
 * On a terminal, pass keys to the guest as typed (no line editing, no echo)
 * but keep ^C as SIGINT so evvm can always be stopped.
 */
static bool term_raw(struct termios *saved)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) < 0)
		return false;
	t = *saved;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	return tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

int cmd_run(int argc, char **argv)
{
	struct evvm_vm_config cfg = {
		.mem_size = DEFAULT_MEM_SIZE,
		.nr_cpus = 1,
		.console_in = -1,
		.console_out = STDOUT_FILENO,
	};
	const char *kernel = NULL, *initramfs = NULL;
	struct disk_arg disks[EVVM_MAX_VIRTIO];
	unsigned int nr_disks = 0;
	struct net_arg nets[EVVM_MAX_VIRTIO];
	unsigned int nr_nets = 0;
	bool rng = false, console = false;
	struct run_signals sigs = { .fd = -1 };
	struct termios saved_term;
	bool raw = false;
	struct evvm_vm *vm = NULL;
	enum { STATS_NONE, STATS_TEXT, STATS_JSON } stats = STATS_NONE;
	int opt, verbose = 0, status = EVVM_EXIT_FAILURE;
	uint64_t v;
	sigset_t mask;
	int err, sig;

	argv[0] = (char *)"evvm run"; /* getopt names the command in its messages */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL:
			kernel = optarg;
			break;
		case OPT_CMDLINE:
			cfg.cmdline = optarg;
			break;
		case OPT_CPUS:
			if (parse_cpus(optarg, &cfg.nr_cpus))
				return EXIT_USAGE;
			break;
		case OPT_MEMORY:
			if (parse_memory(optarg, &cfg.mem_size, &cfg.mem_overcommit))
				return EXIT_USAGE;
			break;
		case OPT_IOEVENTFD:
			if (parse_mode("ioeventfd", optarg, &cfg.ioeventfd_user))
				return EXIT_USAGE;
			break;
		case OPT_IRQFD:
			if (parse_mode("irqfd", optarg, &cfg.irqfd_user))
				return EXIT_USAGE;
			break;
		case OPT_POLL:
			if (parse_uint(optarg, 0, 1000000, &v)) {
				fprintf(stderr, "evvm: --poll-max-us=%s: expected 0 to 1000000\n",
					optarg);
				return EXIT_USAGE;
			}
			cfg.poll_max_us = v;
			break;
		case OPT_STATS:
			if (!optarg || !strcmp(optarg, "text")) {
				stats = STATS_TEXT;
			} else if (!strcmp(optarg, "json")) {
				stats = STATS_JSON;
			} else {
				fprintf(stderr, "evvm: --stats=%s: expected text or json\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_ACPI:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "evvm: --acpi=%s: expected on or off\n", optarg);
				return EXIT_USAGE;
			}
			cfg.no_acpi = !strcmp(optarg, "off");
			break;
		case OPT_TESTDEV:
			cfg.testdev = true;
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "mmio") && strcmp(optarg, "pci")) {
				fprintf(stderr, "evvm: --transport=%s: expected mmio or pci\n",
					optarg);
				return EXIT_USAGE;
			}
			cfg.transport = strcmp(optarg, "pci") ? EVVM_TRANSPORT_MMIO :
								EVVM_TRANSPORT_PCI;
			break;
		case OPT_DISK:
			if (nr_disks == EVVM_MAX_VIRTIO) {
				fprintf(stderr, "evvm: --disk: at most %u devices\n",
					EVVM_MAX_VIRTIO);
				return EXIT_USAGE;
			}
			if (parse_disk(optarg, &disks[nr_disks], nr_disks))
				return EXIT_USAGE;
			nr_disks++;
			break;
		case OPT_NET:
			if (nr_nets == EVVM_MAX_VIRTIO) {
				fprintf(stderr, "evvm: --net: at most %u devices\n",
					EVVM_MAX_VIRTIO);
				return EXIT_USAGE;
			}
			if (parse_net(optarg, &nets[nr_nets], nr_nets))
				return EXIT_USAGE;
			nr_nets++;
			break;
		case OPT_RNG:
			rng = true;
			break;
		case OPT_CONSOLE:
			console = true;
			break;
		case OPT_BOOT:
			if (!strcmp(optarg, "auto")) {
				cfg.boot = EVVM_BOOT_AUTO;
			} else if (!strcmp(optarg, "pvh")) {
				cfg.boot = EVVM_BOOT_PVH;
			} else if (!strcmp(optarg, "linux64")) {
				cfg.boot = EVVM_BOOT_LINUX64;
			} else {
				fprintf(stderr, "evvm: --boot=%s: expected auto, pvh or linux64\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_DECOMPRESS:
			if (strcmp(optarg, "host") && strcmp(optarg, "guest")) {
				fprintf(stderr,
					"evvm: --kernel-decompress=%s: expected host or guest\n",
					optarg);
				return EXIT_USAGE;
			}
			cfg.decompress_in_guest = !strcmp(optarg, "guest");
			break;
		case OPT_INITRAMFS:
			initramfs = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "evvm: see 'evvm run --help'\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evvm run: unexpected argument '%s' (see 'evvm run --help')\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (cfg.mem_size < EVVM_MEM_MIN || (cfg.mem_size & 0xfff)) {
		fprintf(stderr,
			"evvm: --memory size=%llu bytes: must be a multiple of 4K and at least "
			"%lluM\n",
			(unsigned long long)cfg.mem_size, EVVM_MEM_MIN >> 20);
		return EXIT_USAGE;
	}
	if (cfg.cmdline && strlen(cfg.cmdline) > EVVM_CMDLINE_MAX) {
		fprintf(stderr, "evvm: --cmdline: %zu bytes, the limit is %u\n",
			strlen(cfg.cmdline), EVVM_CMDLINE_MAX);
		return EXIT_USAGE;
	}
	evvm_log_set_level(verbose >= 2 ? EVVM_LOG_DEBUG : verbose ? EVVM_LOG_INFO : EVVM_LOG_WARN);

	if (!kernel && (initramfs || cfg.decompress_in_guest || cfg.boot != EVVM_BOOT_AUTO)) {
		fprintf(stderr,
			"evvm: --boot, --kernel-decompress and --initramfs need --kernel\n");
		return EXIT_USAGE;
	}
	if (check_disks_distinct(disks, nr_disks))
		return EXIT_USAGE;
	if (kernel) {
		if (map_file("kernel", kernel, &cfg.kernel, &cfg.kernel_size))
			return EVVM_EXIT_FAILURE;
		cfg.kernel_name = kernel;
	}
	if (initramfs) {
		if (map_file("initramfs", initramfs, &cfg.initramfs, &cfg.initramfs_size)) {
			munmap((void *)cfg.kernel, cfg.kernel_size);
			return EVVM_EXIT_FAILURE;
		}
		cfg.initramfs_name = initramfs;
	}
	if (!kernel) {
		cfg.kernel = demo_guest_start;
		cfg.kernel_size = demo_guest_end - demo_guest_start;
		cfg.kernel_name = "(bundled demo guest)";
	}

	/* Signals are read from a signalfd on the VM's loop; vCPU threads inherit the mask. */
	sigemptyset(&mask);
	for (unsigned int i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&mask, stop_signals[i]);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sigs.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigs.fd < 0) {
		pr_err("signalfd: %s", evvm_strerror(errno));
		goto out;
	}

	if (nr_disks + nr_nets + rng + console > EVVM_MAX_VIRTIO) {
		fprintf(stderr, "evvm: %u virtio devices: at most %u\n",
			nr_disks + nr_nets + rng + console, EVVM_MAX_VIRTIO);
		status = EXIT_USAGE;
		goto out;
	}
	/* The terminal's input goes to the virtio console if there is one, else to COM1. */
	if (isatty(STDIN_FILENO) && !console)
		cfg.console_in = STDIN_FILENO;
	err = add_devices(&cfg, disks, nr_disks, nets, nr_nets, rng, console, sigs.fd);
	if (err) {
		sig = err == -ECANCELED ? pending_stop_signal() : 0;
		if (sig) {
			log_stop(sig);
			status = 128 + sig;
		}
		goto out;
	}
	if (vm_create(&cfg, &vm))
		goto out;
	sigs.vm = vm;
	if (loop_add(vm_loop(vm), sigs.fd, EPOLLIN, run_on_signal, &sigs)) {
		pr_err("cannot watch signals");
		goto out;
	}
	raw = term_raw(&saved_term);
	status = vm_run(vm);
	if (stats != STATS_NONE)
		vm_print_stats(vm, stderr, stats == STATS_JSON);
out:
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_term);
	vm_destroy(vm);
	if (sigs.fd >= 0) {
		struct signalfd_siginfo si;

		/* Nothing waits on a backend any more: the stop signal is consumed. */
		while (read(sigs.fd, &si, sizeof(si)) == sizeof(si))
			;
		close(sigs.fd);
	}
	if (kernel && cfg.kernel)
		munmap((void *)cfg.kernel, cfg.kernel_size);
	if (cfg.initramfs)
		munmap((void *)cfg.initramfs, cfg.initramfs_size);
	return status;
}
