/*
 * virtio-console (virtio 1.2 5.3), port 0 only (MULTIPORT not negotiated):
 * queue 0 is receiveq, queue 1 transmitq. The host types a line into the
 * console; the guest sends it back through the transmitq, where it shows
 * on evvm's stdout, and prints it on the UART.
 */
#include "cpu.h"
#include "printf.h"
#include "test.h"
#include "virtio.h"

#define CON_RXQ			0
#define CON_TXQ			1
#define RX_BUFS			4
#define RX_BUF_SIZE		64
#define LINE_MAX		128
/* The host types after the prompt: about 10 s at 1 GHz (serial-echo's). */
#define LINE_TIMEOUT		(5 * TIMEOUT_CYCLES)

static u8 rx_buf[RX_BUFS][RX_BUF_SIZE] __aligned(64);
static char line[LINE_MAX + 1];
static char reply[LINE_MAX + 32];

static int post_rx(struct virtq *vq, unsigned int i)
{
	struct vbuf b = {
		.addr = (u64)(unsigned long)rx_buf[i],
		.len = RX_BUF_SIZE,
		.write = true,
	};
	int head = virtq_add(vq, &b, 1, NULL);

	if (head < 0)
		return test_fail("virtio-console: no room for a receive buffer");
	return 0;
}

/* Buffer index of a receive head: heads are handed out in order 0..3. */
static int rx_index(const struct virtq *vq, u32 id)
{
	unsigned int i;

	for (i = 0; i < RX_BUFS; i++)
		if (vq->desc[id].addr == (u64)(unsigned long)rx_buf[i])
			return i;
	return -1;
}

/* Collect bytes until '\n' (or '\r'); the line is cut at LINE_MAX. */
static int read_line(struct virtq *rx, unsigned int *len, unsigned int *chunks)
{
	u64 deadline = tsc_deadline(LINE_TIMEOUT);
	u32 id, n, k;
	int rc, i;

	for (;;) {
		rc = virtq_get_used(rx, &id, &n);
		if (rc < 0)
			return -1;
		if (!rc) {
			if (tsc_passed(deadline))
				return test_fail("virtio-console: no complete line within %lu cycles (%u bytes so far)",
						 (u64)LINE_TIMEOUT, *len);
			cpu_relax();
			continue;
		}
		i = rx_index(rx, id);
		if (i < 0 || n > RX_BUF_SIZE)
			return test_fail("virtio-console: used id %u len %u is not a receive buffer",
					 id, n);
		(*chunks)++;
		for (k = 0; k < n; k++) {
			char c = rx_buf[i][k];

			if (c == '\n' || c == '\r')
				return 0;
			if (*len < LINE_MAX)
				line[(*len)++] = c;
		}
		if (post_rx(rx, i))
			return -1;
		virtq_kick(rx);
	}
}

static int send(struct virtq *tx, const char *s, u32 len)
{
	struct vbuf b = { .addr = (u64)(unsigned long)s, .len = len };
	u32 id, n;
	int rc;

	if (virtq_add(tx, &b, 1, NULL) < 0)
		return test_fail("virtio-console: no room in the transmitq");
	virtq_kick(tx);
	rc = virtq_wait_used(tx, &id, &n, VIRTIO_IO_TIMEOUT);
	if (rc < 0)
		return -1;
	if (!rc)
		return test_fail("virtio-console: transmit buffer not used within %lu cycles (Status 0x%x)",
				 VIRTIO_IO_TIMEOUT,
				 virtio_status(tx->dev));
	return 0;
}

static int test_virtio_console(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_CONSOLE, 0, false);
	unsigned int i, len = 0, chunks = 0;
	struct virtq *rx, *tx = NULL;
	int n, rc = -1;

	if (!d || virtio_dev_begin(d, 0))
		return -1;
	rx = virtio_queue_setup(d, CON_RXQ, VIRTQ_MAX_SIZE);
	if (rx)
		tx = virtio_queue_setup(d, CON_TXQ, VIRTQ_MAX_SIZE);
	if (!rx || !tx) {
		virtio_dev_reset(d);
		return -1;
	}
	/* Receive buffers go in before DRIVER_OK, so no input is lost. */
	for (i = 0; i < RX_BUFS; i++)
		if (post_rx(rx, i))
			goto out;
	virtq_publish(rx);
	if (virtio_dev_ready(d))
		return -1;
	virtq_kick(rx);

	printf("evvm-guest: virtio-console: type a line\n");
	if (read_line(rx, &len, &chunks))
		goto out;
	line[len] = '\0';
	n = snprintf(reply, sizeof(reply), "virtio-console: got '%s'\n", line);
	if (send(tx, reply, n))
		goto out;
	printf("evvm-guest: %s", reply);
	rc = 0;
out:
	if (virtio_dev_reset(d))
		rc = -1;
	return rc;
}
GUEST_TEST("virtio-console", test_virtio_console);
