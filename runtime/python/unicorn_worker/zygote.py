"""preload_app: imports the app once and forks workers from it on the arbiter's request (copy-on-write).

The arbiter starts it like a worker (`unicorn_worker_main.py --zygote --control-fd N`, the listeners
on fd 3…) and sends its configuration first. After that, on the control channel:
    arbiter -> zygote  {"command": "spawn", "worker": {worker_id, ppid, scoreboard, settings}, "socket": PATH}
    zygote -> arbiter  {"event": "ready"} once the app is imported
                       {"event": "spawned", "worker_id": N, "pid": P}
                       {"event": "exit", "pid": P, "code": C or null, "signal": "SIGKILL" or null}
A forked worker connects to the arbiter's worker socket PATH, says {"worker_id": N, "pid": P}, and
uses that connection as its control channel from then on (the arbiter cannot receive descriptors).
"""

import gc
import json
import os
import selectors
import signal
import socket
import sys
import traceback

from . import applog
from .worker import EXIT_BOOT_FAILED, Boot, from_control, load, serve

# The signals the zygote handles itself; a forked worker starts from their default actions.
_ZYGOTE_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "SIG%d" % number


class Zygote(object):
    def __init__(self, control, config, rest):
        self.control = control
        self.config = config
        self.buf = rest
        self.boot = Boot(control, config, rest)

    def send(self, event):
        self.boot.send_event(event)

    def run(self):
        boot = self.boot
        failed = load(boot)
        if failed is not None:
            return failed
        # Objects the app created at import are moved out of the collector's reach, so that a
        # worker's garbage collections do not write to (and so copy) the pages they live on.
        gc.collect()
        if hasattr(gc, "freeze"):
            gc.freeze()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, lambda *_: sys.exit(0))
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(wake_r, selectors.EVENT_READ, "wake")
        self.send({"event": "ready", "pid": os.getpid()})
        while True:
            for key, _ in selector.select(1.0):
                if key.data == "wake":
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass
                elif not self.read_commands():
                    return 0  # the arbiter is gone; the workers notice it on their own connections
            self.reap()

    def read_commands(self):
        try:
            data = self.control.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            return False
        *lines, self.buf = (self.buf + data).split(b"\n")
        for line in lines:
            request = json.loads(line.decode("utf-8"))
            if request.get("command") == "spawn":
                self.spawn(request["worker"], request["socket"])
        return True

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if os.WIFSIGNALED(status):
                self.send({"event": "exit", "pid": pid, "code": None, "signal": _signal_name(os.WTERMSIG(status))})
            else:
                self.send({"event": "exit", "pid": pid, "code": os.WEXITSTATUS(status), "signal": None})

    def spawn(self, worker, socket_path):
        # The arbiter learns the new pid from the "spawned" report and may signal it (TERM on a stop) before
        # the child has dropped the zygote's handlers, which would swallow it: the child would serve on as
        # if never told. Blocked across the fork, such a signal waits until the child's own dispositions apply.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _ZYGOTE_SIGNALS)
        pid = os.fork()
        if pid:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            self.send({"event": "spawned", "worker_id": worker["worker_id"], "pid": pid})
            return
        # In the worker: leave the zygote's world behind, join the arbiter, and serve.
        code = EXIT_BOOT_FAILED
        try:
            signal.set_wakeup_fd(-1)
            for sig in _ZYGOTE_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a TERM sent meanwhile ends the child now
            self.control.close()
            control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            control.connect(socket_path)
            control.sendall((json.dumps({"worker_id": worker["worker_id"], "pid": os.getpid()}) + "\n").encode())
            config = dict(self.config)
            config.update(worker)
            config["arbiter_pid"] = self.config.get("ppid")  # what hooks see as worker.ppid and server.pid
            config["ppid"] = os.getppid()  # the zygote: the parent check follows it, EOF follows the arbiter
            code = serve(Boot(control, config), app=self.boot.app)
        except SystemExit as exc:  # INT/QUIT end a worker with sys.exit: an exit, not a boot failure
            code = exc.code if isinstance(exc.code, int) else 0
        except BaseException:  # noqa: B902 - a worker must never return into the zygote's loop
            # With the reason, as a worker started on its own shows it (its traceback reaches stderr).
            applog.boot_failure("Worker failed to boot from the preloaded app\n%s" % traceback.format_exc().rstrip())
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else EXIT_BOOT_FAILED)


def main(control_fd):
    zygote = from_control(control_fd, Zygote, "Preloader")
    return EXIT_BOOT_FAILED if zygote is None else zygote.run()
