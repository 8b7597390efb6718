"""Imports the WSGI app named by an app URI: `module`, `module:name`, `module:factory(literal, key=literal)`."""

import ast
import importlib
import inspect
import re

_CALLABLE_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*(\((.*)\))?\s*\Z", re.S)


class AppLoadError(Exception):
    """The URI is malformed or names nothing callable (an import error propagates as itself)."""


def parse_uri(uri):
    """Splits an app URI into (module, attribute path, args, kwargs or None when not a call)."""
    module, _, expr = uri.partition(":")
    module = module.strip()
    if not module or not re.match(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z", module):
        raise AppLoadError("invalid app module %r in %r (expected module:callable)" % (module, uri))
    if not expr.strip():
        expr = "application"
    m = _CALLABLE_RE.match(expr)
    if m is None:
        raise AppLoadError("invalid app callable %r in %r" % (expr, uri))
    name, call, arglist = m.group(1), m.group(2), m.group(3)
    if call is None:
        return module, name, None, None
    try:
        node = ast.parse("f(%s)" % arglist, mode="eval").body
    except SyntaxError:
        raise AppLoadError("invalid arguments for %s in %r" % (name, uri))
    if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords
    ):
        raise AppLoadError("invalid arguments for %s in %r" % (name, uri))
    try:
        # Literals only: an app URI must never run code of its own.
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = dict((k.arg, ast.literal_eval(k.value)) for k in node.keywords)
    except ValueError:
        raise AppLoadError("arguments for %s in %r must be Python literals" % (name, uri))
    return module, name, args, kwargs


def load_app(uri):
    module_name, name, args, kwargs = parse_uri(uri)
    module = importlib.import_module(module_name)
    obj = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError("Failed to find attribute %r in %r." % (name, module_name)) from None
    if args is not None:
        if not callable(obj):
            raise AppLoadError("%s:%s is not callable, so it cannot be a factory" % (module_name, name))
        obj = obj(*args, **kwargs)
    if obj is None:
        raise AppLoadError("%s:%s returned None instead of a WSGI application" % (module_name, name))
    if not callable(obj):
        raise AppLoadError("Application object %s:%s must be callable." % (module_name, name))
    return obj


def app_kind(app):
    """'asgi' for an ASGI 3 app (a coroutine function, or an object whose __call__ is one), else 'wsgi'."""
    if inspect.iscoroutinefunction(app):
        return "asgi"
    if not inspect.isclass(app) and inspect.iscoroutinefunction(getattr(app, "__call__", None)):
        return "asgi"
    return "wsgi"


def kind_mismatch(worker_class, app, uri):
    """The one-line reason when `app` is not the kind `worker_class` serves (WSGI or ASGI), else None."""
    kind = app_kind(app)
    if worker_class == "asgi" and kind == "wsgi":
        return ("%s is a WSGI app but worker_class asgi serves ASGI apps — run it with -k gthread (or sync, "
                "gevent), or name the project's ASGI app" % uri)
    if worker_class != "asgi" and kind == "asgi":
        return "%s is an ASGI app but worker_class %s serves WSGI apps — run it with -k asgi" % (uri, worker_class)
    return None
