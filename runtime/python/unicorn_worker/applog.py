"""The worker's error log (gunicorn's line format) and access log (gunicorn's access_log_format atoms)."""

import base64
import binascii
import json
import os
import re
import sys
import time
import traceback

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


class LogFile(object):
    """A log destination written with one os.write per record, so lines from several workers never interleave."""

    def __init__(self, target, std_fd):
        self.target = target
        self.std_fd = std_fd
        self.fd = std_fd
        self.reopen()

    def reopen(self):
        if self.target in (None, "-"):
            self.fd = self.std_fd
            return
        try:
            fd = os.open(self.target, _OPEN_FLAGS, 0o644)
        except OSError:
            if self.fd != self.std_fd:
                return  # a reopen the worker's user may not do (see `user`): keep writing where it did
            raise
        old, self.fd = self.fd, fd
        if old != self.std_fd:
            os.close(old)

    def write_bytes(self, data):
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError:
            pass  # a log that cannot be written must not take the worker down


class ErrorLog(object):
    """`[%Y-%m-%d %H:%M:%S %z] [PID] [LEVEL] message` lines at or above `loglevel`."""

    def __init__(self, target="-", level="info"):
        self.file = LogFile(target, 2)
        self.level = LEVELS.get(str(level).lower(), 20)
        self.pid = os.getpid()

    def reopen(self):
        self.file.reopen()

    def log(self, levelno, levelname, msg, args):
        if levelno < self.level:
            return
        if args:
            msg = msg % args
        line = "%s [%d] [%s] %s\n" % (time.strftime("[%Y-%m-%d %H:%M:%S %z]"), self.pid, levelname, msg)
        self.file.write_bytes(line.encode("utf-8", "backslashreplace"))

    def debug(self, msg, *args):
        self.log(10, "DEBUG", msg, args)

    def info(self, msg, *args):
        self.log(20, "INFO", msg, args)

    def warning(self, msg, *args):
        self.log(30, "WARNING", msg, args)

    def error(self, msg, *args):
        self.log(40, "ERROR", msg, args)

    def critical(self, msg, *args):
        self.log(50, "CRITICAL", msg, args)

    def exception(self, msg, *args):
        """Logs at error level with the current exception's traceback after the message, in one write."""
        if args:
            msg = msg % args
        self.log(40, "ERROR", msg + "\n" + traceback.format_exc().rstrip("\n"), ())


class ErrorStream(object):
    """wsgi.errors: raw text straight to the error log's destination."""

    def __init__(self, log):
        self._log = log

    def write(self, s):
        if isinstance(s, bytes):
            s = s.decode("utf-8", "replace")
        self._log.file.write_bytes(s.encode("utf-8", "backslashreplace"))

    def writelines(self, seq):
        for s in seq:
            self.write(s)

    def flush(self):
        pass


