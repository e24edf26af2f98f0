// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include <evvm/devices.h>

void virtio_dev_destroy(struct evvm_virtio_dev *dev)
{
	if (!dev)
		return;
	if (dev->ops->destroy)
		dev->ops->destroy(dev);
	free(dev);
}
