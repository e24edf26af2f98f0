// SPDX-License-Identifier: MIT
/*
 * The raw-KVM reference host for tests=bench: everything a VMM must do to
 * run the test guest's benchmark, written straight against <linux/kvm.h>
 * with no evvm code, so the difference to evvm is evvm's overhead.
 *
 * Guest-physical layout (as evvm's, docs/memory-map.md): RAM from 0 in one
 * slot, hvm_start_info at 0x1000, its memory map at 0x1040, the command line
 * at 0x2000, the kernel at or above 1 MiB. Port 0xf4 ends the run, port
 * 0x518 (testdev's MARK) timestamps phases, COM1 swallows output; every
 * other port and all MMIO reads as all-ones.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "raw_kvm.h"

#define TSS_ADDR		 0xfffbd000UL
#define IDENTITY_MAP_ADDR	 0xfffbc000ULL
#define START_INFO_GPA		 0x1000UL
#define MEMMAP_GPA		 0x1040UL
#define CMDLINE_GPA		 0x2000UL
#define CMDLINE_MAX		 4095
#define KERNEL_MIN_GPA		 0x100000UL
#define EBDA_GPA		 0x9fc00UL
#define MMIO_HOLE_GPA		 0xc0000000ULL
#define MEM_MB_MIN		 2
#define QUIET_OFFSET		 0x1000 /* phase 2 doorbell, see docs/testdev.md */
#define MEM_MB_MAX		 (MMIO_HOLE_GPA >> 20)

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC		 0x336ec578
#define E820_RAM		 1

#define MSI_GSI			 24	     /* first GSI past the IOAPIC's 24 pins */
#define MSI_ADDR		 0xfee00000U /* destination APIC 0 */
#define IOAPIC_PINS		 24
#define PIC_IRQS		 16

#define EXIT_PORT		 0xf4
#define MARK_PORT		 0x518
#define MARK_END		 0x100U
#define NR_PHASES		 3
#define COM1_BASE		 0x3f8
#define COM1_LSR		 (COM1_BASE + 5)
#define COM1_LSR_IDLE		 0x60 /* THR empty, transmitter idle */

#define X86_CR0_PE		 0x1
#define X86_CR0_ET		 0x10

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

struct raw_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	int kick_fd;  /* the ioeventfd's eventfd: the guest's doorbell */
	int quiet_fd; /* phase 2's doorbell (doorbell + 0x1000): nobody reads it */
	int irq_fd;  /* the irqfd's eventfd: the answer */
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	size_t ram_size;
	uint64_t entry;

	pthread_t responder;
	bool responder_started;
	atomic_bool stopping;

	/* MARK timestamps (CLOCK_MONOTONIC ns) per phase; 0: not seen. */
	uint64_t start_ns[NR_PHASES], end_ns[NR_PHASES];
	bool exited;
	int status;
};

static int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "raw_kvm: <message>: <strerror(-err)>" (no suffix when err is 0); returns err. */
static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("raw_kvm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(-err));
	fputc('\n', stderr);
	return err;
}

