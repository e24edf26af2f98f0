// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame_peer.h"
#include "netpeer.h"

static const uint8_t host_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

double frame_peer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void peer_error(struct frame_peer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

static void on_capture(struct frame_peer *p, int type, uint32_t seq)
{
	if (p->done)
		return peer_error(p, "frame type %d seq %u after DONE", type, seq);
	if (type == NF_DONE) {
		p->done = true;
		p->done_seq = seq;
		p->t_last = frame_peer_now();
	} else if (type != NF_DATA) {
		peer_error(p, "unexpected frame type %d", type);
	} else if (seq != p->got) {
		peer_error(p, "got seq %u, expected %u (%s)", seq, p->got,
			   seq < p->got ? "duplicated" : "lost");
	} else {
		if (!p->got)
			p->t_first = frame_peer_now();
		p->got++;
	}
}

/* PEER_INJECT and PEER_PING: the guest's READY and ACKs. */
static void on_reply(struct frame_peer *p, int type, uint32_t seq, double sent_at)
{
	if (type == NF_READY) {
		if (p->ready)
			return peer_error(p, "a second READY");
		if (p->mode == PEER_INJECT && seq != p->count)
			return peer_error(p, "guest expects %u frames, we send %u", seq, p->count);
		p->ready = true;
	} else if (type != NF_ACK) {
		peer_error(p, "unexpected frame type %d from the guest", type);
	} else if (p->mode == PEER_PING) {
		if (seq != p->got || p->sent != p->got + 1)
			return peer_error(p, "echo of seq %u while waiting for %u", seq, p->got);
		p->rtt[p->got++] = frame_peer_now() - sent_at;
	} else {
		if (seq < p->got || seq > p->sent)
			return peer_error(p, "ack %u with %u acked and %u sent", seq, p->got,
					  p->sent);
		p->got = seq;
		if (seq == p->count && !p->done) {
			p->done = true;
			p->t_last = frame_peer_now();
		}
	}
}

/* Send what the mode allows now; false if the socket is full for now. */
static bool peer_send(struct frame_peer *p, uint8_t *frame, double *sent_at)
{
	uint32_t limit = p->mode == PEER_PING ? p->got + 1 : p->got + p->window;

	while (p->ready && p->sent < p->count && p->sent < limit) {
		memcpy(frame + NF_OFF_SEQ, &p->sent, 4);
		if (packet_send(p->fd, frame, NF_LEN)) {
			if (errno != EAGAIN && errno != ENOBUFS)
				peer_error(p, "send seq %u: %s", p->sent, strerror(errno));
			return false;
		}
		*sent_at = frame_peer_now();
		if (!p->sent)
			p->t_first = *sent_at;
		p->sent++;
	}
	if (p->mode == PEER_PING && p->ready && p->got == p->count && !p->done) {
		frame[NF_OFF_TYPE] = NF_DONE;
		if (packet_send(p->fd, frame, NF_LEN))
			return false;
		p->done = true;
	}
	return true;
}

static void *peer_main(void *arg)
{
	struct frame_peer *p = arg;
	uint8_t frame[NF_LEN], buf[2048];
	double sent_at = 0;
	bool blocked = false;

	nf_build(frame, p->guest_mac, host_mac, NF_DATA, 0);
	while (!atomic_load(&p->stop) && !p->err[0]) {
		struct pollfd pfd = { p->fd, POLLIN | (blocked ? POLLOUT : 0), 0 };
		const char *why;
		uint32_t seq;
		ssize_t n;
		int type;

		if (p->mode != PEER_CAPTURE)
			blocked = !peer_send(p, frame, &sent_at);
		if (poll(&pfd, 1, 20) < 0 && errno != EINTR) {
			peer_error(p, "poll: %s", strerror(errno));
			break;
		}
		while ((n = recv(p->fd, buf, sizeof(buf), 0)) > 0) {
			if (!nf_parse(buf, (size_t)n, &type, &seq, &why)) {
				p->others++;
				continue;
			}
			if (why)
				peer_error(p, "guest frame type %d seq %u: %s (%zd bytes)", type,
					   seq, why, n);
			else if (memcmp(buf + 6, p->guest_mac, 6) || memcmp(buf, bcast, 6))
				peer_error(p, "guest frame seq %u: wrong source or destination MAC",
					   seq);
			else if (p->mode == PEER_CAPTURE)
				on_capture(p, type, seq);
			else
				on_reply(p, type, seq, sent_at);
			/* Answer an echo at once: latency is what PING measures. */
			if (p->mode == PEER_PING)
				blocked = !peer_send(p, frame, &sent_at);
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			peer_error(p, "recv: %s", strerror(errno));
	}
	return NULL;
}

int frame_peer_start(struct frame_peer *p, const char *ifname)
{
	unsigned int packets, drops;

	p->err[0] = '\0';
	p->got = p->sent = p->others = 0;
	p->ready = p->done = false;
	p->t_first = p->t_last = 0;
	atomic_store(&p->stop, false);
	p->fd = packet_open(ifname);
	if (p->fd < 0) {
		snprintf(p->err, sizeof(p->err), "AF_PACKET socket on %s: %s", ifname,
			 strerror(errno));
		return -1;
	}
	packet_stats(p->fd, &packets, &drops); /* reading resets them */
	if (pthread_create(&p->thread, NULL, peer_main, p)) {
		snprintf(p->err, sizeof(p->err), "pthread_create failed");
		close(p->fd);
		return -1;
	}
	p->running = true;
	return 0;
}

void frame_peer_stop(struct frame_peer *p)
{
	if (!p->running)
		return;
	/* Frames the guest sent last may still be on their way up the tap. */
	usleep(100 * 1000);
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	p->running = false;
	if (packet_stats(p->fd, &p->packets, &p->drops))
		peer_error(p, "PACKET_STATISTICS: %s", strerror(errno));
	close(p->fd);
}
