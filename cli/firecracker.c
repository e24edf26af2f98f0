// SPDX-License-Identifier: MIT
/* `evvm firecracker` (or evvm called as `firecracker`): Firecracker's command line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evvm/confine.h>
#include <evvm/log.h>

#include "api.h"
#include "cli.h"
#include "vmjson.h"

#define DEFAULT_API_SOCK "/run/firecracker.socket"
#define CONFIG_MAX	 (1 << 20)

static void fc_usage(FILE *f)
{
	fprintf(f,
		"Usage: evvm firecracker [OPTIONS]   (or evvm linked as 'firecracker')\n"
		"\n"
		"Firecracker's command line: serve its REST API on a unix socket, boot from its\n"
		"JSON config file, or both.\n"
		"\n"
		"  --api-sock PATH      the API socket (default %s); an existing\n"
		"                       path is refused unless it is a stale socket\n"
		"  --id ID              the instance id (default anonymous-instance)\n"
		"  --config-file FILE   boot at once from FILE (the PUT bodies: boot-source,\n"
		"                       drives, machine-config, network-interfaces, entropy,\n"
		"                       logger, metrics)\n"
		"  --no-api             no API socket (needs --config-file)\n"
		"  --log-path PATH      write the log to PATH instead of stderr\n"
		"  --level LEVEL        Error, Warning, Info (default), Debug or Trace\n"
		"  --show-level         prefix each log line with its level\n"
		"  --show-log-origin    prefix each log line with its source file and line\n"
		"  --metrics-path PATH  metrics as JSON lines: every 60 s, on FlushMetrics\n"
		"                       and at the end\n"
		"  --boot-timer         accepted; not honoured yet\n"
		"  --seccomp=on|log|off each thread's seccomp allow-list, as for 'evvm run'\n"
		"                       (default on; docs/seccomp.md)\n"
		"  --no-seccomp         Firecracker's spelling of --seccomp=off\n"
		"  --seccomp-filter F, --start-time-us N, --start-time-cpu-us N,\n"
		"  --parent-cpu-time-us N, --http-api-max-payload-size N, --mmds-size-limit N,\n"
		"  --module M, --enable-pci\n"
		"                       accepted (as jailer and SDKs pass them) and logged as\n"
		"                       not honoured\n"
		"  -V, --version        print the version\n"
		"  -h, --help           this text\n"
		"\n"
		"Without --config-file, evvm waits for PUT /actions InstanceStart. Exit status\n"
		"as for 'evvm run'. README.md lists the endpoints.\n",
		DEFAULT_API_SOCK);
}

enum {
	FC_API_SOCK = 256,
	FC_ID,
	FC_CONFIG,
	FC_NO_API,
	FC_LOG_PATH,
	FC_LEVEL,
	FC_SHOW_LEVEL,
	FC_SHOW_ORIGIN,
	FC_METRICS,
	FC_SECCOMP,
	FC_NO_SECCOMP,
	FC_IGNORED_ARG,
	FC_IGNORED_FLAG,
};

static const struct option fc_options[] = {
	{ "api-sock", required_argument, NULL, FC_API_SOCK },
	{ "id", required_argument, NULL, FC_ID },
	{ "config-file", required_argument, NULL, FC_CONFIG },
	{ "no-api", no_argument, NULL, FC_NO_API },
	{ "log-path", required_argument, NULL, FC_LOG_PATH },
	{ "level", required_argument, NULL, FC_LEVEL },
	{ "show-level", no_argument, NULL, FC_SHOW_LEVEL },
	{ "metrics-path", required_argument, NULL, FC_METRICS },
	{ "boot-timer", no_argument, NULL, FC_IGNORED_FLAG },
	{ "seccomp", required_argument, NULL, FC_SECCOMP },
	{ "no-seccomp", no_argument, NULL, FC_NO_SECCOMP },
	{ "show-log-origin", no_argument, NULL, FC_SHOW_ORIGIN },
	{ "enable-pci", no_argument, NULL, FC_IGNORED_FLAG },
	{ "seccomp-filter", required_argument, NULL, FC_IGNORED_ARG },
	{ "start-time-us", required_argument, NULL, FC_IGNORED_ARG },
	{ "start-time-cpu-us", required_argument, NULL, FC_IGNORED_ARG },
	{ "parent-cpu-time-us", required_argument, NULL, FC_IGNORED_ARG },
	{ "http-api-max-payload-size", required_argument, NULL, FC_IGNORED_ARG },
	{ "mmds-size-limit", required_argument, NULL, FC_IGNORED_ARG },
	{ "module", required_argument, NULL, FC_IGNORED_ARG },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct fc_args {
	const char *api_sock, *id, *config, *log_path, *level, *metrics;
	bool no_api, show_level, show_origin;
	enum evvm_seccomp_mode seccomp;
	const char *ignored[16];
	unsigned int nr_ignored;
};

static int fc_parse(int argc, char **argv, struct fc_args *a)
{
	int opt, idx;

	*a = (struct fc_args){ .api_sock = DEFAULT_API_SOCK,
			       .id = "anonymous-instance",
			       .seccomp = EVVM_SECCOMP_ON };
	optind = 1;
	while ((opt = getopt_long(argc, argv, "hV", fc_options, &idx)) != -1) {
		switch (opt) {
		case FC_API_SOCK:
			a->api_sock = optarg;
			break;
		case FC_ID:
			a->id = optarg;
			break;
		case FC_CONFIG:
			a->config = optarg;
			break;
		case FC_NO_API:
			a->no_api = true;
			break;
		case FC_LOG_PATH:
			a->log_path = optarg;
			break;
		case FC_LEVEL:
			a->level = optarg;
			break;
		case FC_SHOW_LEVEL:
			a->show_level = true;
			break;
		case FC_SHOW_ORIGIN:
			a->show_origin = true;
			break;
		case FC_METRICS:
			a->metrics = optarg;
			break;
		case FC_SECCOMP:
			if (seccomp_parse_mode(optarg, &a->seccomp)) {
				fprintf(stderr, "evvm: --seccomp=%s: expected on, log or off\n",
					optarg);
				return -EINVAL;
			}
			break;
		case FC_NO_SECCOMP:
			a->seccomp = EVVM_SECCOMP_OFF;
			break;
		case FC_IGNORED_ARG:
		case FC_IGNORED_FLAG:
			if (a->nr_ignored < sizeof(a->ignored) / sizeof(a->ignored[0]))
				a->ignored[a->nr_ignored++] = fc_options[idx].name;
			break;
		case 'V':
			printf("Firecracker v1.17.0 (evvm %s)\n", EVVM_VERSION);
			return 1;
		case 'h':
			fc_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "evvm: see 'evvm firecracker --help'\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evvm firecracker: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (a->no_api && !a->config) {
		fprintf(stderr, "evvm firecracker: --no-api needs --config-file (nothing could "
				"start the microVM)\n");
		return -EINVAL;
	}
	if (!*a->id || strlen(a->id) > INSTANCE_ID_MAX) {
		fprintf(stderr, "evvm firecracker: --id: 1 to %u characters\n", INSTANCE_ID_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Up to @max + 1 bytes of @fd (a file or a pipe) into @buf; the count, or -errno. */
