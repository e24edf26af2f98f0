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
	int err = 0;

	if (!cfg)
		cfg = &none;
	tbucket_init(&rl->bytes, cfg->bandwidth.size, cfg->bandwidth.one_time_burst,
		     cfg->bandwidth.refill_ms, now_ns);
	tbucket_init(&rl->ops, cfg->ops.size, cfg->ops.one_time_burst, cfg->ops.refill_ms, now_ns);
	rl->on = tbucket_limited(&rl->bytes) || tbucket_limited(&rl->ops);
	if (rl->on && rl->timer_fd < 0) {
		rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (rl->timer_fd < 0) {
			/* No limit rather than one that never wakes what waits. */
			err = -errno;
			cfg = &none;
			tbucket_init(&rl->bytes, 0, 0, 0, now_ns);
			tbucket_init(&rl->ops, 0, 0, 0, now_ns);
			rl->on = false;
		}
	}
	rl->cfg = *cfg;
	return err;
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

void ratelimit_save(const struct ratelimit *rl, uint64_t now_ns, struct evvm_rate_limit *cfg,
		    struct ratelimit_level *level)
{
	*cfg = rl->cfg;
	tbucket_get_level(&rl->bytes, now_ns, &level->bytes);
	tbucket_get_level(&rl->ops, now_ns, &level->ops);
}

const char *ratelimit_level_fault(const struct evvm_rate_limit *cfg,
				  const struct ratelimit_level *level, const char **bucket)
{
	static const struct evvm_rate_limit none;
	struct tbucket bytes, ops;
	const char *bad;

	if (!cfg)
		cfg = &none;
	tbucket_init(&bytes, cfg->bandwidth.size, cfg->bandwidth.one_time_burst,
		     cfg->bandwidth.refill_ms, 0);
	tbucket_init(&ops, cfg->ops.size, cfg->ops.one_time_burst, cfg->ops.refill_ms, 0);
	*bucket = "bandwidth";
	bad = tbucket_level_fault(&bytes, &level->bytes);
	if (!bad) {
		*bucket = "ops";
		bad = tbucket_level_fault(&ops, &level->ops);
	}
	return bad;
}

void ratelimit_set_level(struct ratelimit *rl, const struct ratelimit_level *level, uint64_t now_ns)
{
	tbucket_set_level(&rl->bytes, &level->bytes, now_ns);
	tbucket_set_level(&rl->ops, &level->ops, now_ns);
}

void ratelimit_fini(struct ratelimit *rl)
{
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
}
