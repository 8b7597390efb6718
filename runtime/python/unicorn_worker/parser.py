"""The one HTTP/1.1 request parser of every worker class (sync, gthread, asgi): sans-IO, on byte buffers.

Nothing here reads or writes a socket; a loop feeds the bytes it received and acts on what comes back.

The API (stable; the asgi worker builds on it):

    limits = Limits.from_settings(settings)     # limit_request_line / _fields / _field_size
    cfg = ParserConfig.from_settings(settings)  # permit_unconventional_http_method, casefold_http_method,
                                                # header_map, permit_obsolete_folding,
                                                # permit_unconventional_http_version

    # 1. Collect the head: call after each recv with everything received so far (loop.head_step wraps
    #    this with the PROXY protocol header; loop.ConnState/advance_setup do the TLS/PROXY setup).
    buf, end = take_head(buf, len(new_bytes), limits, cfg)  # end >= 0: the head is buf[:end], the body
                                                            # starts at end + 4 (leading empty lines are
                                                            # skipped; a partial head is checked as it
                                                            # arrives and refused as soon as it cannot
                                                            # become acceptable)
    # 2. Parse it.
    req = parse_head(buf[:end], limits, cfg)   # -> Request, or raises errors.RequestError (status on the class)
    # 3. Frame the body (body.py): feed what follows the head, then each recv.
    framer = body.framer_for(req, limits)      # LengthFramer or ChunkedDecoder
    data = framer.feed(buf[end + 4:])          # -> decoded body bytes (maybe b""); raises RequestError
    framer.done                                # True once the body is complete
    framer.extra                               # bytes received beyond the body: the next (pipelined) request
    # EOF before framer.done: the body is incomplete; never treat it as complete (RFC 9112 §8).

Request: method, target (the raw request-target), path (percent-decoded, latin-1), query, protocol
("HTTP/1.1"), version ((1, 1) or (1, 0): the semantics applied), headers ([(UPPER-NAME, value)]),
content_length (int or None), chunked, expect_continue, keep_alive.

Everything that could let two parties disagree about where a request ends is refused here, before the
app runs. The rules are gunicorn 26's (RFC 9110/9112); test/fuzz/DIFFERENCES.md lists where they differ
from h11's.
"""

import re
from urllib.parse import unquote_to_bytes, urlsplit

from . import errors

# gunicorn's hard caps: a request line never exceeds 8190 bytes, a head never has more than 32768 fields.
MAX_REQUEST_LINE = 8190
MAX_HEADERS = 32768
# With limit_request_field_size = 0 ("unlimited") a field is still bounded, so memory is.
MAX_FIELD_SIZE = 1 << 20

TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(TOKEN + rb"\Z")
_FIELD_NAME_RE = re.compile(TOKEN + rb":")
# gunicorn's conventional method: a token without lower case or '#', 3 to 20 characters.
_CONVENTIONAL_METHOD_RE = re.compile(rb"[!$%&'*+.^_`|~0-9A-Z-]{3,20}\Z")
# The common methods, and their names as str (no checks, no decoding for them).
_COMMON_METHODS = dict((m, m.decode("ascii")) for m in (b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"))
_VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])\Z")
# authority-form (RFC 9112 §3.2.3): host:port, the host a name, an IPv4 address or an [IPv6] literal.
_AUTHORITY_RE = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+):[0-9]{1,5}\Z")
_SCHEME_RE = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://")

# Field names seen so far, raw -> validated and upper-cased (a client's names are few; the table is bounded).
_FIELD_NAMES = {}
_FIELD_NAMES_MAX = 4096
_FIELD_NAME_CACHED = 64  # longer names are checked each time (the table stays under a megabyte)
# The fields parse_head looks at itself.
_CONTENT_LENGTH, _TRANSFER_ENCODING, _EXPECT, _HOST, _CONTENT_TYPE, _CONNECTION = range(6)
_SPECIAL_FIELDS = {
    "CONTENT-LENGTH": _CONTENT_LENGTH, "TRANSFER-ENCODING": _TRANSFER_ENCODING, "EXPECT": _EXPECT, "HOST": _HOST,
    "CONTENT-TYPE": _CONTENT_TYPE, "CONNECTION": _CONNECTION,
}

_BARE_CR_LF_RE = re.compile(rb"(?<!\r)\n|\r(?!\n)")
# Bytes allowed anywhere in a head: visible ASCII, obs-text, SP, HTAB and the CRLF line ends.
_HEAD_BYTES = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t\r\n"

