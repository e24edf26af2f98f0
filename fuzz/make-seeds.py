#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of fuzz/fuzz_virtqueue.c (fuzz/corpus/virtqueue/) and
fuzz/fuzz_blk.c (fuzz/corpus/blk/).

Each seed is the fuzzer's 16-byte header followed by a guest RAM image, laid
out as fuzz_virtqueue.c expects: region 0 at gpa 0 (0x1000 bytes) holds the
rings (descriptors at 0, avail right after, used after that at 4-byte
alignment), region 1 follows it at 0x1000 (0x800 bytes), region 2 sits
apart at 0x10000 (0x100 bytes). The image is cut after its last non-zero
byte; the fuzzer zero-fills the rest.

Run from anywhere: python3 fuzz/make-seeds.py
"""

import os
import struct

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
EVENT_IDX, INDIRECT_DESC = 1, 2
RAM = [(0x0, 0x1000), (0x1000, 0x800), (0x10000, 0x100)]
BUF = 0x200  # free space in region 0 above the rings (queues of up to 16 here)


class Seed:
    def __init__(self, num, features=0, avail_idx=(1, 1, 1, 1), hold=0, written=8, notify=0,
                 qsize=None, start=0):
        self.num = num
        self.qsize = qsize if qsize is not None else num.bit_length() - 1
        self.features, self.avail_idx = features, avail_idx
        self.hold, self.written, self.notify = hold, written, notify
        self.image = bytearray(sum(size for _, size in RAM))
        self.desc = 0
        self.avail = 16 * num
        self.used = (self.avail + 6 + 2 * num + 3) & ~3
        self.start = start
        self.next_avail = start

    def _off(self, gpa, length):
        base = 0
        for start, size in RAM:
            if start <= gpa and gpa + length <= start + size:
                return base + gpa - start
            base += size
        raise ValueError(f"0x{gpa:x}+{length} is not in one region")

    def put(self, gpa, data):
        off = self._off(gpa, len(data))
        self.image[off:off + len(data)] = data

    def desc_at(self, table, i, addr, length, flags=0, nxt=0):
        self.put(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def d(self, i, addr, length, flags=0, nxt=0):
        self.desc_at(self.desc, i, addr, length, flags, nxt)

    def chain(self, head):
        """Put @head in the next avail ring entry (the header moves avail->idx)."""
        slot = self.next_avail % self.num
        self.put(self.avail + 4 + 2 * slot, struct.pack("<H", head))
        self.next_avail += 1

    def avail_flags(self, flags):
        self.put(self.avail, struct.pack("<H", flags))

    def used_event(self, v):
        self.put(self.avail + 4 + 2 * self.num, struct.pack("<H", v))

    def data(self):
        hdr = struct.pack("<BBBB4HBxH", self.qsize, self.features, self.hold, self.written,
                          *self.avail_idx, self.notify, self.start)
        return hdr + bytes(self.image).rstrip(b"\0")


def seeds():
    s = Seed(4)
    s.d(0, BUF, 16, F_NEXT, 1)
    s.d(1, BUF + 0x100, 32, F_WRITE)
    s.chain(0)
    yield "simple-out-in", s

    s = Seed(8, avail_idx=(1, 3, 3, 5), hold=0x5A, written=5)
    s.d(0, BUF, 8)
    s.d(1, BUF + 0x10, 8, F_WRITE)
    s.d(5, BUF + 0x20, 4, F_NEXT, 3)
    s.d(3, BUF + 0x30, 4, F_NEXT, 7)
    s.d(7, BUF + 0x40, 64, F_WRITE)
    s.d(2, 0x1000, 0x40, F_WRITE)
    for head in (0, 1, 5, 2, 0):
        s.chain(head)
    yield "several-chains-held", s

    s = Seed(4, INDIRECT_DESC)
    table = BUF + 0x200
    s.d(2, table, 48, F_INDIRECT | F_WRITE)  # WRITE on the table's descriptor is ignored
    s.desc_at(table, 0, BUF, 16, F_NEXT, 2)
    s.desc_at(table, 2, BUF + 0x40, 32, F_WRITE | F_NEXT, 1)
    s.desc_at(table, 1, BUF + 0x80, 8, F_WRITE)
    s.chain(2)
    yield "indirect", s

    s = Seed(4, INDIRECT_DESC, avail_idx=(2, 2, 2, 2))
    table = BUF + 0x104  # indirect tables need no alignment
    s.d(0, BUF, 4, F_NEXT, 1)
    s.d(1, table, 32, F_INDIRECT)
    s.desc_at(table, 0, BUF + 0x10, 4, F_NEXT, 1)
    s.desc_at(table, 1, BUF + 0x20, 4, F_WRITE)
    s.d(3, BUF + 0x40, 4, F_WRITE)
    s.chain(0)
    s.chain(3)
    yield "direct-then-indirect", s

    s = Seed(8, EVENT_IDX, avail_idx=(1, 2, 4, 5), written=3)
    s.d(0, BUF, 8, F_WRITE)
    for _ in range(5):
        s.chain(0)
    s.used_event(2)
    yield "event-idx", s

    s = Seed(16, EVENT_IDX | INDIRECT_DESC, avail_idx=(3, 3, 6, 6), hold=0xFF)
    table = BUF + 0x100
    for i in range(8):
        s.desc_at(table, i, BUF + 8 * i, 8, (F_NEXT if i < 7 else 0) | (F_WRITE if i >= 4 else 0),
                  i + 1)
    s.d(0, table, 16 * 8, F_INDIRECT)
    s.d(1, BUF, 4)
    for head in (0, 1, 0, 1, 0, 1):
        s.chain(head)
    s.used_event(4)
    yield "event-idx-indirect-held", s

    s = Seed(4, avail_idx=(1, 2, 2, 2), notify=0x5)
    s.d(0, BUF, 4, F_WRITE)
    s.chain(0)
    s.chain(0)
    s.avail_flags(1)  # VRING_AVAIL_F_NO_INTERRUPT
    yield "no-interrupt", s

    s = Seed(8)
    s.d(0, 0xDEAD0000, 0, F_NEXT, 1)  # zero length: the address is never used
    s.d(1, BUF, 4, F_NEXT, 2)
    s.d(2, 0, 0, F_WRITE | F_NEXT, 3)
    s.d(3, BUF + 0x10, 4, F_WRITE)
    s.chain(0)
    yield "zero-length", s

    s = Seed(4)
    s.d(0, 0x1000 - 0x10, 0x10, F_NEXT, 1)  # end of region 0
    s.d(1, 0x1000, 0x800, F_NEXT, 2)  # all of region 1
    s.d(2, 0x10000, 0x100, F_WRITE)  # all of region 2
    s.chain(0)
    yield "regions", s

    s = Seed(4, avail_idx=(4, 8, 12, 16), written=1)
    for i in range(4):
        s.d(i, BUF + 0x10 * i, 0x10, F_WRITE)
        s.chain(3 - i)
    yield "full-ring-rounds", s

    s = Seed(4, EVENT_IDX, avail_idx=(0xFFFF, 1, 2, 2), hold=0x2, start=0xFFFE)
    for i in range(4):
        s.d(i, BUF + 0x10 * i, 0x10, F_WRITE)
        s.chain(i)
    s.used_event(0xFFFF)
    yield "index-wraparound", s

    s = Seed(16)
    for i in range(16):
        s.d(i, BUF + 4 * i, 4, (F_NEXT if i < 15 else 0) | (F_WRITE if i >= 8 else 0), i + 1)
    s.chain(0)
    yield "chain-of-queue-size", s

    s = Seed(2, INDIRECT_DESC)
    table = 0x1000  # region 1: 128 descriptors
    for i in range(128):
        s.desc_at(table, i, BUF + i, 1, F_NEXT if i < 127 else 0, i + 1)
    s.d(0, table, 16 * 128, F_INDIRECT)
    s.chain(0)
    yield "indirect-128", s

    # Hostile drivers: each breaks the queue. The fuzzer finds the rest by
    # mutation (a next past the table from bad-loop, INDIRECT without the
    # feature from indirect, ...).
    s = Seed(4)
    s.d(0, BUF, 4, F_NEXT, 1)
    s.d(1, BUF, 4, F_NEXT, 0)
    s.chain(0)
    yield "bad-loop", s

    s = Seed(4)
    s.chain(4)
    yield "bad-head", s

    s = Seed(4, avail_idx=(5, 5, 5, 5))
    s.d(0, BUF, 4)
    s.chain(0)
    yield "bad-avail-ahead", s

    s = Seed(4)
    s.d(0, BUF, 4, F_WRITE | F_NEXT, 1)
    s.d(1, BUF, 4)
    s.chain(0)
    yield "bad-order", s

    s = Seed(4, INDIRECT_DESC)
    s.desc_at(BUF + 0x100, 0, BUF + 0x200, 16, F_INDIRECT)
    s.desc_at(BUF + 0x200, 0, BUF, 4)
    s.d(0, BUF + 0x100, 16, F_INDIRECT)
    s.chain(0)
    yield "bad-indirect-in-indirect", s

    s = Seed(4)
    s.d(0, 0x1000 - 8, 16, F_WRITE)  # across the adjacent regions 0 and 1
    s.chain(0)
    yield "bad-across-regions", s

    s = Seed(4, qsize=0x83)  # size 3: vq_init refuses
    yield "bad-queue-size", s


# fuzz_blk.c's input: features, chain count, then per chain its buffer count and
# per buffer flags (1 writable, 2 across the end of RAM, 4 empty), length, content.
BLK_EVENT_IDX, BLK_INDIRECT, BLK_FLUSH, BLK_DISCARD, BLK_WZ = 1, 2, 4, 8, 16
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13


def blk_buf(flags, length, content=b""):
    return struct.pack("<BH", flags, length) + (content if not flags & 1 else b"")


def blk_hdr(rtype, sector):
    return struct.pack("<IIQ", rtype, 0, sector)


def blk_chain(*bufs):
    return bytes([len(bufs) - 1]) + b"".join(bufs)


def blk_seeds():
    status = blk_buf(1, 1)
    yield "read", bytes([BLK_FLUSH, 0]) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_IN, 2)), blk_buf(1, 1024), status)
    yield "write", bytes([BLK_FLUSH, 0]) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_OUT, 4)), blk_buf(0, 512, bytes(range(256)) * 2), status)
    yield "split-header", bytes([0, 0]) + blk_chain(
        blk_buf(0, 5, blk_hdr(T_IN, 0)[:5]), blk_buf(0, 11, blk_hdr(T_IN, 0)[5:]),
        blk_buf(1, 512), status)
    yield "flush-get-id", bytes([BLK_FLUSH, 1]) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_FLUSH, 0)), status) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_GET_ID, 0)), blk_buf(1, 21))
    dwz = struct.pack("<QII", 8, 4, 0)
    yield "discard-write-zeroes", bytes([BLK_DISCARD | BLK_WZ, 1]) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_DISCARD, 0)), blk_buf(0, 16, dwz), status) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_WZ, 0)), blk_buf(0, 16, dwz), status)
    yield "past-end", bytes([BLK_EVENT_IDX, 0]) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_IN, 63)), blk_buf(1, 1024), status)
    yield "no-status", bytes([0, 0]) + blk_chain(blk_buf(0, 16, blk_hdr(T_IN, 0)))
    yield "short-header", bytes([0, 0]) + blk_chain(blk_buf(0, 8, blk_hdr(T_IN, 0)[:8]), status)
    yield "across-ram-end", bytes([0, 0]) + blk_chain(
        blk_buf(0, 16, blk_hdr(T_IN, 0)), blk_buf(3, 512), status)
    yield "unknown-type", bytes([0, 0]) + blk_chain(blk_buf(0, 16, blk_hdr(99, 0)), status)


def write_corpus(name, items):
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", name)
    os.makedirs(out, exist_ok=True)
    for seed_name, data in items:
        with open(os.path.join(out, seed_name), "wb") as f:
            f.write(data)
        print(f"{name}/{seed_name}: {len(data)} bytes")


def main():
    write_corpus("virtqueue", ((n, s.data()) for n, s in seeds()))
    write_corpus("blk", blk_seeds())


if __name__ == "__main__":
    main()
