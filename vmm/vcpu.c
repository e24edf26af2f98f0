// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <evvm/confine.h>
#include <evvm/log.h>

#include "arch/x86/x86.h"
#include "vm.h"

/* Sent to a vCPU thread to make KVM_RUN return. */
#define VCPU_KICK_SIGNAL SIGUSR1

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

static void vcpu_kick_handler_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	/* No SA_RESTART: KVM_RUN must return EINTR. */
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

static void vcpu_install_kick_handler(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, vcpu_kick_handler_init);
}

int vcpu_create(struct evvm_vm *vm, struct vcpu *vcpu, unsigned int id)
{
	int err;

	vcpu_install_kick_handler();
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->run = MAP_FAILED;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0) {
		err = -errno;
		pr_err("vcpu %u: KVM_CREATE_VCPU: %s", id, evvm_strerror(err));
		return err;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		err = -errno;
		pr_err("vcpu %u: mmap kvm_run: %s", id, evvm_strerror(err));
		return err;
	}
	return cpuid_set(vcpu->fd, vm->cpuid, id, vm->nr_vcpus);
}

/* One more of @c, for the metrics; only this vCPU's thread writes it. */
static void vcpu_count(uint64_t *c)
{
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	vcpu_count(run->io.direction == KVM_EXIT_IO_OUT ? &vcpu->exit_io_out : &vcpu->exit_io_in);
	/* String I/O (rep ins/outs) arrives as count accesses in a row. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			/* User-mode ioeventfds see the write first, as KVM's would. */
			if (!ioeventfd_user_write(&vcpu->vm->ioeventfds, IOEVENTFD_PIO,
						  run->io.port, data, run->io.size))
				iobus_write(&vcpu->vm->pio, run->io.port, data, run->io.size);
		} else
			iobus_read(&vcpu->vm->pio, run->io.port, data, run->io.size);
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned int len = run->mmio.len;

	vcpu_count(run->mmio.is_write ? &vcpu->exit_mmio_write : &vcpu->exit_mmio_read);
	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	if (run->mmio.is_write) {
		if (!ioeventfd_user_write(&vcpu->vm->ioeventfds, IOEVENTFD_MMIO,
					  run->mmio.phys_addr, run->mmio.data, len))
			iobus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	} else
		iobus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

/* End the VM through its stop hook, as the devices do. */
static void vcpu_stop_vm(struct vcpu *vcpu, int status)
{
	vcpu->vm->stop.stop(vcpu->vm->stop.opaque, status);
}

/* The VM failed: say why, show the registers, stop. */
static void vcpu_fail(struct vcpu *vcpu, const char *what)
{
	pr_err("vcpu %u: %s", vcpu->id, what);
	vcpu_count(&vcpu->failures);
	regs_dump(vcpu->fd, vcpu->id);
	vcpu_stop_vm(vcpu, EVVM_EXIT_FAILURE);
}

/* Handle one exit; false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char msg[160];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(vcpu, "triple fault: the guest shut down (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			pr_info("guest %s", run->system_event.type == KVM_SYSTEM_EVENT_RESET
						    ? "reset"
						    : "power-off");
			vcpu_stop_vm(vcpu, 0);
			return false;
		}
		snprintf(msg, sizeof(msg), "system event %u", run->system_event.type);
		vcpu_fail(vcpu, msg);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(msg, sizeof(msg), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(vcpu, msg);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(msg, sizeof(msg), "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				 ? " (instruction emulation failed)"
				 : "");
		vcpu_fail(vcpu, msg);
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel irqchip; with no interrupts it is the end. */
		vcpu_fail(vcpu, "halted with interrupts unserviced (KVM_EXIT_HLT)");
		return false;
	default:
		snprintf(msg, sizeof(msg), "unhandled exit reason %u", run->exit_reason);
		vcpu_fail(vcpu, msg);
		return false;
	}
}

/*
 * KVM finishes the instruction of an I/O or MMIO exit (an OUT's RIP, an
 * IN's or MMIO read's register) only when KVM_RUN is entered again
 * (api.rst, KVM_RUN): until then the registers a snapshot reads are from
 * before it, and a restored guest would do it twice (a UART byte sent
 * again, a FIFO byte read twice). So before parking, enter once with
 * immediate_exit set: KVM completes the exit and returns EINTR without
 * running the guest. A rep string instruction may exit again first, which
 * is handled as any exit.
 */
static bool vcpu_finish_exit(struct vcpu *vcpu)
{
	for (;;) {
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			if (errno == EINTR || errno == EAGAIN)
				return true;
			pr_err("vcpu %u: KVM_RUN (finishing an exit): %s", vcpu->id,
			       evvm_strerror(errno));
			vcpu_stop_vm(vcpu, EVVM_EXIT_FAILURE);
			return false;
		}
		if (!vcpu_handle_exit(vcpu))
			return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct evvm_vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	/* Confined already (vcpu_start()): wait until the main thread is too (vm_run()). */
	pthread_mutex_lock(&vm->stop_lock);
	while (!vm->go)
		pthread_cond_wait(&vm->go_cond, &vm->stop_lock);
	pthread_mutex_unlock(&vm->stop_lock);

	gate_enter(&vm->gate);
	/* Between two KVM_RUNs is the safe point: the last exit is handled, the next not taken. */
	while (!atomic_load(&vm->stopping) && gate_pass(&vm->gate)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/*
				 * A kick: forget it, then look at why. Whoever kicks sets
				 * stopping or closes the gate before setting immediate_exit,
				 * so either the loop sees the reason now or the next
				 * KVM_RUN returns at once again.
				 */
				__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			pr_err("vcpu %u: KVM_RUN: %s", vcpu->id, evvm_strerror(errno));
			vcpu_stop_vm(vcpu, EVVM_EXIT_FAILURE);
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
		if (gate_is_closed(&vm->gate) && !vcpu_finish_exit(vcpu))
			break;
	}
	gate_leave(&vm->gate);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	/* Its seccomp list is in place before it can run the guest. */
	int err = confine_pthread_create(&vcpu->thread, EVVM_THREAD_VCPU, vcpu_thread, vcpu);

	if (err) {
		pr_err("vcpu %u: start: %s", vcpu->id, evvm_strerror(err));
		return err;
	}
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (vcpu->run == MAP_FAILED)
		return;
	/* KVM_RUN entered after this returns at once; one in progress is signalled. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started) {
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
	}
}

void vcpu_destroy(struct evvm_vm *vm, struct vcpu *vcpu)
{
	if (vcpu->run != MAP_FAILED && vcpu->run)
		munmap(vcpu->run, vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = MAP_FAILED;
	vcpu->fd = -1;
}
