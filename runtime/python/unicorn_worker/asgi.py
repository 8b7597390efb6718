"""The asgi worker: an asyncio loop (uvloop when installed) serving ASGI 3.0 apps over HTTP/1.1 and websockets.

One protocol object per connection. Request heads go through the same parser as the WSGI workers
(parser.take_head / parse_head, body.framer_for, the typed errors of errors.py): a malformed or smuggling-shaped head
is answered 400/414/431/501/505 before the app runs. Each request runs in its own task, and the
connection's next (pipelined) request is parsed only once the previous response is complete, so
answers go out in order. The request body is pulled by the app's receive() from the connection's
buffer (reading pauses while the buffer is full), so bodies stream both ways with back-pressure. The
part of a chunked body that came with the head is decoded before the app runs, so bad chunk framing or
a forbidden trailer in it is refused with the app never called (the WSGI workers read up to 1 MiB
ahead; waiting for more here would stall a client that streams both ways). A framing error further on
gives the app http.disconnect (never a truncated body as complete), the client the 400 if nothing was
answered yet, and the connection is closed.

Lifespan runs once per worker before the worker reports booted; a startup failure is a boot failure.
Websockets (RFC 6455) are in websocket.py. The worker accepts on its own (not loop.create_server) so
that it can stop accepting at worker_connections and on a graceful stop, and read a PROXY header off
a raw socket before TLS.
"""

import asyncio
import http
import os
import re
import sys
import time
import traceback

from . import errors
from .loop import BaseLoop, accept_failed, peer_name
from .worker import install_abort_handler
from .body import framer_for
from .parser import parse_head, take_head
from .proxy import parse as parse_proxy, try_read_before_tls
from .wsgi import SERVER_SOFTWARE, _forwarded_scheme, error_response, http_date, internal_error_response

TICK = 0.25
# The connection's buffer of unread request bytes: reading pauses above HIGH until the app takes them.
HIGH_WATER = 1 << 18
# What a keep-alive connection reads and drops of a body the app left unread before it closes instead.
DISCARD_LIMIT = 1 << 20
# Lingering close after an error answer: how long the client's remaining bytes are drained.
LINGER_SECONDS = 1.0
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_KEEP_ALIVE = b"Connection: keep-alive\r\n\r\n"
_CLOSE = b"Connection: close\r\n\r\n"
_SERVER = ("Server: %s\r\n" % SERVER_SOFTWARE).encode("latin-1")
_HOP_BY_HOP = frozenset([
    b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"proxy-connection",
])
_HEADER_NAME_RE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_BAD_VALUE_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_VALID_HEADERS = {}  # (name, value) -> lower-cased name: each distinct response header validated once
_LOWER_NAMES = {}  # parser's upper-case str name -> lower-case bytes (ASGI scope headers)
_STATUS_LINES = {}


def status_line(code):
    line = _STATUS_LINES.get(code)
    if line is None:
        if type(code) is not int or not 100 <= code <= 999:
            raise errors.ResponseError("invalid status %r: must be an int from 100 to 999" % (code,))
        try:
            reason = http.HTTPStatus(code).phrase
        except ValueError:
            reason = ""
        line = _STATUS_LINES[code] = ("HTTP/1.1 %d %s\r\n" % (code, reason)).encode("latin-1")
    return line


def check_header(item):
    """Validates one ASGI response header (two byte strings); returns its lower-cased name."""
    try:
        name, value = item
    except (TypeError, ValueError):
        raise errors.ResponseError("response header %r is not a (name, value) pair" % (item,))
    if type(name) is not bytes or not _HEADER_NAME_RE.match(name):
        raise errors.ResponseError("invalid response header name %r: must be bytes, a token" % (name,))
    if type(value) is not bytes or _BAD_VALUE_RE.search(value):
        raise errors.ResponseError("invalid value for response header %r: %r" % (name, value))
    return name.lower()


def scan_headers(req, watch):
    """One pass over the request's headers: (the ASGI scope's headers, [(NAME, value)] of those named in
    `watch`, or None when there are none)."""
    names = _LOWER_NAMES
    out = []
    seen = None
    for name, value in req.headers:
        key = names.get(name)
        if key is None:
            key = names[name] = name.lower().encode("latin-1")
        out.append((key, value.encode("latin-1")))
        if name in watch:
            if seen is None:
                seen = []
            seen.append((name, value))
    return out, seen


def scope_headers(req):
    return scan_headers(req, ())[0]


def asgi_path(req):
    """The percent-decoded path as ASGI wants it: UTF-8 characters (the parser keeps the bytes as latin-1)."""
    path = req.path
    if path.isascii():
        return path
    return path.encode("latin-1").decode("utf-8", "replace")


def raw_path(req):
    target = req.target
    q = target.find("?")
    if q >= 0:
        target = target[:q]
    if target.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        # Absolute-form: the path component as sent (not percent-decoded), without scheme and authority.
        slash = target.find("/", target.index("//") + 2)
        return target[slash:].encode("latin-1") if slash >= 0 else b""
    return target.encode("latin-1")


