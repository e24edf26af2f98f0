// SPDX-License-Identifier: MIT
/* --disk and --net: their key=value grammar into the VM description's sections. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/device.h>

#include "devargs.h"
#include "parse.h"

static bool on_off(const char *val, bool *out)
{
	if (strcmp(val, "on") && strcmp(val, "off"))
		return false;
	*out = !strcmp(val, "on");
	return true;
}

/* Copy @val into *@out (a flag given twice keeps the last). */
static bool take(char **out, const char *val)
{
	free(*out);
	*out = strdup(val);
	return *out;
}

/* reconnect=SECS of a vhost-user --disk or --net. */
static bool parse_reconnect(const char *val, unsigned int *secs)
{
	uint64_t v;

	if (parse_uint(val, 1, VMDESC_RECONNECT_MAX, &v))
		return false;
	*secs = v;
	return true;
}

static int disk_parse(char *arg, struct vmdesc_drive *d)
{
	bool vhost_user = false, readonly_given = false;
	char *key, *val;
	uint64_t v;
	int r;

	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "path") && *val) {
			if (!take(&d->path, val))
				return -ENOMEM;
		} else if (!strcmp(key, "readonly") && on_off(val, &d->readonly)) {
			readonly_given = true;
		} else if (!strcmp(key, "id") && *val && strlen(val) <= VMDESC_ID_MAX) {
			snprintf(d->id, sizeof(d->id), "%s", val);
		} else if (!strcmp(key, "vhost_user") && on_off(val, &vhost_user)) {
			continue;
		} else if (!strcmp(key, "socket") && *val) {
			if (!take(&d->socket, val))
				return -ENOMEM;
		} else if (!strcmp(key, "queues") &&
			   !parse_uint(val, 1, EVVM_VIRTIO_MAX_QUEUES, &v)) {
			d->queues = v;
		} else if (!strcmp(key, "reconnect") && parse_reconnect(val, &d->reconnect_s)) {
			continue;
		} else if (!strcmp(key, "iothreads") &&
			   !parse_uint(val, 1, EVVM_VIRTIO_MAX_QUEUES, &v)) {
			d->iothreads = v;
		} else {
			fprintf(stderr,
				"evvm: --disk %s=%s: expected path=FILE, readonly=on|off, "
				"id=NAME (at most %d characters), vhost_user=on|off, "
				"socket=PATH, queues=1..%u, iothreads=1..%u or reconnect=1..%u\n",
				key, val, VMDESC_ID_MAX, EVVM_VIRTIO_MAX_QUEUES,
				EVVM_VIRTIO_MAX_QUEUES, VMDESC_RECONNECT_MAX);
			return -EINVAL;
		}
	}
	if (r < 0)
		goto usage;
	if (d->queues && d->iothreads > d->queues) {
		fprintf(stderr, "evvm: --disk iothreads=%u: at most queues=%u\n", d->iothreads,
			d->queues);
		return -EINVAL;
	}
	if (vhost_user) {
		/* The backend owns the disk: its file, mode and threads are its business. */
		if (!d->socket || d->path || readonly_given || d->iothreads) {
			fprintf(stderr, "evvm: --disk vhost_user=on: expected socket=PATH, and no "
					"path=, readonly= or iothreads= (the backend decides those)\n");
			return -EINVAL;
		}
		return 0;
	}
	if (d->socket) {
		fprintf(stderr, "evvm: --disk socket=%s: needs vhost_user=on\n", d->socket);
		return -EINVAL;
	}
	if (d->reconnect_s) {
		fprintf(stderr, "evvm: --disk reconnect=: needs vhost_user=on\n");
		return -EINVAL;
	}
	if (d->path)
		return 0;
usage:
	fprintf(stderr, "evvm: --disk: expected path=FILE[,readonly=on][,id=NAME][,queues=N]"
			"[,iothreads=M] or vhost_user=on,socket=PATH[,queues=N][,reconnect=SECS]\n");
	return -EINVAL;
}

