// SPDX-License-Identifier: MIT
/*
 * MSI-X (vmm/msix.c) over an irqfd table with no KVM behind it: what the
 * guest reads and writes in the capability, the table and the PBA, which
 * MSI routes and irqfds exist, and when a vector's eventfd is written.
 * Masking as the spec has it: a masked vector (or a masked or disabled
 * function) holds the interrupt in the PBA and delivers it on unmask, also
 * one another process wrote into the vector's eventfd.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/log.h>

#include "le.h"
#include "msix.h"
#include "pci.h"

#define NR_VEC	  3
#define TABLE_OFF 0x0
#define PBA_OFF	  0x800

struct fixture {
	struct irqfd_table irqfds;
	struct msix m;
	struct pci_func f;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	evvm_log_set_level(EVVM_LOG_ERR);
	assert_non_null(x);
	assert_int_equal(irqfd_table_init(&x->irqfds, -1, false), 0);
	assert_int_equal(msix_init(&x->m, &x->irqfds, NR_VEC, "test"), 0);
	pci_func_init(&x->f, 0x1af4, 0x1042, 0, true, NULL, NULL, "test");
	assert_int_equal(msix_cap_add(&x->m, &x->f, 1, TABLE_OFF, PBA_OFF), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	msix_destroy(&x->m);
	irqfd_table_destroy(&x->irqfds);
	free(x);
	return 0;
}

/* The guest writes Message Control (through the write mask, as pci.c does). */
static void set_ctrl(struct fixture *x, uint16_t v)
{
	unsigned int c = x->m.cap + 2;

	put_le16(&x->f.cfg[c], (get_le16(&x->f.cfg[c]) & ~get_le16(&x->f.wmask[c])) |
				       (v & get_le16(&x->f.wmask[c])));
	msix_cfg_write(&x->m, &x->f, c, 2);
}

static void wr32(struct fixture *x, uint64_t off, uint32_t v)
{
	assert_true(msix_bar_write(&x->m, off, &v, 4));
}

static uint32_t rd32(struct fixture *x, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_true(msix_bar_read(&x->m, off, &v, 4));
	return v;
}

static void program(struct fixture *x, unsigned int vec, uint32_t addr, uint32_t data)
{
	wr32(x, TABLE_OFF + vec * 16, addr);
	wr32(x, TABLE_OFF + vec * 16 + 4, 0);
	wr32(x, TABLE_OFF + vec * 16 + 8, data);
}

