// SPDX-License-Identifier: MIT
/* Firecracker's JSON bodies <-> the VM description (vm/vmdesc.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <evvm/log.h>
#include <evvm/tbucket.h>

#include "parse.h"
#include "vmjson.h"

#define fail(msg, ...) (snprintf(msg, VMDESC_MSG_MAX, __VA_ARGS__), -EINVAL)

enum jtype { JT_STR, JT_BOOL, JT_INT, JT_OBJ, JT_ARRAY };

/* One field of a body. An unsupported field is refused unless null. */
struct jfield {
	const char *name;
	enum jtype type;
	bool required;
	bool unsupported;
};

static const char *const jtype_name[] = {
	[JT_STR] = "a string",	[JT_BOOL] = "a boolean", [JT_INT] = "an integer",
	[JT_OBJ] = "an object", [JT_ARRAY] = "an array",
};

static bool jtype_is(const json_t *v, enum jtype t)
{
	switch (t) {
	case JT_STR:
		return json_is_string(v);
	case JT_BOOL:
		return json_is_boolean(v);
	case JT_INT:
		return json_is_integer(v);
	case JT_OBJ:
		return json_is_object(v);
	case JT_ARRAY:
		return json_is_array(v);
	}
	return false;
}

/* The shape check every reader starts with; @patch: nothing is required. */
static int jcheck(const json_t *o, const struct jfield *f, size_t n, bool patch, char *msg)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(o))
		return fail(msg, "expected a JSON object");
	json_object_foreach((json_t *)o, key, v)
	{
		int len = 0;

		for (i = 0; i < n && strcmp(key, f[i].name); i++)
			;
		if (i < n && json_is_null(v) && !f[i].required)
			continue;
		if (i < n && f[i].unsupported)
			return fail(msg, "field `%s`: not supported by evvm yet", key);
		if (i < n && !jtype_is(v, f[i].type))
			return fail(msg, "field `%s`: invalid type, expected %s", key,
				    jtype_name[f[i].type]);
		if (i < n)
			continue;
		len = snprintf(msg, VMDESC_MSG_MAX, "unknown field `%s`, expected one of", key);
		for (i = 0; i < n && len < VMDESC_MSG_MAX; i++)
			len += snprintf(msg + len, VMDESC_MSG_MAX - len, "%s `%s`", i ? "," : "",
					f[i].name);
		return -EINVAL;
	}
	for (i = 0; i < n && !patch; i++)
		if (f[i].required && !json_object_get(o, f[i].name))
			return fail(msg, "missing field `%s`", f[i].name);
	return 0;
}

/* The string at @key (absent or null: NULL), copied into *@out. */
static int jdup(const json_t *o, const char *key, char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!json_is_string(v))
		return 0;
	*out = strndup(json_string_value(v), json_string_length(v));
	return *out ? 0 : -ENOMEM;
}

/* The string at @key, or NULL (vmjson_parse() refuses a NUL inside a string). */
static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void jbool(const json_t *o, const char *key, bool *out)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_boolean(v))
		*out = json_is_true(v);
}

json_t *vmjson_parse(const char *buf, size_t len, char *msg)
{
	json_error_t e;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);

	if (!j)
		snprintf(msg, VMDESC_MSG_MAX, "%s at line %d column %d", e.text, e.line, e.column);
	return j;
}

