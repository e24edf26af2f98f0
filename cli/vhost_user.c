// SPDX-License-Identifier: MIT
/*
 * `evvm vhost-user-blk`, `evvm vhost-user-rng` and `evvm vhost-user-net`: serve one virtio device
 * to a vhost-user frontend (QEMU, or evvm itself) on a unix socket, until
 * SIGINT or SIGTERM. Follows the backend program conventions of QEMU's
 * docs/interop/vhost-user.rst where they apply: --socket-path is accepted
 * for --socket, no daemonizing, a clean and quick exit on SIGTERM, and a
 * non-zero exit status when the device cannot be set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evvm/confine.h>
#include <evvm/devices.h>
#include <evvm/log.h>

#include "../vhost/backend.h"
#include "cli.h"
#include "devargs.h"
#include "parse.h"

#define VU_ID_MAX 20 /* the virtio-blk serial's length */

enum {
	OPT_SOCKET = 256,
	OPT_DISK,
	OPT_POLL,
	OPT_PRINT_CAPS,
	OPT_TAP,
	OPT_MAC,
	OPT_EVENT_IDX,
	OPT_QUEUES,
	OPT_SOCKET_GROUP,
	OPT_IOTHREADS,
	OPT_SECCOMP,
	OPT_UID,
	OPT_GID,
};

/* QEMU's vhost-user-blk-pci asks for one queue per vCPU by default. */
#define VU_BLK_QUEUES_DEFAULT 16
#define VU_POLL_MAX_US	      32 /* --poll-max-us's default */

enum vu_kind { VU_BLK, VU_RNG, VU_NET };

