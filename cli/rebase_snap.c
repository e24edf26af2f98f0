// SPDX-License-Identifier: MIT
/*
 * `evvm rebase-snap --base-file BASE --diff-file DIFF`: Firecracker's
 * rebase-snap, with its flags. A diff snapshot's memory file holds only the
 * pages written since its base; this writes them onto the base's memory
 * file, which then restores as the diff's (vm_snapshot_rebase).
 */
#include <stdio.h>
#include <string.h>

#include <evvm/vm.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: evvm rebase-snap --base-file BASE --diff-file DIFF\n"
		   "\n"
		   "Write the pages of a diff snapshot's memory file (PUT /snapshot/create\n"
		   "with snapshot_type Diff) onto the memory file of the snapshot it was\n"
		   "taken against, in place. BASE then goes with the diff's state file. Both\n"
		   "files must be one VM's memory (one size); DIFF must be on a file system\n"
		   "that keeps holes (tmpfs, ext4, xfs), as when it was written.\n"
		   "  --base-file BASE  the base memory file, rewritten in place and fsync'd\n"
		   "  --diff-file DIFF  the diff memory file, only read\n");
}

int cmd_rebase_snap(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "base-file", required_argument, NULL, 'b' },
		{ "diff-file", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base = NULL, *diff = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			base = optarg;
			break;
		case 'd':
			diff = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || !base || !diff || !*base || !*diff) {
		fprintf(stderr,
			"evvm rebase-snap: give --base-file and --diff-file, nothing else\n");
		return EXIT_USAGE;
	}
	return vm_snapshot_rebase(base, diff) ? 1 : 0;
}
