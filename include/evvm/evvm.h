/* SPDX-License-Identifier: MIT */
#ifndef EVVM_EVVM_H
#define EVVM_EVVM_H

/*
 * libevvm: make and run KVM virtual machines from a C program, with
 * evvm's eventfd fabric and devices underneath (the `evvm` command is one
 * client of this library). Link with `pkg-config --cflags --libs evvm`.
 *
 *	struct evvm_ctx *vm;
 *	int status;
 *
 *	evvm_create(&vm);
 *	evvm_set_kernel(vm, "/usr/share/evvm/evvm-guest.elf");
 *	evvm_add_disk(vm, "disk.img", NULL, 0);
 *	if (evvm_start(vm) || evvm_wait(vm, &status))
 *		fprintf(stderr, "%s\n", evvm_errmsg(vm));
 *	evvm_destroy(vm);
 *
 * Conventions. Functions that return int return 0 (or what they document)
 * on success and a negative errno on failure; after a failure,
 * evvm_errmsg() of that VM says what failed and why. The library never
 * prints: its diagnostics go to the callback given to evvm_set_log(), or
 * nowhere. Strings passed in are copied; file descriptors passed in are
 * not owned and must stay open until evvm_destroy().
 *
 * Threads. Calls on one VM come from one thread at a time, except
 * evvm_stop(), evvm_pause(), evvm_resume() and evvm_wait(), which any
 * thread may make at any time between evvm_create() and evvm_destroy().
 * Distinct VMs are independent: several may run in one process.
 *
 * Process-wide state (there is no other):
 *  - the log callback and level (evvm_set_log());
 *  - a SIGUSR1 handler, installed when the first VM is started: it
 *    interrupts vCPU threads in KVM_RUN. The program must leave SIGUSR1
 *    and its handler alone while a VM exists.
 * The threads evvm starts block every signal except that one, so the
 * program's signals reach its own threads.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header belongs to; evvm_version() gives the library's. */
#define EVVM_VERSION_MAJOR 0
#define EVVM_VERSION_MINOR 1
#define EVVM_VERSION_STR_(x) #x
#define EVVM_VERSION_STR(maj, min) EVVM_VERSION_STR_(maj) "." EVVM_VERSION_STR_(min)
/* "MAJOR.MINOR", as evvm_version() returns it. */
#define EVVM_VERSION_STRING EVVM_VERSION_STR(EVVM_VERSION_MAJOR, EVVM_VERSION_MINOR)

#define EVVM_API	   __attribute__((visibility("default")))

/* One VM: its description until evvm_start(), then the running VM. */
struct evvm_ctx;

/* "MAJOR.MINOR" of the loaded library, e.g. "0.1"; static storage. */
EVVM_API const char *evvm_version(void);

/* Log levels for evvm_set_log(). */
#define EVVM_LOG_LEVEL_ERROR 0
#define EVVM_LOG_LEVEL_WARN  1
#define EVVM_LOG_LEVEL_INFO  2
#define EVVM_LOG_LEVEL_DEBUG 3

/*
 * A log line: @msg has no prefix and no newline and lives for the call.
 * Called from whichever evvm thread logs (a vCPU, an I/O thread, the
 * caller's); it must not call into libevvm.
 */
typedef void (*evvm_log_callback)(void *opaque, int level, const char *msg);

/*
 * Process-wide: give every line at or below @max_level (an
 * EVVM_LOG_LEVEL_*) to @fn with @opaque; @fn NULL: no output (the
 * default). Returns -EINVAL for a level out of range. Once it returns,
 * the previous callback is not called again.
 */
EVVM_API int evvm_set_log(evvm_log_callback fn, void *opaque, int max_level);

/*
 * A new VM with nothing in it but its defaults: 1 vCPU, 128 MiB, no
 * kernel, no devices, no serial port input or output. Returns 0 and sets
 * *@out, or -ENOMEM (or -EINVAL for a NULL @out).
 */
EVVM_API int evvm_create(struct evvm_ctx **out);

/*
 * Stop the VM if it runs (its exit status is then 255), wait for it, and
 * free everything. NULL is ignored. No other call on @vm may be in
 * progress or follow.
 */
EVVM_API void evvm_destroy(struct evvm_ctx *vm);

/*
 * What the last failed call on @vm was refused for, naming the thing and
 * the cause; "" if none failed yet. Valid until the next call on @vm.
 */
EVVM_API const char *evvm_errmsg(struct evvm_ctx *vm);

/*
 * The description. Each setter is for a VM not yet started (-EBUSY
 * after evvm_start()) and checks its values at once (-EINVAL, with the
 * reason in evvm_errmsg()); a later call replaces an earlier one.
 */

/* vCPUs: 1 to 64 (and at most what KVM allows, checked by evvm_start()). */
EVVM_API int evvm_set_cpus(struct evvm_ctx *vm, unsigned int nr);

/* Do not refuse more guest RAM than the host can back now. */
#define EVVM_MEMORY_OVERCOMMIT (1u << 0)

/*
 * Guest RAM: @bytes a multiple of 4 KiB, at least 4 MiB. evvm_start()
 * refuses more than the host can back (MemAvailable + SwapFree) unless
 * @flags has EVVM_MEMORY_OVERCOMMIT.
 */
