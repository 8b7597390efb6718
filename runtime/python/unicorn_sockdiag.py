"""What the arbiter asks the kernel about sockets, over the sock_diag netlink interface.

Run by runtime/src/procinfo.ts for as long as the arbiter lives: each line on stdin asks once, and one
JSON line answers ({"error": "..."} when the kernel refuses):
  q                 {"INODE": QUEUED, ...}: the accept queue of every listening TCP (v4 and v6) and unix
                    stream socket of this network namespace
  e PORT [PORT...]  {"ports": [PORT, ...]}: those of the local TCP ports that have an established
                    connection (a debugger attached to a worker's debug adapter) Reading /proc/net/tcp instead walks
every socket, TIME_WAIT included: tens of thousands of lines, a large fraction of a second, under a
Connection: close load; a LISTEN-state dump walks the listening sockets only. Linux only, standard library.
"""

import json
import os
import socket
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_ESTABLISHED = 1
TCP_LISTEN = 10  # also the state of a listening unix socket
UDIAG_SHOW_RQLEN, UNIX_DIAG_RQLEN = 0x10, 4

_NLMSGHDR = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states, then a zeroed inet_diag_sockid (48 bytes).
_INET_REQ = struct.Struct("=BBBBI48x")
# inet_diag_msg: family, state, timer, retrans, sockid (48), expires, rqueue, wqueue, uid, inode.
_INET_MSG = struct.Struct("=BBBB48xIIIII")
# unix_diag_req: family, protocol, pad, states, ino, show, cookie (8).
_UNIX_REQ = struct.Struct("=BBHIII8x")
# unix_diag_msg: family, type, state, pad, ino, cookie (8); then rtattrs.
_UNIX_MSG = struct.Struct("=BBBBI8x")
_RTATTR = struct.Struct("=HH")


def _dump(sock, seq, request):
    """Sends one dump request and yields the payload of each answer message."""
    sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
              + request)
    while True:
        data = sock.recv(1 << 16)
        at = 0
        while at + _NLMSGHDR.size <= len(data):
            length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, at)
            if length < _NLMSGHDR.size:
                return
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, at + _NLMSGHDR.size)[0]
                raise OSError(-code, os.strerror(-code))
            yield data[at + _NLMSGHDR.size:at + length]
            at += (length + 3) & ~3


def queues(sock, seq):
    out = {}
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in _dump(sock, seq, _INET_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN)):
            _f, state, _t, _r, _expires, rqueue, _wqueue, _uid, inode = _INET_MSG.unpack_from(msg)
            if state == TCP_LISTEN:
                out[str(inode)] = rqueue  # for a listening socket: its accept queue's length
    for msg in _dump(sock, seq, _UNIX_REQ.pack(socket.AF_UNIX, 0, 0, 1 << TCP_LISTEN, 0, UDIAG_SHOW_RQLEN)):
        _f, _type, state, _pad, inode = _UNIX_MSG.unpack_from(msg)
        at = _UNIX_MSG.size
        while at + _RTATTR.size <= len(msg):
            length, kind = _RTATTR.unpack_from(msg, at)
            if length < _RTATTR.size:
                break
            if kind == UNIX_DIAG_RQLEN and state == TCP_LISTEN:
                out[str(inode)] = struct.unpack_from("=I", msg, at + _RTATTR.size)[0]
            at += (length + 3) & ~3
    return out


def established(sock, seq, ports):
    wanted = set(ports)
    found = set()
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in _dump(sock, seq, _INET_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_ESTABLISHED)):
            port = struct.unpack_from("!H", msg, 4)[0]
            if port in wanted and msg[1] == TCP_ESTABLISHED:
                found.add(port)
    return {"ports": sorted(found)}


def main():
    # Hold no descriptor of the arbiter's (an inherited listener kept open here would outlive a drain).
    os.closerange(3, 65536)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    seq = 0
    for line in sys.stdin:
        seq += 1
        words = line.split()
        try:
            if words[:1] == ["e"]:
                answer = established(sock, seq, [int(w) for w in words[1:]])
            else:
                answer = queues(sock, seq)
        except OSError as e:
            answer = {"error": "sock_diag: %s" % (e.strerror or e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
