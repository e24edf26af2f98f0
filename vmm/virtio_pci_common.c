// SPDX-License-Identifier: MIT
/*
 * virtio-pci's common configuration (virtio 1.2, 4.1.4.3): feature
 * negotiation, device status, queue selection and setup, MSI-X vectors.
 * Called by virtio_pci.c's BAR0 handlers on vCPU threads; @lock is taken
 * here.
 */
#include <string.h>

#include "le.h"
#include "virtio_pci_int.h"

/* Common configuration: fields and their widths. */
static unsigned int field_size(uint32_t off)
{
	switch (off) {
	case CC_DFSELECT:
	case CC_DF:
	case CC_GFSELECT:
	case CC_GF:
		return 4;
	case CC_STATUS:
	case CC_CFGGEN:
		return 1;
	case CC_Q_DESC:
	case CC_Q_AVAIL:
	case CC_Q_USED:
		return 8;
	default:
		return off < CC_Q_DESC && !(off & 1) ? 2 : 0;
	}
}

/*
 * The field an access of @len at @off reaches, or -1: a whole field, or
 * one 32-bit half of a 64-bit one (4.1.3.1: drivers may split them).
 */
static int common_field(uint32_t off, unsigned int len)
{
	uint32_t base = off >= CC_Q_DESC ? off & ~7u : off;
	unsigned int size;

	if (off >= COMMON_LEN)
		return -1;
	size = field_size(base);
	if (len == size && off == base)
		return (int)base;
	if (size == 8 && len == 4 && (off & 3) == 0)
		return (int)base;
	return -1;
}

static struct vcore_queue *selected(struct virtio_pci *t)
{
	return t->queue_sel < t->dev->ops->nr_queues ? &t->core.q[t->queue_sel] : NULL;
}

static uint64_t common_get(struct virtio_pci *t, uint32_t field)
{
	struct vcore_queue *mq = selected(t);
	uint64_t feats = vcore_offered(&t->core);

	switch (field) {
	case CC_DFSELECT:
		return t->dfselect;
	case CC_DF:
		return t->dfselect < 2 ? (uint32_t)(feats >> (32 * t->dfselect)) : 0;
	case CC_GFSELECT:
		return t->gfselect;
	case CC_GF:
		return t->gfselect < 2 ? (uint32_t)(t->core.driver_features >> (32 * t->gfselect))
				       : 0;
	case CC_MSIX:
		return atomic_load(&t->config_vector);
	case CC_NUMQ:
		return t->dev->ops->nr_queues;
	case CC_STATUS:
		return atomic_load(&t->core.status) & 0xff;
	case CC_CFGGEN:
		return (uint8_t)atomic_load(&t->config_generation);
	case CC_Q_SELECT:
		return t->queue_sel;
	case CC_Q_SIZE:
		return mq ? mq->num : 0;
	case CC_Q_MSIX:
		return mq ? atomic_load(&t->queue_vector[t->queue_sel]) : MSIX_NO_VECTOR;
	case CC_Q_ENABLE:
		return mq ? mq->ready : 0;
	case CC_Q_NOFF:
		return mq ? t->queue_sel : 0;
	case CC_Q_DESC:
		return mq ? mq->desc : 0;
	case CC_Q_AVAIL:
		return mq ? mq->avail : 0;
	case CC_Q_USED:
		return mq ? mq->used : 0;
	}
	return 0;
}

/* A vector the driver asks for: one of ours, else NO_VECTOR (4.1.4.3.2: it reads back). */
static uint16_t vector_check(struct virtio_pci *t, uint64_t v)
{
	if (v == MSIX_NO_VECTOR || v < t->msix.nr)
		return (uint16_t)v;
	vpci_warn(t, "MSI-X vector %llu does not exist (%u vectors)", (unsigned long long)v,
		  t->msix.nr);
	return MSIX_NO_VECTOR;
}

