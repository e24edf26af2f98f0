/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VM_VMDESC_H
#define EVVM_VM_VMDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evvm/devices.h>
#include <evvm/vm.h>

/*
 * One description of a VM, whatever filled it: `evvm run`'s flags, a
 * Firecracker config file, or the API. Plain data; every string is owned
 * (malloc'd) and freed by vmdesc_release(). The vmdesc_check_*() functions
 * are the only place values are judged; vmdesc_build() turns a checked
 * description into a struct evvm_vm_config with its devices.
 */

#define VMDESC_ID_MAX	  20 /* a drive id is the serial the guest reads: 20 bytes */
#define VMDESC_MSG_MAX	  256
#define VMDESC_DEF_MEM	  (128ULL << 20)
#define VMDESC_TAP_MAX	  15
#define VMDESC_NET_ID_MAX 23
#define VMDESC_RECONNECT_MAX 3600 /* seconds between tries to reach a vhost-user backend */

struct vmdesc_machine {
	unsigned int vcpus;
	uint64_t mem_size; /* bytes */
	bool overcommit;   /* allow more than the host can back now (--memory overcommit=on) */
	bool smt;	   /* Firecracker's; only false is accepted */
	bool track_dirty_pages;
};

struct vmdesc_boot {
	char *kernel; /* NULL: the bundled demo guest (unless required) */
	char *initrd;
	char *cmdline;
	enum evvm_boot_protocol boot;
	bool decompress_in_guest;
};

/* A virtio-blk disk: a file evvm serves, or a vhost-user backend's socket. */
struct vmdesc_drive {
	char id[VMDESC_ID_MAX + 1];
	char *path;
	char *socket;
	char *partuuid;
	bool readonly;
	bool is_root;
	bool writeback; /* Firecracker's cache_type Writeback (flush reaches the file) */
	bool io_async;	/* Firecracker's io_engine Async (evvm always uses io_uring) */
	unsigned int queues;	  /* 1..EVVM_VIRTIO_MAX_QUEUES, 0: the default (vmdesc_drive_queues) */
	unsigned int iothreads;	  /* local, pci: 0 (one) or 1..queues; queue q on thread q % M */
	unsigned int reconnect_s; /* vhost-user only: 0 or 1..VMDESC_RECONNECT_MAX */
	bool rate_limited;		  /* rate_limiter given (not for vhost-user) */
	struct evvm_rate_limit rate_limit;
};

/* A virtio-net device: a tap evvm serves, or a vhost-user backend's socket. */
struct vmdesc_net {
	char id[VMDESC_NET_ID_MAX + 1];
	char *tap;
	char *socket;
	uint8_t mac[6];
	bool mac_given;
	bool event_idx;
	bool event_idx_given;
	unsigned int reconnect_s; /* vhost-user only, as for drives */
	/* rx_rate_limiter, tx_rate_limiter given (not for vhost-user) */
	bool rx_rate_limited, tx_rate_limited;
	struct evvm_rate_limit rx_rate_limit, tx_rate_limit;
};

struct vmdesc_logger {
	char *path; /* NULL: stderr */
	int level;  /* enum evvm_log_level, or -1 for unchanged */
	bool show_level;
	bool show_origin; /* show_log_origin */
	bool set; /* configured (reported by GET /vm/config) */
};

struct vmdesc_metrics {
	char *path; /* NULL: none */
	bool emit_id;
};

struct vm_desc {
	struct vmdesc_machine machine;
	struct vmdesc_boot boot;
	bool kernel_required; /* Firecracker mode: no demo guest */
	struct vmdesc_drive drives[EVVM_MAX_VIRTIO];
	unsigned int nr_drives;
	struct vmdesc_net nets[EVVM_MAX_VIRTIO];
	unsigned int nr_nets;
	bool rng;
	bool rng_rate_limited; /* the entropy device's rate_limiter given */
	struct evvm_rate_limit rng_rate_limit;
	bool console;
	struct vmdesc_logger logger;
	struct vmdesc_metrics metrics;
	/* evvm's own knobs (flags of `evvm run` only) */
	bool ioeventfd_user;
	bool irqfd_user;
	bool testdev;
	bool no_acpi;
	enum evvm_transport transport; /* of every virtio device */
	unsigned int poll_max_us;
	/* The serial port's and the virtio console's fds (not owned); !set: the terminal. */
	struct vmdesc_stdio {
		bool set;
		int serial_in, serial_out;
		int console_in, console_out;
	} stdio;
};

