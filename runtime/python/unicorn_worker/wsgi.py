"""The WSGI layer (PEP 3333): environ from a parsed Request, start_response, response framing, and one request's handling.

Independent of the loop: `handle_request` takes a connected socket, a parsed Request and the
bytes that followed its head, so the sync loop and the gthread pool share it.
"""

import os
import re
import socket
import stat
import time

from . import SERVER_SOFTWARE, errors
from .body import Body, framer_for
from .parser import DEFAULT_CONFIG

CHUNKED_PREFETCH = 1 << 20
# What a keep-alive connection reads and drops of a body the app left unread before it gives up and closes.
DISCARD_LIMIT = 1 << 20
_NO_BODY_STATUS = frozenset([204, 304])
# Framing and connection management are ours; an app's copies of these would contradict them.
_HOP_BY_HOP = frozenset([
    "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
])
_STATUS_RE = re.compile(r"[1-9][0-9]{2} [^\x00-\x08\x0a-\x1f\x7f]*\Z")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER_HEADER = "Server: %s\r\n" % SERVER_SOFTWARE
# HTTP_ names per header name, built once per distinct header seen.
_ENVIRON_KEYS = {"CONTENT-TYPE": "CONTENT_TYPE", "CONTENT-LENGTH": "CONTENT_LENGTH"}
_ENVIRON_KEYS_MAX = 4096

_date_cache = [0, ""]



_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (None, "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _imf_fixdate(when):
    """RFC 7231's IMF-fixdate (email.utils.formatdate would cost every worker 3 MB of imports)."""
    t = time.gmtime(when)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _WEEKDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)

def http_date():
    """The IMF-fixdate for the current second, formatted once per second."""
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[0] = now
        _date_cache[1] = _imf_fixdate(now)
    return _date_cache[1]


