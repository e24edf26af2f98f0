/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_PCI_H
#define EVVM_VMM_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <evvm/log.h>

#include "iobus.h"

/*
 * A PCI root complex with one bus (bus 0): the host bridge at 00:00.0 and
 * up to 31 single-function devices. Configuration space is reachable
 * through the 0xcf8/0xcfc port pair and through an ECAM window (PCIe 6.0,
 * 7.2.2); both decode into pci_cfg_read/pci_cfg_write. Memory BARs are
 * 32-bit and decode only inside the bus's MMIO window, which the root
 * complex owns on the MMIO io bus as one range and dispatches itself: a
 * guest moving a BAR never (un)registers anything on the io bus, so a
 * config write through ECAM (an MMIO handler) may move BARs safely.
 *
 * Locks: cfg_lock serialises configuration accesses (and the 0xcf8
 * latch); map_lock guards the BAR decode table (readers: BAR accesses).
 * A function's hooks run with cfg_lock held; its BAR handlers with
 * map_lock held for reading. Neither may call back into this module.
 */

/* Guest-physical layout (docs/memory-map.md). */
#define PCI_ECAM_BASE	  0xe0000000ULL
#define PCI_ECAM_SIZE	  0x100000ULL	/* bus 0 only: 32 devices x 8 functions x 4 KiB */
#define PCI_MMIO_BASE	  0xe8000000ULL /* the 32-bit BAR window */
#define PCI_MMIO_SIZE	  0x08000000ULL
#define PCI_IO_BASE	  0xc000 /* I/O window (no I/O BARs yet) */
#define PCI_IO_SIZE	  0x4000
#define PCI_CONFIG_PORT	  0xcf8 /* CONFIG_ADDRESS; CONFIG_DATA at 0xcfc */
#define PCI_INTX_GSI_BASE 16	/* slot s, INTA#: GSI 16 + s % 8 (the _PRT says so) */
#define PCI_INTX_GSIS	  8

#define PCI_SLOTS	  32
#define PCI_BARS	  6
#define PCI_CFG_SIZE	  256 /* conventional space; ECAM's extended space reads 0 */
#define PCI_ECAM_FN_SIZE  0x1000

#define PCI_BAR_UNMAPPED  UINT64_MAX

/* Standard header offsets and bits (PCI 3.0, 6.2). */
#define PCI_VENDOR_ID		 0x00
#define PCI_DEVICE_ID		 0x02
#define PCI_COMMAND		 0x04
#define PCI_STATUS		 0x06
#define PCI_REVISION		 0x08
#define PCI_CLASS_PROG		 0x09
#define PCI_HEADER_TYPE		 0x0e
#define PCI_BAR0		 0x10
#define PCI_SUBSYS_VENDOR	 0x2c
#define PCI_SUBSYS_ID		 0x2e
#define PCI_CAP_PTR		 0x34
#define PCI_INT_LINE		 0x3c
#define PCI_INT_PIN		 0x3d
#define PCI_CAP_START		 0x40

#define PCI_COMMAND_MEM		 0x0002
#define PCI_COMMAND_MASTER	 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST	 0x0010
#define PCI_STATUS_INTX		 0x0008

struct pci_bus;
struct pci_func;

/* What a device behind the root complex supplies; every hook is optional. */
struct pci_func_ops {
	/* After the header filled @data for a read of @len at @off: may change it. */
	void (*cfg_read)(void *opaque, uint32_t off, void *data, unsigned int len);
	/* After a write of @len at @off went through the write mask into the header. */
	void (*cfg_write)(void *opaque, uint32_t off, const void *data, unsigned int len);
	/* BAR @bar now decodes at @base, or not at all (PCI_BAR_UNMAPPED). */
	void (*bar_map)(void *opaque, unsigned int bar, uint64_t base);
};

struct pci_bar {
	uint32_t size; /* a power of two >= 4 KiB; 0: not implemented */
	uint64_t base; /* where it decodes, or PCI_BAR_UNMAPPED */
	const struct iobus_ops *ops;
};

