// SPDX-License-Identifier: MIT
/*
 * Firecracker's REST API over a unix socket: cli/httpd.c reads each request
 * on a thread of its own, a table routes it to a handler that reads its
 * body with cli/vmjson.c and changes the instance under its lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include <evvm/confine.h>
#include <evvm/log.h>

#include "api.h"
#include "cli.h"
#include "httpd.h"
#include "vmjson.h"

#define API_VERSION   "1.17.0" /* the Firecracker API whose subset evvm speaks */
#define API_LOG_BURST 20

struct api_server {
	struct httpd *httpd;
	struct instance *in;
	struct evvm_ratelimit log; /* refused requests: a client can send many */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

enum { M_GET = 1, M_PUT = 2, M_PATCH = 4 };

/* One request: its body as it arrives, then the answer. */
struct api_req {
	const char *body; /* the server's, read whole */
	size_t len;
	struct instance *in;
	int method;
	const char *id; /* the path's {id}, or NULL */
	json_t *json;	/* the parsed body */
	unsigned int status;
	json_t *reply; /* a 200's body */
	char msg[VMDESC_MSG_MAX + 128];
};

#define API_MSG_MAX (VMDESC_MSG_MAX + 128)

/* Set the answer to status @st with a fault_message; returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fault(struct api_req *r, unsigned int st,
						       const char *fmt, ...)
{
	char m[API_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	memcpy(r->msg, m, sizeof(m));
	r->status = st;
	return -EINVAL;
}

static const char not_after_start[] =
	"The requested operation is not supported after starting the microVM.";
static const char not_before_start[] =
	"The requested operation is not supported before starting the microVM.";

/* The body as JSON, or a 400 naming the parse error. */
static int body_json(struct api_req *r)
{
	char err[VMDESC_MSG_MAX];

	if (!r->len)
		return fault(r, 400, "Empty %s request.", r->method == M_PUT ? "PUT" : "PATCH");
	r->json = vmjson_parse(r->body, r->len, err);
	if (!r->json)
		return fault(r, 400,
			     "An error occurred when deserializing the json body of a request: %s.",
			     err);
	return 0;
}

/* A body reader's failure as Firecracker words it. */
static int bad_body(struct api_req *r)
{
	char err[VMDESC_MSG_MAX];

	memcpy(err, r->msg, sizeof(err));
	return fault(r, 400, "An error occurred when deserializing the json body of a request: %s.",
		     err);
}

static int preboot(struct api_req *r)
{
	if (r->in->state != INSTANCE_NOT_STARTED)
		return fault(r, 400, "%s", not_after_start);
	return 0;
}

static int h_info(struct api_req *r)
{
	r->reply = json_pack("{s:s, s:s, s:s, s:s}", "id", r->in->id, "state",
			     instance_state_name(r->in->state), "vmm_version", EVVM_VERSION,
			     "app_name", "evvm");
	return 0;
}

static int h_version(struct api_req *r)
{
	r->reply = json_pack("{s:s}", "firecracker_version", API_VERSION);
	return 0;
}

static int h_machine(struct api_req *r)
{
	struct vmdesc_machine m;

	if (r->method == M_GET) {
		r->reply = vmjson_export_machine(&r->in->desc.machine);
		return 0;
	}
	if (preboot(r) || body_json(r))
		return -EINVAL;
	m = r->in->desc.machine;
	if (vmjson_machine(r->json, r->method == M_PATCH, &m, r->msg))
		return bad_body(r);
	r->in->desc.machine = m;
	return 0;
}

static int h_boot(struct api_req *r)
{
	struct vmdesc_boot b = { 0 };

	if (preboot(r) || body_json(r))
		return -EINVAL;
	if (vmjson_boot(r->json, &b, r->msg)) {
		vmdesc_boot_release(&b);
		return bad_body(r);
	}
	if (vmdesc_set_boot(&r->in->desc, &b, r->msg)) {
		vmdesc_boot_release(&b);
		return fault(r, 400, "%s", r->msg);
	}
	return 0;
}

/* PATCH /drives/{id}: after start, a new backing file and/or new rate limits. */
static int h_drive_patch(struct api_req *r)
{
	struct vmjson_drive_update u;
	int err = 0;

	if (body_json(r))
		return -EINVAL;
	if (vmjson_drive_update(r->json, &u, r->msg)) {
		free(u.path);
		return bad_body(r);
	}
	if (strcmp(u.id, r->id))
		err = fault(r, 400, "The id from the path does not match the id from the body!");
	else if (r->in->state == INSTANCE_NOT_STARTED)
		err = fault(r, 400, "%s", not_before_start);
	else if (u.path && instance_set_drive_path_locked(r->in, u.id, u.path, r->msg))
		err = fault(r, 400, "%s", r->msg);
	else if (u.rate_limiter.set &&
		 instance_set_drive_rate_limit_locked(r->in, u.id, &u.rate_limiter, r->msg))
		err = fault(r, 400, "%s", r->msg);
	free(u.path);
	return err;
}

static int h_drive(struct api_req *r)
{
	struct vmdesc_drive drv = { 0 };

	if (r->method == M_PATCH)
		return h_drive_patch(r);
	if (preboot(r) || body_json(r))
		return -EINVAL;
	if (vmjson_drive(r->json, &drv, r->msg)) {
		vmdesc_drive_release(&drv);
		return bad_body(r);
	}
	if (strcmp(drv.id, r->id)) {
		vmdesc_drive_release(&drv);
		return fault(r, 400, "The id from the path does not match the id from the body!");
	}
	if (vmdesc_put_drive(&r->in->desc, &drv, r->msg)) {
		vmdesc_drive_release(&drv);
		return fault(r, 400, "%s", r->msg);
	}
	return 0;
}

/* PATCH /network-interfaces/{id}: after start, rate limiters only. */
static int h_net_patch(struct api_req *r)
{
	const struct vm_desc *d = &r->in->desc;
	struct vmjson_net_update u;
	unsigned int i;

	if (body_json(r))
		return -EINVAL;
	if (vmjson_net_update(r->json, &u, r->msg))
		return bad_body(r);
	if (strcmp(u.id, r->id))
		return fault(r, 400, "The id from the path does not match the id from the body!");
	if (r->in->state == INSTANCE_NOT_STARTED)
		return fault(r, 400, "%s", not_before_start);
	for (i = 0; i < d->nr_nets && strcmp(d->nets[i].id, u.id); i++)
		;
	if (i == d->nr_nets)
		return fault(r, 400, "Network interface update failed: no interface with id `%s`",
			     u.id);
	if ((u.rx.set || u.tx.set) &&
	    instance_set_net_rate_limit_locked(r->in, u.id, &u.rx, &u.tx, r->msg))
		return fault(r, 400, "%s", r->msg);
	return 0;
}

static int h_net(struct api_req *r)
{
	struct vmdesc_net n = { 0 };
	unsigned int index = r->in->desc.nr_nets;

	if (r->method == M_PATCH)
		return h_net_patch(r);
	if (preboot(r) || body_json(r))
		return -EINVAL;
	for (unsigned int i = 0; i < r->in->desc.nr_nets; i++)
		if (!strcmp(r->in->desc.nets[i].id, r->id))
			index = i;
	if (vmjson_net(r->json, index, &n, r->msg)) {
		vmdesc_net_release(&n);
		return bad_body(r);
	}
	if (strcmp(n.id, r->id)) {
		vmdesc_net_release(&n);
		return fault(r, 400, "The id from the path does not match the id from the body!");
	}
	if (vmdesc_put_net(&r->in->desc, &n, r->msg)) {
		vmdesc_net_release(&n);
		return fault(r, 400, "%s", r->msg);
	}
	return 0;
}

static int h_entropy(struct api_req *r)
{
	struct vm_desc *d = &r->in->desc;

	if (preboot(r) || body_json(r))
		return -EINVAL;
	if (!d->rng && d->nr_drives + d->nr_nets + d->console >= EVVM_MAX_VIRTIO)
		return fault(r, 400, "entropy: at most %u virtio devices", EVVM_MAX_VIRTIO);
	if (vmjson_entropy(r->json, d, r->msg))
		return bad_body(r);
	return 0;
}

static int h_logger(struct api_req *r)
{
	struct vmdesc_logger l = { 0 };

	if (preboot(r) || body_json(r))
		return -EINVAL;
	if (vmjson_logger(r->json, &l, r->msg)) {
		free(l.path);
		return bad_body(r);
	}
	if (instance_set_logger_locked(r->in, &l, r->msg)) {
		free(l.path);
		return fault(r, 400, "%s", r->msg);
	}
	return 0;
}

static int h_metrics(struct api_req *r)
{
	struct vmdesc_metrics m = { 0 };

	if (preboot(r) || body_json(r))
		return -EINVAL;
	if (vmjson_metrics(r->json, &m, r->msg)) {
		free(m.path);
		return bad_body(r);
	}
	if (instance_set_metrics_locked(r->in, &m, r->msg)) {
		free(m.path);
		return fault(r, 400, "%s", r->msg);
	}
	return 0;
}

static int h_actions(struct api_req *r)
{
	const char *action = NULL;
	const char *key;
	json_t *v;

	if (body_json(r))
		return -EINVAL;
	if (!json_is_object(r->json))
		return fault(r, 400,
			     "An error occurred when deserializing the json body of a "
			     "request: expected a JSON object.");
	json_object_foreach(r->json, key, v)
	{
		if (strcmp(key, "action_type"))
			return fault(r, 400,
				     "An error occurred when deserializing the json body "
				     "of a request: unknown field `%s`, expected "
				     "`action_type`.",
				     key);
		if (!json_is_string(v))
			return fault(r, 400,
				     "An error occurred when deserializing the json body "
				     "of a request: field `action_type`: invalid type, "
				     "expected a string.");
		action = json_string_value(v);
	}
	if (!action)
		return fault(r, 400,
			     "An error occurred when deserializing the json body of a "
			     "request: missing field `action_type`.");
	if (!strcmp(action, "InstanceStart")) {
		if (instance_start_locked(r->in, r->msg))
			return fault(r, 400, "%s", r->msg);
		return 0;
	}
	if (!strcmp(action, "FlushMetrics")) {
		/* Refused pre-boot as Firecracker does (the 60 s and last lines are not). */
		if (r->in->state == INSTANCE_NOT_STARTED)
			return fault(r, 400, "%s", not_before_start);
		if (instance_flush_metrics_locked(r->in, r->msg))
			return fault(r, 400, "%s", r->msg);
		return 0;
	}
	if (!strcmp(action, "SendCtrlAltDel")) {
		if (instance_ctrl_alt_del_locked(r->in, r->msg))
			return fault(r, 400, "%s", r->msg);
		return 0;
	}
	return fault(r, 400,
		     "An error occurred when deserializing the json body of a request: "
		     "action_type `%.64s`: expected FlushMetrics, InstanceStart or "
		     "SendCtrlAltDel.",
		     action);
}

static int h_vm(struct api_req *r)
{
	bool pause;

	if (body_json(r))
		return -EINVAL;
	if (vmjson_vm_state(r->json, &pause, r->msg))
		return bad_body(r);
	if (instance_pause_locked(r->in, pause, r->msg))
		return fault(r, 400, "%s", r->msg);
	return 0;
}

static int h_vm_config(struct api_req *r)
{
	r->reply = vmjson_export(&r->in->desc);
	return 0;
}

/* PUT /snapshot/create: Firecracker's SnapshotCreateParams, the VM paused. */
static int h_snapshot_create(struct api_req *r)
{
	const char *type = "Full", *state = NULL, *mem = NULL;
	json_error_t je;

	if (body_json(r))
		return -EINVAL;
	if (json_unpack_ex(r->json, &je, JSON_STRICT, "{s?s, s:s, s:s}", "snapshot_type", &type,
			   "snapshot_path", &state, "mem_file_path", &mem))
		return fault(r, 400,
			     "An error occurred when deserializing the json body of a request: %s.",
			     je.text);
	if (strcmp(type, "Full") && strcmp(type, "Diff"))
		return fault(r, 400, "snapshot_type '%s': expected Full or Diff", type);
	if (!*state || !*mem)
		return fault(r, 400, "snapshot_path and mem_file_path must not be empty");
	if (instance_snapshot_locked(r->in, state, mem,
				     strcmp(type, "Diff") ? EVVM_SNAPSHOT_FULL : EVVM_SNAPSHOT_DIFF,
				     r->msg))
		return fault(r, 400, "%s", r->msg);
	return 0;
}

/*
 * A load body's list of overrides @name: [{@id_key: ID, @val_key: VALUE},
 * ...], at most one per device, each ID once, neither empty.
 */
static int override_list(struct api_req *r, json_t *list, const char *name, const char *id_key,
			 const char *val_key, const char *what, const char **ids, const char **vals,
			 unsigned int *nr)
{
	json_error_t je;
	size_t i;
	json_t *o;

	*nr = 0;
	if (!list)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > EVVM_MAX_VIRTIO)
		return fault(r, 400, "%s: an array of at most %u entries", name, EVVM_MAX_VIRTIO);
	json_array_foreach(list, i, o)
	{
		if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s:s}", id_key, &ids[i], val_key,
				   &vals[i]) ||
		    !*ids[i] || !*vals[i])
			return fault(r, 400, "%s[%zu]: want %s and %s, not empty", name, i, id_key,
				     val_key);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(ids[j], ids[i]))
				return fault(r, 400, "%s: %s '%s' twice", name, what, ids[i]);
	}
	*nr = (unsigned int)i;
	return 0;
}

