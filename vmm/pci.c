// SPDX-License-Identifier: MIT
/*
 * The PCI root complex: configuration space (0xcf8/0xcfc and ECAM) and the
 * decode of memory BARs inside the bus's MMIO window. A BAR the guest puts
 * outside the window (onto RAM, the ECAM window, the APICs) or over another
 * BAR does not decode until it is moved somewhere valid; each refusal is
 * logged (rate-limited: the guest controls how often it happens).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <evvm/log.h>

#include "le.h"
#include "pci.h"

#define HOST_BRIDGE_VENDOR 0x1b36 /* Red Hat: the generic "PCIe host bridge" id */
#define HOST_BRIDGE_DEVICE 0x0008
#define CLASS_HOST_BRIDGE  0x060000

#define CONFIG_ENABLE	   0x80000000u
#define BAR_MEM_FLAGS_MASK 0xfu /* memory, 32-bit, not prefetchable: all zero */

/* A line about something the guest did: rate-limited, the guest chooses how often. */
static void pci_guest_warn(struct pci_bus *bus, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pci_guest_warn(struct pci_bus *bus, const char *fmt, ...)
{
	unsigned long dropped = 0;
	char line[200];
	va_list ap;
	bool ok;

	pthread_mutex_lock(&bus->rl_lock);
	ok = evvm_ratelimit(&bus->rl, &dropped);
	pthread_mutex_unlock(&bus->rl_lock);
	if (dropped)
		pr_warn("pci: %lu messages about guest accesses suppressed", dropped);
	if (!ok)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pr_warn("%s", line);
}

static struct pci_func *pci_find(struct pci_bus *bus, unsigned int busnr, unsigned int dev,
				 unsigned int fn)
{
	if (busnr != 0 || fn != 0 || dev >= PCI_SLOTS)
		return NULL;
	return bus->slot[dev];
}

static bool bars_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Where BAR @i of @f should decode given its header, checked against the others. */
static uint64_t bar_target(struct pci_bus *bus, struct pci_func *f, unsigned int i, bool loud)
{
	struct pci_bar *b = &f->bar[i];
	uint64_t want = get_le32(&f->cfg[PCI_BAR0 + 4 * i]) & ~(uint64_t)BAR_MEM_FLAGS_MASK;

	if (!(get_le16(&f->cfg[PCI_COMMAND]) & PCI_COMMAND_MEM))
		return PCI_BAR_UNMAPPED;
	if (want == b->base)
		return want;
	if (want < PCI_MMIO_BASE || want + b->size > PCI_MMIO_BASE + PCI_MMIO_SIZE) {
		if (loud)
			pci_guest_warn(
				bus,
				"%s: BAR%u at 0x%llx is outside the PCI MMIO window; not decoded",
				f->name, i, (unsigned long long)want);
		return PCI_BAR_UNMAPPED;
	}
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_func *o = bus->slot[s];

		for (unsigned int j = 0; o && j < PCI_BARS; j++) {
			if ((o == f && j == i) || o->bar[j].base == PCI_BAR_UNMAPPED)
				continue;
			if (bars_overlap(want, b->size, o->bar[j].base, o->bar[j].size)) {
				if (loud)
					pci_guest_warn(bus,
						       "%s: BAR%u at 0x%llx overlaps %s BAR%u; not "
						       "decoded",
						       f->name, i, (unsigned long long)want,
						       o->name, j);
				return PCI_BAR_UNMAPPED;
			}
		}
	}
	return want;
}

static void pci_remap_func(struct pci_bus *bus, struct pci_func *f, bool loud)
{
	uint64_t changed[PCI_BARS];
	bool any = false;

	pthread_rwlock_wrlock(&bus->map_lock);
	for (unsigned int i = 0; i < PCI_BARS; i++) {
		uint64_t t;

		changed[i] = 0;
		if (!f->bar[i].size)
			continue;
		t = bar_target(bus, f, i, loud);
		if (t != f->bar[i].base) {
			f->bar[i].base = t;
			changed[i] = 1;
			any = true;
		}
	}
	pthread_rwlock_unlock(&bus->map_lock);
	for (unsigned int i = 0; any && i < PCI_BARS; i++)
		if (changed[i] && f->ops && f->ops->bar_map)
			f->ops->bar_map(f->opaque, i, f->bar[i].base);
}

/*
 * After @f's command register or a BAR changed: decode @f's BARs where
 * they now point, then give BARs refused earlier another chance (what was
 * in their way may have moved).
 */
static void pci_remap(struct pci_bus *bus, struct pci_func *f)
{
	pci_remap_func(bus, f, true);
	for (unsigned int s = 0; s < PCI_SLOTS; s++)
		if (bus->slot[s] && bus->slot[s] != f)
			pci_remap_func(bus, bus->slot[s], false);
}