class FileWrapper(object):
    """wsgi.file_wrapper: iterates a file in blocks; the response writer uses sendfile() when it can."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class ListenerContext(object):
    """What every request on one listener shares: the environ base and the trust decision inputs."""

    def __init__(self, listener, settings, limits, app, error_log, access_log, error_stream, client_timeout=30,
                 parser_cfg=DEFAULT_CONFIG):
        self.app = app
        self.limits = limits
        # The parser's choices (parser.ParserConfig): method/version leniency, header_map, obs-fold.
        self.parser_cfg = parser_cfg
        self.client_timeout = client_timeout
        # Set when the listener's SO_RCVTIMEO/SO_SNDTIMEO/TCP_NODELAY pass to accepted sockets (TCP on Linux).
        self.preset_socket_options = False
        # Set by the gthread loop on a graceful stop: responses still being written say Connection: close.
        self.draining = False
        # Where each finished request is counted (the scoreboard slot's metrics): record(code, seconds, sent).
        self.record = _ignore
        # The worker's hooks when the config file defines pre_request or post_request (else None: no cost).
        self.hooks = None
        # TLS (tls.ServerTLS) and PROXY protocol (proxy.ProxyPolicy) when those are on, else None.
        self.tls = None
        self.proxy = None
        self.log = error_log
        self.access_log = access_log
        self.is_unix = listener["kind"] == "unix"
        self.tcp = not self.is_unix
        allow = settings["forwarded_allow_ips"]
        if isinstance(allow, str):
            allow = [a.strip() for a in allow.split(",")]
        self.trust_all = "*" in allow
        self.trusted = frozenset(allow)
        self.scheme_headers = [
            ("HTTP_" + name.upper().replace("-", "_"), value.lower())
            for name, value in settings["secure_scheme_headers"].items()
        ]
        self.script_name = os.environ.get("SCRIPT_NAME", "").rstrip("/")
        if self.is_unix:
            server_name, server_port = listener.get("path", ""), ""
        else:
            server_name, server_port = str(listener.get("host", "")), str(listener.get("port", ""))
        self.base = {
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SCRIPT_NAME": self.script_name,
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": error_stream,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
        }

    def serve_tls(self, tls):
        """TLS on this listener: connections get wrapped, and the scheme is https unless a trusted proxy says otherwise."""
        self.tls = tls
        self.base["wsgi.url_scheme"] = "https"


def build_environ(req, ctx, body, sock, peer, proxy=None):
    environ = ctx.base.copy()
    environ["REQUEST_METHOD"] = req.method
    environ["RAW_URI"] = req.target
    environ["REQUEST_URI"] = req.target
    environ["SERVER_PROTOCOL"] = req.protocol
    environ["QUERY_STRING"] = req.query
    environ["wsgi.input"] = body
    environ["gunicorn.socket"] = sock
    path = req.path
    script_name = ctx.script_name
    if script_name and (path == script_name or path.startswith(script_name + "/")):
        path = path[len(script_name):]
    environ["PATH_INFO"] = path
    if ctx.tcp:
        environ["REMOTE_ADDR"] = peer[0]
        environ["REMOTE_PORT"] = str(peer[1])
    else:
        # Like gunicorn: an unnamed Unix peer has the empty address and no port.
        environ["REMOTE_ADDR"] = peer if isinstance(peer, str) else ""
    keys = _ENVIRON_KEYS
    for name, value in req.headers:
        key = keys.get(name)
        if key is None:
            # Names with "_" reach here only with header_map = dangerous (the parser drops or refuses them).
            key = "HTTP_" + name.replace("-", "_")
            if len(keys) < _ENVIRON_KEYS_MAX:  # bounded: clients choose the names
                keys[name] = key
        if key in environ:
            sep = "; " if key == "HTTP_COOKIE" else ", "
            environ[key] = environ[key] + sep + value
        else:
            environ[key] = value
    if ctx.scheme_headers and (ctx.trust_all or not ctx.tcp or peer[0] in ctx.trusted):
        environ["wsgi.url_scheme"] = _forwarded_scheme(environ, ctx.scheme_headers)
    if proxy is not None:
        # The PROXY protocol header's addresses win over the socket's (gunicorn's proxy_environ).
        environ.update(proxy)
    return environ


def _forwarded_scheme(environ, scheme_headers):
    scheme = None
    for key, secure_value in scheme_headers:
        value = environ.get(key)
        if value is None:
            continue
        said = "https" if value.strip().lower() == secure_value else "http"
        if scheme is not None and said != scheme:
            raise errors.InvalidSchemeHeaders("contradictory scheme headers")
        scheme = said
    return scheme or environ["wsgi.url_scheme"]


# Headers and statuses an app sends are mostly the same every time: each distinct one is validated once.
_VALID_CACHE_SIZE = 1024
_VALID_HEADERS = {}  # (name, value) -> name.lower()
_VALID_STATUSES = set()


def _check_header(item):
    """Validates one response header item; returns its lower-cased name."""
    if type(item) is not tuple or len(item) != 2:
        raise errors.ResponseError("response header %r is not a (name, value) tuple" % (item,))
    name, value = item
    if type(name) is not str or not _HEADER_NAME_RE.match(name):
        raise errors.ResponseError("invalid response header name %r" % (name,))
    if type(value) is not str or _BAD_VALUE_RE.search(value):
        raise errors.ResponseError("invalid value for response header %r: %r" % (name, value))
    return name.lower()


class Response(object):
    """start_response, write() and the response's framing on one connection."""

    __slots__ = (
        "sock", "version", "head_only", "status", "code", "headers", "length", "has_date",
        "has_server", "headers_sent", "chunked", "sent", "log", "timeout", "keep_alive", "ctx", "body",
    )

    def __init__(self, sock, req, log, timeout=30, keep_alive=False, ctx=None):
        self.sock = sock
        self.ctx = ctx
        # Set with Expect: 100-continue, so that a body never asked for ends the connection.
        self.body = None
        # Whether the head says keep-alive; _head() clears it when the body must end with the connection.
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.version = req.version
        self.head_only = req.method == "HEAD"
        self.log = log
        self.status = None
        self.code = 0
        self.headers = None
        self.length = None
        self.headers_sent = False
        self.chunked = False
        self.sent = 0

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        try:
            known = status in _VALID_STATUSES
        except TypeError:
            known = False
        if not known:
            if type(status) is not str or not _STATUS_RE.match(status):
                raise errors.ResponseError("invalid status %r: must be a str like '200 OK'" % (status,))
            if len(_VALID_STATUSES) < _VALID_CACHE_SIZE:
                _VALID_STATUSES.add(status)
        if type(headers) is not list:
            raise errors.ResponseError("response headers must be a list, not %s" % type(headers).__name__)
        kept = []
        length = None
        has_date = has_server = False
        valid = _VALID_HEADERS
        for item in headers:
            try:
                lname = valid.get(item)
            except TypeError:
                lname = None
            if lname is None:
                lname = _check_header(item)
                if len(valid) < _VALID_CACHE_SIZE:
                    valid[item] = lname
            name, value = item
            if lname in _HOP_BY_HOP:
                continue
            if lname == "content-length":
                value = value.strip()
                if not value.isdigit() or not value.isascii() or (length is not None and int(value) != length):
                    raise errors.ResponseError("invalid Content-Length %r" % (value,))
                if length is not None:
                    continue
                length = int(value)
            elif lname == "date":
                has_date = True
            elif lname == "server":
                has_server = True
            kept.append((name, value))
        self.code = int(status[:3])
        self.status = status
        self.headers = kept
        self.length = length
        self.has_date = has_date
        self.has_server = has_server
        return self.write

    def body_allowed(self):
        return not (self.head_only or self.code < 200 or self.code in _NO_BODY_STATUS)

    def _head(self, at_end, first_len=0):
        """The serialised status line and headers; decides the framing of the body."""
        if self.status is None:
            raise AssertionError("the app sent a body before calling start_response()")
        headers = self.headers
        if self.length is not None and (self.code < 200 or self.code == 204):
            headers = [h for h in headers if h[0].lower() != "content-length"]
            self.length = None
        parts = ["HTTP/1.1 ", self.status, "\r\n"]
        for name, value in headers:
            parts += (name, ": ", value, "\r\n")
        if self.length is None and self.body_allowed():
            if at_end:
                # The whole body is known: a length beats chunking.
                self.length = first_len
                parts.append("Content-Length: %d\r\n" % first_len)
            elif self.version == (1, 1):
                self.chunked = True
                parts.append("Transfer-Encoding: chunked\r\n")
            else:
                # HTTP/1.0 without a length: the body ends when we close.
                self.keep_alive = False
        if self.keep_alive and self.ctx is not None and self.ctx.draining:
            self.keep_alive = False
        body = self.body
        if self.keep_alive and body is not None and body.on_first_read is not None and not body.done:
            self.keep_alive = False  # the client still waits for 100 Continue: its body will never come
        if not self.has_date:
            parts += ("Date: ", http_date(), "\r\n")
        if not self.has_server:
            parts.append(_SERVER_HEADER)
        parts.append("Connection: keep-alive\r\n\r\n" if self.keep_alive else "Connection: close\r\n\r\n")
        self.headers_sent = True
        try:
            return "".join(parts).encode("latin-1")
        except UnicodeEncodeError:
            self.headers_sent = False
            raise errors.ResponseError("response status or header is not latin-1")

    def write(self, data):
        """The write() callable, and how the body iterable's chunks go out."""
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise TypeError("the app must send bytes, not %s" % type(data).__name__)
        head = b""
        if not self.headers_sent:
            head = self._head(False)
        if not data or not self.body_allowed():
            if head:
                self.sock.sendall(head)
            return
        if self.length is not None:
            room = self.length - self.sent
            if len(data) > room:
                data = data[:room]  # never more than declared
        self.sent += len(data)
        if self.chunked:
            self.sock.sendall(b"".join((head, b"%x\r\n" % len(data), data, b"\r\n")))
        elif head:
            self.sock.sendall(head + data)
        elif data:
            self.sock.sendall(data)

    def write_whole(self, data):
        """A one-piece body: head and body in one send, with a Content-Length."""
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise TypeError("the app must send bytes, not %s" % type(data).__name__)
        if self.headers_sent:
            self.write(data)
            return
        head = self._head(True, len(data))
        if not self.body_allowed():
            self.sock.sendall(head)
            return
        if len(data) > self.length:
            data = data[:self.length]
        self.sent = len(data)
        self.sock.sendall(head + data)

    def send_file(self, wrapper):
        """Serves a FileWrapper over a regular file with sendfile(); False when it cannot."""
        f = wrapper.filelike
        try:
            fd = f.fileno()
            st = os.fstat(fd)
            offset = f.tell() if hasattr(f, "tell") else 0
        except (AttributeError, OSError, ValueError):
            return False
        if not stat.S_ISREG(st.st_mode) or self.headers_sent:
            return False
        count = max(0, st.st_size - offset)
        if self.length is not None:
            count = min(count, self.length)
        head = self._head(True, count)
        if not self.body_allowed():
            self.sock.sendall(head)
            return True
        self.sock.sendall(head)
        if count:
            if self.sock.gettimeout() is None:
                # socket.sendfile() on a blocking socket waits forever for a client that stopped reading.
                self.sock.settimeout(self.timeout)
            sent = self.sock.sendfile(f, offset, count)
            self.sent = sent
        return True

    def finish(self):
        if not self.headers_sent:
            self.sock.sendall(self._head(True, 0))
        elif self.chunked:
            self.sock.sendall(b"0\r\n\r\n")
        return self.length is None or self.sent >= self.length or not self.body_allowed()


