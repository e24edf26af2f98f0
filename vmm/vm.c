// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <evvm/confine.h>
#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>

#include "arch/x86/acpi.h"
#include "arch/x86/x86.h"
#include "boot/boot.h"
#include "boot/linux.h"
#include "pci.h"
#include "uart.h"
#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "vm.h"

/* Capabilities evvm cannot run without. */
static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
};

static int kvm_open(struct evvm_vm *vm)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int err = -errno;

		pr_err("/dev/kvm: open: %s", evvm_strerror(err));
		return err;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		pr_err("/dev/kvm: API version %d, evvm needs %d", version, KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			pr_err("/dev/kvm: %s is missing", required_caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* Fail with a message naming the ioctl. */
static int vm_ioctl(struct evvm_vm *vm, unsigned long req, unsigned long arg, const char *name)
{
	if (ioctl(vm->vm_fd, req, arg) < 0) {
		int err = -errno;

		pr_err("%s: %s", name, evvm_strerror(err));
		return err;
	}
	return 0;
}

static int vm_add_ram(struct evvm_vm *vm, unsigned int slot, uint64_t gpa, uint64_t offset,
		      uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)vm->ram + offset,
		.flags = vm->cfg.track_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0,
	};
	struct evvm_mem_region m = {
		.gpa = gpa,
		.size = size,
		.hva = (char *)vm->ram + offset,
		.fd = vm->mem_fd,
		.offset = offset,
	};
	int err;

	err = vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r,
		       "KVM_SET_USER_MEMORY_REGION");
	if (err)
		return err;
	return mem_add_region(&vm->mem, &m);
}

/*
 * Guest RAM: one memfd, below 3 GiB and, for the rest, above 4 GiB. A
 * restored VM (@ram_fd >= 0) maps its snapshot's memory file privately
 * instead: pages load on first touch, writes stay in this process, and the
 * regions have no fd (nothing may share a private mapping's pages); or,
 * with @shared, the memfd the restore filled (vm_create_from()).
 */
static int vm_create_ram(struct evvm_vm *vm, int ram_fd, bool shared)
{
	uint64_t size = vm->cfg.mem_size;
	uint64_t low = size < LOW_RAM_END ? size : LOW_RAM_END;
	int err;

	if (ram_fd >= 0 && shared) {
		vm->mem_fd = fcntl(ram_fd, F_DUPFD_CLOEXEC, 0);
		if (vm->mem_fd < 0)
			return -errno;
		ram_fd = -1; /* from here on, as a new VM's memfd */
	}
	if (ram_fd < 0 && vm->mem_fd < 0) {
		vm->mem_fd = mem_memfd_create("evvm-ram", size);
		if (vm->mem_fd < 0) {
			err = vm->mem_fd;
			pr_err("guest RAM (%llu MiB): sealed memfd: %s",
			       (unsigned long long)(size >> 20), evvm_strerror(err));
			return err;
		}
	}
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       (ram_fd < 0 ? MAP_SHARED : MAP_PRIVATE) | MAP_NORESERVE,
		       ram_fd < 0 ? vm->mem_fd : ram_fd, 0);
	if (vm->ram == MAP_FAILED) {
		err = -errno;
		vm->ram = NULL;
		pr_err("guest RAM (%llu MiB): mmap: %s", (unsigned long long)(size >> 20),
		       evvm_strerror(err));
		return err;
	}
	vm->ram_size = size;
	/* Backing huge guest RAM with THP where the host allows it; advice only. */
	madvise(vm->ram, size, MADV_HUGEPAGE);

	/* Slots in address order: region i of vm->mem is slot i. */
	err = vm_add_ram(vm, 0, 0, 0, low);
	if (!err && size > low)
		err = vm_add_ram(vm, 1, HIGH_RAM_START, low, size - low);
	if (!err && vm->cfg.track_dirty_pages) {
		err = mem_log_start(&vm->mem);
		if (err)
			pr_err("guest RAM: dirty page log: %s", evvm_strerror(err));
	}
	return err;
}

static void vm_uart_set_irq(void *opaque, int level)
{
	vm_set_irq_line(opaque, COM1_IRQ, level);
}

