// SPDX-License-Identifier: MIT
/*
 * vmm/layout.h and docs/memory-map.md say the same: every address there
 * starts a row of the doc's table, every port is named in its port list,
 * and the regions do not overlap where they must not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "layout.h"

static char *read_doc(void)
{
	const char *src = getenv("EVVM_SRC") ? getenv("EVVM_SRC") : ".";
	char path[256], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/docs/memory-map.md", src);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

#define ADDR(name)          \
	{                   \
#name, name \
	}

static void test_addresses_start_rows(void **state)
{
	static const struct {
		const char *name;
		unsigned long long gpa;
	} addrs[] = {
		ADDR(LINUX_GDT_GPA),	 ADDR(PVH_START_INFO_GPA),  ADDR(PVH_MEMMAP_GPA),
		ADDR(PVH_CMDLINE_GPA),	 ADDR(LINUX_ZERO_PAGE_GPA), ADDR(LINUX_PML4_GPA),
		ADDR(LINUX_CMDLINE_GPA), ADDR(EBDA_START),	    ADDR(BIOS_AREA_START),
		ADDR(ACPI_RSDP_GPA),	 ADDR(MPTABLE_GPA),	    ADDR(HIGH_MEM_START),
		ADDR(LOW_RAM_END),	 ADDR(UNOWNED_MMIO_GPA),    ADDR(VIRTIO_MMIO_BASE),
		ADDR(IOAPIC_BASE),	 ADDR(LAPIC_BASE),	    ADDR(KVM_IDMAP_ADDR),
		ADDR(KVM_TSS_ADDR),	 ADDR(HIGH_RAM_START),
	};
	char *doc = read_doc(), row[64];

	(void)state;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(row, sizeof(row), "\n| `0x%08llx", addrs[i].gpa);
		if (!strstr(doc, row))
			fail_msg("%s (0x%llx) starts no row of docs/memory-map.md", addrs[i].name,
				 addrs[i].gpa);
	}
	free(doc);
}

static void test_ports_named(void **state)
{
	static const struct {
		const char *name;
		unsigned int port;
	} ports[] = {
		{ "DEBUG_EXIT_PORT", DEBUG_EXIT_PORT },
		{ "COM1_PORT", COM1_PORT },
		{ "ACPI_SLEEP_PORT", ACPI_SLEEP_PORT },
	};
	char *doc = read_doc(), want[32];

	(void)state;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		snprintf(want, sizeof(want), "`0x%x", ports[i].port);
		if (!strstr(doc, want))
			fail_msg("%s (0x%x) is not in docs/memory-map.md", ports[i].name,
				 ports[i].port);
	}
	snprintf(want, sizeof(want), "IRQ %d", COM1_IRQ);
	assert_non_null(strstr(doc, want));
	free(doc);
}

/* The orders the loaders and e820_layout() rely on. */
static void test_regions_in_order(void **state)
{
	(void)state;
	assert_true(PVH_MEMMAP_GPA > PVH_START_INFO_GPA && PVH_CMDLINE_GPA > PVH_MEMMAP_GPA);
	assert_true(PVH_CMDLINE_GPA + 4096 <= LINUX_ZERO_PAGE_GPA);
	assert_true(LINUX_ZERO_PAGE_GPA + 4096 <= LINUX_PML4_GPA);
	assert_true(LINUX_PML4_GPA + 6 * 4096 <= LINUX_CMDLINE_GPA);
	assert_true(LINUX_CMDLINE_GPA + 4096 <= EBDA_START);
	assert_true(EBDA_START < BIOS_AREA_START && BIOS_AREA_START <= ACPI_RSDP_GPA);
	assert_true(ACPI_RSDP_GPA + ACPI_AREA_SIZE <= MPTABLE_GPA);
	assert_true(MPTABLE_GPA < HIGH_MEM_START && HIGH_MEM_START < LOW_RAM_END);
	assert_true(LOW_RAM_END <= UNOWNED_MMIO_GPA && UNOWNED_MMIO_GPA < VIRTIO_MMIO_BASE);
	assert_true(VIRTIO_MMIO_BASE < IOAPIC_BASE && IOAPIC_BASE < LAPIC_BASE);
	assert_true(LAPIC_BASE < KVM_IDMAP_ADDR && KVM_IDMAP_ADDR < KVM_TSS_ADDR);
	assert_true(KVM_TSS_ADDR + 3 * 4096 <= HIGH_RAM_START);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_start_rows),
		cmocka_unit_test(test_ports_named),
		cmocka_unit_test(test_regions_in_order),
	};

	return cmocka_run_group_tests_name("guest-physical layout", tests, NULL, NULL);
}