static ssize_t read_all(int fd, char *buf, size_t max)
{
	size_t len = 0;

	while (len <= max) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += n;
	}
	return len;
}

/* The whole config file, parsed into the instance's description. */
static int load_config(struct instance *in, const char *path)
{
	char msg[VMDESC_MSG_MAX], *buf;
	ssize_t n;
	json_t *j;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("config file '%s': open: %s", path, evvm_strerror(err));
		return err;
	}
	buf = malloc(CONFIG_MAX + 1);
	n = buf ? read_all(fd, buf, CONFIG_MAX) : -ENOMEM;
	close(fd);
	if (n < 0 || n > CONFIG_MAX) {
		pr_err("config file '%s': %s", path,
		       n < 0 ? evvm_strerror(n) : "larger than 1 MiB");
		free(buf);
		return -EINVAL;
	}
	j = vmjson_parse(buf, n, msg);
	free(buf);
	err = j ? vmjson_config(j, &in->desc, msg) : -EINVAL;
	json_decref(j);
	if (err)
		pr_err("config file '%s': %s", path, msg);
	return err;
}

/* The logger and metrics flags, as PUT /logger and PUT /metrics would set them. */
static int apply_log_flags(struct instance *in, const struct fc_args *a)
{
	char msg[VMDESC_MSG_MAX] = "out of memory";
	json_t *j;
	int err = 0;

	if (a->log_path || a->level || a->show_level || a->show_origin) {
		struct vmdesc_logger l = { 0 };

		j = json_pack("{s:s*, s:s*, s:b, s:b}", "log_path", a->log_path, "level", a->level,
			      "show_level", a->show_level, "show_log_origin", a->show_origin);
		err = !j || vmjson_logger(j, &l, msg) || instance_set_logger_locked(in, &l, msg);
		free(l.path);
		json_decref(j);
		if (err) {
			fprintf(stderr, "evvm firecracker: --log-path/--level: %s\n", msg);
			return -EINVAL;
		}
	}
	if (a->metrics) {
		struct vmdesc_metrics m = { 0 };

		j = json_pack("{s:s}", "metrics_path", a->metrics);
		err = !j || vmjson_metrics(j, &m, msg) || instance_set_metrics_locked(in, &m, msg);
		free(m.path);
		json_decref(j);
		if (err) {
			fprintf(stderr, "evvm firecracker: --metrics-path: %s\n", msg);
			return -EINVAL;
		}
	}
	return 0;
}