/*
 * evvm's extension of the load body: "evvm_drive_overrides": [{"drive_id":
 * ID, "path_on_host": PATH}, ...], each drive on its own file (a clone's);
 * for a drive a vhost-user backend served, PATH is a backend's socket.
 */
static int drive_overrides(struct api_req *r, json_t *list, struct evvm_disk_override *ov,
			   unsigned int *nr)
{
	const char *ids[EVVM_MAX_VIRTIO], *paths[EVVM_MAX_VIRTIO];
	int err = override_list(r, list, "evvm_drive_overrides", "drive_id", "path_on_host",
				"drive", ids, paths, nr);

	for (unsigned int i = 0; !err && i < *nr; i++)
		ov[i] = (struct evvm_disk_override){ .id = ids[i], .path = paths[i] };
	return err;
}

/*
 * Firecracker's network_overrides: [{"iface_id": ID, "host_dev_name":
 * TAP}, ...], each interface on a tap of its own (a clone's).
 */
static int net_overrides(struct api_req *r, json_t *list, struct evvm_net_override *ov,
			 unsigned int *nr)
{
	const char *ids[EVVM_MAX_VIRTIO], *taps[EVVM_MAX_VIRTIO];
	int err = override_list(r, list, "network_overrides", "iface_id", "host_dev_name",
				"interface", ids, taps, nr);

	for (unsigned int i = 0; !err && i < *nr; i++)
		ov[i] = (struct evvm_net_override){ .id = ids[i], .tap = taps[i] };
	return err;
}

