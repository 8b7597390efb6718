"""Worker-side server hooks (post_fork ... worker_exit): the config file's functions, called with what gunicorn hands them.

The arbiter names the hooks the config file defines (`hooks`) and the file (`config_file`); only
then does the worker exec the file to get them. Every object here is what gunicorn's hooks use in
practice: `worker` (pid, ppid, age, alive, booted, log, cfg, wsgi, ...), a read-only `server`
stand-in, `req` (gunicorn's Request attributes) and `resp` (status, status_code, headers, sent).
"""

import os
import sys
import traceback

WORKER_HOOKS = ("post_fork", "post_worker_init", "worker_int", "worker_abort", "pre_request", "post_request", "worker_exit")


class Config(object):
    """`cfg`: every setting as an attribute (cfg.workers, cfg.bind, ...), as gunicorn's Config offers."""

    def __init__(self, settings):
        self.__dict__.update(settings)
        self.settings = settings

    def __getattr__(self, name):
        raise AttributeError("unicorn has no setting %r" % name)


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


class HookLog(object):
    """`log`: gunicorn's Logger methods (debug ... critical, exception, log) over the worker's error log."""

    def __init__(self, error_log):
        self.error_log = error_log

    def _log(self, level, msg, args, kwargs):
        if kwargs.get("exc_info"):
            msg = "%s\n%s" % ((msg % args) if args else msg, traceback.format_exc().rstrip("\n"))
            args = ()
        self.error_log.log(level, _NAMES.get(level, "INFO"), str(msg) if not args else msg, args)

    def debug(self, msg, *args, **kwargs):
        self._log(10, msg, args, kwargs)

    def info(self, msg, *args, **kwargs):
        self._log(20, msg, args, kwargs)

    def warning(self, msg, *args, **kwargs):
        self._log(30, msg, args, kwargs)

    warn = warning

    def error(self, msg, *args, **kwargs):
        self._log(40, msg, args, kwargs)

    def critical(self, msg, *args, **kwargs):
        self._log(50, msg, args, kwargs)

    def exception(self, msg, *args, **kwargs):
        kwargs["exc_info"] = True
        self._log(40, msg, args, kwargs)

    def log(self, lvl, msg, *args, **kwargs):
        if isinstance(lvl, str):
            lvl = _LEVELS.get(lvl.lower(), 20)
        self._log(min(50, max(10, int(lvl) // 10 * 10)), msg, args, kwargs)

    def reopen_files(self):
        self.error_log.reopen()


class ServerStandIn(object):
    """`server` in post_fork and worker_exit: the arbiter's pid, cfg and log. Read-only: the arbiter is another process."""

    __slots__ = ("_pid", "_cfg", "_log", "_proc_name")

    def __init__(self, pid, cfg, log, proc_name):
        object.__setattr__(self, "_pid", pid)
        object.__setattr__(self, "_cfg", cfg)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_proc_name", proc_name)

    pid = property(lambda self: self._pid)
    cfg = property(lambda self: self._cfg)
    log = property(lambda self: self._log)
    proc_name = property(lambda self: self._proc_name)
    num_workers = property(lambda self: getattr(self._cfg, "workers", None))
    app = property(lambda self: _App(self._cfg))

    def __setattr__(self, name, value):
        raise AttributeError("server is a read-only stand-in in the worker: setting %r changes nothing" % name)


class _App(object):
    def __init__(self, cfg):
        self.cfg = cfg


class _Tmp(object):
    """`worker.tmp`: gunicorn's heartbeat file; notify() beats the scoreboard heartbeat instead."""

    def __init__(self, status):
        self._status = status

    def notify(self):
        self._status.heartbeat()


class WorkerView(object):
    """`worker`: what gunicorn's Worker offers hooks. Attributes a hook sets stay for later hooks."""

    def __init__(self, boot, arbiter_pid, cfg, log):
        self._boot = boot
        self._loop = None
        self.pid = os.getpid()
        self.ppid = arbiter_pid
        self.age = boot.config.get("worker_id")
        self.booted = False
        self.aborted = False
        self.log = log
        self.cfg = cfg
        self.app = _App(cfg)
        self.timeout = boot.settings["timeout"]
        self.max_requests = boot.max_requests
        self.tmp = _Tmp(boot.status)

    @property
    def wsgi(self):
        return self._boot.app

    @property
    def alive(self):
        return self._loop.alive if self._loop is not None else True

    @alive.setter
    def alive(self, value):
        if self._loop is not None:
            self._loop.alive = bool(value)

    @property
    def nr(self):
        return self._loop.handled if self._loop is not None else 0

    @property
    def sockets(self):
        return [sock for _, sock in self._boot.listeners]


class RequestView(object):
    """`req`: gunicorn's Request attributes (method, uri, path, query, fragment, version, headers, ...)."""

    def __init__(self, req, environ, peer):
        self.method = req.method
        self.uri = req.target
        path, _, fragment = req.target.partition("#")
        path, _, query = path.partition("?")
        if "://" in path[:8]:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        self.path = path
        self.query = query
        self.fragment = fragment
        self.version = req.version
        self.headers = list(req.headers)
        self.trailers = []
        self.scheme = environ.get("wsgi.url_scheme", "http")
        self.peer_addr = peer
        self.remote_addr = environ.get("REMOTE_ADDR", "")
        self.body = environ.get("wsgi.input")


class ResponseView(object):
    """`resp`: status (str), status_code (int), headers (list of tuples), sent (body bytes sent)."""

    def __init__(self, resp):
        self.status = resp.status
        self.status_code = resp.code
        self.headers = list(resp.headers or [])
        self.sent = resp.sent
        self.headers_sent = resp.headers_sent


def load_hooks(path, names):
    """Execs the config file and returns its functions named in `names` (the worker-side hooks)."""
    namespace = {"__file__": path, "__name__": "__config__"}
    here = os.path.dirname(path)
    # Sibling modules of the config file are importable while it runs, as for the arbiter's loader.
    sys.path.insert(0, here)
    try:
        with open(path, "rb") as f:
            exec(compile(f.read(), path, "exec"), namespace)
    finally:
        try:
            sys.path.remove(here)
        except ValueError:
            pass
    return dict((n, namespace[n]) for n in names if callable(namespace.get(n)))


class WorkerHooks(object):
    """The hooks of one worker process and the objects passed to them."""

    def __init__(self, boot, functions):
        self.boot = boot
        self.fn = functions
        config = boot.config
        log = HookLog(boot.log)
        cfg = Config(config.get("cfg") or boot.settings)
        arbiter_pid = int(config.get("arbiter_pid") or config.get("ppid") or os.getppid())
        self.server = ServerStandIn(arbiter_pid, cfg, log, cfg.settings["proc_name"])
        self.worker = WorkerView(boot, arbiter_pid, cfg, log)
        self.pre = functions.get("pre_request")
        self.post = functions.get("post_request")

    @classmethod
    def from_boot(cls, boot):
        """The worker's hooks, or None when its config file defines none (then nothing is loaded)."""
        names = [n for n in boot.config.get("hooks") or [] if n in WORKER_HOOKS]
        path = boot.config.get("config_file")
        if not names or not path:
            return None
        return cls(boot, load_hooks(path, names))

    @property
    def per_request(self):
        return self.pre is not None or self.post is not None

    def attach(self, loop):
        self.worker._loop = loop

    # Boot hooks: an exception propagates (the worker fails to boot, exit 3, as in gunicorn).
    def post_fork(self):
        fn = self.fn.get("post_fork")
        if fn is not None:
            fn(self.server, self.worker)

    def post_worker_init(self):
        fn = self.fn.get("post_worker_init")
        if fn is not None:
            fn(self.worker)
        self.worker.booted = True

    # The others are logged and the worker carries on.
    def _call(self, name, *args):
        fn = self.fn.get(name)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            self.boot.log.exception("Exception in %s hook", name)

    def worker_int(self):
        self._call("worker_int", self.worker)

    def worker_abort(self):
        self.worker.aborted = True
        self._call("worker_abort", self.worker)

    def worker_exit(self):
        self._call("worker_exit", self.server, self.worker)

    def request(self, req, environ, peer):
        return RequestView(req, environ, peer)

    def pre_request(self, req_view):
        """Raises what the hook raised: the request then gets a 500, as in gunicorn."""
        if self.pre is not None:
            self.pre(self.worker, req_view)

    def post_request(self, req_view, environ, resp):
        if self.post is None:
            return
        try:
            self.post(self.worker, req_view, environ, ResponseView(resp))
        except Exception:
            self.boot.log.exception("Exception in post_request hook")
