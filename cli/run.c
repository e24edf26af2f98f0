// SPDX-License-Identifier: MIT
/*
 * `evvm run`: a table of flags fills the VM description (vm/vmdesc.h),
 * then the VM runs until the guest ends, with the API on a socket if asked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <evvm/confine.h>
#include <evvm/device.h>
#include <evvm/log.h>
#include <evvm/vm.h>

#include "../vhost/frontend_conn.h"
#include "api.h"
#include "cli.h"
#include "devargs.h"
#include "parse.h"

#define DEFAULT_MEM_SIZE VMDESC_DEF_MEM

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
		"  --memory size=SIZE[,overcommit=on][,track_dirty_pages=on]\n"
		"                      guest RAM, e.g. 512M or 2G, a multiple of 4K, at least\n"
		"                      %lluM (default %lluM), and at most what the host can\n"
		"                      back now (MemAvailable + SwapFree) unless overcommit=on;\n"
		"                      track_dirty_pages=on logs written pages for diff\n"
		"                      snapshots (PUT /snapshot/create with --api-sock; also\n"
		"                      with --restore)\n"
		"  --ioeventfd=MODE    doorbells: kernel (KVM_IOEVENTFD, default) or user "
		"(matched\n"
		"                      by evvm after the exit, same rules)\n"
		"  --irqfd=MODE        interrupts: kernel (KVM_IRQFD, default) or user (an evvm\n"
		"                      thread injects with KVM_IRQ_LINE/KVM_SIGNAL_MSI)\n"
		"  --poll-max-us=N     I/O threads busy-poll up to N us before sleeping (default "
		"0)\n"
		"  --stats[=FORMAT]    print fabric and device (net) counters to stderr at exit:\n"
		"                      text (default) or json\n"
		"  --disk path=F[,readonly=on][,id=NAME][,queues=N][,iothreads=M]\n"
		"                      a virtio-blk disk on file F (repeatable); id is the\n"
		"                      serial the guest reads (default blkN); N request queues,\n"
		"                      1..%u (default: one per vCPU with --transport=pci, where\n"
		"                      each has its own doorbell and MSI-X vector; 1 on mmio,\n"
		"                      where all share one register and one interrupt line);\n"
		"                      M I/O threads serve them, queue q on thread q %% M\n"
		"                      (1..N, default 1; pci only, no rate limiter)\n"
		"  --disk vhost_user=on,socket=PATH[,queues=N][,reconnect=SECS]\n"
		"                      a virtio-blk disk served by a vhost-user backend, with\n"
		"                      N queues (1..%u, default 1; the backend must have them);\n"
		"                      with reconnect, a backend that goes away pauses the disk\n"
		"                      and evvm tries the socket every SECS (1..%u) seconds,\n"
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
		"                      described by ACPI; a vhost-user backend signals each\n"
		"                      queue's MSI-X vector itself)\n"
		"  --api-sock PATH     serve Firecracker's REST API on unix socket PATH while\n"
		"                      the VM runs (GET /, /vm/config, /machine-config;\n"
		"                      FlushMetrics); a path that exists is refused unless it\n"
		"                      is a stale socket\n"
		"  --restore state=FILE,mem=FILE[,disk=ID:PATH][,net=ID:TAP]...\n"
		"                      run the VM of a snapshot (PUT /snapshot/create) instead\n"
		"                      of booting one: its shape and devices come from the state\n"
		"                      FILE, its RAM is mapped from the memory FILE (copy-on-\n"
		"                      write, the file is never written); no kernel or device\n"
		"                      flags. disk=ID:PATH: drive ID (--disk's id=, else blk0,\n"
		"                      blk1, ...) on PATH (a copy of its disk) instead of the\n"
		"                      saved file; the size must be the same. net=ID:TAP:\n"
		"                      interface ID (--net's id=, else net0, net1, ...) on\n"
		"                      tap TAP instead of the saved one (a clone's own). A\n"
		"                      vhost-user drive's PATH is its backend's socket\n"
		"  --seccomp=on|log|off\n"
		"                      each thread's seccomp allow-list (docs/seccomp.md): on\n"
		"                      (default) kills evvm by SIGSYS on a call outside it,\n"
		"                      after a line naming the thread and the call; log lets\n"
		"                      the call through and the kernel logs it; off: none\n"
		"  --uid USER          when started as root: each thread drops to this user (a\n"
		"                      name or a number) once set up, before the guest runs\n"
		"  --gid GROUP         and to this group (supplementary groups dropped). Every\n"
		"                      capability is dropped in any case, no_new_privs is set\n"
		"  -v, --verbose       log more (repeat for debug messages)\n"
		"  -h, --help          this text\n"
		"\n"
		"The guest's serial port (COM1) is this terminal. Exit status: the value\n"
		"the guest wrote to the debug-exit port (0xf4), 0 when it powered off or\n"
		"rebooted (an i8042 reset, as Linux's reboot=k does), %d when the VM failed\n"
		"(triple fault, KVM error), 128+N when stopped by signal N, %d for a bad\n"
		"command line. docs/boot.md describes the boot protocols.\n",
		EVVM_CMDLINE_MAX, EVVM_MAX_CPUS, EVVM_MAX_CPUS, EVVM_MEM_MIN >> 20,
		DEFAULT_MEM_SIZE >> 20, EVVM_VIRTIO_MAX_QUEUES, EVVM_VIRTIO_MAX_QUEUES,
		VMDESC_RECONNECT_MAX, VHOST_USER_REPLY_TIMEOUT_MS, EVVM_EXIT_FAILURE, EXIT_USAGE);
}

/* What the flags fill: the VM description, and how this command runs it. */
struct run_opts {
	struct vm_desc desc;
	struct evvm_confine confine;
	const char *api_sock;
	char *restore_state, *restore_mem; /* --restore */
	struct evvm_disk_override restore_disks[EVVM_MAX_VIRTIO];
	unsigned int nr_restore_disks;
	struct evvm_net_override restore_nets[EVVM_MAX_VIRTIO];
	unsigned int nr_restore_nets;
	int verbose;
	enum { STATS_NONE, STATS_TEXT, STATS_JSON } stats;
};