class Disconnected(OSError):
    """send() on a connection the client has closed (ASGI spec 2.4: a server-specific OSError)."""


_HEAD_CACHE = {}  # (status, headers) -> head_fields(): an app's usual answers are validated once
_DATE = [0, b""]


def date_line():
    now = int(time.time())
    if now != _DATE[0]:
        _DATE[0] = now
        _DATE[1] = b"Date: " + http_date().encode("latin-1") + b"\r\n"
    return _DATE[1]


def head_fields(status, headers):
    """Validates an ASGI response's status and headers: (status line + kept headers, Content-Length or
    None, has Date, has Server, the app said Connection: close). Hop-by-hop headers are dropped."""
    parts = [status_line(status)]
    drop_length = status < 200 or status == 204
    length = None
    has_date = has_server = close = False
    valid = _VALID_HEADERS
    for item in headers:
        try:
            lname = valid.get(item)
        except TypeError:
            lname = None
            item = tuple(item)
        if lname is None:
            lname = check_header(item)
            if len(valid) < 1024:
                valid[item] = lname
        name, value = item
        if lname in _HOP_BY_HOP:
            if lname == b"connection" and b"close" in value.lower():
                close = True
            continue
        if lname == b"content-length":
            value = value.strip()
            if not value.isdigit() or (length is not None and int(value) != length):
                raise errors.ResponseError("invalid Content-Length %r" % (value,))
            if length is not None or drop_length:
                continue
            length = int(value)
        elif lname == b"date":
            has_date = True
        elif lname == b"server":
            has_server = True
        parts += (name, b": ", value, b"\r\n")
    return b"".join(parts), length, has_date, has_server, close


class Waiting(object):
    """An app's receive() parked on `waiter` until the connection has something for it (shared by websockets)."""

    __slots__ = ()

    async def wait(self):
        self.waiter = self.proto.loop.create_future()
        await self.waiter

    def wake(self):
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)


