// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

#include <evvm/log.h>

#include "libevent.h"

/* Debian's libevent-extra-2.1-7; its DT_NEEDED brings libevent_core-2.1.so.7. */
#define LIBEVENT_SONAME "libevent_extra-2.1.so.7"

/*
 * Say in the ELF file that evvm may dlopen() LIBEVENT_SONAME, for whoever
 * puts evvm somewhere with its libraries (evvm jailer, cli/jail_elf.c,
 * which adds the library's own DT_NEEDED closure): a note as systemd's ELF
 * dlopen metadata has it (owner "FDO", type 0x407c0c0a, a JSON array of
 * {"soname": [...]} objects).
 */
__asm__(".pushsection .note.dlopen, \"a\", @note\n"
	".balign 4\n"
	".long 4\n"
	".long 2f - 1f\n"
	".long 0x407c0c0a\n"
	".asciz \"FDO\"\n"
	"1: .asciz \"[{\\\"feature\\\":\\\"api\\\",\\\"description\\\":\\\"the REST API "
	"server\\\",\\\"priority\\\":\\\"recommended\\\",\\\"soname\\\":[\\\"" LIBEVENT_SONAME
	"\\\"]}]\"\n"
	"2: .balign 4\n"
	".popsection\n");

static struct libevent_fns fns;
static const struct libevent_fns *loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define SYM(field, name)                   \
	{                                  \
#name, (void **)&fns.field \
	}

static void libevent_do_load(void)
{
	static const struct {
		const char *name;
		void **slot;
	} syms[] = {
		SYM(set_log_callback, event_set_log_callback),
		SYM(base_new, event_base_new),
		SYM(base_free, event_base_free),
		SYM(base_dispatch, event_base_dispatch),
		SYM(base_loopbreak, event_base_loopbreak),
		SYM(base_update_cache_time, event_base_update_cache_time),
		SYM(event_new, event_new),
		SYM(event_free, event_free),
		SYM(event_add, event_add),
		SYM(event_active, event_active),
		SYM(bev_socket_new, bufferevent_socket_new),
		SYM(bev_getcb, bufferevent_getcb),
		SYM(bev_incref, bufferevent_incref),
		SYM(bev_decref, bufferevent_decref),
		SYM(listener_enable, evconnlistener_enable),
		SYM(listener_disable, evconnlistener_disable),
		SYM(buf_length, evbuffer_get_length),
		SYM(buf_pullup, evbuffer_pullup),
		SYM(buf_add, evbuffer_add),
		SYM(http_new, evhttp_new),
		SYM(http_free, evhttp_free),
		SYM(http_set_timeout, evhttp_set_timeout),
		SYM(http_set_max_body_size, evhttp_set_max_body_size),
		SYM(http_set_max_headers_size, evhttp_set_max_headers_size),
		SYM(http_set_allowed_methods, evhttp_set_allowed_methods),
		SYM(http_set_gencb, evhttp_set_gencb),
		SYM(http_set_bevcb, evhttp_set_bevcb),
		SYM(http_accept_socket, evhttp_accept_socket_with_handle),
		SYM(bound_listener, evhttp_bound_socket_get_listener),
		SYM(conn_set_closecb, evhttp_connection_set_closecb),
		SYM(conn_free, evhttp_connection_free),
		SYM(req_command, evhttp_request_get_command),
		SYM(req_uri, evhttp_request_get_evhttp_uri),
		SYM(req_input_headers, evhttp_request_get_input_headers),
		SYM(req_output_headers, evhttp_request_get_output_headers),
		SYM(req_input_buffer, evhttp_request_get_input_buffer),
		SYM(req_output_buffer, evhttp_request_get_output_buffer),
		SYM(uri_path, evhttp_uri_get_path),
		SYM(uridecode, evhttp_uridecode),
		SYM(find_header, evhttp_find_header),
		SYM(add_header, evhttp_add_header),
		SYM(send_reply, evhttp_send_reply),
	};
	/*
	 * Never closed: the API thread runs its code until the process ends.
	 * dlsym() on this handle also searches what it needed (libevent_core).
	 */
	void *h = dlopen(LIBEVENT_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		pr_err("API: cannot load %s: %s (install libevent-extra-2.1-7)", LIBEVENT_SONAME,
		       dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			pr_err("API: %s has no %s", LIBEVENT_SONAME, syms[i].name);
			return;
		}
	}
	loaded = &fns;
}

const struct libevent_fns *libevent_load(void)
{
	pthread_once(&once, libevent_do_load);
	return loaded;
}
