"""ASGI server benchmark: one Starlette app under longwire, uvicorn and hypercorn, same run.

The app (bench/servers/asgi_starlette_app.py) is a Starlette hello world at
``GET /`` and a Starlette WebSocket echo at ``/echo``; each ASGI server serves
it from its own command line, the way a user would (``longwire serve`` vs
``uvicorn`` vs ``hypercorn``), all on uvloop. Two references beside them: the
raw-asyncio bound of bench/servers_bench.py (the least asyncio allows, on
uvloop) and longwire's own App serving the same two endpoints (what the ASGI
layer and Starlette cost on top of longwire).

Method (shared/BENCHMARKING.md), as bench/servers_bench.py, whose process
helpers, load generators and cell runners this script imports: for each
repetition and workload the servers run one after the other (the order
rotates each repetition), each on a fresh port, pinned to CPU 0 (``taskset -c
0``); ``wrk -t1 -c50`` or bench/loadgen.py is pinned to CPU 1. Each cell first
checks the answers (the hello body and type; echoed payloads byte-equal, text
stays text), then times a window over which the CPU time (utime+stime,
/proc/PID/stat) of the server and of the load generator is taken. A server
process must not have children (a worker process would hide its CPU time).

Reported per server: the median throughput, the median of the per-repetition
ratios server ÷ uvicorn (the target: longwire ≥ 1.2) and server ÷ raw bound,
the server CPU µs per request or message and its ratio uvicorn ÷ server (> 1:
cheaper than uvicorn), both CPU loads, what else ran on CPU 0, and ``†`` where
the load generator was the bottleneck (client ≥ 90 % CPU, server below).

Servers:
  longwire          longwire serve asgi_starlette_app:app --uvloop --no-access-log
                    --log-level warning (interface auto-detected: ASGI)
  uvicorn           uvicorn asgi_starlette_app:app --http httptools --loop uvloop
                    --ws websockets-sansio --no-access-log --log-level warning
  hypercorn         hypercorn asgi_starlette_app:app --worker-class uvloop --workers 0
                    (in-process: no worker child) --log-level warning (access log off:
                    its default)
  longwire-native   bench/servers/longwire_server.py --uvloop (longwire.App, no ASGI)
  raw               bench/servers/raw_asyncio_server.py --uvloop (the bound)

Workloads (from bench/servers_bench.py):
  http-keepalive     wrk -t1 -c50, keep-alive GET /                    req/s
  ws-pipelined-32B   4 connections x 100 text messages in flight, echo  msg/s
  ws-inflight1-32B   50 connections, one text message in flight each    msg/s

Usage:
  python bench/asgi_bench.py [--workloads W ...] [--servers S ...] [--repeat 3]
                             [--duration 5] [--quick] [--output FILE]

Writes the raw results to bench/results/asgi-<timestamp>.json. A server that
exits before it accepts connections (longwire before its ASGI mode exists) is
skipped with a message; a failed check fails the run (exit status 1).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

# bench/ is not a package: run as a script, its directory is sys.path[0].
from servers_bench import (
    HOST,
    READY_TIMEOUT,
    SERVER_CPU,
    SERVERS_DIR,
    WORKLOADS,
    Run,
    Server,
    ServerExitedEarly,
    child_env,
    derive,
    fmt,
    free_port,
    measure,
    median,
    status,
    versions,
    window_defaults,
)

APP = "asgi_starlette_app:app"
REFERENCE = "uvicorn"


@dataclasses.dataclass(frozen=True)
class Peer:
    command: tuple[str, ...]  # after ``python -m``; {port} is replaced
    package: str | None
    settings: str
    script: str | None = None  # a servers_bench server script instead (READY protocol)


PEERS: dict[str, Peer] = {
    "longwire": Peer(
        ("longwire", "serve", APP, "--host", HOST, "--port", "{port}", "--uvloop",
         "--no-access-log", "--log-level", "warning"),
        "longwire",
        "longwire serve (ASGI interface auto-detected), uvloop, access log off, "
        "its defaults otherwise",
    ),
    "uvicorn": Peer(
        ("uvicorn", APP, "--host", HOST, "--port", "{port}", "--http", "httptools",
         "--loop", "uvloop", "--ws", "websockets-sansio", "--no-access-log",
         "--log-level", "warning"),
        "uvicorn",
        "httptools, uvloop, websockets-sansio (what its auto picks here), access log off, "
        "its defaults otherwise (lifespan auto, ws_per_message_deflate on but not offered "
        "by the load generator)",
    ),
    "hypercorn": Peer(
        ("hypercorn", APP, "--bind", f"{HOST}:{{port}}", "--worker-class", "uvloop",
         "--workers", "0", "--log-level", "warning"),
        "hypercorn",
        "worker class uvloop, --workers 0 (serves in its own process: CPU accounted), "
        "h11 + wsproto, access log off (its default)",
    ),
    "longwire-native": Peer(
        (), "longwire",
        "reference: longwire.App (no ASGI, no Starlette), bench/servers/longwire_server.py "
        "--uvloop: callback echo, compression off",
        script="longwire",
    ),
    "raw": Peer(
        (), None,
        "the bound: bench/servers/raw_asyncio_server.py --uvloop (fixed HTTP answer, "
        "minimal frame echo)",
        script="raw",
    ),
}
DEFAULT_SERVERS = ["longwire", "uvicorn", "hypercorn", "longwire-native", "raw"]
DEFAULT_WORKLOADS = ["http-keepalive", "ws-pipelined-32B", "ws-inflight1-32B"]


class AsgiServer(Server):
    """An ASGI server's command line, pinned to CPU 0, serving the Starlette app
    (``servers_bench.Server``'s teardown; ready when it accepts a connection)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        peer = PEERS[name]
        arguments = [part.replace("{port}", str(self.port)) for part in peer.command]
        command = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", *arguments]
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self.stderr, stdin=subprocess.DEVNULL,
            env=child_env(), cwd=SERVERS_DIR, start_new_session=True,
        )
        self.loop = "uvloop"  # asked for on every command line

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerExitedEarly(
                    f"{self.name}: exited with status {self.process.returncode} before it "
                    f"accepted connections: {self.last_error()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.name}: not accepting within {READY_TIMEOUT:.0f} s")
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            if children.read_text().split():
                raise RuntimeError(f"{self.name}: the server process has children, whose "
                                   "CPU time the benchmark would not see")