static bool cfg_access_ok(uint32_t reg, unsigned int len)
{
	return (len == 1 || len == 2 || len == 4) && reg % len == 0 && reg < PCI_ECAM_FN_SIZE;
}

void pci_cfg_read(struct pci_bus *bus, unsigned int busnr, unsigned int dev, unsigned int fn,
		  uint32_t reg, void *data, unsigned int len)
{
	struct pci_func *f;

	pthread_mutex_lock(&bus->cfg_lock);
	f = pci_find(bus, busnr, dev, fn);
	if (!f || !cfg_access_ok(reg, len)) {
		memset(data, 0xff, len);
	} else if (reg >= PCI_CFG_SIZE) {
		memset(data, 0, len); /* no extended capabilities */
	} else {
		memcpy(data, &f->cfg[reg], len);
		if (f->ops && f->ops->cfg_read)
			f->ops->cfg_read(f->opaque, reg, data, len);
	}
	pthread_mutex_unlock(&bus->cfg_lock);
}

static bool touches(uint32_t reg, unsigned int len, uint32_t lo, uint32_t hi)
{
	return reg < hi && reg + len > lo;
}

void pci_cfg_write(struct pci_bus *bus, unsigned int busnr, unsigned int dev, unsigned int fn,
		   uint32_t reg, const void *data, unsigned int len)
{
	const uint8_t *v = data;
	struct pci_func *f;

	pthread_mutex_lock(&bus->cfg_lock);
	f = pci_find(bus, busnr, dev, fn);
	if (!f || !cfg_access_ok(reg, len) || reg >= PCI_CFG_SIZE)
		goto out;
	for (unsigned int i = 0; i < len; i++)
		f->cfg[reg + i] =
			(f->cfg[reg + i] & ~f->wmask[reg + i]) | (v[i] & f->wmask[reg + i]);
	if (touches(reg, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    touches(reg, len, PCI_BAR0, PCI_BAR0 + 4 * PCI_BARS))
		pci_remap(bus, f);
	if (f->ops && f->ops->cfg_write)
		f->ops->cfg_write(f->opaque, reg, data, len);
out:
	pthread_mutex_unlock(&bus->cfg_lock);
}

uint32_t pci_func_cfg32(struct pci_func *f, uint32_t off)
{
	return off <= PCI_CFG_SIZE - 4 ? get_le32(&f->cfg[off]) : 0;
}

void pci_func_save_cfg(struct pci_bus *bus, struct pci_func *f, uint8_t cfg[PCI_CFG_SIZE])
{
	pthread_mutex_lock(&bus->cfg_lock);
	memcpy(cfg, f->cfg, PCI_CFG_SIZE);
	pthread_mutex_unlock(&bus->cfg_lock);
}

int pci_func_load_cfg(struct pci_bus *bus, struct pci_func *f, const uint8_t cfg[PCI_CFG_SIZE],
		      const char *file)
{
	pthread_mutex_lock(&bus->cfg_lock);
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++) {
		/* (the status register's bits are the device's to say, not the file's) */
		if (i == PCI_STATUS || i == PCI_STATUS + 1)
			continue;
		if ((cfg[i] ^ f->cfg[i]) & ~f->wmask[i]) {
			pthread_mutex_unlock(&bus->cfg_lock);
			pr_err("snapshot '%s': %s: configuration byte 0x%x is 0x%02x, this device "
			       "has 0x%02x there",
			       file, f->name, i, cfg[i], f->cfg[i]);
			return -EINVAL;
		}
	}
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++)
		if (i != PCI_STATUS && i != PCI_STATUS + 1)
			f->cfg[i] = (f->cfg[i] & ~f->wmask[i]) | (cfg[i] & f->wmask[i]);
	pci_remap(bus, f);
	pthread_mutex_unlock(&bus->cfg_lock);
	return 0;
}

/* 0xcf8-0xcff: CONFIG_ADDRESS (32-bit accesses only) and CONFIG_DATA. */
static void pio_decode(struct pci_bus *bus, uint64_t off, unsigned int len, uint32_t *busnr,
		       uint32_t *dev, uint32_t *fn, uint32_t *reg, bool *ok)
{
	uint32_t a = bus->config_address;

	*ok = (a & CONFIG_ENABLE) && off >= 4 && off - 4 + len <= 4;
	*busnr = (a >> 16) & 0xff;
	*dev = (a >> 11) & 0x1f;
	*fn = (a >> 8) & 0x7;
	*reg = (a & 0xfc) | (uint32_t)(off - 4);
}