static int sys_fail(const char *what)
{
	return fail(-errno, "%s", what);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Does [off, off + len) lie inside [0, size)? */
static bool in_range(uint64_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

/* The PVH entry from the notes of @ph; true if found. */
static bool elf_pvh_note(const uint8_t *img, const Elf64_Phdr *ph, uint64_t *entry)
{
	uint64_t off = ph->p_offset, end = ph->p_offset + ph->p_filesz;

	while (end - off >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *n = (const void *)(img + off);
		uint64_t name_off = off + sizeof(*n);
		uint64_t desc_off = name_off + ((n->n_namesz + 3ULL) & ~3ULL);
		uint64_t next = desc_off + ((n->n_descsz + 3ULL) & ~3ULL);

		if (next > end)
			return false;
		if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && n->n_namesz == 4 &&
		    !memcmp(img + name_off, "Xen", 4)) {
			if (n->n_descsz == 4) {
				uint32_t v;

				memcpy(&v, img + desc_off, 4);
				*entry = v;
				return true;
			}
			if (n->n_descsz == 8) {
				memcpy(entry, img + desc_off, 8);
				return true;
			}
		}
		off = next;
	}
	return false;
}

/* Copy the PT_LOAD segments into RAM at p_paddr and find the PVH entry. */
static int load_elf(struct raw_vm *r, const void *elf, size_t size)
{
	const uint8_t *img = elf;
	const Elf64_Ehdr *eh = elf;
	const Elf64_Phdr *ph;
	uint64_t lo = UINT64_MAX, hi = 0;
	bool has_pvh = false;

	if ((uintptr_t)elf % _Alignof(Elf64_Ehdr))
		return fail(-EINVAL, "kernel: image buffer is not 8-byte aligned");
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return fail(-ENOEXEC, "kernel: not an x86-64 ELF executable");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    !in_range(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return fail(-ENOEXEC, "kernel: program headers out of the file");
	if (eh->e_phoff % _Alignof(Elf64_Phdr))
		return fail(-ENOEXEC, "kernel: misaligned program headers");
	ph = (const Elf64_Phdr *)(img + eh->e_phoff);

	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (!in_range(size, p->p_offset, p->p_filesz))
			return fail(-ENOEXEC, "kernel: segment %u lies outside the file", i);
		if (p->p_type == PT_NOTE) {
			if (p->p_offset % _Alignof(Elf64_Nhdr))
				return fail(-ENOEXEC, "kernel: misaligned note segment %u", i);
			if (!has_pvh)
				has_pvh = elf_pvh_note(img, p, &r->entry);
			continue;
		}
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz)
			return fail(-ENOEXEC, "kernel: segment %u: file size > memory size", i);
		if (p->p_paddr < KERNEL_MIN_GPA || !in_range(r->ram_size, p->p_paddr, p->p_memsz))
			return fail(
				-ENOSPC,
				"kernel: segment %u [0x%llx, +0x%llx) is not in RAM above 1 MiB", i,
				(unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz);
		memcpy(r->ram + p->p_paddr, img + p->p_offset, p->p_filesz);
		memset(r->ram + p->p_paddr + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		if (p->p_paddr < lo)
			lo = p->p_paddr;
		if (p->p_paddr + p->p_memsz > hi)
			hi = p->p_paddr + p->p_memsz;
	}
	if (lo == UINT64_MAX)
		return fail(-ENOEXEC, "kernel: no loadable segment");
	if (!has_pvh)
		return fail(-ENOEXEC, "kernel: no PVH entry (Xen ELF note 18)");
	if (r->entry < lo || r->entry >= hi)
		return fail(-ENOEXEC, "kernel: PVH entry 0x%llx is outside the loaded image",
			    (unsigned long long)r->entry);
	return 0;
}

/* hvm_start_info v1, its memory map and the command line, below 1 MiB. */
static void write_boot_info(struct raw_vm *r, const char *cmdline)
{
	struct hvm_memmap_entry mm[2] = {
		{.addr = 0, .size = EBDA_GPA, .type = E820_RAM},
		{.addr = KERNEL_MIN_GPA, .size = r->ram_size - KERNEL_MIN_GPA, .type = E820_RAM},
	};
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = CMDLINE_GPA,
		.memmap_paddr = MEMMAP_GPA,
		.memmap_entries = 2,
	};

	memcpy(r->ram + CMDLINE_GPA, cmdline, strlen(cmdline) + 1);
	memcpy(r->ram + MEMMAP_GPA, mm, sizeof(mm));
	memcpy(r->ram + START_INFO_GPA, &si, sizeof(si));
}

static int setup_ram(struct raw_vm *r, unsigned int mem_mb)
{
	struct kvm_userspace_memory_region region;

	r->ram_size = (size_t)mem_mb << 20;
	r->ram = mmap(NULL, r->ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->ram == MAP_FAILED) {
		r->ram = NULL;
		return sys_fail("mmap guest RAM");
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = r->ram_size,
		.userspace_addr = (uintptr_t)r->ram,
	};
	if (ioctl(r->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return sys_fail("KVM_SET_USER_MEMORY_REGION");
	return 0;
}

static int setup_vm(struct raw_vm *r)
{
	uint64_t idmap = IDENTITY_MAP_ADDR;
	int ret;

	r->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (r->kvm_fd < 0)
		return sys_fail("open /dev/kvm");
	ret = ioctl(r->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION)
		return fail(-ENOTSUP, "/dev/kvm: API version %d, want %d", ret, KVM_API_VERSION);
	r->vm_fd = ioctl(r->kvm_fd, KVM_CREATE_VM, 0);
	if (r->vm_fd < 0)
		return sys_fail("KVM_CREATE_VM");
	if (ioctl(r->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
		return sys_fail("KVM_SET_TSS_ADDR");
	if (ioctl(r->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return sys_fail("KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(r->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return sys_fail("KVM_CREATE_IRQCHIP");
	return 0;
}

/* KVM_GET_SUPPORTED_CPUID, as APIC 0 of a 1-CPU machine, onto the vCPU. */
static int setup_cpuid(struct raw_vm *r)
{
	struct kvm_cpuid2 *c = NULL;
	int err = 0;

	for (unsigned int nent = 64;; nent *= 2) {
		if (nent > 4096)
			return fail(-E2BIG, "KVM_GET_SUPPORTED_CPUID");
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return fail(-ENOMEM, "CPUID buffer");
		c->nent = nent;
		if (ioctl(r->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		err = -errno;
		free(c);
		if (err != -E2BIG)
			return fail(err, "KVM_GET_SUPPORTED_CPUID");
	}
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx &= 0x0000ffff; /* initial APIC id 0, 1 logical CPU field clear */
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = 0; /* x2APIC id */
	}
	err = 0;
	if (ioctl(r->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		err = sys_fail("KVM_SET_CPUID2");
	free(c);
	return err;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.db = 1,
		.s = 1,
		.g = 1,
	};
}

static int setup_vcpu(struct raw_vm *r)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {0};
	int size, err;

	r->vcpu_fd = ioctl(r->vm_fd, KVM_CREATE_VCPU, 0);
	if (r->vcpu_fd < 0)
		return sys_fail("KVM_CREATE_VCPU");
	size = ioctl(r->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return size < 0 ? sys_fail("KVM_GET_VCPU_MMAP_SIZE")
				: fail(-EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d", size);
	r->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu_fd, 0);
	if (r->run == MAP_FAILED) {
		r->run = NULL;
		return sys_fail("mmap kvm_run");
	}
	r->run_size = (size_t)size;

	err = setup_cpuid(r);
	if (err)
		return err;

	/* PVH entry: 32-bit flat protected mode, paging off, %ebx = start info. */
	if (ioctl(r->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return sys_fail("KVM_GET_SREGS");
	flat_segment(&sregs.cs, 0x10, 0xb);
	flat_segment(&sregs.ds, 0x18, 0x3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){.limit = 0x67, .type = 0xb, .present = 1};
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(r->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return sys_fail("KVM_SET_SREGS");
	regs.rip = r->entry;
	regs.rbx = START_INFO_GPA;
	regs.rflags = 0x2; /* reserved bit 1; interrupts off */
	if (ioctl(r->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return sys_fail("KVM_SET_REGS");
	return 0;
}

/*
 * GSI routing replaces KVM's whole default table, so keep the default
 * routes (GSI 0-15 to the PICs and the IOAPIC, 16-23 to the IOAPIC) and
 * add the MSI on GSI 24.
 */
static int setup_routing(struct raw_vm *r, unsigned int vector)
{
	struct kvm_irq_routing *rt;
	unsigned int n = 0;
	int err = 0;

	rt = calloc(1, sizeof(*rt) + (IOAPIC_PINS + PIC_IRQS + 1) * sizeof(rt->entries[0]));
	if (!rt)
		return fail(-ENOMEM, "GSI routing table");
	for (unsigned int gsi = 0; gsi < IOAPIC_PINS; gsi++) {
		if (gsi < PIC_IRQS) {
			rt->entries[n].gsi = gsi;
			rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			rt->entries[n].u.irqchip.irqchip =
				gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			rt->entries[n].u.irqchip.pin = gsi % 8;
			n++;
		}
		rt->entries[n].gsi = gsi;
		rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		rt->entries[n].u.irqchip.pin = gsi;
		n++;
	}
	rt->entries[n].gsi = MSI_GSI;
	rt->entries[n].type = KVM_IRQ_ROUTING_MSI;
	rt->entries[n].u.msi.address_lo = MSI_ADDR;
	rt->entries[n].u.msi.address_hi = 0;
	rt->entries[n].u.msi.data = vector; /* fixed, edge */
	n++;
	rt->nr = n;
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, rt) < 0)
		err = sys_fail("KVM_SET_GSI_ROUTING");
	free(rt);
	return err;
}

static int setup_fabric(struct raw_vm *r, uint64_t doorbell, unsigned int doorbell_len,
			unsigned int vector)
{
	struct kvm_irqfd irqfd;
	struct kvm_ioeventfd ioev;
	int err;

	err = setup_routing(r, vector);
	if (err)
		return err;

	r->irq_fd = eventfd(0, EFD_CLOEXEC);
	if (r->irq_fd < 0)
		return sys_fail("eventfd (irqfd)");
	irqfd = (struct kvm_irqfd){.fd = (uint32_t)r->irq_fd, .gsi = MSI_GSI};
	if (ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return sys_fail("KVM_IRQFD");

	r->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (r->kick_fd < 0)
		return sys_fail("eventfd (ioeventfd)");
	ioev = (struct kvm_ioeventfd){
		.addr = doorbell,
		.len = doorbell_len, /* 0: any write (KVM_FAST_MMIO_BUS where it has one) */
		.fd = r->kick_fd,
		.flags = 0, /* MMIO, no datamatch: every write of that length */
	};
	if (ioctl(r->vm_fd, KVM_IOEVENTFD, &ioev) < 0)
		return sys_fail("KVM_IOEVENTFD");

	r->quiet_fd = eventfd(0, EFD_CLOEXEC);
	if (r->quiet_fd < 0)
		return sys_fail("eventfd (quiet ioeventfd)");
	ioev.addr = doorbell + QUIET_OFFSET;
	ioev.fd = r->quiet_fd;
	if (ioctl(r->vm_fd, KVM_IOEVENTFD, &ioev) < 0)
		return sys_fail("KVM_IOEVENTFD (quiet)");
	return 0;
}

/* Answer each kick (however many coalesced) with one irqfd signal. */
static void *responder(void *arg)
{
	struct raw_vm *r = arg;
	const uint64_t one = 1;
	uint64_t kicks;
	ssize_t n;

	for (;;) {
		n = read(r->kick_fd, &kicks, sizeof(kicks));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(kicks)) {
			sys_fail("responder: read ioeventfd");
			break;
		}
		if (atomic_load_explicit(&r->stopping, memory_order_acquire))
			break;
		do
			n = write(r->irq_fd, &one, sizeof(one));
		while (n < 0 && errno == EINTR);
		if (n != sizeof(one)) {
			sys_fail("responder: write irqfd");
			break;
		}
	}
	return NULL;
}

static int start_responder(struct raw_vm *r)
{
	int err = pthread_create(&r->responder, NULL, responder, r);

	if (err)
		return fail(-err, "pthread_create");
	r->responder_started = true;
	return 0;
}

static void stop_responder(struct raw_vm *r)
{
	const uint64_t one = 1;

	if (!r->responder_started)
		return;
	atomic_store_explicit(&r->stopping, true, memory_order_release);
	/* Wake its read; a kick_fd write cannot fail short of overflow. */
	if (write(r->kick_fd, &one, sizeof(one)) != sizeof(one))
		sys_fail("wake responder");
	pthread_join(r->responder, NULL);
	r->responder_started = false;
}

static void mark(struct raw_vm *r, uint32_t v)
{
	uint64_t t = now_ns();
	unsigned int phase = v & ~MARK_END;

	if (phase < 1 || phase > NR_PHASES)
		return;
	if (v & MARK_END)
		r->end_ns[phase - 1] = t;
	else
		r->start_ns[phase - 1] = t;
}

static void handle_io(struct raw_vm *r)
{
	struct kvm_run *run = r->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned int size = run->io.size;

	if (!run->io.count || !size)
		return;
	if (run->io.direction == KVM_EXIT_IO_OUT) {
		uint32_t v = 0;

		/* With count > 1 (rep outs), the last value wins. */
		memcpy(&v, data + (size_t)(run->io.count - 1) * size, size < 4 ? size : 4);
		if (run->io.port == EXIT_PORT) {
			r->status = v & 0xff;
			r->exited = true;
		} else if (run->io.port == MARK_PORT) {
			mark(r, v);
		}
		return; /* COM1 output and everything else is dropped */
	}
	/* Reads, byte by byte: byte k of an access comes from port + k. */
	for (unsigned int i = 0; i < run->io.count; i++) {
		for (unsigned int k = 0; k < size; k++) {
			unsigned int port = run->io.port + k;
			uint8_t b = 0xff;

			if (port >= COM1_BASE && port < COM1_BASE + 8)
				b = port == COM1_LSR ? COM1_LSR_IDLE : 0;
			data[(size_t)i * size + k] = b;
		}
	}
}

static int run_loop(struct raw_vm *r)
{
	struct kvm_run *run = r->run;

	while (!r->exited) {
		if (ioctl(r->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return sys_fail("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(r);
			break;
		case KVM_EXIT_MMIO:
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff,
				       run->mmio.len <= 8 ? run->mmio.len : 8);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			return fail(-EIO, "the guest shut down (triple fault)");
		case KVM_EXIT_INTERNAL_ERROR:
			return fail(-EIO, "KVM internal error, suberror %u",
				    run->internal.suberror);
		case KVM_EXIT_FAIL_ENTRY:
			return fail(
				-EIO, "VM entry failed, reason 0x%llx",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_HLT:
			return fail(-EIO, "the guest halted with nothing to wake it");
		case KVM_EXIT_SYSTEM_EVENT:
			return fail(-EIO, "guest system event %u (no exit status written)",
				    run->system_event.type);
		default:
			return fail(-EIO, "unexpected exit reason %u", run->exit_reason);
		}
	}
	return 0;
}

static void raw_vm_destroy(struct raw_vm *r)
{
	stop_responder(r);
	if (r->run)
		munmap(r->run, r->run_size);
	if (r->vcpu_fd >= 0)
		close(r->vcpu_fd);
	if (r->vm_fd >= 0)
		close(r->vm_fd);
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	if (r->quiet_fd >= 0)
		close(r->quiet_fd);
	if (r->irq_fd >= 0)
		close(r->irq_fd);
	if (r->ram)
		munmap(r->ram, r->ram_size);
	if (r->kvm_fd >= 0)
		close(r->kvm_fd);
}

int raw_kvm_run(const void *elf, size_t size, const char *cmdline, uint64_t doorbell,
		unsigned int doorbell_len, unsigned int vector, unsigned int mem_mb,
		struct raw_result *out)
{
	struct raw_vm r = {
		.kvm_fd = -1,
		.vm_fd = -1,
		.vcpu_fd = -1,
		.kick_fd = -1,
		.quiet_fd = -1,
		.irq_fd = -1,
	};
	int err;

	memset(out, 0, sizeof(*out));
	if (!cmdline)
		cmdline = "";
	if (strlen(cmdline) > CMDLINE_MAX)
		return fail(-EINVAL, "command line longer than %d bytes", CMDLINE_MAX);
	if (mem_mb < MEM_MB_MIN || mem_mb > MEM_MB_MAX)
		return fail(-EINVAL, "memory %u MiB: want %u..%llu", mem_mb, MEM_MB_MIN,
			    (unsigned long long)MEM_MB_MAX);
	if (doorbell_len != 0 && doorbell_len != 4)
		return fail(-EINVAL, "doorbell length %u: want 0 or 4", doorbell_len);
	if (vector < 32 || vector > 255)
		return fail(-EINVAL, "MSI vector %u: want 32..255", vector);
	if (doorbell < ((uint64_t)mem_mb << 20) || doorbell > UINT64_MAX - QUIET_OFFSET - 4)
		return fail(-EINVAL, "doorbell 0x%llx: not an MMIO address past RAM",
			    (unsigned long long)doorbell);

	atomic_init(&r.stopping, false);
	err = setup_vm(&r);
	if (!err)
		err = setup_ram(&r, mem_mb);
	if (!err)
		err = load_elf(&r, elf, size);
	if (!err) {
		write_boot_info(&r, cmdline);
		err = setup_vcpu(&r);
	}
	if (!err)
		err = setup_fabric(&r, doorbell, doorbell_len, vector);
	if (!err)
		err = start_responder(&r);
	if (!err)
		err = run_loop(&r);

	if (!err) {
		out->status = r.status;
		for (unsigned int p = 0; p < NR_PHASES; p++)
			if (r.start_ns[p] && r.end_ns[p] >= r.start_ns[p])
				out->phase_ns[p] = (double)(r.end_ns[p] - r.start_ns[p]);
	}
	raw_vm_destroy(&r);
	return err;
}
