// SPDX-License-Identifier: MIT
/* The VM description: its sections and their checks (the build is in vmdesc_build.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <evvm/device.h>

#include "vmdesc.h"

#define fail(msg, ...) (snprintf(msg, VMDESC_MSG_MAX, __VA_ARGS__), -EINVAL)

void vmdesc_init(struct vm_desc *d)
{
	*d = (struct vm_desc){
		.machine = { .vcpus = 1, .mem_size = VMDESC_DEF_MEM },
		.logger = { .level = -1 },
	};
}

void vmdesc_boot_release(struct vmdesc_boot *b)
{
	free(b->kernel);
	free(b->initrd);
	free(b->cmdline);
	*b = (struct vmdesc_boot){ 0 };
}

void vmdesc_drive_release(struct vmdesc_drive *drv)
{
	free(drv->path);
	free(drv->socket);
	free(drv->partuuid);
	*drv = (struct vmdesc_drive){ 0 };
}

void vmdesc_net_release(struct vmdesc_net *n)
{
	free(n->tap);
	free(n->socket);
	*n = (struct vmdesc_net){ 0 };
}

void vmdesc_release(struct vm_desc *d)
{
	vmdesc_boot_release(&d->boot);
	for (unsigned int i = 0; i < d->nr_drives; i++)
		vmdesc_drive_release(&d->drives[i]);
	for (unsigned int i = 0; i < d->nr_nets; i++)
		vmdesc_net_release(&d->nets[i]);
	free(d->logger.path);
	free(d->metrics.path);
	d->nr_drives = d->nr_nets = 0;
	d->logger.path = d->metrics.path = NULL;
}

void vmdesc_default_mac(uint8_t mac[6], unsigned int index)
{
	const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x50 };

	memcpy(mac, base, sizeof(base));
	mac[5] += index;
}

int vmdesc_check_machine(const struct vmdesc_machine *m, char *msg)
{
	if (m->vcpus < 1 || m->vcpus > EVVM_MAX_CPUS)
		return fail(msg, "vcpu_count (--cpus boot=) %u: must be 1 to %u", m->vcpus,
			    EVVM_MAX_CPUS);
	if (m->mem_size < EVVM_MEM_MIN || (m->mem_size & 0xfff))
		return fail(msg,
			    "mem_size_mib (--memory size=): %llu bytes: must be a multiple of 4K "
			    "and at least %lluM",
			    (unsigned long long)m->mem_size, EVVM_MEM_MIN >> 20);
	if (m->smt)
		return fail(msg, "smt: evvm does not offer SMT (only false is accepted)");
	return 0;
}

int vmdesc_check_boot(const struct vmdesc_boot *b, bool kernel_required, char *msg)
{
	if (!b->kernel && kernel_required)
		return fail(msg, "boot-source: kernel_image_path is not set: cannot start "
				 "the microVM without a kernel");
	if (b->kernel && !*b->kernel)
		return fail(msg, "kernel_image_path (--kernel): empty");
	if (b->initrd && !*b->initrd)
		return fail(msg, "initrd_path (--initramfs): empty");
	if (!b->kernel && (b->initrd || b->decompress_in_guest || b->boot != EVVM_BOOT_AUTO))
		return fail(msg, "initrd_path (--initramfs), --boot and --kernel-decompress "
				 "need --kernel (kernel_image_path)");
	if (b->cmdline && strlen(b->cmdline) > EVVM_CMDLINE_MAX)
		return fail(msg, "boot_args (--cmdline): %zu bytes, the limit is %u",
			    strlen(b->cmdline), EVVM_CMDLINE_MAX);
	return 0;
}

/* An id: printable, no blanks, no ',' (the flag grammar's separator). */
static int check_id(const char *what, const char *id, char *msg)
{
	if (!*id)
		return fail(msg, "%s: empty", what);
	for (const char *p = id; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ',')
			return fail(msg,
				    "%s '%s': blanks, commas and control characters are not "
				    "allowed",
				    what, id);
	return 0;
}

