"""What every worker loop shares: signal flags and the wake-up pipe, the head-reading step, lingering closes."""

import errno
import os
import signal
import socket
import time

from . import tls
from .parser import take_head
from .proxy import parse as parse_proxy, try_read_before_tls

# How long a close waits for the client to stop sending unread request bytes.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20


class QuickExit(SystemExit):
    """INT/QUIT: unwinds whatever the main thread is doing, a busy app included (gunicorn's sys.exit in
    handle_quit); worker_int then runs in the unwinding code (run_loop), never in the handler."""


class BaseLoop(object):
    """Signal handlers only set flags; the loop, woken through the self-pipe, acts on them (act_on_flags).

    TERM clears `alive` (graceful stop), USR1 sets `reopen_due`, USR2 is the arbiter's nudge (the control
    reader thread already reads its commands, debug included, even while the loop is busy in the app).
    INT/QUIT must stop a busy worker at once, so their handler raises QuickExit after setting the flag.
    """

    def __init__(self, boot):
        self.boot = boot
        self.log = boot.log
        self.alive = True
        # The client socket timeout; None when timeout is 0 (no watchdog, and no client timeout: gunicorn's rule).
        self.timeout = boot.client_timeout
        # How long a parked connection may take with its head (no limit when timeout is 0).
        self.head_timeout = boot.client_timeout if boot.client_timeout is not None else float("inf")
        self.max_requests = boot.max_requests
        self.handled = 0
        self.active = 0  # requests in progress
        self.reopen_due = False
        self.quitting = False
        self.graceful_timeout = boot.settings["graceful_timeout"]
        # An idle loop wakes to heartbeat at least twice per watchdog timeout (gunicorn's sync worker
        # waits timeout / 2), and at least once a second for the parent check.
        watchdog = boot.settings["timeout"]
        self.idle_wait = min(1.0, watchdog / 2.0) if watchdog else 1.0
        # TERM (not max_requests): serve what already waits in the listen queues before stopping.
        self.stop_requested = False
        # Where the loop reports heartbeat/idle/busy (the scoreboard when the arbiter gives one).
        self.status = boot.status
        self.wakeup_r = self.wakeup_w = -1

    def request_started(self, req):
        """Single-threaded loops with many requests in progress (asgi, gevent): busy from the first one.

        The slot is written when the loop turns busy; while it stays busy, the tick's refresh_busy() shows
        the latest request (a write per request would cost more than the rest of the bookkeeping)."""
        self.active += 1
        self.latest = req
        if self.active == 1:
            self.shown = req
            self.status.busy(req, self.handled)

    latest = shown = None

    def refresh_busy(self):
        """The tick's part of request_started: the slot shows the latest request started, and the count served."""
        if self.active and self.latest is not self.shown:
            self.shown = self.latest
            self.status.busy(self.shown, self.handled)

    def request_finished(self):
        """Idle after the last one; True when max_requests now calls for a graceful stop (alive is cleared)."""
        self.active -= 1
        self.handled += 1
        if self.active == 0:
            self.latest = self.shown = None
            self.status.idle(self.handled)
        if 0 < self.max_requests <= self.handled and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
            return True
        return False

    def take_connection_settings(self):
        """What the loops that hold many connections (asgi, gevent) read: the cap, keep-alive, graceful stop."""
        s = self.boot.settings
        self.max_connections = s["worker_connections"]
        self.keepalive = s["keepalive"]
        self.graceful_timeout = float(s["graceful_timeout"])

    def _on_term(self, signum, frame):
        self.alive = False
        self.stop_requested = True

    def _on_quit(self, signum, frame):
        self.alive = False
        self.quitting = True
        raise QuickExit(0)

    def _on_usr1(self, signum, frame):
        self.reopen_due = True

    def _on_usr2(self, signum, frame):
        pass  # the nudge that came with a control command; the control reader thread acts on it

    def act_on_flags(self):
        """Called by the loop after every wake-up: does what the signals asked; False when the arbiter is gone."""
        if self.reopen_due:
            self.reopen_due = False
            self.boot.reopen_logs()
        return not self.boot.arbiter_gone

    def run_loop(self):
        """Runs the worker class's loop; INT/QUIT's worker_int hook runs here, after the unwind."""
        self.boot.start_control_reader(self.wake)
        try:
            return self.run()
        except QuickExit:
            if self.boot.hooks is not None:
                self.boot.hooks.worker_int()
            return 0

    def install_signals(self):
        r, w = os.pipe()
        for fd in (r, w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        self.wakeup_r, self.wakeup_w = r, w
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_quit)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(signal.SIGUSR1, self._on_usr1)
        signal.signal(signal.SIGUSR2, self._on_usr2)
        # gunicorn's workers ignore WINCH (it is the arbiter's signal when daemonised).
        signal.signal(signal.SIGWINCH, signal.SIG_IGN)

    def close_listeners(self, listeners):
        """Drops this worker's copies of listening sockets once it takes no more connections from them.

        The kernel resets the connections waiting in a listen queue when the last descriptor of that
        socket closes; closing ours as soon as its queue is empty leaves as short a window as can be.
        """
        for _, sock in listeners:
            try:
                sock.close()
            except OSError:
                pass

    def wake(self):
        """Wakes the loop from another thread (the same pipe the signals use)."""
        try:
            os.write(self.wakeup_w, b"\0")
        except OSError:
            pass  # full: the loop is already due to wake


