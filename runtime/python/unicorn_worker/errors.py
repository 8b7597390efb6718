"""Typed request errors; each class carries the HTTP status it is answered with (the one mapping)."""

import socket

# A client too slow for the read/send timeout: Python's own timeout, or the kernel's SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN).
TIMEOUTS = (socket.timeout, BlockingIOError)


class RequestError(Exception):
    """A request we refuse before (or instead of) calling the app; answered with `status`."""

    status = 400
    reason = "Bad Request"

    def __init__(self, detail=""):
        Exception.__init__(self, detail or self.reason)
        self.detail = detail or self.reason


# Request line.
class InvalidRequestLine(RequestError):
    pass


class InvalidRequestMethod(RequestError):
    pass


class InvalidRequestTarget(RequestError):
    pass


class InvalidHTTPVersion(RequestError):
    pass


class RequestLineTooLong(RequestError):
    status = 414
    reason = "URI Too Long"


# Header section.
class InvalidHeader(RequestError):
    pass


class InvalidHeaderName(RequestError):
    pass


class ObsoleteLineFolding(RequestError):
    pass


class TooManyHeaders(RequestError):
    status = 431
    reason = "Request Header Fields Too Large"


class HeaderTooLarge(RequestError):
    status = 431
    reason = "Request Header Fields Too Large"


class InvalidSchemeHeaders(RequestError):
    pass


# The PROXY protocol header in front of a connection (gunicorn's names).
class InvalidProxyLine(RequestError):
    pass


class ForbiddenProxyRequest(RequestError):
    status = 403
    reason = "Forbidden"


# Body framing.
class InvalidContentLength(RequestError):
    pass


class AmbiguousFraming(RequestError):
    pass


class InvalidTransferEncoding(RequestError):
    pass


class UnsupportedTransferEncoding(RequestError):
    status = 501
    reason = "Not Implemented"


class InvalidChunkSize(RequestError):
    pass


class ChunkMissingTerminator(RequestError):
    pass


class ForbiddenTrailer(RequestError):
    pass


class ClientDisconnected(OSError):
    """The client closed the connection before the request (head or body) was complete."""


class ResponseError(Exception):
    """The app broke PEP 3333's rules for the response (bad status, bad header); answered 500."""
