#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of fuzz/fuzz_elf.c, fuzz_decompress.c and fuzz_bzimage.c.

elf/: small x86-64 ELF executables (a PVH note, odd header offsets, a
vmlinux-like virtual entry). decompress/: one of them compressed with each
format evvm decompresses (lz4 and zstd through their command-line tools).
bzimage/: evvm's own test bzImage (make builds build/guest/linuxboot/bzImage),
given as the first argument.

Run from the top of the tree: python3 fuzz/make-boot-seeds.py build/guest/linuxboot/bzImage
"""

import gzip
import lzma
import os
import shutil
import struct
import subprocess
import sys

PT_LOAD, PT_NOTE = 1, 4


def elf(phoff=64, note_off=0x100, code_off=0x200, entry=0x200000, vaddr=0x200000, pvh=True):
    size = code_off + 16
    img = bytearray(size)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    phnum = 2 if pvh else 1
    img[0:64] = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, phoff, 0, 0, 64, 56,
                                    phnum, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", PT_LOAD, 5, code_off, vaddr, 0x200000, 16, 0x1000, 0x1000)
    img[phoff:phoff + 56] = load
    if pvh:
        note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", 0x200000)
        img[phoff + 56:phoff + 112] = struct.pack("<IIQQQQQQ", PT_NOTE, 4, note_off, 0, 0,
                                                  len(note), len(note), 4)
        img[note_off:note_off + len(note)] = note
    img[code_off:code_off + 16] = b"\xf4" * 16
    return bytes(img)


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    seeds = {
        "pvh": elf(),
        "odd-offsets": elf(phoff=0x41, note_off=0x101, code_off=0x181),
        "no-note": elf(pvh=False),
        "virtual-entry": elf(entry=0xffffffff81200000, vaddr=0xffffffff81200000, pvh=False),
    }
    for name, data in seeds.items():
        write(os.path.join(top, "elf"), name, data)
    dec = os.path.join(top, "decompress")
    write(dec, "gzip", gzip.compress(seeds["pvh"], mtime=0))
    # A small dictionary: the decoder allocates what the header asks for, every run.
    xz_filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 64 << 10}]
    write(dec, "xz", lzma.compress(seeds["pvh"], format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                                   filters=xz_filters))
    for tool, args in (("lz4", ["-l", "-c"]), ("zstd", ["-q", "-c"])):
        if shutil.which(tool):
            out = subprocess.run([tool] + args, input=seeds["pvh"], capture_output=True,
                                 check=True).stdout
            write(dec, tool, out)
        else:
            print(f"{tool}: not installed, no {tool} seed", file=sys.stderr)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            write(os.path.join(top, "bzimage"), "linuxboot", f.read())


if __name__ == "__main__":
    main()
