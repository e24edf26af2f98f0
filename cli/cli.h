/* SPDX-License-Identifier: MIT */
#ifndef EVVM_CLI_H
#define EVVM_CLI_H

#include <getopt.h>

#include <evvm/evvm.h>

/* Exit status for a command line evvm cannot understand. */
#define EXIT_USAGE 2

int cmd_run(int argc, char **argv);

/* The options `evvm run` accepts: getopt_long()'s table, ending in a NULL name. */
const struct option *run_option_table(void);
int cmd_vhost_user_blk(int argc, char **argv); /* cli/vhost_user.c */
int cmd_vhost_user_rng(int argc, char **argv);
int cmd_vhost_user_net(int argc, char **argv);

int cmd_firecracker(int argc, char **argv); /* cli/firecracker.c */
int cmd_rebase_snap(int argc, char **argv);  /* cli/rebase_snap.c */

/* `evvm jailer` (cli/jailer.c): on success it does not return (it execs). */
int cmd_jailer(int argc, char **argv);

/* The test guest linked into evvm (cli/demo_guest.S). */
extern const unsigned char demo_guest_start[];
extern const unsigned char demo_guest_end[];

/* The library's version (include/evvm/evvm.h is its one place). */
#define EVVM_VERSION evvm_version()

#endif
