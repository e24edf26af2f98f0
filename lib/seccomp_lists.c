// SPDX-License-Identifier: MIT
/*
 * The allow-lists, one table per thread kind and one per device an I/O
 * thread may serve: the whole policy, in one place to audit. A kind's list
 * is the union of the tables sc_tables() returns for it. docs/seccomp.md
 * says why each call is here; keep the two in step.
 *
 * Rules without arguments allow every use of the call. Argument rules
 * allow the call only when every comparison holds; several rules for one
 * call are alternatives.
 */
#define _GNU_SOURCE
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <errno.h>
#include <sys/socket.h>
#include <termios.h>

#include "seccomp_int.h"

// clang-format off
#define ALLOW(name) { .nr = SCMP_SYS(name) }
/* Refused with errno @e: neither run nor fatal. */
#define REFUSE(name, e) { .nr = SCMP_SYS(name), .err = (e) }
/* Argument @a equals @v. */
#define ALLOW_EQ(name, a, v) \
	{ .nr = SCMP_SYS(name), .nargs = 1, \
	  .args = { { .arg = (a), .op = SCMP_CMP_EQ, .datum_a = (v) } } }
/* Argument @a masked with @m equals @v. */
#define ALLOW_MASKED(name, a, m, v) \
	{ .nr = SCMP_SYS(name), .nargs = 1, \
	  .args = { { .arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = (m), .datum_b = (v) } } }
#define TABLE(n, r) { (n), (r), sizeof(r) / sizeof((r)[0]) }
// clang-format on
/* ioctl(fd, @req, ...) */
#define ALLOW_IOCTL(req) ALLOW_EQ(ioctl, 1, (req))
/* Mappings are never executable: no guest or peer data becomes code. */
#define ALLOW_NOEXEC(name) ALLOW_MASKED(name, 2, PROT_EXEC, 0)

/*
 * Sanitizer builds only (make SAN=1): ASan's allocator and LeakSanitizer's
 * exit-time check (it stops the threads with ptrace from a helper task and
 * reads /proc/self/maps). Never part of a release build's lists.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SC_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_SANITIZER 1
#endif
#endif
/* Every thread: glibc's and the allocator's needs, log lines, thread exit. */
static const struct sc_rule common[] = {
	ALLOW(futex), /* mutexes, condition variables, pthread_join */
	ALLOW(write), /* log lines, eventfd signals */
	ALLOW(close),
	ALLOW(brk),
	ALLOW(madvise),
	ALLOW(munmap),
	ALLOW_NOEXEC(mmap),
	ALLOW_NOEXEC(mprotect), /* malloc arenas, guard pages */
	ALLOW(clock_gettime),	/* without the vDSO */
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	ALLOW(sched_yield),
	ALLOW(gettid),
	ALLOW(getpid),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigreturn),
	ALLOW(restart_syscall),
	ALLOW(exit),
	ALLOW(exit_group),
	ALLOW_EQ(prctl, 0, PR_SET_NAME), /* pthread_setname_np() on itself */
	/*
	 * clone3's flags are in memory a filter cannot read: ENOSYS makes
	 * glibc fall back to clone(), whose flags a list can check.
	 */
	REFUSE(clone3, ENOSYS),
};

#ifndef SC_SANITIZER
/*
 * Every thread but the API's: no file is opened after set-up, but glibc's
 * free() may probe /proc/sys/vm/overcommit_memory when it shrinks a
 * thread's heap, and copes with a failure: refused, not fatal.
 */
static const struct sc_rule no_open[] = {
	REFUSE(open, EACCES),
	REFUSE(openat, EACCES),
};
#endif

/* A thread running an evvm_loop (lib/loop.c): epoll, eventfd and timerfd reads. */
static const struct sc_rule loop[] = {
	ALLOW(epoll_wait),	ALLOW(epoll_pwait), ALLOW(epoll_ctl), ALLOW(read),
	ALLOW(timerfd_settime), ALLOW(poll),	    ALLOW(ppoll),
};

