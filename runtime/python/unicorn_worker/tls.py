"""TLS: the worker's one SSLContext, built at boot from the SSL settings, and the server side of each connection."""



class _NotInUse(Exception):
    """Stands for the ssl module's exceptions until TLS is in use, so plain workers never import ssl (4 MB)."""


WANT_READ = WANT_WRITE = _NotInUse


def _ssl():
    """The ssl module, imported on first use; also publishes its want-read/write errors for the loops."""
    global WANT_READ, WANT_WRITE
    import ssl

    WANT_READ, WANT_WRITE = ssl.SSLWantReadError, ssl.SSLWantWriteError
    return ssl

# ssl_version spellings that set a minimum; TLS, TLS_SERVER and SSLv23 keep OpenSSL's own.
_MINIMUM = {"TLSv1": "TLSv1", "TLSv1_1": "TLSv1_1", "TLSv1_2": "TLSv1_2", "TLSv1_3": "TLSv1_3"}


def enabled(settings):
    """gunicorn's is_ssl: a certfile or a keyfile turns TLS on."""
    return bool(settings["certfile"] or settings["keyfile"])


def build_context(settings):
    """The context every connection shares; raises (ssl.SSLError, OSError, ValueError) naming what is wrong."""
    ssl = _ssl()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=settings["ca_certs"] or None)
    context.load_cert_chain(certfile=settings["certfile"], keyfile=settings["keyfile"] or None)
    context.verify_mode = ssl.VerifyMode(settings["cert_reqs"])
    minimum = _MINIMUM.get(settings["ssl_version"])
    if minimum is not None:
        context.minimum_version = getattr(ssl.TLSVersion, minimum)
    ciphers = settings["ciphers"]
    if ciphers:
        context.set_ciphers(ciphers)
    return context


class ServerTLS(object):
    """What a listener needs to serve TLS: the context and the two wrap flags gunicorn passes."""

    __slots__ = ("context", "handshake_on_connect", "suppress_ragged_eofs")

    def __init__(self, settings):
        self.context = build_context(settings)
        self.handshake_on_connect = settings["do_handshake_on_connect"]
        self.suppress_ragged_eofs = settings["suppress_ragged_eofs"]

    def wrap(self, sock, handshake_now=None):
        """The SSLSocket for an accepted connection; the plain socket object is detached (the fd moves over)."""
        return self.context.wrap_socket(
            sock,
            server_side=True,
            do_handshake_on_connect=self.handshake_on_connect if handshake_now is None else handshake_now,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
        )
