"""ASGI lifespan: startup before the worker reports booted, shutdown after its last connection; once per worker.

`asgi_lifespan`: auto (an app that raises on the lifespan scope before it completes startup does not
speak lifespan: logged, and the worker serves without it), on (that is a boot failure), off (never sent).
"""

import asyncio


class Lifespan(object):
    def __init__(self, app, mode, log):
        self.app = app
        self.mode = mode
        self.log = log
        self.state = {}
        self.messages = asyncio.Queue()
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.failure = None  # the app's startup.failed / shutdown.failed message
        self.error = None  # what the app raised
        self.task = None
        self.supported = True

    async def startup(self):
        """None when the app started (or does not speak lifespan in auto mode); else the reason it failed."""
        self.task = asyncio.get_event_loop().create_task(self.run())
        await self.messages.put({"type": "lifespan.startup"})
        await self.started.wait()
        if self.error is not None:
            if self.mode == "auto":
                self.log.info("ASGI 'lifespan' protocol appears unsupported (%s: %s); serving without it",
                              type(self.error).__name__, self.error)
                self.supported = False
                return None
            return "the app raised %s: %s" % (type(self.error).__name__, self.error)
        if self.failure is not None:
            return self.failure or "lifespan.startup.failed without a message"
        return None

    async def shutdown(self, timeout=30.0):
        if not self.supported or self.task is None or self.task.done():
            return
        await self.messages.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.stopped.wait(), timeout)
        except asyncio.TimeoutError:
            self.log.warning("the app did not complete lifespan shutdown within %s s", timeout)
            self.task.cancel()
            return
        if self.failure is not None and self.started_ok:
            self.log.error("Application shutdown failed: %s", self.failure)

    started_ok = False

    async def run(self):
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            if not self.started.is_set():
                self.error = exc
                if self.mode == "on":
                    self.log.exception("Exception in the app's lifespan startup")
            elif not isinstance(exc, asyncio.CancelledError):
                self.log.exception("Exception in the app's lifespan protocol")
            if not isinstance(exc, Exception):
                raise
        finally:
            if not self.started.is_set() and self.error is None and self.failure is None:
                self.error = RuntimeError("the lifespan task returned before lifespan.startup.complete")
            self.started.set()
            self.stopped.set()

    async def receive(self):
        return await self.messages.get()

    async def send(self, message):
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.started_ok = True
            self.started.set()
        elif kind == "lifespan.startup.failed":
            self.failure = str(message.get("message", ""))
            self.started.set()
        elif kind == "lifespan.shutdown.complete":
            self.stopped.set()
        elif kind == "lifespan.shutdown.failed":
            self.failure = str(message.get("message", ""))
            self.stopped.set()
        else:
            raise RuntimeError("unexpected ASGI message %r for a lifespan scope" % (kind,))
