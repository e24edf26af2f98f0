// SPDX-License-Identifier: MIT
/*
 * Boot a kernel with a disk through libevvm, as a program that embeds it
 * would. With evvm's test guest (pkg-config --variable=demo_kernel evvm),
 * the guest writes a pattern to the disk, reads it back and exits 0.
 *
 *	cc embed.c $(pkg-config --cflags --libs evvm) -o embed
 *	truncate -s 1M disk.img && ./embed "$(pkg-config --variable=demo_kernel evvm)" disk.img
 */
#include <stdio.h>
#include <unistd.h>

#include <evvm/evvm.h>

static void log_line(void *opaque, int level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "embed: evvm[%d]: %s\n", level, msg);
}

int main(int argc, char **argv)
{
	struct evvm_ctx *vm;
	int err, status = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s KERNEL DISK\n", argv[0]);
		return 2;
	}
	evvm_set_log(log_line, NULL, EVVM_LOG_LEVEL_WARN);
	if (evvm_create(&vm))
		return 1;
	if ((err = evvm_set_kernel(vm, argv[1])) || (err = evvm_set_memory(vm, 32 << 20, 0)) ||
	    (err = evvm_set_cmdline(vm, "tests=virtio-blk blk.seed=7 blk.sectors=64")) ||
	    (err = evvm_set_serial(vm, -1, STDOUT_FILENO)) ||
	    (err = evvm_add_disk(vm, argv[2], "embed-disk", 0)) || (err = evvm_start(vm)) ||
	    (err = evvm_wait(vm, &status))) {
		fprintf(stderr, "embed: %s\n", evvm_errmsg(vm));
		evvm_destroy(vm);
		return 1;
	}
	printf("embed: libevvm %s, the guest exited with status %d\n", evvm_version(), status);
	evvm_destroy(vm);
	return status;
}
