// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <evvm/log.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: evvm COMMAND [OPTIONS]\n"
		   "\n"
		   "A KVM micro-VMM whose devices talk to the guest through eventfds.\n"
		   "\n"
		   "Commands:\n"
		   "  run             boot a guest (the bundled demo guest without --kernel)\n"
		   "  firecracker     Firecracker's command line and REST API (also: evvm\n"
		   "                  called through a link named 'firecracker')\n"
		   "  jailer          run evvm (or a backend) confined: Firecracker's jailer\n"
		   "                  (also: evvm called through a link named 'jailer')\n"
		   "  vhost-user-blk  serve a virtio-blk disk to a vhost-user frontend\n"
		   "  vhost-user-rng  serve a virtio-rng device to a vhost-user frontend\n"
		   "  vhost-user-net  serve a virtio-net device on a tap to a vhost-user frontend\n"
		   "  rebase-snap     write a diff snapshot's memory onto its base's\n"
		   "\n"
		   "Run 'evvm COMMAND --help' for a command's options.\n"
		   "  -h, --help     this text\n"
		   "  -V, --version  print the version\n");
}

int main(int argc, char **argv)
{
	evvm_log_set_output(STDERR_FILENO, false); /* the library is silent by default */
	/* Tools that spawn "firecracker" get Firecracker's command line. */
	if (!strcmp(basename(argv[0]), "firecracker"))
		return cmd_firecracker(argc, argv);
	/* And tools that spawn Firecracker's "jailer" get its jailer. */
	if (!strcmp(basename(argv[0]), "jailer"))
		return cmd_jailer(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("evvm %s\n", EVVM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "firecracker"))
		return cmd_firecracker(argc - 1, argv + 1);
	if (!strcmp(argv[1], "jailer"))
		return cmd_jailer(argc - 1, argv + 1);
	if (!strcmp(argv[1], "vhost-user-blk"))
		return cmd_vhost_user_blk(argc - 1, argv + 1);
	if (!strcmp(argv[1], "vhost-user-rng"))
		return cmd_vhost_user_rng(argc - 1, argv + 1);
	if (!strcmp(argv[1], "vhost-user-net"))
		return cmd_vhost_user_net(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rebase-snap"))
		return cmd_rebase_snap(argc - 1, argv + 1);
	fprintf(stderr, "evvm: unknown command '%s' (see 'evvm --help')\n", argv[1]);
	return EXIT_USAGE;
}
