/* SPDX-License-Identifier: MIT */
/*
 * The host side of the virtio-net tests and bench/net: a network namespace
 * with a tap in it, an AF_PACKET socket on the tap, and the frame format of
 * guest/test_virtio_net.c. No cmocka here, so benchmarks can link it too.
 */
#ifndef EVVM_TESTS_NETPEER_H
#define EVVM_TESTS_NETPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../guest/netframe.h" /* the frame format, shared with the guest */

struct netns {
	char name[48];
	int home_fd; /* this thread's namespace before netns_enter() */
	bool created, entered;
};

/*
 * Create namespace "evvm-<tag>-<pid>-<n>" with lo and tap @tap up (IPv6
 * off, so the kernel sends nothing unasked), and move the calling thread
 * into it: children (evvm) and sockets created afterwards live there.
 * 0, or -1 with the reason in @err. Undo with netns_destroy(), also after
 * a failure.
 */
int netns_create(struct netns *ns, const char *tag, const char *tap, char *err, size_t errlen);

/* Return to the original namespace and delete ours; safe to call twice. */
void netns_destroy(struct netns *ns);

/* Run a shell command (printf-style); its exit status, or -1. */
int netns_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * An AF_PACKET socket on @ifname receiving every protocol, our own
 * transmissions excluded, with a large receive buffer. Non-blocking.
 * The fd, or -1 with errno set.
 */
int packet_open(const char *ifname);

/* Send one frame; 0, or -1 with errno (EAGAIN/ENOBUFS: try again). */
int packet_send(int fd, const void *frame, size_t len);

/* PACKET_STATISTICS since the last call: frames received and dropped. */
int packet_stats(int fd, unsigned int *packets, unsigned int *drops);

/* A counter of @ifname from /proc/self/net/dev: "tx_dropped", "rx_packets", ... */
int netdev_counter(const char *ifname, const char *name, unsigned long long *out);

/* A counter of this namespace's /proc/net/snmp, e.g. ("Icmp", "InEchos"). */
int snmp_counter(const char *proto, const char *name, unsigned long long *out);

/* @ifname's MAC address (SIOCGIFHWADDR); 0 or -1. */
int netdev_mac(const char *ifname, uint8_t mac[6]);

/* Build a frame of the shared format (@dst, @src, @type, @seq). */
void nf_build(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], int type, uint32_t seq);

/*
 * If @f is one of ours: true, with *@type and *@seq. *@why is NULL, or says
 * what is wrong with it (length, pattern).
 */
bool nf_parse(const uint8_t *f, size_t len, int *type, uint32_t *seq, const char **why);

/* "52:54:00:12:34:56" into @mac; false if malformed. */
bool mac_parse(const char *s, uint8_t mac[6]);

/*
 * The number after "key": within the JSON object that follows "dev": in
 * @text (evvm's --stats=json), e.g. json_dev_counter(err, "net0",
 * "tx_packets", &v). false if absent.
 */
bool json_dev_counter(const char *text, const char *dev, const char *key, unsigned long long *out);

#endif