# Fields a chunked trailer must not carry (RFC 9110 §6.5.1: framing, routing, request modifiers,
# authentication, content processing): a proxy that merges trailers into the head would act on them.
FORBIDDEN_TRAILERS = frozenset(n.encode("ascii") for n in (
    "TRANSFER-ENCODING", "CONTENT-LENGTH", "HOST", "TRAILER", "TE", "CONNECTION", "KEEP-ALIVE", "UPGRADE",
    "CACHE-CONTROL", "EXPECT", "MAX-FORWARDS", "PRAGMA", "RANGE", "IF-MATCH", "IF-NONE-MATCH",
    "IF-MODIFIED-SINCE", "IF-UNMODIFIED-SINCE", "IF-RANGE", "AUTHORIZATION", "PROXY-AUTHORIZATION",
    "COOKIE", "SET-COOKIE", "WWW-AUTHENTICATE", "PROXY-AUTHENTICATE", "CONTENT-ENCODING", "CONTENT-TYPE",
    "CONTENT-RANGE", "AGE", "EXPIRES", "DATE", "LOCATION", "RETRY-AFTER", "VARY", "WARNING",
))
# Transfer codings gunicorn passes on to the app (it decodes only chunked; the connection then closes).
_PASSED_CODINGS = frozenset(["gzip", "deflate", "compress", "x-gzip", "x-compress"])
HEADER_MAPS = ("drop", "refuse", "dangerous")


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
        # A field line counts with its CRLF, as in gunicorn: the line itself may have field_size - 2 bytes.
        self.field_size = field_size
        # The largest head that could still be valid; more bytes without a blank line is an attack.
        self.max_head = request_line + 2 + min(fields * (field_size + 2), 64 << 20) + 2

    @classmethod
    def from_settings(cls, settings):
        """The arbiter sends these typed (ints, defaults applied): read, never re-defaulted."""
        return cls(
            settings["limit_request_line"], settings["limit_request_fields"], settings["limit_request_field_size"],
        )


class ParserConfig(object):
    """The parsing choices gunicorn makes configurable; the defaults are gunicorn 26's strict ones."""

    __slots__ = (
        "permit_unconventional_http_method", "casefold_http_method", "header_map",
        "permit_obsolete_folding", "permit_unconventional_http_version", "forwarders",
    )

    def __init__(self, permit_unconventional_http_method=False, casefold_http_method=False, header_map="drop",
                 permit_obsolete_folding=False, permit_unconventional_http_version=False, forwarder_headers=()):
        if header_map not in HEADER_MAPS:
            raise ValueError("header_map must be one of %s, not %r" % (", ".join(HEADER_MAPS), header_map))
        self.permit_unconventional_http_method = bool(permit_unconventional_http_method)
        self.casefold_http_method = bool(casefold_http_method)
        self.header_map = header_map
        self.permit_obsolete_folding = bool(permit_obsolete_folding)
        self.permit_unconventional_http_version = bool(permit_unconventional_http_version)
        # forwarder_headers (SCRIPT_NAME, REMOTE_USER …): kept whatever header_map says; the WSGI layer takes
        # them from a trusted proxy (forwarded_allow_ips) and drops them from anyone else, as gunicorn does.
        self.forwarders = frozenset(h.upper() for h in forwarder_headers)

    @classmethod
    def from_settings(cls, settings):
        return cls(
            settings["permit_unconventional_http_method"], settings["casefold_http_method"], settings["header_map"],
            settings["permit_obsolete_folding"], settings["permit_unconventional_http_version"],
            settings["forwarder_headers"],
        )


DEFAULT_CONFIG = ParserConfig()


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
    if len(buf) > limits.request_line + 1 and buf.find(b"\r\n", 0, limits.request_line + 2) < 0:
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


def take_head(buf, added, limits, cfg=DEFAULT_CONFIG):
    """The head-reading step every loop shares: (buf, end) after `added` new bytes arrived at the end of buf.

    Leading empty lines are dropped from the returned buf; `end` is where the head's blank line starts
    (-1: more bytes needed). Raises RequestError when the bytes can no longer become an acceptable head:
    a partial head is checked as far as it goes (request line, bare CR/LF, control bytes), so a bad
    one is answered 400 at once rather than when the client gives up.
    """
    if buf[:2] == b"\r\n":
        skip = skip_empty_lines(buf)
        buf = buf[skip:]
        added = min(added, len(buf))
    else:
        # The usual case, inline: the whole head is here.
        start = len(buf) - added - 3
        end = buf.find(b"\r\n\r\n", start if start > 0 else 0)
        if end >= 0:
            return buf, end
    end = head_end(buf, max(0, len(buf) - added - 3), limits)
    if end < 0 and buf:
        _check_partial_head(buf, len(buf) - added, limits, cfg)
    return buf, end


