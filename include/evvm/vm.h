/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VM_H
#define EVVM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <evvm/device.h>
#include <evvm/devices.h>

/*
 * A virtual machine: guest RAM, vCPU threads, the in-kernel irqchip, the io
 * buses and the legacy devices, and a loop thread (the caller of vm_run()).
 * Everything lives in struct evvm_vm: several VMs can run in one process.
 */

struct evvm_vm;
struct evvm_loop;
struct evvm_virtio_dev;

#define EVVM_MAX_VIRTIO	 10 /* virtio-mmio slots (one GSI each) */

#define EVVM_MEM_MIN	 (4ULL << 20) /* below this not even the test guest fits */
#define EVVM_MAX_CPUS	 64
#define EVVM_CMDLINE_MAX 4095

/* Exit status of vm_run() when the VM failed (triple fault, KVM error). */
#define EVVM_EXIT_FAILURE 1

/*
 * Kick-to-interrupt latency histograms (vmm/kick_latency.h): bucket i below
 * EVVM_KICK_LATENCY_BUCKETS - 1 counts samples under 2^i us (<1, <2, <4 ...
 * <65536 us), the last one samples of 65536 us or more.
 */
#define EVVM_KICK_LATENCY_BUCKETS 18

/* How the boot vCPU enters the kernel (docs/boot.md). */
enum evvm_boot_protocol {
	EVVM_BOOT_AUTO,	   /* PVH for an ELF with the PVH note, else the 64-bit Linux protocol */
	EVVM_BOOT_PVH,	   /* the PVH entry of an ELF (hvm_start_info in %ebx) */
	EVVM_BOOT_LINUX64, /* Linux's 64-bit boot protocol (zero page in %rsi) */
};

/* How virtio devices reach the guest (README.md: why mmio is the default). */
enum evvm_transport {
	EVVM_TRANSPORT_MMIO, /* virtio-mmio slots, found through ACPI or the command line */
	EVVM_TRANSPORT_PCI,  /* modern virtio-pci functions behind a PCI root complex */
};

struct evvm_vm_config {
	uint64_t mem_size; /* bytes, a multiple of 4 KiB, >= EVVM_MEM_MIN */
	/*
	 * Allow mem_size beyond what the host can back now (MemAvailable plus
	 * SwapFree in /proc/meminfo); without it vm_create() refuses such a VM.
	 */
	bool mem_overcommit;
	unsigned int nr_cpus;	 /* 1..EVVM_MAX_CPUS */
	const char *kernel_name; /* names the kernel in messages */
	const void *kernel;	 /* ELF or bzImage, read by vm_create() only */
	size_t kernel_size;
	enum evvm_boot_protocol boot;
	bool decompress_in_guest;   /* bzImage: let the kernel decompress itself */
	const char *initramfs_name; /* names the initramfs in messages */
	const void *initramfs;	    /* NULL for none; read by vm_create() only */
	size_t initramfs_size;
	const char *cmdline;	       /* may be NULL */
	int console_in;		       /* serial input fd, or -1; not owned */
	int console_out;	       /* serial output fd, or -1 to discard; not owned */
	bool ioeventfd_user;	       /* match doorbells in evvm, not in KVM */
	bool irqfd_user;	       /* inject from an evvm thread, not from KVM */
	bool testdev;		       /* the fabric test device (docs/testdev.md) */
	bool no_acpi;		       /* MP table only: no ACPI tables (docs/boot.md) */
	unsigned int poll_max_us;      /* I/O threads busy-poll this long before sleeping */
	bool track_dirty_pages;	       /* log written pages: diff snapshots (vm_snapshot_create) */
	enum evvm_transport transport; /* of every virtio device */
	/*
	 * virtio devices, each placed on the transport in this order (see
	 * docs/memory-map.md); vm_create() owns them from the call on, also
	 * when it fails. On virtio-mmio their virtio_mmio.device= entries are
	 * appended to the command line.
	 */
	struct evvm_virtio_dev *devices[EVVM_MAX_VIRTIO];
	unsigned int nr_devices;
	/*
	 * vm_restore() only: the snapshot's disks with these drive ids use
	 * these files instead of the ones they had (a clone's own copy).
	 */
	const struct evvm_disk_override *disk_overrides;
	unsigned int nr_disk_overrides;
	/* vm_restore() only: the snapshot's net devices with these ids on these taps. */
	const struct evvm_net_override *net_overrides;
	unsigned int nr_net_overrides;
	/*
	 * vm_restore() only: builds the devices a vhost-user backend served
	 * (vhost_user_dev_load: the VMM knows no vhost-user; whoever wires
	 * the layers gives it), NULL refuses a snapshot that has one. Waits
	 * on a backend end once @vhost_user_cancel_fd is readable (-1: never).
	 */
	virtio_dev_loader *vhost_user_load;
	int vhost_user_cancel_fd;
};