/*
 * KVM calls made once the VM runs, by the vCPU (MMIO/PIO handlers bind and
 * unbind doorbells and interrupts as the guest programs its devices) and
 * by the main thread (the UART's line on console input, teardown).
 */
static const struct sc_rule kvm_runtime[] = {
	ALLOW_IOCTL(KVM_IOEVENTFD),  ALLOW_IOCTL(KVM_IRQFD),	       ALLOW_IOCTL(KVM_IRQ_LINE),
	ALLOW_IOCTL(KVM_SIGNAL_MSI), ALLOW_IOCTL(KVM_SET_GSI_ROUTING), ALLOW_IOCTL(KVM_GET_IRQCHIP),
};

/* evvm run's main thread once the vCPUs run: its loop, stop, teardown. */
static const struct sc_rule main_thread[] = {
	ALLOW(tgkill),			    /* vcpu_kick(): SIGUSR1 ends KVM_RUN */
	ALLOW(rt_sigpending),		    /* instance_stop_signal(): which stop signal came */
	ALLOW(unlink),			    /* the API socket at exit */
	ALLOW(newfstatat),    ALLOW(fstat), /* stdio, the --stats lines */
	ALLOW(lseek),	      ALLOW(fcntl),
	ALLOW_IOCTL(TCGETS),  ALLOW_IOCTL(TCSETS), /* the terminal's mode back at exit */
};

/* A vCPU thread: KVM_RUN and what the exits it handles do. */
static const struct sc_rule vcpu[] = {
	ALLOW_IOCTL(KVM_RUN),
	/* regs_dump() when the VM fails */
	ALLOW_IOCTL(KVM_GET_REGS),
	ALLOW_IOCTL(KVM_GET_SREGS),
	ALLOW_IOCTL(KVM_GET_MSRS),
	ALLOW_IOCTL(KVM_GET_LAPIC),
	ALLOW(read),
	ALLOW(eventfd2), /* testdev binds new eventfds on a guest command */
	ALLOW(epoll_ctl),
	ALLOW(tgkill), /* a stop kicks the other vCPUs */
	ALLOW(timerfd_settime),
};

/* An I/O thread, besides its loop and its devices. */
static const struct sc_rule io[] = {
	/* vhost/sigbus.c: a SIGBUS not from a frontend's mapping goes back to the default */
	ALLOW(rt_sigaction),
};

/* The user-mode irqfd injector (vmm/irqfd.c): wait, read, inject. */
static const struct sc_rule irqfd[] = {
	ALLOW(epoll_pwait2), /* with a timeout while an EOI is awaited */
	ALLOW(epoll_wait),
	ALLOW(epoll_pwait),
	ALLOW(epoll_ctl),
	ALLOW(read),
	ALLOW_IOCTL(KVM_IRQ_LINE),
	ALLOW_IOCTL(KVM_SIGNAL_MSI),
	ALLOW_IOCTL(KVM_GET_IRQCHIP),
};

/*
 * The API thread once the VM runs (before, it builds the VM unconfined):
 * libevent's evhttp serving the socket, and the requests a started VM
 * takes: pause and resume, PATCH /drives (a new file), PATCH
 * /network-interfaces, PUT /snapshot/create (files written and synced),
 * FlushMetrics, SendCtrlAltDel.
 */
