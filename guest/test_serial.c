/* The console works: the host looks for this exact line. */
#include "printf.h"
#include "test.h"

static int test_serial(void)
{
	printf("evvm-guest: serial: hello from the guest\n");
	return 0;
}
GUEST_TEST("serial", test_serial);