def _check_partial_head(buf, start, limits, cfg):
    """Checks what arrived at `start` and after (so a head trickled byte by byte costs linear time)."""
    start = max(0, start)
    if buf[start:].translate(None, _HEAD_BYTES):
        raise errors.InvalidHeader("control character in request head")
    bare = _BARE_CR_LF_RE.search(buf, max(0, start - 1))
    if bare is not None and bare.start() != len(buf) - 1:  # (a final CR may be half of a CRLF)
        raise errors.InvalidHeader("bare CR or LF in request head")
    first = buf.find(b"\r\n")
    if first >= 0 and first + 1 >= start:  # the request line just became complete
        _parse_request_line(Request(), buf[:first], limits, cfg)


def parse_head(head, limits, cfg=DEFAULT_CONFIG):
    """Parses `head` (bytes, without the final CRLFCRLF) into a Request or raises a RequestError."""
    if head.translate(None, _HEAD_BYTES):
        raise errors.InvalidHeader("control character in request head")
    lines = head.split(b"\r\n")
    nlines = len(lines) - 1
    # Every CR and LF must belong to a CRLF pair: a bare CR or LF is how smuggling starts.
    if head.count(b"\r") != nlines or head.count(b"\n") != nlines:
        raise errors.InvalidHeader("bare CR or LF in request head")

    req = Request()
    _parse_request_line(req, lines[0], limits, cfg)

    if nlines > limits.fields:
        raise errors.TooManyHeaders("more than %d header fields" % limits.fields)
    headers = []
    content_lengths = None
    transfer_codings = None
    expect = None
    connection = None
    hosts = content_types = 0
    field_size = limits.field_size - 2
    names = _FIELD_NAMES
    special = _SPECIAL_FIELDS.get
    # obs-fold: a line that starts with SP or HTAB continues the one before (looked for line by line only
    # when the head has one).
    folded = b"\r\n " in head or b"\r\n\t" in head
    i = 1
    while i <= nlines:
        line = lines[i]
        i += 1
        raw_name, colon, value = line.partition(b":")
        name = names.get(raw_name) if colon else None
        if name is None:
            # A name not seen before: a token (RFC 9110 §5.1), nothing between it and the colon.
            if not colon or not _TOKEN_RE.match(raw_name):
                if line[:1] in (b" ", b"\t"):
                    raise errors.ObsoleteLineFolding("obsolete line folding in header")
                raise errors.InvalidHeaderName("invalid header field name %r" % raw_name[:40])
            name = raw_name.decode("latin-1").upper()
            if len(names) < _FIELD_NAMES_MAX and len(raw_name) <= _FIELD_NAME_CACHED:  # bounded: clients choose them
                names[raw_name] = name
        value = value.strip(b" \t")
        size = len(line)
        if folded and i <= nlines and lines[i][:1] in (b" ", b"\t"):
            # obs-fold (RFC 9112 §5.2): refused unless permit_obsolete_folding; then joined with a space.
            if not cfg.permit_obsolete_folding:
                raise errors.ObsoleteLineFolding("obsolete line folding in header")
            parts = [value]
            while i <= nlines and lines[i][:1] in (b" ", b"\t"):
                size += len(lines[i]) + 2
                parts.append(lines[i].strip(b" \t"))
                i += 1
            value = b" ".join(parts)
        if size > field_size:
            raise errors.HeaderTooLarge("a header field is longer than %d bytes" % limits.field_size)
        value = value.decode("latin-1")
        if "_" in name and name not in cfg.forwarders:
            # X_Forwarded_For and X-Forwarded-For would share one environ key (gunicorn's header_map).
            header_map = cfg.header_map
            if header_map == "drop":
                continue
            if header_map == "refuse":
                raise errors.InvalidHeaderName("header name with an underscore %r (header_map = refuse)" % name[:40])
        headers.append((name, value))
        kind = special(name)
        if kind is None:
            continue
        if kind == _CONTENT_LENGTH:
            content_lengths = (content_lengths or []) + [value]
        elif kind == _TRANSFER_ENCODING:
            transfer_codings = (transfer_codings or []) + value.split(",")
        elif kind == _EXPECT:
            expect = value
        elif kind == _HOST:
            hosts += 1
        elif kind == _CONTENT_TYPE:
            content_types += 1
        else:
            connection = value if connection is None else connection + "," + value
    # Fields that must be unique: two Hosts let a proxy and the app route the same request differently,
    # two Content-Types let them read the body differently. (A missing Host is tolerated, as gunicorn does.)
    if hosts > 1:
        raise errors.InvalidHeader("more than one Host header")
    if content_types > 1:
        raise errors.InvalidHeader("more than one Content-Type header")
    req.headers = headers
    req.content_length = None
    req.chunked = False
    must_close = False
    if transfer_codings is not None:
        must_close = _check_transfer_encoding(req, transfer_codings, content_lengths)
    if not req.chunked and content_lengths is not None:
        # Repeated Content-Length is refused even when the copies agree: no proxy can disagree then.
        if len(content_lengths) > 1:
            raise errors.InvalidContentLength("more than one Content-Length")
        length = content_lengths[0]
        if not (len(length) <= 18 and length.isascii() and length.isdigit()):  # [0-9]{1,18}
            raise errors.InvalidContentLength("invalid Content-Length %r" % length[:40])
        req.content_length = int(length)
    req.expect_continue = (
        expect is not None and req.version == (1, 1) and expect.lower() == "100-continue"
    )
    # Whether the client wants the connection kept open: HTTP/1.1 unless it says close, 1.0 only if it asks.
    if must_close:
        req.keep_alive = False
    elif connection is None:
        req.keep_alive = req.version == (1, 1)
    else:
        connection = connection.lower()
        if connection == "close":
            req.keep_alive = False
        else:
            tokens = [t.strip(" \t") for t in connection.split(",")]
            req.keep_alive = "close" not in tokens and (req.version == (1, 1) or "keep-alive" in tokens)
    return req


