"""Websockets for the asgi worker (RFC 6455): the upgrade handshake, frames, fragmentation, ping/pong and close codes.

A WebSocket takes over its connection's HttpProtocol after a GET with `Upgrade: websocket`. Before
the app accepts, the client's bytes wait; `websocket.close` then answers 403, and
`websocket.http.response.*` (the denial extension) answers with the app's own HTTP response.
"""

import asyncio
import base64
import binascii
import collections
import hashlib
import struct

from . import errors
from .asgi import HIGH_WATER, Disconnected, RequestCycle, Waiting, asgi_path, check_header, raw_path, scope_headers
from .loop import peer_name
from .wsgi import internal_error_response

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The longest frame header (2 bytes, a 64-bit length, the mask): what one message adds to its payload.
MAX_FRAME_HEAD = 14
# How long after our close frame we wait for the client's before closing the TCP connection.
CLOSE_TIMEOUT = 5.0
# What may wait for an app that is not receiving before the connection stops reading: 64 messages, or 256 KiB of
# their payloads (HIGH_WATER, the HTTP body buffer's bound), whichever comes first. (By count alone, 64 messages
# of the default 16 MiB maximum were a gigabyte held for one connection.) Reading resumes below half of both.
QUEUE_HIGH = 64
QUEUE_BYTES = HIGH_WATER
CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
_VALID_CLOSE = frozenset([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014])


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + GUID).digest())


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


def close_payload(code, reason=""):
    if code is None or code == 1005:
        return b""
    return struct.pack(">H", code) + reason.encode("utf-8")[:123]


def unmask(payload, mask):
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class ProtocolError(Exception):
    def __init__(self, code, reason):
        Exception.__init__(self, reason)
        self.code = code


