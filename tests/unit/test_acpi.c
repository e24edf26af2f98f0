// SPDX-License-Identifier: MIT
/*
 * evvm's ACPI tables (vmm/arch/x86/acpi.c) and AML writer (aml.c): the
 * tables are written into guest RAM in this process and checked field by
 * field (signatures, lengths, checksums, pointers, the MADT's entries, the
 * FADT's hardware-reduced registers), and then handed to ACPICA's own
 * disassembler (iasl, Debian's acpica-tools, installed by tools/deps for
 * the tests) which must parse every table and see each device: an
 * independent reader of the same bytes Linux will read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/mem.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"

#define RAM_SIZE (1u << 20)

struct fixture {
	struct evvm_mem mem;
	uint8_t *ram;
};

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct evvm_mem_region r = { .gpa = 0, .size = RAM_SIZE, .fd = -1 };

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	r.hva = f->ram;
	mem_init(&f->mem);
	assert_int_equal(mem_add_region(&f->mem, &r), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->ram);
	free(f);
	return 0;
}

static const struct acpi_mmio_dev three_devs[] = {
	{ 0xd1000000, 0x1000, 5 },
	{ 0xd1001000, 0x1000, 6 },
	{ 0xd1002000, 0x1000, 7 },
};

/* A table at @gpa: its signature, a length that fits, a zero checksum. */
static const uint8_t *table(struct fixture *f, uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= ACPI_RSDP_GPA && gpa < ACPI_RSDP_GPA + ACPI_AREA_SIZE);
	t = f->ram + gpa;
	assert_memory_equal(t, sig, 4);
	len = le32(t + 4);
	assert_true(len >= 36 && gpa + len <= ACPI_RSDP_GPA + ACPI_AREA_SIZE);
	assert_int_equal(sum(t, len), 0);
	assert_memory_equal(t + 10, "EVVM  ", 6);
	return t;
}

static const uint8_t *write_tables(struct fixture *f, unsigned int cpus,
				   const struct acpi_mmio_dev *devs, unsigned int n)
{
	struct acpi_config cfg = { .nr_cpus = cpus, .virtio = devs, .nr_virtio = n };

	assert_int_equal(acpi_write(&f->mem, ACPI_RSDP_GPA, &cfg), 0);
	return f->ram + ACPI_RSDP_GPA;
}

static void test_rsdp_and_roots(void **state)
{
	struct fixture *f = *state;
	const uint8_t *rsdp = write_tables(f, 2, three_devs, 3);
	const uint8_t *xsdt, *rsdt;

	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0); /* ACPI 1.0 checksum */
	assert_int_equal(rsdp[15], 2);	    /* revision: XSDT present */
	assert_int_equal(le32(rsdp + 20), 36);
	assert_int_equal(sum(rsdp, 36), 0); /* extended checksum */

	xsdt = table(f, le64(rsdp + 24), "XSDT");
	rsdt = table(f, le32(rsdp + 16), "RSDT");
	assert_int_equal(le32(xsdt + 4), 36 + 2 * 8);
	assert_int_equal(le32(rsdt + 4), 36 + 2 * 4);
	/* Both roots list the same FADT and MADT. */
	table(f, le64(xsdt + 36), "FACP");
	table(f, le64(xsdt + 44), "APIC");
	assert_int_equal(le32(rsdt + 36), le64(xsdt + 36));
	assert_int_equal(le32(rsdt + 40), le64(xsdt + 44));
}

