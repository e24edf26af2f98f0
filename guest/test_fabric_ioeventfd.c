/*
 * ioeventfd match rules through testdev (docs/testdev.md): the guest
 * assigns ioeventfds in the VMM, writes to them and reads back how often
 * each eventfd was signalled (COUNT) and how many writes fell through to
 * the VMM with no owner (UNOWNED). A write that hits is swallowed by the
 * ioeventfd; a write that misses exits to the VMM's io bus, where nothing
 * owns these addresses. The rules are KVM's, on the kernel path and the
 * userspace path alike.
 *
 * Every test deassigns what it assigned, so they run in any order.
 */
#include "io.h"
#include "test.h"
#include "testdev.h"

#define DB_MMIO			0xd2000000UL	/* nothing owns it */
#define DB_PIO			0x520		/* nor this port */

#define EINVAL			22
#define EEXIST			17

#define MAX_SLOTS		4

/* The ioeventfds a test assigned, deassigned by ioev_put_all(). */
struct ioevs {
	s32 slot[MAX_SLOTS];
	unsigned int nr;
};

/* testdev's checks plus the UNOWNED counter of @bus in *@unowned. */
static int ioev_begin(struct ioevs *s, u32 bus, s32 *unowned)
{
	s->nr = 0;
	if (testdev_check())
		return -1;
	*unowned = testdev_cmd1(TD_UNOWNED, bus);
	if (*unowned < 0)
		return test_fail("UNOWNED %u: %d", bus, *unowned);
	return 0;
}

/* IOEVENTFD_ASSIGN; the RESULT, remembered in @s when it is a slot. */
static s32 ioev_try(struct ioevs *s, u32 flags, u32 addr, u32 len, u32 data)
{
	s32 r = testdev_cmd(TD_IOEVENTFD_ASSIGN, flags, addr, len, data);

	if (r >= 0 && s->nr < MAX_SLOTS)
		s->slot[s->nr++] = r;
	return r;
}

/* Assign or fail: 0 and the slot in *@slot, or -1. */
static int ioev_get(struct ioevs *s, u32 flags, u32 addr, u32 len, u32 data,
		    s32 *slot)
{
	*slot = ioev_try(s, flags, addr, len, data);
	if (*slot < 0)
		return test_fail("IOEVENTFD_ASSIGN flags %u 0x%x len %u: %d",
				 flags, addr, len, *slot);
	return 0;
}

/* Assigning must fail with -@err. */
static int ioev_refused(struct ioevs *s, u32 flags, u32 addr, u32 len,
			u32 data, int err)
{
	s32 r = ioev_try(s, flags, addr, len, data);

	if (r != -err)
		return test_fail("IOEVENTFD_ASSIGN flags %u 0x%x len %u: %d, want %d",
				 flags, addr, len, r, -err);
	return 0;
}

/* Deassign @slot and forget it. */
static int ioev_put(struct ioevs *s, s32 slot)
{
	unsigned int i;
	s32 r;

	for (i = 0; i < s->nr; i++)
		if (s->slot[i] == slot)
			s->slot[i] = s->slot[--s->nr];
	r = testdev_cmd1(TD_IOEVENTFD_DEASSIGN, slot);
	if (r)
		return test_fail("IOEVENTFD_DEASSIGN %d: %d", slot, r);
	return 0;
}

/* Deassign everything still assigned; @rc, or -1 if that failed. */
static int ioev_put_all(struct ioevs *s, int rc)
{
	while (s->nr)
		if (ioev_put(s, s->slot[0]))
			rc = -1;
	return rc;
}

static int expect_count(s32 slot, s32 want, const char *what)
{
	s32 c = testdev_cmd1(TD_IOEVENTFD_COUNT, slot);

	if (c != want)
		return test_fail("%s: COUNT %d, want %d", what, c, want);
	return 0;
}