/* One flag: its setter takes the value (NULL for none) and prints one line on error. */
struct run_flag {
	const char *name;
	int has_arg;
	int (*set)(struct run_opts *o, char *arg); /* @arg may be split in place */
};

static int set_str(char **field, const char *arg)
{
	free(*field);
	*field = strdup(arg);
	if (*field)
		return 0;
	fprintf(stderr, "evvm: out of memory\n");
	return -ENOMEM;
}

static int set_kernel(struct run_opts *o, char *arg)
{
	return set_str(&o->desc.boot.kernel, arg);
}

static int set_initramfs(struct run_opts *o, char *arg)
{
	return set_str(&o->desc.boot.initrd, arg);
}

static int set_cmdline(struct run_opts *o, char *arg)
{
	return set_str(&o->desc.boot.cmdline, arg);
}

/* Parse "boot=N" for --cpus. */
static int set_cpus(struct run_opts *o, char *arg)
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
		o->desc.machine.vcpus = v;
	}
	if (r < 0)
		fprintf(stderr, "evvm: --cpus: expected boot=N\n");
	return r;
}

/* @arg must be one of @a or @b; *@out says whether it was @b. */
static int choice(const char *flag, const char *arg, const char *a, const char *b, bool *out)
{
	if (strcmp(arg, a) && strcmp(arg, b)) {
		fprintf(stderr, "evvm: --%s=%s: expected %s or %s\n", flag, arg, a, b);
		return -EINVAL;
	}
	*out = !strcmp(arg, b);
	return 0;
}

/* Parse "size=SIZE[,overcommit=on|off][,track_dirty_pages=on|off]" for --memory. */
static int set_memory(struct run_opts *o, char *arg)
{
	char *key, *val;
	int r;

	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "overcommit")) {
			bool off;

			if (choice("memory overcommit", val, "on", "off", &off))
				return -EINVAL;
			o->desc.machine.overcommit = !off;
			continue;
		}
		if (!strcmp(key, "track_dirty_pages")) {
			bool off;

			if (choice("memory track_dirty_pages", val, "on", "off", &off))
				return -EINVAL;
			o->desc.machine.track_dirty_pages = !off;
			continue;
		}
		if (strcmp(key, "size")) {
			fprintf(stderr,
				"evvm: --memory: unknown key '%s' (expected size=SIZE, "
				"overcommit=on|off, track_dirty_pages=on|off)\n",
				key);
			return -EINVAL;
		}
		if (parse_size(val, &o->desc.machine.mem_size)) {
			fprintf(stderr, "evvm: --memory size=%s: expected a size such as 512M\n",
				val);
			return -EINVAL;
		}
	}
	if (r < 0)
		fprintf(stderr, "evvm: --memory: expected "
				"size=SIZE[,overcommit=on|off][,track_dirty_pages=on|off]\n");
	return r;
}

