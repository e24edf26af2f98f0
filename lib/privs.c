// SPDX-License-Identifier: MIT
/* Least privilege: drop uid, gid and every capability once set-up is done. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <evvm/log.h>
#include <evvm/privs.h>

/* A decimal id below (id_t)-1 (which means "unchanged" to the set*id calls). */
static bool privs_number(const char *arg, unsigned long *out)
{
	char *end;

	if (*arg < '0' || *arg > '9')
		return false;
	errno = 0;
	*out = strtoul(arg, &end, 10);
	return !errno && !*end && *out < (unsigned long)(uid_t)-1;
}

int privs_parse_uid(const char *flag, const char *arg, uid_t *out)
{
	struct passwd pw, *found = NULL;
	unsigned long v;
	char buf[4096];
	int err;

	if (privs_number(arg, &v)) {
		*out = (uid_t)v;
		return 0;
	}
	err = *arg ? getpwnam_r(arg, &pw, buf, sizeof(buf), &found) : 0;
	if (!found) {
		fprintf(stderr, "evvm: %s %s: %s\n", flag, arg,
			err ? evvm_strerror(err) : "no such user (expected a user name or a uid)");
		return -EINVAL;
	}
	*out = found->pw_uid;
	return 0;
}

int privs_parse_gid(const char *flag, const char *arg, gid_t *out)
{
	struct group gr, *found = NULL;
	unsigned long v;
	char buf[4096];
	int err;

	if (privs_number(arg, &v)) {
		*out = (gid_t)v;
		return 0;
	}
	err = *arg ? getgrnam_r(arg, &gr, buf, sizeof(buf), &found) : 0;
	if (!found) {
		fprintf(stderr, "evvm: %s %s: %s\n", flag, arg,
			err ? evvm_strerror(err)
			    : "no such group (expected a group name or a gid)");
		return -EINVAL;
	}
	*out = found->gr_gid;
	return 0;
}

/* Empty the bounding set (needs CAP_SETPCAP: before the uid changes). */
static int privs_drop_bounding(void)
{
	for (unsigned long cap = 0; cap <= 63; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (r < 0) /* EINVAL: past the kernel's last capability */
			break;
		if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			/* Without CAP_SETPCAP there is nothing left to drop it with. */
			if (errno == EPERM)
				return 0;
			return -errno;
		}
	}
	return 0;
}

static struct evvm_privs privs_target;

void privs_setup(const struct evvm_privs *p)
{
	privs_target = *p;
}

/* This thread's groups, gid and uid, by raw calls (see privs.h). */
static int privs_drop_ids(const struct evvm_privs *p)
{
	if (p->set_gid) {
		if (syscall(SYS_setgroups, 1, &p->gid) < 0) {
			pr_err("--gid %u: setgroups: %s", (unsigned int)p->gid,
			       evvm_strerror(errno));
			return -errno;
		}
		if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0) {
			pr_err("--gid %u: setresgid: %s", (unsigned int)p->gid,
			       evvm_strerror(errno));
			return -errno;
		}
	} else if (p->set_uid && syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) {
		/* Root's supplementary groups must not outlive root (EPERM: we are not root). */
		pr_err("--uid %u: setgroups: %s", (unsigned int)p->uid, evvm_strerror(errno));
		return -errno;
	}
	if (p->set_uid && syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0) {
		pr_err("--uid %u: setresuid: %s", (unsigned int)p->uid, evvm_strerror(errno));
		return -errno;
	}
	return 0;
}

int privs_thread_drop(void)
{
	const struct evvm_privs *p = &privs_target;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
	int err;

	err = privs_drop_bounding();
	if (err) {
		pr_err("dropping the capability bounding set: %s", evvm_strerror(err));
		return err;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		err = -errno;
		pr_err("clearing the ambient capabilities: %s", evvm_strerror(err));
		return err;
	}
	err = privs_drop_ids(p);
	if (err)
		return err;
	/* Dropping needs no privilege; a uid change from 0 has already emptied them. */
	if (syscall(SYS_capset, &hdr, data) < 0) {
		err = -errno;
		pr_err("capset (all capabilities off): %s", evvm_strerror(err));
		return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err = -errno;
		pr_err("PR_SET_NO_NEW_PRIVS: %s", evvm_strerror(err));
		return err;
	}
	return 0;
}
