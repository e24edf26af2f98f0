#include "testdev.h"
#include "test.h"

int testdev_check(void)
{
	u32 id = inl(TESTDEV_ID);

	if (id == TESTDEV_ID_VALUE)
		return 0;
	if (id == 0xffffffff)
		return test_fail("testdev not present (run evvm with --testdev)");
	return test_fail("testdev not present (ID 0x%x; run evvm with --testdev)",
			 id);
}

s32 testdev_cmd(u32 cmd, u32 a0, u32 a1, u32 a2, u32 a3)
{
	outl(a0, TESTDEV_ARG0);
	outl(a1, TESTDEV_ARG1);
	outl(a2, TESTDEV_ARG2);
	outl(a3, TESTDEV_ARG3);
	outl(cmd, TESTDEV_CMD);
	return (s32)inl(TESTDEV_RESULT);
}
