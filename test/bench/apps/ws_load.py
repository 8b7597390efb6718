"""Websocket echo load for the bench: N clients (python3-websockets) each send a message and wait for its echo,
for S seconds. Prints {"messages": M, "per_second": R, "p99_ms": P, "errors": E}. Usage: ws_load.py PORT N S"""

import asyncio
import json
import sys
import time

import websockets


async def main(port, clients, seconds):
    latencies = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def one():
        nonlocal errors
        try:
            async with websockets.connect("ws://127.0.0.1:%d/ws" % port, compression=None) as ws:
                while time.monotonic() < deadline:
                    t0 = time.monotonic()
                    await ws.send(b"x" * 64)
                    await ws.recv()
                    latencies.append(time.monotonic() - t0)
        except Exception:
            errors += 1

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(clients)))
    took = time.monotonic() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    print(json.dumps({"messages": len(latencies), "per_second": len(latencies) / took, "p99_ms": p99, "errors": errors}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
