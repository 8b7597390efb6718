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

The counters are counted in the process, in a plain list (a "tally"; one per thread in the gthread worker,
whose pool threads finish requests concurrently: no lock), and published into the slot at every heartbeat
(the loops' tick: 0.25 s apart while they serve, at most 1 s idle) and on the way out (exit, the watchdog's
SIGABRT). Counting into the mapping itself cost a worker 3-4 % more machine instructions per request (a
double boxed and unboxed through the memoryview at each of four updates, plus gthread's lock); the tally
costs a third to a half less. Publishing is 5,000 instructions (19 doubles packed), which is why it waits for
the tick rather than each return to idle: a gthread worker under load goes idle every few requests. So the
slot lags what the worker counted by at most a tick; nothing that ends quietly is lost; a worker killed
outright (SIGKILL, a crash) loses what it counted since it last published.

Every store is one field's store (a double through a cast memoryview, the state byte) or a copy of bytes
already packed (a slice assignment: one memcpy), never struct.pack_into on the mapping: pack_into zero-fills
its span before it writes the fields, and the arbiter, reading the file at any
instant from another process, saw pid 0 and heartbeat 0 there (measured: 15 % of reads taken during a stream
of pack_into calls). A heartbeat read as 0 made the watchdog fall back to the worker's start time and kill a
busy, healthy worker as "WORKER TIMEOUT" (seen under wrk on the asgi worker). A copy leaves an unchanged
byte unchanged, and each aligned 8-byte field is one store.
"""

import bisect
import functools
import itertools
import mmap
import os
import struct
import sys
import threading
import time

SLOT_SIZE = 512
BOOTING, IDLE, BUSY, EXITING = 1, 2, 3, 4

_HEAD = struct.Struct("<IBBHddd")  # pid .. requests: bytes 0-31
_REQUEST = struct.Struct("<d16s200s")  # request start, method, path: bytes 32-255
_CONNECTIONS = struct.Struct("<I")  # open connections: bytes 256-259
# The counters, bytes 264-415, as 19 doubles: [0..4] by status class, [5] seconds, [6..17] buckets, [18] bytes.
_COUNTERS_AT, _COUNTERS = 264, 19
_COUNTERS_PACKED = struct.Struct("<%dd" % _COUNTERS)
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
        # The head's four doubles (heartbeat, booted at, served, request start) as an array of doubles over the
        # mapping itself: an update is one 8-byte store.
        # (The layout is little-endian; a big-endian host goes through a copy packed with struct.)
        view = memoryview(self.mem)[self.at + 8:self.at + 40]
        self.times = view.cast("d") if sys.byteorder == "little" else _PackedDoubles(view)
        # The counters: this process's tallies (module docstring), summed into the slot by publish().
        self.tallies = []
        self.tally = self.new_tally()
        # record(code, seconds, sent): one finished request, into the main thread's tally.
        self.record = counter(itertools.repeat(self.tally).__next__)
        self.thread_local = None
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
        self.publish()

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

    def new_tally(self):
        tally = [0.0] * _COUNTERS
        self.tallies.append(tally)
        return tally

    def thread_record(self):
        """record(code, seconds, sent) for a loop that finishes requests in several threads (gthread): each
        thread counts into its own tally, found through a thread-local: this thread into the main tally, every
        other thread once it has called adopt_thread()."""
        self.thread_local = threading.local()
        self.thread_local.tally = self.tally
        return counter(functools.partial(getattr, self.thread_local, "tally"))

    def adopt_thread(self):
        self.thread_local.tally = self.new_tally()

    def publish(self):
        """The tallies, summed, into the slot's counters (one copy: no reader sees a half-written counter)."""
        tallies = self.tallies
        at = self.at + _COUNTERS_AT
        self.mem[at:at + 8 * _COUNTERS] = _COUNTERS_PACKED.pack(*(tallies[0] if len(tallies) == 1 else map(sum, zip(*tallies))))

    def exiting(self):
        self.publish()
        self._write_head(EXITING)

    def set_debug_port(self, port):
        self.debug_port = port
        self._write_head(self.state)


def counter(get_tally, _bucket=bisect.bisect_left, _bounds=BUCKETS, _first=BUCKETS[0]):
    """The per-request recorder: record(code, seconds, sent) counts one finished request (its status code, 0
    when no response began; its duration; its body bytes) into the tally get_tally() returns, a call into C
    (itertools.repeat(tally).__next__, or a thread-local's getattr).

    On every request's path: the indexes are literals and the rest closure cells (no global or attribute
    lookups); `python3 test/bench/hotpath.py --instructions` counts what it costs."""

    def record(code, seconds, sent):
        c = get_tally()
        if 100 <= code < 600:
            c[code // 100 - 1] += 1
        # (Most requests fall in the first bucket: no bisect for them.)
        c[6 if seconds <= _first else 6 + _bucket(_bounds, seconds)] += 1  # _BUCKET0
        c[5] += seconds  # _SECONDS
        if sent:
            c[18] += sent  # _BYTES

    return record


class _PackedDoubles(object):
    """The head's doubles on a big-endian host: indexable doubles stored little-endian into the slot."""

    _ONE = struct.Struct("<d")

    def __init__(self, view):
        self.view = view

    def __getitem__(self, i):
        return self._ONE.unpack_from(self.view, 8 * i)[0]

    def __setitem__(self, i, value):
        self.view[8 * i:8 * i + 8] = self._ONE.pack(value)
