"""This worker's slot in the arbiter's scoreboard file: heartbeat, state and current request.

The slot is mapped into memory (MAP_SHARED), so an update is a store, not a system call; the
arbiter's read() of the file sees it at once, since both go through the same page cache.

The layout mirrors runtime/src/scoreboard.ts (512 bytes a slot, little-endian):
  0 u32 pid  4 u8 state  5 u8 debugger  6 u16 debug port  8 f64 heartbeat  16 f64 booted at
 24 f64 requests served  32 f64 request start  40 16s method  56 200s path
256 u32 open connections  260 u32 (reserved)
264 f64[5] responses by status class 1xx..5xx   304 f64 seconds spent on requests (sum)
312 f64[12] requests by duration bucket (not cumulative; upper bounds BUCKETS, the last +Inf)
408 f64 response body bytes sent              416..511 reserved
The counters only grow during a worker's life; the arbiter adds a dead worker's last values to its totals.

Every store is one field's store (a double through a cast memoryview, the state byte) or a copy of bytes
already packed (a slice assignment: one memcpy), never struct.pack_into on the mapping: pack_into zero-fills its span before it writes the fields, and the arbiter, reading the file at any
instant from another process, saw pid 0 and heartbeat 0 there (measured: 15 % of reads taken during a stream
of pack_into calls). A heartbeat read as 0 made the watchdog fall back to the worker's start time and kill a
busy, healthy worker as "WORKER TIMEOUT" (seen under wrk on the asgi worker). A copy leaves an unchanged
byte unchanged, and each aligned 8-byte field is one store.
"""

import bisect
import mmap
import os
import struct
import sys
import time

SLOT_SIZE = 512
BOOTING, IDLE, BUSY, EXITING = 1, 2, 3, 4

_HEAD = struct.Struct("<IBBHddd")  # pid .. requests: bytes 0-31
_REQUEST = struct.Struct("<d16s200s")  # request start, method, path: bytes 32-255
_CONNECTIONS = struct.Struct("<I")  # open connections: bytes 256-259
# The counters, bytes 264-415, as 19 doubles: [0..4] by status class, [5] seconds, [6..17] buckets, [18] bytes.
_COUNTERS_AT, _COUNTERS = 264, 19
_SECONDS, _BUCKET0, _BYTES = 5, 6, 18
# Upper bounds of the duration buckets (Prometheus' defaults); a 12th counts the rest (+Inf).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Scoreboard(object):
    """The loops' status hooks (heartbeat / idle / busy), written into this worker's mapped slot."""

    def __init__(self, path, slot):
        offset = slot * SLOT_SIZE
        base = offset - offset % mmap.ALLOCATIONGRANULARITY  # mmap offsets are page-aligned
        fd = os.open(path, os.O_RDWR)
        try:
            self.mem = mmap.mmap(fd, offset + SLOT_SIZE - base, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                                 offset=base)
        finally:
            os.close(fd)  # the mapping stays valid (and writable after a switch to another user)
        self.at = offset - base
        self.pid = os.getpid()
        self.booted_at = time.time()
        self.served = 0
        self.debug_port = 0
        self.state = BOOTING
        # The per-request counters, and the head's four doubles (heartbeat, booted at, served, request start), as
        # arrays of doubles over the mapping itself: an update is one 8-byte store.
        # (The layout is little-endian; a big-endian host goes through a copy packed with struct.)
        doubles = (lambda view: view.cast("d")) if sys.byteorder == "little" else _PackedCounters
        mem = memoryview(self.mem)
        self.counters = doubles(mem[self.at + _COUNTERS_AT:self.at + _COUNTERS_AT + 8 * _COUNTERS])
        self.times = doubles(mem[self.at + 8:self.at + 40])
        self._write_head(BOOTING)

    def _write_head(self, state, now=None):
        """The whole head (pid, state, debugger, port, heartbeat, booted at, served): at boot and on a debugger."""
        self.state = state
        now = time.time() if now is None else now
        at = self.at
        self.mem[at:at + 32] = _HEAD.pack(self.pid, state, 1 if self.debug_port else 0, self.debug_port, now,
                                          self.booted_at, self.served)

    def heartbeat(self):
        self.times[0] = time.time()

    def idle(self, served):
        self.served = served
        times = self.times
        times[2] = served
        times[0] = time.time()
        self.state = self.mem[self.at + 4] = IDLE

    def busy(self, req, served=None):
        """`served`: the count so far, for loops (gthread) that may stay busy between idle() calls."""
        now = time.time()
        mem, at, times = self.mem, self.at, self.times
        if served is not None:
            self.served = times[2] = served
        # The request first, then the state: a reader never sees "busy" with the previous request.
        # (struct cuts the method and the path to their fields' 16 and 200 bytes.)
        mem[at + 32:at + 256] = _REQUEST.pack(now, req.method.encode("latin-1", "replace"),
                                              req.path.encode("latin-1", "replace"))
        times[0] = now
        self.state = mem[at + 4] = BUSY

    def connections(self, count):
        """Loops that hold several connections (gthread, asgi, gevent) report how many are open."""
        at = self.at + 256
        self.mem[at:at + 4] = _CONNECTIONS.pack(count)

    def record(self, code, seconds, sent, _bucket=bisect.bisect_left, _bounds=BUCKETS, _first=BUCKETS[0]):
        """One finished request: its status code (0 when no response began), duration and body bytes.

        Four stores. Not atomic across threads: a loop that records from several threads holds a lock.
        On every request's path: the indexes are literals and the lookups default arguments (no global
        or attribute lookups), which takes about a quarter off its ~1 µs (test/bench/scoreboard_cost.py).
        """
        c = self.counters
        if 100 <= code < 600:
            c[code // 100 - 1] += 1
        # (Most requests fall in the first bucket: no bisect for them.)
        c[6 if seconds <= _first else 6 + _bucket(_bounds, seconds)] += 1  # _BUCKET0
        c[5] += seconds  # _SECONDS
        if sent:
            c[18] += sent  # _BYTES

    def exiting(self):
        self._write_head(EXITING)

    def set_debug_port(self, port):
        self.debug_port = port
        self._write_head(self.state)


class _PackedCounters(object):
    """The counters on a big-endian host: indexable doubles stored little-endian into the slot."""

    _ONE = struct.Struct("<d")

    def __init__(self, view):
        self.view = view

    def __getitem__(self, i):
        return self._ONE.unpack_from(self.view, 8 * i)[0]

    def __setitem__(self, i, value):
        self.view[8 * i:8 * i + 8] = self._ONE.pack(value)
