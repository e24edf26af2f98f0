/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_SIGBUS_H
#define EVVM_VHOST_SIGBUS_H

#include <stddef.h>

/*
 * Memory a vhost-user frontend shares can shrink under us: it may
 * ftruncate() the file behind a region we mapped, and the next access to
 * the lost part raises SIGBUS. Where the fd can be sealed against
 * shrinking, the backend seals it (memtable.c); where it cannot, the
 * mapping is guarded here: a SIGBUS at a guarded address is answered by
 * mapping a private zero page over the faulting page (so the access that
 * faulted completes, harmlessly) and signalling the guard's eventfd, on
 * which the backend drops that frontend. A SIGBUS anywhere else kills the
 * process, as it would have.
 */

/* Most guarded ranges in the process at once. */
#define SIGBUS_GUARD_MAX 64

/*
 * Guard [@addr, @addr + @len) and write to eventfd @efd on a fault in it
 * (@efd stays the caller's and must outlive the guard). Installs the
 * SIGBUS handler on first use. Returns a slot number for sigbus_unguard(),
 * or -errno (-ENOSPC when SIGBUS_GUARD_MAX ranges are guarded).
 */
int sigbus_guard(void *addr, size_t len, int efd);

/* Stop guarding slot @slot (before the range is unmapped). Negative is ignored. */
void sigbus_unguard(int slot);

#endif