static void vm_irq_hook(void *opaque, unsigned int gsi, int level)
{
	vm_set_irq_line(opaque, gsi, level);
}

static void vm_stop_hook(void *opaque, int status)
{
	vm_stop(opaque, status);
}

static void vm_console_input(void *opaque, uint32_t events);

static void vm_uart_rx_ready(void *opaque)
{
	struct evvm_vm *vm = opaque;

	/* Called from a vCPU thread: epoll_ctl itself is thread-safe. */
	if (vm->cfg.console_in >= 0)
		loop_mod(vm->loop, vm->cfg.console_in, EPOLLIN);
}

static void vm_console_input(void *opaque, uint32_t events)
{
	struct evvm_vm *vm = opaque;
	size_t space = uart_rx_space(vm->uart);
	uint8_t buf[16];
	ssize_t n;
	size_t done;

	(void)events;
	if (space == 0) {
		/* Full: pause until the guest reads (vm_uart_rx_ready). */
		loop_mod(vm->loop, vm->cfg.console_in, 0);
		return;
	}
	/* Read no more than the FIFO can take so nothing is ever dropped. */
	n = read(vm->cfg.console_in, buf, space < sizeof(buf) ? space : sizeof(buf));
	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		/* EOF or error: the guest just gets no more input. */
		loop_del(vm->loop, vm->cfg.console_in);
		return;
	}
	done = uart_receive(vm->uart, buf, n);
	if (done < (size_t)n)
		pr_warn("com1: %zd input bytes lost", n - (ssize_t)done);
	if (uart_rx_space(vm->uart) == 0)
		loop_mod(vm->loop, vm->cfg.console_in, 0);
}

static int vm_create_devices(struct evvm_vm *vm)
{
	struct uart_config uc = {
		.name = "com1",
		.out_fd = vm->cfg.console_out,
		.set_irq = vm_uart_set_irq,
		.rx_ready = vm_uart_rx_ready,
		.opaque = vm,
	};
	int err;

	err = uart_create(&uc, &vm->uart);
	if (err)
		return err;
	err = iobus_register(&vm->pio, COM1_PORT, 8, &uart_iobus_ops, vm->uart, "com1");
	if (!err)
		err = debug_exit_init(&vm->pio, &vm->stop);
	if (!err)
		err = i8042_create(&vm->pio, &vm->stop, &vm->irq, &vm->i8042);
	if (!err && !vm->cfg.no_acpi)
		err = acpi_sleep_init(&vm->pio, &vm->stop);
	if (!err && vm->cfg.console_in >= 0)
		err = loop_add(vm->loop, vm->cfg.console_in, EPOLLIN, vm_console_input, vm);
	if (!err && vm->cfg.testdev)
		err = testdev_create(vm, &vm->testdev);
	if (err)
		pr_err("legacy devices: %s", evvm_strerror(err));
	return err;
}

