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


# Every wait of the worker on its client, whatever the transport (raw TCP, TLS, unix socket), follows one rule:
# a blocking call lasts at most a slice, half the timeout (the kernel's SO_RCVTIMEO/SO_SNDTIMEO on a raw
# descriptor, which ends in BlockingIOError; Python's own timeout on a socket object, which ends in
# socket.timeout: the SSL layer needs that one). After each silent slice the worker beats, so that the
# watchdog, which kills a worker silent for the timeout, never takes one that waits on a slow client for a hung
# one (the two would race at the same instant); the client is given up (socket.timeout, "client timed out")
# once it was silent for two slices in a row, the whole timeout. A client that keeps sending or reading keeps
# the worker beating too (at most a slice apart), so a slow but steady upload may take longer than the timeout.
class ClientWaits(object):
    """The rule's state, one per worker (set by SyncWorker.run)."""

    beat = None  # the heartbeat
    slice = None  # half the timeout; None: timeout 0, no client timeout and no watchdog
    due = float("inf")  # (monotonic) when a client that makes progress owes the next beat


SILENT_SLICES = 2
# The most one send hands to the SSL layer: SSL_write returns only once all of it is out, and a slice that ends
# inside it cannot tell progress from silence (one TLS record).
TLS_PIECE = 16384
# The most one sendfile call sends, so that a steady reader is seen making progress between calls.
SENDFILE_PIECE = 1 << 20
_monotonic = time.monotonic


def silent(waited):
    """One slice passed with nothing received or sent: beat, and give up once the client was silent for the
    whole timeout. `waited`: the silent slices of this wait so far (None: none); returns the new count."""
    ClientWaits.beat()
    waited = 1 if waited is None else waited + 1
    if waited >= SILENT_SLICES:
        raise socket.timeout("client silent for the timeout")
    return waited


def progressed():
    """The client made progress and a beat is due (the caller checked `_monotonic() >= ClientWaits.due`)."""
    ClientWaits.due = _monotonic() + ClientWaits.slice
    ClientWaits.beat()


def patiently(call, *args, waited=None):
    """call(*args), retried after each silent slice; for calls that are safe to repeat after a timeout (a recv,
    the TLS handshake, the PROXY header before it: nothing was taken from the client). `waited`: silent slices
    this wait already took."""
    while True:
        try:
            result = call(*args)
        except errors.TIMEOUTS:
            waited = silent(waited)
            continue
        if _monotonic() >= ClientWaits.due:
            progressed()
        return result


def send_patiently(sock, data, piece=None):
    """sendall() as one send() after another, each a wait of its own: what a slow reader takes is progress."""
    view = memoryview(data)
    while view:
        view = view[patiently(sock.send, view[:piece] if piece else view):]


def sendfile_patiently(sock, file, offset=0, count=None):
    """socket.sendfile() in pieces, each resumed after a silent slice from where it stopped (socket.sendfile
    leaves the file positioned after what it sent)."""
    sent = 0
    waited = None
    while count is None or sent < count:
        at = offset + sent
        want = SENDFILE_PIECE if count is None else min(count - sent, SENDFILE_PIECE)
        file.seek(at)
        try:
            n = sock.sendfile(file, at, want)
        except errors.TIMEOUTS:
            moved = file.tell() - at
            if moved > 0:
                sent, waited = sent + moved, None
            waited = silent(waited)
            continue
        waited = None
        if _monotonic() >= ClientWaits.due:
            progressed()
        sent += n
        if n < want:
            break  # the end of the file
    return sent


class ClientSocket(object):
    """A client connection held as a socket object (TLS, a unix socket, TCP where the options could not be
    preset on the listener): Python's timeout at a slice, and every blocking call on it patient (above).
    The app sees it as environ["gunicorn.socket"]; what it does not define goes to the socket itself."""

    __slots__ = ("sock", "piece")

    def __init__(self, sock):
        sock.settimeout(ClientWaits.slice)
        self.sock = sock
        self.piece = None

    def tls_ready(self, sock):
        """The handshake is done: from now on the connection is `sock`, the SSLSocket over the same descriptor."""
        self.sock = sock
        self.piece = TLS_PIECE

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def fileno(self):
        return self.sock.fileno()

    def bare(self):
        """The socket itself, for waits with a rule of their own (linger)."""
        return self.sock

    def recv(self, size, flags=0):
        return patiently(self.sock.recv, size, flags)

    def recv_into(self, buffer, nbytes=0, flags=0):
        return patiently(self.sock.recv_into, buffer, nbytes, flags)

    def send(self, data, flags=0):
        return patiently(self.sock.send, data[:self.piece] if self.piece else data, flags)

    def sendall(self, data):
        send_patiently(self.sock, data, self.piece)

    def sendfile(self, file, offset=0, count=None):
        return sendfile_patiently(self.sock, file, offset, count)

    def close(self):
        self.sock.close()