int devarg_disk(const char *arg, unsigned int index, struct vmdesc_drive *d)
{
	char *copy = strdup(arg);
	int err = copy ? 0 : -ENOMEM;

	*d = (struct vmdesc_drive){ 0 };
	snprintf(d->id, sizeof(d->id), "blk%u", index);
	if (copy)
		err = disk_parse(copy, d);
	if (err == -ENOMEM)
		fprintf(stderr, "evvm: --disk: out of memory\n");
	free(copy);
	if (err)
		vmdesc_drive_release(d);
	return err;
}

static int net_parse(char *arg, struct vmdesc_net *n)
{
	bool vhost_user = false;
	char *key, *val;
	int r;

	while ((r = parse_kv_next(&arg, &key, &val)) > 0) {
		if (!strcmp(key, "tap") && *val && strlen(val) <= VMDESC_TAP_MAX) {
			if (!take(&n->tap, val))
				return -ENOMEM;
		} else if (!strcmp(key, "mac") && !parse_mac(val, n->mac)) {
			n->mac_given = true;
		} else if (!strcmp(key, "id") && *val && strlen(val) <= VMDESC_NET_ID_MAX) {
			snprintf(n->id, sizeof(n->id), "%s", val);
		} else if (!strcmp(key, "event_idx") && on_off(val, &n->event_idx)) {
			n->event_idx_given = true;
		} else if (!strcmp(key, "vhost_user") && on_off(val, &vhost_user)) {
			continue;
		} else if (!strcmp(key, "socket") && *val) {
			if (!take(&n->socket, val))
				return -ENOMEM;
		} else if (!strcmp(key, "reconnect") && parse_reconnect(val, &n->reconnect_s)) {
			continue;
		} else {
			fprintf(stderr,
				"evvm: --net %s=%s: expected tap=NAME (1 to %d characters), "
				"mac=XX:XX:XX:XX:XX:XX (unicast), id=NAME (at most %d "
				"characters), event_idx=on|off, vhost_user=on|off, socket=PATH or "
				"reconnect=1..%u\n",
				key, val, VMDESC_TAP_MAX, VMDESC_NET_ID_MAX, VMDESC_RECONNECT_MAX);
			return -EINVAL;
		}
	}
	if (r < 0)
		goto usage;
	if (vhost_user) {
		/* The backend owns the tap, the address and the features. */
		if (!n->socket || n->tap || n->mac_given || n->event_idx_given) {
			fprintf(stderr, "evvm: --net vhost_user=on: expected socket=PATH, and no "
					"tap=, mac= or event_idx= (the backend decides those)\n");
			return -EINVAL;
		}
		return 0;
	}
	if (n->socket) {
		fprintf(stderr, "evvm: --net socket=%s: needs vhost_user=on\n", n->socket);
		return -EINVAL;
	}
	if (n->reconnect_s) {
		fprintf(stderr, "evvm: --net reconnect=: needs vhost_user=on\n");
		return -EINVAL;
	}
	if (n->tap)
		return 0;
usage:
	fprintf(stderr, "evvm: --net: expected tap=NAME[,mac=MAC][,id=NAME][,event_idx=on|off] "
			"or vhost_user=on,socket=PATH[,id=NAME][,reconnect=SECS]\n");
	return -EINVAL;
}

int devarg_net(const char *arg, unsigned int index, struct vmdesc_net *n)
{
	char *copy = strdup(arg);
	int err = copy ? 0 : -ENOMEM;

	*n = (struct vmdesc_net){ .event_idx = true };
	snprintf(n->id, sizeof(n->id), "net%u", index);
	vmdesc_default_mac(n->mac, index);
	if (copy)
		err = net_parse(copy, n);
	if (err == -ENOMEM)
		fprintf(stderr, "evvm: --net: out of memory\n");
	free(copy);
	if (err)
		vmdesc_net_release(n);
	return err;
}
