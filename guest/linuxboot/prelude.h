/*
 * Force-included (-include) into every file of the linuxboot build, the
 * shared guest/ sources included: guest/layout.h as it is, except that the
 * image is linked at 16 MiB (LB_LOAD_ADDR) and its interrupt stubs sit one
 * page in, after startup_32/startup_64. guest/layout.h's include guard
 * makes every later #include "layout.h" a no-op, so these values win.
 */
#ifndef LINUXBOOT_PRELUDE_H
#define LINUXBOOT_PRELUDE_H

#include "../layout.h"
#include "linuxboot.h"

#undef GUEST_LOAD_ADDR
#define GUEST_LOAD_ADDR		LB_LOAD_ADDR
#undef ISR_STUBS_ADDR
#define ISR_STUBS_ADDR		(LB_LOAD_ADDR + 0x1000)

#endif
