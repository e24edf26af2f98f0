/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_LIBEVENT_H
#define EVVM_CLI_LIBEVENT_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

/*
 * libevent (its evhttp and the core it needs), loaded when an API server
 * first starts rather than by every evvm process (bench/api, README).
 * The entries are libevent's own functions, with their own types.
 */
struct libevent_fns {
	typeof(&event_set_log_callback) set_log_callback;
	typeof(&event_base_new) base_new;
	typeof(&event_base_free) base_free;
	typeof(&event_base_dispatch) base_dispatch;
	typeof(&event_base_loopbreak) base_loopbreak;
	typeof(&event_base_update_cache_time) base_update_cache_time;
	typeof(&event_new) event_new;
	typeof(&event_free) event_free;
	typeof(&event_add) event_add;
	typeof(&event_active) event_active;
	typeof(&bufferevent_socket_new) bev_socket_new;
	typeof(&bufferevent_getcb) bev_getcb;
	typeof(&bufferevent_incref) bev_incref;
	typeof(&bufferevent_decref) bev_decref;
	typeof(&evconnlistener_enable) listener_enable;
	typeof(&evconnlistener_disable) listener_disable;
	typeof(&evbuffer_get_length) buf_length;
	typeof(&evbuffer_pullup) buf_pullup;
	typeof(&evbuffer_add) buf_add;
	typeof(&evhttp_new) http_new;
	typeof(&evhttp_free) http_free;
	typeof(&evhttp_set_timeout) http_set_timeout;
	typeof(&evhttp_set_max_body_size) http_set_max_body_size;
	typeof(&evhttp_set_max_headers_size) http_set_max_headers_size;
	typeof(&evhttp_set_allowed_methods) http_set_allowed_methods;
	typeof(&evhttp_set_gencb) http_set_gencb;
	typeof(&evhttp_set_bevcb) http_set_bevcb;
	typeof(&evhttp_accept_socket_with_handle) http_accept_socket;
	typeof(&evhttp_bound_socket_get_listener) bound_listener;
	typeof(&evhttp_connection_set_closecb) conn_set_closecb;
	typeof(&evhttp_connection_free) conn_free;
	typeof(&evhttp_request_get_command) req_command;
	typeof(&evhttp_request_get_evhttp_uri) req_uri;
	typeof(&evhttp_request_get_input_headers) req_input_headers;
	typeof(&evhttp_request_get_output_headers) req_output_headers;
	typeof(&evhttp_request_get_input_buffer) req_input_buffer;
	typeof(&evhttp_request_get_output_buffer) req_output_buffer;
	typeof(&evhttp_uri_get_path) uri_path;
	typeof(&evhttp_uridecode) uridecode;
	typeof(&evhttp_find_header) find_header;
	typeof(&evhttp_add_header) add_header;
	typeof(&evhttp_send_reply) send_reply;
};

/* The library's functions (loaded once, kept), or NULL after logging why not. */
const struct libevent_fns *libevent_load(void);

#endif
