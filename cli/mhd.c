// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

#include <evvm/log.h>

#include "mhd.h"

#define MHD_SONAME "libmicrohttpd.so.12" /* Debian's libmicrohttpd12 */

/*
 * Say in the ELF file that evvm may dlopen() MHD_SONAME, for whoever puts
 * evvm somewhere with its libraries (evvm jailer, cli/jail_elf.c): a note
 * as systemd's ELF dlopen metadata has it (owner "FDO", type 0x407c0c0a,
 * a JSON array of {"soname": [...]} objects).
 */
__asm__(".pushsection .note.dlopen, \"a\", @note\n"
	".balign 4\n"
	".long 4\n"
	".long 2f - 1f\n"
	".long 0x407c0c0a\n"
	".asciz \"FDO\"\n"
	"1: .asciz \"[{\\\"feature\\\":\\\"api\\\",\\\"description\\\":\\\"the REST API "
	"server\\\",\\\"priority\\\":\\\"recommended\\\",\\\"soname\\\":[\\\"" MHD_SONAME
	"\\\"]}]\"\n"
	"2: .balign 4\n"
	".popsection\n");

static struct mhd_fns fns;
static const struct mhd_fns *loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void mhd_do_load(void)
{
	static const struct {
		const char *name;
		void **slot;
	} syms[] = {
		{ "MHD_start_daemon", (void **)&fns.start_daemon },
		{ "MHD_stop_daemon", (void **)&fns.stop_daemon },
		{ "MHD_lookup_connection_value", (void **)&fns.lookup_connection_value },
		{ "MHD_create_response_from_buffer", (void **)&fns.create_response_from_buffer },
		{ "MHD_add_response_header", (void **)&fns.add_response_header },
		{ "MHD_queue_response", (void **)&fns.queue_response },
		{ "MHD_destroy_response", (void **)&fns.destroy_response },
	};
	/* Never closed: the API thread runs its code until the process ends. */
	void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		pr_err("API: cannot load %s: %s (install libmicrohttpd12)", MHD_SONAME, dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			pr_err("API: %s has no %s", MHD_SONAME, syms[i].name);
			return;
		}
	}
	loaded = &fns;
}

const struct mhd_fns *mhd_load(void)
{
	pthread_once(&once, mhd_do_load);
	return loaded;
}
