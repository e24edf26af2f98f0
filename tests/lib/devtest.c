// SPDX-License-Identifier: MIT
#include "devtest.h"

void *devtest_loop_thread(void *loop)
{
	loop_run(loop);
	return NULL;
}

static int call_start(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->start(dev);
}

static int call_stop(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	dev->ops->stop(dev);
	return 0;
}

int devtest_start(struct evvm_loop *loop, struct evvm_virtio_dev *dev)
{
	return loop_call(loop, call_start, dev);
}

void devtest_stop(struct evvm_loop *loop, struct evvm_virtio_dev *dev)
{
	loop_call(loop, call_stop, dev);
}
