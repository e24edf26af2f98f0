/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_ACPI_H
#define EVVM_VMM_ACPI_H

#include <stdint.h>

#include <evvm/mem.h>

#include "../../layout.h"

/*
 * ACPI tables for a hardware-reduced platform (ACPI 6.5, 4.1): RSDP, XSDT,
 * FADT (HW_REDUCED_ACPI, a reset register, sleep control/status registers),
 * MADT (every vCPU's local APIC, the IOAPIC, LINT1 as NMI) and a DSDT that
 * names COM1 and every virtio-mmio device (_HID "LNRO0005", the id Linux's
 * virtio_mmio driver matches) and declares S5 for power-off. docs/boot.md
 * says why ACPI as well as the MP table. With a PCI host bridge, also an
 * MCFG (PCI Firmware 3.3, 4.1.2) and a PCI0 device (PNP0A08/PNP0A03) with
 * its windows, its _PRT and, as a PNP0C02 resource, the ECAM window.
 */

/* The sleep control and status registers: ACPI_SLEEP_PORT, byte access. */
#define ACPI_SLEEP_TYP_S5    5 /* the _S5 value evvm declares */
#define ACPI_SLEEP_TYP_SHIFT 2 /* SLP_TYPx in the sleep control register */
#define ACPI_SLEEP_TYP_MASK  0x1c
#define ACPI_SLEEP_EN	     0x20

#define ACPI_RESET_PORT	     0x64 /* the i8042's command port */
#define ACPI_RESET_VALUE     0xfe /* pulse the reset line */

struct acpi_mmio_dev {
	uint64_t base;
	uint32_t size;
	uint32_t gsi; /* edge-triggered, active high */
};

/* A PCI host bridge on segment 0, bus 0 (MCFG and a PCI0 device in the DSDT). */
struct acpi_pci {
	uint64_t ecam; /* bus 0's configuration space, 1 MiB */
	uint16_t io_base, io_size;
	uint32_t mmio_base, mmio_size; /* the 32-bit BAR window */
	uint32_t intx_gsi_base;	       /* slot s, pin p (INTA# = 0): base + (s + p) % nr_intx */
	unsigned int nr_intx;
};

struct acpi_config {
	unsigned int nr_cpus; /* APIC ids 0 .. nr_cpus - 1 */
	const struct acpi_mmio_dev *virtio;
	unsigned int nr_virtio;
	const struct acpi_pci *pci; /* NULL: no PCI */
};

/*
 * Write the tables into [@gpa, @gpa + ACPI_AREA_SIZE) with the RSDP at
 * @gpa. Returns 0, or -ENOSPC when they would not fit (too many devices or
 * CPUs for the area), -EFAULT when the area is not guest RAM.
 */
int acpi_write(const struct evvm_mem *mem, uint64_t gpa, const struct acpi_config *cfg);

#endif
