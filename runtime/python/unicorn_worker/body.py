"""Request body framing, sans-IO (LengthFramer, ChunkedDecoder), and wsgi.input (Body) on top of it.

A framer takes the bytes that follow a head, as they arrive, and gives back the body's decoded bytes:

    framer = framer_for(req, limits)
    data = framer.feed(received)   # decoded body bytes, maybe b""; raises errors.RequestError on bad framing
    framer.done                    # the body is complete
    framer.extra                   # bytes after the body (the next pipelined request), once done
    framer.trailers                # chunked only: [(UPPER-NAME, value)] of the trailer section

EOF before `done` means the body is incomplete: the caller closes, it never passes it on as complete.
"""

import re

from . import errors
from .parser import has_bad_bytes, parse_trailer_line

RECV_SIZE = 65536
# A chunk-size line with extensions longer than this is not a real client.
MAX_CHUNK_LINE = 4096
# chunk-size [ BWS ";" chunk-ext ]: 16 hex digits at most (more would overflow 64 bits), no whitespace
# after the size unless an extension follows ("0 \r\n" is refused, "5 ;x\r\n" is not; RFC 9112 §7.1.1).
_CHUNK_SIZE_RE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;.*)?\Z", re.S)
_SIZE, _DATA, _DATA_END, _TRAILER = 0, 1, 2, 3


class LengthFramer(object):
    """A body of Content-Length bytes (0 when the request has neither Content-Length nor chunked)."""

    __slots__ = ("remaining", "done", "extra", "trailers")

    def __init__(self, length):
        self.remaining = length
        self.done = length == 0
        self.extra = b""
        self.trailers = ()

    def feed(self, data):
        remaining = self.remaining
        if len(data) < remaining:
            self.remaining = remaining - len(data)
            return data
        if self.done:
            self.extra += data
            return b""
        self.remaining = 0
        self.done = True
        self.extra = data[remaining:]
        return data[:remaining]


class ChunkedDecoder(object):
    """RFC 9112 §7.1 chunked framing, strict: every framing error raises before its bytes are passed on."""

    __slots__ = ("limits", "buf", "state", "left", "done", "extra", "trailers")

    def __init__(self, limits):
        self.limits = limits
        self.buf = bytearray()
        self.state = _SIZE
        self.left = 0
        self.done = False
        self.extra = b""
        self.trailers = []

    def feed(self, data):
        if self.done:
            self.extra += data
            return b""
        buf = self.buf
        buf += data
        out = []
        pos = 0
        try:
            while True:
                state = self.state
                if state == _DATA:
                    take = min(self.left, len(buf) - pos)
                    if take <= 0:
                        break
                    out.append(bytes(buf[pos:pos + take]))
                    pos += take
                    self.left -= take
                    if self.left:
                        break
                    self.state = _DATA_END
                elif state == _DATA_END:
                    if len(buf) - pos < 2:
                        break
                    if buf[pos:pos + 2] != b"\r\n":
                        raise errors.ChunkMissingTerminator("chunk data not followed by CRLF")
                    pos += 2
                    self.state = _SIZE
                else:
                    line = self._line(buf, pos, MAX_CHUNK_LINE if state == _SIZE else self.limits.field_size)
                    if line is None:
                        break
                    pos += len(line) + 2
                    if state == _SIZE:
                        m = _CHUNK_SIZE_RE.match(line)
                        if m is None or has_bad_bytes(line):
                            raise errors.InvalidChunkSize("invalid chunk size line %r" % line[:40])
                        self.left = int(m.group(1), 16)
                        self.state = _DATA if self.left else _TRAILER
                    elif line:
                        if len(self.trailers) >= self.limits.fields:
                            raise errors.TooManyHeaders("more than %d trailer fields" % self.limits.fields)
                        self.trailers.append(parse_trailer_line(line, self.limits))
                    else:
                        self.done = True
                        self.extra = bytes(buf[pos:])
                        pos = len(buf)
                        break
        finally:
            del buf[:pos]
        if len(out) == 1:
            return out[0]
        return b"".join(out)

    @staticmethod
    def _line(buf, pos, limit):
        """The CRLF-terminated line at pos (without CRLF), or None while incomplete; bare CR/LF refused."""
        nl = buf.find(b"\r\n", pos)
        end = len(buf) if nl < 0 else nl
        if buf.find(b"\n", pos, end) >= 0 or buf.find(b"\r", pos, end if nl >= 0 else max(pos, end - 1)) >= 0:
            raise errors.InvalidChunkSize("bare CR or LF in chunked framing")
        if end - pos > limit:
            raise errors.InvalidChunkSize("line in chunked body longer than %d bytes" % limit)
        if nl < 0:
            return None
        return bytes(buf[pos:nl])


def framer_for(req, limits):
    """The body framer a parsed Request calls for."""
    if req.chunked:
        return ChunkedDecoder(limits)
    return LengthFramer(req.content_length or 0)


class Body(object):
    """The file-like wsgi.input over a framer and the connection's socket.

    `data` holds decoded bytes not yet handed to the app. `on_first_read` sends `100 Continue` the
    first time the app reads.
    """

    __slots__ = ("sock", "framer", "data", "on_first_read", "done")

    def __init__(self, sock, leftover, framer, on_first_read=None):
        self.sock = sock
        self.framer = framer
        self.on_first_read = on_first_read
        # The common case: the whole body came with the head.
        self.data = bytearray(framer.feed(leftover))
        # framer.done, copied after each feed (read on every request: an attribute, not a property).
        self.done = framer.done

    # -- the app's side (PEP 3333) --

    def read(self, size=-1):
        if self.on_first_read is not None:
            self._first_read()
        data = self.data
        if size is None or size < 0:
            while not self.done:
                self._fill()
            out = bytes(data)
            del data[:]
            return out
        while len(data) < size and not self.done:
            self._fill()
        out = bytes(data[:size])
        del data[:size]
        return out

    def readline(self, size=-1):
        if self.on_first_read is not None:
            self._first_read()
        if size is None:
            size = -1
        start = 0
        while True:
            nl = self.data.find(b"\n", start)
            if nl >= 0:
                end = nl + 1
                break
            if 0 <= size <= len(self.data) or self.done:
                end = len(self.data)
                break
            start = len(self.data)
            self._fill()
        if 0 <= size < end:
            end = size
        out = bytes(self.data[:end])
        del self.data[:end]
        return out

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    next = __next__

    def close(self):
        # PEP 3333 forbids the app from closing wsgi.input; the connection owns it.
        pass

    # -- the server's side --

    def prefetch(self, limit):
        """Decodes up to `limit` bytes ahead so framing errors surface before the app runs."""
        while not self.done and len(self.data) < limit:
            self._fill()

    def unconsumed(self):
        """True when request bytes remain that nobody read (the close must then linger)."""
        return not self.done or bool(self.framer.extra)

    def discard(self, limit):
        """Reads and drops what the app left of the body, up to `limit` bytes; True when the body is done."""
        while not self.done and limit >= 0:
            limit -= len(self.data)
            del self.data[:]
            self._fill()
        del self.data[:]
        return self.done

    def rest(self):
        """The bytes received beyond this request's body (the start of a pipelined request); body done only."""
        return self.framer.extra

    def _first_read(self):
        callback = self.on_first_read
        self.on_first_read = None
        if not self.done:
            callback()

    def _fill(self):
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise errors.ClientDisconnected("client closed the connection before the body was complete")
        self.data += self.framer.feed(data)
        self.done = self.framer.done