static int set_ioeventfd(struct run_opts *o, char *arg)
{
	return choice("ioeventfd", arg, "kernel", "user", &o->desc.ioeventfd_user);
}

static int set_irqfd(struct run_opts *o, char *arg)
{
	return choice("irqfd", arg, "kernel", "user", &o->desc.irqfd_user);
}

static int set_acpi(struct run_opts *o, char *arg)
{
	bool on;

	if (choice("acpi", arg, "off", "on", &on))
		return -EINVAL;
	o->desc.no_acpi = !on;
	return 0;
}

static int set_transport(struct run_opts *o, char *arg)
{
	bool pci;

	if (choice("transport", arg, "mmio", "pci", &pci))
		return -EINVAL;
	o->desc.transport = pci ? EVVM_TRANSPORT_PCI : EVVM_TRANSPORT_MMIO;
	return 0;
}

static int set_decompress(struct run_opts *o, char *arg)
{
	return choice("kernel-decompress", arg, "host", "guest", &o->desc.boot.decompress_in_guest);
}

static int set_poll(struct run_opts *o, char *arg)
{
	uint64_t v;

	if (parse_uint(arg, 0, 1000000, &v)) {
		fprintf(stderr, "evvm: --poll-max-us=%s: expected 0 to 1000000\n", arg);
		return -EINVAL;
	}
	o->desc.poll_max_us = v;
	return 0;
}

static int set_stats(struct run_opts *o, char *arg)
{
	if (!arg || !strcmp(arg, "text")) {
		o->stats = STATS_TEXT;
	} else if (!strcmp(arg, "json")) {
		o->stats = STATS_JSON;
	} else {
		fprintf(stderr, "evvm: --stats=%s: expected text or json\n", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_boot(struct run_opts *o, char *arg)
{
	static const char *const names[] = {
		[EVVM_BOOT_AUTO] = "auto",
		[EVVM_BOOT_PVH] = "pvh",
		[EVVM_BOOT_LINUX64] = "linux64",
	};

	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(arg, names[i])) {
			o->desc.boot.boot = i;
			return 0;
		}
	}
	fprintf(stderr, "evvm: --boot=%s: expected auto, pvh or linux64\n", arg);
	return -EINVAL;
}

static int set_disk(struct run_opts *o, char *arg)
{
	struct vm_desc *d = &o->desc;

	if (d->nr_drives == EVVM_MAX_VIRTIO) {
		fprintf(stderr, "evvm: --disk: at most %u devices\n", EVVM_MAX_VIRTIO);
		return -EINVAL;
	}
	if (devarg_disk(arg, d->nr_drives, &d->drives[d->nr_drives]))
		return -EINVAL;
	d->nr_drives++;
	return 0;
}

static int set_net(struct run_opts *o, char *arg)
{
	struct vm_desc *d = &o->desc;

	if (d->nr_nets == EVVM_MAX_VIRTIO) {
		fprintf(stderr, "evvm: --net: at most %u devices\n", EVVM_MAX_VIRTIO);
		return -EINVAL;
	}
	if (devarg_net(arg, d->nr_nets, &d->nets[d->nr_nets]))
		return -EINVAL;
	d->nr_nets++;
	return 0;
}

static int set_rng(struct run_opts *o, char *arg)
{
	(void)arg;
	o->desc.rng = true;
	return 0;
}

static int set_console(struct run_opts *o, char *arg)
{
	(void)arg;
	o->desc.console = true;
	return 0;
}

static int set_testdev(struct run_opts *o, char *arg)
{
	(void)arg;
	o->desc.testdev = true;
	return 0;
}

static int set_api_sock(struct run_opts *o, char *arg)
{
	if (!*arg) {
		fprintf(stderr, "evvm: --api-sock: expected a path\n");
		return -EINVAL;
	}
	o->api_sock = arg;
	return 0;
}

/* "ID:PATH" of --restore's disk=: drive ID on the file PATH instead of its saved one. */
static int add_restore_disk(struct run_opts *o, char *val)
{
	char *colon = strchr(val, ':');

	if (!colon || colon == val || !colon[1] || o->nr_restore_disks == EVVM_MAX_VIRTIO)
		return -EINVAL;
	*colon = '\0';
	for (unsigned int i = 0; i < o->nr_restore_disks; i++)
		if (!strcmp(o->restore_disks[i].id, val))
			return -EINVAL;
	o->restore_disks[o->nr_restore_disks++] =
		(struct evvm_disk_override){ .id = val, .path = colon + 1 };
	return 0;
}

/* "ID:TAP" of --restore's net=: interface ID on tap TAP instead of its saved one. */
static int add_restore_net(struct run_opts *o, char *val)
{
	char *colon = strchr(val, ':');

	if (!colon || colon == val || !colon[1] || o->nr_restore_nets == EVVM_MAX_VIRTIO)
		return -EINVAL;
	*colon = '\0';
	for (unsigned int i = 0; i < o->nr_restore_nets; i++)
		if (!strcmp(o->restore_nets[i].id, val))
			return -EINVAL;
	o->restore_nets[o->nr_restore_nets++] =
		(struct evvm_net_override){ .id = val, .tap = colon + 1 };
	return 0;
}

/* Parse "state=FILE,mem=FILE[,disk=ID:PATH][,net=ID:TAP]..." for --restore. */
static int set_restore(struct run_opts *o, char *arg)
{
	char *key, *val;
	int r;

	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "state") && *val)
			o->restore_state = val;
		else if (!strcmp(key, "mem") && *val)
			o->restore_mem = val;
		else if (!strcmp(key, "disk") && !add_restore_disk(o, val))
			continue;
		else if (!strcmp(key, "net") && !add_restore_net(o, val))
			continue;
		else
			break;
	}
	if (r != 0 || !o->restore_state || !o->restore_mem) {
		fprintf(stderr, "evvm: --restore: expected "
				"state=FILE,mem=FILE[,disk=ID:PATH][,net=ID:TAP]... (one disk= per "
				"drive id, one net= per interface id)\n");
		return -EINVAL;
	}
	return 0;
}

