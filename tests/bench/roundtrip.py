"""Measure the command round trip (send → `command_received`, send → `command_result`).

Usage: `python -m tests.bench.roundtrip --ws ws://127.0.0.1:8000/ws --auth http://127.0.0.1:8001`
(a benchmark that measures and reports; `make bench` grows from it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import websockets

from tests.client import login


async def measure(ws_url: str, auth_url: str, count: int, command: str) -> dict[str, float]:
    """Send `count` commands one after another; return p50/p99 in milliseconds."""
    token = await login(auth_url)
    received: list[float] = []
    results: list[float] = []
    async with websockets.connect(ws_url, compression=None) as ws:
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        json.loads(await ws.recv())
        for i in range(count):
            started = time.perf_counter()
            await ws.send(
                json.dumps({"event": "command", "id": str(i), "data": {"command": command}})
            )
            got_received = False
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["event"] == "command_received" and not got_received:
                    received.append(time.perf_counter() - started)
                    got_received = True
                elif frame["event"] == "command_result" and frame.get("ref") == str(i):
                    results.append(time.perf_counter() - started)
                    break

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "received_p50_ms": 1000 * statistics.median(received),
        "received_p99_ms": pct(received, 0.99),
        "result_p50_ms": 1000 * statistics.median(results),
        "result_p99_ms": pct(results, 0.99),
    }


def main() -> None:
    """Parse arguments, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ws", default="ws://127.0.0.1:8000/ws")
    parser.add_argument("--auth", default="http://127.0.0.1:8001")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--command", default="/help")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.ws, args.auth, args.count, args.command))))


if __name__ == "__main__":
    main()
