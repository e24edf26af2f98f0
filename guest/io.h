/* Port I/O and MMIO accessors. Each access is one instruction (one exit). */
#ifndef GUEST_IO_H
#define GUEST_IO_H

#include "types.h"

static inline u8 inb(u16 port)
{
	u8 v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u16 inw(u16 port)
{
	u16 v;

	asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 inl(u16 port)
{
	u32 v;

	asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outb(u8 v, u16 port)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(u16 v, u16 port)
{
	asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(u32 v, u16 port)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

/*
 * RAM is identity-mapped: a physical address is its own pointer. The empty
 * asm hides constant addresses from gcc's null-page bounds warnings.
 */
static inline void *phys_to_virt(unsigned long paddr)
{
	asm("" : "+r"(paddr));
	return (void *)paddr;
}

/*
 * MMIO takes the address as an integer: through a register the compiler
 * never emits a sign-extended disp32, so addresses >= 2 GiB are safe.
 */
static inline u8 mmio_read8(unsigned long addr)
{
	return *(volatile u8 *)addr;
}

static inline u16 mmio_read16(unsigned long addr)
{
	return *(volatile u16 *)addr;
}

static inline u32 mmio_read32(unsigned long addr)
{
	return *(volatile u32 *)addr;
}

static inline u64 mmio_read64(unsigned long addr)
{
	return *(volatile u64 *)addr;
}

static inline void mmio_write8(unsigned long addr, u8 v)
{
	*(volatile u8 *)addr = v;
}

static inline void mmio_write16(unsigned long addr, u16 v)
{
	*(volatile u16 *)addr = v;
}

static inline void mmio_write32(unsigned long addr, u32 v)
{
	*(volatile u32 *)addr = v;
}

static inline void mmio_write64(unsigned long addr, u64 v)
{
	*(volatile u64 *)addr = v;
}

#endif
