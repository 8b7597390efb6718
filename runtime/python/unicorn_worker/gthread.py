"""The gthread worker loop: a selector thread parks connections and reads request heads; a pool of threads runs the app.

The selector (main) thread owns every connection that waits: it accepts, reads until a request's
head is complete, and only then hands the connection to a pool thread, so slow or idle clients
never pin a thread. The pool thread answers that request and any pipelined ones already received,
in order, then parks the connection for its next request (keep-alive) or closes it.
"""

import collections
import os
import queue
import select
import selectors
import socket
import threading
import time

from . import errors, tls
from .loop import (
    PROXY_PENDING, PROXY_PLAIN, READY, WANT_WRITE, BaseLoop, ConnState, accept_failed, advance_setup, drain,
    head_step, linger, peer_name,
)
from .parser import parse_head
from .wsgi import error_response, handle_request, send_quietly

RECV_SIZE = 65536
# Heartbeat, parent check and idle-connection sweep happen this often (seconds).
TICK = 0.25
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
class Connection(ConnState):
    """One client connection; owned by the selector thread while `parked`, else by one pool thread."""

    __slots__ = ("fd", "buf", "end", "error", "deadline", "parked", "registered", "sender")

    def __init__(self, ctx, sock, peer, deadline):
        ConnState.__init__(self, ctx, sock, peer)
        self.fd = sock.fileno()
        self.buf = b""  # received bytes of the next request
        self.end = -1  # where its head ends in buf, once complete
        self.error = None  # a RequestError found while reading the head, answered by the pool
        self.deadline = deadline
        self.parked = True
        self.registered = False
        self.sender = None  # the DeadlineSend its answers go through, made for its first request


class DeadlineSend(object):
    """The socket a pool thread answers through: each write of the response (the whole of a body given
    as one bytes object) has one deadline, `timeout` seconds from its start.

    A blocking send with SO_SNDTIMEO (or a Python socket timeout) starts its wait again after every
    partial send, so a client that takes a few bytes now and then — or whose buffers keep growing —
    held a pool thread for many times `timeout`. The fast path is one non-blocking send; only a
    client that does not take everything at once costs the poll() calls.
    """

    __slots__ = ("sock", "timeout", "tls")

    def __init__(self, sock, timeout, tls_socket):
        self.sock = sock
        self.timeout = timeout
        self.tls = tls_socket

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def sendall(self, data):
        if not self.tls and type(data) is bytes:
            # The usual case: the kernel takes it all at once.
            try:
                sent = self.sock.send(data, _DONTWAIT)
            except (BlockingIOError, InterruptedError, socket.timeout):
                sent = 0
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        view = memoryview(data).cast("B")
        deadline = time.monotonic() + self.timeout if self.tls else None
        while view:
            try:
                if self.tls:
                    # An SSLSocket takes no flags; its timeout (set by the pool thread) becomes what is left.
                    if deadline is not None:
                        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
                    sent = self.sock.send(view)
                else:
                    sent = self.sock.send(view, _DONTWAIT)
            except (BlockingIOError, InterruptedError, tls.WANT_WRITE):
                sent = 0
            except socket.timeout:
                sent = 0
            view = view[sent:]
            if not view:
                break
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.timeout
            if now >= deadline:
                raise socket.timeout("the client took less than the response within %ss" % self.timeout)
            if not self.tls:
                poll = select.poll()
                poll.register(self.sock.fileno(), select.POLLOUT)
                poll.poll(max(1, int((deadline - now) * 1000)))
        if self.tls:
            self.sock.settimeout(self.timeout)


class EpollPoller(object):
    """Linux: connections wait one-shot, so the pool thread that answered one re-arms it with one epoll_ctl."""

    def __init__(self):
        self.ep = select.epoll()

    def add(self, fd):
        self.ep.register(fd, select.EPOLLIN)

    def remove(self, fd):
        try:
            self.ep.unregister(fd)
        except (OSError, ValueError):
            pass

    def rearm(self, conn, write=False):
        """Any thread: wait for `conn` to be readable (epoll_ctl is safe to call concurrently with poll).

        `write`: writable instead (a TLS handshake that could not send all of its bytes).
        """
        events = (select.EPOLLOUT if write else select.EPOLLIN) | select.EPOLLONESHOT
        if conn.registered:
            self.ep.modify(conn.fd, events)
        else:
            conn.registered = True
            self.ep.register(conn.fd, events)

    def fired(self, conn):
        pass  # one-shot: the kernel disarmed it

    def poll(self, timeout):
        return self.ep.poll(timeout)