class RequestCycle(Waiting):
    """One HTTP request on a connection: the app's receive() and send(), and the response's framing."""

    __slots__ = (
        "proto", "req", "scope", "keep_alive", "framer", "body_done", "continue_due",
        "started", "head_only", "chunked", "length", "sent", "complete", "status", "headers", "task",
        "disconnected", "t0", "waiter", "head_out", "body_given", "bodyless", "ahead", "hooked",
    )

    def __init__(self, proto, req, scope, keep_alive):
        self.proto = proto
        self.req = req
        self.scope = scope
        self.keep_alive = keep_alive
        self.framer = framer_for(req, proto.ctx.limits)
        self.body_done = self.framer.done
        self.continue_due = req.expect_continue and not self.body_done
        self.started = False
        self.head_only = req.method == "HEAD"
        self.chunked = False
        self.length = None
        self.sent = 0
        self.complete = False
        self.status = 0
        self.headers = ()
        self.task = None
        self.disconnected = False
        self.t0 = 0.0
        self.waiter = None
        self.head_out = False
        self.bodyless = False  # no body may follow the head (HEAD, 1xx, 204, 304): set with the head
        self.body_given = False  # the last http.request message (more_body False) went to the app
        self.ahead = b""  # the start of a chunked body, decoded with the head (HttpProtocol.next_request)
        self.hooked = None  # (req, environ) for the config file's pre_request/post_request hooks, when it has them

    # -- receive() --

    def take_body(self):
        """Body bytes available in the connection's buffer now (b"" when none)."""
        proto = self.proto
        buf = proto.buf
        if not buf or self.body_done:  # (done: the buffer holds the next request)
            return b""
        framer = self.framer
        data = framer.feed(bytes(buf))
        if framer.done:
            self.body_done = True
            proto.buf = bytearray(framer.extra)  # the start of a pipelined request
        else:
            buf.clear()
        return data

    async def receive(self):
        proto = self.proto
        if self.body_given or self.disconnected:
            if not self.disconnected and not self.complete:
                # The body is all read: the next message is the disconnect, whenever it happens.
                await self.wait()
            return {"type": "http.disconnect"}
        if self.continue_due:
            self.continue_due = False
            if not self.started:
                proto.transport.write(_CONTINUE)
        while True:
            try:
                data = self.take_body()
            except errors.RequestError as exc:
                proto.body_error(self, exc)
                return {"type": "http.disconnect"}
            if self.ahead:
                data = self.ahead + data
                self.ahead = b""
            if proto.reading_paused and len(proto.buf) < HIGH_WATER:
                proto.resume()
            if data or self.body_done:
                self.body_given = self.body_done
                return {"type": "http.request", "body": data, "more_body": not self.body_done}
            if self.disconnected:
                return {"type": "http.disconnect"}
            await self.wait()

    # -- send() --

    async def send(self, message):
        kind = message["type"]
        proto = self.proto
        if kind == "http.response.body":
            if self.disconnected:
                raise Disconnected("the client closed the connection")
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            self.write_body(body, more)
            if proto.write_paused:
                await proto.drain()
            if not more:
                self.finish()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            status = message["status"]
            headers = message.get("headers") or ()
            status_line(status)  # validates it; the head is built with the first body message
            self.status = status
            self.headers = headers
            self.started = True
        elif self.disconnected:
            raise Disconnected("the client closed the connection")
        else:
            raise RuntimeError("unexpected ASGI message %r for an http scope" % (kind,))

    def head(self, body_len, more):
        """The response head for the first body message; decides the framing."""
        status = self.status
        headers = self.headers
        try:
            key = (status, tuple(headers))
            fields = _HEAD_CACHE.get(key)
        except TypeError:  # headers as lists: validated every time
            key = fields = None
        if fields is None:
            fields = head_fields(status, headers)
            if key is not None and len(_HEAD_CACHE) < 512:
                _HEAD_CACHE[key] = fields
        prefix, length, has_date, has_server, close = fields
        if close:
            self.keep_alive = False
        framing = b""
        bodyless = self.bodyless = self.head_only or status < 200 or status == 204 or status == 304
        if length is None:
            if not bodyless:
                if not more:
                    length = body_len
                    framing = b"Content-Length: %d\r\n" % body_len
                elif self.req.version == (1, 1):
                    self.chunked = True
                    framing = b"Transfer-Encoding: chunked\r\n"
                else:
                    self.keep_alive = False  # HTTP/1.0 without a length: the body ends with the connection
            elif self.head_only and not more and status >= 200 and status != 204:
                framing = b"Content-Length: %d\r\n" % body_len  # what the GET would say
        self.length = None if bodyless else length
        if self.keep_alive and (not self.proto.worker.alive or self.continue_due or not self.body_done
                                and not self.proto.can_discard(self)):
            self.keep_alive = False
        return b"".join((prefix, framing, b"" if has_date else date_line(), b"" if has_server else _SERVER,
                         _KEEP_ALIVE if self.keep_alive else _CLOSE))

    def write_body(self, body, more):
        if type(body) is not bytes:
            if isinstance(body, (bytearray, memoryview)):
                body = bytes(body)
            else:
                raise TypeError("http.response.body's body must be bytes, not %s" % type(body).__name__)
        transport = self.proto.transport
        if self.head_out:
            if self.bodyless or not body:
                return
            if self.length is not None:
                room = self.length - self.sent
                if len(body) > room:
                    body = body[:room]
            self.sent += len(body)
            if self.chunked:
                transport.write(b"".join((b"%x\r\n" % len(body), body, b"\r\n")))
            else:
                transport.write(body)
            return
        head = self.head(len(body), more)
        self.head_out = True
        if self.bodyless or not body:
            transport.write(head)
            return
        if self.length is not None and len(body) > self.length:
            body = body[:self.length]
        self.sent = len(body)
        if self.chunked:
            transport.write(b"".join((head, b"%x\r\n" % len(body), body, b"\r\n")))
        else:
            transport.write(head + body)

    def finish(self):
        """The app's last body message: end the framing and hand the connection on."""
        if self.chunked:
            self.proto.transport.write(b"0\r\n\r\n")
        self.complete = True
        if self.length is not None and self.sent < self.length:
            self.proto.log.error("the app sent %d of the %d bytes its Content-Length declared", self.sent, self.length)
            self.keep_alive = False
        self.wake()


