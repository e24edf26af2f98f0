#!/usr/bin/env python3
# A developer tool, not used by the tests: a minimal vhost-user-rng backend
# (one frontend, one queue, os.urandom), as a reference to compare
# `evvm vhost-user-rng` with when the rng test fails. Debian 12 packages no
# vhost-user-rng backend.
#
#   tests/linux/vhost-user-rng-stub.py SOCKET
#
# then QEMU with -chardev socket,id=c0,path=SOCKET -device vhost-user-rng-pci,chardev=c0
# and -append "... evvm.test=rng". Serves frontends one after another until
# killed. It does only what QEMU 7.2 needs: note that QEMU negotiates
# VIRTIO_RING_F_EVENT_IDX and VIRTIO_RING_F_INDIRECT_DESC for vhost-user-rng
# even though GET_FEATURES does not offer them, so avail_event is kept up to
# date (without it the driver stops kicking after its first buffer).
import array
import mmap
import os
import select
import socket
import struct
import sys

F_VERSION_1 = 1 << 32
F_PROTOCOL_FEATURES = 1 << 30
P_MQ, P_REPLY_ACK, P_CONFIGURE_MEM_SLOTS = 1 << 0, 1 << 3, 1 << 15
DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4


class Ring:
    def __init__(self):
        self.num = self.last = self.desc = self.avail = self.used = 0
        self.kick = self.call = None
        self.enabled = False


regions = []  # (gpa, size, uva, mmap)
vq = Ring()


def gpa_map(gpa, n):
    for g, s, _, mm in regions:
        if g <= gpa and gpa + n <= g + s:
            return mm, gpa - g
    raise ValueError("guest address %#x+%d is not in memory" % (gpa, n))


def uva_to_gpa(uva):
    for g, s, u, _ in regions:
        if u <= uva < u + s:
            return g + uva - u
    raise ValueError("frontend address %#x is not in memory" % uva)


def rd(gpa, fmt):
    mm, o = gpa_map(gpa, struct.calcsize(fmt))
    return struct.unpack_from(fmt, mm, o)


def wr(gpa, fmt, *v):
    mm, o = gpa_map(gpa, struct.calcsize(fmt))
    struct.pack_into(fmt, mm, o, *v)


def fill(table, i, count):
    """Fill the device-writable buffers of the chain at table[i]; bytes written."""
    total = 0
    for _ in range(count):
        addr, ln, fl, nx = rd(table + 16 * i, "<QIHH")
        if fl & DESC_F_INDIRECT:
            total += fill(addr, 0, ln // 16)
        elif fl & DESC_F_WRITE:
            mm, o = gpa_map(addr, ln)
            mm[o:o + ln] = os.urandom(ln)
            total += ln
        if not fl & DESC_F_NEXT:
            break
        i = nx
    return total


def process():
    n, done = vq.num, 0
    while vq.last != rd(vq.avail + 2, "<H")[0]:
        head = rd(vq.avail + 4 + 2 * (vq.last % n), "<H")[0]
        total = fill(vq.desc, head, n)
        uidx = rd(vq.used + 2, "<H")[0]
        wr(vq.used + 4 + 8 * (uidx % n), "<II", head, total)
        wr(vq.used + 2, "<H", (uidx + 1) & 0xFFFF)
        vq.last = (vq.last + 1) & 0xFFFF
        done += 1
    wr(vq.used + 4 + 8 * n, "<H", vq.last)  # avail_event
    if done and vq.call is not None:
        os.write(vq.call, struct.pack("<Q", 1))


def serve(c):
    while True:
        watch = [c] + ([vq.kick] if vq.kick is not None and vq.enabled else [])
        r, _, _ = select.select(watch, [], [])
        if c in r:
            fds = array.array("i")
            data, anc, _, _ = c.recvmsg(12, socket.CMSG_SPACE(64 * 4))
            if len(data) < 12:
                return
            for _, _, cd in anc:
                fds.frombytes(cd[:len(cd) - len(cd) % 4])
            req, flags, size = struct.unpack("<III", data)
            p = b""
            while len(p) < size:
                more = c.recv(size - len(p))
                if not more:
                    return
                p += more
            handle(c, req, flags, p, list(fds))
        if vq.kick in r and vq.enabled:
            os.read(vq.kick, 8)
            process()


def handle(c, req, flags, p, fds):
    def reply(payload):
        c.sendmsg([struct.pack("<III", req, 0x1 | 0x4, len(payload)) + payload])

    replied = True
    if req == 1:  # GET_FEATURES
        reply(struct.pack("<Q", F_VERSION_1 | F_PROTOCOL_FEATURES))
    elif req == 15:  # GET_PROTOCOL_FEATURES
        reply(struct.pack("<Q", P_MQ | P_REPLY_ACK | P_CONFIGURE_MEM_SLOTS))
    elif req in (17, 36):  # GET_QUEUE_NUM, GET_MAX_MEM_SLOTS
        reply(struct.pack("<Q", 1 if req == 17 else 32))
    elif req == 11:  # GET_VRING_BASE: stop the ring
        vq.enabled = False
        if vq.kick is not None:
            os.close(vq.kick)
            vq.kick = None
        reply(struct.pack("<II", 0, vq.last))
    else:
        replied = False
        if req == 5:  # SET_MEM_TABLE
            regions.clear()
            for k in range(struct.unpack_from("<I", p)[0]):
                g, s, u, o = struct.unpack_from("<QQQQ", p, 8 + 32 * k)
                regions.append((g, s, u, mmap.mmap(fds[k], s, offset=o)))
        elif req == 37:  # ADD_MEM_REG
            g, s, u, o = struct.unpack_from("<QQQQ", p, 8)
            regions.append((g, s, u, mmap.mmap(fds[0], s, offset=o)))
        elif req == 38:  # REM_MEM_REG
            g = struct.unpack_from("<Q", p, 8)[0]
            regions[:] = [r for r in regions if r[0] != g]
        elif req == 8:  # SET_VRING_NUM
            vq.num = struct.unpack_from("<II", p)[1]
        elif req == 10:  # SET_VRING_BASE
            vq.last = struct.unpack_from("<II", p)[1]
        elif req == 9:  # SET_VRING_ADDR: frontend (QEMU) addresses
            _, _, d, u, a, _ = struct.unpack_from("<IIQQQQ", p)
            vq.desc, vq.used, vq.avail = uva_to_gpa(d), uva_to_gpa(u), uva_to_gpa(a)
        elif req == 12:  # SET_VRING_KICK
            if vq.kick is not None:
                os.close(vq.kick)
            vq.kick = fds.pop(0) if fds else None
        elif req == 13:  # SET_VRING_CALL
            if vq.call is not None:
                os.close(vq.call)
            vq.call = fds.pop(0) if fds else None
        elif req == 18:  # SET_VRING_ENABLE
            vq.enabled = bool(struct.unpack_from("<II", p)[1])
            if vq.enabled and vq.kick is not None:
                process()
        if flags & 0x8:  # need_reply
            reply(struct.pack("<Q", 0))
            replied = True
    for fd in fds if req not in (12, 13) else []:
        os.close(fd)
    return replied


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: vhost-user-rng-stub.py SOCKET")
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    while True:
        c, _ = ls.accept()
        serve(c)
        c.close()
        regions.clear()
        for fd in (vq.kick, vq.call):
            if fd is not None:
                os.close(fd)
        vq.__init__()


if __name__ == "__main__":
    main()
