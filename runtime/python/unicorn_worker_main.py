"""Launches one Unicorn worker: `python unicorn_worker_main.py --control-fd N` (see runtime/WORKER_PROTOCOL.md).

With --zygote it launches the preload_app process instead, which imports the app once and forks workers.
"""

import os
import sys


def main():
    args = sys.argv[1:]
    control_fd = None
    for i, arg in enumerate(args):
        if arg == "--control-fd" and i + 1 < len(args):
            control_fd = args[i + 1]
        elif arg.startswith("--control-fd="):
            control_fd = arg.split("=", 1)[1]
    if control_fd is None or not control_fd.isdigit():
        sys.stderr.write("usage: unicorn_worker_main.py --control-fd N\n")
        return 3
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from unicorn_worker import worker, zygote

    # The app must not import our modules by accident, nor shadow them.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if "--zygote" in args:
        return zygote.main(int(control_fd))
    return worker.main(int(control_fd))


if __name__ == "__main__":
    sys.exit(main())
