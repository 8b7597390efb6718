"""The gevent worker: WSGI apps on greenlets, up to worker_connections requests at once, with keep-alive.

gevent is a third-party package: it is used only when the workers' interpreter can import it, and
`patch()` monkey-patches the standard library before the app is imported (worker.serve calls it
first thing), so the app's own sockets, sleeps and locks yield to other greenlets. The HTTP side is
the WSGI workers' own: parser.take_head / parse_head and wsgi.handle_request, one greenlet a connection.
"""

import os
import socket
import sys

from . import errors
from .loop import BaseLoop, accept_failed, linger, peer_name
from .parser import parse_head, take_head
from .proxy import parse as parse_proxy, try_read_before_tls
from .wsgi import error_response, handle_request, send_quietly

RECV_SIZE = 65536
TICK = 0.25


def patch():
    """Monkey-patches the standard library; raises RuntimeError (one line) when gevent is not importable."""
    try:
        from gevent import monkey
    except ImportError:
        raise RuntimeError(
            "worker_class gevent needs the gevent package, which %s cannot import — install it "
            "(apt-get install python3-gevent, or pip install gevent) or use -k gthread" % sys.executable)
    monkey.patch_all()


class GeventWorker(BaseLoop):
    def __init__(self, boot):
        BaseLoop.__init__(self, boot)
        self.take_connection_settings()
        self.idle_conns = set()
        self.conns = 0

    def run(self):
        import gevent
        from gevent.pool import Pool

        boot = self.boot
        self.pool = pool = Pool(self.max_connections)
        acceptors = []
        for ctx, sock in boot.listeners:
            sock.settimeout(None)  # a cooperative blocking accept
            for_ctx = ctx
            acceptors.append(gevent.spawn(self.accept_loop, for_ctx, sock))
        ppid = boot.ppid
        boot.send_event({"event": "booted", "pid": os.getpid()})
        status = self.status
        status.idle(0)
        code = 0
        while self.alive:
            status.heartbeat()
            self.refresh_busy()
            if os.getppid() != ppid:
                self.log.info("Parent changed, shutting down: %s", os.getppid())
                code = -1
                break
            if boot.accept_changed:
                boot.accept_applied()  # the accept loops read want_accepting before each accept
            if not self.act_on_flags():
                self.log.debug("control channel closed: the arbiter is gone, exiting")
                code = -1
                break
            gevent.sleep(TICK)
        gevent.killall(acceptors)
        if code == 0:
            # Graceful: running requests finish (their answers say Connection: close); idle connections close.
            for ctx, _ in boot.listeners:
                ctx.draining = True
            ticker = gevent.spawn(self.drain_tick)
            with gevent.Timeout(self.graceful_timeout, False):
                if self.stop_requested:
                    # TERM (not max_requests): what already waits in the listen queues is served too, then this
                    # worker's copies of the listeners close (README "Stopping"; the sync worker's serve_queued).
                    gevent.joinall([gevent.spawn(self.accept_queued, ctx, sock) for ctx, sock in boot.listeners])
                self.close_listeners(boot.listeners)
                pool.join()
            ticker.kill()
            if len(pool):
                self.log.info("graceful timeout: closing %d connections", len(pool))
        pool.kill(block=False)
        return 0

    def accept_loop(self, ctx, listener):
        pool = self.pool
        import gevent

        while self.alive:
            if not self.boot.want_accepting:
                gevent.sleep(TICK)  # the arbiter's accept command: another worker takes the new connections
                continue
            pool.wait_available()
            try:
                conn, peer = listener.accept()
            except OSError as exc:
                if accept_failed(exc, self.log):
                    continue
                gevent.sleep(0.1)
                continue
            pool.spawn(self.serve, ctx, conn, peer)

    def drain_tick(self):
        """During the graceful stop: the heartbeat, and idle keep-alive connections closed as they turn idle."""
        import gevent

        while True:
            for conn in list(self.idle_conns):
                try:
                    conn.close()
                except OSError:
                    pass
            self.status.heartbeat()
            gevent.sleep(0.1)

    def accept_queued(self, ctx, listener):
        """The stop's last accepts: every connection waiting in `listener`'s queue, until it is found empty."""
        listener.settimeout(0.0)
        while True:
            self.pool.wait_available()  # (worker_connections still caps the connections in progress)
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError, socket.timeout):
                return
            except OSError as exc:
                if accept_failed(exc, self.log):
                    continue
                return
            self.pool.spawn(self.serve, ctx, conn, peer)

    def serve(self, ctx, conn, peer):
        self.conns += 1
        self.status.connections(self.conns)
        try:
            self._serve(ctx, conn, peer)
        finally:
            self.idle_conns.discard(conn)
            self.conns -= 1
            self.status.connections(self.conns)
            try:
                conn.close()
            except OSError:
                pass

    def _serve(self, ctx, conn, peer):
        conn.settimeout(self.timeout)
        if ctx.tcp:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        proxy = None
        try:
            if ctx.tls is not None:
                while ctx.proxy is not None:
                    done, proxy = try_read_before_tls(conn, ctx.proxy, peer)  # a cooperative blocking peek
                    if done:
                        break
                conn = ctx.tls.wrap(conn)
        except errors.RequestError as exc:
            self.log.debug("Invalid PROXY header from %s: %s", peer_name(peer), exc)
            send_quietly(conn, error_response(exc))
            return
        except (OSError, ValueError) + errors.TIMEOUTS as exc:
            self.log.debug("TLS handshake with %s failed: %s", peer_name(peer), exc)
            return
        limits = ctx.limits
        proxy_pending = ctx.proxy is not None and ctx.tls is None
        buf = b""
        first = True
        while True:
            try:
                # The head: the first recv of a keep-alive connection waits up to keepalive, the rest up to timeout.
                while True:
                    end = -1
                    if buf and not proxy_pending:
                        buf, end = take_head(buf, len(buf), limits, ctx.parser_cfg)
                        if end >= 0:
                            break
                    idle = not buf and not first
                    if idle:
                        if not self.alive:
                            return
                        self.idle_conns.add(conn)
                        conn.settimeout(self.keepalive)
                    try:
                        data = conn.recv(RECV_SIZE)
                    finally:
                        if idle:
                            self.idle_conns.discard(conn)
                            conn.settimeout(self.timeout)
                    if not data:
                        return
                    buf += data
                    if proxy_pending:
                        found = parse_proxy(buf, ctx.proxy, peer)
                        if found is None:
                            continue
                        proxy_pending = False
                        buf = buf[found[0]:]
                        proxy = found[1]
                first = False
                req = parse_head(buf[:end], limits, ctx.parser_cfg)
                keep = req.keep_alive and self.keepalive > 0 and self.alive
                self.request_started(req)
                try:
                    keep, rest = handle_request(ctx, conn, peer, req, buf[end + 4:], keep, proxy)
                finally:
                    self.request_finished()
            except errors.RequestError as exc:
                self.log.debug("Invalid request from %s: %s", peer_name(peer), exc)
                ctx.record(exc.status, 0.0, 0)
                if send_quietly(conn, error_response(exc)):
                    linger(conn)
                return
            except errors.TIMEOUTS + (socket.timeout,):
                return
            except OSError as exc:
                self.log.debug("socket error with %s: %s", peer_name(peer), exc)
                return
            except Exception:
                self.log.exception("Error handling a connection from %s", peer_name(peer))
                return
            if not keep:
                if rest != b"":
                    linger(conn)
                return
            buf = rest or b""

