#include "exit.h"
#include "cpu.h"
#include "io.h"

void guest_exit(u32 status)
{
	outl(status, EXIT_PORT);
	cpu_halt_forever();
}