int vmdesc_check_drive(const struct vmdesc_drive *drv, char *msg)
{
	if (check_id("drive_id", drv->id, msg))
		return -EINVAL;
	if (!drv->path == !drv->socket)
		return fail(msg,
			    "drive '%s': exactly one of path_on_host and socket (vhost-user) "
			    "is needed",
			    drv->id);
	if (drv->path && !*drv->path)
		return fail(msg, "drive '%s': path_on_host: empty", drv->id);
	if (drv->socket && (!*drv->socket || drv->readonly))
		return fail(msg,
			    "drive '%s': socket: a vhost-user backend decides the mode "
			    "(no is_read_only) and needs a path",
			    drv->id);
	if (drv->socket && drv->rate_limited)
		return fail(msg, "drive '%s': rate_limiter: a vhost-user backend does its own",
			    drv->id);
	if (!drv->socket && drv->reconnect_s)
		return fail(msg, "drive '%s': reconnect is for a vhost-user socket", drv->id);
	if (drv->iothreads > EVVM_VIRTIO_MAX_QUEUES || (drv->queues && drv->iothreads > drv->queues))
		return fail(msg, "drive '%s': iothreads %u: 1 to the drive's queues", drv->id,
			    drv->iothreads);
	/* (a clone of the disk has no rate limiter, and a new path would reach one thread) */
	if (drv->iothreads > 1 && (drv->socket || drv->rate_limited))
		return fail(msg,
			    "drive '%s': iothreads: for a local disk without rate_limiter "
			    "(a vhost-user backend has its own --iothreads)",
			    drv->id);
	if (drv->queues > EVVM_VIRTIO_MAX_QUEUES || drv->reconnect_s > VMDESC_RECONNECT_MAX)
		return fail(msg, "drive '%s': queues (1 to %u) or reconnect (1 to %u s) out of range",
			    drv->id, EVVM_VIRTIO_MAX_QUEUES, VMDESC_RECONNECT_MAX);
	if (drv->partuuid && (!*drv->partuuid || strpbrk(drv->partuuid, " \t\n")))
		return fail(msg, "drive '%s': partuuid: empty or with white space", drv->id);
	return 0;
}

int vmdesc_check_net(const struct vmdesc_net *n, char *msg)
{
	if (check_id("iface_id", n->id, msg))
		return -EINVAL;
	if (!n->tap == !n->socket)
		return fail(msg,
			    "network interface '%s': exactly one of host_dev_name (a tap) "
			    "and socket (vhost-user) is needed",
			    n->id);
	if (n->tap && (!*n->tap || strlen(n->tap) > VMDESC_TAP_MAX))
		return fail(msg, "network interface '%s': host_dev_name: 1 to %u characters", n->id,
			    VMDESC_TAP_MAX);
	if (n->socket && (!*n->socket || n->mac_given || n->event_idx_given))
		return fail(msg,
			    "network interface '%s': socket: a vhost-user backend decides "
			    "the MAC and features, and needs a path",
			    n->id);
	if (n->socket && (n->rx_rate_limited || n->tx_rate_limited))
		return fail(msg,
			    "network interface '%s': rx_rate_limiter, tx_rate_limiter: a "
			    "vhost-user backend does its own",
			    n->id);
	if (n->reconnect_s && (!n->socket || n->reconnect_s > VMDESC_RECONNECT_MAX))
		return fail(msg,
			    "network interface '%s': reconnect: 1 to %u s, for a vhost-user socket",
			    n->id, VMDESC_RECONNECT_MAX);
	if (n->mac[0] & 1)
		return fail(msg, "network interface '%s': guest_mac: a multicast address", n->id);
	return 0;
}

/* One file or block device? (Paths that do not stat are left to blk_create() to report.) */
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
static int check_drives_distinct(const struct vm_desc *d, unsigned int i, char *msg)
{
	const struct vmdesc_drive *b = &d->drives[i];

	for (unsigned int j = 0; j < i; j++) {
		const struct vmdesc_drive *a = &d->drives[j];

		if (!a->path || !b->path || (a->readonly && b->readonly) ||
		    !same_disk(a->path, b->path))
			continue;
		if (!strcmp(a->path, b->path))
			return fail(msg, "disk '%s' given twice", b->path);
		return fail(msg, "disk '%s' given twice (also as '%s')", b->path, a->path);
	}
	return 0;
}

/*
 * A local disk without queues=: one per vCPU on pci (as QEMU's
 * virtio-blk-pci), where each queue has its own doorbell and its own
 * MSI-X vector, so a CPU submits and completes on a queue of its own; one
 * on mmio, where every queue shares one QueueNotify register and one
 * interrupt line, so more queues would only add rings for the one I/O
 * thread to scan. 0: one queue and no VIRTIO_BLK_F_MQ, as before queues=.
 * A vhost-user disk keeps 1 (the backend must have what is asked).
 */
unsigned int vmdesc_drive_queues(const struct vm_desc *d, const struct vmdesc_drive *drv)
{
	unsigned int n = d->machine.vcpus;

	if (drv->queues || drv->socket || d->transport != EVVM_TRANSPORT_PCI)
		return drv->queues;
	if (n > EVVM_VIRTIO_MAX_QUEUES)
		n = EVVM_VIRTIO_MAX_QUEUES;
	return n > 1 ? n : 0;
}

