"""HTTP/1.0 and 1.1 request heads: limits, finding the end of the head in a buffer, and strict parsing into a Request.

The parser does no I/O: a loop (sync, or later gthread's selector) collects bytes until
`head_end()` finds the blank line, then hands the head to `parse_head()`. Everything that
could let two parties disagree about where a request ends is refused here, before the app runs.
"""

import re
from urllib.parse import unquote_to_bytes

from . import errors

# gunicorn's hard caps: a request line never exceeds 8190 bytes, a head never has more than 32768 fields.
MAX_REQUEST_LINE = 8190
MAX_HEADERS = 32768
# With limit_request_field_size = 0 ("unlimited") a field is still bounded, so memory is.
MAX_FIELD_SIZE = 1 << 20

TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(TOKEN + rb"\Z")
_FIELD_NAME_RE = re.compile(TOKEN + rb":")
_VERSION_RE = re.compile(rb"HTTP/[0-9]\.[0-9]\Z")
_DIGITS_RE = re.compile(r"[0-9]{1,18}\Z")

# Bytes allowed anywhere in a head: visible ASCII, obs-text, SP, HTAB and the CRLF line ends.
_HEAD_BYTES = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t\r\n"


class Limits(object):
    """The three limit_request_* settings, normalised once the way gunicorn does."""

    __slots__ = ("request_line", "fields", "field_size", "max_head")

    def __init__(self, request_line=4094, fields=100, field_size=8190):
        # 0 means unlimited up to gunicorn's cap; larger values are capped too.
        if request_line <= 0 or request_line > MAX_REQUEST_LINE:
            request_line = MAX_REQUEST_LINE
        if fields <= 0 or fields > MAX_HEADERS:
            fields = MAX_HEADERS
        if field_size <= 0 or field_size > MAX_FIELD_SIZE:
            field_size = MAX_FIELD_SIZE
        self.request_line = request_line
        self.fields = fields
        self.field_size = field_size
        # The largest head that could still be valid; more bytes without a blank line is an attack.
        self.max_head = request_line + 2 + min(fields * (field_size + 2), 64 << 20) + 2

    @classmethod
    def from_settings(cls, settings):
        return cls(
            int(settings.get("limit_request_line", 4094) or 0),
            int(settings.get("limit_request_fields", 100) or 0),
            int(settings.get("limit_request_field_size", 8190) or 0),
        )


class Request(object):
    """One parsed request head; `headers` keeps every field in order as (UPPER-NAME, value) strings."""

    __slots__ = (
        "method", "target", "path", "query", "version", "protocol", "headers",
        "content_length", "chunked", "expect_continue", "keep_alive",
    )

    def has_body(self):
        return self.chunked or bool(self.content_length)


def head_end(buf, start, limits):
    """Index of the blank line ending the head in `buf`, or -1 if more bytes are needed.

    `start` is where to resume searching (the previous length minus 3). Raises when the bytes
    already received can no longer become an acceptable head.
    """
    end = buf.find(b"\r\n\r\n", start)
    if end >= 0:
        return end
    if buf.find(b"\r\n", 0, limits.request_line + 2) < 0 and len(buf) > limits.request_line + 1:
        raise errors.RequestLineTooLong("request line is longer than %d bytes" % limits.request_line)
    if len(buf) > limits.max_head:
        raise errors.HeaderTooLarge("request head is larger than %d bytes" % limits.max_head)
    return -1


def skip_empty_lines(buf):
    """How many leading CRLFs to ignore before a request line (RFC 9112 §2.2 allows some)."""
    n = 0
    while buf.startswith(b"\r\n", n) and n < 8:
        n += 2
    return n


def parse_head(head, limits):
    """Parses `head` (bytes, without the final CRLFCRLF) into a Request or raises a RequestError."""
    if head.translate(None, _HEAD_BYTES):
        raise errors.InvalidHeader("control character in request head")
    lines = head.split(b"\r\n")
    nlines = len(lines) - 1
    # Every CR and LF must belong to a CRLF pair: a bare CR or LF is how smuggling starts.
    if head.count(b"\r") != nlines or head.count(b"\n") != nlines:
        raise errors.InvalidHeader("bare CR or LF in request head")

    req = Request()
    _parse_request_line(req, lines[0], limits)

    if nlines > limits.fields:
        raise errors.TooManyHeaders("more than %d header fields" % limits.fields)
    headers = []
    content_lengths = None
    transfer_codings = None
    expect = None
    connection = None
    hosts = 0
    field_size = limits.field_size
    match_name = _FIELD_NAME_RE.match
    for i in range(1, nlines + 1):
        line = lines[i]
        if len(line) > field_size:
            raise errors.HeaderTooLarge("a header field is longer than %d bytes" % field_size)
        m = match_name(line)
        if m is None:
            if line[:1] in (b" ", b"\t"):
                raise errors.ObsoleteLineFolding("obsolete line folding in header")
            raise errors.InvalidHeaderName("invalid header field name")
        colon = m.end() - 1
        name = line[:colon].decode("latin-1").upper()
        value = line[colon + 1:].strip(b" \t").decode("latin-1")
        headers.append((name, value))
        if name == "CONTENT-LENGTH":
            content_lengths = (content_lengths or []) + [value]
        elif name == "TRANSFER-ENCODING":
            transfer_codings = (transfer_codings or []) + value.split(",")
        elif name == "EXPECT":
            expect = value
        elif name == "HOST":
            hosts += 1
        elif name == "CONNECTION":
            connection = value if connection is None else connection + "," + value
    # Two Host fields let a proxy and the app route the same request differently.
    # (A missing Host on HTTP/1.1 is tolerated, as gunicorn does.)
    if hosts > 1:
        raise errors.InvalidHeader("more than one Host header")
    req.headers = headers
    req.content_length = None
    req.chunked = False
    if transfer_codings is not None:
        _check_transfer_encoding(req, transfer_codings, content_lengths)
    elif content_lengths is not None:
        # Repeated Content-Length is refused even when the copies agree: no proxy can disagree then.
        if len(content_lengths) > 1:
            raise errors.InvalidContentLength("more than one Content-Length")
        if not _DIGITS_RE.match(content_lengths[0]):
            raise errors.InvalidContentLength("invalid Content-Length %r" % content_lengths[0][:40])
        req.content_length = int(content_lengths[0])
    req.expect_continue = (
        expect is not None and req.version == (1, 1) and expect.lower() == "100-continue"
    )
    # Whether the client wants the connection kept open: HTTP/1.1 unless it says close, 1.0 only if it asks.
    if connection is None:
        req.keep_alive = req.version == (1, 1)
    else:
        tokens = [t.strip(" \t").lower() for t in connection.split(",")]
        req.keep_alive = "close" not in tokens and (req.version == (1, 1) or "keep-alive" in tokens)
    return req