static int set_verbose(struct run_opts *o, char *arg)
{
	(void)arg;
	o->verbose++;
	return 0;
}

static int set_seccomp(struct run_opts *o, char *arg)
{
	if (!seccomp_parse_mode(arg, &o->confine.seccomp))
		return 0;
	fprintf(stderr, "evvm: --seccomp=%s: expected on, log or off\n", arg);
	return -EINVAL;
}

static int set_uid(struct run_opts *o, char *arg)
{
	o->confine.privs.set_uid = true;
	return privs_parse_uid("--uid", arg, &o->confine.privs.uid);
}

static int set_gid(struct run_opts *o, char *arg)
{
	o->confine.privs.set_gid = true;
	return privs_parse_gid("--gid", arg, &o->confine.privs.gid);
}

static const struct run_flag run_flags[] = {
	{ "kernel", required_argument, set_kernel },
	{ "initramfs", required_argument, set_initramfs },
	{ "cmdline", required_argument, set_cmdline },
	{ "boot", required_argument, set_boot },
	{ "kernel-decompress", required_argument, set_decompress },
	{ "cpus", required_argument, set_cpus },
	{ "memory", required_argument, set_memory },
	{ "ioeventfd", required_argument, set_ioeventfd },
	{ "irqfd", required_argument, set_irqfd },
	{ "poll-max-us", required_argument, set_poll },
	{ "stats", optional_argument, set_stats },
	{ "testdev", no_argument, set_testdev },
	{ "acpi", required_argument, set_acpi },
	{ "transport", required_argument, set_transport },
	{ "disk", required_argument, set_disk },
	{ "net", required_argument, set_net },
	{ "rng", no_argument, set_rng },
	{ "console", no_argument, set_console },
	{ "api-sock", required_argument, set_api_sock },
	{ "restore", required_argument, set_restore },
	{ "seccomp", required_argument, set_seccomp },
	{ "uid", required_argument, set_uid },
	{ "gid", required_argument, set_gid },
	{ "verbose", no_argument, set_verbose },
};

#define NR_RUN_FLAGS (sizeof(run_flags) / sizeof(run_flags[0]))

/*
 * Fill @o from the command line and check it. 0 to run, 1 after --help,
 * -EINVAL after one line saying what is wrong.
 */