static bool kvm_has(struct evvm_vm *vm, int cap)
{
	return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static int vm_create_fabric(struct evvm_vm *vm)
{
	int err;

	/* Where the kernel path is missing, the userspace one stands in for it. */
	if (!vm->cfg.ioeventfd_user && !kvm_has(vm, KVM_CAP_IOEVENTFD)) {
		pr_warn("KVM has no KVM_CAP_IOEVENTFD: doorbells are matched in evvm");
		vm->cfg.ioeventfd_user = true;
	}
	if (!vm->cfg.irqfd_user &&
	    !(kvm_has(vm, KVM_CAP_IRQFD) && kvm_has(vm, KVM_CAP_IRQ_ROUTING) &&
	      kvm_has(vm, KVM_CAP_IRQFD_RESAMPLE))) {
		pr_warn("KVM lacks irqfd, routing or resample: interrupts are injected by evvm");
		vm->cfg.irqfd_user = true;
	}

	err = ioeventfd_table_init(&vm->ioeventfds, vm->vm_fd, vm->cfg.ioeventfd_user);
	if (err)
		return err;
	err = irqfd_table_init(&vm->irqfds, vm->vm_fd, vm->cfg.irqfd_user);
	vm->fabric_ready = true; /* destroy both, even after a partial init */
	if (err) {
		pr_err("irqfd table: %s", evvm_strerror(err));
		return err;
	}
	return 0;
}

/* Interrupt lines for virtio-mmio devices: ISA IRQs nothing else uses. */
static const uint32_t virtio_gsis[EVVM_MAX_VIRTIO] = { 5, 6, 7, 9, 10, 11, 12, 13, 14, 15 };

/* Every device behind a PCI root complex, BARs 64 KiB apart; ACPI describes the bus. */
static int vm_create_virtio_pci(struct evvm_vm *vm)
{
	struct virtio_pci_host host = {
		.mem = &vm->mem,
		.ioeventfds = &vm->ioeventfds,
		.irqfds = &vm->irqfds,
		.poll_max_us = vm->cfg.poll_max_us,
	};
	int err;

	vm->cmdline = strdup(vm->cfg.cmdline ? vm->cfg.cmdline : "");
	if (!vm->cmdline)
		return -ENOMEM;
	vm->pci = calloc(1, sizeof(*vm->pci));
	if (!vm->pci)
		return -ENOMEM;
	err = pci_bus_init(vm->pci, &vm->pio, &vm->mmio);
	host.bus = vm->pci;
	for (unsigned int i = 0; i < vm->cfg.nr_devices; i++) {
		uint32_t bars = (uint32_t)(PCI_MMIO_BASE + i * VIRTIO_PCI_DEV_STRIDE);
		struct evvm_virtio_dev *dev = vm->cfg.devices[i];

		vm->cfg.devices[i] = NULL; /* the transport owns it now */
		if (!err)
			err = virtio_pci_create(&host, dev, bars, &vm->virtio_pci[i]);
		else
			virtio_dev_destroy(dev);
	}
	return err;
}

/* Place every device and append what a Linux guest needs to find it. */
static int vm_create_virtio(struct evvm_vm *vm)
{
	const char *base = vm->cfg.cmdline ? vm->cfg.cmdline : "";
	size_t len = strlen(base), cap = len + 1 + vm->cfg.nr_devices * 48;
	int err = 0;

	if (vm->cfg.transport == EVVM_TRANSPORT_PCI)
		return vm_create_virtio_pci(vm);
	vm->cmdline = malloc(cap);
	if (!vm->cmdline)
		return -ENOMEM;
	memcpy(vm->cmdline, base, len + 1);
	for (unsigned int i = 0; i < vm->cfg.nr_devices; i++) {
		uint64_t addr = VIRTIO_MMIO_BASE + i * (uint64_t)VIRTIO_MMIO_SIZE;
		struct evvm_virtio_dev *dev = vm->cfg.devices[i];

		vm->cfg.devices[i] = NULL; /* the transport owns it now */
		if (!err)
			err = virtio_mmio_create(vm, dev, addr, virtio_gsis[i], &vm->virtio[i]);
		else
			virtio_dev_destroy(dev);
		if (err)
			continue;
		len += snprintf(vm->cmdline + len, cap - len, "%svirtio_mmio.device=4K@0x%llx:%u",
				len ? " " : "", (unsigned long long)addr, virtio_gsis[i]);
		pr_info("%s: virtio_mmio.device=4K@0x%llx:%u", dev->id, (unsigned long long)addr,
			virtio_gsis[i]);
	}
	if (!err && len > EVVM_CMDLINE_MAX) {
		pr_err("command line with the virtio_mmio.device= entries is %zu bytes, the limit "
		       "is %u",
		       len, EVVM_CMDLINE_MAX);
		err = -E2BIG;
	}
	return err;
}

/* ACPI tables naming the vCPUs and the virtio devices placed above. */
static int vm_write_acpi(struct evvm_vm *vm)
{
	struct acpi_mmio_dev virtio[EVVM_MAX_VIRTIO];
	const struct acpi_pci pci = {
		.ecam = PCI_ECAM_BASE,
		.io_base = PCI_IO_BASE,
		.io_size = PCI_IO_SIZE,
		.mmio_base = PCI_MMIO_BASE,
		.mmio_size = PCI_MMIO_SIZE,
		.intx_gsi_base = PCI_INTX_GSI_BASE,
		.nr_intx = PCI_INTX_GSIS,
	};
	bool on_pci = vm->cfg.transport == EVVM_TRANSPORT_PCI;
	struct acpi_config acpi = {
		.nr_cpus = vm->cfg.nr_cpus,
		.virtio = virtio,
		.nr_virtio = on_pci ? 0 : vm->cfg.nr_devices,
		.pci = on_pci ? &pci : NULL,
	};
	int err;

	for (unsigned int i = 0; i < vm->cfg.nr_devices; i++)
		virtio[i] = (struct acpi_mmio_dev){
			.base = VIRTIO_MMIO_BASE + i * (uint64_t)VIRTIO_MMIO_SIZE,
			.size = VIRTIO_MMIO_SIZE,
			.gsi = virtio_gsis[i],
		};
	err = acpi_write(&vm->mem, ACPI_RSDP_GPA, &acpi);
	if (err)
		pr_err("ACPI tables: %s", evvm_strerror(err));
	return err;
}

/*
 * What the host can back now: MemAvailable (free and reclaimable memory)
 * plus SwapFree, in bytes. Guest RAM is a MAP_NORESERVE memfd, so nothing
 * refuses a larger VM until a guest touches too much of it and the OOM
 * killer ends the VM (or something else) later.
 */
static int host_backable_bytes(uint64_t *out)
{
	unsigned long long avail = 0, swap = 0, v;
	bool have_avail = false;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) {
			avail = v;
			have_avail = true;
		} else if (sscanf(line, "SwapFree: %llu kB", &v) == 1) {
			swap = v;
		}
	}
	fclose(f);
	if (!have_avail)
		return -ENOENT;
	*out = (avail + swap) << 10;
	return 0;
}

