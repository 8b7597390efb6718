"""The sync worker loop: wait for a listener, accept one connection, serve exactly one request, close."""

import errno
import os
import selectors
import signal
import socket

from . import errors
from .parser import head_end, parse_head, skip_empty_lines
from .wsgi import error_response, handle_request

RECV_SIZE = 65536
# How long a close waits for the client to stop sending unread request bytes.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
_CONTROL, _WAKEUP = object(), object()


class SyncWorker(object):
    def __init__(self, boot):
        self.boot = boot
        self.log = boot.log
        self.alive = True
        self.timeout = boot.client_timeout
        self.max_requests = boot.max_requests
        self.handled = 0
        # Where the loop reports heartbeat/idle/busy (the scoreboard when the arbiter gives one).
        self.status = boot.status

    # -- signals: handlers only flip state; the loop (woken through the self-pipe) acts --

    def _on_term(self, signum, frame):
        self.alive = False

    def _on_quit(self, signum, frame):
        self.alive = False
        raise SystemExit(0)

    def _on_usr1(self, signum, frame):
        self.boot.reopen_logs()

    def _on_usr2(self, signum, frame):
        # The arbiter wrote a command (e.g. "debug") and nudges us so that a busy worker acts now.
        self.boot.read_control()

    def install_signals(self):
        r, w = os.pipe()
        for fd in (r, w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        self.wakeup_r = r
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_quit)
        signal.signal(signal.SIGQUIT, self._on_quit)
        signal.signal(signal.SIGUSR1, self._on_usr1)
        signal.signal(signal.SIGUSR2, self._on_usr2)
        # gunicorn's workers ignore WINCH (it is the arbiter's signal when daemonised).
        signal.signal(signal.SIGWINCH, signal.SIG_IGN)

    def run(self):
        boot = self.boot
        selector = selectors.DefaultSelector()
        for ctx, sock in boot.listeners:
            selector.register(sock, selectors.EVENT_READ, (ctx, sock))
        boot.control.setblocking(False)
        selector.register(boot.control, selectors.EVENT_READ, _CONTROL)
        selector.register(self.wakeup_r, selectors.EVENT_READ, _WAKEUP)
        ppid = boot.ppid
        boot.send_event({"event": "booted", "pid": os.getpid()})

        status = self.status
        status.idle(0)
        while self.alive:
            status.heartbeat()
            for key, _ in selector.select(1.0):
                data = key.data
                if data is _WAKEUP:
                    _drain(self.wakeup_r)
                elif data is _CONTROL:
                    if not boot.read_control():
                        self.log.debug("control channel closed: the arbiter is gone, exiting")
                        return 0
                else:
                    self.accept_all(data[0], data[1], ppid)
                if not self.alive:
                    break
            if os.getppid() != ppid:
                self.log.info("Parent changed, shutting down: %s", os.getppid())
                return 0
        return 0

    def accept_all(self, ctx, listener, ppid):
        """Serves connections on one listener until its queue is empty (no select between them).

        With several listeners it takes one connection per wake-up, so a busy one cannot starve the rest.
        """
        burst = len(self.boot.listeners) == 1
        while self.alive:
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            try:
                self.serve(ctx, conn, peer)
            finally:
                conn.close()
            self.handled += 1
            self.status.idle(self.handled)
            if 0 < self.max_requests <= self.handled:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
                return
            if not burst or os.getppid() != ppid:
                return
            self.status.heartbeat()

    def serve(self, ctx, conn, peer):
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
        try:
            # Read until the head is complete; the first recv usually holds the whole request.
            while True:
                data = conn.recv(RECV_SIZE)
                if not data:
                    return  # closed before a whole head: nothing to answer
                buf = buf + data if buf else data
                skip = skip_empty_lines(buf)
                if skip:
                    buf = buf[skip:]
                end = head_end(buf, max(0, len(buf) - len(data) - 3), limits)
                if end >= 0:
                    break
            req = parse_head(buf[:end], limits)
            self.status.busy(req)
            if handle_request(ctx, conn, peer, req, buf[end + 4:]):
                return
        except errors.RequestError as exc:
            self.log.debug("Invalid request from %s: %s", _peer_name(peer), exc)
            try:
                conn.sendall(error_response(exc))
            except OSError:
                return
        except errors.TIMEOUTS:
            self.log.debug("client %s timed out", _peer_name(peer))
            return
        except OSError as exc:
            self.log.debug("socket error with %s: %s", _peer_name(peer), exc)
            return
        except Exception:
            # A bug of ours must cost one connection, not the worker.
            self.log.exception("Error handling a connection from %s", _peer_name(peer))
            return
        _linger(conn)


def _linger(conn):
    """Half-closes, then drains what the client still sends, so our answer is not lost to a reset."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(LINGER_SECONDS)
        left = LINGER_BYTES
        while left > 0:
            data = conn.recv(65536)
            if not data:
                return
            left -= len(data)
    except OSError:
        pass


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def _peer_name(peer):
    if isinstance(peer, tuple):
        return "%s:%s" % (peer[0], peer[1])
    return peer or "unix socket"
