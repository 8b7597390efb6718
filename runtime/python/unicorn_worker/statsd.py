"""gunicorn's statsd metrics from the worker: per-request counters and timer, and log-level counters, over UDP.

Installed only when statsd_host is set, by wrapping the access log and the error log's warning and
worse methods, so a server without statsd pays nothing.
"""

import re
import socket


def parse_address(text):
    """HOST:PORT, [IPv6]:PORT or HOST (port 8125), as the registry validated it."""
    m = re.match(r"^\[([0-9a-fA-F:.]+)\](?::(\d+))?$", text) or re.match(r"^([^:\s/\[\]]+)(?::(\d+))?$", text)
    if not m:
        raise ValueError("statsd_host %r is not HOST:PORT" % text)
    return m.group(1), int(m.group(2) or 8125)


class Statsd(object):
    """Fire-and-forget datagrams in gunicorn's format (`NAME:VALUE|c|@1.0`, `|ms`, `|g`, then `|#TAGS`)."""

    def __init__(self, settings, log):
        host, port = parse_address(str(settings["statsd_host"]))
        prefix = settings["statsd_prefix"] or ""
        if prefix and not prefix.endswith("."):
            prefix += "."
        self.prefix = prefix
        tags = settings["dogstatsd_tags"] or ""
        self.suffix = "|#" + tags if tags else ""
        self.log = log
        self.sock = None
        try:
            family = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
            self.sock = socket.socket(family[0], socket.SOCK_DGRAM)
            self.sock.setblocking(False)
            self.sock.connect(family[4])
        except OSError as exc:
            log.warning("statsd_host %s:%s: %s — metrics are not sent", host, port, exc)
            self.sock = None

    def send(self, lines):
        """One datagram for several metrics (statsd and DogStatsD read newline-separated metrics)."""
        if self.sock is None:
            return
        p, s = self.prefix, self.suffix
        try:
            self.sock.send("\n".join(p + line + s for line in lines).encode("ascii", "replace"))
        except OSError:
            pass  # nobody listening (ECONNREFUSED from an earlier datagram) or a full buffer: metrics are best effort

    def increment(self, name, value=1):
        self.send(("%s:%s|c|@1.0" % (name, value),))


class StatsdAccessLog(object):
    """Stands in for the access log (gunicorn's Statsd logger does its metrics in access()): writes the
    wrapped log's line, if there is one, then the request's metrics."""

    def __init__(self, inner, statsd):
        self.inner = inner
        self.statsd = statsd

    def reopen(self):
        if self.inner is not None:
            self.inner.reopen()

    def write(self, environ, status, response_headers, sent, request_time):
        if self.inner is not None:
            self.inner.write(environ, status, response_headers, sent, request_time)
        try:
            code = int(str(status).split(None, 1)[0])
        except (ValueError, IndexError):
            code = 0
        self.statsd.send((
            "gunicorn.request.duration:%s|ms" % (request_time * 1000.0),
            "gunicorn.requests:1|c|@1.0",
            "gunicorn.request.status.%d:1|c|@1.0" % code,
        ))


def install(boot):
    """statsd_host set: the access log reports each request, and warning-or-worse log calls are counted."""
    statsd = Statsd(boot.settings, boot.log)
    boot.access_log = StatsdAccessLog(boot.access_log, statsd)
    log = boot.log
    for level in ("critical", "error", "warning", "exception"):
        method = getattr(log, level)

        def counted(msg, *args, _method=method, _metric="gunicorn.log." + level):
            _method(msg, *args)
            statsd.increment(_metric)

        setattr(log, level, counted)  # the instance attribute shadows the method: nothing changes when off
    return statsd
