"""What both worker loops share: signal handling through a self-pipe, the wake-up pipe, lingering closes."""

import errno
import os
import signal
import socket

# How long a close waits for the client to stop sending unread request bytes.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20


class BaseLoop(object):
    """Signal handlers only flip state; the loop, woken through the self-pipe, acts."""

    def __init__(self, boot):
        self.boot = boot
        self.log = boot.log
        self.alive = True
        self.timeout = boot.client_timeout
        self.max_requests = boot.max_requests
        self.handled = 0
        self.graceful_timeout = float(boot.settings.get("graceful_timeout") or 30)
        # An idle loop wakes to heartbeat at least twice per watchdog timeout (gunicorn's sync worker
        # waits timeout / 2), and at least once a second for the parent check.
        watchdog = boot.settings["timeout"]
        self.idle_wait = min(1.0, watchdog / 2.0) if watchdog else 1.0
        # TERM (not max_requests): serve what already waits in the listen queues before stopping.
        self.stop_requested = False
        # Where the loop reports heartbeat/idle/busy (the scoreboard when the arbiter gives one).
        self.status = boot.status
        self.wakeup_r = self.wakeup_w = -1

    def _on_term(self, signum, frame):
        self.alive = False
        self.stop_requested = True

    def _on_quit(self, signum, frame):
        self.alive = False
        if self.boot.hooks is not None:
            self.boot.hooks.worker_int()
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
