"""SSE benchmark: 100,000 small events to one client, longwire and its peers side by side.

Method (shared/BENCHMARKING.md): for each repetition the servers are started one
after the other (the order rotates each repetition), each on a fresh port,
pinned to CPU 0 (``taskset -c 0``); this script is the client, pinned to CPU 1:
a raw asyncio reader that sends ``GET /events?n=N`` with ``Connection: close``
and counts the events (their ``data:`` lines) until the server
closes. Each server is first checked (1,000 events, byte-exact data lines),
then one warm-up stream, then ``--streams`` streams are timed; over them the
server's CPU time (utime+stime from /proc/PID/stat) and the client's are taken.
Reported per server: median events/s, the medians of the per-repetition ratios
longwire ÷ peer and peer ÷ raw bound, the server CPU µs per event, and both CPU
loads (``†`` where the client was the bottleneck: client ≥ 90 % CPU, server
below 90 %).

Servers: see bench/servers/sse_servers.py (``raw``, one ``transport.write``
per pre-encoded event, is the bound the targets refer to; ``raw-batched``, one
write per 1,024 events, is the memory-copy ceiling, for scale).

Usage:
  python bench/sse_bench.py [--servers S ...] [--events 100000] [--streams 5]
                            [--repeat 5] [--quick] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVER_SCRIPT = BENCH / "servers" / "sse_servers.py"
RESULTS_DIR = BENCH / "results"
SERVER_CPU, CLIENT_CPU = "0", 1
HOST = "127.0.0.1"
CLIENT_BOUND = 0.90
SERVERS = [
    "longwire",
    "longwire-stream",
    "sse-starlette",
    "uvicorn",
    "aiohttp",
    "raw",
    "raw-batched",
]
PACKAGES = {"longwire": "longwire", "longwire-stream": "longwire", "sse-starlette": "sse-starlette",
            "uvicorn": "uvicorn", "aiohttp": "aiohttp"}  # fmt: skip
DATA = b"data: 0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


class Server:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p
        )
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, sys.executable, str(SERVER_SCRIPT),
             "--kind", kind, "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )  # fmt: skip

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"{self.kind}: no READY line (exit {self.process.poll()})")
        deadline = time.monotonic() + 30
        while True:  # uvicorn announces before it binds
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def read_stream(port: int, n: int, keep: bool = False) -> tuple[int, bytes]:
    """Events received for ``GET /events?n=N``; with ``keep``, the whole response too."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"GET /events?n={n} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    events = 0
    carry = b""
    kept = [head] if keep else []
    while data := await reader.read(1 << 20):
        # One data line per event (sse-starlette ends lines with CRLF, the others LF).
        data = carry + data
        events += data.count(DATA)
        carry = data[1 - len(DATA) :]
        if keep:
            kept.append(data)
    writer.close()
    await writer.wait_closed()
    return events, b"".join(kept)


def check(port: int, kind: str) -> None:
    events, raw = asyncio.run(read_stream(port, 1000, keep=True))
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"text/event-stream" not in head.lower() or events != 1000:
        raise AssertionError(f"{kind}: {events} events, head {head!r}")
    lines = body.replace(b"\r\n", b"\n").count(DATA + b"\n")
    if lines != 1000:
        raise AssertionError(f"{kind}: {lines} complete data lines of 1000")


def measure(kind: str, n: int, streams: int) -> dict[str, Any]:
    server = Server(kind)
    try:
        server.wait_ready()
        check(server.port, kind)
        asyncio.run(read_stream(server.port, n))  # warm-up

        async def timed() -> int:
            total = 0
            for _ in range(streams):
                count, _ = await read_stream(server.port, n)
                if count != n:
                    raise AssertionError(f"{kind}: {count} events of {n}")
                total += count
            return total

        cpu0, own0, t0 = cpu_seconds(server.process.pid), own_cpu(), time.perf_counter()
        total = asyncio.run(timed())
        elapsed = time.perf_counter() - t0
        server_cpu = cpu_seconds(server.process.pid) - cpu0
        client_cpu = own_cpu() - own0
    finally:
        server.stop()
    return {
        "events_per_s": total / elapsed,
        "server_us_per_event": server_cpu / total * 1e6,
        "server_cpu": server_cpu / elapsed,
        "client_cpu": client_cpu / elapsed,
    }


def version(kind: str) -> str:
    package = PACKAGES.get(kind)
    if package is None:
        return f"Python {sys.version.split()[0]}"
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def table(results: dict[str, list[dict[str, Any]]], n: int) -> str:
    reps = len(next(iter(results.values())))

    def ratios(a: str, b: str) -> float | None:
        if a not in results or b not in results:
            return None
        return float(
            statistics.median(
                results[a][i]["events_per_s"] / results[b][i]["events_per_s"] for i in range(reps)
            )
        )

    lines = [
        f"{n:,} events of 25 B per stream; medians of {reps} repetitions",
        "",
        "| server | events/s | longwire ÷ peer | peer ÷ raw | server µs/event "
        "| server CPU | client CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, runs in results.items():
        eps = statistics.median(r["events_per_s"] for r in runs)
        us = statistics.median(r["server_us_per_event"] for r in runs)
        scpu = statistics.median(r["server_cpu"] for r in runs)
        ccpu = statistics.median(r["client_cpu"] for r in runs)
        mark = " †" if ccpu >= CLIENT_BOUND and scpu < CLIENT_BOUND else ""
        vs = ratios("longwire", kind)
        of_raw = ratios(kind, "raw")
        lines.append(
            f"| {kind} ({version(kind)}) | {eps:,.0f}{mark} | "
            f"{'-' if vs is None else f'{vs:.2f}×'} | "
            f"{'-' if of_raw is None else f'{of_raw:.2f}'} | {us:.2f} | "
            f"{scpu:.0%} | {ccpu:.0%} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", nargs="+", default=SERVERS, choices=SERVERS)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.events, args.streams, args.repeat = 2000, 1, 1
    os.sched_setaffinity(0, {CLIENT_CPU})
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in args.servers}
    for rep in range(args.repeat):
        order = args.servers[rep % len(args.servers) :] + args.servers[: rep % len(args.servers)]
        for kind in order:
            results[kind].append(measure(kind, args.events, args.streams))
            print(f"rep {rep + 1} {kind}: {results[kind][-1]['events_per_s']:,.0f} events/s",
                  file=sys.stderr, flush=True)  # fmt: skip
    print(table(results, args.events))
    output = args.output or RESULTS_DIR / (
        "sse-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"events": args.events, "streams": args.streams,
                                  "results": results}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