static int vm_check_memory(const struct evvm_vm_config *cfg)
{
	uint64_t backable = 0;
	int err;

	if (cfg->mem_size < EVVM_MEM_MIN || (cfg->mem_size & 0xfff)) {
		pr_err("memory size %llu bytes: must be a multiple of 4 KiB and at least %llu MiB",
		       (unsigned long long)cfg->mem_size, EVVM_MEM_MIN >> 20);
		return -EINVAL;
	}
	if (cfg->mem_overcommit)
		return 0;
	err = host_backable_bytes(&backable);
	if (err == -ENOENT && access("/proc/meminfo", F_OK)) {
		/* No procfs: evvm jailed (evvm jailer mounts none), where a cgroup limits it. */
		pr_warn("guest RAM: /proc/meminfo is not there (in a jail?): what the host can "
			"back is not checked");
		return 0;
	}
	if (err) {
		pr_err("guest RAM: cannot read MemAvailable from /proc/meminfo (%s); "
		       "overcommit=on skips the check",
		       evvm_strerror(err));
		return err;
	}
	if (cfg->mem_size > backable) {
		pr_err("guest RAM %llu MiB: the host can back %llu MiB now (MemAvailable + "
		       "SwapFree); overcommit=on allows it anyway",
		       (unsigned long long)(cfg->mem_size >> 20),
		       (unsigned long long)(backable >> 20));
		return -ENOMEM;
	}
	return 0;
}

static int vm_check_config(const struct evvm_vm_config *cfg)
{
	int err = vm_check_memory(cfg);

	if (err)
		return err;
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > EVVM_MAX_CPUS) {
		pr_err("%u vCPUs: evvm supports 1 to %u", cfg->nr_cpus, EVVM_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->nr_devices > EVVM_MAX_VIRTIO) {
		pr_err("%u virtio devices: evvm supports at most %u", cfg->nr_devices,
		       EVVM_MAX_VIRTIO);
		return -EINVAL;
	}
	if (cfg->cmdline && strlen(cfg->cmdline) > EVVM_CMDLINE_MAX) {
		pr_err("command line is %zu bytes, the limit is %u", strlen(cfg->cmdline),
		       EVVM_CMDLINE_MAX);
		return -E2BIG;
	}
	return 0;
}

_Static_assert(EVVM_MAX_CPUS == LAYOUT_MAX_CPUS, "the API's vCPU limit is the layout's");

int vm_create(const struct evvm_vm_config *cfg, struct evvm_vm **out)
{
	return vm_create_from(cfg, -1, false, out);
}

