// SPDX-License-Identifier: MIT
/*
 * ACPI tables (ACPI 6.5: 5.2.5 RSDP, 5.2.8 XSDT, 5.2.9 FADT, 5.2.12 MADT,
 * 5.2.11.1 DSDT). Hardware-reduced: no SCI, PM timer, GPE or fixed
 * hardware, so evvm emulates nothing ACPI asks of a PC chipset; power-off
 * goes through the sleep control register (4.8.3.7) and reset through the
 * FADT reset register to the i8042.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"
#include "../../le.h"
#include "aml.h"

#define OEM_ID			       "EVVM  "
#define CREATOR_ID		       "EVVM"
#define SDT_HDR_LEN		       36
#define RSDP_LEN		       36
#define FADT_LEN		       276 /* revision 6 */
#define MADT_HDR_LEN		       44

#define FADT_F_RESET_REG_SUP	       (1u << 10)
#define FADT_F_HW_REDUCED_ACPI	       (1u << 20)
#define FADT_BOOT_VGA_NOT_PRESENT      (1u << 2)
#define FADT_BOOT_CMOS_RTC_NOT_PRESENT (1u << 5)

#define MADT_PCAT_COMPAT	       1 /* the 8259s exist (KVM's), masked by Linux */
#define MADT_LOCAL_APIC		       0
#define MADT_IO_APIC		       1
#define MADT_LOCAL_APIC_NMI	       4
#define MADT_LAPIC_ENABLED	       1
#define MADT_ALL_PROCESSORS	       0xff

#define IOAPIC_ID		       0 /* the MP table's and KVM's */

#define GAS_SYSTEM_IO		       1
#define GAS_ACCESS_BYTE		       1

struct tbuf {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static uint8_t *tbuf_take(struct tbuf *t, size_t n, size_t align)
{
	size_t at = (t->len + align - 1) & ~(align - 1);

	if (t->overflow || at > t->cap || n > t->cap - at) {
		t->overflow = true;
		return NULL;
	}
	t->len = at + n;
	return t->p + at;
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void sdt_header(uint8_t *h, const char sig[4], uint32_t len, uint8_t rev,
		       const char table_id[8])
{
	memcpy(h, sig, 4);
	put_le32(h + 4, len);
	h[8] = rev;
	memcpy(h + 10, OEM_ID, 6);
	memcpy(h + 16, table_id, 8);
	put_le32(h + 24, 1);
	memcpy(h + 28, CREATOR_ID, 4);
	put_le32(h + 32, 1);
}

static void sdt_finish(uint8_t *h)
{
	uint32_t len = get_le32(h + 4);

	h[9] = 0;
	h[9] = checksum(h, len);
}

/* Generic Address Structure (5.2.3.2): one I/O port, byte access. */
static void gas_io_byte(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8; /* bit width */
	p[2] = 0; /* bit offset */
	p[3] = GAS_ACCESS_BYTE;
	put_le64(p + 4, port);
}

static void dsdt_com1(struct aml *a)
{
	size_t dev, buf;

	dev = aml_device_open(a, "COM1");
	aml_name(a, "_HID");
	aml_eisa_id(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 1);
	aml_name(a, "_CRS");
	buf = aml_buffer_open(a, AML_RES_IO_LEN + AML_RES_IRQ_NOFLAGS_LEN + AML_RES_END_LEN);
	aml_res_io(a, COM1_PORT, 8);
	aml_res_irq_noflags(a, COM1_IRQ);
	aml_res_end(a);
	aml_close(a, buf);
	aml_close(a, dev);
}

static void dsdt_virtio(struct aml *a, unsigned int i, const struct acpi_mmio_dev *d)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = { 'V', 'R', hex[(i >> 4) & 0xf], hex[i & 0xf], 0 };
	size_t dev, buf;

