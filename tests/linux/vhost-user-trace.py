#!/usr/bin/env python3
# A developer tool, not used by the tests: a vhost-user proxy that logs every
# message between a frontend (QEMU) and a backend, decoded.
#
#   tests/linux/vhost-user-trace.py FRONT.sock BACKEND.sock [LOG]
#
# Listens on FRONT.sock (give it to QEMU's -chardev socket,path=), connects to
# BACKEND.sock (the backend's --socket) once QEMU connects, and forwards
# messages both ways with their file descriptors. The backend-initiated
# channel (SET_BACKEND_REQ_FD) is passed through untraced. Exits when either
# side hangs up.
import array
import os
import select
import socket
import struct
import sys
import time

REQ = {
    1: "GET_FEATURES", 2: "SET_FEATURES", 3: "SET_OWNER", 4: "RESET_OWNER",
    5: "SET_MEM_TABLE", 6: "SET_LOG_BASE", 7: "SET_LOG_FD", 8: "SET_VRING_NUM",
    9: "SET_VRING_ADDR", 10: "SET_VRING_BASE", 11: "GET_VRING_BASE",
    12: "SET_VRING_KICK", 13: "SET_VRING_CALL", 14: "SET_VRING_ERR",
    15: "GET_PROTOCOL_FEATURES", 16: "SET_PROTOCOL_FEATURES", 17: "GET_QUEUE_NUM",
    18: "SET_VRING_ENABLE", 19: "SEND_RARP", 20: "NET_SET_MTU",
    21: "SET_BACKEND_REQ_FD", 22: "IOTLB_MSG", 23: "SET_VRING_ENDIAN",
    24: "GET_CONFIG", 25: "SET_CONFIG", 26: "CREATE_CRYPTO_SESSION",
    27: "CLOSE_CRYPTO_SESSION", 28: "POSTCOPY_ADVISE", 29: "POSTCOPY_LISTEN",
    30: "POSTCOPY_END", 31: "GET_INFLIGHT_FD", 32: "SET_INFLIGHT_FD",
    33: "GPU_SET_SOCKET", 34: "RESET_DEVICE", 35: "VRING_KICK",
    36: "GET_MAX_MEM_SLOTS", 37: "ADD_MEM_REG", 38: "REM_MEM_REG",
    39: "SET_STATUS", 40: "GET_STATUS",
}
U64_REQS = {"GET_FEATURES", "SET_FEATURES", "GET_PROTOCOL_FEATURES",
            "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "GET_MAX_MEM_SLOTS",
            "SET_STATUS", "GET_STATUS", "SET_VRING_KICK", "SET_VRING_CALL",
            "SET_VRING_ERR", "SET_LOG_BASE"}
STATE_REQS = {"SET_VRING_NUM", "SET_VRING_BASE", "GET_VRING_BASE", "SET_VRING_ENABLE"}


def decode(name, reply, p):
    if reply and not name.startswith("GET_") and len(p) == 8:
        return "ack=%d" % struct.unpack_from("<Q", p)[0]  # REPLY_ACK
    if name in U64_REQS and len(p) >= 8:
        v = struct.unpack_from("<Q", p)[0]
        if name in ("SET_VRING_KICK", "SET_VRING_CALL", "SET_VRING_ERR"):
            return "index=%d%s" % (v & 0xff, " NOFD" if v & 0x100 else "")
        return "0x%x" % v
    if name in STATE_REQS and len(p) >= 8:
        return "index=%d num=%d" % struct.unpack_from("<II", p)
    if name == "SET_VRING_ADDR" and len(p) >= 40:
        i, fl, d, u, a, log = struct.unpack_from("<IIQQQQ", p)
        return "index=%d flags=%#x desc=%#x used=%#x avail=%#x log=%#x" % (i, fl, d, u, a, log)
    if name == "SET_MEM_TABLE" and len(p) >= 8:
        n = struct.unpack_from("<I", p)[0]
        regs = []
        for k in range(n):
            gpa, size, uva, off = struct.unpack_from("<QQQQ", p, 8 + 32 * k)
            regs.append("gpa=%#x size=%#x uva=%#x mmap_off=%#x" % (gpa, size, uva, off))
        return "%d regions: %s" % (n, "; ".join(regs))
    if name in ("ADD_MEM_REG", "REM_MEM_REG") and len(p) >= 40:
        gpa, size, uva, off = struct.unpack_from("<QQQQ", p, 8)
        return "gpa=%#x size=%#x uva=%#x mmap_off=%#x" % (gpa, size, uva, off)
    if name in ("GET_CONFIG", "SET_CONFIG") and len(p) >= 12:
        off, size, fl = struct.unpack_from("<III", p)
        data = p[12:12 + size]
        return "offset=%d size=%d flags=%#x%s" % (off, size, fl, (" data=" + data.hex()) if reply or name == "SET_CONFIG" else "")
    if name in ("GET_INFLIGHT_FD", "SET_INFLIGHT_FD") and len(p) >= 24:
        return "mmap_size=%d mmap_offset=%d num_queues=%d queue_size=%d" % struct.unpack_from("<QQHH", p)
    return p.hex() if p else ""


def recv_msg(s):
    fds = array.array("i")
    data, anc, _, _ = s.recvmsg(12, socket.CMSG_SPACE(64 * fds.itemsize))
    if not data:
        return None
    while len(data) < 12:
        more = s.recv(12 - len(data))
        if not more:
            return None
        data += more
    for level, typ, cd in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(cd[:len(cd) - (len(cd) % fds.itemsize)])
    req, flags, size = struct.unpack("<III", data)
    payload = b""
    while len(payload) < size:
        more = s.recv(size - len(payload))
        if not more:
            return None
        payload += more
    return req, flags, payload, list(fds)


def send_msg(s, req, flags, payload, fds):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([struct.pack("<III", req, flags, len(payload)) + payload], anc)
    for fd in fds:
        os.close(fd)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: vhost-user-trace.py FRONT.sock BACKEND.sock [LOG]")
    front, back = sys.argv[1], sys.argv[2]
    log = open(sys.argv[3], "w", buffering=1) if len(sys.argv) > 3 else sys.stderr
    try:
        os.unlink(front)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(front)
    ls.listen(1)
    q, _ = ls.accept()
    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    b.connect(back)
    t0 = time.monotonic()
    n = 0
    while True:
        r, _, _ = select.select([q, b], [], [])
        for s in r:
            m = recv_msg(s)
            if m is None:
                log.write("%s hung up\n" % ("frontend" if s is q else "backend"))
                return
            req, flags, payload, fds = m
            name = REQ.get(req, "REQ_%d" % req)
            reply = bool(flags & 0x4)
            n += 1
            log.write("%4d %7.3f %s %-22s%s%s %s\n" % (
                n, time.monotonic() - t0, "<-" if s is b else "->", name,
                " [need_reply]" if flags & 0x8 else "",
                " fds=%d" % len(fds) if fds else "",
                decode(name, reply, payload)))
            send_msg(b if s is q else q, req, flags, payload, fds)


if __name__ == "__main__":
    main()