int vm_create_from(const struct evvm_vm_config *cfg, int ram_fd, bool ram_shared,
		   struct evvm_vm **out)
{
	bool restoring = ram_fd >= 0;
	struct kvm_pit_config pit = { .flags = 0 };
	struct boot_entry entry;
	struct evvm_vm *vm;
	uint32_t sig, features;
	int max_cpus, err;

	err = vm_check_config(cfg);
	vm = err ? NULL : calloc(1, sizeof(*vm));
	if (!vm) {
		/* The devices are ours whatever happens. */
		for (unsigned int i = 0; i < cfg->nr_devices && i < EVVM_MAX_VIRTIO; i++)
			virtio_dev_destroy(cfg->devices[i]);
		return err ? err : -ENOMEM;
	}
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
	/* How vCPUs and legacy devices end the VM. */
	vm->stop = (struct stop_hook){ .stop = vm_stop_hook, .opaque = vm };
	vm->irq = (struct irq_hook){ .set_irq = vm_irq_hook, .opaque = vm };
	mem_init(&vm->mem);
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->go_cond, NULL);
	if (gate_init(&vm->gate) || iobus_init(&vm->pio, "pio") || iobus_init(&vm->mmio, "mmio")) {
		free(vm);
		return -ENOMEM;
	}
	err = loop_create(&vm->loop, "vm");
	if (err)
		goto fail;

	err = kvm_open(vm);
	if (err)
		goto fail;
	max_cpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_cpus > 0 && cfg->nr_cpus > (unsigned int)max_cpus) {
		pr_err("%u vCPUs: this KVM allows at most %d", cfg->nr_cpus, max_cpus);
		err = -EINVAL;
		goto fail;
	}
	/* Allowed, but vCPU threads then share host CPUs. */
	max_cpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_cpus > 0 && cfg->nr_cpus > (unsigned int)max_cpus)
		pr_info("%u vCPUs: more than the %d KVM recommends (KVM_CAP_NR_VCPUS)",
			cfg->nr_cpus, max_cpus);
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		err = -errno;
		pr_err("KVM_CREATE_VM: %s", evvm_strerror(err));
		goto fail;
	}
	err = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (err <= 0) {
		err = err < 0 ? -errno : -EINVAL;
		pr_err("KVM_GET_VCPU_MMAP_SIZE: %s", evvm_strerror(err));
		goto fail;
	}
	vm->run_size = err;

	/* Real-mode support pages for VMX, in the hole below 4 GiB. */
	err = vm_ioctl(vm, KVM_SET_TSS_ADDR, KVM_TSS_ADDR, "KVM_SET_TSS_ADDR");
	if (!err) {
		uint64_t idmap = KVM_IDMAP_ADDR;

		err = vm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&idmap,
			       "KVM_SET_IDENTITY_MAP_ADDR");
	}
	if (!err)
		err = vm_ioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
	if (!err)
		err = vm_ioctl(vm, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2");
	if (!err)
		err = vm_create_ram(vm, ram_fd, ram_shared);
	if (!err)
		err = vm_create_fabric(vm);
	if (!err)
		err = vm_create_devices(vm);
	if (!err)
		err = vm_create_virtio(vm);
	/* A restored guest has its kernel and tables in its RAM already. */
	if (!err && !restoring)
		err = boot_load_kernel(vm, &entry);
	if (!err)
		err = cpuid_get_supported(vm->kvm_fd, &vm->cpuid);
	if (err)
		goto fail;

	cpuid_signature(vm->cpuid, &sig, &features);
	err = restoring ? 0 : mptable_write(&vm->mem, MPTABLE_GPA, cfg->nr_cpus, sig, features);
	if (err < 0) {
		pr_err("MP table: %s", evvm_strerror(err));
		goto fail;
	}
	err = cfg->no_acpi || restoring ? 0 : vm_write_acpi(vm);
	if (err)
		goto fail;

	vm->vcpus = calloc(cfg->nr_cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < cfg->nr_cpus; i++) {
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].run = MAP_FAILED;
	}
	vm->nr_vcpus = cfg->nr_cpus;
	for (unsigned int i = 0; i < cfg->nr_cpus; i++) {
		err = vcpu_create(vm, &vm->vcpus[i], i);
		if (err)
			goto fail;
	}
	err = restoring ? 0 : boot_setup_vcpus(vm, &entry);
	if (err)
		goto fail;
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return err;
}