int vmjson_machine(const json_t *j, bool patch, struct vmdesc_machine *m, char *msg)
{
	static const struct jfield f[] = {
		{ "vcpu_count", JT_INT, true },
		{ "mem_size_mib", JT_INT, true },
		{ "smt", JT_BOOL },
		{ "track_dirty_pages", JT_BOOL },
		{ "cpu_template", JT_STR },
		{ "huge_pages", JT_STR },
	};
	const json_t *v;
	const char *s;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), patch, msg))
		return -EINVAL;
	if ((v = json_object_get(j, "vcpu_count")) && json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > EVVM_MAX_CPUS)
			return fail(msg, "vcpu_count %lld: must be 1 to %u",
				    (long long)json_integer_value(v), EVVM_MAX_CPUS);
		m->vcpus = json_integer_value(v);
	}
	if ((v = json_object_get(j, "mem_size_mib")) && json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > (1LL << 30))
			return fail(msg, "mem_size_mib %lld: must be 1 to %lld",
				    (long long)json_integer_value(v), 1LL << 30);
		m->mem_size = (uint64_t)json_integer_value(v) << 20;
	}
	if (!patch)
		m->smt = m->track_dirty_pages = false;
	jbool(j, "smt", &m->smt);
	jbool(j, "track_dirty_pages", &m->track_dirty_pages);
	s = jstr(j, "cpu_template");
	if (s && strcmp(s, "None"))
		return fail(msg, "cpu_template `%s`: evvm has no CPU templates (only None)", s);
	s = jstr(j, "huge_pages");
	if (s && strcmp(s, "None"))
		return fail(msg, "huge_pages `%s`: evvm backs RAM with normal pages (only None)",
			    s);
	return vmdesc_check_machine(m, msg);
}

/* Copy each listed string field; -ENOMEM is reported as such. */
static int jdup_all(const json_t *j, const char *const *keys, char **const *outs, size_t n,
		    char *msg)
{
	for (size_t i = 0; i < n; i++) {
		if (jdup(j, keys[i], outs[i]))
			return fail(msg, "out of memory");
	}
	return 0;
}

int vmjson_boot(const json_t *j, struct vmdesc_boot *b, char *msg)
{
	static const struct jfield f[] = {
		{ "kernel_image_path", JT_STR, true },
		{ "initrd_path", JT_STR },
		{ "boot_args", JT_STR },
	};
	const char *const keys[] = { "kernel_image_path", "initrd_path", "boot_args" };
	char **const outs[] = { &b->kernel, &b->initrd, &b->cmdline };

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg) || jdup_all(j, keys, outs, 3, msg))
		return -EINVAL;
	return vmdesc_check_boot(b, true, msg);
}

/* A resource id into @out (VMDESC_ID_MAX + 1 bytes). */
static int jid(const json_t *j, const char *key, char *out, char *msg)
{
	const char *s = jstr(j, key);

	if (!s || strlen(s) > VMDESC_ID_MAX)
		return fail(msg, "field `%s`: 1 to %u characters", key, VMDESC_ID_MAX);
	strcpy(out, s);
	return 0;
}

/* An optional count of queues or threads, 1 to EVVM_VIRTIO_MAX_QUEUES. */
static int jcount(const json_t *j, const char *key, unsigned int *out, char *msg)
{
	json_int_t v;

	if (!json_is_integer(json_object_get(j, key)))
		return 0;
	v = json_integer_value(json_object_get(j, key));
	if (v < 1 || v > EVVM_VIRTIO_MAX_QUEUES)
		return fail(msg, "%s %lld: expected 1 to %u", key, (long long)v,
			    EVVM_VIRTIO_MAX_QUEUES);
	*out = (unsigned int)v;
	return 0;
}