static const struct sc_rule api[] = {
	/* evhttp's connections; FIONREAD sizes evbuffer_read()'s read */
	ALLOW(accept4), ALLOW(readv), ALLOW(writev), ALLOW(shutdown), ALLOW(fcntl),
	ALLOW(gettimeofday), ALLOW_IOCTL(FIONREAD),
	/* PATCH /drives: the new file opened, locked and probed as --disk does */
	ALLOW(openat), ALLOW(fstat), ALLOW(newfstatat), ALLOW(fstatfs), ALLOW(flock),
	/* PUT /snapshot/create: a temporary file written, synced, renamed */
	ALLOW(lseek), ALLOW(ftruncate), ALLOW(pwrite64), ALLOW(fsync), ALLOW(fdatasync),
	ALLOW(rename), ALLOW(renameat), ALLOW(unlink),
	ALLOW(getrandom), /* mkostemp()'s name, in the glibc versions that use it */
	/* and the paused VM's state read */
	ALLOW_IOCTL(KVM_GET_MSR_INDEX_LIST), ALLOW_IOCTL(KVM_GET_REGS), ALLOW_IOCTL(KVM_GET_SREGS),
	ALLOW_IOCTL(KVM_GET_XCRS), ALLOW_IOCTL(KVM_GET_XSAVE), ALLOW_IOCTL(KVM_GET_DEBUGREGS),
	ALLOW_IOCTL(KVM_GET_LAPIC), ALLOW_IOCTL(KVM_GET_MSRS), ALLOW_IOCTL(KVM_GET_VCPU_EVENTS),
	ALLOW_IOCTL(KVM_GET_MP_STATE), ALLOW_IOCTL(KVM_GET_PIT2), ALLOW_IOCTL(KVM_GET_CLOCK),
	ALLOW_IOCTL(KVM_GET_DIRTY_LOG), /* a diff snapshot's pages (and any snapshot's, tracked) */
	ALLOW(tgkill),			/* a pause kicks the vCPUs out of KVM_RUN */
};

/* A vhost-user backend's control thread: the socket, the frontend's messages and fds. */
static const struct sc_rule vu_ctl[] = {
	ALLOW(accept4),	     ALLOW_EQ(getsockopt, 1, SOL_SOCKET), /* SO_PEERCRED, SO_PEERGROUPS */
	ALLOW(recvmsg),	     ALLOW(sendmsg),			  /* messages, with SCM_RIGHTS */
	ALLOW(fcntl),				/* O_NONBLOCK on received fds, memfd seals */
	ALLOW(fstat),	     ALLOW(newfstatat), /* region files' sizes; the socket at exit */
	ALLOW(memfd_create), ALLOW(ftruncate),	/* the inflight region */
	ALLOW(unlink),				/* our socket at exit */
	ALLOW(tgkill),				/* ending the signal thread */
	ALLOW(rt_sigaction), /* the SIGBUS handler for a frontend's truncated file */
};

/* A vhost-user backend's signal thread: sigwait(), then stop the control loop. */
static const struct sc_rule vu_signal[] = {
	ALLOW(rt_sigtimedwait),
};

/* Devices, for the I/O threads (and vCPU threads, whose MMIO exits drive their setup). */
static const struct sc_rule dev_blk[] = {
	ALLOW(io_uring_enter), ALLOW(fdatasync), ALLOW(fallocate),
	ALLOW(preadv2),	       ALLOW(pwritev2), /* the inline (RWF_NOWAIT) path */
};

static const struct sc_rule dev_rng[] = {
	ALLOW(getrandom),
};

static const struct sc_rule dev_net[] = {
	ALLOW(readv), ALLOW(writev),				  /* frames to and from the tap */
	ALLOW_IOCTL(TUNSETOFFLOAD), ALLOW_IOCTL(TUNSETVNETHDRSZ), /* the guest's features */
};

static const struct sc_rule dev_console[] = {
	ALLOW(readv),
};

/* evvm's vhost-user frontend: talks to, and reconnects to, its backends' unix sockets. */
static const struct sc_rule dev_vhost_frontend[] = {
	ALLOW(fstat),	       /* the inflight region's size */
	ALLOW(timerfd_create), /* reconnect=SECS: the retry timer, made when the backend goes */
	ALLOW(poll),	       /* vhost/wire.c: one deadline per message */
	ALLOW_EQ(socket, 0, AF_UNIX),
	ALLOW(connect),
	ALLOW(sendmsg),
	ALLOW(recvmsg),
	ALLOW(fcntl),
	ALLOW(memfd_create),
	ALLOW(ftruncate),
};

