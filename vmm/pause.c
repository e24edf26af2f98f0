// SPDX-License-Identifier: MIT
/*
 * Pause and resume a running VM. Pausing parks every vCPU between two
 * KVM_RUNs (kicked out of the guest by the same signal vm_stop() uses),
 * then quiesces every virtio device on its I/O thread, so when vm_pause()
 * returns no guest code runs and no device touches a ring. Resuming
 * undoes it in the reverse order: the devices first, so that a vCPU that
 * kicks a queue at once finds it served.
 */
#include <errno.h>

#include <evvm/log.h>

#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "vm.h"

static void pause_kick_vcpus(void *opaque)
{
	struct evvm_vm *vm = opaque;

	/* Under the stop lock, as in vm_stop(): vm_run() starts the threads under it. */
	pthread_mutex_lock(&vm->stop_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->stop_lock);
}

/* Quiesce or resume every device; on a failure, the ones already done go back. */
static int pause_devices(struct evvm_vm *vm, bool quiesced)
{
	unsigned int i;
	int err = 0;

	for (i = 0; i < EVVM_MAX_VIRTIO && !err; i++) {
		if (vm->virtio[i])
			err = virtio_mmio_quiesce(vm->virtio[i], quiesced);
		if (!err && vm->virtio_pci[i])
			err = virtio_pci_quiesce(vm->virtio_pci[i], quiesced);
	}
	if (!err || !quiesced)
		return err;
	/* Device i - 1 failed and is as it was; resume those before it. */
	for (unsigned int j = 0; j + 1 < i; j++) {
		if (vm->virtio[j])
			virtio_mmio_quiesce(vm->virtio[j], false);
		if (vm->virtio_pci[j])
			virtio_pci_quiesce(vm->virtio_pci[j], false);
	}
	return err;
}

int vm_pause(struct evvm_vm *vm)
{
	int err;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->pause_lock);
		return 0;
	}
	err = gate_close(&vm->gate, pause_kick_vcpus, vm);
	if (!err) {
		err = pause_devices(vm, true);
		if (err)
			gate_open(&vm->gate);
	}
	vm->paused = !err;
	pthread_mutex_unlock(&vm->pause_lock);
	if (err)
		pr_err("pause: %s", err == -ECANCELED ? "the VM is stopping" : evvm_strerror(err));
	else
		pr_info("VM paused");
	return err;
}

int vm_resume(struct evvm_vm *vm)
{
	int err = 0;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		err = pause_devices(vm, false);
		/*
		 * A device that could not resume has logged why; the vCPUs go on
		 * anyway, since keeping the whole VM stopped helps nobody.
		 */
		gate_open(&vm->gate);
		vm->paused = false;
		pr_info("VM resumed");
	}
	pthread_mutex_unlock(&vm->pause_lock);
	return err;
}

bool vm_is_paused(struct evvm_vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->pause_lock);
	paused = vm->paused;
	pthread_mutex_unlock(&vm->pause_lock);
	return paused;
}