/* UNOWNED on @bus must be @base + @delta. */
static int expect_unowned(u32 bus, s32 base, s32 delta, const char *what)
{
	s32 u = testdev_cmd1(TD_UNOWNED, bus);

	if (u != base + delta)
		return test_fail("%s: UNOWNED %s +%d, want +%d", what,
				 bus == TD_BUS_PIO ? "pio" : "mmio", u - base,
				 delta);
	return 0;
}

/* A test's body: what it assigned is deassigned whatever it returns. */
typedef int (*ioev_body_t)(struct ioevs *s, s32 unowned);

/* testdev's checks, @body with @bus's UNOWNED counter, then the clean-up. */
static int ioev_run(u32 bus, ioev_body_t body)
{
	struct ioevs s;
	s32 u;

	if (ioev_begin(&s, bus, &u))
		return -1;
	return ioev_put_all(&s, body(&s, u));
}

/* GUEST_TEST(@name) running @body through ioev_run() on @bus. */
#define IOEV_TEST(_name, _body, _bus)         \
	static int test_##_body(void)         \
	{                                     \
		return ioev_run(_bus, _body); \
	}                                     \
	GUEST_TEST(_name, test_##_body)

static int datamatch(struct ioevs *s, s32 u)
{
	s32 slot;

	if (ioev_get(s, TD_IOEV_MMIO | TD_IOEV_DATAMATCH, DB_MMIO, 4, 0x1234, &slot))
		return -1;
	mmio_write32(DB_MMIO, 0x1234);
	if (expect_count(slot, 1, "write 0x1234") ||
	    expect_unowned(TD_BUS_MMIO, u, 0, "write 0x1234"))
		return -1;
	mmio_write32(DB_MMIO, 0x4321);
	if (expect_count(slot, 0, "write 0x4321") ||
	    expect_unowned(TD_BUS_MMIO, u, 1, "write 0x4321"))
		return -1;
	return 0;
}
IOEV_TEST("ioeventfd-datamatch", datamatch, TD_BUS_MMIO);

static int wildcard(struct ioevs *s, s32 u)
{
	s32 slot;

	if (ioev_get(s, TD_IOEV_MMIO, DB_MMIO, 4, 0, &slot))
		return -1;
	mmio_write32(DB_MMIO, 1);
	mmio_write32(DB_MMIO, 0xdeadbeef);
	/* One read returns both signals; the next one finds none. */
	if (expect_count(slot, 2, "two writes") ||
	    expect_count(slot, 0, "second COUNT") ||
	    expect_unowned(TD_BUS_MMIO, u, 0, "two writes"))
		return -1;
	return 0;
}
IOEV_TEST("ioeventfd-wildcard", wildcard, TD_BUS_MMIO);

static int length(struct ioevs *s, s32 u)
{
	s32 slot;

	if (ioev_get(s, TD_IOEV_MMIO, DB_MMIO, 4, 0, &slot))
		return -1;
	mmio_write16(DB_MMIO, 0x1234);
	mmio_write8(DB_MMIO, 0x12);
	if (expect_count(slot, 0, "2- and 1-byte writes") ||
	    expect_unowned(TD_BUS_MMIO, u, 2, "2- and 1-byte writes"))
		return -1;
	mmio_write32(DB_MMIO, 0x12345678);
	if (expect_count(slot, 1, "4-byte write") ||
	    expect_unowned(TD_BUS_MMIO, u, 2, "4-byte write"))
		return -1;
	return 0;
}
IOEV_TEST("ioeventfd-length", length, TD_BUS_MMIO);

static int anylen(struct ioevs *s, s32 u)
{
	s32 slot;

	if (ioev_get(s, TD_IOEV_MMIO, DB_MMIO, 0, 0, &slot))
		return -1;
	mmio_write8(DB_MMIO, 1);
	mmio_write16(DB_MMIO, 2);
	mmio_write32(DB_MMIO, 4);
	mmio_write64(DB_MMIO, 8);
	if (expect_count(slot, 4, "1/2/4/8-byte writes") ||
	    expect_unowned(TD_BUS_MMIO, u, 0, "1/2/4/8-byte writes"))
		return -1;
	/* Length 0 cannot datamatch (checked where no entry collides). */
	if (ioev_refused(s, TD_IOEV_MMIO | TD_IOEV_DATAMATCH, DB_MMIO + 0x10, 0, 1, EINVAL) ||
	    ioev_refused(s, TD_IOEV_MMIO, DB_MMIO + 0x10, 3, 0, EINVAL))
		return -1;
	/* A length-0 entry collides with anything at its address. */
	return ioev_refused(s, TD_IOEV_MMIO, DB_MMIO, 4, 0, EEXIST);
}
IOEV_TEST("ioeventfd-anylen", anylen, TD_BUS_MMIO);

static int pio(struct ioevs *s, s32 u)
{
	s32 slot;

	if (ioev_get(s, TD_IOEV_PIO | TD_IOEV_DATAMATCH, DB_PIO, 2, 0x55, &slot))
		return -1;
	outw(0x55, DB_PIO);
	if (expect_count(slot, 1, "outw 0x55") ||
	    expect_unowned(TD_BUS_PIO, u, 0, "outw 0x55"))
		return -1;
	outw(0x56, DB_PIO);
	if (expect_count(slot, 0, "outw 0x56") ||
	    expect_unowned(TD_BUS_PIO, u, 1, "outw 0x56"))
		return -1;
	outb(0x55, DB_PIO);
	if (expect_count(slot, 0, "outb 0x55") ||
	    expect_unowned(TD_BUS_PIO, u, 2, "outb 0x55"))
		return -1;
	return 0;
}
IOEV_TEST("ioeventfd-pio", pio, TD_BUS_PIO);

static int two_fds(struct ioevs *s, s32 u)
{
	s32 one, two;

	if (ioev_get(s, TD_IOEV_MMIO | TD_IOEV_DATAMATCH, DB_MMIO, 4, 1, &one) ||
	    ioev_get(s, TD_IOEV_MMIO | TD_IOEV_DATAMATCH, DB_MMIO, 4, 2, &two))
		return -1;
	mmio_write32(DB_MMIO, 1);
	mmio_write32(DB_MMIO, 2);
	mmio_write32(DB_MMIO, 2);
	if (expect_count(one, 1, "datamatch 1") ||
	    expect_count(two, 2, "datamatch 2") ||
	    expect_unowned(TD_BUS_MMIO, u, 0, "writes 1, 2, 2"))
		return -1;
	if (ioev_refused(s, TD_IOEV_MMIO | TD_IOEV_DATAMATCH, DB_MMIO, 4, 1, EEXIST) ||
	    ioev_refused(s, TD_IOEV_MMIO, DB_MMIO, 4, 0, EEXIST))
		return -1;
	return 0;
}
IOEV_TEST("ioeventfd-two-fds", two_fds, TD_BUS_MMIO);

static int deassign(struct ioevs *s, s32 u)
{
	s32 slot, r;

	if (ioev_get(s, TD_IOEV_MMIO, DB_MMIO, 4, 0, &slot))
		return -1;
	mmio_write32(DB_MMIO, 1);
	if (expect_count(slot, 1, "assigned") ||
	    expect_unowned(TD_BUS_MMIO, u, 0, "assigned"))
		return -1;
	if (ioev_put(s, slot))
		return -1;
	/* The slot is gone: the write exits to the VMM, and nobody owns it. */
	mmio_write32(DB_MMIO, 1);
	if (expect_unowned(TD_BUS_MMIO, u, 1, "deassigned"))
		return -1;
	r = testdev_cmd1(TD_IOEVENTFD_DEASSIGN, slot);
	if (r >= 0)
		return test_fail("second IOEVENTFD_DEASSIGN %d: %d, want -errno", slot, r);
	return 0;
}
IOEV_TEST("ioeventfd-deassign", deassign, TD_BUS_MMIO);
