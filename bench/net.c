// SPDX-License-Identifier: MIT
/*
 * bench/net: evvm's virtio-net on a tap, between the test guest's driver
 * (guest/virtio_net.c) and a host peer on an AF_PACKET socket of the tap
 * (tests/lib/frame_peer.c), in a network namespace of its own:
 *
 *   tx   guest -> host packets per second: the guest sends --frames 60-byte
 *        frames (tests=virtio-net-tx); the host times the first to the last
 *   rx   host -> guest packets per second: the host sends --frames frames
 *        with at most --window unacknowledged, the guest acks every 32
 *        (tests=virtio-net-rx); timed from the first send to the last ack
 *   rtt  round trip: the host sends one frame, the guest (sleeping in hlt,
 *        woken by the used-buffer interrupt) sends it back, --pings times
 *        (tests=virtio-net-echo); median and p99 of each run
 *
 * on two fabric paths: kernel (KVM ioeventfd and irqfd) and user
 * (--ioeventfd=user --irqfd=user: every kick exits to evvm, an evvm thread
 * injects every interrupt). Each figure is the median of --runs runs; paths
 * alternate in order run after run. Wall time is taken on the host, so it
 * includes everything: the guest's emulated driver, exits, the device's I/O
 * thread, the tap and the peer.
 *
 * evvm (all its threads) is pinned to one host CPU by default, as bench/blk
 * does: under PVM an interrupt for a vCPU on another CPU can be noticed late,
 * and irregularly so. --no-pin shows that case. Needs root (namespaces, taps).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "evvm_path.h"
#include "median.h"

#include "../tests/lib/frame_peer.h"
#include "../tests/lib/netpeer.h"

#define TAP	  "evtap0"
#define GUEST_MAC "52:54:00:12:34:56"
#define MAX_RUNS  32
#define MAX_PINGS 100000

enum { KERNEL, USER, NR_PATHS };
static const char *const path_names[NR_PATHS] = { "kernel", "user" };
enum { W_TX, W_RX, W_RTT, NR_WORKLOADS };
static const char *const workload_names[NR_WORKLOADS] = { "tx", "rx", "rtt" };

struct opts {
	unsigned int runs, frames, pings, window;
	int pin; /* host CPU, or -1 */
	bool event_idx_off;
	const char *json, *evvm;
};

/* One run of one workload on one path. */
struct sample {
	double pps;	   /* tx, rx */
	double rtt_med_us; /* rtt */
	double rtt_p99_us; /* rtt */
	double seconds;	   /* the timed interval */
};

static struct netns ns;

