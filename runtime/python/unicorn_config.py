"""Evaluates a gunicorn-style Python config file for the arbiter and prints what it set as JSON.

Usage: unicorn_config.py load PATH          -> {"settings": {...}, "callables": [...], "lines": {...}}
       unicorn_config.py django-settings PATH/manage.py -> {"settings_module": "..."}
       unicorn_config.py check-app JSON       -> {"ok": true}   (JSON: {"app", "chdir", "pythonpath", "worker_class"})
       unicorn_config.py describe-fds 3,4     -> {"sockets": [{"fd", "kind", "host", "port", "path"}]}
       unicorn_config.py listen-fds JSON      -> {}  (JSON: {"fds": [3, 4], "backlog": N}; listen() on each)
       unicorn_config.py owner JSON           -> {"uid", "gid", "user"}   (JSON: {"user", "group"})
On failure: {"error": "...", "line": N} and exit status 1. Standard library only, Python 3.8+.
"""
import ast
import json
import os
import sys
import traceback
import types


def _line_of(path, exc_tb):
    line = None
    for frame, lineno in traceback.walk_tb(exc_tb):
        if os.path.abspath(frame.f_code.co_filename) == path:
            line = lineno
    return line


def _jsonable(value):
    """The value as JSON, or None with the type's name when it cannot be represented."""
    if isinstance(value, (tuple, set, frozenset)):
        value = list(value)
    try:
        json.dumps(value)
        return True, value
    except (TypeError, ValueError):
        return False, type(value).__name__


def _read_names(source, path):
    """Line of the last top-level assignment to each name (for messages); the names the file reads
    (helpers, whatever they are called); and `name: type` annotations, which assign nothing."""
    lines, annotated = {}, {}
    try:
        tree = ast.parse(source, path)
    except SyntaxError:
        return lines, [], annotated
    used = sorted(set(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and node.value is None and isinstance(node.target, ast.Name):
            annotated[node.target.id] = node.lineno
            continue
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            lines[node.name] = node.lineno
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    lines[n.id] = node.lineno
    return lines, used, annotated


def load(path):
    path = os.path.abspath(path)
    with open(path, "rb") as f:
        source = f.read()
    namespace = {"__file__": path, "__name__": "__config__", "__builtins__": __builtins__}
    # Sibling modules of the config file are importable, as they are for gunicorn's loader.
    sys.path.insert(0, os.path.dirname(path))
    try:
        code = compile(source, path, "exec")
    except SyntaxError as e:
        return {"error": "syntax error: %s" % e.msg, "line": e.lineno}
    try:
        exec(code, namespace)
    except SystemExit as e:
        return {"error": "the config file called exit(%r)" % (e.code,), "line": _line_of(path, sys.exc_info()[2])}
    except BaseException as e:  # noqa: B902 - any failure of user code is reported, not raised
        return {
            "error": "%s: %s" % (type(e).__name__, e),
            "line": _line_of(path, sys.exc_info()[2]),
            "traceback": traceback.format_exc(),
        }
    settings, hooks, unserializable = {}, [], {}
    for name, value in namespace.items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if callable(value):
            hooks.append(name)
            continue
        ok, out = _jsonable(value)
        if ok:
            settings[name] = out
        else:
            unserializable[name] = out
    lines, used, annotated = _read_names(source, path)
    return {
        "settings": settings,
        "callables": hooks,
        "unserializable": unserializable,
        "lines": lines,
        "used": used,
        "annotated": annotated,
    }


def django_settings(manage_py):
    """DJANGO_SETTINGS_MODULE as manage.py sets it with os.environ.setdefault(...), read statically."""
    with open(manage_py, "rb") as f:
        tree = ast.parse(f.read(), manage_py)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("setdefault", "__setitem__")
            and len(node.args) == 2
        ):
            try:
                key, value = ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1])
            except ValueError:
                continue
            if key == "DJANGO_SETTINGS_MODULE" and isinstance(value, str):
                return {"settings_module": value}
    return {"error": "manage.py does not set DJANGO_SETTINGS_MODULE"}


def check_app(spec):
    """--check-config: import the app exactly as a worker would, with the worker's own loader."""
    spec = json.loads(spec)
    here = os.path.dirname(os.path.abspath(__file__))
    from unicorn_worker.loader import kind_mismatch, load_app

    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    for entry in reversed([spec["chdir"]] + spec.get("pythonpath", [])):
        sys.path.insert(0, entry)
    os.chdir(spec["chdir"])
    try:
        app = load_app(spec["app"])
    except BaseException as e:  # noqa: B902 - the app's failure is the answer
        return {"error": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()}
    mismatch = kind_mismatch(spec.get("worker_class") or "sync", app, spec["app"])
    return {"error": mismatch} if mismatch else {"ok": True}


def describe_fds(text):
    """What inherited descriptors are (systemd socket activation, fd://N): family and bound address."""
    import socket

    sockets = []
    for part in text.split(","):
        fd = int(part)
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            return {"error": "descriptor %d is not a socket (%s)" % (fd, e.strerror)}
        try:
            if sock.type != socket.SOCK_STREAM:
                return {"error": "descriptor %d is not a stream socket" % fd}
            name = sock.getsockname()
            if sock.family == socket.AF_UNIX:
                path = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
                sockets.append({"fd": fd, "kind": "unix", "path": path})
            elif sock.family in (socket.AF_INET, socket.AF_INET6):
                sockets.append({"fd": fd, "kind": "tcp", "host": name[0], "port": name[1]})
            else:
                return {"error": "descriptor %d has an unsupported socket family" % fd}
        finally:
            sock.detach()  # describe only: the descriptor stays open for the arbiter
    return {"sockets": sockets}


def listen_fds(spec):
    """listen(backlog) on the arbiter's bound sockets (shared with this process), which Node cannot do without accepting."""
    import socket

    spec = json.loads(spec)
    for fd in spec["fds"]:
        sock = socket.socket(fileno=fd)
        try:
            sock.listen(spec["backlog"])
        except OSError as e:
            return {"error": "descriptor %d: %s" % (fd, e.strerror)}
        finally:
            sock.detach()  # the descriptor stays the arbiter's
    return {}


def owner(spec):
    """user/group: the ids the workers will run as, with the worker's own resolution; unknown names are errors."""
    from unicorn_worker.privileges import OwnerError, resolve

    spec = json.loads(spec)
    try:
        uid, gid, name = resolve(spec.get("user"), spec.get("group"))
    except OwnerError as e:
        return {"error": str(e), "setting": e.setting}
    return {"uid": uid, "gid": gid, "user": name}


VERBS = {
    "load": load, "django-settings": django_settings, "check-app": check_app, "describe-fds": describe_fds, "listen-fds": listen_fds,
    "owner": owner,
}


def main(argv):
    if len(argv) != 3 or argv[1] not in VERBS:
        sys.stderr.write(__doc__)
        return 2
    # Whatever the config file prints goes to stderr, so stdout carries only the JSON answer.
    out, sys.stdout = sys.stdout, sys.stderr
    try:
        result = VERBS[argv[1]](argv[2])
    except OSError as e:
        result = {"error": "cannot read %s: %s" % (argv[2], e.strerror)}
    except SyntaxError as e:
        result = {"error": "syntax error: %s" % e.msg, "line": e.lineno}
    out.write(json.dumps(result))
    out.flush()
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
