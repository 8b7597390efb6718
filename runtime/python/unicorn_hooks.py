"""Runs a config file's master-side server hooks (on_starting, pre_fork, ...) on the arbiter's behalf.

The arbiter is not Python, so it keeps this process beside it for as long as it runs:
    unicorn_hooks.py CONFIG_FILE ERRORLOG LOGLEVEL MASTER_PID
Requests arrive on stdin and answers leave on fd 3, one JSON object a line:
    {"id": 1, "hook": "pre_fork", "server": {...}, "worker": {...}, "args": [...]}
    {"id": 1, "ok": true}  or  {"id": 1, "error": "Traceback ..."}
What the hooks print goes to stderr. Standard library only, Python 3.8+.
"""
import json
import os
import sys
import traceback

from unicorn_worker.applog import ErrorLog


class Config(object):
    """`server.cfg`: every setting as an attribute (cfg.workers, cfg.bind, ...), as gunicorn's Config offers."""

    def __init__(self, settings):
        self.settings = settings
        self.__dict__.update(settings)

    def __getattr__(self, name):
        raise AttributeError("unicorn has no setting %r" % name)


class WorkerInfo(object):
    """What the arbiter knows of a worker: pid (None before it is spawned), age, ppid."""

    def __init__(self, data, ppid):
        self.pid = data.get("pid")
        self.age = data.get("age")
        self.ppid = ppid
        self.booted = data.get("booted", False)
        self.aborted = False


class App(object):
    def __init__(self, cfg):
        self.cfg = cfg


class Server(object):
    """What gunicorn's arbiter offers hooks in practice: log, cfg, pid, num_workers, proc_name, WORKERS.

    One object for the arbiter's lifetime, so attributes a hook sets on it are there for later hooks.
    """

    def __init__(self, log, pid):
        self.log = log
        self.pid = pid
        self.master_name = "Master"
        self.cfg = Config({})
        self.app = App(self.cfg)
        self.num_workers = 0
        self.proc_name = None
        self.address = []
        self.WORKERS = {}

    def update(self, data):
        self.cfg = Config(data.get("cfg") or {})
        self.app = App(self.cfg)
        self.num_workers = data.get("num_workers", self.num_workers)
        self.proc_name = data.get("proc_name")
        self.address = data.get("address") or []
        self.WORKERS = dict((w["pid"], WorkerInfo(w, self.pid)) for w in data.get("workers") or [])


def load_hooks(path):
    namespace = {"__file__": path, "__name__": "__config__"}
    sys.path.insert(0, os.path.dirname(path))
    with open(path, "rb") as f:
        exec(compile(f.read(), path, "exec"), namespace)
    return dict((k, v) for k, v in namespace.items() if callable(v) and not k.startswith("_"))


def main(argv):
    config, errorlog, loglevel, master_pid = argv[1], argv[2], argv[3], int(argv[4])
    answers = os.fdopen(3, "w", buffering=1)
    sys.stdout = sys.stderr  # a hook's print() must not end up in the answers
    log = ErrorLog(errorlog, loglevel)
    log.pid = master_pid  # lines read as the arbiter's own, as they do in gunicorn
    server = Server(log, master_pid)
    try:
        hooks = load_hooks(config)
    except BaseException:  # noqa: B902 - the arbiter reports it
        answers.write(json.dumps({"id": 0, "error": traceback.format_exc()}) + "\n")
        return 1
    answers.write(json.dumps({"id": 0, "ok": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        server.update(request.get("server") or {})
        worker = WorkerInfo(request["worker"], master_pid) if request.get("worker") else None
        args = [server] + ([worker] if worker is not None else []) + list(request.get("args") or [])
        try:
            hooks[request["hook"]](*args)
            answer = {"id": request["id"], "ok": True}
        except BaseException:  # noqa: B902 - a hook's failure is reported, never fatal here
            answer = {"id": request["id"], "error": traceback.format_exc().rstrip("\n")}
        answers.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
