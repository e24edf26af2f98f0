#include "ioapic.h"
#include "io.h"

/* Indirect access: select a register, then read or write the window. */
#define IOAPIC_REGSEL		0x00
#define IOAPIC_WIN		0x10

#define IOREDTBL_LO(pin)	(0x10 + 2 * (pin))
#define IOREDTBL_HI(pin)	(0x11 + 2 * (pin))

u32 ioapic_read(u32 reg)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

void ioapic_write(u32 reg, u32 val)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, val);
}

void ioapic_route(unsigned int pin, u8 vector, u32 flags, u8 dest_apic_id)
{
	/* Destination first: the low word may unmask the pin. */
	ioapic_write(IOREDTBL_HI(pin), (u32)dest_apic_id << 24);
	ioapic_write(IOREDTBL_LO(pin), flags | vector);
}

void ioapic_mask(unsigned int pin)
{
	ioapic_write(IOREDTBL_LO(pin),
		     ioapic_read(IOREDTBL_LO(pin)) | IOAPIC_MASKED);
}

void ioapic_unmask(unsigned int pin)
{
	ioapic_write(IOREDTBL_LO(pin),
		     ioapic_read(IOREDTBL_LO(pin)) & ~IOAPIC_MASKED);
}
