"""Binds one TCP socket with SO_REUSEPORT (which Node 20 cannot set before bind), listens, and hands it to the arbiter.

Run by runtime/src/listeners.ts with a Node IPC channel (NODE_CHANNEL_FD): the socket goes over it
as Node's own handle message, as the cluster module passes handles; errors go as {"error": ERRNO}.
Usage: unicorn_bind.py HOST PORT BACKLOG
"""

import array
import errno
import json
import os
import socket
import sys


def main(host, port, backlog):
    channel = socket.socket(fileno=int(os.environ["NODE_CHANNEL_FD"]))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what libuv sets on every TCP listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)  # connections made while the workers boot wait in the backlog
    except OSError as exc:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        channel.sendall((json.dumps({"error": name}) + "\n").encode("ascii"))
        return 1
    message = {"cmd": "NODE_HANDLE", "type": "net.Native", "msg": {"port": sock.getsockname()[1]}}
    fds = array.array("i", [sock.fileno()])
    channel.sendmsg([(json.dumps(message) + "\n").encode("ascii")], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    channel.recv(4096)  # Node's NODE_HANDLE_ACK: the descriptor has arrived
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
