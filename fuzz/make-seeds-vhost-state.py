#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz/fuzz_vhost_state.c into fuzz/corpus/vhost_state/.

Each seed is a saved vhost-user frontend (struct vu_persist in
vhost/frontend_state.h, then the socket path): a started blk with two
queues, a net device never started, and some that break one field.

Run from anywhere: python3 fuzz/make-seeds-vhost-state.py
"""

import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "vhost_state")
BLK, NET = 2, 1
VERSION_1 = 1 << 32


def state(device_id=BLK, queues=1, reconnect=0, config_size=60, host=VERSION_1,
          features=VERSION_1, bases=(), running=1, path=b"/run/blk.sock", config=b"\x10"):
    ring = list(bases) + [0] * (16 - len(bases))
    head = struct.pack("<IIIIQQ", device_id, queues, reconnect, config_size, host, features)
    head += struct.pack("<16H", *ring) + struct.pack("<BB6x", running, 0)
    head += config.ljust(256, b"\0") + struct.pack("<II", len(path), 0)
    return head + path


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "blk-started": state(queues=2, reconnect=1, host=VERSION_1 | 1 << 12,
                             features=VERSION_1 | 1 << 12, bases=(5, 9)),
        "net-idle": state(device_id=NET, queues=2, config_size=12, features=0, running=0,
                          config=b"\x52\x54\x00\x12\x34\x56"),
        "bad-config-size": state(config_size=12),
        "path-nul": state(path=b"/run/b\0k.sock"),
        "base-past-queues": state(bases=(1, 2)),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