	dev = aml_device_open(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_integer(a, i);
	aml_name(a, "_CRS");
	buf = aml_buffer_open(a, AML_RES_MEMORY32_LEN + AML_RES_INTERRUPT_LEN + AML_RES_END_LEN);
	aml_res_memory32_fixed(a, (uint32_t)d->base, d->size, true);
	aml_res_interrupt(a, d->gsi, true, false);
	aml_res_end(a);
	aml_close(a, buf);
	aml_close(a, dev);
}

#define PCI_SLOTS     32
#define PCI_INTX_PINS 4
#define MCFG_LEN      (SDT_HDR_LEN + 8 + 16)

/* _PRT (6.2.13): every slot's INTA#-INTD#, swizzled over the GSIs, as GSIs (source 0). */
static void dsdt_pci_prt(struct aml *a, const struct acpi_pci *p)
{
	size_t prt, entry;

	aml_name(a, "_PRT");
	prt = aml_package_open(a, (PCI_SLOTS - 1) * PCI_INTX_PINS);
	for (unsigned int slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned int pin = 0; pin < PCI_INTX_PINS; pin++) {
			entry = aml_package_open(a, 4);
			aml_integer(a, (uint64_t)slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, p->intx_gsi_base + (slot + pin) % p->nr_intx);
			aml_close(a, entry);
		}
	}
	aml_close(a, prt);
}

static void dsdt_pci(struct aml *a, const struct acpi_pci *p)
{
	size_t dev, buf, res;

	dev = aml_device_open(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisa_id(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisa_id(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, 0);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	buf = aml_buffer_open(a, 2 * AML_RES_WORD_LEN + AML_RES_IO_LEN + AML_RES_DWORD_LEN +
					 AML_RES_END_LEN);
	aml_res_word_bus(a, 0, 1);
	aml_res_io(a, 0xcf8, 8); /* the configuration ports */
	aml_res_word_io(a, p->io_base, p->io_size);
	aml_res_dword_memory(a, p->mmio_base, p->mmio_size);
	aml_res_end(a);
	aml_close(a, buf);
	dsdt_pci_prt(a, p);
	/* The ECAM window as a motherboard resource, where Linux checks that MCFG is reserved. */
	res = aml_device_open(a, "RES0");
	aml_name(a, "_HID");
	aml_eisa_id(a, "PNP0C02");
	aml_name(a, "_CRS");
	buf = aml_buffer_open(a, AML_RES_MEMORY32_LEN + AML_RES_END_LEN);
	aml_res_memory32_fixed(a, (uint32_t)p->ecam, 1u << 20, false);
	aml_res_end(a);
	aml_close(a, buf);
	aml_close(a, res);
	aml_close(a, dev);
}

/* MCFG: one allocation, segment 0, bus 0 only. */
static uint8_t *write_mcfg(struct tbuf *t, const struct acpi_pci *p)
{
	uint8_t *m = tbuf_take(t, MCFG_LEN, 16);

	if (!m)
		return NULL;
	memset(m, 0, MCFG_LEN);
	sdt_header(m, "MCFG", MCFG_LEN, 1, "EVVMMCFG");
	put_le64(m + SDT_HDR_LEN + 8, p->ecam);
	put_le16(m + SDT_HDR_LEN + 16, 0); /* segment */
	m[SDT_HDR_LEN + 18] = 0;	   /* first bus */
	m[SDT_HDR_LEN + 19] = 0;	   /* last bus */
	sdt_finish(m);
	return m;
}

static uint8_t *write_dsdt(struct tbuf *t, const struct acpi_config *cfg)
{
	uint8_t *h = tbuf_take(t, SDT_HDR_LEN, 16);
	struct aml a;
	size_t scope, pkg;

	if (!h)
		return NULL;
	aml_init(&a, t->p + t->len, t->cap - t->len);
	scope = aml_scope_open(&a, "\\_SB_");
	dsdt_com1(&a);
	for (unsigned int i = 0; i < cfg->nr_virtio; i++)
		dsdt_virtio(&a, i, &cfg->virtio[i]);
	if (cfg->pci)
		dsdt_pci(&a, cfg->pci);
	aml_close(&a, scope);
	/* \_S5: SLP_TYPa, SLP_TYPb; written to the sleep control register. */
	aml_name(&a, "\\_S5_");
	pkg = aml_package_open(&a, 2);
	aml_integer(&a, ACPI_SLEEP_TYP_S5);
	aml_integer(&a, 0);
	aml_close(&a, pkg);
	if (a.overflow) {
		t->overflow = true;
		return NULL;
	}
	t->len += a.len;
	sdt_header(h, "DSDT", (uint32_t)(SDT_HDR_LEN + a.len), 2, "EVVMDSDT");
	sdt_finish(h);
	return h;
}

static uint8_t *write_fadt(struct tbuf *t, uint64_t dsdt)
{
	uint8_t *f = tbuf_take(t, FADT_LEN, 16);

	if (!f)
		return NULL;
	memset(f, 0, FADT_LEN);
	sdt_header(f, "FACP", FADT_LEN, 6, "EVVMFACP");
	put_le32(f + 40, (uint32_t)dsdt); /* DSDT */
	put_le16(f + 109,
		 FADT_BOOT_VGA_NOT_PRESENT |
			 FADT_BOOT_CMOS_RTC_NOT_PRESENT); /* no 8042 bit: no i8042 driver */
	put_le32(f + 112, FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP);
	gas_io_byte(f + 116, ACPI_RESET_PORT); /* RESET_REG */
	f[128] = ACPI_RESET_VALUE;
	f[131] = 0;			       /* FADT minor version: 6.0 */
	put_le64(f + 140, dsdt);	       /* X_DSDT */
	gas_io_byte(f + 244, ACPI_SLEEP_PORT); /* SLEEP_CONTROL_REG */
	gas_io_byte(f + 256, ACPI_SLEEP_PORT); /* SLEEP_STATUS_REG */
	memcpy(f + 268, "EVVM\0\0\0\0", 8);    /* hypervisor vendor identity */
	sdt_finish(f);
	return f;
}

static uint8_t *write_madt(struct tbuf *t, const struct acpi_config *cfg)
{
	uint32_t len = MADT_HDR_LEN + cfg->nr_cpus * 8 + 12 + 6;
	uint8_t *m = tbuf_take(t, len, 16), *e;

	if (!m)
		return NULL;
	memset(m, 0, len);
	sdt_header(m, "APIC", len, 5, "EVVMAPIC");
	put_le32(m + 36, LAPIC_BASE);
	put_le32(m + 40, MADT_PCAT_COMPAT);
	e = m + MADT_HDR_LEN;
	for (unsigned int i = 0; i < cfg->nr_cpus; i++, e += 8) {
		e[0] = MADT_LOCAL_APIC;
		e[1] = 8;
		e[2] = (uint8_t)i; /* ACPI processor UID */
		e[3] = (uint8_t)i; /* APIC id, as cpuid_set() gives it */
		put_le32(e + 4, MADT_LAPIC_ENABLED);
	}
	e[0] = MADT_IO_APIC;
	e[1] = 12;
	e[2] = IOAPIC_ID;
	put_le32(e + 4, IOAPIC_BASE);
	put_le32(e + 8, 0); /* GSI base: pin n is GSI n */
	e += 12;
	/* LINT1 of every processor is NMI, as evvm programs it and the MP table says. */
	e[0] = MADT_LOCAL_APIC_NMI;
	e[1] = 6;
	e[2] = MADT_ALL_PROCESSORS;
	put_le16(e + 3, 0); /* flags: bus defaults */
	e[5] = 1;	    /* LINT1 */
	sdt_finish(m);
	return m;
}

int acpi_write(const struct evvm_mem *mem, uint64_t gpa, const struct acpi_config *cfg)
{
	uint8_t *area, *rsdp, *rsdt, *xsdt, *fadt, *madt, *dsdt, *mcfg = NULL;
	struct tbuf t = { .cap = ACPI_AREA_SIZE };
	uint64_t tables[3];
	unsigned int n;
	int err;

	if (cfg->nr_cpus > 255)
		return -ENOSPC; /* xAPIC ids are 8 bits; evvm's limit is lower anyway */
	if (cfg->pci && (!cfg->pci->nr_intx || cfg->pci->io_size == 0 || !cfg->pci->mmio_size))
		return -EINVAL;
	area = calloc(1, ACPI_AREA_SIZE); /* one per VM: VMs may be created concurrently */
	if (!area)
		return -ENOMEM;
	t.p = area;
	n = cfg->pci ? 3 : 2;
	rsdp = tbuf_take(&t, RSDP_LEN, 16);
	rsdt = tbuf_take(&t, SDT_HDR_LEN + n * 4, 16);
	xsdt = tbuf_take(&t, SDT_HDR_LEN + n * 8, 16);
	dsdt = write_dsdt(&t, cfg);
	fadt = dsdt ? write_fadt(&t, gpa + (uint64_t)(dsdt - area)) : NULL;
	madt = write_madt(&t, cfg);
	if (cfg->pci)
		mcfg = write_mcfg(&t, cfg->pci);
	if (t.overflow || !rsdp || !rsdt || !xsdt || !fadt || !madt || (cfg->pci && !mcfg)) {
		free(area);
		return -ENOSPC;
	}
	tables[0] = gpa + (uint64_t)(fadt - area);
	tables[1] = gpa + (uint64_t)(madt - area);
	if (mcfg)
		tables[2] = gpa + (uint64_t)(mcfg - area);

	/* Both root tables, for loaders that only know ACPI 1.0's. */
	sdt_header(rsdt, "RSDT", SDT_HDR_LEN + n * 4, 1, "EVVMRSDT");
	sdt_header(xsdt, "XSDT", SDT_HDR_LEN + n * 8, 1, "EVVMXSDT");
	for (unsigned int i = 0; i < n; i++) {
		put_le32(rsdt + SDT_HDR_LEN + 4 * i, (uint32_t)tables[i]);
		put_le64(xsdt + SDT_HDR_LEN + 8 * i, tables[i]);
	}
	sdt_finish(rsdt);
	sdt_finish(xsdt);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, OEM_ID, 6);
	rsdp[15] = 2; /* revision: ACPI 2.0+, XSDT */
	put_le32(rsdp + 16, (uint32_t)(gpa + (uint64_t)(rsdt - area)));
	put_le32(rsdp + 20, RSDP_LEN);
	put_le64(rsdp + 24, gpa + (uint64_t)(xsdt - area));
	rsdp[8] = checksum(rsdp, 20);
	rsdp[32] = checksum(rsdp, RSDP_LEN);

	err = mem_write(mem, gpa, area, t.len) ? -EFAULT : 0;
	free(area);
	return err;
}