/* PUT /snapshot/load: Firecracker's SnapshotLoadParams; mem_backend File (or mem_file_path). */
static int h_snapshot_load(struct api_req *r)
{
	const char *btype = NULL, *bpath = NULL;
	struct evvm_disk_override ov[EVVM_MAX_VIRTIO];
	struct evvm_net_override nov[EVVM_MAX_VIRTIO];
	struct instance_restore rs = { .disks = ov, .nets = nov };
	int resume = 0, diff = 0, dirty = 0;
	json_t *ovlist = NULL, *novlist = NULL;
	json_error_t je;

	if (body_json(r))
		return -EINVAL;
	if (json_unpack_ex(r->json, &je, JSON_STRICT,
			   "{s:s, s?s, s?{s:s, s:s}, s?b, s?b, s?b, s?o, s?o}", "snapshot_path",
			   &rs.state_path, "mem_file_path", &rs.mem_path, "mem_backend",
			   "backend_type", &btype, "backend_path", &bpath, "resume_vm", &resume,
			   "enable_diff_snapshots", &diff, "track_dirty_pages", &dirty,
			   "evvm_drive_overrides", &ovlist, "network_overrides", &novlist))
		return fault(r, 400,
			     "An error occurred when deserializing the json body of a request: %s.",
			     je.text);
	if (!rs.mem_path == !bpath)
		return fault(r, 400, "give exactly one of mem_backend and mem_file_path");
	if (btype && strcmp(btype, "File"))
		return fault(r, 400, "mem_backend backend_type '%s': evvm loads File only", btype);
	if (!rs.mem_path)
		rs.mem_path = bpath;
	if (!*rs.state_path || !*rs.mem_path)
		return fault(r, 400, "snapshot_path and the memory path must not be empty");
	if (drive_overrides(r, ovlist, ov, &rs.nr_disks) ||
	    net_overrides(r, novlist, nov, &rs.nr_nets))
		return -EINVAL;
	rs.resume = resume;
	/* enable_diff_snapshots: Firecracker's older name of track_dirty_pages. */
	rs.track_dirty_pages = diff || dirty;
	if (instance_restore_locked(r->in, &rs, r->msg)) {
		return fault(r, 400, "%s", r->msg);
	}
	return 0;
}

