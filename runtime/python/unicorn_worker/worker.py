"""Worker boot: read the arbiter's configuration, load the app, take the listeners, run the worker class's loop."""

import faulthandler
import json
import os
import select
import signal
import socket
import struct
import sys
import sysconfig
import threading
import time
import traceback

from . import applog, logconfig, privileges, statsd, tls
from .hooks import WorkerHooks
from .loader import AppLoadError, kind_mismatch, load_app
from .parser import Limits, ParserConfig
from .proxy import ProxyPolicy
from .scoreboard import Scoreboard
from .wsgi import ListenerContext

EXIT_BOOT_FAILED = 3
EXIT_APP_LOAD_FAILED = 4


class Boot(object):
    """Everything a loop needs from boot: settings, logs, the app, the listeners and the control channel."""

    def __init__(self, control, config, control_buf=b""):
        self.control = control
        self.send_lock = threading.Lock()
        self.control_buf = control_buf
        self.config = config
        self.settings = self.config.get("settings") or {}
        self.ppid = int(self.config.get("ppid") or os.getppid())
        s = self.settings
        self.log = applog.ErrorLog(s["errorlog"], s["loglevel"])
        accesslog = s["accesslog"]
        self.access_log = None
        if logconfig.access_enabled(s):
            self.access_log = applog.AccessLog(accesslog, s["access_log_format"], s["access_log_json"])
        if logconfig.configured(s):
            # A bad logging config raises here, so the worker fails to boot with the traceback.
            self.log.logger, access = logconfig.setup(s, self.config.get("app"))
            if self.access_log is not None:
                self.access_log.logger = access
        # The client socket timeout. timeout 0 turns the arbiter's watchdog off, and then, as in gunicorn,
        # client sockets have no timeout either (None), rather than a made-up one.
        self.client_timeout = s["timeout"] if s["timeout"] > 0 else None
        self.max_requests = s["max_requests"]
        self.limits = Limits.from_settings(s)
        self.parser_cfg = ParserConfig.from_settings(s)
        self.listeners = []
        self.app = None
        # The config file's worker-side hooks (post_fork ... worker_exit), or None when it defines none.
        self.hooks = None
        self.debug_port = 0
        # The arbiter's "accept" command: False while another worker is being debugged (it gets every
        # new connection). The loop applies a change at its next turn and confirms it (accept_applied).
        self.want_accepting = True
        self.accept_changed = False
        self.accept_lock = threading.Lock()  # the reader thread sets the two above, the loop clears accept_changed
        # Set by the control reader thread when the control channel closes: the loop then exits.
        self.arbiter_gone = False
        board = self.config.get("scoreboard")
        # Where the loop reports heartbeat/idle/busy: the arbiter's scoreboard, or nowhere.
        self.status = Scoreboard(board["path"], int(board["slot"])) if board else NullStatus()

    def start_control_reader(self, wake):
        """The one reader of the control channel: a thread that acts on each command as it comes, even while
        the loop is busy in the app, and on EOF sets arbiter_gone and wakes the loop (`wake`)."""

        def reader():
            while True:
                try:
                    select.select([self.control], [], [])
                except (OSError, ValueError):
                    break
                if not self.read_control():
                    break
                if self.accept_changed:
                    wake()  # the loop applies (and confirms) an "accept" at its next turn: make that now
            self.arbiter_gone = True
            wake()

        thread = threading.Thread(target=reader, name="unicorn-control", daemon=True)
        # The server's thread, not the app's: a debugger attached to this worker (debugpy) leaves it
        # out of its threads and never pauses it, so the worker still hears the arbiter at a breakpoint.
        thread.is_pydev_daemon_thread = True
        thread.start()

    def read_control(self):
        """Consumes what the arbiter sent and acts on each command; False on EOF (the arbiter is gone)."""
        try:
            data = self.control.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False
        *lines, self.control_buf = (self.control_buf + data).split(b"\n")
        for line in lines:
            try:
                command = json.loads(line.decode("utf-8")).get("command")
            except (ValueError, AttributeError):
                self.log.warning("unreadable control message from the arbiter: %r", line[:200])
                continue
            if command == "debug":
                self.start_debugger()
            elif command == "accept":
                with self.accept_lock:
                    self.want_accepting = bool(json.loads(line.decode("utf-8")).get("on", True))
                    self.accept_changed = True
            else:
                self.log.warning("unknown control command from the arbiter: %r", command)
        return True

    def accept_applied(self, on=None):
        """The loop took the accept change (`on`: the state it applied): tell the arbiter (it waits for this
        before answering focus). A change that came in meanwhile stays pending, for the loop's next turn,
        instead of being confirmed as applied (it was not)."""
        with self.accept_lock:
            applied = self.want_accepting if on is None else on
            if self.want_accepting == applied:
                self.accept_changed = False
        self.send_event({"event": "accepting", "on": applied})

    def start_debugger(self):
        """`unicorn ctl debug PID`: open a debugpy listener on a port the OS picks and report it."""
        if self.debug_port:
            self.send_event({"event": "debug", "port": self.debug_port})
            return
        try:
            import debugpy
        except ImportError:
            self.send_event({"event": "debug", "error": (
                "debugpy is not importable by %s — install it for that interpreter (python -m pip install "
                "debugpy, or on Debian: apt install python3-debugpy) or run the workers with one that has it"
                % sys.executable)})
            return
        try:
            debugpy.configure(subProcess=False)
            self.debug_port = int(debugpy.listen(("127.0.0.1", 0))[1])
        except Exception as exc:  # debugpy's own failures are reported, never fatal to the worker
            self.send_event({"event": "debug", "error": "debugpy.listen failed: %s" % exc})
            return
        self.status.set_debug_port(self.debug_port)
        self.log.info("Debugger listening on 127.0.0.1:%d (pid: %d)", self.debug_port, os.getpid())
        self.send_event({"event": "debug", "port": self.debug_port})

    def send_event(self, event):
        data = (json.dumps(event) + "\n").encode("utf-8")
        with self.send_lock:  # the --reload reporter thread sends too
            self.control.setblocking(True)
            try:
                self.control.sendall(data)
            finally:
                self.control.setblocking(False)

    def reopen_logs(self):
        self.log.reopen()
        if self.access_log is not None:
            self.access_log.reopen()
        install_abort_handler(self)

    def on_abort(self, signum, frame):
        """SIGABRT from the watchdog: faulthandler has already written every thread's stack; now go."""
        self.log.critical("Worker timed out (pid: %s); the stacks of its threads are above", os.getpid())
        self.status.publish()  # what this worker counted survives it (the arbiter adds it to its totals)
        if self.hooks is not None:
            self.hooks.worker_abort()
            self.hooks.worker_exit()
        os._exit(1)

    def set_paths(self):
        chdir = self.settings["chdir"]
        pythonpath = self.settings["pythonpath"] or []
        if isinstance(pythonpath, str):
            pythonpath = [p for p in pythonpath.split(",") if p.strip()]
        front = []
        if chdir:
            os.chdir(chdir)
            front.append(chdir)
        front.extend(os.path.abspath(p.strip()) for p in pythonpath)
        sys.path[0:0] = [p for p in front if p not in sys.path[:len(front)]] if front else []

    def take_listeners(self):
        backlog = self.settings["backlog"]
        error_stream = applog.ErrorStream(self.log)
        s = self.settings
        if s["statsd_host"]:
            statsd.install(self)  # here, not in __init__: a preloading zygote never serves, so it sends nothing
        # One SSL context per worker, loaded before any switch to `user` (the key may be root's alone).
        server_tls = self.server_tls()
        proxy_policy = ProxyPolicy(s) if s["proxy_protocol"] else None
        for spec in self.config.get("listeners") or []:
            sock = socket.socket(fileno=int(spec["fd"]))
            if s["reuse_port"] and sock.family in (socket.AF_INET, socket.AF_INET6):
                # Before listen(): the kernel takes SO_REUSEPORT into account when the socket starts listening.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.listen(backlog)
            sock.setblocking(False)
            ctx = ListenerContext(
                spec, self.settings, self.limits, self.app, self.log, self.access_log, error_stream, self.client_timeout,
                self.parser_cfg,
            )
            ctx.record = self.status.record
            if self.hooks is not None and self.hooks.per_request:
                ctx.hooks = self.hooks
            if server_tls is not None:
                ctx.serve_tls(server_tls)
            ctx.proxy = proxy_policy
            if ctx.tcp:
                ctx.preset_socket_options = preset_socket_options(sock, self.client_timeout)
            self.listeners.append((ctx, sock))
        if not self.listeners:
            raise RuntimeError("no listening sockets in the configuration")

    def server_tls(self):
        """The listeners' TLS when certfile/keyfile are set; a file or setting OpenSSL refuses stops the boot."""
        s = self.settings
        if not tls.enabled(s):
            return None
        try:
            return tls.ServerTLS(s, self.hooks.ssl_context_hook() if self.hooks is not None else None)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise RuntimeError("TLS: cannot use certfile %r, keyfile %r, ca_certs %r, ciphers %r: %s" % (
                s["certfile"], s["keyfile"], s["ca_certs"], s["ciphers"], exc))

    def set_app(self, app):
        self.app = app
        for ctx, _ in self.listeners:
            ctx.app = app

    def log_files(self):
        """The error and access log files by path (not stdout/stderr): what the worker's user must own."""
        targets = [self.settings["errorlog"], self.settings["accesslog"]]
        return [t for t in targets if t not in (None, "-")]