EVVM_API int evvm_set_memory(struct evvm_ctx *vm, uint64_t bytes, unsigned int flags);

/*
 * The kernel to boot (required): a Linux bzImage, a PVH ELF (such as
 * evvm's test guest) or another 64-bit ELF. Read by evvm_start().
 */
EVVM_API int evvm_set_kernel(struct evvm_ctx *vm, const char *path);

/* An initramfs for Linux's 64-bit boot protocol; NULL for none. */
EVVM_API int evvm_set_initramfs(struct evvm_ctx *vm, const char *path);

/* The kernel command line, at most 4095 bytes; NULL for none. */
EVVM_API int evvm_set_cmdline(struct evvm_ctx *vm, const char *cmdline);

/*
 * The serial port (COM1): what the guest writes goes to @out_fd, what
 * can be read from @in_fd is its input; -1 for none.
 */
EVVM_API int evvm_set_serial(struct evvm_ctx *vm, int in_fd, int out_fd);

/*
 * Devices, at most 10 in all (-ENOSPC beyond), placed in this order
 * whatever the order of the calls: disks (the root disk first), nets,
 * rng, console. An @id names the device in messages; a disk's is the
 * serial the guest reads (at most 20 bytes), a net's at most 23 bytes;
 * printable, no blanks or commas. NULL: "blkN" / "netN" for the Nth
 * device of the kind (from 0). -EEXIST for an id already taken.
 */

#define EVVM_DISK_READONLY (1u << 0) /* the guest's writes fail (VIRTIO_BLK_S_IOERR) */
#define EVVM_DISK_ROOT	   (1u << 1) /* root=/dev/vda ro|rw is added to the cmdline */

/*
 * A virtio-blk disk on a file or block device, opened by evvm_start() and
 * locked against a second writer there.
 */
EVVM_API int evvm_add_disk(struct evvm_ctx *vm, const char *path, const char *id,
			   unsigned int flags);

/*
 * A virtio-net device on tap @tap (an existing tap, or a new one when the
 * process has CAP_NET_ADMIN; at most 15 bytes). @mac NULL: 52:54:00:12:34:5N
 * for the Nth net; a multicast address is refused.
 */
EVVM_API int evvm_add_net_tap(struct evvm_ctx *vm, const char *tap, const char *id,
			      const uint8_t mac[6]);

enum evvm_vhost_user_type {
	EVVM_VHOST_USER_BLK, /* a disk (evvm vhost-user-blk, qemu-storage-daemon, ...) */
	EVVM_VHOST_USER_NET, /* a network device (evvm vhost-user-net, ...) */
};

/*
 * A device served by a vhost-user backend listening on unix socket
 * @socket. @queues: 0 for the default (1), at most 16, disks only.
 * @reconnect_s: 0 for none (a backend that goes away leaves the device
 * needing a reset), else evvm tries the socket again every so many
 * seconds, at most 3600. evvm_start() waits for the backend to answer;
 * evvm_stop() ends that wait.
 */
EVVM_API int evvm_add_vhost_user(struct evvm_ctx *vm, enum evvm_vhost_user_type type,
				 const char *socket, const char *id, unsigned int queues,
				 unsigned int reconnect_s);

/* A virtio-rng device fed by getrandom(2); -EEXIST for a second one. */
EVVM_API int evvm_add_rng(struct evvm_ctx *vm);

/*
 * A virtio-console: the guest's output to @out_fd, its input from
 * @in_fd; -1 for none. -EEXIST for a second one.
 */
EVVM_API int evvm_add_console(struct evvm_ctx *vm, int in_fd, int out_fd);

/*
 * Check the description, open the files and backends, create the VM
 * and start its vCPUs on threads of its own; returns once the guest
 * runs. Call once: -EALREADY after. -EINVAL for a description that
 * cannot run (no kernel, ...), -ECANCELED when evvm_stop() came first or
 * ended a wait for a vhost-user backend, else what opening a file, a
 * backend or /dev/kvm failed with. On failure nothing is left running
 * and the VM can only be destroyed.
 */
EVVM_API int evvm_start(struct evvm_ctx *vm);

/*
 * Wait until the VM has ended and store its exit status in
 * *@status: the value the guest wrote to the debug-exit port (0xf4), 0
 * when it powered off or rebooted, 1 when the VM failed (triple fault, KVM
 * error), or what evvm_stop() gave. -EINVAL if evvm_start() did not
 * succeed. Any number of threads may wait; after the end it returns at
 * once.
 */
EVVM_API int evvm_wait(struct evvm_ctx *vm, int *status);

/*
 * Ask the VM to end with exit @status (0 to 255, else -EINVAL) and return
 * without waiting; the first request wins. Before evvm_start() has
 * returned it makes evvm_start() fail with -ECANCELED. After the end it
 * does nothing.
 */
EVVM_API int evvm_stop(struct evvm_ctx *vm, int status);

/*
 * Hold every vCPU outside the guest (devices keep serving what is already
 * queued) / let them run again. -EINVAL unless the VM runs, -ENOTSUP
 * where this build of evvm cannot pause.
 */
EVVM_API int evvm_pause(struct evvm_ctx *vm);
EVVM_API int evvm_resume(struct evvm_ctx *vm);

#ifdef __cplusplus
}
#endif

#endif