class SelectorPoller(object):
    """Elsewhere: only the selector thread touches the selector; pool threads hand connections back through a queue."""

    def __init__(self, conns, wake):
        self.sel = selectors.DefaultSelector()
        self.conns = conns
        self.wake = wake
        self.returned = collections.deque()
        self.loop_thread = threading.get_ident()

    def add(self, fd):
        self.sel.register(fd, selectors.EVENT_READ)

    def remove(self, fd):
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def rearm(self, conn, write=False):
        if threading.get_ident() != self.loop_thread:
            self.returned.append(conn)
            self.wake()
        elif not conn.registered:
            conn.registered = True
            self.sel.register(conn.fd, selectors.EVENT_WRITE if write else selectors.EVENT_READ)

    def fired(self, conn):
        conn.registered = False
        self.sel.unregister(conn.fd)

    def poll(self, timeout):
        while self.returned:
            conn = self.returned.popleft()
            if self.conns.get(conn.fd) is conn and conn.parked:
                self.rearm(conn)
        return [(key.fd, events) for key, events in self.sel.select(timeout)]


class ThreadWorker(BaseLoop):
    def __init__(self, boot):
        BaseLoop.__init__(self, boot)
        s = boot.settings
        # Typed and defaulted by the arbiter (the registry's min values hold): read as they come.
        self.threads = s["threads"]
        self.max_connections = s["worker_connections"]
        # keepalive 0 turns keep-alive off (gunicorn's rule).
        self.keepalive = s["keepalive"]
        self.conns = {}  # fd -> Connection: every open connection, parked or in a pool thread
        self.jobs = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.active = 0  # requests in pool threads
        self.accepting = False
        self.poller = None
        # Pool threads finish requests concurrently: each counts into a tally of its own (no lock).
        record = boot.status.thread_record()
        for ctx, _ in boot.listeners:
            ctx.base["wsgi.multithread"] = True
            ctx.record = record

    def _on_term(self, signum, frame):
        self.stop_requested = True
        self._stop_serving()

    def _stop_serving(self):
        """Graceful stop (TERM, max_requests): answers still to be written say Connection: close."""
        self.alive = False
        for ctx, _ in self.boot.listeners:
            ctx.draining = True

    # -- the selector thread --

    def run(self):
        boot = self.boot
        conns = self.conns
        self.poller = poller = EpollPoller() if hasattr(select, "epoll") else SelectorPoller(conns, self.wake)
        listening = dict((sock.fileno(), (ctx, sock)) for ctx, sock in boot.listeners)
        self.listening = listening
        self._accepting(True)
        wakeup_r = self.wakeup_r
        poller.add(wakeup_r)
        for i in range(self.threads):
            threading.Thread(target=self._pool_thread, name="unicorn-pool-%d" % i, daemon=True).start()
        ppid = boot.ppid
        boot.send_event({"event": "booted", "pid": os.getpid()})

        status = self.status
        status.idle(0)
        next_tick = 0.0
        stop_at = None
        try:
            while True:
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + TICK
                    status.heartbeat()
                    if self.alive and os.getppid() != ppid:
                        self.log.info("Parent changed, shutting down: %s", os.getppid())
                        self._stop_serving()  # as on TERM: what we hold is finished within graceful_timeout
                    self._expire(now)
                # Not while another worker has the focus (the arbiter's "accept"), except to drain on TERM.
                want = boot.want_accepting
                if listening and self.accepting != ((want or not self.alive) and len(conns) < self.max_connections):
                    self._accepting(not self.accepting)
                if boot.accept_changed and self.alive:
                    boot.accept_applied(want)  # a change that came meanwhile stays pending for the next turn
                if not self.alive:
                    if stop_at is None:
                        # Graceful stop: each open connection ends after its next answer or when idle. On TERM
                        # each listener first gives up what already waits in its queue (until it is empty once).
                        stop_at = now + self.graceful_timeout
                        if not self.stop_requested:
                            self._close_listeners(list(listening))
                    if self.accepting:
                        for fd in list(listening):
                            if fd in listening:
                                self._accept(*listening[fd])
                    if not conns and not listening:
                        return 0
                    if now >= stop_at:
                        self.log.info("graceful timeout: closing %d connections", len(conns))
                        return 0
                for fd, _ in poller.poll(max(0.0, next_tick - now)):
                    conn = conns.get(fd)
                    if conn is not None:
                        if conn.parked:
                            poller.fired(conn)
                            self._read(conn)
                    elif fd in listening:
                        if self.accepting:
                            self._accept(*listening[fd])
                    elif fd == wakeup_r:
                        drain(wakeup_r)
                        if not self.act_on_flags() and self.alive:
                            # The arbiter is gone (killed, say): stop accepting, finish what we hold
                            # within graceful_timeout, as on TERM, then exit.
                            self.log.info("The arbiter is gone: finishing %d open connections, then exiting", len(conns))
                            self._stop_serving()
        finally:
            for _ in range(self.threads):
                self.jobs.put(None)

    def _accepting(self, on):
        self.accepting = on
        for fd in self.listening:
            if on:
                self.poller.add(fd)
            else:
                self.poller.remove(fd)

    def _close_listeners(self, fds):
        taken = [self.listening.pop(fd) for fd in fds]
        if self.accepting:
            for fd in fds:
                self.poller.remove(fd)
        self.close_listeners(taken)

    def _accept(self, ctx, listener):
        conns = self.conns
        while len(conns) < self.max_connections and (self.alive or self.stop_requested):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                if not self.alive:
                    self._close_listeners([listener.fileno()])  # its queue is empty: the drain is over here
                return
            except OSError as exc:
                if accept_failed(exc, self.log):
                    continue
                return
            if not ctx.preset_socket_options:
                sock.settimeout(self.timeout)
                if ctx.tcp:
                    try:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except OSError:
                        pass
            if ctx.tls is not None:
                # The selector thread never blocks on a TLS connection; pool threads give it a timeout.
                sock.setblocking(False)
            conn = Connection(ctx, sock, peer, time.monotonic() + self.head_timeout)
            conns[conn.fd] = conn
            self.status.connections(len(conns))
            if ctx.preset_socket_options or conn.setup:
                # The request usually arrives with the connection: read it now rather than after a poll.
                self._read(conn)
            else:
                self.poller.rearm(conn)
            if self.alive:
                # One connection per readiness while serving: the listener stays readable while more wait, so
                # the loop comes back for the next after a turn, while the other workers, woken by the same
                # readiness, take theirs (emptying the queue at once took all of a burst of keep-alive
                # connections and left the other worker idle). The drain after TERM empties it in one go.
                return

    def _prepare(self, conn):
        """The TLS/PROXY steps before a head (advance_setup); True once bytes of the request may be read.

        A failed handshake costs this connection and a debug line. A PROXY header in clear text waits in
        conn.buf like the head (PROXY_PLAIN).
        """
        try:
            step = advance_setup(conn)
        except errors.RequestError as exc:
            # A malformed or unwelcome PROXY header in front of TLS: answered in clear, as the client sent it.
            conn.error, conn.buf, conn.end, conn.parked = exc, b"", 0, False
            self.jobs.put(conn)
            return False
        except (OSError, ValueError) as exc:
            self.log.debug("TLS handshake with %s failed: %s", peer_name(conn.peer), exc)
            self._close_parked(conn)
            return False
        if step != READY:
            self.poller.rearm(conn, step == WANT_WRITE)
            return False
        return True

    def _read(self, conn):
        """The connection is readable: add to its head; hand it to the pool once the head is complete."""
        if conn.setup > PROXY_PLAIN and not self._prepare(conn):
            return
        try:
            if conn.tls:
                data = conn.sock.recv(RECV_SIZE)
                while data and conn.sock.pending():
                    # Decrypted bytes OpenSSL holds are invisible to epoll: take them now.
                    data += conn.sock.recv(RECV_SIZE)
            else:
                data = conn.sock.recv(RECV_SIZE, _DONTWAIT)
        except (BlockingIOError, InterruptedError, tls.WANT_READ) + errors.TIMEOUTS:
            self.poller.rearm(conn)
            return
        except tls.WANT_WRITE:
            self.poller.rearm(conn, True)
            return
        except OSError:
            self._close_parked(conn)
            return
        if not data:
            self._close_parked(conn)
            return
        buf = conn.buf + data if conn.buf else data
        policy = conn.ctx.proxy if conn.setup == PROXY_PLAIN else None
        try:
            buf, end, found = head_step(buf, len(data), conn.ctx.limits, conn.ctx.parser_cfg, policy, conn.peer)
        except errors.RequestError as exc:
            conn.error, conn.buf, conn.end, conn.parked = exc, b"", 0, False
            self.jobs.put(conn)
            return
        if policy is not None and found is not PROXY_PENDING:
            conn.setup = READY
            conn.proxy = found
        conn.buf = buf
        if end < 0:
            conn.deadline = time.monotonic() + self.head_timeout
            self.poller.rearm(conn)
            return
        conn.end = end
        conn.parked = False
        self.jobs.put(conn)

    def _expire(self, now):
        """Closes parked connections past their deadline: idle keep-alive ones, and clients too slow with a head."""
        for conn in list(self.conns.values()):
            if conn.parked and conn.deadline <= now:
                if conn.buf:  # part of a head, then nothing: the sync worker's debug line for it
                    self.log.debug("client %s timed out", peer_name(conn.peer))
                self._close_parked(conn)

    def _close_parked(self, conn):
        if conn.registered:
            self.poller.remove(conn.fd)
        self._close(conn)

    # -- the pool threads --

    def _pool_thread(self):
        self.boot.status.adopt_thread()
        get = self.jobs.get
        while True:
            conn = get()
            if conn is None:
                return
            try:
                self._serve(conn)
            except BaseException:
                self.log.exception("Error handling a connection from %s", peer_name(conn.peer))
                self._close(conn)

    def _serve(self, conn):
        """Answers the connection's complete request, and pipelined ones after it; then parks or closes it."""
        ctx = conn.ctx
        sock = conn.sock
        limits = ctx.limits
        if conn.tls:
            sock.settimeout(self.timeout)  # blocking with a timeout here; the selector thread reads it non-blocking
        while True:
            buf, end = conn.buf, conn.end
            busy = False
            try:
                if conn.error is not None:
                    raise conn.error
                req = parse_head(buf[:end], limits, ctx.parser_cfg)
                keep = req.keep_alive and self.keepalive > 0 and self.alive
                self._busy(req)
                busy = True
                out = conn.sender
                if out is None:
                    out = conn.sender = DeadlineSend(sock, self.timeout, conn.tls)
                keep, rest = handle_request(ctx, out, conn.peer, req, buf[end + 4:], keep, conn.proxy)
            except errors.RequestError as exc:
                self.log.debug("Invalid request from %s: %s", peer_name(conn.peer), exc)
                ctx.record(exc.status, 0.0, 0)
                if send_quietly(sock, error_response(exc)):
                    linger(sock)
                self._close(conn)
                return
            except errors.TIMEOUTS:
                self.log.debug("client %s timed out", peer_name(conn.peer))
                keep, rest = False, b""
            except OSError as exc:
                self.log.debug("socket error with %s: %s", peer_name(conn.peer), exc)
                keep, rest = False, b""
            except Exception:
                # A bug of ours must cost one connection, not the worker.
                self.log.exception("Error handling a connection from %s", peer_name(conn.peer))
                keep, rest = False, b""
            finally:
                if busy:
                    self._done()
            if not keep:
                if rest != b"":
                    linger(sock)
                self._close(conn)
                return
            conn.error = None
            if conn.tls:
                try:
                    if sock.pending():
                        # Decrypted bytes already inside OpenSSL: epoll would never say they are there.
                        rest = (rest or b"") + sock.recv(sock.pending())
                except OSError:
                    self._close(conn)
                    return
            if rest:
                try:
                    rest, end, _ = head_step(rest, len(rest), limits, ctx.parser_cfg)
                except errors.RequestError as exc:
                    conn.error, end = exc, 0
                conn.buf = rest
                if end >= 0:
                    conn.end = end
                    continue  # pipelined: answered by this thread, so in order
                conn.deadline = time.monotonic() + self.head_timeout
            else:
                conn.buf = b""
                conn.deadline = time.monotonic() + self.keepalive
            conn.parked = True
            try:
                if conn.tls:
                    sock.settimeout(0.0)  # the selector thread reads it next, without blocking
                self.poller.rearm(conn)
            except OSError:
                # Closed under us (the worker is exiting).
                self._close(conn)
            return

    def _busy(self, req):
        with self.lock:
            self.active += 1
            served = self.handled
        self.status.busy(req, served)

    def _done(self):
        with self.lock:
            self.active -= 1
            self.handled += 1
            served = self.handled
            idle = self.active == 0
        if idle:
            self.status.idle(served)
        if 0 < self.max_requests <= served and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self._stop_serving()
            self.wake()

    def _close(self, conn):
        """Any thread: forget the connection, then close it (in that order, so its fd number is free only once forgotten)."""
        self.conns.pop(conn.fd, None)
        self.status.connections(len(self.conns))
        try:
            conn.sock.close()
        except OSError:
            pass
        if not self.alive or not self.accepting:
            self.wake()
