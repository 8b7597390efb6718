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
_HEARTBEAT = struct.Struct("<d")
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
        # The per-request counters as an array of doubles over the mapping itself: an update is a store.
        # (The layout is little-endian; a big-endian host goes through a copy packed with struct.)
        view = memoryview(self.mem)[self.at + _COUNTERS_AT:self.at + _COUNTERS_AT + 8 * _COUNTERS]
        self.counters = view.cast("d") if sys.byteorder == "little" else _PackedCounters(view)
        self._write_head(BOOTING)

    def _write_head(self, state, now=None):
        self.state = state
        now = time.time() if now is None else now
        _HEAD.pack_into(self.mem, self.at, self.pid, state, 1 if self.debug_port else 0, self.debug_port, now,
                        self.booted_at, self.served)

    def heartbeat(self):
        _HEARTBEAT.pack_into(self.mem, self.at + 8, time.time())

    def idle(self, served):
        self.served = served
        self._write_head(IDLE)

    def busy(self, req, served=None):
        """`served`: the count so far, for loops (gthread) that may stay busy between idle() calls."""
        if served is not None:
            self.served = served
        now = time.time()
        # The request first, then the state: a reader never sees "busy" with the previous request.
        _REQUEST.pack_into(self.mem, self.at + 32, now, req.method.encode("latin-1", "replace")[:16],
                           req.path.encode("latin-1", "replace")[:200])
        self._write_head(BUSY, now)

    def connections(self, count):
        """Loops that hold several connections (gthread, asgi, gevent) report how many are open."""
        _CONNECTIONS.pack_into(self.mem, self.at + 256, count)

    def record(self, code, seconds, sent, _bucket=bisect.bisect_left, _bounds=BUCKETS):
        """One finished request: its status code (0 when no response began), duration and body bytes.

        Four stores. Not atomic across threads: a loop that records from several threads holds a lock.
        On every request's path: the indexes are literals and the lookups default arguments (no global
        or attribute lookups), which takes about a quarter off its ~1 µs (test/bench/scoreboard_cost.py).
        """
        c = self.counters
        if 100 <= code < 600:
            c[code // 100 - 1] += 1
        c[6 + _bucket(_bounds, seconds)] += 1  # _BUCKET0
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
        self._ONE.pack_into(self.view, 8 * i, value)