/* A disk's new file at restore (struct evvm_vm_config). */
struct evvm_disk_override {
	const char *id;	  /* the drive id ("rootfs"; "blkN" for `evvm run --disk`) */
	const char *path; /* the file; for a drive a vhost-user backend serves, its socket */
};

/* A network interface's new tap at restore: Firecracker's network_overrides. */
struct evvm_net_override {
	const char *id;	 /* the interface id (iface_id; "netN" for `evvm run --net`) */
	const char *tap; /* host_dev_name */
};

/* A benchmark marker written by the guest to testdev's MARK register. */
struct evvm_mark {
	uint32_t value;
	uint64_t ns; /* CLOCK_MONOTONIC */
};

/*
 * Create a VM from @cfg and load its kernel. Returns 0 and sets *@out, or
 * -errno after logging one line that names what failed.
 */
int vm_create(const struct evvm_vm_config *cfg, struct evvm_vm **out);

/*
 * Run the vCPUs until the guest exits or vm_stop() is called, dispatching
 * the VM's loop in the calling thread. Returns the exit status (0..255): the
 * value the guest wrote to the debug-exit port, EVVM_EXIT_FAILURE if the VM
 * failed, or the status given to vm_stop(). Call once.
 */
int vm_run(struct evvm_vm *vm);

/* Ask the VM to stop with @status; the first request wins. Thread-safe. */
void vm_stop(struct evvm_vm *vm, int status);

/*
 * Pause the VM: every vCPU stops between two KVM_RUNs (at once: they are
 * kicked out of the guest) and every virtio device finishes the requests
 * it has in flight and then leaves its rings alone (no request in flight,
 * no ring touched, no interrupt sent) until vm_resume(). Returns once all
 * of that holds: 0 (also when already paused), -ECANCELED if the VM is
 * stopping, or -errno from a device that could not quiesce (logged; the
 * VM then runs on as before). vCPUs not started yet by vm_run() park
 * before their first instruction. Thread-safe; not from a vCPU or I/O
 * thread of the VM itself.
 */
int vm_pause(struct evvm_vm *vm);

/*
 * Resume a paused VM: devices take up their work (kicks that came while
 * paused included), then the vCPUs run on. Nothing is lost. 0 (also when
 * not paused), or -errno from a device that could not resume (logged; the
 * vCPUs run anyway). Same threads as vm_pause().
 */
int vm_resume(struct evvm_vm *vm);

/* Whether vm_pause() has paused the VM (and no vm_resume() followed). */
bool vm_is_paused(struct evvm_vm *vm);

/*
 * Press Ctrl+Alt+Del on the VM's i8042 keyboard (a Linux guest reboots,
 * which ends the VM). 0, or -ENOBUFS if the guest left too many earlier
 * bytes unread. Thread-safe.
 */
int vm_send_ctrl_alt_del(struct evvm_vm *vm);

/*
 * The virtio device in slot @slot (the order of cfg->devices), or NULL. It
 * belongs to the VM: use it only through functions made for a device on a
 * transport (blk_set_path()), while the VM exists.
 */
struct evvm_virtio_dev *vm_virtio_dev(struct evvm_vm *vm, unsigned int slot);

/* The loop vm_run() dispatches, for callers that add their own fds. */
struct evvm_loop *vm_loop(struct evvm_vm *vm);

/* Copy up to @max markers the guest wrote (in order); returns how many there were. */
unsigned int vm_marks(struct evvm_vm *vm, struct evvm_mark *out, unsigned int max);

/* One virtio device's counters in struct evvm_vm_metrics. */
struct evvm_dev_metrics {
	const char *id; /* the device's id ("blk0"), valid while the VM exists; NULL: no device */
	uint32_t device_id;	  /* VIRTIO_ID_* */
	unsigned int nr_counters; /* the device's own (ops->counters) */
	struct evvm_dev_counter counters[EVVM_DEV_MAX_COUNTERS];
	bool kicks_seen; /* false: not counted here (a vhost-user backend reads them) */
	unsigned int nr_queues;
	uint64_t kicks[EVVM_VIRTIO_MAX_QUEUES];	     /* the guest's QueueNotify writes */
	uint64_t interrupts[EVVM_VIRTIO_MAX_QUEUES]; /* used-buffer notifications sent */
	/* Samples of the time from a kick's wakeup to the queue's next interrupt. */
	uint64_t kick_to_interrupt[EVVM_VIRTIO_MAX_QUEUES][EVVM_KICK_LATENCY_BUCKETS];
	uint64_t config_interrupts;
};