def accept_failed(exc, log):
    """One policy for an accept() that failed, in both loops: True to take the next connection (the
    client gave up first), False to wait for the loop's next turn (out of descriptors or memory: log
    it and go on serving); anything else is raised."""
    if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
        return True
    if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
        log.error("accept() failed: %s — raise the open files limit or lower worker_connections", exc)
        return False
    raise exc


def linger(conn):
    """Half-closes, then drains what the client still sends, so our answer is not lost to a reset: for
    LINGER_SECONDS in all (a client trickling bytes must not hold the worker past it) and LINGER_BYTES."""
    try:
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        left = LINGER_BYTES
        while left > 0:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
            conn.settimeout(wait)
            data = conn.recv(65536)
            if not data:
                return
            left -= len(data)
    except OSError:
        pass


def drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def peer_name(peer):
    if isinstance(peer, tuple):
        return "%s:%s" % (peer[0], peer[1])
    return peer or "unix socket"


# What comes before a connection's first request head; the state of ConnState.setup.
READY, PROXY_PLAIN, PROXY_BEFORE_TLS, HANDSHAKE = 0, 1, 2, 3
# advance_setup's answers besides READY: wait until the socket is readable, or writable.
WANT_READ, WANT_WRITE = 4, 5


class ConnState(object):
    """A connection before its first request: the one TLS/PROXY setup every loop drives (advance_setup).

    PROXY_PLAIN: a PROXY header may come in clear text first (read with the head, by head_step).
    PROXY_BEFORE_TLS: it may come before the TLS handshake (taken off the socket, nothing more).
    HANDSHAKE: the TLS handshake is due. READY: request bytes may be read.
    """

    __slots__ = ("sock", "ctx", "peer", "setup", "tls", "proxy")

    def __init__(self, ctx, sock, peer):
        self.sock = sock
        self.ctx = ctx
        self.peer = peer
        self.tls = False  # sock is an SSLSocket
        self.proxy = None  # the environ keys from a PROXY protocol header
        if ctx.tls is not None:
            self.setup = PROXY_BEFORE_TLS if ctx.proxy is not None else HANDSHAKE
        else:
            self.setup = PROXY_PLAIN if ctx.proxy is not None else READY


def advance_setup(conn):
    """Takes the TLS/PROXY steps as far as the socket allows: READY, WANT_READ or WANT_WRITE.

    Blocking sockets (sync) go through in one call or raise a timeout; non-blocking ones (the gthread
    selector) come back with what to wait for. Raises RequestError for a PROXY header to refuse (answer it
    in clear, as sent), OSError/ValueError when the handshake fails (plain HTTP on the TLS port, a refused
    client certificate): close the connection.
    """
    try:
        while conn.setup == PROXY_BEFORE_TLS:
            done, conn.proxy = try_read_before_tls(conn.sock, conn.ctx.proxy, conn.peer)
            if done:
                conn.setup = HANDSHAKE
            elif not conn.sock.getblocking():
                return WANT_READ
        if conn.setup == HANDSHAKE:
            if not conn.tls:
                conn.sock = conn.ctx.tls.wrap(conn.sock, False)  # same fd; the handshake is driven here
                conn.tls = True
            conn.sock.do_handshake()
            conn.setup = READY
    except tls.WANT_READ:
        return WANT_READ
    except tls.WANT_WRITE:
        return WANT_WRITE
    return READY


# head_step's proxy result while a PROXY header has begun but is not complete yet.
PROXY_PENDING = object()


def head_step(buf, added, limits, cfg, policy=None, peer=None):
    """The head-reading step of every loop, after `added` bytes arrived at the end of `buf`.

    Returns (buf, end, proxy): `end` is where the head's blank line starts in the returned buf, or -1
    while more bytes are needed. `policy` (a proxy.ProxyPolicy) is given while a PROXY header may still
    come first; then `proxy` is PROXY_PENDING while it is incomplete, else the header's environ keys,
    or None when the connection has none, and the caller stops passing `policy`.
    Raises RequestError when the bytes can no longer become an acceptable head.
    """
    proxy = None
    if policy is not None:
        found = parse_proxy(buf, policy, peer)
        if found is None:
            return buf, -1, PROXY_PENDING
        if found[0]:
            buf = buf[found[0]:]
            added = min(added, len(buf))
        proxy = found[1]
    buf, end = take_head(buf, added, limits, cfg)
    return buf, end, proxy
