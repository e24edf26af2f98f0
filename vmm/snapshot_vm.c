// SPDX-License-Identifier: MIT
/*
 * Snapshot and restore of a whole VM: the state file (snapshot_file.c)
 * holds the VM's shape, the in-kernel irqchip, PIT and clock, the legacy
 * devices, the virtio devices (snapshot_dev.c) and every vCPU
 * (snapshot_vcpu.c); guest RAM is a file of its own, written sparse and
 * mapped back MAP_PRIVATE. The fabric (ioeventfds, irqfds, routes) is not
 * saved: the restoring process builds it again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/mem.h>

#include "snapshot.h"
#include "snapshot_file.h"
#include "uart.h"
#include "vm.h"

static const uint32_t irqchip_ids[] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
					KVM_IRQCHIP_IOAPIC };

static int vm_ioctl_named(struct evvm_vm *vm, unsigned long req, void *arg, const char *name)
{
	if (ioctl(vm->vm_fd, req, arg) < 0) {
		int err = -errno;

		pr_err("KVM_%s: %s", name, evvm_strerror(err));
		return err;
	}
	return 0;
}

static int snap_vm_save(struct evvm_vm *vm, struct snapfile *sf)
{
	struct snap_vm_config c = {
		.mem_size = vm->cfg.mem_size,
		.nr_cpus = vm->nr_vcpus,
		.no_acpi = vm->cfg.no_acpi,
	};
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	struct uart_state us;
	struct i8042_state ks;
	int err = snapfile_add(sf, SNAP_VM_CONFIG, 0, &c, sizeof(c));

	for (size_t i = 0; !err && i < sizeof(irqchip_ids) / sizeof(irqchip_ids[0]); i++) {
		struct kvm_irqchip chip = { .chip_id = irqchip_ids[i] };

		err = vm_ioctl_named(vm, KVM_GET_IRQCHIP, &chip, "GET_IRQCHIP");
		if (!err)
			err = snapfile_add(sf, SNAP_VM_IRQCHIP, irqchip_ids[i], &chip,
					   sizeof(chip));
	}
	if (!err)
		err = vm_ioctl_named(vm, KVM_GET_PIT2, &pit, "GET_PIT2");
	if (!err)
		err = snapfile_add(sf, SNAP_VM_PIT2, 0, &pit, sizeof(pit));
	if (!err)
		err = vm_ioctl_named(vm, KVM_GET_CLOCK, &clock, "GET_CLOCK");
	if (!err)
		err = snapfile_add(sf, SNAP_VM_CLOCK, 0, &clock, sizeof(clock));
	uart_save(vm->uart, &us);
	i8042_save(vm->i8042, &ks);
	if (!err)
		err = snapfile_add(sf, SNAP_DEV_UART, 0, &us, sizeof(us));
	if (!err)
		err = snapfile_add(sf, SNAP_DEV_I8042, 0, &ks, sizeof(ks));
	if (!err)
		err = snapshot_devices_save(vm, sf);
	for (unsigned int i = 0; !err && i < vm->nr_vcpus; i++)
		err = snapshot_vcpu_save(&vm->vcpus[i], sf);
	return err;
}

int vm_snapshot_create(struct evvm_vm *vm, const char *state_path, const char *mem_path,
		       enum evvm_snapshot_type type)
{
	struct snapfile sf;
	int err;

	if (!vm_is_paused(vm)) {
		pr_err("snapshot '%s': the VM must be paused", state_path);
		return -EBUSY;
	}
	if (type == EVVM_SNAPSHOT_DIFF && !vm->cfg.track_dirty_pages) {
		pr_err("snapshot '%s': a diff snapshot needs dirty page tracking "
		       "(track_dirty_pages), which this VM was started without",
		       state_path);
		return -EINVAL;
	}
	if (type == EVVM_SNAPSHOT_DIFF) {
		err = snapshot_devices_logged(vm, state_path);
		if (err)
			return err;
	}
	err = snapfile_init(&sf, state_path);
	if (err)
		return err;
	err = snap_vm_save(vm, &sf);
	if (err)
		pr_err("snapshot '%s': cannot save the VM's state: %s", state_path,
		       evvm_strerror(err));
	/* The memory first: a state file never names RAM that is not there. */
	if (!err)
		err = snapshot_mem_save(vm, mem_path, type);
	if (!err)
		err = snapfile_commit(&sf);
	snapfile_free(&sf);
	return err;
}