int vmjson_drive(const json_t *j, struct vmdesc_drive *drv, char *msg)
{
	static const struct jfield f[] = {
		{ "drive_id", JT_STR, true },
		{ "is_root_device", JT_BOOL, true },
		{ "path_on_host", JT_STR },
		{ "is_read_only", JT_BOOL },
		{ "partuuid", JT_STR },
		{ "cache_type", JT_STR },
		{ "io_engine", JT_STR },
		{ "socket", JT_STR },
		{ "queues", JT_INT },	 /* evvm's: Firecracker has one queue */
		{ "iothreads", JT_INT }, /* evvm's */
		{ "rate_limiter", JT_OBJ },
	};
	struct vmjson_rate_limiter rl;
	const char *const keys[] = { "path_on_host", "socket", "partuuid" };
	char **const outs[] = { &drv->path, &drv->socket, &drv->partuuid };
	const char *s;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg) ||
	    jid(j, "drive_id", drv->id, msg) || jdup_all(j, keys, outs, 3, msg))
		return -EINVAL;
	jbool(j, "is_root_device", &drv->is_root);
	jbool(j, "is_read_only", &drv->readonly);
	s = jstr(j, "cache_type");
	if (s && strcmp(s, "Unsafe") && strcmp(s, "Writeback"))
		return fail(msg, "cache_type `%s`: expected Unsafe or Writeback", s);
	drv->writeback = s && !strcmp(s, "Writeback");
	s = jstr(j, "io_engine");
	if (s && strcmp(s, "Sync") && strcmp(s, "Async"))
		return fail(msg, "io_engine `%s`: expected Sync or Async", s);
	drv->io_async = s && !strcmp(s, "Async");
	if (jcount(j, "queues", &drv->queues, msg) || jcount(j, "iothreads", &drv->iothreads, msg))
		return -EINVAL;
	if (vmjson_rate_limiter(json_object_get(j, "rate_limiter"), "rate_limiter", &rl, msg))
		return -EINVAL;
	drv->rate_limited = rl.set;
	vmjson_rate_limit_apply(&rl, &drv->rate_limit);
	return vmdesc_check_drive(drv, msg);
}

int vmjson_net(const json_t *j, unsigned int index, struct vmdesc_net *n, char *msg)
{
	static const struct jfield f[] = {
		{ "iface_id", JT_STR, true },
		{ "host_dev_name", JT_STR, true },
		{ "guest_mac", JT_STR },
		{ "mtu", JT_INT, false, true },
		{ "rx_rate_limiter", JT_OBJ },
		{ "tx_rate_limiter", JT_OBJ },
	};
	struct vmjson_rate_limiter rx, tx;
	const char *s;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg) || jid(j, "iface_id", n->id, msg))
		return -EINVAL;
	n->tap = strdup(jstr(j, "host_dev_name"));
	if (!n->tap)
		return fail(msg, "out of memory");
	n->event_idx = true;
	vmdesc_default_mac(n->mac, index);
	s = jstr(j, "guest_mac");
	if (s && parse_mac(s, n->mac))
		return fail(msg, "guest_mac `%s`: expected a unicast XX:XX:XX:XX:XX:XX", s);
	n->mac_given = s;
	if (vmjson_rate_limiter(json_object_get(j, "rx_rate_limiter"), "rx_rate_limiter", &rx,
				msg) ||
	    vmjson_rate_limiter(json_object_get(j, "tx_rate_limiter"), "tx_rate_limiter", &tx, msg))
		return -EINVAL;
	n->rx_rate_limited = rx.set;
	vmjson_rate_limit_apply(&rx, &n->rx_rate_limit);
	n->tx_rate_limited = tx.set;
	vmjson_rate_limit_apply(&tx, &n->tx_rate_limit);
	return vmdesc_check_net(n, msg);
}

int vmjson_entropy(const json_t *j, struct vm_desc *d, char *msg)
{
	static const struct jfield f[] = { { "rate_limiter", JT_OBJ } };
	struct vmjson_rate_limiter rl;

	if (jcheck(j, f, 1, false, msg) ||
	    vmjson_rate_limiter(json_object_get(j, "rate_limiter"), "rate_limiter", &rl, msg))
		return -EINVAL;
	d->rng = true;
	d->rng_rate_limited = rl.set;
	d->rng_rate_limit = (struct evvm_rate_limit){ 0 };
	vmjson_rate_limit_apply(&rl, &d->rng_rate_limit);
	return 0;
}

static const struct {
	const char *name;
	enum evvm_log_level level;
} log_levels[] = {
	{ "Error", EVVM_LOG_ERR }, { "Warning", EVVM_LOG_WARN }, { "Warn", EVVM_LOG_WARN },
	{ "Info", EVVM_LOG_INFO }, { "Debug", EVVM_LOG_DEBUG },	 { "Trace", EVVM_LOG_DEBUG },
};