static void common_set_queue(struct virtio_pci *t, uint32_t field, uint64_t v)
{
	struct vcore_queue *mq = selected(t);

	if (!mq)
		return;
	if (field == CC_Q_MSIX) {
		if (!t->dev->ops->kick &&
		    (atomic_load(&t->core.status) & VIRTIO_STATUS_DRIVER_OK)) {
			vpci_warn(t,
				  "queue %u vector changed after DRIVER_OK: its backend keeps the "
				  "old one until a reset",
				  mq->index);
			return;
		}
		atomic_store(&t->queue_vector[t->queue_sel], vector_check(t, v));
		return;
	}
	if (mq->ready) {
		vpci_warn(t, "queue %u changed while enabled; ignored", mq->index);
		return;
	}
	switch (field) {
	case CC_Q_SIZE:
		mq->num = (uint16_t)v;
		break;
	case CC_Q_ENABLE:
		if (v == 1)
			vcore_queue_enable(&t->core, mq->index);
		break;
	case CC_Q_DESC:
		mq->desc = v;
		break;
	case CC_Q_AVAIL:
		mq->avail = v;
		break;
	case CC_Q_USED:
		mq->used = v;
		break;
	}
}

static void vpci_reset(struct virtio_pci *t)
{
	vcore_reset(&t->core);
	t->dfselect = t->gfselect = 0;
	t->queue_sel = 0;
	atomic_store(&t->config_vector, MSIX_NO_VECTOR);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		atomic_store(&t->queue_vector[q], MSIX_NO_VECTOR);
	atomic_store(&t->isr, 0);
}

static void common_set(struct virtio_pci *t, uint32_t field, uint64_t v)
{
	uint32_t status = atomic_load(&t->core.status);

	switch (field) {
	case CC_DFSELECT:
		t->dfselect = (uint32_t)v;
		return;
	case CC_GFSELECT:
		t->gfselect = (uint32_t)v;
		return;
	case CC_GF:
		if ((status & VIRTIO_STATUS_FEATURES_OK) || t->gfselect > 1)
			return; /* negotiation is over, or no such word */
		t->core.driver_features &= ~(0xffffffffULL << (32 * t->gfselect));
		t->core.driver_features |= (v & 0xffffffffULL) << (32 * t->gfselect);
		return;
	case CC_MSIX:
		atomic_store(&t->config_vector, vector_check(t, v));
		return;
	case CC_STATUS:
		if (v == 0) {
			vpci_reset(t);
			return;
		}
		if ((v & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_DRIVER_OK) &&
		    !t->dev->ops->kick)
			vpci_bind_calls(t);
		vcore_set_status(&t->core, (uint32_t)v);
		return;
	case CC_Q_SELECT:
		t->queue_sel = (uint16_t)v;
		return;
	case CC_DF:
	case CC_NUMQ:
	case CC_CFGGEN:
	case CC_Q_NOFF:
		return; /* read-only */
	}
	common_set_queue(t, field, v);
}

void vpci_common_read(struct virtio_pci *t, uint32_t off, void *data, unsigned int len)
{
	int field = common_field(off, len);
	uint8_t buf[8];

	if (field < 0) {
		vpci_warn(t, "common config: %u-byte read at 0x%x is no field", len, off);
		return;
	}
	pthread_mutex_lock(&t->lock);
	put_le64(buf, common_get(t, (uint32_t)field) >> (8 * (off - (uint32_t)field)));
	pthread_mutex_unlock(&t->lock);
	memcpy(data, buf, len);
}

void vpci_common_write(struct virtio_pci *t, uint32_t off, const void *data, unsigned int len)
{
	int field = common_field(off, len);
	uint8_t buf[8];
	uint64_t v;

	if (field < 0) {
		vpci_warn(t, "common config: %u-byte write at 0x%x is no field", len, off);
		return;
	}
	pthread_mutex_lock(&t->lock);
	/* A half of a 64-bit field: merge it into the rest. */
	put_le64(buf, common_get(t, (uint32_t)field));
	memcpy(buf + (off - (uint32_t)field), data, len);
	v = get_le64(buf);
	if (field_size((uint32_t)field) < 8)
		v &= (1ULL << (8 * field_size((uint32_t)field))) - 1;
	common_set(t, (uint32_t)field, v);
	pthread_mutex_unlock(&t->lock);
}