static void cleanup(void)
{
	netns_destroy(&ns);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run evvm with @cmdline on @path; its output goes to @out (a memfd). Exit status or -1. */
static int run_evvm(const struct opts *o, int path, const char *cmdline, int out)
{
	char net[96];
	const char *argv[12];
	int n = 0, ws;
	pid_t pid;

	snprintf(net, sizeof(net), "tap=%s,mac=%s%s", TAP, GUEST_MAC,
		 o->event_idx_off ? ",event_idx=off" : "");
	argv[n++] = o->evvm;
	argv[n++] = "run";
	argv[n++] = "--net";
	argv[n++] = net;
	if (path == USER) {
		argv[n++] = "--ioeventfd=user";
		argv[n++] = "--irqfd=user";
	}
	argv[n++] = "--cmdline";
	argv[n++] = cmdline;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (o->pin >= 0 && pin_cpu(o->pin))
			_exit(126);
		dup2(out, 1);
		dup2(out, 2);
		execv(o->evvm, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &ws, 0) != pid)
		return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void show_output(int out)
{
	char buf[4096];
	ssize_t n;

	lseek(out, 0, SEEK_SET);
	while ((n = read(out, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
}

static int measure_one(const struct opts *o, int w, int path, struct sample *s, double *rtt)
{
	static const enum peer_mode modes[NR_WORKLOADS] = { PEER_CAPTURE, PEER_INJECT, PEER_PING };
	struct frame_peer p = { .mode = modes[w], .window = o->window, .rtt = rtt };
	char cmdline[160];
	int out, rc;

	mac_parse(GUEST_MAC, p.guest_mac);
	p.count = w == W_TX ? 0 : w == W_RX ? o->frames : o->pings;
	if (w == W_TX)
		snprintf(cmdline, sizeof(cmdline), "tests=virtio-net-tx net.count=%u", o->frames);
	else if (w == W_RX)
		snprintf(cmdline, sizeof(cmdline), "tests=virtio-net-rx net.count=%u net.ack=32",
			 o->frames);
	else
		snprintf(cmdline, sizeof(cmdline), "tests=virtio-net-echo");
	out = memfd_create("evvm-out", MFD_CLOEXEC);
	if (out < 0 || frame_peer_start(&p, TAP)) {
		fprintf(stderr, "net: %s\n", out < 0 ? strerror(errno) : p.err);
		if (out >= 0)
			close(out);
		return -1;
	}
	rc = run_evvm(o, path, cmdline, out);
	frame_peer_stop(&p);
	if (rc || p.err[0] || p.drops || !p.done) {
		fprintf(stderr, "net: %s %s: evvm exit %d, peer: %s, %u dropped, %s\n",
			workload_names[w], path_names[path], rc, p.err[0] ? p.err : "ok", p.drops,
			p.done ? "done" : "not done");
		show_output(out);
		close(out);
		return -1;
	}
	close(out);
	memset(s, 0, sizeof(*s));
	if (w == W_RTT) {
		s->rtt_med_us = median(rtt, o->pings) * 1e6; /* sorts rtt */
		s->rtt_p99_us = rtt[(o->pings * 99 + 99) / 100 - 1] * 1e6;
	} else {
		s->seconds = p.t_last - p.t_first;
		s->pps = o->frames / s->seconds;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench/net [--runs R] [--frames N] [--pings N] [--window W]\n"
		"                 [--pin CPU | --no-pin] [--event-idx=off] [--json FILE]\n"
		"  --runs R         runs per figure, medians shown (default 3, at most %d)\n"
		"  --frames N       frames per packets-per-second run (default 20000)\n"
		"  --pings N        round trips per latency run (default 500)\n"
		"  --window W       host->guest frames in flight unacknowledged (default 192)\n"
		"  --pin CPU        run evvm on this host CPU (default 0); --no-pin: anywhere\n"
		"  --event-idx=off  the device does not offer VIRTIO_F_EVENT_IDX\n"
		"  --json FILE      also write the figures as JSON\n"
		"evvm is $EVVM, else the one of this build. Needs root.\n",
		MAX_RUNS);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "frames", required_argument, NULL, 'f' },
		{ "pings", required_argument, NULL, 'p' },
		{ "window", required_argument, NULL, 'w' },
		{ "pin", required_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'u' },
		{ "event-idx", required_argument, NULL, 'e' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .runs = 3, .frames = 20000, .pings = 500, .window = 192, .pin = 0 };
	static struct sample samples[NR_WORKLOADS][NR_PATHS][MAX_RUNS];
	double med[NR_WORKLOADS][NR_PATHS][2], v[MAX_RUNS], *rtt;
	FILE *json = NULL;
	char err[160];
	int opt;

	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (!opt_uint("net", "runs", optarg, 1, MAX_RUNS, &o.runs))
				return 2;
			break;
		case 'f':
			if (!opt_uint("net", "frames", optarg, 1, 100000000, &o.frames))
				return 2;
			break;
		case 'p':
			if (!opt_uint("net", "pings", optarg, 1, MAX_PINGS, &o.pings))
				return 2;
			break;
		case 'w':
			if (!parse_uint(optarg, &o.window) || o.window < 32 || o.window > 240) {
				fprintf(stderr,
					"net: --window '%s': want 32..240 (the guest acks every 32 "
					"and has 256 buffers)\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			if (!opt_cpu("net", optarg, &o.pin))
				return 2;
			break;
		case 'u':
			o.pin = -1;
			break;
		case 'e':
			if (strcmp(optarg, "off") && strcmp(optarg, "on")) {
				fprintf(stderr, "net: --event-idx '%s': want on or off\n", optarg);
				return 2;
			}
			o.event_idx_off = !strcmp(optarg, "off");
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "net: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	o.evvm = find_evvm();
	if (geteuid() != 0) {
		fprintf(stderr, "net: needs root (a network namespace and a tap)\n");
		return 1;
	}
	if (o.json) {
		json = fopen(o.json, "w");
		if (!json) {
			fprintf(stderr, "net: %s: %s\n", o.json, strerror(errno));
			return 1;
		}
	}
	rtt = calloc(o.pings, sizeof(*rtt));
	if (!rtt)
		return 1;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (netns_create(&ns, "bench", TAP, err, sizeof(err))) {
		fprintf(stderr, "net: %s\n", err);
		cleanup();
		return 1;
	}
	for (unsigned int r = 0; r < o.runs; r++)
		for (int w = 0; w < NR_WORKLOADS; w++)
			for (int i = 0; i < NR_PATHS; i++) {
				int path = (i + r) % NR_PATHS; /* alternate which goes first */

				if (measure_one(&o, w, path, &samples[w][path][r], rtt)) {
					cleanup();
					if (json) {
						fclose(json);
						unlink(o.json);
					}
					free(rtt);
					return 1;
				}
			}
	cleanup();
	free(rtt);

	for (int w = 0; w < NR_WORKLOADS; w++)
		for (int p = 0; p < NR_PATHS; p++) {
			for (unsigned int r = 0; r < o.runs; r++)
				v[r] = w == W_RTT ? samples[w][p][r].rtt_med_us
						  : samples[w][p][r].pps;
			med[w][p][0] = median(v, o.runs);
			for (unsigned int r = 0; r < o.runs; r++)
				v[r] = samples[w][p][r].rtt_p99_us;
			med[w][p][1] = median(v, o.runs);
		}

	printf("bench/net: 60-byte frames over a tap, %u runs, %u frames per rate run, %u round "
	       "trips per latency run, EVENT_IDX %s, ",
	       o.runs, o.frames, o.pings, o.event_idx_off ? "off" : "on");
	if (o.pin >= 0)
		printf("evvm on host CPU %d; medians\n", o.pin);
	else
		printf("evvm unpinned; medians\n");
	printf("%-7s %14s %14s %12s %12s\n", "path", "tx_pps", "rx_pps", "rtt_us", "rtt_p99_us");
	for (int p = 0; p < NR_PATHS; p++)
		printf("%-7s %14.0f %14.0f %12.1f %12.1f\n", path_names[p], med[W_TX][p][0],
		       med[W_RX][p][0], med[W_RTT][p][0], med[W_RTT][p][1]);
	printf("user / kernel: tx %.2fx, rx %.2fx, rtt %.2fx\n",
	       med[W_TX][USER][0] / med[W_TX][KERNEL][0], med[W_RX][USER][0] / med[W_RX][KERNEL][0],
	       med[W_RTT][USER][0] / med[W_RTT][KERNEL][0]);

	if (json) {
		fprintf(json,
			"{\"runs\": %u, \"frames\": %u, \"pings\": %u, \"window\": %u, "
			"\"pinned_cpu\": %d, \"event_idx\": %s, \"frame_bytes\": 60, \"results\": "
			"[",
			o.runs, o.frames, o.pings, o.window, o.pin,
			o.event_idx_off ? "false" : "true");
		for (int p = 0; p < NR_PATHS; p++)
			fprintf(json,
				"%s\n  {\"path\": \"%s\", \"tx_pps\": %.0f, \"rx_pps\": %.0f, "
				"\"rtt_us\": %.1f, \"rtt_p99_us\": %.1f}",
				p ? "," : "", path_names[p], med[W_TX][p][0], med[W_RX][p][0],
				med[W_RTT][p][0], med[W_RTT][p][1]);
		fprintf(json, "\n]}\n");
		if (fclose(json)) {
			fprintf(stderr, "net: %s: %s\n", o.json, strerror(errno));
			return 1;
		}
	}
	return 0;
}