int vmjson_logger(const json_t *j, struct vmdesc_logger *l, char *msg)
{
	static const struct jfield f[] = {
		{ "log_path", JT_STR },
		{ "level", JT_STR },
		{ "show_level", JT_BOOL },
		{ "show_log_origin", JT_BOOL },
		{ "module", JT_STR, false, true },
	};
	const char *s;
	size_t i;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg))
		return -EINVAL;
	s = jstr(j, "level");
	l->level = EVVM_LOG_INFO; /* Firecracker's default */
	for (i = 0; s && i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (!strcasecmp(s, log_levels[i].name))
			break;
	if (s && i == sizeof(log_levels) / sizeof(log_levels[0]))
		return fail(msg,
			    "level `%s`: expected Error, Warning, Info, Debug or Trace "
			    "(evvm always logs errors: no Off)",
			    s);
	if (s)
		l->level = log_levels[i].level;
	jbool(j, "show_level", &l->show_level);
	jbool(j, "show_log_origin", &l->show_origin);
	s = jstr(j, "log_path");
	if (s && !*s)
		return fail(msg, "log_path: empty");
	if (jdup(j, "log_path", &l->path))
		return fail(msg, "out of memory");
	l->set = true;
	return 0;
}

int vmjson_metrics(const json_t *j, struct vmdesc_metrics *m, char *msg)
{
	static const struct jfield f[] = {
		{ "metrics_path", JT_STR, true },
		{ "emit_id", JT_BOOL },
		{ "properties", JT_OBJ, false, true },
	};
	const char *s;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg))
		return -EINVAL;
	s = jstr(j, "metrics_path");
	if (!*s)
		return fail(msg, "metrics_path: empty");
	jbool(j, "emit_id", &m->emit_id);
	return jdup(j, "metrics_path", &m->path) ? fail(msg, "out of memory") : 0;
}

/* Prefix @msg with the section that failed (the tail is cut if it does not fit). */
static int in_section(const char *section, int index, char *msg)
{
	char inner[VMDESC_MSG_MAX];
	int n;

	memcpy(inner, msg, sizeof(inner));
	if (index >= 0)
		n = snprintf(msg, VMDESC_MSG_MAX, "%s[%d]: ", section, index);
	else
		n = snprintf(msg, VMDESC_MSG_MAX, "%s: ", section);
	if (n > 0 && n < VMDESC_MSG_MAX)
		memccpy(msg + n, inner, '\0', VMDESC_MSG_MAX - n);
	msg[VMDESC_MSG_MAX - 1] = '\0';
	return -EINVAL;
}

static int config_drives(const json_t *a, struct vm_desc *d, char *msg)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		struct vmdesc_drive drv = { 0 };

		if (vmjson_drive(v, &drv, msg) || vmdesc_put_drive(d, &drv, msg)) {
			vmdesc_drive_release(&drv);
			return in_section("drives", i, msg);
		}
	}
	return 0;
}

static int config_nets(const json_t *a, struct vm_desc *d, char *msg)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		struct vmdesc_net n = { 0 };

		if (vmjson_net(v, d->nr_nets, &n, msg) || vmdesc_put_net(d, &n, msg)) {
			vmdesc_net_release(&n);
			return in_section("network-interfaces", i, msg);
		}
	}
	return 0;
}

