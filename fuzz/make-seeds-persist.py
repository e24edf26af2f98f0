#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Seeds for fuzz_persist: a format byte (1: format 2, 2: format 3), a device
# type byte (0 blk, 1 net, 2 rng, 3 console), then the device's saved bytes
# in devices/persist.h's layouts.
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "persist")
F2, F3 = 1, 2
BLK, NET, RNG = 0, 1, 2


def rate_limit(bw=(0, 0, 0), ops=(0, 0, 0)):
    return struct.pack("<6Q", *bw, *ops)


def level(budget=0, burst=0):
    return struct.pack("<5Q", budget, 0, 0, 0, burst)


def blk(path, fmt, limited=False):
    rl = rate_limit(bw=(1000, 0, 100)) if limited else rate_limit()
    hdr = struct.pack("<Q", 2048) + rl + struct.pack("<IBB2x", 1, 0, int(limited))
    hdr += b"serial".ljust(20, b"\0") + struct.pack("<I", len(path))
    if fmt == F3:
        hdr += level(500 * 100000000 if limited else 0) + level()
    return bytes([fmt, BLK]) + hdr + path


def net(frame=b"", tx_limited=False):
    hdr = b"tap0".ljust(16, b"\0") + bytes([0x52, 0x54, 0, 0, 0, 1, 1, int(bool(frame))])
    hdr += struct.pack("<Q", 0x30000000000f)
    hdr += rate_limit() + (rate_limit(ops=(10, 5, 1000)) if tx_limited else rate_limit())
    hdr += level() + level() + level() + (level(3 * 1000000000, 5) if tx_limited else level())
    hdr += struct.pack("<II", len(frame), 0)
    return bytes([F3, NET]) + hdr + frame


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "blk-v2": blk(b"/tmp/disk.img", F2, True),
        "blk-v3": blk(b"/tmp/disk.img", F3, True),
        "blk-v3-nolimit": blk(b"disk", F3),
        "net": net(),
        "net-frame": net(b"\0" * 12 + bytes(range(64)), True),
        "rng": bytes([F3, RNG]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
