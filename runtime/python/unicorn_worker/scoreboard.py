"""This worker's slot in the arbiter's scoreboard file: heartbeat, state and current request.

The slot is mapped into memory (MAP_SHARED), so an update is a store, not a system call; the
arbiter's read() of the file sees it at once, since both go through the same page cache.

The layout mirrors runtime/src/scoreboard.ts (512 bytes a slot, little-endian):
  0 u32 pid  4 u8 state  5 u8 debugger  6 u16 debug port  8 f64 heartbeat  16 f64 booted at
 24 f64 requests served  32 f64 request start  40 16s method  56 200s path
256 u32 open connections  260..511 reserved for per-worker metrics counters
"""

import mmap
import os
import struct
import time

SLOT_SIZE = 512
BOOTING, IDLE, BUSY, EXITING = 1, 2, 3, 4

_HEAD = struct.Struct("<IBBHddd")  # pid .. requests: bytes 0-31
_REQUEST = struct.Struct("<d16s200s")  # request start, method, path: bytes 32-255
_HEARTBEAT = struct.Struct("<d")
_CONNECTIONS = struct.Struct("<I")  # open connections: bytes 256-259


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

    def exiting(self):
        self._write_head(EXITING)

    def set_debug_port(self, port):
        self.debug_port = port
        self._write_head(self.state)