int vmjson_config(const json_t *j, struct vm_desc *d, char *msg)
{
	static const struct jfield f[] = {
		{ "boot-source", JT_OBJ, true },
		{ "drives", JT_ARRAY },
		{ "machine-config", JT_OBJ },
		{ "network-interfaces", JT_ARRAY },
		{ "entropy", JT_OBJ },
		{ "logger", JT_OBJ },
		{ "metrics", JT_OBJ },
		{ "balloon", JT_OBJ, false, true },
		{ "vsock", JT_OBJ, false, true },
		{ "mmds-config", JT_OBJ, false, true },
		{ "cpu-config", JT_OBJ, false, true },
		{ "pmem", JT_ARRAY, false, true },
		{ "memory-hotplug", JT_OBJ, false, true },
		{ "serial", JT_OBJ, false, true },
	};
	struct vmdesc_boot b = { 0 };
	const json_t *v;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg))
		return -EINVAL;
	if (vmjson_boot(json_object_get(j, "boot-source"), &b, msg) ||
	    vmdesc_set_boot(d, &b, msg)) {
		vmdesc_boot_release(&b);
		return in_section("boot-source", -1, msg);
	}
	if ((v = json_object_get(j, "machine-config")) && !json_is_null(v) &&
	    vmjson_machine(v, false, &d->machine, msg))
		return in_section("machine-config", -1, msg);
	if ((v = json_object_get(j, "drives")) && json_is_array(v) && config_drives(v, d, msg))
		return -EINVAL;
	if ((v = json_object_get(j, "network-interfaces")) && json_is_array(v) &&
	    config_nets(v, d, msg))
		return -EINVAL;
	if ((v = json_object_get(j, "entropy")) && !json_is_null(v)) {
		if (vmjson_entropy(v, d, msg))
			return in_section("entropy", -1, msg);
	}
	if ((v = json_object_get(j, "logger")) && !json_is_null(v)) {
		free(d->logger.path);
		d->logger = (struct vmdesc_logger){ 0 };
		if (vmjson_logger(v, &d->logger, msg))
			return in_section("logger", -1, msg);
	}
	if ((v = json_object_get(j, "metrics")) && !json_is_null(v)) {
		free(d->metrics.path);
		d->metrics = (struct vmdesc_metrics){ 0 };
		if (vmjson_metrics(v, &d->metrics, msg))
			return in_section("metrics", -1, msg);
	}
	return vmdesc_validate(d, msg);
}

json_t *vmjson_export_machine(const struct vmdesc_machine *m)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:s}", "vcpu_count", (json_int_t)m->vcpus,
			 "mem_size_mib", (json_int_t)(m->mem_size >> 20), "smt", m->smt,
			 "track_dirty_pages", m->track_dirty_pages, "huge_pages", "None");
}

/* Set @key to @s unless it is NULL. */
static void set_str(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

static json_t *export_bucket(const struct evvm_bucket_cfg *b)
{
	return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b->size, "one_time_burst",
			 (json_int_t)b->one_time_burst, "refill_time", (json_int_t)b->refill_ms);
}

static json_t *export_rate_limiter(const struct evvm_rate_limit *rl)
{
	json_t *o = json_object();

	if (o && rl->bandwidth.size && rl->bandwidth.refill_ms)
		json_object_set_new(o, "bandwidth", export_bucket(&rl->bandwidth));
	if (o && rl->ops.size && rl->ops.refill_ms)
		json_object_set_new(o, "ops", export_bucket(&rl->ops));
	return o;
}

static json_t *export_drive(const struct vmdesc_drive *drv)
{
	json_t *o = json_pack("{s:s, s:b, s:b, s:s, s:s}", "drive_id", drv->id, "is_root_device",
			      drv->is_root, "is_read_only", drv->readonly, "cache_type",
			      drv->writeback ? "Writeback" : "Unsafe", "io_engine",
			      drv->io_async ? "Async" : "Sync");

	if (o) {
		set_str(o, "path_on_host", drv->path);
		set_str(o, "socket", drv->socket);
		set_str(o, "partuuid", drv->partuuid);
		if (drv->queues)
			json_object_set_new(o, "queues", json_integer(drv->queues));
		if (drv->iothreads)
			json_object_set_new(o, "iothreads", json_integer(drv->iothreads));
		if (drv->rate_limited)
			json_object_set_new(o, "rate_limiter",
					    export_rate_limiter(&drv->rate_limit));
	}
	return o;
}