def _parse_request_line(req, line, limits, cfg):
    if len(line) > limits.request_line:
        raise errors.RequestLineTooLong("request line is longer than %d bytes" % limits.request_line)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise errors.InvalidRequestLine("malformed request line")
    method, target, version = parts
    # RFC 9110 §9.1: a token, case-sensitive. By default gunicorn also wants its conventional form
    # (no lower case, no '#', 3 to 20 characters): "-bl" or "get" are refused, not passed on.
    name = _COMMON_METHODS.get(method)
    if name is None:
        if not _TOKEN_RE.match(method):
            raise errors.InvalidRequestMethod("invalid method %r" % method[:40])
        if not cfg.permit_unconventional_http_method and not _CONVENTIONAL_METHOD_RE.match(method):
            raise errors.InvalidRequestMethod(
                "unconventional method %r (permit_unconventional_http_method allows it)" % method[:40])
        if cfg.casefold_http_method:
            method = method.upper()
        name = method.decode("latin-1")
    req.method = name
    if version == b"HTTP/1.1":
        req.version = (1, 1)
        req.protocol = "HTTP/1.1"
    elif version == b"HTTP/1.0":
        req.version = (1, 0)
        req.protocol = "HTTP/1.0"
    else:
        m = _VERSION_RE.match(version)
        if m is None:
            raise errors.InvalidHTTPVersion("invalid HTTP version %r" % version[:40])
        major, minor = int(m.group(1)), int(m.group(2))
        if major != 1 and not cfg.permit_unconventional_http_version:
            raise errors.InvalidHTTPVersion(
                "unsupported HTTP version %s (permit_unconventional_http_version allows it)" % version.decode())
        # RFC 9112 §2.3: a higher minor version of 1.x is processed as 1.1; (permitted) others as 1.0 or 1.1.
        req.version = (1, 0) if (major, minor) < (1, 1) else (1, 1)
        req.protocol = version.decode("latin-1")
    if b"\t" in target:
        raise errors.InvalidRequestTarget("whitespace in the request target")
    req.target = target_text = target.decode("latin-1")

    if target[:1] == b"/":
        if method == b"CONNECT":
            raise errors.InvalidRequestTarget("CONNECT needs an authority-form target (host:port)")
        path = target
    else:
        path = _other_target_form(method, target)

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
    req.path = target_text if path is target else path.decode("latin-1")