class RawConnection(object):
    """An accepted TCP connection kept as a bare descriptor on the fast path.

    CPython builds a socket object for every accept() and that costs a getsockname() system call;
    recv and send on the descriptor need none. Anything else (sendfile, shutdown, timeouts) gets a
    real socket object for the same descriptor, made once, and from then on everything goes through it.
    SO_RCVTIMEO/SO_SNDTIMEO are preset on the listener at a slice (SyncWorker.run): a client silent that long
    ends a read or write in EAGAIN (BlockingIOError), and the waits follow the rule above.
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

    def bare(self):
        return self._socket()

    def recv(self, size):
        try:
            data = os.read(self.fd, size) if self._sock is None else self._sock.recv(size)
        except errors.TIMEOUTS:
            return patiently(self._recv, size, waited=silent(None))
        if _monotonic() >= ClientWaits.due:
            progressed()
        return data

    def _recv(self, size):
        return os.read(self.fd, size) if self._sock is None else self._sock.recv(size)

    def sendall(self, data):
        if self._sock is not None:
            return send_patiently(self._sock, data)
        view = memoryview(data)
        waited = None
        while view:
            try:
                sent = os.write(self.fd, view)
            except BlockingIOError:
                waited = silent(waited)
                continue
            if sent == len(view):
                return None  # (one write, at most a slice long: no beat owed that the loop's next tick does not pay)
            view = view[sent:]
            waited = None
            if _monotonic() >= ClientWaits.due:
                progressed()
        return None

    def sendfile(self, file, offset=0, count=None):
        sock = self._socket()
        sock.settimeout(ClientWaits.slice)  # (socket.sendfile's own wait is a poll: the kernel's timeout is not seen)
        return sendfile_patiently(sock, file, offset, count)

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
        ClientWaits.beat = status.heartbeat
        if self.timeout:
            ClientWaits.slice = self.timeout / 2.0
            ClientWaits.due = 0.0
            # Accepted sockets inherit SO_RCVTIMEO/SO_SNDTIMEO: a slice (see ClientWaits).
            for ctx, sock in boot.listeners:
                if ctx.preset_socket_options:
                    preset_socket_options(sock, ClientWaits.slice)
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
                        sock, peer = listener.accept()
                        conn = ClientSocket(sock)
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
        """(the connection, now over TLS, and the PROXY header's environ keys), or (None, None) with it closed.

        The same TLS/PROXY steps as gthread's (advance_setup), on the blocking socket, retried after each silent
        slice like every other wait on the client (ClientWaits): a PROXY header comes before the handshake; a
        failed handshake costs this connection and a debug line.
        """
        state = ConnState(ctx, conn.bare(), peer)
        try:
            patiently(advance_setup, state)
            conn.tls_ready(state.sock)
            return conn, state.proxy
        except errors.RequestError as exc:
            self.log.debug("Invalid PROXY header from %s: %s", peer_name(peer), exc)
            send_quietly(conn, error_response(exc))
        except errors.TIMEOUTS:
            self.log.debug("client %s timed out before its request (TLS handshake or PROXY header)", peer_name(peer))
        except (OSError, ValueError) as exc:
            self.log.debug("TLS handshake with %s failed: %s", peer_name(peer), exc)
        state.sock.close()
        return None, None

    def serve(self, ctx, conn, peer, proxy=None):
        """One connection, one request; every failure ends in a quiet close."""
        if not ctx.preset_socket_options:
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
            head_due = None
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
                # A head that comes in pieces must be whole within the timeout (gthread's head_timeout), or a
                # client trickling a byte at a time would hold the worker for ever (each piece is progress).
                if head_due is None:
                    head_due = _monotonic() + self.head_timeout
                elif _monotonic() > head_due:
                    raise socket.timeout("the head took longer than the timeout")
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
        linger(conn.bare())
