// SPDX-License-Identifier: MIT
/* The VM description into a VM config: files mapped, command line, devices. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "../vhost/frontend.h"
#include "vmdesc.h"

#define fail(msg, ...) (snprintf(msg, VMDESC_MSG_MAX, __VA_ARGS__), -EINVAL)

/* Map a kernel or initrd file read-only; it is copied into guest RAM at create. */
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

/* The boot arguments, plus root= for a root drive (as Firecracker adds it). */
static int compose_cmdline(const struct vm_desc *d, char **out, char *msg)
{
	const struct vmdesc_drive *root = NULL;
	const char *base = d->boot.cmdline ? d->boot.cmdline : "";
	int n;

	for (unsigned int i = 0; i < d->nr_drives; i++)
		if (d->drives[i].is_root)
			root = &d->drives[i];
	if (!root)
		n = asprintf(out, "%s", base);
	else if (root->partuuid)
		n = asprintf(out, "%s%sroot=PARTUUID=%s %s", base, *base ? " " : "", root->partuuid,
			     root->readonly ? "ro" : "rw");
	else
		n = asprintf(out, "%s%sroot=/dev/vda %s", base, *base ? " " : "",
			     root->readonly ? "ro" : "rw");
	if (n < 0)
		return -ENOMEM;
	if ((size_t)n > EVVM_CMDLINE_MAX) {
		free(*out);
		*out = NULL;
		return fail(msg, "boot_args with root=: %d bytes, the limit is %u", n,
			    EVVM_CMDLINE_MAX);
	}
	return 0;
}

static int add_device(struct evvm_vm_config *cfg, int err, struct evvm_virtio_dev *dev)
{
	if (!err)
		cfg->devices[cfg->nr_devices++] = dev;
	return err;
}

/* A drive's place: the root drive first, then the others in their order. */
static const struct vmdesc_drive *drive_at(const struct vm_desc *d, unsigned int pos)
{
	unsigned int root = d->nr_drives;

	for (unsigned int i = 0; i < d->nr_drives; i++)
		if (d->drives[i].is_root)
			root = i;
	if (root == d->nr_drives)
		return &d->drives[pos];
	if (pos == 0)
		return &d->drives[root];
	return &d->drives[pos <= root ? pos - 1 : pos];
}

unsigned int vmdesc_drive_slot(const struct vm_desc *d, unsigned int i)
{
	unsigned int pos = 0;

	while (pos < d->nr_drives && drive_at(d, pos) != &d->drives[i])
		pos++;
	return pos;
}

unsigned int vmdesc_net_slot(const struct vm_desc *d, unsigned int i)
{
	return d->nr_drives + i;
}

/* The rx and tx rate limiters of @n's device @dev, if it has any. */
static int net_limits(const struct vmdesc_net *n, struct evvm_virtio_dev *dev)
{
	if (!n->rx_rate_limited && !n->tx_rate_limited)
		return 0;
	return net_set_rate_limit(dev, n->rx_rate_limited ? &n->rx_rate_limit : NULL,
				  n->tx_rate_limited ? &n->tx_rate_limit : NULL);
}