static int snap_vm_restore(struct evvm_vm *vm, const struct snapfile *sf)
{
	const struct uart_state *us = snapfile_find(sf, SNAP_DEV_UART, 0, sizeof(*us), NULL);
	const struct i8042_state *ks = snapfile_find(sf, SNAP_DEV_I8042, 0, sizeof(*ks), NULL);
	const void *pit = snapfile_find(sf, SNAP_VM_PIT2, 0, sizeof(struct kvm_pit_state2), NULL);
	const void *clk = snapfile_find(sf, SNAP_VM_CLOCK, 0, sizeof(struct kvm_clock_data), NULL);
	struct kvm_pit_state2 p;
	struct kvm_clock_data c;
	int err = 0;

	if (!us || !ks || !pit || !clk)
		return -EINVAL;
	if (uart_restore(vm->uart, us) || i8042_restore(vm->i8042, ks)) {
		pr_err("snapshot '%s': UART or i8042 state out of range", sf->path);
		return -EINVAL;
	}
	/* The irqchip and PIT before any vCPU state: KVM_SET_LAPIC may deliver into them. */
	for (size_t i = 0; !err && i < sizeof(irqchip_ids) / sizeof(irqchip_ids[0]); i++) {
		const void *chip = snapfile_find(sf, SNAP_VM_IRQCHIP, irqchip_ids[i],
						 sizeof(struct kvm_irqchip), NULL);
		struct kvm_irqchip k;

		if (!chip)
			return -EINVAL;
		memcpy(&k, chip, sizeof(k));
		k.chip_id = irqchip_ids[i];
		err = vm_ioctl_named(vm, KVM_SET_IRQCHIP, &k, "SET_IRQCHIP");
	}
	memcpy(&p, pit, sizeof(p));
	memcpy(&c, clk, sizeof(c));
	if (!err)
		err = vm_ioctl_named(vm, KVM_SET_PIT2, &p, "SET_PIT2");
	/* Only the clock's value: the flags KVM_GET_CLOCK reports are not input. */
	c.flags = 0;
	if (!err)
		err = vm_ioctl_named(vm, KVM_SET_CLOCK, &c, "SET_CLOCK");
	for (unsigned int i = 0; !err && i < vm->nr_vcpus; i++)
		err = snapshot_vcpu_restore(&vm->vcpus[i], sf);
	/* Devices last: a started one may complete requests, which interrupts. */
	if (!err)
		err = snapshot_devices_restore(vm, sf);
	return err;
}

static int snap_open_mem(const struct snapfile *sf, const char *mem_path, uint64_t size)
{
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		pr_err("snapshot memory '%s': open: %s", mem_path, evvm_strerror(err));
		return err;
	}
	err = snapfile_check_mem(sf, mem_path, fd, size);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Whether a device of @cfg is served by another process (kick() NULL), which maps guest RAM too. */
static bool ram_shared_needed(const struct evvm_vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_devices; i++)
		if (!cfg->devices[i]->ops->kick)
			return true;
	return false;
}

/*
 * Guest RAM a vhost-user backend can map: a memfd with the memory file's
 * data copied in (its holes stay holes), since nothing can share the pages
 * of a private mapping of the file. The copy costs the data's size at load
 * instead of a page-in at first touch. The memfd, or -errno after a line.
 */
static int snap_shared_ram(int file_fd, const char *mem_path, uint64_t size)
{
	int fd = mem_memfd_create("evvm-ram", size), err = 0;
	uint64_t off = 0;
	char *ram;

	if (fd < 0) {
		pr_err("snapshot memory '%s': memfd for a vhost-user backend: %s", mem_path,
		       evvm_strerror(fd));
		return fd;
	}
	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (ram == MAP_FAILED)
		err = -errno;
	while (!err && off < size) {
		off_t data = lseek(file_fd, off, SEEK_DATA), hole;
		ssize_t n;

		if (data < 0) {
			err = errno == ENXIO ? 0 : -errno;
			break;
		}
		hole = lseek(file_fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > size) {
			err = hole < 0 ? -errno : -EINVAL;
			break;
		}
		n = pread(file_fd, ram + data, hole - data > (1 << 30) ? (1 << 30) : hole - data,
			  data);
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		off = data + (n > 0 ? n : 0);
	}
	if (ram != MAP_FAILED)
		munmap(ram, size);
	if (err) {
		pr_err("snapshot memory '%s': copying into shared memory: %s", mem_path,
		       evvm_strerror(err));
		close(fd);
		return err;
	}
	return fd;
}

int vm_restore(const struct evvm_vm_config *base, const char *state_path, const char *mem_path,
	       struct evvm_vm **out)
{
	struct evvm_vm_config cfg = *base;
	const struct snap_vm_config *c;
	struct evvm_vm *vm = NULL;
	struct snapfile sf;
	bool shared;
	int fd, err;

	if (base->nr_devices) {
		pr_err("snapshot '%s': the devices come from the snapshot, not the caller",
		       state_path);
		return -EINVAL;
	}
	err = snapfile_load(&sf, state_path);
	if (err)
		return err;
	c = snapfile_find(&sf, SNAP_VM_CONFIG, 0, sizeof(*c), NULL);
	err = -EINVAL;
	if (!c)
		goto free_sf;
	cfg.mem_size = c->mem_size;
	cfg.nr_cpus = c->nr_cpus;
	cfg.no_acpi = c->no_acpi;
	cfg.testdev = false;
	cfg.kernel = NULL;
	cfg.kernel_size = 0;
	fd = snap_open_mem(&sf, mem_path, cfg.mem_size);
	if (fd < 0) {
		err = fd;
		goto free_sf;
	}
	err = snapshot_devices_build(&sf, &cfg);
	if (err) {
		close(fd);
		goto free_sf;
	}
	shared = ram_shared_needed(&cfg);
	if (shared) {
		int mfd = snap_shared_ram(fd, mem_path, cfg.mem_size);

		close(fd);
		fd = mfd;
	}
	if (fd < 0) {
		err = fd;
		for (unsigned int i = 0; i < cfg.nr_devices; i++)
			virtio_dev_destroy(cfg.devices[i]);
		goto free_sf;
	}
	/* vm_create_from() checks the shape (sizes, vCPU count) as for any VM. */
	err = vm_create_from(&cfg, fd, shared, &vm);
	close(fd); /* the mapping holds the file */
	if (err)
		goto free_sf;
	err = snap_vm_restore(vm, &sf);
	if (err) {
		pr_err("snapshot '%s': cannot restore the VM: %s", state_path, evvm_strerror(err));
		vm_destroy(vm);
		goto free_sf;
	}
	/* The memory file is what the next diff snapshot is taken against. */
	vm->dirty_base = cfg.track_dirty_pages;
	*out = vm;
free_sf:
	snapfile_free(&sf);
	return err;
}
