// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the vhost-user backend's message parser: the input
 * is a hostile frontend. One backend (a virtio-blk disk on a small file, so
 * that every request, in-flight tracking included, is served) lives for the
 * whole run; each input is one connection on a socketpair, fed through the
 * same framing (vhost_wire_recv()) and dispatch (vub_dispatch()) as a real
 * connection, replies read and dropped, then torn down (vub_disconnect()).
 * ASan and LeakSanitizer see every map, fd and allocation a message makes.
 *
 * Input: records of
 *   u8 fds      bits 0-3: how many fds go with the message (beyond
 *               VHOST_USER_MAX_FDS are refused by the framing); bits 4-5:
 *               their kind (0 a memfd of FUZZ_RAM bytes that takes no seals,
 *               1 an eventfd, 2 a memfd that takes seals, 3 /dev/null)
 *   u32 request, u32 flags, u32 size   the header, sent as is (little-endian)
 *   payload     min(size, what is left) bytes
 * A record cut short ends the input; so does a message the framing refuses
 * (the connection is dropped, as the backend does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "../vhost/backend_int.h"

#define FUZZ_RAM   0x10000
#define MAX_MSGS   64
#define REC_HEADER 13

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vhost_backend *backend;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/evvm-fuzz-vhost-XXXXXX";
	struct blk_config disk = { .queues = 2 };
	struct evvm_virtio_dev *dev;
	char path[64], sock[64];
	int fd;

	(void)argc;
	(void)argv;
	if (!getenv("FUZZ_VHOST_LOG"))
		evvm_log_set_level((enum evvm_log_level)(EVVM_LOG_ERR - 1));
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/disk", dir);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		abort();
	close(fd);
	disk.path = path;
	if (blk_create("blk0", &disk, &dev))
		abort();
	/* The disk stays open; the files go now, so nothing is left behind. */
	unlink(path);
	/* Two I/O threads: ring 0 on one, ring 1 on the other. */
	if (vhost_backend_create(&(struct vhost_backend_config){ .socket_path = sock,
								 .dev = dev,
								 .nr_iothreads = 2 },
				 &backend))
		abort();
	unlink(sock);
	rmdir(dir);
	return 0;
}

static int make_fd(unsigned int kind)
{
	int fd;

	switch (kind) {
	case 0:
	case 2:
		fd = memfd_create("fuzz-ram", MFD_CLOEXEC | (kind == 2 ? MFD_ALLOW_SEALING : 0));
		if (fd >= 0 && ftruncate(fd, FUZZ_RAM) < 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	case 1:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	default:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	}
}

/* Send one record's message on @sock; returns the bytes of input it used, or 0 at the end. */
static size_t send_record(int sock, const uint8_t *data, size_t size)
{
	int fds[15];
	unsigned int nfds, kind;
	uint32_t hdr[3], len;
	uint8_t buf[12 + 512];
	struct iovec iov = { buf, 0 };
	union {
		char b[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size < REC_HEADER)
		return 0;
	nfds = data[0] & 15;
	kind = (data[0] >> 4) & 3;
	memcpy(hdr, data + 1, sizeof(hdr));
	len = hdr[2] < size - REC_HEADER ? hdr[2] : (uint32_t)(size - REC_HEADER);
	if (len > sizeof(buf) - 12)
		len = sizeof(buf) - 12;
	memcpy(buf, hdr, 12);
	memcpy(buf + 12, data + REC_HEADER, len);
	iov.iov_len = 12 + len;
	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = make_fd(kind);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		len = (uint32_t)(size - REC_HEADER); /* a bad fd: consume the rest */
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return REC_HEADER + len;
}

/* Read and drop whatever the backend replied, closing the fds that came with it. */
static void drain_replies(int sock)
{
	uint8_t buf[1024];
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };

		if (recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int fd;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vub_msg *msg = calloc(1, sizeof(*msg));
	int sv[2];
	size_t used;

	if (!msg || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	backend->conn_fd = sv[0];
	for (unsigned int n = 0; n < MAX_MSGS && (used = send_record(sv[1], data, size)); n++) {
		const char *why;

		data += used;
		size -= used;
		/* Everything was written before: no wait (a short message is refused at once). */
		if (vhost_wire_recv(backend->conn_fd, &msg->w, 0, &why))
			break;
		if (vub_dispatch(backend, msg))
			break;
		drain_replies(sv[1]);
	}
	vub_disconnect(backend); /* closes sv[0] */
	close(sv[1]);
	free(msg);
	return 0;
}