/* Defaults: 1 vCPU, 128 MiB, no devices, logging unchanged. */
void vmdesc_init(struct vm_desc *d);

/* Free every string; @d may be vmdesc_init()ed again afterwards. */
void vmdesc_release(struct vm_desc *d);

/* Free one section's strings (for a parsed section that is not applied). */
void vmdesc_boot_release(struct vmdesc_boot *b);
void vmdesc_drive_release(struct vmdesc_drive *drv);
void vmdesc_net_release(struct vmdesc_net *n);

/*
 * Each check returns 0, or -EINVAL with a message in @msg (VMDESC_MSG_MAX
 * bytes) that names the field and says what is allowed.
 */
int vmdesc_check_machine(const struct vmdesc_machine *m, char *msg);
int vmdesc_check_boot(const struct vmdesc_boot *b, bool kernel_required, char *msg);
int vmdesc_check_drive(const struct vmdesc_drive *drv, char *msg);
int vmdesc_check_net(const struct vmdesc_net *n, char *msg);

/* Every section, the device count, unique ids and at most one root drive. */
int vmdesc_validate(const struct vm_desc *d, char *msg);

/*
 * Insert @drv (or @n), or replace the one with its id, after checking it
 * against @d; on success @d owns its strings and *@drv is zeroed, on
 * failure the caller still owns them.
 */
int vmdesc_put_drive(struct vm_desc *d, struct vmdesc_drive *drv, char *msg);
int vmdesc_put_net(struct vm_desc *d, struct vmdesc_net *n, char *msg);

/* Replace the boot source after checking it; ownership as for vmdesc_put_drive(). */
int vmdesc_set_boot(struct vm_desc *d, struct vmdesc_boot *b, char *msg);

/* What vmdesc_build() made that the caller must give back with vmdesc_unbuild(). */
struct vmdesc_built {
	struct evvm_vm_config cfg;
	char *cmdline;
	bool kernel_mapped;
};

/*
 * Validate @d, map its kernel and initrd, compose the command line (a root
 * drive adds root=...) and create its virtio devices in their fixed order
 * (root drive, other drives, nets, rng, console). Returns 0, or -errno
 * after logging one line (a validation failure also fills @msg); -ECANCELED
 * when @cancel_fd (-1 for none) became readable while a vhost-user backend
 * was awaited. @demo/@demo_size: the kernel used when d->boot.kernel is NULL.
 */
int vmdesc_build(const struct vm_desc *d, const void *demo, size_t demo_size, int cancel_fd,
		 struct vmdesc_built *out, char *msg);

/*
 * Unmap the files and free the command line; devices still listed in
 * b->cfg are destroyed (set b->cfg.nr_devices to 0 once vm_create() took
 * them, whether it succeeded or not).
 */
void vmdesc_unbuild(struct vmdesc_built *b);

/* The device slot vmdesc_build() gives d->drives[@i] (the root drive comes first). */
unsigned int vmdesc_drive_slot(const struct vm_desc *d, unsigned int i);

/* The device slot vmdesc_build() gives d->nets[@i] (after the drives). */
unsigned int vmdesc_net_slot(const struct vm_desc *d, unsigned int i);

/* The queues vmdesc_build() gives @drv (0: one, without VIRTIO_BLK_F_MQ). */
unsigned int vmdesc_drive_queues(const struct vm_desc *d, const struct vmdesc_drive *drv);

/* "52:54:00:12:34:5N" for the Nth network device (N from 0). */
void vmdesc_default_mac(uint8_t mac[6], unsigned int index);

#endif
