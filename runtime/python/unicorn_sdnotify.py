"""Sends the arbiter's sd_notify messages to $NOTIFY_SOCKET (systemd's notify protocol, sd_notify(3)).

Run by runtime/src/sdnotify.ts for as long as the arbiter lives (Node cannot send unix datagrams): each
stdin line is one message as a JSON string, sent as one datagram. The address is a path, or "@name" for
the abstract namespace. The datagram carries the arbiter's pid (argv[1]) as its sender credentials when
the kernel allows it (root), so that NotifyAccess=main accepts it; otherwise it carries this process's
pid, and the unit needs NotifyAccess=all. Linux only, standard library.
"""

import json
import os
import socket
import struct
import sys


def address(text):
    if text.startswith("@"):
        return "\0" + text[1:]
    if text.startswith("/"):
        return text
    raise ValueError("NOTIFY_SOCKET=%r is neither an absolute path nor @abstract" % text)


def main(master_pid):
    os.closerange(3, 65536)  # hold no descriptor of the arbiter's (a listener kept open here would outlive a drain)
    try:
        where = address(os.environ.get("NOTIFY_SOCKET", ""))
    except ValueError as e:
        sys.stderr.write("sd_notify: %s\n" % e)
        return 1
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    creds = [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("=iII", master_pid, os.getuid(), os.getgid()))]
    for line in sys.stdin:
        message = json.loads(line).encode("utf-8")
        try:
            if creds:
                try:
                    sock.sendmsg([message], creds, 0, where)
                    continue
                except PermissionError:
                    creds = None  # not allowed to speak for the arbiter: send as ourselves from now on
            sock.sendto(message, where)
        except OSError as e:
            sys.stderr.write("sd_notify: cannot send to NOTIFY_SOCKET=%s: %s\n" % (os.environ["NOTIFY_SOCKET"], e.strerror))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
