/* C entry of the boot CPU: report, read the command line, run tests. */
#include "cmdline.h"
#include "exit.h"
#include "irq.h"
#include "lapic.h"
#include "printf.h"
#include "pvh.h"
#include "test.h"

/* Decimal 0..255, else -1. */
static int parse_status(const char *s)
{
	int v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 255)
			return -1;
	}
	return v;
}

__noreturn void guest_main(struct hvm_start_info *si);

void guest_main(struct hvm_start_info *si)
{
	bool si_ok = si->magic == HVM_START_MAGIC;
	const char *arg;
	int status;

	idt_load();
	/*
	 * KVM resets the boot CPU's LINT0 to ExtINT and its 8259s unmasked at
	 * vector base 0, and routes GSIs 0-15 to them too: a device interrupt
	 * would also arrive as exception vector "pin" in a test that never
	 * called lapic_enable() (tests=idle, after PATCH /drives).
	 */
	lapic_enable();
	if (si_ok)
		cmdline_init(si->cmdline_paddr);
	printf("evvm-guest: booted, cmdline \"%s\"\n", cmdline_raw());
	if (!si_ok) {
		printf("evvm-guest: bad hvm_start_info magic 0x%x at %p\n",
		       si->magic, si);
		guest_exit(EXIT_ERROR);
	}

	arg = cmdline_get("exit");
	if (arg) {
		status = parse_status(arg);
		if (status < 0) {
			printf("evvm-guest: bad exit status '%s'\n", arg);
			guest_exit(EXIT_ERROR);
		}
		guest_exit(status);
	}

	tests_run(cmdline_get("tests"));
}
