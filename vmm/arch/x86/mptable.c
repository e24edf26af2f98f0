// SPDX-License-Identifier: MIT
/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
 * learns the processors, the IOAPIC and the ISA interrupt wiring.
 */
#include <errno.h>
#include <string.h>

#include "../../vm.h"
#include "x86.h"

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;  /* configuration table */
	uint8_t length;	   /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t entries;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags; /* polarity and trigger; 0 = conforms to the bus */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
} __attribute__((packed));

enum {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_INTSRC = 3,
	MP_LINTSRC = 4,
};

enum { MP_IRQ_INT = 0, MP_IRQ_NMI = 1, MP_IRQ_EXTINT = 3 };

#define CPU_ENABLED   0x1
#define CPU_BOOTSTRAP 0x2
#define APIC_VERSION  0x14 /* integrated xAPIC */
#define IOAPIC_VER    0x11
#define ISA_IRQS      16

static uint8_t mp_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

int mptable_write(const struct evvm_mem *mem, uint64_t gpa, unsigned int nr_cpus,
		  uint32_t cpu_signature, uint32_t cpu_features)
{
	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
		      nr_cpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + ISA_IRQS * sizeof(struct mpc_intsrc) +
		      2 * sizeof(struct mpc_intsrc);
	uint8_t ioapic_id = nr_cpus;
	struct mpf_intel *mpf;
	struct mpc_table *mpc;
	uint8_t *base, *p;
	uint16_t entries = 0;

	if (nr_cpus == 0 || nr_cpus > 254 || (gpa & 15))
		return -EINVAL;
	base = mem_translate(mem, gpa, size);
	if (!base)
		return -EFAULT;
	memset(base, 0, size);

	mpf = (struct mpf_intel *)base;
	mpc = (struct mpc_table *)(mpf + 1);
	p = (uint8_t *)(mpc + 1);

	for (unsigned int i = 0; i < nr_cpus; i++, entries++) {
		struct mpc_cpu *c = (struct mpc_cpu *)p;

		c->type = MP_PROCESSOR;
		c->apic_id = i;
		c->apic_ver = APIC_VERSION;
		c->flags = CPU_ENABLED | (i == 0 ? CPU_BOOTSTRAP : 0);
		c->signature = cpu_signature;
		c->features = cpu_features;
		p += sizeof(*c);
	}

	struct mpc_bus *bus = (struct mpc_bus *)p;
	bus->type = MP_BUS;
	memcpy(bus->bus_type, "ISA   ", 6);
	p += sizeof(*bus);
	entries++;

	struct mpc_ioapic *io = (struct mpc_ioapic *)p;
	*io = (struct mpc_ioapic){ MP_IOAPIC, ioapic_id, IOAPIC_VER, CPU_ENABLED, IOAPIC_BASE };
	p += sizeof(*io);
	entries++;

	/* KVM's default routing sends GSI n to IOAPIC pin n: say so. */
	for (unsigned int irq = 0; irq < ISA_IRQS; irq++, entries++) {
		struct mpc_intsrc *s = (struct mpc_intsrc *)p;

		*s = (struct mpc_intsrc){ MP_INTSRC, MP_IRQ_INT, 0, 0, irq, ioapic_id, irq };
		p += sizeof(*s);
	}

	/* Every local APIC: LINT0 is the 8259's ExtINT, LINT1 is NMI. */
	struct mpc_intsrc *l = (struct mpc_intsrc *)p;
	l[0] = (struct mpc_intsrc){ MP_LINTSRC, MP_IRQ_EXTINT, 0, 0, 0, 0xff, 0 };
	l[1] = (struct mpc_intsrc){ MP_LINTSRC, MP_IRQ_NMI, 0, 0, 0, 0xff, 1 };
	p += 2 * sizeof(*l);
	entries += 2;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = p - (uint8_t *)mpc;
	mpc->spec_rev = 4;
	memcpy(mpc->oem, "EVVM    ", 8);
	memcpy(mpc->product, "EVVM        ", 12);
	mpc->entries = entries;
	mpc->lapic = LAPIC_BASE;
	mpc->checksum = mp_checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = gpa + sizeof(*mpf);
	mpf->length = 1;
	mpf->spec_rev = 4;
	mpf->checksum = mp_checksum(mpf, sizeof(*mpf));

	return p - base;
}
