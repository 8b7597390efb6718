"""wsgi.input: the request body, bounded by Content-Length or decoded from chunked framing as the app reads."""

import re

from . import errors
from .parser import check_field_line, has_bad_bytes

RECV_SIZE = 65536
# A chunk-size line with extensions longer than this is not a real client.
MAX_CHUNK_LINE = 4096
_CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]{1,16}\Z")


class Body(object):
    """The file-like wsgi.input over the connection's leftover bytes and socket.

    `data` holds decoded bytes not yet handed to the app; `raw` holds received bytes not yet
    decoded (chunked only). `on_first_read` sends `100 Continue` the first time the app reads.
    """

    __slots__ = (
        "sock", "raw", "data", "remaining", "chunked", "done", "limits",
        "on_first_read", "chunk_left", "trailer_fields",
    )

    def __init__(self, sock, leftover, content_length, chunked, limits, on_first_read=None):
        self.sock = sock
        self.limits = limits
        self.on_first_read = on_first_read
        self.chunked = chunked
        self.chunk_left = 0
        self.trailer_fields = 0
        if chunked:
            self.raw = bytearray(leftover)
            self.data = bytearray()
            self.remaining = 0
            self.done = False
        else:
            length = content_length or 0
            # The common case: the whole body came with the head.
            self.data = bytearray(leftover[:length])
            self.raw = bytearray(leftover[length:])
            self.remaining = length - len(self.data)
            self.done = self.remaining == 0

    # -- the app's side (PEP 3333) --

    def read(self, size=-1):
        if self.on_first_read is not None:
            self._first_read()
        if size is None or size < 0:
            while not self.done:
                self._fill()
            out = bytes(self.data)
            del self.data[:]
            return out
        while len(self.data) < size and not self.done:
            self._fill()
        out = bytes(self.data[:size])
        del self.data[:size]
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
        return bool(self.raw) or not self.done

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
        return bytes(self.raw)

    def _first_read(self):
        callback = self.on_first_read
        self.on_first_read = None
        if not self.done:
            callback()

    def _recv(self):
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise errors.ClientDisconnected("client closed the connection before the body was complete")
        return data

    def _fill(self):
        if not self.chunked:
            if self.raw:
                data = bytes(self.raw[:self.remaining])
                del self.raw[:len(data)]
            else:
                data = self._recv()
                if len(data) > self.remaining:
                    self.raw += data[self.remaining:]
                    data = data[:self.remaining]
            self.data += data
            self.remaining -= len(data)
            self.done = self.remaining == 0
            return
        self._fill_chunked()

    def _fill_chunked(self):
        """Decodes at least one step of chunked framing: a size line, some data, or the trailers."""
        raw = self.raw
        if self.chunk_left > 0:
            if not raw:
                raw += self._recv()
            take = min(self.chunk_left, len(raw))
            self.data += raw[:take]
            del raw[:take]
            self.chunk_left -= take
            if self.chunk_left == 0:
                self._chunk_terminator()
            return
        line = self._raw_line(MAX_CHUNK_LINE, errors.InvalidChunkSize)
        size_text = line.split(b";", 1)[0].rstrip(b" \t")
        if not _CHUNK_SIZE_RE.match(size_text) or has_bad_bytes(line):
            raise errors.InvalidChunkSize("invalid chunk size line %r" % bytes(line[:40]))
        size = int(size_text, 16)
        if size == 0:
            self._trailers()
            self.done = True
            return
        self.chunk_left = size

    def _chunk_terminator(self):
        raw = self.raw
        while len(raw) < 2:
            raw += self._recv()
        if raw[:2] != b"\r\n":
            raise errors.ChunkMissingTerminator("chunk data not followed by CRLF")
        del raw[:2]

    def _trailers(self):
        # Trailer fields are validated like header fields, then dropped: WSGI has no place for them.
        limits = self.limits
        while True:
            line = self._raw_line(limits.field_size, errors.HeaderTooLarge)
            if not line:
                return
            self.trailer_fields += 1
            if self.trailer_fields > limits.fields:
                raise errors.TooManyHeaders("too many trailer fields")
            check_field_line(line, limits)

    def _raw_line(self, limit, too_long):
        raw = self.raw
        start = 0
        while True:
            i = raw.find(b"\r\n", start)
            if i >= 0:
                break
            if len(raw) > limit:
                raise too_long("line in chunked body longer than %d bytes" % limit)
            start = max(0, len(raw) - 1)
            raw += self._recv()
        if i > limit:
            raise too_long("line in chunked body longer than %d bytes" % limit)
        line = bytes(raw[:i])
        del raw[:i + 2]
        if b"\r" in line or b"\n" in line:
            raise errors.InvalidChunkSize("bare CR or LF in chunked framing")
        return line