/* iothreads=M against the VM: pci only, and at most the queues the disk gets. */
static int check_drive_iothreads(const struct vm_desc *d, const struct vmdesc_drive *drv,
				 char *msg)
{
	unsigned int queues = vmdesc_drive_queues(d, drv);

	if (drv->iothreads <= 1)
		return 0;
	if (d->transport != EVVM_TRANSPORT_PCI)
		return fail(msg, "drive '%s': iothreads=%u needs --transport=pci", drv->id,
			    drv->iothreads);
	if (drv->iothreads > (queues ? queues : 1))
		return fail(msg, "drive '%s': iothreads=%u: more than its %u queue%s", drv->id,
			    drv->iothreads, queues ? queues : 1, queues > 1 ? "s" : "");
	return 0;
}

int vmdesc_validate(const struct vm_desc *d, char *msg)
{
	unsigned int nr = d->nr_drives + d->nr_nets + d->rng + d->console, roots = 0;

	if (vmdesc_check_machine(&d->machine, msg) ||
	    vmdesc_check_boot(&d->boot, d->kernel_required, msg))
		return -EINVAL;
	if (nr > EVVM_MAX_VIRTIO)
		return fail(msg, "%u virtio devices: at most %u", nr, EVVM_MAX_VIRTIO);
	for (unsigned int i = 0; i < d->nr_drives; i++) {
		if (vmdesc_check_drive(&d->drives[i], msg))
			return -EINVAL;
		roots += d->drives[i].is_root;
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(d->drives[i].id, d->drives[j].id))
				return fail(msg, "drive_id '%s': given twice", d->drives[i].id);
		if (check_drives_distinct(d, i, msg))
			return -EINVAL;
		if (check_drive_iothreads(d, &d->drives[i], msg))
			return -EINVAL;
	}
	if (roots > 1)
		return fail(msg, "is_root_device: %u drives claim it, at most one may", roots);
	for (unsigned int i = 0; i < d->nr_nets; i++) {
		if (vmdesc_check_net(&d->nets[i], msg))
			return -EINVAL;
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(d->nets[i].id, d->nets[j].id))
				return fail(msg, "iface_id '%s': given twice", d->nets[i].id);
	}
	return 0;
}

int vmdesc_put_drive(struct vm_desc *d, struct vmdesc_drive *drv, char *msg)
{
	unsigned int i, nr = d->nr_drives + d->nr_nets + d->rng + d->console;

	if (vmdesc_check_drive(drv, msg))
		return -EINVAL;
	for (i = 0; i < d->nr_drives && strcmp(d->drives[i].id, drv->id); i++)
		;
	if (i == d->nr_drives && nr >= EVVM_MAX_VIRTIO)
		return fail(msg, "drive '%s': at most %u virtio devices", drv->id, EVVM_MAX_VIRTIO);
	for (unsigned int j = 0; j < d->nr_drives; j++)
		if (j != i && drv->is_root && d->drives[j].is_root)
			return fail(msg,
				    "drive '%s': is_root_device: drive '%s' already is the "
				    "root device",
				    drv->id, d->drives[j].id);
	if (i < d->nr_drives)
		vmdesc_drive_release(&d->drives[i]);
	else
		d->nr_drives++;
	d->drives[i] = *drv;
	*drv = (struct vmdesc_drive){ 0 };
	return 0;
}

int vmdesc_put_net(struct vm_desc *d, struct vmdesc_net *n, char *msg)
{
	unsigned int i, nr = d->nr_drives + d->nr_nets + d->rng + d->console;

	if (vmdesc_check_net(n, msg))
		return -EINVAL;
	for (i = 0; i < d->nr_nets && strcmp(d->nets[i].id, n->id); i++)
		;
	if (i == d->nr_nets && nr >= EVVM_MAX_VIRTIO)
		return fail(msg, "network interface '%s': at most %u virtio devices", n->id,
			    EVVM_MAX_VIRTIO);
	if (i < d->nr_nets)
		vmdesc_net_release(&d->nets[i]);
	else
		d->nr_nets++;
	d->nets[i] = *n;
	*n = (struct vmdesc_net){ 0 };
	return 0;
}

int vmdesc_set_boot(struct vm_desc *d, struct vmdesc_boot *b, char *msg)
{
	if (vmdesc_check_boot(b, d->kernel_required, msg))
		return -EINVAL;
	vmdesc_boot_release(&d->boot);
	d->boot = *b;
	*b = (struct vmdesc_boot){ 0 };
	return 0;
}