class HttpProtocol(asyncio.Protocol):
    """One client connection: reads heads, runs a RequestCycle per request, hands over to a websocket on upgrade."""

    def __init__(self, worker, ctx, proxy=None):
        self.worker = worker
        self.ctx = ctx
        self.log = worker.log
        self.loop = worker.loop
        self.transport = None
        self.buf = bytearray()
        self.cycle = None
        self.ws = None
        self.peer = None
        self.client = None
        self.server = worker.server_addr(ctx)
        self.proxy = proxy
        self.proxy_pending = ctx.proxy is not None and proxy is None and ctx.tls is None
        self.reading_paused = False
        self.write_paused = False
        self.drain_waiters = []
        self.closed = False
        self.deadline = 0.0
        self.lingering = False
        self.discarding = None  # the framer of a body the app left unread, being dropped
        self.scheme = "https" if ctx.tls is not None else "http"

    # -- asyncio callbacks --

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if self.ctx.tcp and peer:
            self.peer = peer
            self.client = (peer[0], peer[1])
        else:
            self.peer = peer or ""
        if self.proxy is not None:
            self._apply_proxy(self.proxy)
        self.deadline = self.loop.time() + self.worker.head_timeout
        self.worker.opened(self)

    def _apply_proxy(self, extras):
        if "REMOTE_ADDR" in extras:
            try:
                self.client = (extras["REMOTE_ADDR"], int(extras["REMOTE_PORT"]))
            except (KeyError, ValueError):
                self.client = (extras["REMOTE_ADDR"], 0)

    def connection_lost(self, exc):
        self.closed = True
        self.worker.closed(self)
        cycle = self.cycle
        if cycle is not None and not cycle.complete:
            cycle.disconnected = True
            cycle.wake()
            task = cycle.task
            if task is not None and not task.done():
                grace = self.worker.disconnect_grace
                if grace > 0:
                    self.loop.call_later(grace, _cancel, task)
                else:
                    task.cancel()
        if self.ws is not None:
            self.ws.connection_lost()
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.drain_waiters = []

    def pause_writing(self):
        self.write_paused = True

    def resume_writing(self):
        self.write_paused = False
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.drain_waiters = []

    async def drain(self):
        if self.closed:
            raise Disconnected("the client closed the connection")
        waiter = self.loop.create_future()
        self.drain_waiters.append(waiter)
        await waiter

    def pause(self):
        if not self.reading_paused and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume(self):
        if self.reading_paused and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def data_received(self, data):
        if self.lingering:
            return  # (a websocket refused before its accept too: what the client still sends is dropped)
        if self.ws is not None:
            self.ws.data_received(data)
            return
        cycle = self.cycle
        if cycle is None and not self.buf and self.discarding is None and not self.proxy_pending:
            self.next_request(len(data), data)  # the usual case: a whole head in one read, nothing before it
            return
        buf = self.buf
        buf += data
        if cycle is None:
            if self.discarding is not None and not self._discard():
                return
            self.next_request(len(data))
        elif cycle.complete:
            # Still draining the body the app left unread.
            pass
        else:
            if cycle.waiter is not None:
                cycle.wake()
            if len(buf) >= HIGH_WATER:
                self.pause()

    # -- requests --

    def next_request(self, added, data=None):
        """Starts the next complete request in the buffer, if there is one (`added`: bytes new since the last look).
        `data`: bytes just received while the buffer was empty, parsed without copying them into it first."""
        worker = self.worker
        if data is not None:
            limits = self.ctx.limits
            try:
                data, end = take_head(data, added, limits, self.ctx.parser_cfg)
                if end >= 0:
                    req = parse_head(data[:end], limits, self.ctx.parser_cfg)
            except errors.RequestError as exc:
                self.refuse(exc)
                return
            if end < 0 or end + 4 < len(data):
                self.buf = bytearray(data if end < 0 else data[end + 4:])
                if end < 0:
                    if len(data) >= HIGH_WATER:
                        self.pause()
                    return
            self.start_request(req)
            return
        buf = self.buf
        if self.proxy_pending:
            try:
                found = parse_proxy(bytes(buf), self.ctx.proxy, self.peer)
            except errors.RequestError as exc:
                self.refuse(exc)
                return
            if found is None:
                return
            self.proxy_pending = False
            del buf[:found[0]]
            added = len(buf)
            self.proxy = found[1]
            if found[1]:
                self._apply_proxy(found[1])
        if not buf:
            return
        limits = self.ctx.limits
        try:
            buf, end = take_head(buf, added, limits, self.ctx.parser_cfg)
            self.buf = buf
            if end < 0:
                if len(buf) >= HIGH_WATER:
                    self.pause()
                return
            req = parse_head(bytes(buf[:end]), limits, self.ctx.parser_cfg)
        except errors.RequestError as exc:
            self.refuse(exc)
            return
        del buf[:end + 4]
        self.start_request(req)

    def start_request(self, req):
        """A parsed head: a websocket handshake, or the app's task for an HTTP request."""
        worker = self.worker
        headers, seen = scan_headers(req, worker.watched_headers)
        scheme = self.scheme
        if seen is not None:
            # Upgrade/Connection (a websocket handshake?) and the trusted proxy's scheme headers.
            upgrade = connection = False
            forwarded = None
            for name, value in seen:
                if name == "UPGRADE":
                    upgrade = upgrade or "websocket" in value.lower()
                elif name == "CONNECTION":
                    connection = connection or "upgrade" in value.lower()
                if name in worker.scheme_header_names:
                    if forwarded is None:
                        forwarded = {"wsgi.url_scheme": scheme}
                    forwarded["HTTP_" + name.replace("-", "_")] = value
            ctx = self.ctx
            if forwarded is not None and ctx.scheme_headers and (
                    ctx.trust_all or not ctx.tcp or (self.peer and self.peer[0] in ctx.trusted)):
                try:
                    scheme = _forwarded_scheme(forwarded, ctx.scheme_headers)
                except errors.RequestError as exc:
                    self.refuse(exc)
                    return
            if upgrade and connection and req.method == "GET" and worker.websockets:
                self.start_websocket(req, scheme)
                return
        keep = req.keep_alive and worker.keepalive > 0 and worker.alive
        scope = {
            "type": "http",
            "asgi": worker.asgi_version,
            "http_version": "1.1" if req.version == (1, 1) else "1.0",
            "server": self.server,
            "client": self.client,
            "scheme": scheme,
            "method": req.method,
            "root_path": worker.root_path,
            "path": asgi_path(req),
            "raw_path": req.target.encode("latin-1") if req.target == req.path else raw_path(req),
            "query_string": req.query.encode("latin-1") if req.query else b"",
            "headers": headers,
        }
        if worker.state is not None:
            scope["state"] = worker.state.copy()
        cycle = RequestCycle(self, req, scope, keep)
        cycle.t0 = time.time()
        self.cycle = cycle
        if req.chunked and self.buf and not req.expect_continue:
            # Decode what came with the head now: bad framing in it is refused before the app runs.
            try:
                cycle.ahead = cycle.take_body()
            except errors.RequestError as exc:
                self.cycle = None
                self.refuse(exc)
                return
        self.start_app(cycle)

    def start_app(self, cycle):
        self.worker.request_started(cycle.req)
        hooks = self.ctx.hooks
        if hooks is not None:
            # gunicorn's ASGI worker calls pre_request/post_request too, with a WSGI-like environ (the access log's).
            environ = request_environ(self, cycle)
            view = hooks.request(cycle.req, environ, self.client)
            view.scheme = cycle.scope["scheme"]
            cycle.hooked = (view, environ)
        cycle.task = self.loop.create_task(self.run_app(cycle))

    async def run_app(self, cycle):
        worker = self.worker
        try:
            if cycle.hooked is not None:
                self.ctx.hooks.pre_request(cycle.hooked[0])  # raising: logged below, and a 500 (gunicorn's rule)
            await worker.app(cycle.scope, cycle.receive, cycle.send)
        except asyncio.CancelledError:
            if not cycle.disconnected:
                self.log.debug("request %s cancelled", cycle.req.target)
            self.abort_cycle(cycle, None)
        except BaseException as exc:
            if cycle.disconnected and isinstance(exc, Exception):
                self.log.debug("the app failed after the client went away (%s): %r", cycle.req.target, exc)
                self.abort_cycle(cycle, None)
            elif isinstance(exc, Exception):
                self.log.exception("Error handling request %s", cycle.req.target)
                self.abort_cycle(cycle, internal_error_response())
            else:
                self.abort_cycle(cycle, None)
                raise
        else:
            if not cycle.complete:
                if not cycle.started:
                    if not cycle.disconnected:
                        self.log.error("the app returned without starting a response to %s", cycle.req.target)
                    self.abort_cycle(cycle, internal_error_response())
                else:
                    if not cycle.disconnected:
                        self.log.error("the app returned before completing the response to %s", cycle.req.target)
                    self.abort_cycle(cycle, None)
        finally:
            self.end_cycle(cycle)

    def abort_cycle(self, cycle, answer):
        """The app failed: a 500 if nothing of the response went out, else the connection ends."""
        if answer is not None and not cycle.head_out and not self.closed:
            cycle.status = 500
            cycle.head_out = True
            cycle.headers = ()
            cycle.sent = len(answer) - answer.index(b"\r\n\r\n") - 4
            self.transport.write(answer)
        cycle.keep_alive = False
        cycle.complete = True

    def end_cycle(self, cycle):
        worker = self.worker
        took = time.time() - cycle.t0
        self.ctx.record(cycle.status if cycle.head_out else 0, took, cycle.sent)
        if worker.access_log is not None:
            worker.log_access(self, cycle, took)
        if cycle.hooked is not None:
            self.ctx.hooks.post_request(cycle.hooked[0], cycle.hooked[1], ResponseInfo(cycle))
        worker.request_done()
        self.cycle = None
        if self.closed:
            return
        if not cycle.keep_alive:
            self.close_after_answer(cycle)
            return
        if not cycle.body_done:
            # Keep-alive: drop the unread rest of the body so the next request starts where it should.
            if not self.can_discard(cycle):
                self.close_after_answer(cycle)
                return
            self.discarding = cycle.framer
            if not self._discard():
                self.resume()
                return
        self.resume()
        if not worker.alive:
            self.transport.close()
            return
        self.deadline = self.loop.time() + (worker.head_timeout if self.buf else worker.keepalive)
        if self.buf:
            self.next_request(len(self.buf))

    def can_discard(self, cycle):
        remaining = getattr(cycle.framer, "remaining", None)
        # A chunked body of unknown length: close rather than read it.
        return remaining is not None and remaining <= DISCARD_LIMIT

    def _discard(self):
        """Drops the unread body's bytes as they come; True once it is over (the buffer then holds what follows)."""
        framer = self.discarding
        if self.buf:
            framer.feed(bytes(self.buf))
            self.buf = bytearray(framer.extra) if framer.done else bytearray()
        if framer.done:
            self.discarding = None
            return True
        return False

    def close_after_answer(self, cycle):
        """The answer is written; any request bytes still coming are drained briefly so it is not lost to a reset."""
        if cycle is not None and cycle.body_done and not self.buf:
            self.transport.close()
        else:
            self.linger()

    def linger(self):
        self.lingering = True
        self.buf.clear()
        self.resume()
        if self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except (OSError, RuntimeError):
                self.transport.close()
                return
        self.deadline = self.loop.time() + LINGER_SECONDS
        if not self.transport.can_write_eof():
            self.transport.close()

    def refuse(self, exc):
        """A request refused before the app: its error answer, then a lingering close."""
        self.log.debug("Invalid request from %s: %s", peer_name(self.peer), exc)
        self.ctx.record(exc.status, 0.0, 0)
        self.transport.write(error_response(exc))
        self.linger()

    def body_error(self, cycle, exc):
        """A framing error found while the app read the body: 400 when nothing was answered yet."""
        self.log.debug("invalid request body from %s: %s", peer_name(self.peer), exc)
        cycle.disconnected = True
        cycle.keep_alive = False
        if not cycle.head_out:
            cycle.status = exc.status
            cycle.head_out = True
            self.transport.write(error_response(exc))
        cycle.complete = True
        cycle.body_done = True
        self.linger()  # nothing more is read from this connection

    # -- websockets --

    def start_websocket(self, req, scheme):
        from .websocket import WebSocket

        self.ws = WebSocket(self, req, "wss" if scheme == "https" else "ws")
        self.ws.start()

    # -- graceful stop --

    def shutdown(self):
        """Graceful stop: a websocket closes with 1001. (An HTTP connection answers its next request with
        Connection: close, or ends idle at its keep-alive deadline, so no request racing the stop is lost.)"""
        if not self.closed and self.ws is not None:
            self.ws.shutdown()