/* Waits on a vhost-user backend give up once @cancel_fd is readable (-ECANCELED). */
static int add_devices(const struct vm_desc *d, int cancel_fd, struct evvm_vm_config *cfg)
{
	const struct vmdesc_stdio *io = &d->stdio;
	const struct console_config cc = {
		.in_fd = io->set		? io->console_in
			 : isatty(STDIN_FILENO) ? STDIN_FILENO
						: -1,
		.out_fd = io->set ? io->console_out : STDOUT_FILENO,
	};
	struct evvm_virtio_dev *dev = NULL;
	int err = 0;

	for (unsigned int i = 0; i < d->nr_drives && !err; i++) {
		const struct vmdesc_drive *drv = drive_at(d, i);
		const struct blk_config bc = { drv->path, drv->readonly, drv->id,
					       vmdesc_drive_queues(d, drv),
					       drv->rate_limited ? &drv->rate_limit : NULL };
		const struct vhost_user_opts vu = { drv->socket, drv->queues, drv->reconnect_s,
						    cancel_fd };
		char id[16];

		snprintf(id, sizeof(id), "blk%u", i);
		if (drv->socket) {
			err = vhost_user_dev_create(id, VIRTIO_ID_BLOCK, &vu, &dev);
		} else {
			err = blk_create(id, &bc, &dev);
			if (!err)
				dev->nr_iothreads = drv->iothreads;
		}
		err = add_device(cfg, err, dev);
	}
	for (unsigned int i = 0; i < d->nr_nets && !err; i++) {
		const struct vmdesc_net *n = &d->nets[i];
		struct net_config nc = { .tap = n->tap, .event_idx = n->event_idx };
		const struct vhost_user_opts vu = { n->socket, 0, n->reconnect_s, cancel_fd };

		memcpy(nc.mac, n->mac, sizeof(nc.mac));
		if (n->socket)
			err = vhost_user_dev_create(n->id, VIRTIO_ID_NET, &vu, &dev);
		else if (!(err = net_create(n->id, &nc, &dev)) && (err = net_limits(n, dev)))
			virtio_dev_destroy(dev);
		err = add_device(cfg, err, dev);
	}
	/* Create, then add: in one call the old @dev could be read before it is set. */
	if (!err && d->rng) {
		err = rng_create("rng0", &dev);
		if (!err && d->rng_rate_limited && (err = rng_set_rate_limit(dev, &d->rng_rate_limit)))
			virtio_dev_destroy(dev);
		err = add_device(cfg, err, dev);
	}
	if (!err && d->console) {
		err = console_create("console0", &cc, &dev);
		err = add_device(cfg, err, dev);
	}
	return err;
}

int vmdesc_build(const struct vm_desc *d, const void *demo, size_t demo_size, int cancel_fd,
		 struct vmdesc_built *out, char *msg)
{
	struct evvm_vm_config *cfg = &out->cfg;
	int err;

	*out = (struct vmdesc_built){ 0 };
	if (vmdesc_validate(d, msg)) {
		pr_err("%s", msg);
		return -EINVAL;
	}
	*cfg = (struct evvm_vm_config){
		.mem_size = d->machine.mem_size,
		.mem_overcommit = d->machine.overcommit,
		.track_dirty_pages = d->machine.track_dirty_pages,
		.nr_cpus = d->machine.vcpus,
		.boot = d->boot.boot,
		.decompress_in_guest = d->boot.decompress_in_guest,
		.console_in = d->stdio.set			    ? d->stdio.serial_in
			      : isatty(STDIN_FILENO) && !d->console ? STDIN_FILENO
								    : -1,
		.console_out = d->stdio.set ? d->stdio.serial_out : STDOUT_FILENO,
		.ioeventfd_user = d->ioeventfd_user,
		.irqfd_user = d->irqfd_user,
		.testdev = d->testdev,
		.no_acpi = d->no_acpi,
		.transport = d->transport,
		.poll_max_us = d->poll_max_us,
	};
	err = compose_cmdline(d, &out->cmdline, msg);
	if (err)
		return err;
	cfg->cmdline = out->cmdline;
	if (d->boot.kernel) {
		err = map_file("kernel", d->boot.kernel, &cfg->kernel, &cfg->kernel_size);
		if (err)
			goto fail;
		out->kernel_mapped = true;
		cfg->kernel_name = d->boot.kernel;
	} else {
		cfg->kernel = demo;
		cfg->kernel_size = demo_size;
		cfg->kernel_name = "(bundled demo guest)";
	}
	if (d->boot.initrd) {
		err = map_file("initrd", d->boot.initrd, &cfg->initramfs, &cfg->initramfs_size);
		if (err)
			goto fail;
		cfg->initramfs_name = d->boot.initrd;
	}
	err = add_devices(d, cancel_fd, cfg);
	if (err)
		goto fail;
	return 0;
fail:
	snprintf(msg, VMDESC_MSG_MAX, "cannot build the VM: %s (see the log)", evvm_strerror(err));
	vmdesc_unbuild(out);
	return err;
}

void vmdesc_unbuild(struct vmdesc_built *b)
{
	struct evvm_vm_config *cfg = &b->cfg;

	/* Devices still listed were never handed to vm_create(). */
	for (unsigned int i = 0; i < cfg->nr_devices; i++)
		virtio_dev_destroy(cfg->devices[i]);
	cfg->nr_devices = 0;
	if (b->kernel_mapped)
		munmap((void *)cfg->kernel, cfg->kernel_size);
	if (cfg->initramfs)
		munmap((void *)cfg->initramfs, cfg->initramfs_size);
	free(b->cmdline);
	*b = (struct vmdesc_built){ 0 };
}
