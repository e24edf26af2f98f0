// SPDX-License-Identifier: MIT
/* A device's rate limiter: Firecracker's two token buckets and a wake-up timer. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>

#include "ratelimit.h"

uint64_t ratelimit_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void ratelimit_init(struct ratelimit *rl)
{
	*rl = (struct ratelimit){ .timer_fd = -1 };
	tbucket_init(&rl->bytes, 0, 0, 0, 0);
	tbucket_init(&rl->ops, 0, 0, 0, 0);
}

int ratelimit_prepare(struct ratelimit *rl)
{
	if (rl->timer_fd < 0)
		rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	return rl->timer_fd < 0 ? -errno : 0;
}

int ratelimit_set(struct ratelimit *rl, const struct evvm_rate_limit *cfg, uint64_t now_ns)
{
	static const struct evvm_rate_limit none;

	if (!cfg)
		cfg = &none;
	tbucket_init(&rl->bytes, cfg->bandwidth.size, cfg->bandwidth.one_time_burst,
		     cfg->bandwidth.refill_ms, now_ns);
	tbucket_init(&rl->ops, cfg->ops.size, cfg->ops.one_time_burst, cfg->ops.refill_ms, now_ns);
	rl->on = tbucket_limited(&rl->bytes) || tbucket_limited(&rl->ops);
	if (rl->on && rl->timer_fd < 0) {
		rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (rl->timer_fd < 0) {
			int err = -errno;

			rl->on = false;
			return err;
		}
	}
	return 0;
}

static void ratelimit_arm(struct ratelimit *rl, uint64_t ns)
{
	struct itimerspec its = { .it_value = { .tv_sec = ns / 1000000000ULL,
						.tv_nsec = ns % 1000000000ULL } };

	if (timerfd_settime(rl->timer_fd, 0, &its, NULL) < 0)
		pr_err("rate limiter: timerfd_settime: %s", evvm_strerror(errno));
}

uint64_t ratelimit_admit(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t wb, wo;

	if (!rl->on)
		return 0;
	/* Both buckets, or neither: a request is never half paid for. */
	wb = tbucket_wait_ns(&rl->bytes, bytes, now_ns);
	wo = tbucket_wait_ns(&rl->ops, 1, now_ns);
	if (!wb && !wo && tbucket_take(&rl->bytes, bytes, now_ns) &&
	    tbucket_take(&rl->ops, 1, now_ns))
		return 0;
	wb = wb > wo ? wb : wo;
	if (!wb)
		wb = 1; /* cannot happen: the waits said both would take */
	ratelimit_arm(rl, wb);
	return wb;
}

void ratelimit_disarm(struct ratelimit *rl)
{
	uint64_t n;

	if (rl->timer_fd < 0)
		return;
	ratelimit_arm(rl, 0);
	if (read(rl->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_warn("rate limiter: timerfd: %s", evvm_strerror(errno));
}

void ratelimit_fini(struct ratelimit *rl)
{
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
}