class WebSocket(Waiting):
    def __init__(self, proto, req, scheme):
        self.proto = proto
        self.req = req
        self.scheme = scheme
        self.state = CONNECTING
        self.queue = collections.deque()
        self.queued_bytes = 0  # the payloads of the websocket.receive messages in the queue
        self.queued_sizes = collections.deque()  # each one's, in order
        self.waiter = None
        self.connect_sent = False
        self.close_code = None
        self.close_reason = ""
        self.close_sent = False
        self.close_deadline = 0.0
        self.fragments = None  # (opcode, [payloads], size) of a message in progress
        self.task = None
        self.denial = None  # the RequestCycle of a websocket.http.response
        self.max_message = proto.worker.websocket_max_message
        # What the client may send before the app accepts (nothing of it reaches the app until then): one message
        # of the largest size websocket_max_message_size allows, with its frame header; beyond that reading
        # pauses until the app accepts (then a larger message closes with 1009 as it would after). With no
        # limit (0), HIGH_WATER, the HTTP body buffer's bound: pausing loses nothing.
        self.pre_accept_limit = (HIGH_WATER if self.max_message == float("inf")
                                 else self.max_message + MAX_FRAME_HEAD)

    # -- the handshake --

    def start(self):
        proto = self.proto
        worker = proto.worker
        req = self.req
        key = version = None
        subprotocols = []
        for name, value in req.headers:
            if name == "SEC-WEBSOCKET-KEY":
                key = value.strip()
            elif name == "SEC-WEBSOCKET-VERSION":
                version = value.strip()
            elif name == "SEC-WEBSOCKET-PROTOCOL":
                subprotocols += [p.strip() for p in value.split(",") if p.strip()]
        if version != "13":
            proto.transport.write(
                b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n")
            proto.linger()
            return
        try:
            ok = len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
        except (AttributeError, ValueError, binascii.Error, UnicodeError):
            ok = False
        if not ok:
            proto.refuse(errors.InvalidHeader("missing or malformed Sec-WebSocket-Key"))
            return
        self.key = key
        self.scope = {
            "type": "websocket",
            "asgi": worker.asgi_version,
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": proto.server,
            "client": proto.client,
            "root_path": worker.root_path,
            "path": asgi_path(req),
            "raw_path": raw_path(req),
            "query_string": req.query.encode("latin-1"),
            "headers": scope_headers(req),
            "subprotocols": subprotocols,
            "extensions": {"websocket.http.response": {}},
        }
        if worker.state is not None:
            self.scope["state"] = worker.state.copy()
        worker.request_started(req)
        self.task = proto.loop.create_task(self.run_app())

    async def run_app(self):
        proto = self.proto
        try:
            await proto.worker.app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            pass
        except Exception:
            if self.state != CLOSED:
                proto.log.exception("Error in websocket app for %s", self.req.target)
            self.fail_app()
        else:
            if self.state == CONNECTING and self.denial is None:
                proto.log.error("the websocket app returned without accepting or closing %s", self.req.target)
                self.fail_app()
            elif self.state == OPEN:
                self.close(1000, "")
            elif self.denial is not None and not self.denial.complete:
                proto.transport.close()
        finally:
            proto.worker.request_done()

    def fail_app(self):
        proto = self.proto
        if self.state == CONNECTING:
            if self.denial is None or not self.denial.head_out:
                proto.transport.write(internal_error_response())
            proto.linger()
            self.state = CLOSED
        elif self.state == OPEN:
            self.close(1011, "")

    # -- the app's channel --

    async def receive(self):
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        while True:
            if self.queue:
                message = self.queue.popleft()
                if message["type"] == "websocket.receive":
                    self.queued_bytes -= self.queued_sizes.popleft()
                if self.proto.reading_paused and len(self.queue) < QUEUE_HIGH // 2 and self.queued_bytes <= QUEUE_BYTES // 2:
                    self.proto.resume()
                return message
            if self.state == CLOSED:
                return {"type": "websocket.disconnect", "code": self.close_code or 1006, "reason": self.close_reason}
            await self.wait()

    async def send(self, message):
        kind = message["type"]
        proto = self.proto
        if self.state == CONNECTING:
            if kind == "websocket.accept":
                self.accept(message)
            elif kind == "websocket.close":
                # Closed before the handshake: an HTTP 403 (the ASGI spec's rule).
                proto.transport.write(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self.state = CLOSED
                self.close_code = message.get("code") or 1000
                proto.linger()
            elif kind in ("websocket.http.response.start", "websocket.http.response.body"):
                await self.deny(message)
            else:
                raise RuntimeError("unexpected ASGI message %r before websocket.accept" % (kind,))
            return
        if self.state != OPEN or proto.closed:
            if kind in ("websocket.send", "websocket.close"):
                if kind == "websocket.close":
                    return
                raise Disconnected("the websocket is closed")
            raise RuntimeError("unexpected ASGI message %r on a closed websocket" % (kind,))
        if kind == "websocket.send":
            data = message.get("bytes")
            if data is not None:
                proto.transport.write(frame(BINARY, bytes(data)))
            else:
                text = message.get("text")
                if text is None:
                    raise RuntimeError("websocket.send needs bytes or text")
                proto.transport.write(frame(TEXT, text.encode("utf-8")))
            if proto.write_paused:
                await proto.drain()
        elif kind == "websocket.close":
            self.close(message.get("code") or 1000, message.get("reason") or "")
        else:
            raise RuntimeError("unexpected ASGI message %r on an open websocket" % (kind,))

    def accept(self, message):
        proto = self.proto
        parts = [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
            b"Sec-WebSocket-Accept: ", accept_key(self.key), b"\r\n",
        ]
        sub = message.get("subprotocol")
        if sub:
            parts += (b"Sec-WebSocket-Protocol: ", sub.encode("latin-1"), b"\r\n")
        for name, value in message.get("headers") or ():
            lname = bytes(name).lower()
            if lname in (b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-protocol"):
                continue
            check_header((bytes(name), bytes(value)))
            parts += (bytes(name), b": ", bytes(value), b"\r\n")
        parts.append(b"\r\n")
        proto.transport.write(b"".join(parts))
        self.state = OPEN
        if proto.buf:
            data = bytes(proto.buf)
            proto.buf.clear()
            self.data_received(data)
        if self.state == OPEN and not self.queue_full():
            proto.resume()  # paused at pre_accept_limit: an app that only sends still hears pings and the close

    async def deny(self, message):
        if self.denial is None:
            if message["type"] != "websocket.http.response.start":
                raise RuntimeError("websocket.http.response.body before websocket.http.response.start")
            self.denial = RequestCycle(self.proto, self.req, self.scope, False)
        translated = dict(message)
        translated["type"] = message["type"].replace("websocket.", "", 1)
        await self.denial.send(translated)
        if self.denial.complete:
            self.state = CLOSED
            self.close_code = 1000
            self.proto.linger()

    def close(self, code, reason):
        if self.close_sent:
            return
        self.close_sent = True
        proto = self.proto
        if not proto.closed:
            proto.transport.write(frame(CLOSE, close_payload(code, reason)))
        if self.state == OPEN:
            self.state = CLOSING
            self.close_deadline = proto.loop.time() + CLOSE_TIMEOUT
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason
        else:
            self.finish()

    def finish(self):
        """The close handshake is over (or abandoned): the server closes the TCP connection."""
        if self.state != CLOSED:
            self.state = CLOSED
            if not self.proto.closed:
                self.proto.transport.close()
        self.wake()

    # -- the client's frames --

    def data_received(self, data):
        proto = self.proto
        buf = proto.buf
        buf += data
        if self.state != OPEN and self.state != CLOSING:
            if len(buf) > self.pre_accept_limit and not proto.reading_paused:
                proto.log.debug("websocket from %s: %d bytes before the app accepted, over the %d of one largest "
                                "message: reading paused until it accepts", peer_name(proto.peer), len(buf),
                                self.pre_accept_limit)
                proto.pause()
            return
        try:
            self.parse(buf)
        except ProtocolError as exc:
            proto.log.debug("websocket protocol error from %s: %s", proto.peer, exc)
            buf.clear()
            if self.close_code is None:
                self.close_code, self.close_reason = exc.code, str(exc)
            if self.state == OPEN:
                self.close(exc.code, "")
            self.queue.append({"type": "websocket.disconnect", "code": exc.code, "reason": ""})
            self.finish()
            return
        if self.queue_full() and not proto.reading_paused:
            proto.log.debug("websocket from %s: %d messages, %d bytes waiting for the app to receive them: reading "
                            "paused until it does", peer_name(proto.peer), len(self.queue), self.queued_bytes)
            proto.pause()
        if self.queue:
            self.wake()

    def queue_full(self):
        return len(self.queue) >= QUEUE_HIGH or self.queued_bytes >= QUEUE_BYTES

    def parse(self, buf):
        while len(buf) >= 2:
            b0 = buf[0]
            b1 = buf[1]
            n = b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = struct.unpack_from(">H", buf, 2)[0]
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = struct.unpack_from(">Q", buf, 2)[0]
                pos = 10
            if b0 & 0x70:
                raise ProtocolError(1002, "reserved bits set without an extension")
            if not b1 & 0x80:
                raise ProtocolError(1002, "client frames must be masked")
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode >= 8:
                if not fin or n > 125:
                    raise ProtocolError(1002, "control frames must be whole and at most 125 bytes")
            elif n > self.max_message:
                raise ProtocolError(1009, "message larger than %d bytes" % self.max_message)
            end = pos + 4 + n
            if len(buf) < end:
                return
            payload = unmask(bytes(buf[pos + 4:end]), bytes(buf[pos:pos + 4]))
            del buf[:end]
            self.on_frame(fin, opcode, payload)
            if self.state == CLOSED:
                return

    def on_frame(self, fin, opcode, payload):
        if opcode == TEXT or opcode == BINARY:
            if self.fragments is not None:
                raise ProtocolError(1002, "a new message inside a fragmented one")
            if fin:
                self.deliver(opcode, payload)
            else:
                self.fragments = (opcode, [payload], len(payload))
        elif opcode == CONT:
            if self.fragments is None:
                raise ProtocolError(1002, "continuation frame without a message")
            first, parts, size = self.fragments
            size += len(payload)
            if size > self.max_message:
                raise ProtocolError(1009, "message larger than %d bytes" % self.max_message)
            parts.append(payload)
            if fin:
                self.fragments = None
                self.deliver(first, b"".join(parts))
            else:
                self.fragments = (first, parts, size)
        elif opcode == PING:
            if self.state == OPEN:
                self.proto.transport.write(frame(PONG, payload))
        elif opcode == PONG:
            pass
        elif opcode == CLOSE:
            self.on_close(payload)
        else:
            raise ProtocolError(1002, "unknown opcode %d" % opcode)

    def deliver(self, opcode, payload):
        if self.state != OPEN:
            return  # after our close frame, data is dropped
        if opcode == TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(1007, "text message is not UTF-8")
            self.queue.append({"type": "websocket.receive", "text": text})
        else:
            self.queue.append({"type": "websocket.receive", "bytes": payload})
        self.queued_bytes += len(payload)
        self.queued_sizes.append(len(payload))

    def on_close(self, payload):
        if len(payload) == 1:
            raise ProtocolError(1002, "close frame with a one-byte payload")
        code, reason = 1005, ""
        if payload:
            code = struct.unpack(">H", payload[:2])[0]
            if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
                raise ProtocolError(1002, "invalid close code %d" % code)
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(1007, "close reason is not UTF-8")
        if self.state == OPEN:
            # The client started the close: echo it, and the app hears the client's code.
            self.close_code, self.close_reason = code, reason
            self.close_sent = True
            self.proto.transport.write(frame(CLOSE, close_payload(code)))
        self.queue.append({"type": "websocket.disconnect", "code": self.close_code or code, "reason": self.close_reason})
        self.finish()

    # -- the connection --

    def connection_lost(self):
        if self.state != CLOSED:
            if self.state == OPEN or self.state == CLOSING:
                self.queue.append({"type": "websocket.disconnect", "code": 1006 if self.state == OPEN else self.close_code,
                                   "reason": ""})
            if self.close_code is None:
                self.close_code = 1006
            self.state = CLOSED
        self.wake()
        task = self.task
        if task is not None and not task.done() and self.denial is None:
            grace = self.proto.worker.disconnect_grace
            self.proto.loop.call_later(grace, _cancel, task)

    def shutdown(self):
        """Graceful stop: an open websocket is closed with 1001 (going away)."""
        if self.state == OPEN:
            self.close(1001, "server shutting down")
            self.queue.append({"type": "websocket.disconnect", "code": 1001, "reason": "server shutting down"})
            self.wake()

    def expire(self, now):
        if self.state == CLOSING and now >= self.close_deadline:
            self.finish()


def _cancel(task):
    if not task.done():
        task.cancel()