const struct option *run_option_table(void)
{
	static struct option opts[NR_RUN_FLAGS + 2];

	if (!opts[0].name) {
		for (unsigned int i = 0; i < NR_RUN_FLAGS; i++)
			opts[i] = (struct option){ run_flags[i].name, run_flags[i].has_arg, NULL,
						   256 + i };
		opts[NR_RUN_FLAGS] = (struct option){ "help", no_argument, NULL, 'h' };
	}
	return opts;
}

static int run_parse(int argc, char **argv, struct run_opts *o)
{
	const struct option *opts = run_option_table();
	char msg[VMDESC_MSG_MAX];
	int opt;

	argv[0] = (char *)"evvm run"; /* getopt names the command in its messages */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		if (opt == 'h') {
			run_usage(stdout);
			return 1;
		}
		if (opt == 'v')
			opt = 256 + NR_RUN_FLAGS - 1; /* --verbose */
		if (opt < 256 || opt >= 256 + (int)NR_RUN_FLAGS) {
			fprintf(stderr, "evvm: see 'evvm run --help'\n");
			return -EINVAL;
		}
		if (run_flags[opt - 256].set(o, optarg))
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "evvm run: unexpected argument '%s' (see 'evvm run --help')\n",
			argv[optind]);
		return -EINVAL;
	}
	if (o->restore_state &&
	    (o->desc.nr_drives || o->desc.nr_nets || o->desc.rng || o->desc.console ||
	     o->desc.testdev || o->desc.boot.kernel || o->desc.transport != EVVM_TRANSPORT_MMIO)) {
		fprintf(stderr, "evvm run: --restore takes the VM and its devices from the "
				"snapshot: no --kernel, --disk, --net, --rng, --console, "
				"--testdev or --transport (a disk's file: --restore "
				"...,disk=ID:PATH; a tap: ...,net=ID:TAP)\n");
		return -EINVAL;
	}
	if (vmdesc_validate(&o->desc, msg)) {
		fprintf(stderr, "evvm: %s\n", msg);
		return -EINVAL;
	}
	return 0;
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
	struct api_server *api = NULL;
	char msg[VMDESC_MSG_MAX];
	struct termios saved_term;
	struct run_opts o = { 0 };
	struct instance in;
	int r, status = EVVM_EXIT_FAILURE;
	bool raw = false;

	if (instance_init(&in, "evvm-run")) {
		pr_err("cannot set up the instance: %s", evvm_strerror(errno));
		return EVVM_EXIT_FAILURE;
	}
	o.desc = in.desc;		/* the defaults */
	o.desc.kernel_required = false; /* the demo guest */
	r = run_parse(argc, argv, &o);
	in.desc = o.desc;
	if (r) {
		instance_fini(&in);
		return r > 0 ? 0 : EXIT_USAGE;
	}
	evvm_log_set_level(o.verbose >= 2 ? EVVM_LOG_DEBUG
			   : o.verbose	  ? EVVM_LOG_INFO
					  : EVVM_LOG_WARN);
	instance_block_stop_signals(); /* before any vCPU, I/O or API thread starts */
	o.confine.devs =
		o.restore_state ? INSTANCE_RESTORE_SECCOMP_DEVS : instance_seccomp_devs(&in.desc);
	if (confine_setup(&o.confine))
		goto out;
	const struct instance_restore rs = {
		.state_path = o.restore_state,
		.mem_path = o.restore_mem,
		.disks = o.restore_disks,
		.nr_disks = o.nr_restore_disks,
		.nets = o.restore_nets,
		.nr_nets = o.nr_restore_nets,
		.resume = true,
	};

	pthread_mutex_lock(&in.lock);
	r = o.restore_state ? instance_restore_locked(&in, &rs, msg)
			    : instance_start_locked(&in, msg);
	pthread_mutex_unlock(&in.lock);
	if (r) {
		status = instance_start_failed();
		goto out;
	}
	if (o.api_sock && api_start(o.api_sock, &in, &api))
		goto out;
	raw = term_raw(&saved_term);
	status = instance_run(&in);
	if (o.stats != STATS_NONE)
		vm_print_stats(in.vm, stderr, o.stats == STATS_JSON);
out:
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_term);
	api_stop(api);
	instance_fini(&in);
	return status;
}