static const struct option vu_options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-path", required_argument, NULL, OPT_SOCKET },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "poll-max-us", required_argument, NULL, OPT_POLL },
	{ "print-capabilities", no_argument, NULL, OPT_PRINT_CAPS },
	{ "tap", required_argument, NULL, OPT_TAP },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "event-idx", required_argument, NULL, OPT_EVENT_IDX },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "iothreads", required_argument, NULL, OPT_IOTHREADS },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void vu_usage(FILE *f, enum vu_kind kind)
{
	if (kind == VU_NET)
		fprintf(f,
			"Usage: evvm vhost-user-net --socket PATH --tap NAME [--mac MAC]\n"
			"       [OPTIONS]\n"
			"\n"
			"Serve a virtio-net device on a tap device to a vhost-user frontend\n"
			"(QEMU's -netdev type=vhost-user, for one) on a unix socket. The rx and\n"
			"tx queues are served here; the frontend keeps the control queue and the\n"
			"config space (its MAC address is the one the guest sees).\n"
			"\n"
			"  --tap NAME          the tap device: an existing one (`ip tuntap add\n"
			"                      dev NAME mode tap`), or a new one with\n"
			"                      CAP_NET_ADMIN\n"
			"  --mac MAC           the address in our config space (default\n"
			"                      52:54:00:12:34:50)\n"
			"  --event-idx=on|off  offer VIRTIO_F_EVENT_IDX (default on)\n");
	else if (kind == VU_BLK)
		fprintf(f,
			"Usage: evvm vhost-user-blk --socket PATH --disk "
			"path=F[,readonly=on][,id=NAME] [OPTIONS]\n"
			"\n"
			"Serve a virtio-blk disk on file or block device F to a vhost-user\n"
			"frontend (QEMU's vhost-user-blk-pci, for one) on a unix socket.\n"
			"\n"
			"  --disk path=F[,readonly=on][,id=NAME]\n"
			"                      the disk: I/O through io_uring, flush is\n"
			"                      fdatasync, discard and write-zeroes where the\n"
			"                      file system has them; readonly=on answers writes\n"
			"                      with IOERR; id is the serial the guest reads (at\n"
			"                      most %d characters, default blk0). The file is\n"
			"                      locked against a second writer.\n"
			"  --queues N          request queues offered, 1 to %d (default %d, so\n"
			"                      that QEMU's default num-queues, one per vCPU,\n"
			"                      works up to -smp %d); VIRTIO_BLK_F_MQ is offered\n"
			"                      with num_queues = N, and the frontend may use\n"
			"                      fewer\n"
			"  --iothreads M       I/O threads serving the queues, 1 to N (default\n"
			"                      1): queue q runs on thread q %% M, each thread\n"
			"                      with an io_uring of its own\n",
			VU_ID_MAX, EVVM_VIRTIO_MAX_QUEUES, VU_BLK_QUEUES_DEFAULT,
			VU_BLK_QUEUES_DEFAULT);
	else
		fprintf(f,
			"Usage: evvm vhost-user-rng --socket PATH [OPTIONS]\n"
			"\n"
			"Serve a virtio-rng device fed by getrandom(2) to a vhost-user frontend\n"
			"(QEMU's vhost-user-rng-pci, for one) on a unix socket.\n"
			"\n");
	fprintf(f,
		"  --socket PATH       the unix socket to listen on (also --socket-path); a\n"
		"                      stale socket file there is replaced, a live one is an\n"
		"                      error; removed at exit. It is made owner-only (0600)\n"
		"                      whatever the umask, and only frontends of our uid or\n"
		"                      root are served (SO_PEERCRED); others are dropped\n"
		"                      with a log line naming their uid and pid\n"
		"  --socket-group GROUP\n"
		"                      the socket is 0660 and of GROUP (a name or a gid),\n"
		"                      and frontends whose primary or supplementary groups\n"
		"                      include GROUP are served too\n"
		"  --poll-max-us=N     the device's I/O thread busy-polls up to N us before\n"
		"                      sleeping, while that pays (default %u; 0: never)\n"
		"  --seccomp=on|log|off\n"
		"                      each thread's seccomp allow-list (docs/seccomp.md):\n"
		"                      on (default) kills the process by SIGSYS on a call\n"
		"                      outside it, after a line naming the thread and the\n"
		"                      call; log lets the call through and the kernel logs\n"
		"                      it (to find a missing one); off installs none\n"
		"  --uid USER, --gid GROUP\n"
		"                      when started as root: after the device is set up\n"
		"                      (disk or tap opened), drop to this user and group (a\n"
		"                      name or a number; supplementary groups are dropped);\n"
		"                      the socket is then made by and for that user, in a\n"
		"                      directory it can write. Every capability is dropped\n"
		"                      after set-up in any case, and no_new_privs is set\n"
		"  --print-capabilities\n"
		"                      print the backend's capabilities as JSON and exit\n"
		"  -v, --verbose       log more (connections, rings; repeat for every message)\n"
		"  -h, --help          this text\n"
		"\n"
		"When the socket listens, one line goes to stdout:\n"
		"  evvm: vhost-user ID: ready on 'PATH' (N queues[, M I/O threads])\n"
		"One frontend is served at a time; when it disconnects the device is stopped\n"
		"and the next one is accepted; one that sends nothing for 5 s after connecting\n"
		"is dropped. The blk backend tracks requests in flight (vhost-user's\n"
		"INFLIGHT_SHMFD): started again on the same socket after a crash or kill, it\n"
		"resubmits them to a frontend that reconnects with the region (QEMU:\n"
		"-chardev socket,...,reconnect=1). SIGINT or SIGTERM stop the device (the I/O of\n"
		"requests in flight finishes first), remove the socket and exit with status 0.\n"
		"Exit status 1 when the device or the socket cannot be set up, %d for a bad\n"
		"command line.\n",
		VU_POLL_MAX_US, EXIT_USAGE);
}

/* --socket-group GROUP: a group name, or a gid. Prints a line and returns -EINVAL if bad. */
static int vu_parse_group(const char *arg, struct vhost_backend_config *cfg)
{
	struct group gr, *found = NULL;
	char buf[4096];
	uint64_t v;
	int err;

	if (!parse_uint(arg, 0, (gid_t)-2, &v)) {
		cfg->socket_gid = (gid_t)v;
		cfg->socket_group_set = true;
		return 0;
	}
	err = *arg ? getgrnam_r(arg, &gr, buf, sizeof(buf), &found) : 0;
	if (!found) {
		fprintf(stderr, "evvm: --socket-group '%s': %s\n", arg,
			err ? evvm_strerror(err)
			    : "no such group (expected a group name or a gid)");
		return -EINVAL;
	}
	cfg->socket_gid = found->gr_gid;
	cfg->socket_group_set = true;
	return 0;
}

