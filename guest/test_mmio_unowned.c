/* Reads where no device and no RAM is must return all-ones. */
#include "io.h"
#include "layout.h"
#include "test.h"

#define UNOWNED_GPA		UNOWNED_MMIO_GPA

static int test_mmio_unowned(void)
{
	u8 v8 = mmio_read8(UNOWNED_GPA);
	u16 v16 = mmio_read16(UNOWNED_GPA);
	u32 v32 = mmio_read32(UNOWNED_GPA);
	u64 v64 = mmio_read64(UNOWNED_GPA);

	if (v8 != 0xff)
		return test_fail("8-bit read 0x%x", v8);
	if (v16 != 0xffff)
		return test_fail("16-bit read 0x%x", v16);
	if (v32 != 0xffffffff)
		return test_fail("32-bit read 0x%x", v32);
	if (v64 != ~0ULL)
		return test_fail("64-bit read 0x%lx", v64);
	return 0;
}
GUEST_TEST("mmio-unowned", test_mmio_unowned);