def start(name: str) -> Server:
    peer = PEERS[name]
    if peer.script is not None:
        return Server(peer.script, use_uvloop=True)
    return AsgiServer(name)


def run_cell(name: str, workload_name: str, args: argparse.Namespace) -> dict[str, Any]:
    return measure(start(name), WORKLOADS[workload_name], args)


# -- report ------------------------------------------------------------------------------


def per_rep_ratio(rows: list[dict[str, Any]], numerator: str, denominator: str,
                  key: str = "value") -> float | None:
    """Median over repetitions of numerator's ``key`` ÷ denominator's, same repetition."""
    ratios = []
    for a in rows:
        for b in rows:
            if (a["server"], b["server"]) == (numerator, denominator) and a["rep"] == b["rep"] \
                    and a.get(key) and b.get(key):
                ratios.append(a[key] / b[key])
    return median(ratios)


def table(cells: list[dict[str, Any]], workloads: list[str], servers: list[str]) -> str:
    out: list[str] = []
    for name in workloads:
        workload = WORKLOADS[name]
        rows = [c for c in cells if c["workload"] == name]
        if not rows:
            continue
        out.append(f"\n### {name}: {workload.description}\n")
        out.append(f"| server | loop | {workload.unit} | ÷ {REFERENCE} | of raw bound "
                   f"| server µs/{'req' if workload.kind == 'wrk' else 'msg'} "
                   f"| {REFERENCE} µs ÷ server µs | server CPU | client CPU | others on CPU 0 |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for server in servers:
            results = [r for r in rows if r["server"] == server]
            if not results:
                continue
            failed = [r for r in results if not r.get("ok")]
            if failed:
                out.append(f"| {server} | | FAILED: {failed[0]['error'][:120]} |")
                continue
            timed = [r for r in results if "value" in r]
            if not timed:
                continue
            value = median([r["value"] for r in timed])
            versus = "" if server == REFERENCE else fmt(per_rep_ratio(rows, server, REFERENCE))
            bound = "" if server == "raw" else fmt(per_rep_ratio(rows, server, "raw"))
            us = median([r["server_us_per_msg"] for r in timed])
            cheaper = "" if server == REFERENCE else fmt(
                per_rep_ratio(rows, REFERENCE, server, key="server_us_per_msg")
            )
            server_load = median([r["server_load"] for r in timed]) or 0.0
            client_load = median([r["client_load"] for r in timed]) or 0.0
            others = median([r["cpu0_others"] for r in timed if "cpu0_others" in r])
            others_text = "" if others is None else f"{others:.0%}"
            mark = " †" if sum(r["client_bound"] for r in timed) * 2 > len(timed) else ""
            note = ""
            if workload.kind == "wrk" and not all(r.get("keep_alive", True) for r in timed):
                note = " (closes after each response)"
            loop = "/".join(sorted({r.get("loop", "?") for r in timed}))
            out.append(
                f"| {server} | {loop} | {fmt(value)}{mark}{note} | {versus} | {bound} "
                f"| {fmt(us)} | {cheaper} | {server_load:.0%} | {client_load:.0%} "
                f"| {others_text} |"
            )
    out.append(
        f"\nMedians over repetitions; ratios are medians of per-repetition ratios (÷ "
        f"{REFERENCE} > 1: faster than {REFERENCE}; {REFERENCE} µs ÷ server µs > 1: less "
        f"CPU per request or message than {REFERENCE}). † client-bound (load generator "
        "≥ 90 % CPU, server below): the throughput is the client's ceiling, compare µs. "
        "\"others on CPU 0\": the share of the server's CPU other processes took."
    )
    return "\n".join(out)


def all_versions(servers: list[str]) -> dict[str, str]:
    found = versions(["longwire"] if "longwire" in servers else [])
    for name in ["hypercorn", "starlette", "h11", "wsproto", "httptools", "uvloop"]:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workloads", nargs="+", metavar="W", choices=DEFAULT_WORKLOADS,
                        default=DEFAULT_WORKLOADS)
    parser.add_argument("--servers", nargs="+", metavar="S", choices=list(PEERS),
                        default=DEFAULT_SERVERS)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--duration", type=float, help="timed window, s (at most 10)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", type=Path, help="JSON file (default "
                        "bench/results/asgi-<ts>.json)")
    args = window_defaults(parser.parse_args(), duration=5.0)
    args.wrk_duration = max(1, round(args.duration))
    return args


