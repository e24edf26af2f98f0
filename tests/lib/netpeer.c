// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netpeer.h"

int netns_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		return -1;
	return WEXITSTATUS(rc);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/*
 * Delete the namespaces of earlier runs that were killed before their
 * teardown: "evvm-<tag>-<pid>-<n>" whose pid is gone.
 */
static void sweep_stale(void)
{
	char line[256], tag[48], name[96];
	FILE *f = popen("ip netns list 2>/dev/null", "re");
	unsigned int n;
	int pid;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "evvm-%47[a-z]-%d-%u", tag, &pid, &n) != 3 || pid <= 0 ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(name, sizeof(name), "evvm-%s-%d-%u", tag, pid, n);
		netns_sh("ip netns del %s 2>/dev/null", name);
	}
	pclose(f);
}

int netns_create(struct netns *ns, const char *tag, const char *tap, char *err, size_t errlen)
{
	static unsigned int seq;
	char path[96];
	int fd;

	if (!seq)
		sweep_stale();
	memset(ns, 0, sizeof(*ns));
	ns->home_fd = -1;
	snprintf(ns->name, sizeof(ns->name), "evvm-%s-%d-%u", tag, (int)getpid(), seq++);
	if (netns_sh("ip netns add %s", ns->name)) {
		snprintf(err, errlen, "ip netns add %s failed", ns->name);
		return -1;
	}
	ns->created = true;
	ns->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/run/netns/%s", ns->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns->home_fd < 0 || fd < 0 || setns(fd, CLONE_NEWNET)) {
		snprintf(err, errlen, "entering %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	ns->entered = true;
	/* /proc/sys/net is the opener's namespace: ours now. No IPv6 chatter. */
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	if (netns_sh("ip link set lo up") ||
	    netns_sh("ip tuntap add dev %s mode tap && ip link set %s up", tap, tap)) {
		snprintf(err, errlen, "creating tap %s in %s failed", tap, ns->name);
		return -1;
	}
	return 0;
}

void netns_destroy(struct netns *ns)
{
	if (ns->entered && ns->home_fd >= 0)
		setns(ns->home_fd, CLONE_NEWNET);
	ns->entered = false;
	if (ns->home_fd >= 0)
		close(ns->home_fd);
	ns->home_fd = -1;
	if (ns->created)
		netns_sh("ip netns del %s", ns->name);
	ns->created = false;
}

int packet_open(const char *ifname)
{
	struct sockaddr_ll sll = { 0 };
	int fd, one = 1, rcvbuf = 64 << 20;
	unsigned int idx = if_nametoindex(ifname);

	if (!idx)
		return -1;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -1;
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)idx;
	/* A big buffer so a burst never overflows it; FORCE: we are root. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		goto fail;
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int packet_send(int fd, const void *frame, size_t len)
{
	ssize_t n = send(fd, frame, len, 0);

	if (n == (ssize_t)len)
		return 0;
	if (n >= 0)
		errno = EMSGSIZE;
	return -1;
}

int packet_stats(int fd, unsigned int *packets, unsigned int *drops)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
		return -1;
	*packets = st.tp_packets;
	*drops = st.tp_drops;
	return 0;
}

int netdev_counter(const char *ifname, const char *name, unsigned long long *out)
{
	static const char *const names[] = { "rx_bytes",      "rx_packets",   "rx_errs",
					     "rx_dropped",    "rx_fifo",      "rx_frame",
					     "rx_compressed", "rx_multicast", "tx_bytes",
					     "tx_packets",    "tx_errs",      "tx_dropped" };
	unsigned long long v[12];
	char line[512], dev[64];
	int want = -1, rc = -1;
	FILE *f;

	for (int i = 0; i < 12; i++)
		if (!strcmp(names[i], name))
			want = i;
	f = fopen("/proc/thread-self/net/dev", "re");
	if (want < 0 || !f) {
		if (f)
			fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon || sscanf(line, " %63[^:]", dev) != 1 || strcmp(dev, ifname))
			continue;
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
			   &v[10], &v[11]) == 12) {
			*out = v[want];
			rc = 0;
		}
		break;
	}
	fclose(f);
	return rc;
}

int snmp_counter(const char *proto, const char *name, unsigned long long *out)
{
	char head[1024], vals[1024], *hs, *vs, *h, *v;
	size_t plen = strlen(proto);
	FILE *f = fopen("/proc/thread-self/net/snmp", "re");
	int rc = -1;

	if (!f)
		return -1;
	/* Pairs of lines: "Icmp: InMsgs InErrors ..." then "Icmp: 5 0 ...". */
	while (fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(head, proto, plen) || head[plen] != ':')
			continue;
		h = strtok_r(head + plen + 1, " \n", &hs);
		v = strtok_r(vals + plen + 1, " \n", &vs);
		for (; h && v; h = strtok_r(NULL, " \n", &hs), v = strtok_r(NULL, " \n", &vs))
			if (!strcmp(h, name)) {
				*out = strtoull(v, NULL, 10);
				rc = 0;
				break;
			}
		break;
	}
	fclose(f);
	return rc;
}

int netdev_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (rc)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static uint8_t nf_pattern(unsigned int k)
{
	return (uint8_t)(k * 7 + 0x11);
}

void nf_build(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], int type, uint32_t seq)
{
	uint32_t magic = NF_MAGIC;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = NF_ETHERTYPE >> 8;
	f[13] = NF_ETHERTYPE & 0xff;
	memcpy(f + NF_OFF_MAGIC, &magic, 4); /* x86 hosts: little-endian */
	f[NF_OFF_TYPE] = (uint8_t)type;
	f[NF_OFF_TYPE + 1] = 0;
	memcpy(f + NF_OFF_SEQ, &seq, 4);
	for (unsigned int k = NF_OFF_PAT; k < NF_LEN; k++)
		f[k] = nf_pattern(k);
}

bool nf_parse(const uint8_t *f, size_t len, int *type, uint32_t *seq, const char **why)
{
	uint32_t magic;

	*why = NULL;
	if (len < NF_OFF_PAT || f[12] != NF_ETHERTYPE >> 8 || f[13] != (NF_ETHERTYPE & 0xff))
		return false;
	memcpy(&magic, f + NF_OFF_MAGIC, 4);
	if (magic != NF_MAGIC)
		return false;
	*type = f[NF_OFF_TYPE];
	memcpy(seq, f + NF_OFF_SEQ, 4);
	if (len != NF_LEN) {
		*why = "wrong length";
		return true;
	}
	if (f[NF_OFF_TYPE + 1]) {
		*why = "byte 19 not 0";
		return true;
	}
	for (unsigned int k = NF_OFF_PAT; k < NF_LEN; k++)
		if (f[k] != nf_pattern(k)) {
			*why = "pattern differs";
			return true;
		}
	return true;
}

bool mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return false;
		mac[i] = (uint8_t)b[i];
	}
	return true;
}

bool json_dev_counter(const char *text, const char *dev, const char *key, unsigned long long *out)
{
	char pat[96];
	const char *p, *end;

	/* The device's counters are under "devices"; "virtio" names it too. */
	p = text ? strstr(text, "\"devices\":") : NULL;
	snprintf(pat, sizeof(pat), "\"%s\":", dev);
	p = p ? strstr(p, pat) : NULL;
	if (!p)
		return false;
	end = strchr(p, '}');
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	if (!p || (end && p > end))
		return false;
	return sscanf(p + strlen(pat), " %llu", out) == 1;
}
