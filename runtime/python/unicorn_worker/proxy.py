"""The PROXY protocol: HAProxy's v1 text line or v2 binary header in front of a connection's first request.

`parse()` works on the bytes a loop has received; `try_read_before_tls()` takes exactly the header's
bytes off a raw socket (peeking first) so that what follows is left to the TLS handshake.
Environ keys are gunicorn's: PROXY_PROTOCOL, REMOTE_ADDR, REMOTE_PORT, PROXY_ADDR, PROXY_PORT.
"""

import socket
import struct

from . import errors

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
# The longest v1 line, CRLF included (the specification's bound).
V1_MAX = 107
_V2_FAMILIES = {0x11: ("TCP4", socket.AF_INET, 4), 0x12: ("UDP4", socket.AF_INET, 4),
                0x21: ("TCP6", socket.AF_INET6, 16), 0x22: ("UDP6", socket.AF_INET6, 16)}


class ProxyPolicy(object):
    """Who may send a header (proxy_allow_ips); unix socket peers always may, as in gunicorn."""

    __slots__ = ("trust_all", "allowed")

    def __init__(self, settings):
        allow = settings["proxy_allow_ips"]
        if isinstance(allow, str):
            allow = [a.strip() for a in allow.split(",")]
        self.trust_all = "*" in allow
        self.allowed = frozenset(allow)

    def check(self, peer):
        if self.trust_all or not isinstance(peer, tuple) or peer[0] in self.allowed:
            return
        raise errors.ForbiddenProxyRequest("PROXY header from %s, which is not in proxy_allow_ips" % peer[0])


def parse(buf, policy, peer):
    """(consumed, environ extras or None) once decided, or None while more bytes are needed.

    A connection without a header is (0, None). Raises InvalidProxyLine (400) or
    ForbiddenProxyRequest (403) before the request is read.
    """
    if buf[:5] == b"PROXY":
        policy.check(peer)
        return _parse_v1(buf)
    if buf[:12] == V2_SIGNATURE:
        policy.check(peer)
        return _parse_v2(buf)
    if len(buf) < 12 and (V2_SIGNATURE.startswith(buf) or b"PROXY".startswith(buf[:5])):
        return None
    return 0, None


def _parse_v1(buf):
    end = buf.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(buf) >= V1_MAX:
            raise errors.InvalidProxyLine("PROXY line longer than %d bytes" % V1_MAX)
        return None
    try:
        line = buf[:end].decode("ascii")
    except UnicodeDecodeError:
        raise errors.InvalidProxyLine("PROXY line is not ASCII")
    bits = line.split(" ")
    if len(bits) >= 2 and bits[1] == "UNKNOWN":
        # The proxy could not tell: the connection's own addresses stand.
        return end + 2, {"PROXY_PROTOCOL": "UNKNOWN"}
    if len(bits) != 6 or bits[1] not in ("TCP4", "TCP6"):
        raise errors.InvalidProxyLine("invalid PROXY line %r" % line[:V1_MAX])
    family = socket.AF_INET if bits[1] == "TCP4" else socket.AF_INET6
    for addr in bits[2:4]:
        try:
            socket.inet_pton(family, addr)
        except (OSError, ValueError):
            raise errors.InvalidProxyLine("invalid %s address %r in PROXY line" % (bits[1], addr))
    ports = []
    for text in bits[4:6]:
        if not (text.isdigit() and text.isascii() and len(text) <= 5 and int(text) <= 65535):
            raise errors.InvalidProxyLine("invalid port %r in PROXY line" % text)
        ports.append(int(text))
    return end + 2, _extras(bits[1], bits[2], ports[0], bits[3], ports[1])


def _parse_v2(buf):
    if len(buf) < 16:
        return None
    version, command = buf[12] >> 4, buf[12] & 0x0F
    if version != 2 or command > 1:
        raise errors.InvalidProxyLine("PROXY v2 header with version %d command %d" % (version, command))
    family = buf[13]
    length = struct.unpack(">H", buf[14:16])[0]
    if len(buf) < 16 + length:
        return None
    consumed = 16 + length
    if command == 0:
        return consumed, {"PROXY_PROTOCOL": "LOCAL"}  # a health check of the proxy's own: real addresses stand
    if family in (0x00, 0x31, 0x32):
        return consumed, {"PROXY_PROTOCOL": "UNKNOWN"}  # unspecified or unix: nothing an IP environ can hold
    known = _V2_FAMILIES.get(family)
    if known is None:
        raise errors.InvalidProxyLine("PROXY v2 header with unknown family 0x%02x" % family)
    name, af, size = known
    if length < 2 * size + 4:
        raise errors.InvalidProxyLine("PROXY v2 %s header too short for its addresses" % name)
    src = socket.inet_ntop(af, buf[16:16 + size])
    dst = socket.inet_ntop(af, buf[16 + size:16 + 2 * size])
    sport, dport = struct.unpack(">HH", buf[16 + 2 * size:20 + 2 * size])
    return consumed, _extras(name, src, sport, dst, dport)


def _extras(proto, client, client_port, proxy, proxy_port):
    return {
        "PROXY_PROTOCOL": proto,
        "REMOTE_ADDR": client,
        "REMOTE_PORT": str(client_port),
        "PROXY_ADDR": proxy,
        "PROXY_PORT": str(proxy_port),
    }


def try_read_before_tls(sock, policy, peer):
    """(True, extras) once the header is taken off the socket, (False, None) to wait for more bytes.

    While undecided, SO_RCVLOWAT makes epoll (gthread), or a blocking peek with a timeout (sync), wait for
    more bytes than are there instead of firing again at once.
    """
    try:
        data = sock.recv(16 + 65535, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False, None
    if not data:
        raise errors.ClientDisconnected("connection closed before a request")
    decided = parse(data, policy, peer)
    if decided is None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, len(data) + 1)
        return False, None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
    consumed, extras = decided
    _take(sock, consumed)
    return True, extras


def _take(sock, count):
    while count > 0:
        data = sock.recv(count)
        if not data:
            raise errors.ClientDisconnected("connection closed inside a PROXY header")
        count -= len(data)