static int h_unimplemented(struct api_req *r)
{
	return fault(r, 400, "this endpoint is not implemented by evvm yet (see evvm's README)");
}

struct route {
	const char *path;
	bool with_id; /* path/{id} */
	int methods;
	int (*fn)(struct api_req *r);
};

static const struct route routes[] = {
	{ "/", false, M_GET, h_info },
	{ "/version", false, M_GET, h_version },
	{ "/machine-config", false, M_GET | M_PUT | M_PATCH, h_machine },
	{ "/boot-source", false, M_PUT, h_boot },
	{ "/drives", true, M_PUT | M_PATCH, h_drive },
	{ "/network-interfaces", true, M_PUT | M_PATCH, h_net },
	{ "/entropy", false, M_PUT, h_entropy },
	{ "/logger", false, M_PUT, h_logger },
	{ "/metrics", false, M_PUT, h_metrics },
	{ "/actions", false, M_PUT, h_actions },
	{ "/vm", false, M_PATCH, h_vm },
	{ "/vm/config", false, M_GET, h_vm_config },
	/* Firecracker's, not evvm's yet (README.md lists them). */
	{ "/balloon", false, M_GET | M_PUT | M_PATCH, h_unimplemented },
	{ "/balloon/statistics", false, M_GET | M_PATCH, h_unimplemented },
	{ "/balloon/hinting/start", false, M_PATCH, h_unimplemented },
	{ "/balloon/hinting/status", false, M_GET, h_unimplemented },
	{ "/balloon/hinting/stop", false, M_PATCH, h_unimplemented },
	{ "/cpu-config", false, M_PUT, h_unimplemented },
	{ "/pmem", true, M_PUT | M_PATCH, h_unimplemented },
	{ "/mmds", false, M_GET | M_PUT | M_PATCH, h_unimplemented },
	{ "/mmds/config", false, M_PUT, h_unimplemented },
	{ "/serial", false, M_PUT, h_unimplemented },
	{ "/hotplug/memory", false, M_GET | M_PUT | M_PATCH, h_unimplemented },
	{ "/snapshot/create", false, M_PUT, h_snapshot_create },
	{ "/snapshot/load", false, M_PUT, h_snapshot_load },
	{ "/vsock", false, M_PUT, h_unimplemented },
};