def timed_status(result: dict[str, Any], unit: str) -> str:
    return (f"{fmt(result['value'])} {unit}, server "
            f"{fmt(result['server_us_per_msg'])} µs/msg, cpu server "
            f"{result['server_load']:.0%} client {result['client_load']:.0%}")


def main() -> int:
    args = parse_args()
    servers: list[str] = args.servers
    workloads: list[str] = args.workloads
    if any(WORKLOADS[w].kind == "wrk" for w in workloads) and shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    run = Run(datetime.datetime.now())
    print(f"# ASGI benchmark {run.started:%Y-%m-%d %H:%M}, repeat {args.repeat}, "
          f"window {args.duration:g} s{', quick' if args.quick else ''}", flush=True)
    for rep in range(args.repeat):
        for workload_name in workloads:
            workload = WORKLOADS[workload_name]
            for server in run.order(servers, rep):
                result = run.cell(server, partial(run_cell, server, workload_name, args),
                                  partial(derive, workload=workload), rep, workload_name)
                if result is not None:
                    line = status(result, partial(timed_status, unit=workload.unit))
                    print(f"  rep {rep + 1} {workload_name:18} {server:16} {line}", flush=True)
    return run.finish(table(run.cells, workloads, run.shown(servers)), args.output, "asgi-", {
        **run.record(args), "versions": all_versions(servers),
        "settings": {s: PEERS[s].settings for s in servers},
    })


if __name__ == "__main__":
    sys.exit(main())