static json_t *export_net(const struct vmdesc_net *n)
{
	json_t *o = json_pack("{s:s}", "iface_id", n->id);
	char mac[18];

	if (!o)
		return NULL;
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
		 n->mac[3], n->mac[4], n->mac[5]);
	set_str(o, "host_dev_name", n->tap ? n->tap : "");
	if (!n->socket)
		set_str(o, "guest_mac", mac);
	if (n->rx_rate_limited)
		json_object_set_new(o, "rx_rate_limiter", export_rate_limiter(&n->rx_rate_limit));
	if (n->tx_rate_limited)
		json_object_set_new(o, "tx_rate_limiter", export_rate_limiter(&n->tx_rate_limit));
	return o;
}

static const char *level_name(int level)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if ((int)log_levels[i].level == level)
			return log_levels[i].name;
	return "Info";
}

json_t *vmjson_export(const struct vm_desc *d)
{
	json_t *o = json_object(), *drives = json_array(), *nets = json_array(), *b;

	if (!o || !drives || !nets)
		goto nomem;
	json_object_set_new(o, "machine-config", vmjson_export_machine(&d->machine));
	if (d->boot.kernel) {
		b = json_pack("{s:s}", "kernel_image_path", d->boot.kernel);
		if (b) {
			set_str(b, "initrd_path", d->boot.initrd);
			set_str(b, "boot_args", d->boot.cmdline);
		}
		json_object_set_new(o, "boot-source", b);
	}
	for (unsigned int i = 0; i < d->nr_drives; i++)
		json_array_append_new(drives, export_drive(&d->drives[i]));
	for (unsigned int i = 0; i < d->nr_nets; i++)
		json_array_append_new(nets, export_net(&d->nets[i]));
	json_object_set_new(o, "drives", drives);
	json_object_set_new(o, "network-interfaces", nets);
	if (d->rng) {
		json_t *e = json_object();

		if (d->rng_rate_limited)
			json_object_set_new(e, "rate_limiter", export_rate_limiter(&d->rng_rate_limit));
		json_object_set_new(o, "entropy", e);
	}
	if (d->logger.set) {
		b = json_pack("{s:s, s:b, s:b}", "level", level_name(d->logger.level), "show_level",
			      d->logger.show_level, "show_log_origin", d->logger.show_origin);
		if (b)
			set_str(b, "log_path", d->logger.path);
		json_object_set_new(o, "logger", b);
	}
	if (d->metrics.path)
		json_object_set_new(o, "metrics",
				    json_pack("{s:s, s:b}", "metrics_path", d->metrics.path,
					      "emit_id", d->metrics.emit_id));
	return o;
nomem:
	json_decref(o);
	json_decref(drives);
	json_decref(nets);
	return NULL;
}

int vmjson_vm_state(const json_t *j, bool *pause, char *msg)
{
	static const struct jfield f[] = { { "state", JT_STR, true } };
	const char *s;

	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg))
		return -EINVAL;
	s = jstr(j, "state");
	if (strcmp(s, "Paused") && strcmp(s, "Resumed"))
		return fail(msg, "unknown variant `%.64s`, expected `Paused` or `Resumed`", s);
	*pause = !strcmp(s, "Paused");
	return 0;
}

/* A TokenBucket: size and refill_time required, all three >= 0. */
static int jbucket(const json_t *o, const char *name, struct vmjson_bucket *b, char *msg)
{
	static const struct jfield f[] = {
		{ "size", JT_INT, true },
		{ "one_time_burst", JT_INT },
		{ "refill_time", JT_INT, true },
	};
	const char *const keys[] = { "size", "one_time_burst", "refill_time" };
	int64_t *const outs[] = { &b->size, &b->one_time_burst, &b->refill_time_ms };
	char m[VMDESC_MSG_MAX];

	if (jcheck(o, f, sizeof(f) / sizeof(f[0]), false, m))
		return fail(msg, "%.64s: %.180s", name, m);
	for (unsigned int i = 0; i < 3; i++) {
		const json_t *v = json_object_get(o, keys[i]);

		*outs[i] = json_is_integer(v) ? json_integer_value(v) : 0;
		if (*outs[i] < 0)
			return fail(msg, "%s: field `%s`: %lld is below the minimum of 0", name,
				    keys[i], (long long)*outs[i]);
	}
	if (b->refill_time_ms > (int64_t)TBUCKET_MAX_REFILL_MS)
		return fail(msg, "%s: field `refill_time`: at most %llu ms", name,
			    TBUCKET_MAX_REFILL_MS);
	b->set = true;
	return 0;
}

