"""The sync worker loop: wait for a listener, accept one connection, serve exactly one request, close."""

import os
import selectors
import socket
import time

from . import errors
from .loop import (
    PROXY_PENDING, READY, BaseLoop, ConnState, accept_failed, advance_setup, drain, head_step, linger, peer_name,
)
from .parser import parse_head, take_head
from .worker import preset_socket_options
from .wsgi import error_response, handle_request, send_quietly

RECV_SIZE = 65536
# The heartbeat and the parent check happen this often (seconds) under load; idle, every loop.idle_wait.
TICK = 0.25
_WAKEUP = object()


class RawConnection(object):
    """An accepted TCP connection kept as a bare descriptor on the fast path.

    CPython builds a socket object for every accept() and that costs a getsockname() system call;
    recv and send on the descriptor need none. Anything else (sendfile, shutdown, timeouts) gets a
    real socket object for the same descriptor, made once, and from then on everything goes through it.
    """

    __slots__ = ("fd", "_sock")

    def __init__(self, fd):
        self.fd = fd
        self._sock = None

    def _socket(self):
        if self._sock is None:
            self._sock = socket.socket(fileno=self.fd)
        return self._sock

    def __getattr__(self, name):
        return getattr(self._socket(), name)

    def fileno(self):
        return self.fd

    # Set by SyncWorker.run: the heartbeat, and how long a client may stay silent (the timeout).
    beat = None
    silence = None

    def recv(self, size):
        # SO_RCVTIMEO is preset on the listener at half the timeout (SyncWorker.run): a client silent that
        # long ends in EAGAIN (BlockingIOError), and _wait decides whether to wait once more.
        try:
            return os.read(self.fd, size) if self._sock is None else self._sock.recv(size)
        except BlockingIOError:
            waited = self._wait(None)
        while True:
            try:
                return os.read(self.fd, size) if self._sock is None else self._sock.recv(size)
            except BlockingIOError:
                waited = self._wait(waited)

    def sendall(self, data):
        if self._sock is not None:
            return self._sock.sendall(data)
        view = memoryview(data)
        waited = None
        while view:
            try:
                view = view[os.write(self.fd, view):]
                waited = None
            except BlockingIOError:
                waited = self._wait(waited)
        return None

    def _wait(self, waited):
        """A client silent for one slice (half the timeout): beat, so that the watchdog, which kills a worker
        silent for the timeout, never takes one that waits on a slow client for a hung one (the two would
        race at the same instant), and give up (socket.timeout) once the client was silent for the whole
        timeout. `waited`: the slices this wait has taken so far (None: this is its first)."""
        self.beat()
        waited = 1 if waited is None else waited + 1
        if waited >= 2:
            raise socket.timeout("client silent for the timeout")
        return waited

    def close(self):
        if self._sock is not None:
            self._sock.close()
        elif self.fd >= 0:
            os.close(self.fd)
        self.fd = -1


