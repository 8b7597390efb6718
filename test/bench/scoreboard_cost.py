"""What the scoreboard costs a worker per request: the busy() and idle() updates around each request,
timed over many iterations against a real scoreboard file (in /dev/shm when there is one).
Run: python3 test/bench/scoreboard_cost.py  (npm run bench:scoreboard)."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "python"))
from unicorn_worker.scoreboard import SLOT_SIZE, Scoreboard  # noqa: E402


class Request(object):
    method = "GET"
    path = "/api/items/42"


def main():
    directory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    fd, path = tempfile.mkstemp(prefix="unicorn-bench-", suffix=".scoreboard", dir=directory)
    os.write(fd, b"\0" * SLOT_SIZE * 4)
    os.close(fd)
    try:
        board = Scoreboard(path, 2)
        req = Request()
        n = 200000
        best = None
        for _ in range(5):
            t0 = time.perf_counter()
            for i in range(n):
                board.busy(req)
                board.idle(i)
            elapsed = (time.perf_counter() - t0) / n
            best = elapsed if best is None else min(best, elapsed)
        t0 = time.perf_counter()
        for _ in range(n):
            board.heartbeat()
        beat = (time.perf_counter() - t0) / n
        print("scoreboard in %s, Python %s" % (directory, sys.version.split()[0]))
        print("per request (busy + idle): %.2f us (best of 5 x %d)" % (best * 1e6, n))
        print("per heartbeat:                      %.2f us" % (beat * 1e6))
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