def preset_socket_options(listener, timeout):
    """Sets the client timeouts and TCP_NODELAY once on a TCP listener; accepted sockets inherit them.

    Saves a syscall per connection and Python's poll() before every recv/send that settimeout() costs.
    """
    timeout = timeout or 0  # None (timeout 0): a zero SO_RCVTIMEO/SO_SNDTIMEO means none
    try:
        tv = struct.pack("ll", int(timeout), int((timeout % 1) * 1000000))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sys.platform.startswith("linux")
    except (OSError, struct.error):
        return False


def source_files(seen):
    """Source files of the imported modules not in `seen` (the standard library and Unicorn left out)."""
    skip = tuple(os.path.join(p, "") for p in set(filter(None, (sysconfig.get_paths().get("stdlib"),
                                                                sysconfig.get_paths().get("platstdlib"),
                                                                os.path.dirname(os.path.abspath(__file__))))))
    out = []
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name:
            continue
        if name.endswith((".pyc", ".pyo")):
            name = name[:-1]
        name = os.path.abspath(name)
        if name in seen or name.startswith(skip) or not os.path.isfile(name):
            continue
        seen.add(name)
        out.append(name)
    return out


def start_file_reporter(boot):
    """--reload: tell the arbiter every source file imported, now and whenever more modules get imported."""
    seen = set()

    def report():
        files = source_files(seen)
        if files:
            boot.send_event({"event": "files", "files": files})

    def watch_imports():
        count = len(sys.modules)
        while True:
            time.sleep(1.0)
            if len(sys.modules) != count:
                count = len(sys.modules)
                try:
                    report()
                except OSError:
                    return  # the arbiter is gone; the loop notices and exits

    report()
    threading.Thread(target=watch_imports, name="unicorn-reload-files", daemon=True).start()