struct pci_func {
	struct pci_bus *bus;
	unsigned int slot;
	char name[48];
	const struct pci_func_ops *ops;
	void *opaque;
	/* Built by the owner before pci_func_add(); afterwards only under cfg_lock. */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits a guest write may change */
	uint8_t cap_end;	     /* where the next capability goes */
	struct pci_bar bar[PCI_BARS];
};

struct pci_bus {
	struct iobus *pio, *mmio; /* not owned */
	bool registered_pio, registered_ecam, registered_window;
	pthread_mutex_t cfg_lock;
	pthread_rwlock_t map_lock;
	uint32_t config_address; /* the 0xcf8 latch */
	struct pci_func *slot[PCI_SLOTS];
	struct pci_func host_bridge;
	pthread_mutex_t rl_lock;
	struct evvm_ratelimit rl; /* lines about what the guest did */
};

/*
 * Create the root complex: the host bridge at 00:00.0, 0xcf8-0xcff on @pio,
 * the ECAM window and the BAR window on @mmio. Returns 0 or -errno (the
 * ranges are taken, -EEXIST). @bus is initialised even on failure:
 * pci_bus_destroy() it either way.
 */
int pci_bus_init(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio);

/* Release the io bus ranges; functions are their owners' to free first. */
void pci_bus_destroy(struct pci_bus *bus);

/*
 * Fill the header of @f for a type-0 endpoint: ids, class (24 bits), INTA#
 * if @intx, BARs unimplemented, a write mask for the command register and
 * the interrupt line. Call pci_func_bar/pci_cap_add next, then pci_func_add.
 */
void pci_func_init(struct pci_func *f, uint16_t vendor, uint16_t device, uint32_t class_code,
		   bool intx, const struct pci_func_ops *ops, void *opaque, const char *name);

/*
 * Implement BAR @bar as 32-bit memory of @size bytes (a power of two, at
 * least 4 KiB) whose accesses go to @ops, placed at @addr (aligned to
 * @size) until the guest moves it. Decoding starts when the guest sets
 * Memory Space Enable. 0 or -EINVAL.
 */
int pci_func_bar(struct pci_func *f, unsigned int bar, uint32_t size, uint32_t addr,
		 const struct iobus_ops *ops);

/*
 * Append a capability of @len bytes (header included) with id @id to the
 * list; returns its offset, or 0 when config space is full. The caller
 * fills the bytes after the header and their write mask.
 */
unsigned int pci_cap_add(struct pci_func *f, uint8_t id, unsigned int len);

/* Put @f in a free slot (1..31). Returns the slot, or -ENOSPC. */
int pci_func_add(struct pci_bus *bus, struct pci_func *f);

/* Take @f off the bus; its BARs stop decoding. No-op if it is not on it. */
void pci_func_remove(struct pci_bus *bus, struct pci_func *f);

/*
 * One configuration access of @len (1, 2 or 4) bytes at register @reg of
 * bus @busnr, device @dev, function @fn. Accesses to no function, past
 * conventional config space or not naturally aligned read as all-ones
 * (zero past 0xff on an existing function) and write nothing.
 */
void pci_cfg_read(struct pci_bus *bus, unsigned int busnr, unsigned int dev, unsigned int fn,
		  uint32_t reg, void *data, unsigned int len);
void pci_cfg_write(struct pci_bus *bus, unsigned int busnr, unsigned int dev, unsigned int fn,
		   uint32_t reg, const void *data, unsigned int len);

/* Current 32-bit config value at @off of @f (for the owner, under no lock of its own). */
uint32_t pci_func_cfg32(struct pci_func *f, uint32_t off);

/* Snapshots: @f's configuration space as the guest left it. */
void pci_func_save_cfg(struct pci_bus *bus, struct pci_func *f, uint8_t cfg[PCI_CFG_SIZE]);

/*
 * Load a saved configuration space into @f, a function on @bus built the
 * same way: the bytes a guest cannot write must be what @f has (the same
 * device and capabilities; the status register aside), the others are
 * taken, and the BARs decode where they now say (bar_map runs). No
 * cfg_write hook runs: the owner derives its own state from @f->cfg. 0,
 * or -EINVAL after a line naming @file and the first byte that differs.
 */
int pci_func_load_cfg(struct pci_bus *bus, struct pci_func *f, const uint8_t cfg[PCI_CFG_SIZE],
		      const char *file);

#endif
