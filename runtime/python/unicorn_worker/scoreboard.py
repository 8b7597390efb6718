"""This worker's slot in the arbiter's scoreboard file: heartbeat, state and current request, by pwrite.

The layout mirrors runtime/src/scoreboard.ts (256 bytes a slot, little-endian):
  0 u32 pid  4 u8 state  5 u8 debugger  6 u16 debug port  8 f64 heartbeat  16 f64 booted at
 24 f64 requests served  32 f64 request start  40 16s method  56 200s path
"""

import os
import struct
import time

SLOT_SIZE = 256
BOOTING, IDLE, BUSY, EXITING = 1, 2, 3, 4

_HEAD = struct.Struct("<IBBHddd")  # pid .. requests: bytes 0-31
_REQUEST = struct.Struct("<d16s200s")  # request start, method, path: bytes 32-255
_HEARTBEAT = struct.Struct("<d")


class Scoreboard(object):
    """The loops' status hooks (heartbeat / idle / busy), written to one slot with fixed-offset writes."""

    def __init__(self, path, slot):
        self.fd = os.open(path, os.O_WRONLY)
        self.offset = slot * SLOT_SIZE
        self.pid = os.getpid()
        self.booted_at = time.time()
        self.served = 0
        self.debug_port = 0
        self.state = BOOTING
        self._write_head(BOOTING)

    def _write_head(self, state, now=None):
        self.state = state
        now = time.time() if now is None else now
        os.pwrite(
            self.fd,
            _HEAD.pack(self.pid, state, 1 if self.debug_port else 0, self.debug_port, now, self.booted_at, self.served),
            self.offset,
        )

    def heartbeat(self):
        os.pwrite(self.fd, _HEARTBEAT.pack(time.time()), self.offset + 8)

    def idle(self, served):
        self.served = served
        self._write_head(IDLE)

    def busy(self, req, served=None):
        """`served`: the count so far, for loops (gthread) that may stay busy between idle() calls."""
        if served is not None:
            self.served = served
        now = time.time()
        # The request first, then the state: a reader never sees "busy" with the previous request.
        os.pwrite(self.fd, _REQUEST.pack(now, req.method.encode("latin-1", "replace")[:16],
                                         req.path.encode("latin-1", "replace")[:200]), self.offset + 32)
        self._write_head(BUSY, now)

    def exiting(self):
        self._write_head(EXITING)

    def set_debug_port(self, port):
        self.debug_port = port
        self._write_head(self.state)