def install_abort_handler(boot):
    """On SIGABRT (and fatal signals), dump every thread's Python stack to the error log, then exit.

    faulthandler writes the stacks from its C-level handler, so this works even while the worker is
    stuck in C code; it then hands the signal to the Python handler below, which runs when it can.
    Called again after the logs are reopened, to point faulthandler at the new file.
    """
    signal.signal(signal.SIGABRT, boot.on_abort)
    # enable() keeps its old handlers when already enabled: disable first, or the signal.signal above wins.
    faulthandler.disable()
    faulthandler.enable(file=boot.log.file.fd, all_threads=True)


class NullStatus(object):
    """The loop's reporting hooks when there is no scoreboard: heartbeat, idle(requests served), busy(request)."""

    def heartbeat(self):
        pass

    def idle(self, served):
        pass

    def busy(self, req, served=None):
        pass

    def record(self, code, seconds, sent):
        pass

    def thread_record(self):
        return self.record

    def adopt_thread(self):
        pass

    def publish(self):
        pass

    def connections(self, count):
        pass

    def exiting(self):
        pass

    def set_debug_port(self, port):
        pass


def worker_class(settings):
    """The loop to run: gunicorn's rule turns sync with more than one thread into gthread."""
    name = settings["worker_class"]
    if name == "sync" and settings["threads"] > 1:
        return "gthread"
    return name


def loop_class(boot):
    """The worker loop's class, imported. Called before the switch to `user`/`group`, so that the loop's
    modules are read as the arbiter's user (as gunicorn imports its worker class in the master): the new
    user needs to read the app, not Unicorn's own files."""
    name = worker_class(boot.settings)
    if name == "gthread":
        from .gthread import ThreadWorker

        return ThreadWorker
    if name == "asgi":
        from .asgi import AsgiWorker

        return AsgiWorker
    if name == "gevent":
        from .ggevent import GeventWorker

        return GeventWorker
    if name != "sync":
        boot.log.warning("worker class %r is not available; running the sync worker", name)
    from .sync import SyncWorker

    return SyncWorker


def set_proc_name(name):
    """Best effort: the kernel's 15-byte comm name (what ps -o comm and top show)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_NAME = 15
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode("utf-8", "replace")[:15]), 0, 0, 0)
    except Exception:
        pass


def read_config(control):
    """The first line the arbiter sends: this process's configuration. Returns it and any bytes after it."""
    buf = b""
    while b"\n" not in buf:
        data = control.recv(65536)
        if not data:
            raise RuntimeError("the control channel closed before the configuration arrived")
        buf += data
    line, _, rest = buf.partition(b"\n")
    return json.loads(line.decode("utf-8")), rest