static void pci_pio_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct pci_bus *bus = opaque;
	uint32_t busnr, dev, fn, reg;
	bool ok;

	if (off == 0 && len == 4) {
		pthread_mutex_lock(&bus->cfg_lock);
		memcpy(data, &bus->config_address, 4);
		pthread_mutex_unlock(&bus->cfg_lock);
		return;
	}
	pthread_mutex_lock(&bus->cfg_lock);
	pio_decode(bus, off, len, &busnr, &dev, &fn, &reg, &ok);
	pthread_mutex_unlock(&bus->cfg_lock);
	if (ok)
		pci_cfg_read(bus, busnr, dev, fn, reg, data, len);
}

static void pci_pio_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct pci_bus *bus = opaque;
	uint32_t busnr, dev, fn, reg, v;
	bool ok;

	if (off == 0 && len == 4) {
		memcpy(&v, data, 4);
		pthread_mutex_lock(&bus->cfg_lock);
		bus->config_address = v & 0x80fffffcu; /* reserved bits read as zero */
		pthread_mutex_unlock(&bus->cfg_lock);
		return;
	}
	pthread_mutex_lock(&bus->cfg_lock);
	pio_decode(bus, off, len, &busnr, &dev, &fn, &reg, &ok);
	pthread_mutex_unlock(&bus->cfg_lock);
	if (ok)
		pci_cfg_write(bus, busnr, dev, fn, reg, data, len);
}

static const struct iobus_ops pci_pio_ops = {
	.read = pci_pio_read,
	.write = pci_pio_write,
};

/* ECAM: bus in bits 27:20 (bus 0 only here), device 19:15, function 14:12. */
static void pci_ecam_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	pci_cfg_read(opaque, (uint32_t)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7,
		     off & 0xfff, data, len);
}

static void pci_ecam_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	pci_cfg_write(opaque, (uint32_t)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7,
		      off & 0xfff, data, len);
}

static const struct iobus_ops pci_ecam_ops = {
	.read = pci_ecam_read,
	.write = pci_ecam_write,
};

/* The BAR holding [@addr, @addr + @len), with map_lock held; NULL if none. */
static struct pci_func *bar_find(struct pci_bus *bus, uint64_t addr, unsigned int len,
				 unsigned int *bar)
{
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_func *f = bus->slot[s];

		for (unsigned int i = 0; f && i < PCI_BARS; i++) {
			const struct pci_bar *b = &f->bar[i];

			if (b->base == PCI_BAR_UNMAPPED || addr < b->base ||
			    addr - b->base >= b->size || len > b->size - (addr - b->base))
				continue;
			*bar = i;
			return f;
		}
	}
	return NULL;
}

static void window_unclaimed(struct pci_bus *bus, uint64_t addr, unsigned int len, bool write)
{
	pci_guest_warn(bus, "pci: %u-byte %s at 0x%llx: no BAR decodes it", len,
		       write ? "write" : "read", (unsigned long long)addr);
}

static void pci_window_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct pci_bus *bus = opaque;
	uint64_t addr = PCI_MMIO_BASE + off;
	struct pci_func *f;
	unsigned int i;

	pthread_rwlock_rdlock(&bus->map_lock);
	f = bar_find(bus, addr, len, &i);
	if (f && f->bar[i].ops->read)
		f->bar[i].ops->read(f->opaque, addr - f->bar[i].base, data, len);
	pthread_rwlock_unlock(&bus->map_lock);
	if (!f)
		window_unclaimed(bus, addr, len, false);
}

static void pci_window_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct pci_bus *bus = opaque;
	uint64_t addr = PCI_MMIO_BASE + off;
	struct pci_func *f;
	unsigned int i;

	pthread_rwlock_rdlock(&bus->map_lock);
	f = bar_find(bus, addr, len, &i);
	if (f && f->bar[i].ops->write)
		f->bar[i].ops->write(f->opaque, addr - f->bar[i].base, data, len);
	pthread_rwlock_unlock(&bus->map_lock);
	if (!f)
		window_unclaimed(bus, addr, len, true);
}

static const struct iobus_ops pci_window_ops = {
	.read = pci_window_read,
	.write = pci_window_write,
};

void pci_func_init(struct pci_func *f, uint16_t vendor, uint16_t device, uint32_t class_code,
		   bool intx, const struct pci_func_ops *ops, void *opaque, const char *name)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->ops = ops;
	f->opaque = opaque;
	f->cap_end = PCI_CAP_START;
	for (unsigned int i = 0; i < PCI_BARS; i++)
		f->bar[i].base = PCI_BAR_UNMAPPED;
	put_le16(&f->cfg[PCI_VENDOR_ID], vendor);
	put_le16(&f->cfg[PCI_DEVICE_ID], device);
	put_le32(&f->cfg[PCI_REVISION], class_code << 8 | 1);
	put_le16(&f->cfg[PCI_SUBSYS_VENDOR], vendor);
	put_le16(&f->wmask[PCI_COMMAND],
		 PCI_COMMAND_MEM | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	f->wmask[PCI_INT_LINE] = 0xff;
	f->cfg[PCI_INT_PIN] = intx ? 1 : 0; /* INTA# */
}