def error_response(exc):
    """The small text answer to a request we refuse: status from the exception's class."""
    status = exc.status
    body = ("%d %s\n%s\n" % (status, exc.reason, exc.detail)).encode("utf-8", "replace")
    return (
        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
        "Date: %s\r\n%sConnection: close\r\n\r\n" % (status, exc.reason, len(body), http_date(), _SERVER_HEADER)
    ).encode("latin-1") + body


INTERNAL_ERROR = b"500 Internal Server Error\n"


def internal_error_response():
    return (
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: %d\r\nDate: %s\r\n%sConnection: close\r\n\r\n"
        % (len(INTERNAL_ERROR), http_date(), _SERVER_HEADER)
    ).encode("latin-1") + INTERNAL_ERROR


def handle_request(ctx, sock, peer, req, leftover, keep_alive=False, proxy=None):
    """Runs the app for one parsed request and writes its response.

    Returns (keep, rest): `keep` when the response said keep-alive, went out whole and every byte
    of the request was read, so the connection may serve the next request; `rest` is what arrived
    beyond this request (the start of a pipelined one), or None when bytes of this one stay unread.
    Raises RequestError only before the app runs (the caller answers it); socket errors propagate.
    `proxy` holds the environ keys from the connection's PROXY protocol header, if it had one.
    """
    started = time.time()
    log = ctx.log
    resp = Response(sock, req, log, ctx.client_timeout, keep_alive, ctx)
    on_first_read = None
    if req.expect_continue:
        def on_first_read():
            if not resp.headers_sent:
                sock.sendall(_CONTINUE)
    body = Body(sock, leftover, framer_for(req, ctx.limits), on_first_read)
    if on_first_read is not None:
        resp.body = body
    environ = build_environ(req, ctx, body, sock, peer, proxy)
    if req.chunked and not req.expect_continue:
        # Decode ahead so bad chunk framing is refused before the app runs (bodies above 1 MiB stream).
        body.prefetch(CHUNKED_PREFETCH)

    result = None
    complete = False
    hooks = ctx.hooks
    if hooks is not None:
        hook_req = hooks.request(req, environ, peer)
    try:
        if hooks is not None:
            hooks.pre_request(hook_req)  # raising: logged below, and the request gets a 500 (gunicorn's rule)
        result = ctx.app(environ, resp.start_response)
        if type(result) is list and len(result) == 1 and not resp.headers_sent:
            resp.write_whole(result[0])
        elif isinstance(result, FileWrapper) and resp.status is not None and resp.send_file(result):
            pass
        else:
            write = resp.write
            for data in result:
                if data:
                    write(data)
                    if not resp.body_allowed():
                        break  # HEAD: the head is out, the rest is never sent
                elif resp.status is not None and resp.head_only:
                    break
        complete = resp.finish()
        if not complete:
            log.error("the app sent %d of the %d bytes its Content-Length declared", resp.sent, resp.length)
    except (errors.ClientDisconnected, ConnectionError) + errors.TIMEOUTS as exc:
        log.debug("client went away while handling %s: %s", req.target, exc)
    except errors.RequestError as exc:
        # A framing error found while the app read the body.
        log.debug("invalid request body from %s: %s", environ.get("REMOTE_ADDR"), exc)
        resp.keep_alive = False
        if not resp.headers_sent:
            resp.status, resp.code = "%d %s" % (exc.status, exc.reason), exc.status
            send_quietly(sock, error_response(exc))
    except Exception:
        log.exception("Error handling request %s", req.target)
        resp.keep_alive = False
        if not resp.headers_sent:
            resp.status, resp.code, resp.headers, resp.sent = "500 Internal Server Error", 500, [], len(INTERNAL_ERROR)
            send_quietly(sock, internal_error_response())
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("Error closing the response iterable of %s", req.target)
        took = time.time() - started
        ctx.record(resp.code, took, resp.sent)
        if ctx.access_log is not None:
            try:
                ctx.access_log.write(environ, resp.status, resp.headers or [], resp.sent, took)
            except Exception:
                log.exception("Error writing the access log")
        if hooks is not None:
            hooks.post_request(hook_req, environ, resp)
    if not complete:
        return False, (None if body.unconsumed() else b"")
    if not body.done:
        if not resp.keep_alive or body.on_first_read is not None:
            # (A client still waiting for 100 Continue would never send the body we would drop.)
            return False, None
        # Keep-alive: drop the unread body (bounded) so the next request starts where it should.
        try:
            if not body.discard(DISCARD_LIMIT):
                return False, None
        except (errors.RequestError, OSError) + errors.TIMEOUTS:
            return False, None
    return resp.keep_alive, body.rest()


def _ignore(code, seconds, sent):
    pass


def send_quietly(sock, data):
    """Sends to a client that may have gone away (every loop's error answers); True when it all went out."""
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True
