"""CPU cost of one request through the worker's Python hot path (parse, environ, app, response), no sockets.

Not a test: `python3 test/bench/hotpath.py` prints microseconds per request for the hello-world GET
(Connection: close and keep-alive) and the 16 KiB POST echo.

`python3 test/bench/hotpath.py --instructions` (needs valgrind: apt-get install valgrind) counts instead the
machine instructions one request costs, with and without the metrics counters (Scoreboard.record, and the
per-thread recorder gthread's pool threads use), under callgrind: each variant runs twice, N1 and N2 requests,
and (I(N2) - I(N1)) / (N2 - N1) leaves the interpreter's start-up out. Instruction counts do not depend on what
else the machine runs, where CPU time on a shared machine varies by ±15 % from run to run: this is the figure
that can show a 1 % cost. The kernel's share (accept, recv, send, close) is what `npm run bench` adds on top;
this isolates the part our Python code controls.
"""

import contextlib
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "runtime", "python"))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "test", "bench", "apps"))

from unicorn_worker import applog, parser, wsgi  # noqa: E402
from unicorn_worker.scoreboard import Scoreboard  # noqa: E402

import echo  # noqa: E402
import test as hello  # noqa: E402


class FakeSocket(object):
    """Just enough of a socket for handle_request: sends are counted, not made."""

    def __init__(self):
        self.sent = 0

    def sendall(self, data):
        self.sent += len(data)

    def recv(self, n):
        return b""


def run(app, request, keep_alive, n, scoreboard, record=None):
    limits = parser.Limits()
    log = applog.ErrorLog("-", "info")
    spec = {"kind": "tcp", "host": "127.0.0.1", "port": 8000}
    # The settings the arbiter sends typed (the ones ListenerContext reads), at their defaults.
    settings = {"forwarded_allow_ips": ["127.0.0.1", "::1"], "secure_scheme_headers": {
        "X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"},
        "forwarder_headers": ["SCRIPT_NAME", "PATH_INFO"], "root_path": ""}
    ctx = wsgi.ListenerContext(spec, settings, limits, app, log, None, applog.ErrorStream(log))
    if record is not None:
        ctx.record = record  # as the worker sets it: the per-request metrics counters
    sock = FakeSocket()
    peer = ("127.0.0.1", 40000)
    handle_request, head_end, parse_head = wsgi.handle_request, parser.head_end, parser.parse_head
    start = time.process_time()
    for _ in range(n):
        end = head_end(request, 0, limits)
        req = parse_head(request[:end], limits)
        scoreboard.busy(req)
        handle_request(ctx, sock, peer, req, request[end + 4:], keep_alive)
        scoreboard.idle(1)
    return (time.process_time() - start) / n * 1e6


VARIANTS = ("none", "record", "threaded")
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"


@contextlib.contextmanager
def temp_board():
    """A Scoreboard on a scratch file of its own (slot 1), removed afterwards."""
    path = "/tmp/unicorn-hotpath-%d.board" % os.getpid()
    with open(path, "wb") as f:
        f.write(b"\0" * 4096)
    try:
        yield Scoreboard(path, 1)
    finally:
        os.unlink(path)


def threaded(board):
    """The recorder gthread's pool threads use (a tally per thread), adopted by this thread."""
    record = board.thread_record()
    board.adopt_thread()
    return record


def one(variant, n):
    """`--one VARIANT N`: N requests of the GET (Connection: close) path, the metrics as VARIANT; no output."""
    with temp_board() as board:
        record = None if variant == "none" else board.record if variant == "record" else threaded(board)
        run(hello.app, GET_CLOSE, False, 200, board, record)  # (the same warm-up in every run: it cancels out)
        run(hello.app, GET_CLOSE, False, n, board, record)


def instructions():
    import re
    import subprocess

    def count(variant, n):
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                              os.path.abspath(__file__), "--one", variant, str(n)], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONHASHSEED="0"))  # (hash order changes the count a little)
        found = re.search(r"Collected : (\d+)", out.stderr)
        if out.returncode != 0 or not found:
            sys.exit("hotpath: valgrind failed (apt-get install valgrind): %s" % out.stderr[-2000:])
        return int(found.group(1))

    n1, n2 = 1000, 3000
    per = {}
    for variant in VARIANTS:
        per[variant] = (count(variant, n2) - count(variant, n1)) / float(n2 - n1)
    base = per["none"]
    print("GET hello, Connection: close — machine instructions per request (callgrind, (I(%d) - I(%d)) / %d):"
          % (n2, n1, n2 - n1))
    print("  without the metrics counters      %9.0f" % base)
    print("  with Scoreboard.record (sync)     %9.0f  +%.0f (+%.2f %%)" % (
        per["record"], per["record"] - base, (per["record"] / base - 1) * 100))
    print("  with gthread's per-thread record  %9.0f  +%.0f (+%.2f %%)" % (
        per["threaded"], per["threaded"] - base, (per["threaded"] / base - 1) * 100))
    print("(the worker's Python path only: the kernel's accept/recv/send/close, which the full request adds, "
          "would make each share smaller)")


def main():
    if sys.argv[1:2] == ["--one"]:
        return one(sys.argv[2], int(sys.argv[3]))
    if sys.argv[1:2] == ["--instructions"]:
        return instructions()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    with temp_board() as board:
        get_keep = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
        body = b"x" * 16384
        post = b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 16384\r\n\r\n" + body
        for name, app, req, keep in (
            ("GET hello, Connection: close", hello.app, GET_CLOSE, False),
            ("GET hello, keep-alive", hello.app, get_keep, True),
            ("POST 16 KiB echo, keep-alive", echo.app, post, True),
        ):
            run(app, req, keep, n // 10, board)  # warm-up
            best = min(run(app, req, keep, n, board) for _ in range(5))
            print("%-30s %6.2f µs per request (CPU time, best of 5 × %d)" % (name, best, n))
        # What the metrics counters (Scoreboard.record, which the worker calls after every request) add,
        # measured alternately with and without them.
        # gthread's pool threads record into a tally each (Scoreboard.thread_record).
        for name, record in (("Scoreboard.record", board.record), ("gthread's per-thread record", threaded(board))):
            without, with_ = [], []
            for _ in range(5):
                without.append(run(hello.app, GET_CLOSE, False, n, board))
                with_.append(run(hello.app, GET_CLOSE, False, n, board, record))
            print("GET hello, Connection: close: %.2f µs without %s, %.2f µs with it: +%.2f µs (%.1f %%)" % (
                min(without), name, min(with_), min(with_) - min(without), (min(with_) / min(without) - 1) * 100))


if __name__ == "__main__":
    main()
