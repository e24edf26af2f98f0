// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api_client.h"
#include "timescale.h"

int api_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

int api_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int api_read_response(int fd, double timeout_s, char **body)
{
	double deadline = mono_s() + timeout_s * test_time_scale();
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1), *hdr_end;
	int status = -1;

	if (!buf)
		return -1;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - mono_s();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		if (len == cap) {
			char *nb = realloc(buf, cap * 2 + 1);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	if (body) {
		hdr_end = strstr(buf, "\r\n\r\n");
		*body = strdup(hdr_end ? hdr_end + 4 : "");
	}
	free(buf);
	return status;
}

int api_call(const char *sock, const char *method, const char *path, const char *json, char **body)
{
	return api_call_timeout(sock, method, path, json, 10, body);
}

int api_call_timeout(const char *sock, const char *method, const char *path, const char *json,
		     double timeout_s, char **body)
{
	char *req = NULL;
	int fd, n, status = -1;

	if (body)
		*body = NULL;
	fd = api_connect(sock);
	if (fd < 0)
		return -1;
	n = asprintf(&req,
		     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		     method, path, json ? strlen(json) : 0, json ? json : "");
	if (n > 0 && !api_send_all(fd, req, n))
		status = api_read_response(fd, timeout_s, body);
	free(req);
	close(fd);
	if (body && !*body)
		*body = strdup("");
	return status;
}