/* --disk's grammar (cli/devargs.c), a file only: a backend is no frontend. */
static int vu_parse_disk(const char *arg, struct vmdesc_drive *d)
{
	if (devarg_disk(arg, 0, d))
		return -EINVAL;
	if (d->socket) {
		fprintf(stderr, "evvm: --disk vhost_user=on: a backend serves a file "
				"(path=FILE[,readonly=on][,id=NAME])\n");
		vmdesc_drive_release(d);
		return -EINVAL;
	}
	return 0;
}

static const char *vu_option_name(int opt)
{
	for (const struct option *o = vu_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* --queues or --iothreads (blk) into *@out; prints a line and returns -EINVAL if bad. */
static int vu_parse_count(int opt, const char *val, unsigned int *out)
{
	uint64_t v;

	if (parse_uint(val, 1, EVVM_VIRTIO_MAX_QUEUES, &v)) {
		fprintf(stderr, "evvm: --%s %s: expected 1 to %d\n", vu_option_name(opt), val,
			EVVM_VIRTIO_MAX_QUEUES);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* One of vhost-user-net's own options into @net; prints a line and returns -EINVAL if bad. */
static int vu_parse_net_opt(int opt, const char *val, struct net_config *net)
{
	switch (opt) {
	case OPT_TAP:
		if (!*val || strlen(val) > 15) {
			fprintf(stderr,
				"evvm: --tap %s: expected an interface name of 1 to 15 "
				"characters\n",
				val);
			return -EINVAL;
		}
		net->tap = val;
		return 0;
	case OPT_MAC:
		if (parse_mac(val, net->mac)) {
			fprintf(stderr,
				"evvm: --mac %s: expected a unicast address such as "
				"52:54:00:12:34:56\n",
				val);
			return -EINVAL;
		}
		return 0;
	default:
		if (strcmp(val, "on") && strcmp(val, "off")) {
			fprintf(stderr, "evvm: --event-idx=%s: expected on or off\n", val);
			return -EINVAL;
		}
		net->event_idx = !strcmp(val, "on");
		return 0;
	}
}

/* --seccomp, --uid, --gid into @c; prints a line and returns -EINVAL if bad. */
static int vu_parse_confine(int opt, const char *val, struct evvm_confine *c)
{
	switch (opt) {
	case OPT_SECCOMP:
		if (seccomp_parse_mode(val, &c->seccomp)) {
			fprintf(stderr, "evvm: --seccomp=%s: expected on, log or off\n", val);
			return -EINVAL;
		}
		return 0;
	case OPT_UID:
		c->privs.set_uid = true;
		return privs_parse_uid("--uid", val, &c->privs.uid);
	default:
		c->privs.set_gid = true;
		return privs_parse_gid("--gid", val, &c->privs.gid);
	}
}

/*
 * SIGINT/SIGTERM are taken by a thread of their own, so that a stop request
 * reaches the backend even while its control thread waits (for requests in
 * flight when a ring stops).
 */
struct vu_sigwait {
	struct vhost_backend *b;
	sigset_t mask;
	atomic_bool done; /* vhost_backend_run() returned: a signal now only ends the thread */
};

static void *vu_signal_thread(void *opaque)
{
	struct vu_sigwait *s = opaque;
	int sig;

	if (sigwait(&s->mask, &sig) != 0 || atomic_load(&s->done))
		return NULL;
	pr_info("stopping on %s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	vhost_backend_stop(s->b);
	return NULL;
}

/* Serve @dev (ours: destroyed here) on @socket until a signal. Returns the exit status. */
static int vu_serve(struct vhost_backend_config *cfg, struct evvm_virtio_dev *dev,
		    const sigset_t *mask)
{
	const char *socket = cfg->socket_path;
	struct vu_sigwait sw = { .mask = *mask };
	struct vhost_backend *b = NULL;
	pthread_t thread;
	int status = 1, err;

	cfg->dev = dev;
	err = vhost_backend_create(cfg, &b);
	if (err)
		goto out;
	sw.b = b;
	err = confine_pthread_create(&thread, EVVM_THREAD_VU_SIGNAL, vu_signal_thread, &sw);
	if (err) {
		pr_err("vhost-user socket '%s': signal thread: %s", socket, evvm_strerror(err));
		goto out;
	}
	/* The last thread to confine itself, before the first connection is accepted. */
	err = confine_thread(EVVM_THREAD_VU_CTL);
	if (err) {
		atomic_store(&sw.done, true);
		pthread_kill(thread, SIGTERM);
		pthread_join(thread, NULL);
		goto out;
	}
	/* For a person or a script starting us: the socket accepts frontends from now on. */
	if (cfg->nr_iothreads > 1)
		printf("evvm: vhost-user %s: ready on '%s' (%u queues, %u I/O threads)\n", dev->id,
		       socket, dev->ops->nr_queues, cfg->nr_iothreads);
	else
		printf("evvm: vhost-user %s: ready on '%s' (%u queue%s)\n", dev->id, socket,
		       dev->ops->nr_queues, dev->ops->nr_queues == 1 ? "" : "s");
	fflush(stdout);
	err = vhost_backend_run(b);
	status = err ? 1 : 0;
	/* End the signal thread if no signal did (it ignores this one). */
	atomic_store(&sw.done, true);
	pthread_kill(thread, SIGTERM);
	pthread_join(thread, NULL);
out:
	vhost_backend_destroy(b); /* stops the device: the I/O in flight finishes first */
	virtio_dev_destroy(dev);
	return status;
}

static void vu_print_capabilities(enum vu_kind kind)
{
	/* docs/interop/vhost-user.json: VHostUserBackendCapabilities. */
	if (kind == VU_NET)
		printf("{\n  \"type\": \"net\"\n}\n");
	else if (kind == VU_BLK)
		printf("{\n  \"type\": \"block\",\n  \"features\": []\n}\n");
	else
		printf("{\n  \"type\": \"rng\"\n}\n");
}

static int vu_main(int argc, char **argv, enum vu_kind kind, struct vmdesc_drive *disk)
{
	static const char *const cmds[] = {
		[VU_BLK] = "evvm vhost-user-blk",
		[VU_RNG] = "evvm vhost-user-rng",
		[VU_NET] = "evvm vhost-user-net",
	};
	const char *cmd = cmds[kind];
	bool blk = kind == VU_BLK;
	struct net_config net = {
		.mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x50 },
		.event_idx = true,
		.vhost_user = true,
	};
	/*
	 * A backend's I/O thread polls 32 us before sleeping, as QEMU's
	 * IOThreads do (poll-max-ns 32768): the loop keeps polling only
	 * while it pays (lib/loop.c), and a frontend's next request at queue
	 * depth 1 then finds it awake. README: bench/vhost-blk.
	 */
	struct vhost_backend_config cfg = { .poll_max_us = VU_POLL_MAX_US };
	struct evvm_confine conf = { .seccomp = EVVM_SECCOMP_ON };
	static const unsigned int devs[] = { [VU_BLK] = EVVM_SECCOMP_DEV_BLK,
					     [VU_RNG] = EVVM_SECCOMP_DEV_RNG,
					     [VU_NET] = EVVM_SECCOMP_DEV_NET };
	bool have_disk = false;
	struct evvm_virtio_dev *dev = NULL;
	unsigned int queues = VU_BLK_QUEUES_DEFAULT;
	int opt, verbose = 0, err;
	uint64_t v;
	sigset_t mask;

	argv[0] = (char *)cmd; /* getopt names the command in its messages */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", vu_options, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKET:
			if (!*optarg) {
				fprintf(stderr, "evvm: --socket: expected a path\n");
				return EXIT_USAGE;
			}
			cfg.socket_path = optarg;
			break;
		case OPT_SOCKET_GROUP:
			if (vu_parse_group(optarg, &cfg))
				return EXIT_USAGE;
			break;
		case OPT_DISK:
			if (!blk) {
				fprintf(stderr, "%s: unrecognized option '--disk'\n", cmd);
				return EXIT_USAGE;
			}
			if (have_disk) {
				fprintf(stderr, "evvm: --disk: one disk per backend\n");
				return EXIT_USAGE;
			}
			if (vu_parse_disk(optarg, disk))
				return EXIT_USAGE;
			have_disk = true;
			break;
		case OPT_POLL:
			if (parse_uint(optarg, 0, 1000000, &v)) {
				fprintf(stderr, "evvm: --poll-max-us=%s: expected 0 to 1000000\n",
					optarg);
				return EXIT_USAGE;
			}
			cfg.poll_max_us = v;
			break;
		case OPT_TAP:
		case OPT_MAC:
		case OPT_EVENT_IDX:
			if (kind != VU_NET) {
				fprintf(stderr, "%s: unrecognized option '--%s'\n", cmd,
					vu_option_name(opt));
				return EXIT_USAGE;
			}
			if (vu_parse_net_opt(opt, optarg, &net))
				return EXIT_USAGE;
			break;
		case OPT_QUEUES:
		case OPT_IOTHREADS:
			if (!blk) {
				fprintf(stderr, "%s: unrecognized option '--%s'\n", cmd,
					vu_option_name(opt));
				return EXIT_USAGE;
			}
			if (vu_parse_count(opt, optarg,
					   opt == OPT_QUEUES ? &queues : &cfg.nr_iothreads))
				return EXIT_USAGE;
			break;
		case OPT_SECCOMP:
		case OPT_UID:
		case OPT_GID:
			if (vu_parse_confine(opt, optarg, &conf))
				return EXIT_USAGE;
			break;
		case OPT_PRINT_CAPS:
			vu_print_capabilities(kind);
			return 0;
		case 'v':
			verbose++;
			break;
		case 'h':
			vu_usage(stdout, kind);
			return 0;
		default:
			fprintf(stderr, "evvm: see '%s --help'\n", cmd);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see '%s --help')\n", cmd,
			argv[optind], cmd);
		return EXIT_USAGE;
	}
	if (!cfg.socket_path) {
		fprintf(stderr, "%s: --socket PATH is required (see '%s --help')\n", cmd, cmd);
		return EXIT_USAGE;
	}
	if (kind == VU_NET && !net.tap) {
		fprintf(stderr, "%s: --tap NAME is required (see '%s --help')\n", cmd, cmd);
		return EXIT_USAGE;
	}
	if (blk && !have_disk) {
		fprintf(stderr, "%s: --disk path=FILE is required (see '%s --help')\n", cmd, cmd);
		return EXIT_USAGE;
	}
	if (cfg.nr_iothreads > queues) {
		fprintf(stderr, "evvm: --iothreads %u: expected 1 to --queues (%u)\n",
			cfg.nr_iothreads, queues);
		return EXIT_USAGE;
	}
	evvm_log_set_level(verbose >= 2 ? EVVM_LOG_DEBUG : verbose ? EVVM_LOG_INFO : EVVM_LOG_WARN);

	/*
	 * Signals are taken with sigwait() by a thread of ours; block them
	 * before any thread starts, so that every thread inherits the mask. A
	 * frontend that goes away must not kill us through a call fd that is a
	 * pipe.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Each thread drops privileges and installs its list as it starts (vu_serve()). */
	conf.devs = devs[kind];
	if (confine_setup(&conf))
		return 1;
	cfg.socket_owner_set = conf.privs.set_uid;
	cfg.socket_uid = conf.privs.uid;

	if (blk) {
		const struct blk_config bc = { .path = disk->path,
					       .readonly = disk->readonly,
					       .queues = queues };

		err = blk_create(disk->id, &bc, &dev); /* logs a line naming the disk */
	} else if (kind == VU_NET)
		err = net_create("net0", &net, &dev); /* logs a line naming the tap */
	else
		err = rng_create("rng0", &dev);
	if (err) {
		if (kind == VU_RNG)
			pr_err("rng0: %s", evvm_strerror(err));
		return 1;
	}
	return vu_serve(&cfg, dev, &mask);
}

/* The parsed disk's strings are freed whichever way the command ends. */
static int cmd_vhost_user(int argc, char **argv, enum vu_kind kind)
{
	struct vmdesc_drive disk = { 0 };
	int status = vu_main(argc, argv, kind, &disk);

	vmdesc_drive_release(&disk);
	return status;
}

int cmd_vhost_user_blk(int argc, char **argv)
{
	return cmd_vhost_user(argc, argv, VU_BLK);
}

int cmd_vhost_user_rng(int argc, char **argv)
{
	return cmd_vhost_user(argc, argv, VU_RNG);
}

int cmd_vhost_user_net(int argc, char **argv)
{
	return cmd_vhost_user(argc, argv, VU_NET);
}
