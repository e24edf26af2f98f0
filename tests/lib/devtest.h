/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_DEVTEST_H
#define EVVM_TESTS_DEVTEST_H

#include <evvm/device.h>
#include <evvm/loop.h>

/*
 * Unit tests of a device play its transport: the device's ops run on its
 * I/O thread (a loop in a thread of the test), as the device API requires.
 */

/* pthread_create() start routine: loop_run(@loop). */
void *devtest_loop_thread(void *loop);

/* ops->start() / ops->stop() of @dev on @loop's thread; start's result. */
int devtest_start(struct evvm_loop *loop, struct evvm_virtio_dev *dev);
void devtest_stop(struct evvm_loop *loop, struct evvm_virtio_dev *dev);

#endif
