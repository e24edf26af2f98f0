#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz/fuzz_vhost_msg.c into fuzz/corpus/vhost_msg/.

Each seed is a sequence of records: u8 fds (count | kind << 4; kinds: 0 a
memfd without seals, 1 an eventfd, 2 a sealable memfd, 3 /dev/null), then the
vhost-user header (request, flags, size: u32 little-endian) and the payload.
The sequences follow what QEMU's vhost-user-blk sends, and some break it.

Run from anywhere: python3 fuzz/make-seeds-vhost.py
"""

import os
import struct

V = 1  # header version
NEED_REPLY = 1 << 3
MEMFD, EVENTFD, SEALED, DEVNULL = 0, 1, 2, 3
UA = 0x7F0000000000
NUM = 8

(GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR,
 SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR,
 GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE, GET_CONFIG,
 GET_INFLIGHT_FD, SET_INFLIGHT_FD, RESET_DEVICE) = (1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 14, 15,
                                                    16, 17, 18, 24, 31, 32, 34)


def rec(req, payload=b"", nfds=0, kind=MEMFD, flags=V | NEED_REPLY, size=None):
    size = len(payload) if size is None else size
    return struct.pack("<BIII", nfds | kind << 4, req, flags, size) + payload


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def mem_table(regions):
    out = struct.pack("<II", len(regions), 0)
    for gpa, size, ua, off in regions:
        out += struct.pack("<QQQQ", gpa, size, ua, off)
    return out


def addr(i, desc, used, avail):
    return struct.pack("<IIQQQQ", i, 0, desc, used, avail, 0)


def inflight(size, off, nq, qs):
    return struct.pack("<QQHHI", size, off, nq, qs, 0)


def negotiate():
    return (rec(GET_FEATURES, flags=V) + rec(SET_FEATURES, u64(1 << 32 | 1 << 30)) +
            rec(GET_PROTOCOL_FEATURES, flags=V) + rec(SET_PROTOCOL_FEATURES, u64(0x3209)) +
            rec(GET_QUEUE_NUM, flags=V) + rec(SET_OWNER))


def ring(q, kick_kind=EVENTFD):
    return (rec(SET_VRING_NUM, state(q, NUM)) + rec(SET_VRING_BASE, state(q, 0)) +
            rec(SET_VRING_ADDR, addr(q, UA, UA + 0x2000, UA + 0x1000)) +
            rec(SET_VRING_CALL, u64(q), 1, EVENTFD) + rec(SET_VRING_ERR, u64(q), 1, EVENTFD) +
            rec(SET_VRING_KICK, u64(q), 1, kick_kind) + rec(SET_VRING_ENABLE, state(q, 1)))


MEM = rec(SET_MEM_TABLE, mem_table([(0, 0x10000, UA, 0)]), 1, MEMFD)
SEEDS = {
    "qemu-start-stop": negotiate() + rec(GET_INFLIGHT_FD, inflight(0, 0, 2, NUM), flags=V) +
    rec(SET_INFLIGHT_FD, inflight(0x1000, 0, 2, NUM), 1, SEALED) + MEM + ring(0) + ring(1) +
    rec(GET_CONFIG, struct.pack("<III", 0, 60, 0) + bytes(60), flags=V) +
    rec(GET_VRING_BASE, state(0, 0), flags=V) + rec(GET_VRING_BASE, state(1, 0), flags=V),
    "sealed-ram": negotiate() + rec(SET_MEM_TABLE, mem_table([(0, 0x10000, UA, 0)]), 1, SEALED) +
    ring(0) + rec(RESET_DEVICE),
    "two-regions": negotiate() + rec(SET_MEM_TABLE, mem_table([(0, 0x8000, UA, 0),
                                                              (0x100000, 0x8000, UA + 0x8000,
                                                               0x8000)]), 2, MEMFD) + ring(0),
    "inflight-too-small": negotiate() + rec(SET_INFLIGHT_FD, inflight(64, 0, 2, NUM), 1, SEALED),
    "inflight-no-fd": negotiate() + rec(SET_INFLIGHT_FD, inflight(0x1000, 0, 1, NUM)),
    "inflight-devnull": negotiate() + rec(SET_INFLIGHT_FD, inflight(0x1000, 0, 1, NUM), 1,
                                          DEVNULL),
    "mem-past-file": negotiate() + rec(SET_MEM_TABLE, mem_table([(0, 0x20000, UA, 0)]), 1,
                                       MEMFD),
    "too-many-fds": negotiate() + rec(SET_MEM_TABLE, mem_table([(0, 0x10000, UA, 0)]), 9, MEMFD),
    "kick-devnull": negotiate() + MEM + ring(0, DEVNULL),
    "oversized": rec(GET_FEATURES, flags=V, size=0x10000),
    "bad-version": rec(GET_FEATURES, flags=2),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "vhost_msg")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