int cmd_firecracker(int argc, char **argv)
{
	struct api_server *api = NULL;
	char msg[VMDESC_MSG_MAX];
	struct evvm_confine conf = { 0 };
	struct instance in;
	struct fc_args a;
	int status = EVVM_EXIT_FAILURE, r;

	argv[0] = (char *)"evvm firecracker";
	r = fc_parse(argc, argv, &a);
	if (r)
		return r > 0 ? 0 : EXIT_USAGE;
	if (instance_init(&in, a.id)) {
		pr_err("cannot set up the instance: %s", evvm_strerror(errno));
		return EVVM_EXIT_FAILURE;
	}
	evvm_log_set_level(EVVM_LOG_INFO); /* Firecracker's default level */
	if (apply_log_flags(&in, &a)) {
		status = EXIT_USAGE;
		goto out;
	}
	for (unsigned int i = 0; i < a.nr_ignored; i++)
		pr_warn("--%s: accepted, not honoured by evvm yet", a.ignored[i]);
	instance_block_stop_signals(); /* before the API thread starts */
	if (a.config && load_config(&in, a.config))
		goto out;
	/*
	 * Devices may still come through the API: then every device's calls.
	 * The API thread itself is not confined yet (docs/seccomp.md).
	 */
	conf.seccomp = a.seccomp;
	conf.devs = a.no_api ? instance_seccomp_devs(&in.desc) : ~0u;
	if (confine_setup(&conf))
		goto out;
	if (!a.no_api && api_start(a.api_sock, &in, &api))
		goto out;
	if (a.config) {
		pthread_mutex_lock(&in.lock);
		r = instance_start_locked(&in, msg);
		pthread_mutex_unlock(&in.lock);
		if (r) {
			pr_err("config file '%s': %s", a.config, msg);
			status = instance_start_failed();
			goto out;
		}
	}
	status = instance_run(&in);
out:
	api_stop(api);
	instance_fini(&in);
	return status;
}