class AccessLog(object):
    """One line per request from `access_log_format` (only the atoms it names are computed), or a JSON object."""

    _ATOM_RE = re.compile(r"%\(([^)]*)\)")

    def __init__(self, target, fmt, json_lines=False):
        self.file = LogFile(target, 1)
        self.fmt = fmt
        self.json = json_lines
        self.atoms = []
        keys = set(self._ATOM_RE.findall(fmt))
        if json_lines:
            # Every one of gunicorn's plain atoms, plus the header/environ ones the format names.
            keys = set(_SIMPLE) | set(k for k in keys if k not in _SIMPLE and k.startswith("{"))
        for key in sorted(keys):
            self.atoms.append((key, self._getter(key)))

    def reopen(self):
        self.file.reopen()

    def write(self, environ, status, response_headers, sent, request_time):
        """`request_time` is in seconds (float); `sent` the body bytes written, or None."""
        values = self._values(environ, status, response_headers, sent, request_time)
        if self.json:
            return self._write_json(values)
        for key, value in values.items():
            if value is None:
                values[key] = "-"
            elif isinstance(value, str):
                values[key] = value.replace('"', '\\"')
        try:
            line = self.fmt % values
        except Exception:
            line = "access_log_format error: %r" % (self.fmt,)
        self.file.write_bytes((line + "\n").encode("utf-8", "backslashreplace"))

    def _values(self, environ, status, response_headers, sent, request_time):
        """Each atom's value; None where it has none or its getter failed."""
        values = {}
        for key, get in self.atoms:
            try:
                values[key] = get(environ, status, response_headers, sent, request_time)
            except Exception:
                values[key] = None
        return values

    def _write_json(self, values):
        """access_log_json: one JSON object a line; the status and byte counts as numbers, a missing value as null."""
        for key, value in values.items():
            if value == "-":
                values[key] = None  # gunicorn's text for "none"
            elif key in ("s", "b") and value is not None:
                values[key] = int(value) if str(value).isdigit() else None
        self.file.write_bytes((json.dumps(values, separators=(",", ":"), default=str) + "\n").encode("utf-8"))

    # gunicorn's atoms, each a function of (environ, status, response_headers, sent, request_time).
    def _getter(self, key):
        return _SIMPLE[key] if key in _SIMPLE else self._named_getter(key)

    def _named_getter(self, key):
        low = key.lower()
        if low.startswith("{") and low.endswith("}i"):
            name = low[1:-2].upper().replace("-", "_")
            if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = "HTTP_" + name
            return lambda e, s, r, n, t: e.get(name)
        if low.startswith("{") and low.endswith("}o"):
            name = low[1:-2]

            def response_header(e, s, r, n, t):
                found = None
                for k, v in r:
                    if k.lower() == name:
                        found = v
                return found
            return response_header
        if low.startswith("{") and low.endswith("}e"):
            name = low[1:-2]

            def environ_var(e, s, r, n, t):
                for k, v in e.items():
                    if k.lower() == name:
                        return v if isinstance(v, str) else str(v)
                return None
            return environ_var
        return lambda e, s, r, n, t: None


# gunicorn's plain atoms, each a function of (environ, status, response_headers, sent, request_time).
_SIMPLE = {
    "h": lambda e, s, r, n, t: e.get("REMOTE_ADDR") or "-",
    "l": lambda e, s, r, n, t: "-",
    "u": lambda e, s, r, n, t: _basic_auth_user(e),
    "t": lambda e, s, r, n, t: time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
    "r": lambda e, s, r, n, t: "%s %s %s" % (e["REQUEST_METHOD"], e["RAW_URI"], e["SERVER_PROTOCOL"]),
    "s": lambda e, s, r, n, t: s.split(None, 1)[0] if s else "-",
    "m": lambda e, s, r, n, t: e.get("REQUEST_METHOD"),
    "U": lambda e, s, r, n, t: e.get("PATH_INFO"),
    "q": lambda e, s, r, n, t: e.get("QUERY_STRING"),
    "H": lambda e, s, r, n, t: e.get("SERVER_PROTOCOL"),
    # gunicorn prints 0, not Apache's "-", for an empty body.
    "b": lambda e, s, r, n, t: "-" if n is None else str(n),
    "B": lambda e, s, r, n, t: n,
    "f": lambda e, s, r, n, t: e.get("HTTP_REFERER", "-"),
    "a": lambda e, s, r, n, t: e.get("HTTP_USER_AGENT", "-"),
    "T": lambda e, s, r, n, t: int(t),
    "D": lambda e, s, r, n, t: int(t * 1000000),
    "M": lambda e, s, r, n, t: int(t * 1000),
    "L": lambda e, s, r, n, t: "%d.%06d" % (int(t), int(t * 1000000) % 1000000),
    "p": lambda e, s, r, n, t: "<%d>" % os.getpid(),
}


def _basic_auth_user(environ):
    auth = environ.get("HTTP_AUTHORIZATION")
    if not auth or not auth.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(auth.split(" ", 1)[1].strip().encode("latin-1")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return decoded.split(":", 1)[0]


def boot_failure(msg):
    """Last resort before the error log exists: gunicorn's line format on stderr."""
    sys.stderr.write("%s [%d] [ERROR] %s\n" % (time.strftime("[%Y-%m-%d %H:%M:%S %z]"), os.getpid(), msg))
    sys.stderr.flush()