def _cancel(task):
    if not task.done():
        task.cancel()


class AsgiWorker(BaseLoop):
    def __init__(self, boot):
        BaseLoop.__init__(self, boot)
        s = boot.settings
        self.take_connection_settings()
        self.disconnect_grace = float(s["asgi_disconnect_grace_period"])
        self.websocket_max_message = int(s["websocket_max_message_size"]) or float("inf")  # 0: no limit
        self.lifespan_mode = s["asgi_lifespan"]
        self.loop_kind = s["asgi_loop"]
        root = s.get("root_path")
        self.root_path = str(root if root is not None else os.environ.get("SCRIPT_NAME", "")).rstrip("/")
        self.asgi_version = {"version": "3.0", "spec_version": "2.4"}
        self.websockets = True
        self.access_log = boot.access_log
        self.app = boot.app
        self.loop = None
        self.state = None
        self.conns = set()
        self.accepting = False
        self.readers = []
        self.servers = {}
        self.stopping_at = None
        self.lifespan = None
        self.stop_event = None
        self.orphaned = False
        self.scheme_header_names = frozenset(str(n).upper() for n in s["secure_scheme_headers"])
        # What a request's headers are scanned for besides the scope: a websocket handshake, the proxy's scheme.
        self.watched_headers = self.scheme_header_names | frozenset(["UPGRADE", "CONNECTION"])
        boot.on_abort = self.on_abort  # the watchdog's SIGABRT: dump the pending tasks too

    # -- signals: handlers only set flags; the tick acts --

    def wake(self):
        """The control reader thread saw the arbiter go (or a flag needs acting on): wake the loop."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._woken)
            except RuntimeError:
                pass

    def _woken(self):
        if not self.act_on_flags():
            self.alive = False
            self.stop_event.set()

    def install_signals(self):
        BaseLoop.install_signals(self)  # (its wake-up pipe goes unread here: the tick polls the flags)
        install_abort_handler(self.boot)  # again: boot.on_abort is now ours

    def _on_term(self, signum, frame):
        self.alive = False
        self.stop_requested = True
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)

    def on_abort(self, signum, frame):
        """Timed out: faulthandler has written every thread's stack; add every pending task's, then go."""
        try:
            self.dump_tasks(frame)
        except Exception:
            pass
        type(self.boot).on_abort(self.boot, signum, frame)

    def dump_tasks(self, frame):
        """Every pending task's stack (the running one's down to the frame the signal interrupted)."""
        import io

        loop = self.loop
        if loop is None:
            return
        out = io.StringIO()
        tasks = asyncio.all_tasks(loop)
        running = asyncio.current_task(loop)
        out.write("Pending asyncio tasks (%d):\n" % len(tasks))
        for task in tasks:
            if task is running and frame is not None:
                out.write("%r (running: it holds the loop) (most recent call last):\n" % (task,))
                out.write("".join(traceback.format_stack(frame)))
            else:
                task.print_stack(file=out)
        self.log.file.write_bytes(out.getvalue().encode("utf-8", "backslashreplace"))

    # -- the loop --

    def new_loop(self):
        kind = self.loop_kind
        if kind in ("auto", "uvloop"):
            try:
                import uvloop
            except ImportError:
                if kind == "uvloop":
                    raise RuntimeError("asgi_loop = uvloop but uvloop is not importable by %s — install it "
                                       "(apt install python3-uvloop, or pip install uvloop) or use asgi_loop = "
                                       "asyncio" % sys.executable)
            else:
                return uvloop.new_event_loop()
        return asyncio.new_event_loop()

    def run(self):
        self.loop = loop = self.new_loop()
        asyncio.set_event_loop(loop)
        try:
            return loop.run_until_complete(self.main())
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            except Exception:
                pass
            loop.close()

    async def main(self):
        boot = self.boot
        loop = self.loop
        self.stop_event = asyncio.Event()
        if not self.alive:
            self.stop_event.set()
        if self.lifespan_mode != "off":
            from .lifespan import Lifespan

            self.lifespan = Lifespan(self.app, self.lifespan_mode, self.log)
            failure = await self.lifespan.startup()
            if failure is not None:
                self.log.error("Application startup failed: %s", failure)
                return 3
            self.state = self.lifespan.state
        for ctx, sock in boot.listeners:
            self.servers[sock.fileno()] = (ctx, sock)
        self.set_accepting(True)
        boot.send_event({"event": "booted", "pid": os.getpid()})
        self.status.idle(0)
        ticker = loop.create_task(self.tick())
        try:
            await self.stop_event.wait()
        finally:
            ticker.cancel()
        if boot.arbiter_gone or self.orphaned:
            return 0
        await self.drain()
        if self.lifespan is not None:
            await self.lifespan.shutdown()
        return 0

    async def tick(self):
        loop = self.loop
        ppid = self.boot.ppid
        status = self.status
        while True:
            status.heartbeat()
            self.refresh_busy()
            if os.getppid() != ppid:
                self.log.info("Parent changed, shutting down: %s", os.getppid())
                self.orphaned = True
                self.alive = False
                self.stop_event.set()
                return
            if not self.act_on_flags():
                self.log.debug("control channel closed: the arbiter is gone, exiting")
                self.alive = False
            if not self.alive:
                self.stop_event.set()
                return
            boot = self.boot
            if boot.accept_changed:
                # The arbiter's accept command (another worker is being debugged and takes the new connections).
                want = boot.want_accepting
                self.set_accepting(want and len(self.conns) + self.pending < self.max_connections)
                boot.accept_applied(want)  # a change that came meanwhile stays pending for the next tick
            self.sweep(loop.time())
            await asyncio.sleep(TICK)

    def sweep(self, now):
        """Closes connections idle (or lingering, or with a head in progress) past their deadline."""
        for proto in list(self.conns):
            if proto.ws is not None and not proto.lingering:
                proto.ws.expire(now)
            elif proto.cycle is None and proto.deadline <= now:
                proto.transport.close()

    async def drain(self):
        """Graceful stop: no new connections; open ones finish their request, websockets close with 1001."""
        self.set_accepting(False)
        deadline = self.loop.time() + self.graceful_timeout
        for proto in list(self.conns):
            proto.shutdown()
        if self.stop_requested:
            # TERM (not max_requests): what already waits in the listen queues is served too, then this
            # worker's copies of the listeners close (README "Stopping"; the sync worker's serve_queued).
            await self.accept_queued(deadline)
        self.close_listeners(self.boot.listeners)
        while (self.conns or self.pending) and self.loop.time() < deadline:
            self.status.heartbeat()
            # A websocket opened since (its handshake was in the app at the stop, or a reconnect the drain took
            # from the listen queue) goes with 1001 too, not at the graceful timeout (shutdown acts once).
            for proto in list(self.conns):
                proto.shutdown()
            self.sweep(self.loop.time())
            await asyncio.sleep(0.05)
        if self.conns:
            self.log.info("graceful timeout: closing %d connections", len(self.conns))
            for proto in list(self.conns):
                proto.transport.abort()
            await asyncio.sleep(0)

    # -- accepting --

    def set_accepting(self, on):
        if on == self.accepting:
            return
        self.accepting = on
        for fd, (ctx, sock) in self.servers.items():
            if on:
                self.loop.add_reader(fd, self.accept, ctx, sock)
            else:
                self.loop.remove_reader(fd)

    def accept(self, ctx, listener):
        """One connection per readiness callback. The listener stays readable while more wait, so the loop
        comes back for the next one after a turn of its other work, while the other workers, woken by the same
        readiness, take theirs: the kernel balances (a loop that emptied the queue at once took all 16 of a
        benchmark's connections while the other worker idled, and served them at half the speed of two)."""
        if not self.alive or len(self.conns) + self.pending >= self.max_connections:
            return
        taken = self.accept_one(ctx, listener)
        if taken is False:
            # Out of descriptors (logged): stop polling the listener for a tick rather than spin on it.
            self.set_accepting(False)
            self.loop.call_later(TICK, self.check_accepting)
        elif taken and len(self.conns) + self.pending >= self.max_connections:
            self.set_accepting(False)

    def accept_one(self, ctx, listener):
        """Takes one connection off `listener`'s queue: True, or False when accept() failed, None when it was empty."""
        try:
            sock, peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            return False if accept_failed(exc, self.log) else None
        sock.setblocking(False)
        if ctx.tls is not None or ctx.proxy is not None:
            self.loop.create_task(self.connect_slow(ctx, sock, peer))
        else:
            self.loop.create_task(self.connect(ctx, sock, None))
        self.pending += 1
        return True

    async def accept_queued(self, deadline):
        """The stop's last accepts: every listener's queue until it is found empty once, within worker_connections."""
        waiting = list(self.servers.values())
        while waiting and self.loop.time() < deadline:
            full = []
            for ctx, sock in waiting:
                while True:
                    if len(self.conns) + self.pending >= self.max_connections:
                        full.append((ctx, sock))  # at the cap: more once a connection closes
                        break
                    if self.accept_one(ctx, sock) is None:
                        break  # found empty: this listener is done
            waiting = full
            if waiting:
                self.status.heartbeat()
                await asyncio.sleep(0.05)

    pending = 0

    async def connect(self, ctx, sock, proxy):
        try:
            await self.loop.connect_accepted_socket(lambda: HttpProtocol(self, ctx, proxy), sock)
        except Exception as exc:
            self.log.debug("connection setup failed: %s", exc)
            sock.close()
        finally:
            self.pending -= 1
            self.check_accepting()

    async def connect_slow(self, ctx, sock, peer):
        """TLS and PROXY connections: a PROXY header in front of TLS is read off the raw socket first."""
        loop = self.loop
        proxy = None
        try:
            if ctx.tls is not None:
                if ctx.proxy is not None:
                    deadline = loop.time() + self.head_timeout
                    while True:
                        done, proxy = try_read_before_tls(sock, ctx.proxy, peer)
                        if done:
                            break
                        if loop.time() > deadline:
                            raise errors.ClientDisconnected("PROXY header not complete within timeout")
                        waiter = loop.create_future()
                        loop.add_reader(sock.fileno(), _set_done, waiter)
                        try:
                            await asyncio.wait_for(waiter, min(60.0, max(0.01, deadline - loop.time())))
                        except asyncio.TimeoutError:
                            pass
                        finally:
                            loop.remove_reader(sock.fileno())
                await loop.connect_accepted_socket(
                    lambda: HttpProtocol(self, ctx, proxy), sock, ssl=ctx.tls.context,
                    ssl_handshake_timeout=float(self.timeout) if self.timeout else None)
            else:
                await loop.connect_accepted_socket(lambda: HttpProtocol(self, ctx, None), sock)
        except errors.RequestError as exc:
            # A malformed or unwelcome PROXY header in front of TLS: answered in clear, as the client sent it.
            try:
                sock.setblocking(True)
                sock.settimeout(1.0)
                sock.sendall(error_response(exc))
            except OSError:
                pass
            sock.close()
        except Exception as exc:
            self.log.debug("connection setup with %s failed: %s", peer_name(peer), exc)
            sock.close()
        finally:
            self.pending -= 1
            self.check_accepting()

    def check_accepting(self):
        if self.alive and not self.accepting and self.boot.want_accepting and len(self.conns) + self.pending < self.max_connections:
            self.set_accepting(True)

    def opened(self, proto):
        self.conns.add(proto)
        self.status.connections(len(self.conns))

    def closed(self, proto):
        self.conns.discard(proto)
        self.status.connections(len(self.conns))
        self.check_accepting()

    def server_addr(self, ctx):
        base = ctx.base
        if ctx.is_unix:
            return (base["SERVER_NAME"], None)
        try:
            return (base["SERVER_NAME"], int(base["SERVER_PORT"]))
        except ValueError:
            return (base["SERVER_NAME"], None)

    # -- the scoreboard: busy while at least one request or websocket is in progress --

    def request_done(self):
        if self.request_finished():
            self.stop_event.set()

    def log_access(self, proto, cycle, took):
        environ = cycle.hooked[1] if cycle.hooked is not None else request_environ(proto, cycle)
        resp = ResponseInfo(cycle)
        try:
            self.access_log.write(environ, resp.status, resp.headers, cycle.sent, took)
        except Exception:
            self.log.exception("Error writing the access log")


def request_environ(proto, cycle):
    """The WSGI-like environ the access log and the pre/post_request hooks see of an ASGI request (gunicorn's)."""
    req = cycle.req
    environ = {
        "REQUEST_METHOD": req.method, "RAW_URI": req.target, "PATH_INFO": req.path,
        "QUERY_STRING": req.query, "SERVER_PROTOCOL": req.protocol,
        "REMOTE_ADDR": proto.client[0] if proto.client else "", "wsgi.url_scheme": cycle.scope["scheme"],
    }
    for name, value in req.headers:
        key = "HTTP_" + name.replace("-", "_")
        if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            key = key[5:]
        environ[key] = value
    return environ


class ResponseInfo(object):
    """An ASGI response as the access log and post_request see it: the WSGI Response's names (status "200 OK",
    code, headers as str pairs, sent body bytes, headers_sent)."""

    def __init__(self, cycle):
        headers = []
        for item in cycle.headers or ():
            try:
                headers.append((item[0].decode("latin-1"), item[1].decode("latin-1")))
            except (AttributeError, IndexError, TypeError):
                pass
        self.headers = headers
        self.code = cycle.status
        self.status = "%d %s" % (cycle.status, _reason(cycle.status)) if cycle.status else None
        self.sent = cycle.sent
        self.headers_sent = cycle.head_out


def _reason(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def _set_done(waiter):
    if not waiter.done():
        waiter.set_result(None)