/* Route @url for @r->method and run its handler with the instance locked. */
static void dispatch(struct api_req *r, const char *url, const char *method)
{
	const struct route *rt = NULL;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && !rt; i++) {
		size_t n = strlen(routes[i].path);

		if (!routes[i].with_id && !strcmp(url, routes[i].path))
			rt = &routes[i];
		else if (routes[i].with_id && !strncmp(url, routes[i].path, n) &&
			 (url[n] == '/' || !url[n]))
			rt = &routes[i];
		if (rt && rt->with_id)
			r->id = url[n] == '/' ? url + n + 1 : "";
	}
	if (!rt || !(rt->methods & r->method)) {
		fault(r, 400, "Invalid request method and/or path: %.16s %.128s.", method, url);
		return;
	}
	if (rt->with_id && !*r->id) {
		fault(r, 400, "The ID cannot be empty.");
		return;
	}
	if (rt->with_id &&
	    (strlen(r->id) > VMDESC_ID_MAX || strspn(r->id, "abcdefghijklmnopqrstuvwxyz"
							    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							    "0123456789_") != strlen(r->id))) {
		fault(r, 400,
		      "API Resource IDs can only contain alphanumeric characters and "
		      "underscores (at most %u).",
		      VMDESC_ID_MAX);
		return;
	}
	if (r->method == M_GET && r->len) {
		fault(r, 400, "GET request cannot have a body.");
		return;
	}
	pthread_mutex_lock(&r->in->lock);
	r->status = 200;
	if (!rt->fn(r) && !r->reply)
		r->status = 204;
	r->in->requests++;
	r->in->request_errors += r->status >= 400;
	pthread_mutex_unlock(&r->in->lock);
	if (r->status == 200 && !r->reply)
		fault(r, 500, "out of memory");
}

static int parse_method(const char *m)
{
	if (!strcmp(m, "GET"))
		return M_GET;
	if (!strcmp(m, "PUT"))
		return M_PUT;
	if (!strcmp(m, "PATCH"))
		return M_PATCH;
	return 0;
}

/* One line per refused request, at most API_LOG_BURST a second (only the API thread logs). */
static void log_refused(struct api_server *api, const char *method, const char *url,
			const struct api_req *r)
{
	unsigned long dropped;

	if (!evvm_ratelimit(&api->log, &dropped))
		return;
	if (dropped)
		pr_info("API: %lu refused requests not logged", dropped);
	pr_info("API: %.16s %.128s: %u: %s", method, url, r->status, r->msg);
}