def _parse_request_line(req, line, limits):
    if len(line) > limits.request_line:
        raise errors.RequestLineTooLong("request line is longer than %d bytes" % limits.request_line)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise errors.InvalidRequestLine("malformed request line")
    method, target, version = parts
    # Methods are case-sensitive tokens (RFC 9110 §9.1): "get" is a method we pass on, "GE T" is not.
    if not _TOKEN_RE.match(method):
        raise errors.InvalidRequestMethod("invalid method")
    if version == b"HTTP/1.1":
        req.version = (1, 1)
    elif version == b"HTTP/1.0":
        req.version = (1, 0)
    elif _VERSION_RE.match(version):
        raise errors.UnsupportedHTTPVersion("unsupported HTTP version %s" % version.decode("latin-1"))
    else:
        raise errors.InvalidHTTPVersion("invalid HTTP version")
    req.protocol = version.decode("latin-1")
    req.method = method.decode("latin-1")
    if not target or b"\t" in target:
        raise errors.InvalidRequestTarget("invalid request target")
    req.target = target.decode("latin-1")

    first = target[:1]
    if first == b"/":
        path = target
    elif target == b"*":
        if method != b"OPTIONS":
            raise errors.InvalidRequestTarget("'*' is only valid for OPTIONS")
        # PEP 3333 wants PATH_INFO empty or starting with '/'; RAW_URI keeps the '*'.
        path = b""
    elif target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        # absolute-form: the path starts at the first '/', '?' or '#' after the authority.
        rest = target[target.index(b"//") + 2:]
        cut = len(rest)
        for sep in (b"/", b"?", b"#"):
            i = rest.find(sep)
            if 0 <= i < cut:
                cut = i
        if cut == 0:
            raise errors.InvalidRequestTarget("absolute URI without a host")
        path = rest[cut:]
        if not path.startswith(b"/"):
            path = b"/" + path
    elif method == b"CONNECT":
        path = b""
    else:
        raise errors.InvalidRequestTarget("invalid request target")

    hash_at = path.find(b"#")
    if hash_at >= 0:
        path = path[:hash_at]
    q = path.find(b"?")
    if q >= 0:
        req.query = path[q + 1:].decode("latin-1")
        path = path[:q]
    else:
        req.query = ""
    # PEP 3333: PATH_INFO is the percent-decoded bytes, as a latin-1 string.
    if b"%" in path:
        path = unquote_to_bytes(path)
    req.path = path.decode("latin-1")


def _check_transfer_encoding(req, codings, content_lengths):
    if req.version == (1, 0):
        raise errors.InvalidTransferEncoding("Transfer-Encoding in an HTTP/1.0 request")
    if content_lengths is not None:
        raise errors.AmbiguousFraming("both Content-Length and Transfer-Encoding")
    codings = [c.strip(" \t").lower() for c in codings]
    if codings[-1] != "chunked" or codings.count("chunked") != 1 or "" in codings:
        raise errors.InvalidTransferEncoding("Transfer-Encoding must end with exactly one chunked")
    if len(codings) > 1:
        # Well-formed, but we decode no coding besides chunked (RFC 9112 §6.1: 501).
        raise errors.UnsupportedTransferEncoding("unsupported transfer coding %r" % codings[0][:40])
    req.chunked = True


def check_field_line(line, limits):
    """Validates one trailer field line of a chunked body (same rules as header fields)."""
    if len(line) > limits.field_size:
        raise errors.HeaderTooLarge("a trailer field is longer than %d bytes" % limits.field_size)
    if line.translate(None, _HEAD_BYTES):
        raise errors.InvalidHeader("control character in trailer")
    if _FIELD_NAME_RE.match(line) is None:
        if line[:1] in (b" ", b"\t"):
            raise errors.ObsoleteLineFolding("obsolete line folding in trailer")
        raise errors.InvalidHeaderName("invalid trailer field name")


def has_bad_bytes(data):
    """True when `data` holds a control character other than HTAB (or a bare CR/LF)."""
    return bool(data.translate(None, _HEAD_BYTES[:-2]))
