"""gunicorn's logging configuration in the worker: logconfig_dict / logconfig_json / logconfig and syslog.

When any of them is set, the worker's error and access lines go through Python's logging, to the
`gunicorn.error` and `gunicorn.access` loggers, set up exactly as gunicorn's glogging.Logger.setup does:
handlers for errorlog/accesslog first, syslog handlers next, then dictConfig (over gunicorn's
CONFIG_DEFAULTS, merged with dict.update as gunicorn merges it) or fileConfig, which also reach the
app's own loggers. Without them nothing here is imported and the plain writers in applog serve.
"""

import json
import os
import socket
import sys

# gunicorn.glogging.CONFIG_DEFAULTS
CONFIG_DEFAULTS = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": True, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": True, "qualname": "gunicorn.access"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
            "class": "logging.Formatter",
        }
    },
}

ERROR_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
DATE_FORMAT = "[%Y-%m-%d %H:%M:%S %z]"
SYSLOG_FORMAT = "[%(process)d] %(message)s"


def configured(settings):
    """True when the settings ask for Python's logging rather than the plain log writers."""
    return bool(settings.get("logconfig_dict") or settings.get("logconfig_json") or settings.get("logconfig")
                or settings.get("syslog"))


def access_enabled(settings):
    """gunicorn's rule for whether access lines are produced at all."""
    return bool(settings.get("accesslog") is not None or settings.get("logconfig_dict") or settings.get("logconfig_json")
                or settings.get("logconfig") or (settings.get("syslog") and not settings.get("disable_redirect_access_to_syslog")))


def _file_handler(logging, target, stream, fmt):
    if target in (None, "-"):
        handler = logging.StreamHandler(stream)
    else:
        handler = logging.FileHandler(target)
    handler.setFormatter(fmt)
    return handler


def _syslog_address(text):
    """gunicorn's parse_syslog_address: (socktype, address)."""
    if text.startswith("unix://"):
        path, _, kind = text[len("unix://"):].partition("#")
        return (socket.SOCK_DGRAM if kind == "dgram" else socket.SOCK_STREAM), path
    scheme, _, rest = text.partition("://")
    socktype = socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.partition(":")
    return socktype, (host or "localhost", int(port or 514))


def _syslog_handler(logging, settings, app, name):
    import logging.handlers

    prefix = settings.get("syslog_prefix") or settings.get("proc_name") or app or "unicorn"
    socktype, address = _syslog_address(settings.get("syslog_addr") or "udp://localhost:514")
    facility = logging.handlers.SysLogHandler.facility_names[(settings.get("syslog_facility") or "user").lower()]
    handler = logging.handlers.SysLogHandler(address=address, facility=facility, socktype=socktype)
    handler.setFormatter(logging.Formatter("gunicorn.%s.%s: %s" % (prefix.replace(":", "."), name, SYSLOG_FORMAT)))
    return handler


def setup(settings, app=None):
    """Configures logging as gunicorn does; returns the (gunicorn.error, gunicorn.access) loggers.

    A configuration logging.config refuses raises RuntimeError naming the setting and Python's reason.
    """
    try:
        return _setup(settings, app)
    except (ValueError, TypeError, KeyError, AttributeError, ImportError, OSError) as exc:
        which = next((n for n in ("logconfig_dict", "logconfig_json", "logconfig", "syslog") if settings.get(n)), "logging")
        raise RuntimeError("%s: logging.config cannot apply it: %s: %s" % (which, type(exc).__name__, exc))


def _setup(settings, app):
    import logging
    import logging.config

    error = logging.getLogger("gunicorn.error")
    access = logging.getLogger("gunicorn.access")
    for logger in (error, access):
        # A worker forked from a preloading process inherits its loggers: configure them afresh, once.
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = False
    error.setLevel(getattr(logging, str(settings.get("loglevel") or "info").upper(), logging.INFO))
    access.setLevel(logging.INFO)
    error.addHandler(_file_handler(logging, settings.get("errorlog"), sys.stderr, logging.Formatter(ERROR_FORMAT, DATE_FORMAT)))
    if settings.get("accesslog") is not None:
        access.addHandler(_file_handler(logging, settings.get("accesslog"), sys.stdout, logging.Formatter("%(message)s")))
    if settings.get("syslog"):
        error.addHandler(_syslog_handler(logging, settings, app, "error"))
        if not settings.get("disable_redirect_access_to_syslog"):
            access.addHandler(_syslog_handler(logging, settings, app, "access"))
    if settings.get("logconfig_dict"):
        config = dict(CONFIG_DEFAULTS)
        config.update(settings["logconfig_dict"])
        logging.config.dictConfig(config)
    elif settings.get("logconfig_json"):
        with open(settings["logconfig_json"]) as f:
            config = dict(CONFIG_DEFAULTS)
            config.update(json.load(f))
        logging.config.dictConfig(config)
    elif settings.get("logconfig"):
        path = settings["logconfig"]
        defaults = {"__file__": path, "here": os.path.dirname(path)}
        logging.config.fileConfig(path, defaults=defaults, disable_existing_loggers=False)
    return error, access


def reopen(logger):
    """USR1: reopen the logger's file handlers (gunicorn's reopen_files)."""
    import logging

    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and handler.stream is not None:
            handler.acquire()
            try:
                handler.stream.close()
                handler.stream = handler._open()
            finally:
                handler.release()
