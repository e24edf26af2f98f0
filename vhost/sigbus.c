// SPDX-License-Identifier: MIT
/*
 * SIGBUS containment for guest memory a frontend may shrink (see sigbus.h).
 * The handler only reads the slot table (lock-free atomics) and makes
 * async-signal-safe system calls (mmap, write); slots are claimed with a
 * compare-and-swap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sigbus.h"

struct guard_slot {
	atomic_uintptr_t start; /* 0: free */
	atomic_size_t len;
	atomic_int efd;
};

static struct guard_slot slots[SIGBUS_GUARD_MAX];
static atomic_flag installing = ATOMIC_FLAG_INIT;
static long page_size;

static void sigbus_handler(int sig, siginfo_t *info, void *uctx)
{
	uintptr_t addr = (uintptr_t)info->si_addr;
	uint64_t one = 1;

	(void)uctx;
	for (unsigned int i = 0; i < SIGBUS_GUARD_MAX; i++) {
		uintptr_t start = atomic_load(&slots[i].start);
		void *page;

		if (!start || addr - start >= atomic_load(&slots[i].len))
			continue;
		page = (void *)(addr & ~(uintptr_t)(page_size - 1));
		if (mmap(page, page_size, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			break;
		if (write(atomic_load(&slots[i].efd), &one, sizeof(one)) < 0) {
			/* A saturated counter already says it. */
		}
		return;
	}
	/* Not guest memory: fault again with the default action. */
	signal(sig, SIG_DFL);
}

/* Ours, unless something replaced it since (a test harness's crash handler). */
static int sigbus_install(void)
{
	struct sigaction sa, old;
	int err = 0;

	if (sigaction(SIGBUS, NULL, &old) == 0 && (old.sa_flags & SA_SIGINFO) &&
	    old.sa_sigaction == sigbus_handler)
		return 0;
	while (atomic_flag_test_and_set(&installing))
		;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	page_size = sysconf(_SC_PAGESIZE);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		err = -errno;
	atomic_flag_clear(&installing);
	return err;
}

int sigbus_guard(void *addr, size_t len, int efd)
{
	int err = sigbus_install();

	if (err)
		return err;
	for (unsigned int i = 0; i < SIGBUS_GUARD_MAX; i++) {
		uintptr_t free_slot = 0;

		/* Claim with a placeholder start, fill in, then publish the real start. */
		if (!atomic_compare_exchange_strong(&slots[i].start, &free_slot, UINTPTR_MAX))
			continue;
		atomic_store(&slots[i].len, 0);
		atomic_store(&slots[i].efd, efd);
		atomic_store(&slots[i].len, len);
		atomic_store(&slots[i].start, (uintptr_t)addr);
		return (int)i;
	}
	return -ENOSPC;
}

void sigbus_unguard(int slot)
{
	if (slot < 0 || slot >= SIGBUS_GUARD_MAX)
		return;
	atomic_store(&slots[slot].len, 0);
	atomic_store(&slots[slot].start, 0);
}
