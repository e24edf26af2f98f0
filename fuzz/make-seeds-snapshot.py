#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Seeds for fuzz_snapshot: valid state files in vmm/snapshot_file.c's format
# (header, sections padded to 8 bytes, CRC-32 of everything before it).
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "snapshot")


# The format versions the loader reads (vmm/snapshot_file.h SNAPFILE_VERSION_MIN..SNAPFILE_VERSION):
# seeds of any other version stop at the header.
VERSION = 3


def state_file(sections, version=VERSION, flags=0):
    body = b""
    for tag, index, data in sections:
        body += struct.pack("<IIQ", tag, index, len(data)) + data
        body += b"\0" * (-len(data) % 8)
    size = 64 + len(body) + 8
    hdr = b"EVVMSNAP" + struct.pack("<II", version, flags) + b"0.1".ljust(32, b"\0")
    hdr += struct.pack("<QII", size, len(sections), 0)
    blob = hdr + body
    return blob + struct.pack("<II", zlib.crc32(blob), 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "empty": state_file([]),
        "vm-config": state_file([(1, 0, struct.pack("<QII", 128 << 20, 1, 0))]),
        "vcpus": state_file([(2, i, bytes(range(i, i + 144))) for i in range(3)]
                            + [(8, 0, b"\xaa" * 1024), (14, 0, b"")]),
        "odd-lengths": state_file([(3, 0, b"x" * n) for n in (1, 7, 9, 15)]),
        "format-2": state_file([(1, 0, struct.pack("<QII", 128 << 20, 1, 0))], version=2),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