def _other_target_form(method, target):
    """The path of an asterisk-, authority- or absolute-form target (RFC 9112 §3.2), checked against the method.

    PATH_INFO is what gunicorn 26 gives (urlsplit of the target): '*' for `OPTIONS *`, the path of an
    absolute URI, and for authority-form what urlsplit makes of host:port.
    """
    if target == b"*":
        if method != b"OPTIONS":
            raise errors.InvalidRequestTarget("'*' is only valid for OPTIONS")
        return b"*"
    if method == b"CONNECT":
        if not _AUTHORITY_RE.match(target):
            raise errors.InvalidRequestTarget("CONNECT needs an authority-form target (host:port)")
        try:
            parts = urlsplit(target.decode("latin-1"))
        except ValueError:
            raise errors.InvalidRequestTarget("invalid authority %r" % target[:40])
        return (parts.path + ("?" + parts.query if parts.query else "")).encode("latin-1")
    if _SCHEME_RE.match(target):
        try:
            parts = urlsplit(target.decode("latin-1"))
        except ValueError:
            raise errors.InvalidRequestTarget("invalid absolute URI %r" % target[:40])
        if not parts.netloc:
            raise errors.InvalidRequestTarget("absolute URI without a host")
        return (parts.path + ("?" + parts.query if parts.query else "")).encode("latin-1")
    if _AUTHORITY_RE.match(target):
        raise errors.InvalidRequestTarget("authority-form target is only valid for CONNECT")
    raise errors.InvalidRequestTarget("invalid request target %r" % target[:40])


def _check_transfer_encoding(req, codings, content_lengths):
    """Transfer-Encoding as gunicorn 26 reads it; True when the connection must close after this request.

    chunked must come last and once; identity before it is ignored; gzip/deflate/compress before it are
    left to the app (the header is passed on) and the connection closes; any other coding gets 501.
    """
    codings = [c.strip(" \t").lower() for c in codings]
    chunked = False
    must_close = False
    for coding in codings:
        if chunked:
            raise errors.InvalidTransferEncoding("chunked must be the last transfer coding, and appear once")
        if coding == "chunked":
            chunked = True
        elif coding in _PASSED_CODINGS:
            must_close = True
        elif coding != "identity":
            if coding == "" or not _TOKEN_RE.match(coding.encode("latin-1")):
                raise errors.InvalidTransferEncoding("invalid Transfer-Encoding %r" % ",".join(codings)[:60])
            raise errors.UnsupportedTransferEncoding("unsupported transfer coding %r" % coding[:40])
    if chunked:
        # RFC 9112 §6.1: chunked on HTTP/1.0 is always faulty; with a Content-Length, who wins is ambiguous.
        if req.version == (1, 0):
            raise errors.InvalidTransferEncoding("Transfer-Encoding: chunked in an HTTP/1.0 request")
        if content_lengths is not None:
            raise errors.AmbiguousFraming("both Content-Length and Transfer-Encoding: chunked")
        req.chunked = True
    elif must_close:
        # RFC 9112 §6.3: a request whose final coding is not chunked has no determinable length.
        raise errors.InvalidTransferEncoding("Transfer-Encoding %r does not end with chunked" % ",".join(codings)[:60])
    return must_close


def parse_trailer_line(line, limits):
    """Validates one trailer field line of a chunked body (header rules, plus the forbidden fields)."""
    if len(line) > limits.field_size - 2:
        raise errors.HeaderTooLarge("a trailer field is longer than %d bytes" % limits.field_size)
    if line.translate(None, _HEAD_BYTES[:-2]):
        raise errors.InvalidHeader("control character in trailer")
    m = _FIELD_NAME_RE.match(line)
    if m is None:
        if line[:1] in (b" ", b"\t"):
            raise errors.ObsoleteLineFolding("obsolete line folding in trailer")
        raise errors.InvalidHeaderName("invalid trailer field name")
    name = line[:m.end() - 1].upper()
    if name in FORBIDDEN_TRAILERS:
        raise errors.ForbiddenTrailer("%s is not allowed in a trailer (RFC 9110 §6.5.1)" % name.decode("latin-1"))
    return name.decode("latin-1"), line[m.end():].strip(b" \t").decode("latin-1")


def has_bad_bytes(data):
    """True when `data` holds a control character other than HTAB (or a bare CR/LF)."""
    return bool(data.translate(None, _HEAD_BYTES[:-2]))