int vmjson_rate_limiter(const json_t *j, const char *name, struct vmjson_rate_limiter *rl,
			char *msg)
{
	static const struct jfield f[] = { { "bandwidth", JT_OBJ }, { "ops", JT_OBJ } };
	char m[VMDESC_MSG_MAX], sub[96];
	const json_t *v;

	*rl = (struct vmjson_rate_limiter){ 0 };
	if (!j || json_is_null(j))
		return 0;
	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, m))
		return fail(msg, "%.64s: %.180s", name, m);
	if ((v = json_object_get(j, "bandwidth")) && !json_is_null(v)) {
		snprintf(sub, sizeof(sub), "%s.bandwidth", name);
		if (jbucket(v, sub, &rl->bandwidth, msg))
			return -EINVAL;
	}
	if ((v = json_object_get(j, "ops")) && !json_is_null(v)) {
		snprintf(sub, sizeof(sub), "%s.ops", name);
		if (jbucket(v, sub, &rl->ops, msg))
			return -EINVAL;
	}
	rl->set = true;
	return 0;
}

int vmjson_drive_update(const json_t *j, struct vmjson_drive_update *u, char *msg)
{
	static const struct jfield f[] = {
		{ "drive_id", JT_STR, true },
		{ "path_on_host", JT_STR },
		{ "rate_limiter", JT_OBJ },
	};

	*u = (struct vmjson_drive_update){ 0 };
	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg) || jid(j, "drive_id", u->id, msg))
		return -EINVAL;
	if (!u->id[0])
		return fail(msg, "field `drive_id`: 1 to %u characters", VMDESC_ID_MAX);
	if (jdup(j, "path_on_host", &u->path))
		return fail(msg, "out of memory");
	if (u->path && !*u->path)
		return fail(msg, "field `path_on_host`: empty");
	return vmjson_rate_limiter(json_object_get(j, "rate_limiter"), "rate_limiter",
				   &u->rate_limiter, msg);
}

int vmjson_net_update(const json_t *j, struct vmjson_net_update *u, char *msg)
{
	static const struct jfield f[] = {
		{ "iface_id", JT_STR, true },
		{ "rx_rate_limiter", JT_OBJ },
		{ "tx_rate_limiter", JT_OBJ },
	};
	const char *s;

	*u = (struct vmjson_net_update){ 0 };
	if (jcheck(j, f, sizeof(f) / sizeof(f[0]), false, msg))
		return -EINVAL;
	s = jstr(j, "iface_id");
	if (!*s || strlen(s) > VMDESC_NET_ID_MAX)
		return fail(msg, "field `iface_id`: 1 to %u characters", VMDESC_NET_ID_MAX);
	strcpy(u->id, s);
	if (vmjson_rate_limiter(json_object_get(j, "rx_rate_limiter"), "rx_rate_limiter", &u->rx,
				msg))
		return -EINVAL;
	return vmjson_rate_limiter(json_object_get(j, "tx_rate_limiter"), "tx_rate_limiter", &u->tx,
				   msg);
}

void vmjson_rate_limit_apply(const struct vmjson_rate_limiter *rl, struct evvm_rate_limit *out)
{
	const struct vmjson_bucket *in[] = { &rl->bandwidth, &rl->ops };
	struct evvm_bucket_cfg *to[] = { &out->bandwidth, &out->ops };

	for (unsigned int i = 0; i < 2; i++)
		if (in[i]->set)
			*to[i] = (struct evvm_bucket_cfg){ in[i]->size, in[i]->one_time_burst,
							   in[i]->refill_time_ms };
}