/* Counters since the VM was created, for Firecracker-style metrics. */
struct evvm_vm_metrics {
	/* Exits of every vCPU, summed. */
	uint64_t exit_io_in, exit_io_out, exit_mmio_read, exit_mmio_write, vcpu_failures;
	/* COM1: register reads and writes, output failures. */
	uint64_t uart_read_count, uart_write_count, uart_error_count;
	struct evvm_dev_metrics dev[EVVM_MAX_VIRTIO]; /* by slot (the order of cfg->devices) */
};

/* Fill *@m (a snapshot; exact once the VM has stopped). Thread-safe. */
void vm_get_metrics(struct evvm_vm *vm, struct evvm_vm_metrics *m);

/* Write the fabric's counters (ioeventfds, irqfds, loops) as text or JSON. */
void vm_print_stats(struct evvm_vm *vm, FILE *f, bool json);

/* What a snapshot's memory file holds (Firecracker's snapshot_type). */
enum evvm_snapshot_type {
	EVVM_SNAPSHOT_FULL, /* all of guest RAM (sparse where the guest never wrote) */
	/*
	 * The pages written since the last snapshot of this VM, or since the
	 * restore that made it, at their offsets in a sparse file of RAM's
	 * size; the rest are holes. vm_snapshot_rebase() writes it onto that
	 * base's memory file. Needs cfg.track_dirty_pages, and no device
	 * served by another process (a vhost-user backend's writes are not
	 * logged). Before any base, every page.
	 */
	EVVM_SNAPSHOT_DIFF,
};

/*
 * Snapshot a paused VM (vm_pause()): guest RAM as @type says to
 * @mem_path, every vCPU's, the irqchip's, PIT's, clock's, the legacy
 * devices' and the virtio devices' state (transport registers, queues,
 * what builds each device again; a vhost-user device's rings as its
 * backend stopped them at the pause) to the state file @state_path, each
 * through a temporary file renamed into place. -ENOTSUP for what is not
 * saved yet (the test device), -EBUSY if not paused or if a vhost-user
 * backend stopped with requests it had taken and not completed, -EINVAL
 * for a diff the VM cannot make, else 0 or -errno; every failure is
 * logged naming the file.
 */
int vm_snapshot_create(struct evvm_vm *vm, const char *state_path, const char *mem_path,
		       enum evvm_snapshot_type type);

/*
 * Write the pages of the diff snapshot memory file @diff_path (its data:
 * what is not a hole) into the memory file @base_path of the snapshot it
 * was taken against, in place, and fsync it; both must have one size
 * (Firecracker's rebase-snap). 0 or -errno, logged naming the file.
 */
int vm_snapshot_rebase(const char *base_path, const char *diff_path);

/*
 * A VM from a snapshot: its shape (memory size, vCPUs) from the state
 * file @state_path, guest RAM mapped MAP_PRIVATE from @mem_path (pages
 * load on first touch, the file is never written; with a vhost-user
 * device, whose backend maps guest RAM too, a memfd the file is copied
 * into instead), its virtio devices built again (disks open their saved
 * files, or @base's disk_overrides; net devices their saved taps, or
 * @base's net_overrides; vhost-user devices connect to their saved
 * sockets, or the disk_overrides', through @base's vhost_user_load),
 * every saved state loaded. @base gives what the snapshot does not hold:
 * console fds (a virtio console writes to console_out and reads nothing),
 * mem_overcommit, ioeventfd_user, irqfd_user, track_dirty_pages (the
 * memory file is then the next diff's base), disk_overrides,
 * net_overrides, vhost_user_load; its devices
 * must be none. Refuses (-EINVAL, logged naming the file and the fault) a
 * state file of the wrong magic or version, corrupt or truncated, a
 * memory file of the wrong size, device state that does not hold (queues
 * outside RAM, sizes, features not offered, a disk of another size, a
 * vhost-user backend that is missing, lacks a feature the guest accepted
 * or shows another config space), or
 * an override naming no disk or interface of the snapshot, a tap that
 * cannot be opened; nothing of a half-restored
 * VM is left. 0 and *@out (run it with vm_run()), or -errno.
 */
int vm_restore(const struct evvm_vm_config *base, const char *state_path, const char *mem_path,
	       struct evvm_vm **out);

/* Free everything; the VM must not be running. NULL is ignored. */
void vm_destroy(struct evvm_vm *vm);

#endif