static void test_fadt_is_hw_reduced(void **state)
{
	struct fixture *f = *state;
	const uint8_t *rsdp = write_tables(f, 1, three_devs, 1);
	const uint8_t *fadt = table(f, le64(f->ram + le64(rsdp + 24) + 36), "FACP");

	assert_int_equal(le32(fadt + 4), 276);
	assert_int_equal(fadt[8], 6);
	assert_true(le32(fadt + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	assert_true(le32(fadt + 112) & (1u << 10)); /* RESET_REG_SUP */
	/* No SCI, PM1 blocks, PM timer or GPEs: nothing to emulate. */
	assert_int_equal(fadt[46] | fadt[47] << 8, 0);
	for (unsigned int off = 56; off < 88; off += 4)
		assert_int_equal(le32(fadt + off), 0);
	/* The DSDT, both ways, the same. */
	assert_int_equal(le32(fadt + 40), le64(fadt + 140));
	table(f, le64(fadt + 140), "DSDT");
	/* Reset: 0xfe to the i8042's port 0x64, byte access. */
	assert_int_equal(fadt[116], 1);
	assert_int_equal(le64(fadt + 120), ACPI_RESET_PORT);
	assert_int_equal(fadt[128], ACPI_RESET_VALUE);
	/* Sleep control and status: the one port acpi_sleep.c serves. */
	assert_int_equal(fadt[244], 1);
	assert_int_equal(fadt[244 + 1], 8);
	assert_int_equal(le64(fadt + 248), ACPI_SLEEP_PORT);
	assert_int_equal(le64(fadt + 260), ACPI_SLEEP_PORT);
	/* No 8042 flag: Linux then leaves the minimal i8042 alone. */
	assert_false((fadt[109] | fadt[110] << 8) & 2);
}

static void check_madt(struct fixture *f, unsigned int cpus)
{
	const uint8_t *rsdp = write_tables(f, cpus, three_devs, 3);
	const uint8_t *madt = table(f, le64(f->ram + le64(rsdp + 24) + 44), "APIC");
	uint32_t len = le32(madt + 4), off = 44;
	unsigned int lapics = 0, ioapics = 0, nmis = 0;

	assert_int_equal(le32(madt + 36), 0xfee00000);
	while (off < len) {
		const uint8_t *e = madt + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* processor local APIC: UID = APIC id = index, enabled */
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], lapics);
			assert_int_equal(e[3], lapics);
			assert_int_equal(le32(e + 4), 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(le32(e + 4), 0xfec00000);
			assert_int_equal(le32(e + 8), 0);
			ioapics++;
			break;
		case 4: /* LINT1 is NMI on every processor */
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(off, len);
	assert_int_equal(lapics, cpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(nmis, 1);
}

static void test_madt_one_entry_per_vcpu(void **state)
{
	check_madt(*state, 1);
	check_madt(*state, 2);
	check_madt(*state, 64);
}

static size_t count(const uint8_t *p, size_t n, const char *needle)
{
	size_t c = 0, l = strlen(needle);

	for (size_t i = 0; i + l <= n; i++)
		c += !memcmp(p + i, needle, l);
	return c;
}

static void test_dsdt_names_every_virtio_device(void **state)
{
	struct fixture *f = *state;
	const uint8_t *rsdp = write_tables(f, 2, three_devs, 3);
	const uint8_t *fadt = f->ram + le64(f->ram + le64(rsdp + 24) + 36);
	const uint8_t *dsdt = table(f, le64(fadt + 140), "DSDT");
	uint32_t len = le32(dsdt + 4);

	assert_int_equal(count(dsdt, len, "LNRO0005"), 3);
	assert_int_equal(count(dsdt, len, "VR00"), 1);
	assert_int_equal(count(dsdt, len, "VR02"), 1);
	assert_int_equal(count(dsdt, len, "_S5_"), 1);
	assert_int_equal(count(dsdt, len, "COM1"), 1);

	/* No devices: still a valid DSDT with COM1 and S5. */
	rsdp = write_tables(f, 1, NULL, 0);
	fadt = f->ram + le64(f->ram + le64(rsdp + 24) + 36);
	dsdt = table(f, le64(fadt + 140), "DSDT");
	assert_int_equal(count(dsdt, le32(dsdt + 4), "LNRO0005"), 0);
}

static void test_area_outside_ram_is_refused(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = { .nr_cpus = 1 };

	assert_int_equal(acpi_write(&f->mem, RAM_SIZE, &cfg), -EFAULT);
	cfg.nr_cpus = 256;
	assert_int_equal(acpi_write(&f->mem, ACPI_RSDP_GPA, &cfg), -ENOSPC);
}

/* PkgLength (ACPI 20.2.4) at the one-, two- and three-byte boundaries. */
static void check_pkglength(size_t body, const uint8_t *want, size_t want_len)
{
	static uint8_t buf[1 << 21];
	struct aml a;
	size_t mark;

	aml_init(&a, buf, sizeof(buf));
	mark = aml_package_open(&a, 0);
	/* The package's NumElements byte is part of the body already. */
	for (size_t i = 1; i < body; i++)
		aml_byte(&a, 0xaa);
	aml_close(&a, mark);
	assert_false(a.overflow);
	assert_int_equal(buf[0], 0x12);
	assert_memory_equal(buf + 1, want, want_len);
	assert_int_equal(a.len, 1 + want_len + body);
	assert_int_equal(buf[1 + want_len], 0); /* NumElements survived the move */
}

static void test_aml_pkglength(void **state)
{
	(void)state;
	check_pkglength(62, (const uint8_t[]){ 63 }, 1);
	check_pkglength(63, (const uint8_t[]){ 0x40 | 1, 4 }, 2);	 /* 65 = 0x41 */
	check_pkglength(4093, (const uint8_t[]){ 0x40 | 0xf, 0xff }, 2); /* 4095 */
	check_pkglength(4094, (const uint8_t[]){ 0x80 | 1, 0, 1 }, 3);	 /* 4097 */
}

static void test_aml_constants(void **state)
{
	uint8_t buf[64];
	struct aml a;

	(void)state;
	aml_init(&a, buf, sizeof(buf));
	aml_eisa_id(&a, "PNP0501");
	assert_memory_equal(buf, ((const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x05, 0x01 }), 5);

	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0xd1000000);
	aml_integer(&a, 0x100000000ULL);
	assert_memory_equal(buf, ((const uint8_t[]){ 0x00, 0x01, 0x0a, 0xff, 0x0b, 0x00, 0x01,
						     0x0c, 0x00, 0x00, 0x00, 0xd1, 0x0e, 0,
						     0,	   0,	 0,    1,    0,	   0,	 0 }),
			    21);

	/* Running out of room latches, and writes nothing past the end. */
	aml_init(&a, buf, 4);
	aml_string(&a, "LNRO0005");
	assert_true(a.overflow);
	assert_true(a.len <= 4);
}

/* Run iasl -d on @n tables written to files; returns its output. */
static char *iasl_disassemble(const char *dir, const char *name, const uint8_t *t, char **dsl)
{
	char path[256], cmd[600], *out = calloc(1, 65536), *text;
	FILE *p;
	size_t n;

	assert_non_null(out);
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	p = fopen(path, "w");
	assert_non_null(p);
	assert_int_equal(fwrite(t, 1, le32(t + 4), p), le32(t + 4));
	fclose(p);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat 2>&1", dir, name);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, 65535, p);
	out[n] = 0;
	if (pclose(p) != 0)
		fail_msg("iasl -d %s failed:\n%s", name, out);

	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	p = fopen(path, "r");
	assert_non_null(p);
	text = calloc(1, 1 << 20);
	assert_non_null(text);
	n = fread(text, 1, (1 << 20) - 1, p);
	text[n] = 0;
	fclose(p);
	*dsl = text;
	return out;
}

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static void test_iasl_reads_every_table(void **state)
{
	struct fixture *f = *state;
	const uint8_t *rsdp = write_tables(f, 2, three_devs, 3);
	const uint8_t *xsdt = f->ram + le64(rsdp + 24);
	const uint8_t *fadt = f->ram + le64(xsdt + 36), *madt = f->ram + le64(xsdt + 44);
	const uint8_t *dsdt = f->ram + le64(fadt + 140);
	char dir[] = "/tmp/evvm-acpi-XXXXXX", *out, *dsl, cmd[300];

	if (system("command -v iasl >/dev/null") != 0)
		fail_msg("iasl not found: install Debian's acpica-tools (tools/deps test does)");
	assert_non_null(mkdtemp(dir));

	out = iasl_disassemble(dir, "dsdt", dsdt, &dsl);
	assert_null(strstr(out, "rror"));
	assert_has(dsl, "Scope (\\_SB)");
	assert_has(dsl, "Device (VR00)");
	assert_has(dsl, "Device (VR02)");
	assert_has(dsl, "Name (_HID, \"LNRO0005\")");
	assert_has(dsl, "Name (_HID, EisaId (\"PNP0501\")");
	assert_has(dsl, "0xD1002000,         // Address Base");
	assert_has(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )");
	assert_has(dsl, "0x00000007,");
	assert_has(dsl, "IRQNoFlags ()");
	assert_has(dsl, "Name (\\_S5, Package (0x02)");
	free(out);
	free(dsl);

	out = iasl_disassemble(dir, "facp", fadt, &dsl);
	assert_null(strstr(out, "rror"));
	assert_has(dsl, "Hardware Reduced (V5) : 1");
	assert_has(dsl, "Sleep Control Register");
	free(out);
	free(dsl);

	out = iasl_disassemble(dir, "apic", madt, &dsl);
	assert_null(strstr(out, "rror"));
	assert_has(dsl, "Processor Local APIC");
	assert_has(dsl, "I/O APIC");
	assert_has(dsl, "Local APIC NMI");
	assert_null(strstr(dsl, "Invalid"));
	free(out);
	free(dsl);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static const struct acpi_pci pci_cfg = {
	.ecam = 0xe0000000,
	.io_base = 0xc000,
	.io_size = 0x4000,
	.mmio_base = 0xe8000000,
	.mmio_size = 0x08000000,
	.intx_gsi_base = 16,
	.nr_intx = 8,
};

/* With a PCI host bridge: MCFG in both root tables, and PCI0 read by iasl. */
static void test_pci_host_bridge(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = {
		.nr_cpus = 2, .virtio = three_devs, .nr_virtio = 1, .pci = &pci_cfg
	};
	const uint8_t *rsdp, *rsdt, *xsdt, *mcfg, *dsdt;
	char dir[] = "/tmp/evvm-acpi-XXXXXX", *out, *dsl, cmd[300];

	assert_int_equal(acpi_write(&f->mem, ACPI_RSDP_GPA, &cfg), 0);
	rsdp = f->ram + ACPI_RSDP_GPA;
	xsdt = table(f, le64(rsdp + 24), "XSDT");
	rsdt = table(f, le32(rsdp + 16), "RSDT");
	assert_int_equal(le32(xsdt + 4), 36 + 3 * 8);
	assert_int_equal(le32(rsdt + 4), 36 + 3 * 4);
	mcfg = table(f, le64(xsdt + 52), "MCFG");
	assert_int_equal(le32(rsdt + 44), le64(xsdt + 52));
	assert_int_equal(le32(mcfg + 4), 60);
	assert_int_equal(le64(mcfg + 44), 0xe0000000);
	assert_int_equal(mcfg[52] | mcfg[53] << 8, 0); /* segment */
	assert_int_equal(mcfg[54], 0);
	assert_int_equal(mcfg[55], 0);
	dsdt = table(f, le64(table(f, le64(xsdt + 36), "FACP") + 140), "DSDT");

	/* Without PCI there is no MCFG and the DSDT has no PCI0. */
	cfg.pci = NULL;
	memset(f->ram + ACPI_RSDP_GPA, 0, ACPI_AREA_SIZE);
	assert_int_equal(acpi_write(&f->mem, ACPI_RSDP_GPA, &cfg), 0);
	assert_int_equal(le32(table(f, le64(rsdp + 24), "XSDT") + 4), 36 + 2 * 8);
	cfg.pci = &pci_cfg;
	assert_int_equal(acpi_write(&f->mem, ACPI_RSDP_GPA, &cfg), 0);

	if (system("command -v iasl >/dev/null") != 0)
		fail_msg("iasl not found: install Debian's acpica-tools (tools/deps test does)");
	assert_non_null(mkdtemp(dir));
	out = iasl_disassemble(dir, "mcfg", mcfg, &dsl);
	assert_null(strstr(out, "rror"));
	assert_has(dsl, "Base Address : 00000000E0000000");
	assert_has(dsl, "End Bus Number : 00");
	free(out);
	free(dsl);

	out = iasl_disassemble(dir, "dsdt", dsdt, &dsl);
	assert_null(strstr(out, "rror"));
	assert_has(dsl, "Device (PCI0)");
	assert_has(dsl, "Name (_HID, EisaId (\"PNP0A08\")");
	assert_has(dsl, "Name (_CID, EisaId (\"PNP0A03\")");
	assert_has(dsl, "Name (_SEG, Zero)");
	assert_has(dsl, "Name (_BBN, Zero)");
	assert_has(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,");
	assert_has(dsl, "WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,");
	assert_has(dsl, "0xC000,             // Range Minimum");
	assert_has(dsl, "0xFFFF,             // Range Maximum");
	assert_has(dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, "
			"NonCacheable, ReadWrite,");
	assert_has(dsl, "0xE8000000,         // Range Minimum");
	assert_has(dsl, "0xEFFFFFFF,         // Range Maximum");
	assert_has(dsl, "Name (_PRT, Package (0x7C)");
	/* Slot 1 INTA# and slot 31 INTD# (swizzled over GSIs 16-23). */
	assert_has(dsl, "0x0001FFFF,");
	assert_has(dsl, "0x001FFFFF,");
	assert_has(dsl, "0x11");
	assert_has(dsl, "Name (_HID, EisaId (\"PNP0C02\")");
	assert_has(dsl, "0xE0000000,         // Address Base");
	assert_has(dsl, "0x00100000,         // Address Length");
	free(out);
	free(dsl);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsdp_and_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fadt_is_hw_reduced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt_one_entry_per_vcpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_names_every_virtio_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_area_outside_ram_is_refused, setup, teardown),
		cmocka_unit_test(test_aml_pkglength),
		cmocka_unit_test(test_aml_constants),
		cmocka_unit_test_setup_teardown(test_iasl_reads_every_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_host_bridge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