def from_control(control_fd, make, what):
    """`make(control, config, rest)` from the control channel and the configuration sent first on it;
    None (with the reason on stderr) when that fails."""
    try:
        control = socket.socket(fileno=control_fd)
        config, rest = read_config(control)
        return make(control, config, rest)
    except Exception:
        applog.boot_failure("%s failed to read its configuration\n%s" % (what, traceback.format_exc().rstrip()))
        return None


def main(control_fd):
    boot = from_control(control_fd, Boot, "Worker")
    return EXIT_BOOT_FAILED if boot is None else serve(boot)


def load(boot):
    """chdir, pythonpath and the app; returns an exit code when that fails, else None."""
    return set_paths(boot) or import_app(boot)


def set_paths(boot):
    try:
        boot.set_paths()
    except Exception:
        boot.log.exception("Worker failed to boot: cannot set up chdir/pythonpath")
        return EXIT_BOOT_FAILED
    return None


def import_app(boot):
    log = boot.log
    try:
        boot.set_app(load_app(boot.config["app"]))
    except AppLoadError as exc:
        log.error("%s", exc)
        return EXIT_APP_LOAD_FAILED
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        log.exception("Exception in worker process: failed to load the app %r", boot.config.get("app"))
        return EXIT_APP_LOAD_FAILED
    return None


def serve(boot, app=None):
    """Runs a worker to its end; `app` is given when a preloading zygote forked us with it imported.

    The order is gunicorn's: post_fork, then the switch to `user`/`group` (once the listeners, the
    scoreboard and the logs are open), the app import, post_worker_init, the loop; worker_exit at the end.
    """
    log = boot.log
    install_abort_handler(boot)
    if worker_class(boot.settings) == "gevent":
        from .ggevent import patch

        try:
            patch()  # before the app (and anything it imports) is imported
        except RuntimeError as exc:
            log.error("Worker failed to boot: %s", exc)
            return EXIT_BOOT_FAILED
    set_proc_name("%s: worker" % (boot.settings["proc_name"] or "unicorn"))
    if app is None:
        failed = set_paths(boot)
        if failed is not None:
            return failed
    else:
        boot.app = app  # what post_fork's worker.wsgi shows; the listeners get it once they are taken
    try:
        boot.hooks = WorkerHooks.from_boot(boot)
    except Exception:
        log.exception("Worker failed to boot: the config file %s did not load", boot.config.get("config_file"))
        return EXIT_BOOT_FAILED
    try:
        return boot_and_run(boot, app)
    finally:
        if boot.hooks is not None:
            boot.hooks.worker_exit()


def boot_and_run(boot, app):
    log = boot.log
    hooks = boot.hooks
    if hooks is not None:
        try:
            hooks.post_fork()
        except Exception:
            log.exception("Exception in post_fork hook: the worker cannot boot")
            return EXIT_BOOT_FAILED
    try:
        boot.take_listeners()
        loop = loop_class(boot)
    except Exception:
        log.exception("Worker failed to boot")
        return EXIT_BOOT_FAILED
    try:
        privileges.drop(boot.settings, boot.log_files())
    except privileges.UnreadablePython as exc:
        log.error("Worker failed to boot: %s", exc)
        return EXIT_BOOT_FAILED
    except Exception as exc:
        log.error("Worker failed to boot: cannot switch to user %r, group %r: %s",
                  boot.settings["user"], boot.settings["group"], exc)
        return EXIT_BOOT_FAILED
    if app is not None:
        boot.set_app(app)
    else:
        failed = import_app(boot)
        if failed is not None:
            return failed
    mismatch = kind_mismatch(worker_class(boot.settings), boot.app, boot.config.get("app"))
    if mismatch is not None:
        log.error("%s", mismatch)
        return EXIT_APP_LOAD_FAILED
    try:
        worker = loop(boot)
        worker.install_signals()
        if boot.settings["reload"]:
            start_file_reporter(boot)
    except Exception:
        log.exception("Worker failed to boot")
        return EXIT_BOOT_FAILED
    if hooks is not None:
        hooks.attach(worker)
        try:
            hooks.post_worker_init()
        except Exception:
            log.exception("Exception in post_worker_init hook: the worker cannot boot")
            return EXIT_BOOT_FAILED
    try:
        return worker.run_loop()
    finally:
        boot.status.exiting()
        log.info("Worker exiting (pid: %s)", os.getpid())
