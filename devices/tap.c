// SPDX-License-Identifier: MIT
/* Opening a tap device for virtio-net, with an error that says what is wrong. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include <evvm/log.h>
#include <evvm/tap.h>
#include <evvm/virtio.h>

/* TUNSETIFF failed with @err: turn it into the cause, logged once. */
static int tap_explain(const char *id, const char *name, int err)
{
	bool exists = if_nametoindex(name) != 0;

	switch (err) {
	case EPERM:
		if (!exists) {
			pr_err("%s: tap '%s': no such network device, and evvm may not create "
			       "one (TUNSETIFF: %s; creating needs CAP_NET_ADMIN: "
			       "`ip tuntap add dev %s mode tap user $USER`)",
			       id, name, evvm_strerror(err), name);
			return -ENOENT;
		}
		pr_err("%s: tap '%s': TUNSETIFF: %s (the tap belongs to another user or group; "
		       "`ip tuntap add dev %s mode tap user $USER` makes it ours)",
		       id, name, evvm_strerror(err), name);
		return -EPERM;
	case EBUSY:
		pr_err("%s: tap '%s': TUNSETIFF: %s (another process has the tap open)", id, name,
		       evvm_strerror(err));
		return -EBUSY;
	case EINVAL:
		if (exists) {
			pr_err("%s: tap '%s': TUNSETIFF: %s (the interface exists but is not a "
			       "single-queue tap: a tun device or another kind of interface)",
			       id, name, evvm_strerror(err));
			return -EINVAL;
		}
		break;
	}
	pr_err("%s: tap '%s': TUNSETIFF: %s", id, name, evvm_strerror(err));
	return -err;
}

int tap_open(const char *id, const char *name)
{
	struct ifreq ifr = { 0 };
	int fd, err, hdr = sizeof(struct virtio_net_hdr_v1);

	if (!*name || strlen(name) >= IFNAMSIZ) {
		pr_err("%s: tap '%s': an interface name has 1 to %d characters", id, name,
		       IFNAMSIZ - 1);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("%s: tap '%s': /dev/net/tun: %s", id, name, evvm_strerror(err));
		return err;
	}
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = tap_explain(id, name, errno);
		goto fail;
	}
	/* What we got attached to must be what we asked for. */
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		err = -errno;
		pr_err("%s: tap '%s': TUNGETIFF: %s", id, name, evvm_strerror(err));
		goto fail;
	}
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_VNET_HDR)) {
		pr_err("%s: tap '%s': not a tap with virtio-net headers (flags 0x%x)", id, name,
		       (unsigned int)(unsigned short)ifr.ifr_flags);
		err = -EINVAL;
		goto fail;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		err = -errno;
		pr_err("%s: tap '%s': TUNSETVNETHDRSZ %d: %s", id, name, hdr, evvm_strerror(err));
		goto fail;
	}
	/* No offloads until the guest has negotiated them. */
	err = tap_set_offload(fd, 0);
	if (err) {
		pr_err("%s: tap '%s': TUNSETOFFLOAD: %s", id, name, evvm_strerror(err));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

int tap_set_offload(int fd, unsigned int tun_flags)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0 ? -errno : 0;
}