int pci_func_bar(struct pci_func *f, unsigned int bar, uint32_t size, uint32_t addr,
		 const struct iobus_ops *ops)
{
	if (bar >= PCI_BARS || size < 0x1000 || (size & (size - 1)) || (addr & (size - 1)) || !ops)
		return -EINVAL;
	f->bar[bar] = (struct pci_bar){ .size = size, .base = PCI_BAR_UNMAPPED, .ops = ops };
	put_le32(&f->cfg[PCI_BAR0 + 4 * bar], addr);
	put_le32(&f->wmask[PCI_BAR0 + 4 * bar], ~(size - 1));
	return 0;
}

unsigned int pci_cap_add(struct pci_func *f, uint8_t id, unsigned int len)
{
	unsigned int at = f->cap_end, p = PCI_CAP_PTR;

	if (len < 2 || at + len > PCI_CFG_SIZE)
		return 0;
	while (f->cfg[p])
		p = f->cfg[p] + 1; /* the previous capability's next pointer */
	f->cfg[p] = (uint8_t)at;
	f->cfg[at] = id;
	f->cfg[at + 1] = 0;
	put_le16(&f->cfg[PCI_STATUS], get_le16(&f->cfg[PCI_STATUS]) | PCI_STATUS_CAP_LIST);
	f->cap_end = (uint8_t)((at + len + 3) & ~3u);
	if (at + len + 3 >= PCI_CFG_SIZE)
		f->cap_end = 0xff; /* full: the next add fails */
	return at;
}

int pci_func_add(struct pci_bus *bus, struct pci_func *f)
{
	int slot = -ENOSPC;

	pthread_mutex_lock(&bus->cfg_lock);
	for (unsigned int s = 1; s < PCI_SLOTS; s++) {
		if (bus->slot[s])
			continue;
		f->bus = bus;
		f->slot = s;
		bus->slot[s] = f;
		slot = (int)s;
		break;
	}
	pthread_mutex_unlock(&bus->cfg_lock);
	return slot;
}

void pci_func_remove(struct pci_bus *bus, struct pci_func *f)
{
	pthread_mutex_lock(&bus->cfg_lock);
	if (f->slot < PCI_SLOTS && bus->slot[f->slot] == f) {
		pthread_rwlock_wrlock(&bus->map_lock);
		bus->slot[f->slot] = NULL;
		pthread_rwlock_unlock(&bus->map_lock);
	}
	pthread_mutex_unlock(&bus->cfg_lock);
}

int pci_bus_init(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio)
{
	int err;

	memset(bus, 0, sizeof(*bus));
	bus->pio = pio;
	bus->mmio = mmio;
	pthread_mutex_init(&bus->cfg_lock, NULL);
	pthread_rwlock_init(&bus->map_lock, NULL);
	pthread_mutex_init(&bus->rl_lock, NULL);
	bus->rl = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(10);
	pci_func_init(&bus->host_bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE, CLASS_HOST_BRIDGE,
		      false, NULL, NULL, "pci 00:00.0 host bridge");
	bus->slot[0] = &bus->host_bridge;

	err = iobus_register(pio, PCI_CONFIG_PORT, 8, &pci_pio_ops, bus, "pci config ports");
	bus->registered_pio = !err;
	if (!err)
		err = iobus_register(mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, &pci_ecam_ops, bus,
				     "pci ecam");
	bus->registered_ecam = bus->registered_pio && !err;
	if (!err)
		err = iobus_register(mmio, PCI_MMIO_BASE, PCI_MMIO_SIZE, &pci_window_ops, bus,
				     "pci mmio window");
	bus->registered_window = bus->registered_ecam && !err;
	if (err)
		pr_err("pci root complex: %s", evvm_strerror(err));
	return err;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	if (bus->registered_window)
		iobus_unregister(bus->mmio, PCI_MMIO_BASE);
	if (bus->registered_ecam)
		iobus_unregister(bus->mmio, PCI_ECAM_BASE);
	if (bus->registered_pio)
		iobus_unregister(bus->pio, PCI_CONFIG_PORT);
	pthread_rwlock_destroy(&bus->map_lock);
	pthread_mutex_destroy(&bus->cfg_lock);
	pthread_mutex_destroy(&bus->rl_lock);
}