#ifdef SC_SANITIZER
static const struct sc_rule sanitizer[] = {
	ALLOW(clone),
	ALLOW(ptrace),
	ALLOW(wait4),
	ALLOW(prctl),
	ALLOW(openat),
	ALLOW(open),
	ALLOW(readlink),
	ALLOW(getppid),
	ALLOW(sigaltstack),
	ALLOW(rt_sigaction),
	ALLOW(sched_getaffinity),
	ALLOW(getrlimit),
	ALLOW(prlimit64),
	ALLOW(read),
	ALLOW(pread64),
	ALLOW(fstat),
	ALLOW(newfstatat),
	ALLOW(lseek),
	ALLOW(kill),
	ALLOW(tgkill),
	ALLOW(getdents),
	ALLOW(getdents64),
	ALLOW(munmap),
	ALLOW(mremap),
};
#endif

unsigned int sc_tables(enum evvm_thread_kind kind, unsigned int devs, const struct sc_table **out)
{
	static const struct sc_table t_common = TABLE("common", common),
				     t_loop = TABLE("loop", loop),
				     t_kvm = TABLE("kvm-runtime", kvm_runtime),
				     t_main = TABLE("main", main_thread),
				     t_vcpu = TABLE("vcpu", vcpu), t_irqfd = TABLE("irqfd", irqfd),
				     t_io = TABLE("io", io), t_ctl = TABLE("vu-ctl", vu_ctl),
				     t_sig = TABLE("vu-signal", vu_signal),
				     t_blk = TABLE("blk", dev_blk), t_rng = TABLE("rng", dev_rng),
				     t_net = TABLE("net", dev_net),
				     t_con = TABLE("console", dev_console),
				     t_api = TABLE("api", api),
				     t_vuf = TABLE("vhost-frontend", dev_vhost_frontend);
#ifdef SC_SANITIZER
	static const struct sc_table t_san = TABLE("sanitizer", sanitizer);
#else
	static const struct sc_table t_no_open = TABLE("no-open", no_open);
#endif
	unsigned int n = 0;
	bool devices = false;

	out[n++] = &t_common;
#ifndef SC_SANITIZER
	if (kind != EVVM_THREAD_API)
		out[n++] = &t_no_open;
#endif
	switch (kind) {
	case EVVM_THREAD_MAIN:
		out[n++] = &t_loop;
		out[n++] = &t_kvm;
		out[n++] = &t_main;
		devices = true; /* devices stop and are destroyed here */
		break;
	case EVVM_THREAD_VCPU:
		out[n++] = &t_kvm;
		out[n++] = &t_vcpu;
		devices = true;
		break;
	case EVVM_THREAD_IO:
		out[n++] = &t_loop;
		/* evvm run's transports bind doorbells and interrupts on the device's thread */
		out[n++] = &t_kvm;
		out[n++] = &t_io;
		devices = true;
		break;
	case EVVM_THREAD_IRQFD:
		out[n++] = &t_irqfd;
		break;
	case EVVM_THREAD_VU_CTL:
		out[n++] = &t_loop;
		out[n++] = &t_ctl;
		devices = true; /* a frontend's stop waits for the device here */
		break;
	case EVVM_THREAD_VU_SIGNAL:
		out[n++] = &t_sig;
		break;
	case EVVM_THREAD_API:
		out[n++] = &t_loop;
		out[n++] = &t_kvm;
		out[n++] = &t_api;
		devices = true; /* a PATCH runs on the device's thread, a drive's file opens here */
		break;
	default:
		break;
	}
	if (devices && (devs & EVVM_SECCOMP_DEV_BLK))
		out[n++] = &t_blk;
	if (devices && (devs & EVVM_SECCOMP_DEV_RNG))
		out[n++] = &t_rng;
	if (devices && (devs & EVVM_SECCOMP_DEV_NET))
		out[n++] = &t_net;
	if (devices && (devs & EVVM_SECCOMP_DEV_CONSOLE))
		out[n++] = &t_con;
	if (devices && (devs & EVVM_SECCOMP_DEV_VHOST_FRONTEND))
		out[n++] = &t_vuf;
#ifdef SC_SANITIZER
	out[n++] = &t_san;
#endif
	return n;
}
