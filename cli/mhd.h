/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_MHD_H
#define EVVM_CLI_MHD_H

#include <microhttpd.h>

/*
 * libmicrohttpd, loaded when an API server first starts rather than by
 * every evvm process: Debian's build pulls in GnuTLS and its dependencies,
 * which would add their loading to each `evvm run` (bench/api, README).
 * The entries are libmicrohttpd's own functions, with their own types.
 */
struct mhd_fns {
	typeof(&MHD_start_daemon) start_daemon;
	typeof(&MHD_stop_daemon) stop_daemon;
	typeof(&MHD_lookup_connection_value) lookup_connection_value;
	typeof(&MHD_create_response_from_buffer) create_response_from_buffer;
	typeof(&MHD_add_response_header) add_response_header;
	typeof(&MHD_queue_response) queue_response;
	typeof(&MHD_destroy_response) destroy_response;
};

/* The library's functions (loaded once, kept), or NULL after logging why not. */
const struct mhd_fns *mhd_load(void);

#endif
