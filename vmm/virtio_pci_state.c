// SPDX-License-Identifier: MIT
/*
 * virtio-pci in a snapshot: the function's configuration space, the MSI-X
 * table and PBA, the common configuration and the device's queues. The
 * restoring process creates the function as for any VM, then loads these
 * in the order the hardware would have seen them: the table before MSI-X
 * is enabled, the BARs before the queues' doorbells are hooked on them.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <evvm/log.h>

#include "le.h"
#include "virtio_pci_int.h"

static_assert(sizeof(((struct virtio_pci_state *)0)->cfg) == PCI_CFG_SIZE, "config space");
static_assert(sizeof(struct virtio_pci_state) % 8 == 0, "padding");

void virtio_pci_save(struct virtio_pci *t, struct virtio_pci_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&t->lock);
	vcore_save(&t->core, &s->vs);
	s->vs.isr = atomic_load(&t->isr);
	s->vs.config_generation = atomic_load(&t->config_generation);
	s->vs.queue_sel = t->queue_sel;
	s->vs.dev_features_sel = t->dfselect;
	s->vs.drv_features_sel = t->gfselect;
	s->config_vector = atomic_load(&t->config_vector);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		s->queue_vector[q] = atomic_load(&t->queue_vector[q]);
	pthread_mutex_unlock(&t->lock);
	/* (not under t->lock: the bus's lock comes first, as in a BAR move) */
	pci_func_save_cfg(t->host.bus, &t->f, s->cfg);
	s->nr_vectors = t->msix.nr;
	msix_save(&t->msix, s->msix, &s->msix_pending);
}

static bool vector_ok(const struct virtio_pci *t, uint16_t v)
{
	return v == MSIX_NO_VECTOR || v < t->msix.nr;
}

/* What virtio_state_check() does not know: the vectors and this transport's fields. */
static int state_check(struct virtio_pci *t, const struct virtio_pci_state *s, const char *file)
{
	uint64_t vectors = t->msix.nr < 64 ? (1ULL << t->msix.nr) - 1 : ~0ULL;
	const char *fault = NULL;

	if (s->nr_vectors != t->msix.nr)
		fault = "MSI-X vector count";
	else if (s->reserved)
		fault = "reserved field";
	else if (!vector_ok(t, s->config_vector))
		fault = "config vector";
	else if (s->msix_pending & ~vectors)
		fault = "MSI-X pending bits";
	else if (s->vs.queue_sel > UINT16_MAX)
		fault = "queue select";
	for (unsigned int q = 0; !fault && q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (!vector_ok(t, s->queue_vector[q]))
			fault = "queue vector";
	if (!fault)
		return 0;
	pr_err("snapshot '%s': %s: %s is not this device's", file, t->name, fault);
	return -EINVAL;
}

int virtio_pci_restore(struct virtio_pci *t, const struct virtio_pci_state *s, const char *file)
{
	int err = state_check(t, s, file);

	if (!err)
		err = virtio_state_check(&s->vs, t->dev, vcore_offered(&t->core), file);
	if (err)
		return err;
	msix_load(&t->msix, s->msix, s->msix_pending);
	err = pci_func_load_cfg(t->host.bus, &t->f, s->cfg, file);
	if (err)
		return err;
	atomic_store(&t->intx_disabled,
		     pci_func_cfg32(&t->f, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	msix_cfg_write(&t->msix, &t->f, t->msix.cap + 2, 2);

	pthread_mutex_lock(&t->lock);
	t->dfselect = s->vs.dev_features_sel;
	t->gfselect = s->vs.drv_features_sel;
	t->queue_sel = (uint16_t)s->vs.queue_sel;
	atomic_store(&t->config_vector, s->config_vector);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		atomic_store(&t->queue_vector[q], s->queue_vector[q]);
	atomic_store(&t->config_generation, s->vs.config_generation);
	err = vcore_restore(&t->core, &s->vs, file);
	pthread_mutex_unlock(&t->lock);
	/*
	 * INTx is a level the guest had not acknowledged yet (it reads the ISR
	 * to clear it): raised again. MSI-X kept its pending bits.
	 */
	if (!err && s->vs.isr && !msix_enabled(&t->msix))
		vpci_intx_raise(t, s->vs.isr);
	else if (!err)
		atomic_store(&t->isr, s->vs.isr);
	return err;
}