/* The body's limit: from Content-Length when it was sent, else from the bytes read (chunked). */
static int check_size(struct api_req *r, const struct httpd_request *rq)
{
	if (rq->content_length && strtoull(rq->content_length, NULL, 10) > API_MAX_BODY)
		return fault(r, 413,
			     "Request payload with size %.20s is larger than the limit of %u "
			     "allowed by server.",
			     rq->content_length, API_MAX_BODY);
	if (rq->len > API_MAX_BODY)
		return fault(r, 413,
			     "Request payload with size %zu is larger than the limit of %u allowed "
			     "by server.",
			     rq->len, API_MAX_BODY);
	return 0;
}

/* httpd's handler: one request, read whole, on the API thread. */
static void on_request(void *arg, const struct httpd_request *rq, struct httpd_reply *rp)
{
	struct api_server *api = arg;
	struct api_req *r = calloc(1, sizeof(*r));
	json_t *j;

	rp->status = 500;
	if (!r)
		return;
	r->in = api->in;
	r->method = parse_method(rq->method);
	r->body = rq->body;
	r->len = rq->len;
	if (!check_size(r, rq))
		dispatch(r, rq->path, rq->method);
	if (r->status >= 400) {
		log_refused(api, rq->method, rq->path, r);
		j = json_pack("{s:s}", "fault_message", r->msg);
		rp->json = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
	} else if (r->status == 200) {
		rp->json = json_dumps(r->reply, JSON_COMPACT);
	}
	/* Without memory for its body, an answer is a bare 500. */
	rp->status = r->status == 204 || rp->json ? r->status : 500;
	json_decref(r->json);
	json_decref(r->reply);
	free(r);
}

/* Remove @path if it is a socket nobody answers on; refuse anything else. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("API socket '%s': exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno : 0;
	close(fd);
	if (!err) {
		pr_err("API socket '%s': another process is listening on it", sa->sun_path);
		return -EADDRINUSE;
	}
	if (err != -ECONNREFUSED) {
		pr_err("API socket '%s': connect: %s", sa->sun_path, evvm_strerror(err));
		return err;
	}
	pr_info("API socket '%s': removing a stale socket", sa->sun_path);
	return unlink(sa->sun_path) ? -errno : 0;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pr_err("API socket '%s': longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	err = clear_stale(&sa);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, API_MAX_CONNECTIONS)) {
		err = -errno;
		pr_err("API socket '%s': bind/listen: %s", path, evvm_strerror(err));
		close(fd);
		return err;
	}
	return fd;
}

static int confine_api_thread(void *unused)
{
	(void)unused;
	return confine_thread(EVVM_THREAD_API);
}

/*
 * Before the guest runs: the API thread takes its own seccomp list, which
 * covers serving and the requests a started VM accepts, not the VM's
 * set-up (InstanceStart, PUT /snapshot/load come before this).
 */
static int api_confine(void *opaque)
{
	struct api_server *api = opaque;
	int err = httpd_call(api->httpd, confine_api_thread, NULL);

	if (err)
		pr_err("API: cannot confine its thread: %s", evvm_strerror(err));
	return err;
}

int api_start(const char *path, struct instance *in, struct api_server **out)
{
	static const struct httpd_limits lim = {
		.max_connections = API_MAX_CONNECTIONS,
		.idle_timeout_s = API_TIMEOUT_S,
		.max_body = API_READ_MAX,
		.max_headers = API_MAX_HEADERS,
	};
	struct api_server *api = calloc(1, sizeof(*api));
	int fd, err;

	if (!api)
		return -ENOMEM;
	fd = listen_unix(path);
	if (fd < 0) {
		free(api);
		return fd;
	}
	api->in = in;
	api->log = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(API_LOG_BURST);
	strcpy(api->path, path);
	err = httpd_start(fd, &lim, on_request, api, &api->httpd);
	if (err) {
		unlink(path);
		free(api);
		return err;
	}
	instance_set_before_run(in, api_confine, api);
	pr_info("API listening on '%s'", path);
	*out = api;
	return 0;
}

void api_stop(struct api_server *api)
{
	if (!api)
		return;
	httpd_stop(api->httpd);
	unlink(api->path);
	free(api);
}