static uint64_t fired(struct fixture *x, unsigned int vec)
{
	uint64_t n = 0;

	if (read(x->m.v[vec].fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static const struct irqfd_msi_route *route_of(struct fixture *x, unsigned int vec)
{
	for (unsigned int i = 0; i < x->irqfds.nr_msi; i++)
		if (x->m.v[vec].routed && x->irqfds.msi[i].gsi == x->m.v[vec].gsi)
			return &x->irqfds.msi[i];
	return NULL;
}

static void test_capability_and_reset_state(void **state)
{
	struct fixture *x = *state;
	unsigned int c = x->m.cap;

	assert_int_equal(x->f.cfg[c], MSIX_CAP_ID);
	assert_int_equal(get_le16(&x->f.cfg[c + 2]), NR_VEC - 1);
	assert_int_equal(get_le32(&x->f.cfg[c + 4]), TABLE_OFF | 1);
	assert_int_equal(get_le32(&x->f.cfg[c + 8]), PBA_OFF | 1);
	for (unsigned int v = 0; v < NR_VEC; v++)
		assert_int_equal(rd32(x, TABLE_OFF + v * 16 + 12), 1); /* masked */
	assert_int_equal(rd32(x, PBA_OFF), 0);
	assert_false(msix_enabled(&x->m));
	/* Message Control's other bits are read-only. */
	set_ctrl(x, 0x3fff);
	assert_int_equal(get_le16(&x->f.cfg[c + 2]), NR_VEC - 1);
}

static void test_masked_vector_pends_then_fires_on_unmask(void **state)
{
	struct fixture *x = *state;
	const struct irqfd_msi_route *r;

	program(x, 1, 0xfee00000, 0x41);
	set_ctrl(x, 0x8000);
	assert_true(msix_enabled(&x->m));

	/* Masked: the interrupt waits in the PBA, no route exists yet. */
	assert_int_equal(msix_notify(&x->m, 1), 0);
	assert_int_equal(fired(x, 1), 0);
	assert_int_equal(rd32(x, PBA_OFF), 1u << 1);
	assert_null(route_of(x, 1));

	/* Unmask: routed, bound, delivered, no longer pending. */
	wr32(x, TABLE_OFF + 16 + 12, 0);
	assert_int_equal(fired(x, 1), 1);
	assert_int_equal(rd32(x, PBA_OFF), 0);
	r = route_of(x, 1);
	assert_non_null(r);
	assert_int_equal(r->addr, 0xfee00000);
	assert_int_equal(r->data, 0x41);
	assert_int_equal(x->irqfds.nr, 1);
	assert_int_equal(x->irqfds.entries[0]->fd, x->m.v[1].fd);
	assert_int_equal(x->irqfds.entries[0]->gsi, r->gsi);

	/* Unmasked: straight through. */
	assert_int_equal(msix_notify(&x->m, 1), 0);
	assert_int_equal(msix_notify(&x->m, 1), 0);
	assert_int_equal(fired(x, 1), 2);

	/* Masked again, kicked, then unmasked: exactly one interrupt arrives. */
	wr32(x, TABLE_OFF + 16 + 12, 1);
	assert_int_equal(msix_notify(&x->m, 1), 0);
	assert_int_equal(msix_notify(&x->m, 1), 0);
	assert_int_equal(fired(x, 1), 0);
	assert_int_equal(rd32(x, PBA_OFF), 1u << 1);
	wr32(x, TABLE_OFF + 16 + 12, 0);
	assert_int_equal(fired(x, 1), 1);
	assert_int_equal(rd32(x, PBA_OFF), 0);
	assert_int_equal(fired(x, 0), 0); /* the others saw nothing */
	assert_int_equal(fired(x, 2), 0);
}

static bool bound(struct fixture *x, unsigned int vec)
{
	for (unsigned int i = 0; i < x->irqfds.nr; i++)
		if (x->irqfds.entries[i]->fd == x->m.v[vec].fd)
			return true;
	return false;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/*
 * Another process (a vhost-user backend) writes the vector's eventfd: it
 * is bound while the vector is deliverable, and while masked the write
 * waits and shows in the PBA, then arrives once on unmask.
 */
static void test_foreign_writer_follows_the_mask(void **state)
{
	struct fixture *x = *state;
	int fd = msix_vector_fd(&x->m, 2);

	assert_int_equal(fd, x->m.v[2].fd);
	assert_int_equal(msix_vector_fd(&x->m, NR_VEC), -1);
	program(x, 2, 0xfee00000, 0x42);
	set_ctrl(x, 0x8000);
	assert_false(bound(x, 2)); /* masked */
	wr32(x, TABLE_OFF + 32 + 12, 0);
	assert_true(bound(x, 2)); /* deliverable: KVM takes the writes */
	assert_non_null(route_of(x, 2));

	/* Masked: unbound; two writes pend as one, the PBA shows it. */
	wr32(x, TABLE_OFF + 32 + 12, 1);
	assert_false(bound(x, 2));
	signal_fd(fd);
	signal_fd(fd);
	assert_int_equal(rd32(x, PBA_OFF), 1u << 2);
	assert_int_equal(fired(x, 2), 0); /* the PBA read took the count */
	wr32(x, TABLE_OFF + 32 + 12, 0);
	assert_true(bound(x, 2));
	assert_int_equal(fired(x, 2), 1);
	assert_int_equal(rd32(x, PBA_OFF), 0);

	/* Function masked, written, unmasked without a PBA read: delivered. */
	set_ctrl(x, 0xc000);
	assert_false(bound(x, 2));
	signal_fd(fd);
	set_ctrl(x, 0x8000);
	assert_true(bound(x, 2));
	assert_int_equal(fired(x, 2), 1);
	/* MSI-X off: unbound, held; on again: delivered. */
	set_ctrl(x, 0);
	assert_false(bound(x, 2));
	signal_fd(fd);
	set_ctrl(x, 0x8000);
	assert_int_equal(fired(x, 2), 1);
	assert_int_equal(rd32(x, PBA_OFF), 0);
	assert_int_equal(fired(x, 0), 0);
	assert_int_equal(fired(x, 1), 0);
}

static void test_function_mask_and_disable(void **state)
{
	struct fixture *x = *state;

	program(x, 0, 0xfee00000, 0x30);
	wr32(x, TABLE_OFF + 12, 0);
	/* Disabled: pending, not delivered (INTx is the caller's business). */
	assert_int_equal(msix_notify(&x->m, 0), 0);
	assert_int_equal(fired(x, 0), 0);
	/* Enabled with the function masked: still pending. */
	set_ctrl(x, 0x8000 | 0x4000);
	assert_int_equal(fired(x, 0), 0);
	assert_int_equal(rd32(x, PBA_OFF), 1);
	assert_int_equal(msix_notify(&x->m, 0), 0);
	assert_int_equal(fired(x, 0), 0);
	/* Function unmasked: one interrupt for the two held. */
	set_ctrl(x, 0x8000);
	assert_int_equal(fired(x, 0), 1);
	assert_int_equal(rd32(x, PBA_OFF), 0);
}

static void test_route_follows_the_entry(void **state)
{
	struct fixture *x = *state;
	const struct irqfd_msi_route *r;
	uint32_t gsi;

	set_ctrl(x, 0x8000);
	program(x, 2, 0xfee00000, 0x50);
	wr32(x, TABLE_OFF + 32 + 12, 0);
	assert_int_equal(msix_notify(&x->m, 2), 0);
	assert_int_equal(fired(x, 2), 1);
	gsi = route_of(x, 2)->gsi;

	/* Retargeted while masked (as drivers do): the next interrupt uses the new route. */
	wr32(x, TABLE_OFF + 32 + 12, 1);
	program(x, 2, 0xfee01000, 0x51);
	r = route_of(x, 2);
	assert_int_equal(r->data, 0x50); /* not before it can be used */
	wr32(x, TABLE_OFF + 32 + 12, 0);
	assert_int_equal(msix_notify(&x->m, 2), 0);
	r = route_of(x, 2);
	assert_int_equal(r->gsi, gsi); /* updated in place, the irqfd stays bound */
	assert_int_equal(r->addr, 0xfee01000);
	assert_int_equal(r->data, 0x51);
	assert_int_equal(fired(x, 2), 1);
	assert_int_equal(x->irqfds.nr_msi, 1);
}

static void test_hostile_accesses(void **state)
{
	struct fixture *x = *state;
	uint64_t q = 0;
	uint16_t w = 0xffff;
	uint32_t v = 0;

	/* Vectors past the table, and NO_VECTOR. */
	assert_int_equal(msix_notify(&x->m, NR_VEC), -EINVAL);
	assert_int_equal(msix_notify(&x->m, 1000), -EINVAL);
	assert_int_equal(msix_notify(&x->m, MSIX_NO_VECTOR), 0);
	assert_int_equal(rd32(x, PBA_OFF), 0);

	/* Past the table and the PBA: not MSI-X's. */
	assert_false(msix_bar_read(&x->m, TABLE_OFF + NR_VEC * 16, &v, 4));
	assert_false(msix_bar_write(&x->m, TABLE_OFF + NR_VEC * 16, &v, 4));
	assert_false(msix_bar_read(&x->m, PBA_OFF + 8, &v, 4));
	/* Sub-dword and misaligned accesses: read zero, write nothing. */
	assert_true(msix_bar_write(&x->m, TABLE_OFF + 12, &w, 2));
	assert_int_equal(rd32(x, TABLE_OFF + 12), 1);
	v = 0x12345678;
	assert_true(msix_bar_read(&x->m, TABLE_OFF + 2, &v, 4));
	assert_int_equal(v, 0);
	/* The PBA is read-only. */
	q = UINT64_MAX;
	assert_true(msix_bar_write(&x->m, PBA_OFF, &q, 8));
	assert_true(msix_bar_read(&x->m, PBA_OFF, &q, 8));
	assert_int_equal(q, 0);
	/* 8-byte table accesses (address low + high). */
	q = 0x00000000fee02000ULL;
	assert_true(msix_bar_write(&x->m, TABLE_OFF, &q, 8));
	assert_int_equal(rd32(x, TABLE_OFF), 0xfee02000);

	/* An address that is no local APIC's: held pending, never routed. */
	set_ctrl(x, 0x8000);
	program(x, 1, 0x00100000, 0x41);
	wr32(x, TABLE_OFF + 16 + 12, 0);
	assert_int_equal(msix_notify(&x->m, 1), 0);
	assert_int_equal(fired(x, 1), 0);
	assert_int_equal(rd32(x, PBA_OFF), 1u << 1);
	assert_null(route_of(x, 1));
	/* Fixed by the driver: delivered. */
	wr32(x, TABLE_OFF + 16 + 12, 1);
	program(x, 1, 0xfee00000, 0x41);
	wr32(x, TABLE_OFF + 16 + 12, 0);
	assert_int_equal(fired(x, 1), 1);
}

static void test_bad_vector_counts(void **state)
{
	struct irqfd_table t;
	struct msix m;

	(void)state;
	assert_int_equal(irqfd_table_init(&t, -1, false), 0);
	assert_int_equal(msix_init(&m, &t, 0, "none"), -EINVAL);
	msix_destroy(&m);
	assert_int_equal(msix_init(&m, &t, MSIX_MAX_VECTORS + 1, "many"), -EINVAL);
	msix_destroy(&m);
	irqfd_table_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capability_and_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masked_vector_pends_then_fires_on_unmask,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_function_mask_and_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_writer_follows_the_mask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_route_follows_the_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
		cmocka_unit_test(test_bad_vector_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