int vm_set_irq_line(struct evvm_vm *vm, unsigned int gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
		int err = -errno;

		pr_err("KVM_IRQ_LINE gsi %u: %s", gsi, evvm_strerror(err));
		return err;
	}
	return 0;
}

void vm_stop(struct evvm_vm *vm, int status)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (!atomic_load(&vm->stopping)) {
		vm->status = status;
		atomic_store(&vm->stopping, true);
		gate_stop(&vm->gate); /* parked vCPUs end too */
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
		loop_stop(vm->loop);
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

int vm_run(struct evvm_vm *vm)
{
	int err = 0;

	/* Under the stop lock, so vm_stop() sees every started thread. */
	pthread_mutex_lock(&vm->stop_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus && !err; i++)
		err = vcpu_start(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->stop_lock);
	/*
	 * Each vCPU thread has confined itself and waits for go: the guest's
	 * first instruction runs only once every thread, this one included,
	 * has its seccomp list (docs/seccomp.md). This thread confines itself
	 * after creating them, so that they do not inherit its list. On
	 * failure, stopping is set before go, so the vCPUs end at once.
	 */
	if (!err)
		err = confine_thread(EVVM_THREAD_MAIN);
	if (err)
		vm_stop(vm, EVVM_EXIT_FAILURE);
	pthread_mutex_lock(&vm->stop_lock);
	vm->go = true;
	pthread_cond_broadcast(&vm->go_cond);
	pthread_mutex_unlock(&vm->stop_lock);

	if (!err && loop_run(vm->loop) < 0)
		vm_stop(vm, EVVM_EXIT_FAILURE);

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	return vm->status;
}

unsigned int vm_marks(struct evvm_vm *vm, struct evvm_mark *out, unsigned int max)
{
	return vm->testdev ? testdev_marks(vm->testdev, out, max) : 0;
}

int vm_send_ctrl_alt_del(struct evvm_vm *vm)
{
	return i8042_ctrl_alt_del(vm->i8042);
}

struct evvm_virtio_dev *vm_virtio_dev(struct evvm_vm *vm, unsigned int slot)
{
	if (slot >= EVVM_MAX_VIRTIO)
		return NULL;
	if (vm->virtio[slot])
		return virtio_mmio_dev(vm->virtio[slot]);
	if (vm->virtio_pci[slot])
		return virtio_pci_dev(vm->virtio_pci[slot]);
	return NULL;
}

struct evvm_loop *vm_loop(struct evvm_vm *vm)
{
	return vm->loop;
}

void vm_destroy(struct evvm_vm *vm)
{
	if (!vm)
		return;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(vm, &vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	/* Teardown reverses setup: devices let go of their fds before the tables. */
	for (unsigned int i = EVVM_MAX_VIRTIO; i-- > 0;)
		virtio_mmio_destroy(vm->virtio[i]);
	for (unsigned int i = EVVM_MAX_VIRTIO; i-- > 0;)
		virtio_pci_destroy(vm->virtio_pci[i]);
	if (vm->pci)
		pci_bus_destroy(vm->pci);
	free(vm->pci);
	for (unsigned int i = 0; i < vm->cfg.nr_devices; i++)
		virtio_dev_destroy(vm->cfg.devices[i]); /* not yet handed to a transport */
	free(vm->cmdline);
	testdev_destroy(vm->testdev);
	if (vm->fabric_ready) {
		irqfd_table_destroy(&vm->irqfds);
		ioeventfd_table_destroy(&vm->ioeventfds);
	}
	uart_destroy(vm->uart);
	i8042_destroy(vm->i8042);
	loop_destroy(vm->loop);
	iobus_destroy(&vm->pio);
	iobus_destroy(&vm->mmio);
	mem_log_stop(&vm->mem);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	gate_destroy(&vm->gate);
	pthread_cond_destroy(&vm->go_cond);
	free(vm);
}