class SyncWorker(BaseLoop):
    def run(self):
        boot = self.boot
        selector = selectors.DefaultSelector()
        for ctx, sock in boot.listeners:
            selector.register(sock, selectors.EVENT_READ, (ctx, sock))
        selector.register(self.wakeup_r, selectors.EVENT_READ, _WAKEUP)
        ppid = boot.ppid
        boot.send_event({"event": "booted", "pid": os.getpid()})

        status = self.status
        RawConnection.beat = status.heartbeat
        if self.timeout:
            # Accepted sockets inherit SO_RCVTIMEO/SO_SNDTIMEO: half the timeout, so that RawConnection can
            # beat while a client is silent (see RawConnection._wait).
            for ctx, sock in boot.listeners:
                if ctx.preset_socket_options:
                    preset_socket_options(sock, self.timeout / 2.0)
        status.idle(0)
        self.next_tick = 0.0
        while self.alive:
            if self._tick_due() and os.getppid() != ppid:
                self.log.info("Parent changed, shutting down: %s", os.getppid())
                return 0
            if boot.accept_changed:
                self._set_accepting(selector, boot.want_accepting)
            for key, _ in selector.select(self.idle_wait):
                data = key.data
                if data is _WAKEUP:
                    drain(self.wakeup_r)
                    if not self.act_on_flags():
                        self.log.debug("control channel closed: the arbiter is gone, exiting")
                        return 0
                else:
                    self.accept_all(data[0], data[1], ppid)
                if not self.alive:
                    break
        if self.stop_requested:
            self.serve_queued(ppid)
        return 0

    def _set_accepting(self, selector, on):
        """Watches the listeners or stops watching them (the arbiter's "accept"), then confirms."""
        for ctx, sock in self.boot.listeners:
            registered = sock in selector.get_map()
            if on and not registered:
                selector.register(sock, selectors.EVENT_READ, (ctx, sock))
            elif not on and registered:
                selector.unregister(sock)
        self.boot.accept_applied(on)

    def serve_queued(self, ppid):
        """TERM: serves the connections already waiting in each listen queue (until it is empty once, within
        graceful_timeout), then closes this worker's copies of the listeners. See README "Stopping"."""
        deadline = time.monotonic() + self.graceful_timeout
        pending = list(self.boot.listeners)
        while pending and time.monotonic() < deadline:
            self._tick_due()
            pending = [(ctx, sock) for ctx, sock in pending if not self.accept_all(ctx, sock, ppid, deadline)]
        self.close_listeners(self.boot.listeners)

    def _tick_due(self):
        """Heartbeat at most every TICK seconds (a write each request would cost a syscall); True when it beat."""
        now = time.monotonic()
        if now < self.next_tick:
            return False
        self.next_tick = now + TICK
        self.status.heartbeat()
        return True

    def accept_all(self, ctx, listener, ppid, until=None):
        """Serves connections on one listener until its queue is empty (no select between them).

        With several listeners it takes one connection per wake-up, so a busy one cannot starve the rest.
        The slot says busy from the first request of a burst to the last, and idle once the queue is
        empty: one scoreboard write a request fewer than idle after each. `until`: the drain after TERM
        (serve regardless of `alive` until that monotonic time). True when the queue was found empty.
        """
        burst = len(self.boot.listeners) == 1
        served = self.handled
        # Plain TCP with the socket options preset on the listener: the descriptor alone will do.
        raw = ctx.preset_socket_options and ctx.tls is None
        try:
            while self.alive if until is None else time.monotonic() < until:
                try:
                    if raw:
                        fd, peer = listener._accept()
                        conn = RawConnection(fd)
                    else:
                        conn, peer = listener.accept()
                except (BlockingIOError, InterruptedError):
                    return True
                except OSError as exc:
                    if accept_failed(exc, self.log):
                        continue
                    return False
                proxy = None
                try:
                    if ctx.tls is not None:
                        conn, proxy = self.start_tls(ctx, conn, peer)
                    if conn is not None:
                        self.serve(ctx, conn, peer, proxy)
                finally:
                    if conn is not None:
                        conn.close()
                self.handled += 1
                if 0 < self.max_requests <= self.handled and self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                    return False
                if not burst or (self._tick_due() and os.getppid() != ppid):
                    return False
            return False
        finally:
            if self.handled != served:
                self.status.idle(self.handled)

    def start_tls(self, ctx, conn, peer):
        """(the TLS socket, the PROXY header's environ keys), or (None, None) with the connection closed.

        The same TLS/PROXY steps as gthread's (advance_setup), on a blocking socket: a PROXY header comes
        before the handshake; a failed handshake costs this connection and a debug line.
        """
        # Python's own timeout: the SSL layer turns a kernel SO_RCVTIMEO into errors it does not expect.
        conn.settimeout(self.timeout)
        state = ConnState(ctx, conn, peer)
        try:
            if advance_setup(state) == READY:
                return state.sock, state.proxy
        except errors.RequestError as exc:
            self.log.debug("Invalid PROXY header from %s: %s", peer_name(peer), exc)
            send_quietly(state.sock, error_response(exc))
        except (OSError, ValueError) + errors.TIMEOUTS as exc:
            self.log.debug("TLS handshake with %s failed: %s", peer_name(peer), exc)
        state.sock.close()
        return None, None

    def serve(self, ctx, conn, peer, proxy=None):
        """One connection, one request; every failure ends in a quiet close."""
        if not ctx.preset_socket_options:
            conn.settimeout(self.timeout)
            if ctx.tcp:
                try:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
        limits = ctx.limits
        buf = b""
        # A PROXY header in front of the request (over TLS it was read before the handshake).
        policy = ctx.proxy if ctx.tls is None else None
        try:
            # Read until the head is complete; the first recv usually holds the whole request.
            while True:
                data = conn.recv(RECV_SIZE)
                if not data:
                    return  # closed before a whole head: nothing to answer
                buf = buf + data if buf else data
                if policy is None:
                    buf, end = take_head(buf, len(data), limits, ctx.parser_cfg)
                else:
                    buf, end, found = head_step(buf, len(data), limits, ctx.parser_cfg, policy, peer)
                    if found is not PROXY_PENDING:
                        policy, proxy = None, found
                if end >= 0:
                    break
            req = parse_head(buf[:end], limits, ctx.parser_cfg)
            self.status.busy(req, self.handled)
            if handle_request(ctx, conn, peer, req, buf[end + 4:], False, proxy)[1] == b"":
                return  # every byte read: a plain close loses nothing
        except errors.RequestError as exc:
            self.log.debug("Invalid request from %s: %s", peer_name(peer), exc)
            ctx.record(exc.status, 0.0, 0)
            if not send_quietly(conn, error_response(exc)):
                return
        except errors.TIMEOUTS:
            self.log.debug("client %s timed out", peer_name(peer))
            return
        except OSError as exc:
            self.log.debug("socket error with %s: %s", peer_name(peer), exc)
            return
        except Exception:
            # A bug of ours must cost one connection, not the worker.
            self.log.exception("Error handling a connection from %s", peer_name(peer))
            return
        linger(conn)
