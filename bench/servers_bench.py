"""Server benchmarks: longwire and its peers side by side, the same load, the same run.

Method (shared/BENCHMARKING.md): for each repetition and workload the servers
are started one after the other (the order rotates each repetition), each on a
fresh port, pinned to CPU 0 (``taskset -c 0``); the load generator
(``bench/loadgen.py``, or ``wrk`` for HTTP) is pinned to CPU 1. Each workload
first checks the server's answers, then times a window, over which the CPU time
(utime+stime from /proc/PID/stat) of the server and of the load generator is
taken. Reported per server: the median throughput, the median of the
per-repetition ratios longwire ÷ peer and peer ÷ raw-asyncio bound, the server
CPU microseconds per message (or request), both CPU loads, and a ``†`` where
the load generator was the bottleneck (client ≥ 90 % CPU, server below 90 %):
there the throughput is the client's ceiling, and µs/msg is the figure that
compares servers.

Workloads:
  http-keepalive       wrk -t1 -c50, GET / -> 13-byte "Hello, world!"
  http-pipelined16     the same, 16 pipelined requests per connection (bench/wrk_pipeline.lua)
  ws-pipelined-32B     4 connections x 100 text messages in flight, echo
  ws-pipelined-1KiB    4 connections x 100 binary messages in flight, echo
  ws-inflight1-32B     50 connections, one text message in flight each
  ws-large-1MiB        one connection, 1 MiB binary messages one at a time (MB/s)
  ws-large-16MiB       the same with 16 MiB
  ws-broadcast-64B     1,000 subscribers; a publisher's 64-byte messages relayed to all
  ws-idle-5000         server VmRSS delta per idle WebSocket connection, N = 5,000
  ws-idle-19000        ... N = 19,000
  ws-idle-5000-deflate, ws-idle-19000-deflate   the same with permessage-deflate negotiated

Usage:
  python bench/servers_bench.py [--workloads W ...] [--servers S ...] [--repeat 3]
                                [--duration 5] [--uvloop] [--quick] [--output FILE]
  python bench/servers_bench.py --report RESULTS.json [MORE.json ...]   (tables only)

A workload name may be given by its prefix (``ws-idle`` selects all four).
Writes the raw results to bench/results/<timestamp>.json. A server whose script
exits before it is ready (longwire before its server API exists) is skipped with
a message; a failed check fails the run (exit status 1).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

# bench/ is not a package: run as a script, its directory is sys.path[0].
from loadgen import cpu_busy_seconds, cpu_seconds

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVERS_DIR = BENCH / "servers"
RESULTS_DIR = BENCH / "results"
SERVER_CPU = "0"
CLIENT_CPU = "1"
HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
CLIENT_BOUND = 0.90  # the load generator's CPU share from which a cell is client-bound


@dataclasses.dataclass(frozen=True)
class Peer:
    script: str
    http: bool = True  # serves GET /
    broadcast: bool = True  # has the /broadcast endpoint
    deflate: bool = True  # can negotiate permessage-deflate
    uvloop: str = "flag"  # "flag": uvloop with --uvloop; "always"; "never"
    package: str | None = None  # distribution whose version is recorded
    settings: str = ""


PEERS: dict[str, Peer] = {
    "longwire": Peer(
        "longwire_server.py", package="longwire",
        settings="callback echo (ws.on_message = ws.send), compression off, 32 MiB limit",
    ),
    "websockets": Peer(
        "websockets_server.py", package="websockets",
        settings="asyncio.server.serve, compression=None, max_size 32 MiB; "
        "HTTP via process_request (Connection: close)",
    ),
    "aiohttp": Peer(
        "aiohttp_server.py", package="aiohttp",
        settings="web.WebSocketResponse compress=False, max_msg_size 32 MiB, "
        "autoping default, access log off",
    ),
    "picows": Peer(
        "picows_server.py", http=False, deflate=False, package="picows",
        settings="ws_create_server callback listener, max_frame_size 32 MiB, "
        "aiofastnet transports (its default when installed); no HTTP, no deflate",
    ),
    "uvicorn": Peer(
        "uvicorn_server.py", broadcast=False, uvloop="always", package="uvicorn",
        settings='raw ASGI app, http="httptools", loop="uvloop", ws="websockets-sansio", '
        "ws_per_message_deflate=False, ws_max_size 32 MiB, access log off",
    ),
    "raw": Peer(
        "raw_asyncio_server.py", deflate=False,
        settings="asyncio.Protocol bound: fixed HTTP answer, minimal frame echo "
        "(int.from_bytes XOR unmask, no UTF-8 check, no extensions)",
    ),
}
DEFAULT_SERVERS = ["longwire", "websockets", "aiohttp", "picows", "uvicorn", "raw"]


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "wrk", "ws" or "idle"
    unit: str  # throughput unit
    loadgen: tuple[str, ...] = ()  # arguments of bench/loadgen.py
    quick: tuple[str, ...] = ()  # arguments replacing ``loadgen`` with --quick
    needs: str = ""  # Peer capability needed: "http", "broadcast", "deflate"
    pipelined: bool = False
    description: str = ""


def ws(name: str, unit: str, full: str, quick: str, *, needs: str = "", desc: str = "") -> Workload:
    kind = "idle" if "ws-idle" in full else "ws"
    return Workload(name, kind, unit, tuple(full.split()), tuple(quick.split()), needs,
                    description=desc)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("http-keepalive", "wrk", "req/s", needs="http",
                 description="wrk -t1 -c50, keep-alive GET /"),
        Workload("http-pipelined16", "wrk", "req/s", needs="http", pipelined=True,
                 description="wrk -t1 -c50, 16 pipelined GET / per connection"),
        ws("ws-pipelined-32B", "msg/s",
           "--workload ws-pipelined --size 32 --text --conns 4 --depth 100",
           "--workload ws-pipelined --size 32 --text --conns 4 --depth 100",
           desc="4 conns x 100 in flight, 32 B text echo"),
        ws("ws-pipelined-1KiB", "msg/s",
           "--workload ws-pipelined --size 1024 --conns 4 --depth 100",
           "--workload ws-pipelined --size 1024 --conns 4 --depth 100",
           desc="4 conns x 100 in flight, 1 KiB binary echo"),
        ws("ws-inflight1-32B", "msg/s",
           "--workload ws-inflight1 --size 32 --text --conns 50",
           "--workload ws-inflight1 --size 32 --text --conns 10",
           desc="50 conns, 1 in flight each, 32 B text echo"),
        ws("ws-large-1MiB", "MB/s", "--workload ws-large --size 1048576",
           "--workload ws-large --size 65536", desc="1 conn, 1 MiB binary echo, sequential"),
        ws("ws-large-16MiB", "MB/s", "--workload ws-large --size 16777216",
           "--workload ws-large --size 262144", desc="1 conn, 16 MiB binary echo, sequential"),
        ws("ws-broadcast-64B", "msg/s",
           "--workload ws-broadcast --size 64 --text --conns 1000 --depth 64",
           "--workload ws-broadcast --size 64 --text --conns 50 --depth 16",
           needs="broadcast",
           desc="1,000 subscribers, 64 B text relayed to all; deliveries/s at the clients"),
        ws("ws-idle-5000", "KiB/conn", "--workload ws-idle --conns 5000",
           "--workload ws-idle --conns 200", desc="server VmRSS delta / N idle connections"),
        ws("ws-idle-19000", "KiB/conn", "--workload ws-idle --conns 19000",
           "--workload ws-idle --conns 400", desc="server VmRSS delta / N idle connections"),
        ws("ws-idle-5000-deflate", "KiB/conn", "--workload ws-idle --conns 5000 --deflate",
           "--workload ws-idle --conns 200 --deflate", needs="deflate",
           desc="the same, permessage-deflate negotiated"),
        ws("ws-idle-19000-deflate", "KiB/conn", "--workload ws-idle --conns 19000 --deflate",
           "--workload ws-idle --conns 400 --deflate", needs="deflate",
           desc="the same, permessage-deflate negotiated"),
    ]
}


class ServerExitedEarly(Exception):
    """The server script ended before printing READY (e.g. an import failed)."""


# -- processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # longwire from this checkout, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(ROOT / "src"), env.get("PYTHONPATH", "")] if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop(process: subprocess.Popen[Any]) -> None:
    """End a process started in its own session, and everything it started."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class Server:
    """A peer's server script, pinned to CPU 0, in its own process group."""

    def __init__(self, name: str, use_uvloop: bool, compression: bool = False) -> None:
        flags = ["--uvloop"] if use_uvloop else []
        if compression:
            flags.append("--compression")
        self.start(name, PEERS[name].script, flags)

    def start(self, name: str, script: str, arguments: list[str]) -> None:
        """Run ``bench/servers/<script> --port P *arguments`` on a fresh port (the
        other benchmarks' server classes start their scripts with it too)."""
        self.name = name
        self.port = free_port()
        command = [
            "taskset", "-c", SERVER_CPU, sys.executable, str(SERVERS_DIR / script),
            "--port", str(self.port), *arguments,
        ]
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL,
            env=child_env(), start_new_session=True,
        )
        self.loop = "?"

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        deadline = time.monotonic() + READY_TIMEOUT
        output = b""
        while time.monotonic() < deadline:
            readable, _, _ = select.select([descriptor], [], [], 0.05)
            if readable:
                chunk = os.read(descriptor, 4096)
                output += chunk
                if b"\n" in output:
                    line = output.decode(errors="replace").strip()
                    if line != f"READY {self.port}":
                        raise RuntimeError(f"{self.name} printed {line!r}, not READY")
                    loop = re.search(r"^LOOP (\S+)$", self.stderr_text(), re.MULTILINE)
                    self.loop = loop.group(1) if loop else "?"
                    return
                if chunk:
                    continue
            if self.process.poll() is not None:
                raise ServerExitedEarly(
                    f"{self.name}: server script exited with status {self.process.returncode} "
                    f"before READY: {self.last_error()}"
                )
        raise RuntimeError(f"{self.name}: no READY within {READY_TIMEOUT:.0f} s")

    def outcome(self, result: dict[str, Any]) -> dict[str, Any]:
        """A cell's ``result`` with the loop the server ran on; a failure if it died."""
        if self.process.poll() is not None:
            result = {"ok": False, "error": f"server died: {self.last_error()}"}
        result["loop"] = self.loop
        return result

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def last_error(self) -> str:
        lines = [line for line in self.stderr_text().splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"

    def stop(self) -> None:
        try:
            stop(self.process)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.stderr.close()


# -- running one cell ------------------------------------------------------------------


def run_loadgen(server: Server, arguments: list[str], timeout: float) -> dict[str, Any]:
    command = [
        "taskset", "-c", CLIENT_CPU, sys.executable, str(BENCH / "loadgen.py"),
        "--host", HOST, "--port", str(server.port), "--server-pid", str(server.process.pid),
        *arguments,
    ]
    return run_json(command, timeout)


def run_json(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a load generator; the JSON object its last line of output is, or a failure."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=child_env(), start_new_session=True, text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        return {"ok": False, "error": f"load generator timed out after {timeout:.0f} s"}
    finally:
        stop(process)
    lines = out.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = err.strip().splitlines()[-3:]
        return {"ok": False, "error": f"load generator failed: {' | '.join(tail)}"}
    return result


WRK_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


@dataclasses.dataclass
class WrkRun:
    """One timed ``wrk`` run: its totals and what ``sample()`` read before and after."""

    out: str  # wrk's output
    error: str | None  # "wrk failed: ..." (exit status, or no totals line)
    requests: int
    seconds: float  # wrk's own
    read: float  # bytes, as wrk rounds them
    wall_seconds: float
    client_cpu: float
    non_2xx: str | None  # wrk's count of non-2xx/3xx responses, if any
    socket_errors: str
    before: Any
    after: Any


def time_wrk(command: list[str], url: str, duration: int, warmup: bool,
             sample: Callable[[], Any]) -> WrkRun:
    """Run ``command`` (``wrk`` and its options) on ``url``: first a 1 s warm-up when
    ``warmup``, then ``duration`` seconds timed, with ``sample()`` taken just before
    and just after."""
    if warmup:
        subprocess.run([*command, "-d1s", url], capture_output=True, timeout=30, check=False)
    command = [*command, f"-d{duration}s", url]
    before = sample()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        # wait4 gives the CPU time of wrk (utime+stime, the same counters as
        # /proc/PID/stat), which /proc no longer shows once it has exited.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        after = sample()
        assert process.stdout is not None
        out = process.stdout.read().decode()
    finally:
        stop(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)(?:, ([\d.]+)([KMGT]?)B read)?", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    run = WrkRun(
        out=out, error=None, requests=0, seconds=0.0, read=0.0, wall_seconds=seconds,
        client_cpu=usage.ru_utime + usage.ru_stime, non_2xx=errors.group(1) if errors else None,
        socket_errors=socket_errors.group(1) if socket_errors else "", before=before, after=after,
    )
    if process.returncode or total is None:
        run.error = f"wrk failed: {out.strip()[-300:]}"
        return run
    run.requests = int(total.group(1))
    run.seconds = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    if total.group(4) is not None:
        run.read = float(total.group(4)) * WRK_UNITS[total.group(5)]
    return run


def run_wrk(server: Server, workload: Workload, duration: int, warmup: bool) -> dict[str, Any]:
    check = run_loadgen(server, ["--workload", "http-check"], timeout=30)
    if not check.get("ok"):
        return check
    if workload.pipelined and check["pipelined"] != 16:
        return {"ok": True, "skipped": "closes the connection after each response: "
                "no pipelining", "keep_alive": check["keep_alive"]}
    url = f"http://{HOST}:{server.port}/"
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c50"]
    if workload.pipelined:
        command += ["-s", str(BENCH / "wrk_pipeline.lua")]
    pid = server.process.pid
    run = time_wrk(command, url, duration, warmup, lambda: (cpu_seconds(pid), cpu_busy_seconds()))
    if run.error:
        return {"ok": False, "error": run.error}
    if run.non_2xx:
        return {"ok": False, "error": f"wrk: {run.non_2xx} non-2xx responses"}
    (server_start, busy_start), (server_end, busy) = run.before, run.after
    return {
        "ok": True, "messages": run.requests, "seconds": run.seconds,
        "wall_seconds": run.wall_seconds, "server_cpu": server_end - server_start,
        "client_cpu": run.client_cpu, "keep_alive": check["keep_alive"],
        "socket_errors": run.socket_errors, "client_cpu_window": run.wall_seconds,
        "cpu_busy": {cpu: busy[cpu] - busy_start.get(cpu, 0.0) for cpu in busy},
    }


def try_cell(
    server: str, run: Callable[[], dict[str, Any]], skipped: dict[str, str]
) -> dict[str, Any] | None:
    """``run()``'s result for one cell; an error becomes a failed cell, and a server
    whose script exited before it was ready is recorded in ``skipped`` (``None``)."""
    try:
        return run()
    except ServerExitedEarly as exited:
        skipped[server] = str(exited)
        print(f"SKIP {exited}", flush=True)
        return None
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def save_record(record: dict[str, Any], output: Path, failures: int) -> int:
    """Write the raw results; the exit status (1 when a cell failed)."""
    output.write_text(json.dumps(record, indent=1))
    print(f"\nraw results: {output}")
    if failures:
        print(f"{failures} cell(s) failed", file=sys.stderr)
        return 1
    return 0


def status(result: dict[str, Any], timed: Callable[[dict[str, Any]], str]) -> str:
    """A cell's progress line: FAILED, n/a, or ``timed(result)`` for a timed cell."""
    if not result.get("ok"):
        return f"FAILED {result['error']}"
    if "skipped" in result:
        return f"n/a ({result['skipped']})"
    return timed(result)


class Run:
    """One benchmark run: its cells in the order they ran, the servers skipped, the failures;
    the loop and the ending every benchmark script here shares."""

    def __init__(self, started: datetime.datetime) -> None:
        self.started = started
        self.cells: list[dict[str, Any]] = []
        self.skipped: dict[str, str] = {}  # server -> why
        self.failures = 0

    def order(self, servers: list[str], rep: int) -> Iterator[str]:
        """``servers`` rotated by ``rep`` (each repetition starts with another), less
        those skipped."""
        shift = rep % len(servers)
        for server in servers[shift:] + servers[:shift]:
            if server not in self.skipped:
                yield server

    def cell(self, server: str, run: Callable[[], dict[str, Any]],
            derive: Callable[[dict[str, Any]], None], rep: int, workload: str,
            **labels: Any) -> dict[str, Any] | None:
        """``try_cell(server, run)``, its figures added by ``derive``, labelled and kept;
        ``None`` when the server is skipped."""
        result = try_cell(server, run, self.skipped)
        if result is None:
            return None
        derive(result)
        result.update(rep=rep, workload=workload, server=server, **labels)
        self.cells.append(result)
        if not result.get("ok"):
            self.failures += 1
        return result

    def shown(self, servers: list[str]) -> list[str]:
        return [s for s in servers if s not in self.skipped]

    def record(self, args: argparse.Namespace, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
        """The head of the raw results: when, the arguments (less ``leave_out``), the machine."""
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                          if k not in leave_out},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        }

    def finish(self, tables: str, output: Path | None, prefix: str,
               record: dict[str, Any]) -> int:
        """Print the tables and the servers skipped, write ``record`` with the cells (to
        ``output``, by default bench/results/<prefix><timestamp>.json); the exit status."""
        print(tables)
        for message in self.skipped.values():
            print(f"\nSKIPPED {message}")
        RESULTS_DIR.mkdir(exist_ok=True)
        output = output or RESULTS_DIR / f"{prefix}{self.started:%Y%m%d-%H%M%S}.json"
        record = {**record, "skipped": self.skipped, "cells": self.cells}
        return save_record(record, output, self.failures)


def run_cell(name: str, workload: Workload, args: argparse.Namespace) -> dict[str, Any]:
    peer = PEERS[name]
    if workload.needs and not getattr(peer, workload.needs):
        return {"ok": True, "skipped": f"no {workload.needs}"}
    compression = workload.needs == "deflate"
    return measure(Server(name, args.uvloop, compression), workload, args)


def measure(server: Server, workload: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``workload`` against ``server`` (just started), then stop it."""
    try:
        server.wait_ready()
        if workload.kind == "wrk":
            result = run_wrk(server, workload, args.wrk_duration, warmup=not args.quick)
        else:
            arguments = list(workload.quick if args.quick else workload.loadgen)
            arguments += ["--duration", str(args.duration), "--warmup", str(args.warmup)]
            timeout = args.duration + args.warmup + (240 if workload.kind == "idle" else 90)
            result = run_loadgen(server, arguments, timeout)
        return server.outcome(result)
    finally:
        server.stop()


def derive(result: dict[str, Any], workload: Workload) -> None:
    """Add throughput, µs per message and CPU shares to a timed result."""
    if not result.get("ok") or "skipped" in result:
        return
    if workload.kind == "idle":
        result["value"] = result["bytes_per_connection"] / 1024
        return
    seconds = result["seconds"]
    if workload.unit == "MB/s":
        result["value"] = result["bytes"] / seconds / 1e6
    else:
        result["value"] = result["messages"] / seconds
    result["server_us_per_msg"] = result["server_cpu"] / result["messages"] * 1e6
    cpu_shares(result, seconds, result.get("client_cpu_window", seconds))


def cpu_shares(result: dict[str, Any], seconds: float, window: float) -> None:
    """Add the server's and the client's CPU loads, what else ran on the server's CPU,
    and whether the cell is client-bound; the client's load and the others' over
    ``window``."""
    result["server_load"] = result["server_cpu"] / seconds
    result["client_load"] = result["client_cpu"] / window
    # What else ran on the server's CPU: its busy time less the server's own.
    busy = result.get("cpu_busy", {}).get(f"cpu{SERVER_CPU}")
    if busy is not None:
        result["cpu0_others"] = max(0.0, busy - result["server_cpu"]) / window
    result["client_bound"] = (
        result["client_load"] >= CLIENT_BOUND and result["server_load"] < CLIENT_BOUND
    )


# -- report ------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def table(cells: list[dict[str, Any]], workloads: list[str], servers: list[str]) -> str:
    out: list[str] = []
    for name in workloads:
        workload = WORKLOADS[name]
        memory = workload.kind == "idle"
        rows = [c for c in cells if c["workload"] == name]
        if not rows:
            continue
        by_server: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
        for cell in rows:
            by_server[cell["server"]].append(cell)

        def per_rep_ratio(
            numerator: str, denominator: str, by: dict[str, list[dict[str, Any]]] = by_server,
        ) -> float | None:
            ratios = []
            for a in by.get(numerator, []):
                for b in by.get(denominator, []):
                    if a["rep"] == b["rep"] and a.get("value") and b.get("value"):
                        ratios.append(a["value"] / b["value"])
            return median(ratios)

        out.append(f"\n### {name}: {workload.description}\n")
        if memory:
            out.append("| server | loop | KiB/conn | longwire ÷ peer | peer ÷ raw | extensions |")
            out.append("|---|---|---:|---:|---:|---|")
        else:
            out.append(
                f"| server | loop | {workload.unit} | longwire ÷ peer | of raw bound "
                "| server µs/msg | server CPU | client CPU | others on CPU 0 |"
            )
            out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for server in servers:
            results = by_server[server]
            if not results:
                continue
            loop = "/".join(sorted({r.get("loop", "?") for r in results if r.get("loop")}))
            failed = [r for r in results if not r.get("ok")]
            skipped = [r for r in results if "skipped" in r]
            timed = [r for r in results if "value" in r]
            if failed:
                out.append(f"| {server} | {loop} | FAILED: {failed[0]['error'][:120]} |")
                continue
            if skipped and not timed:
                out.append(f"| {server} | {loop} | n/a ({skipped[0]['skipped']}) |")
                continue
            value = median([r["value"] for r in timed])
            versus = "" if server == "longwire" else fmt(per_rep_ratio("longwire", server))
            if memory:
                bound = "" if server == "raw" else fmt(per_rep_ratio(server, "raw"))
                extensions = timed[0].get("extensions", "") or "none"
                out.append(f"| {server} | {loop} | {fmt(value)} | {versus} | {bound} "
                           f"| {extensions} |")
                continue
            bound = "" if server == "raw" else fmt(per_rep_ratio(server, "raw"))
            us = median([r["server_us_per_msg"] for r in timed])
            server_load = median([r["server_load"] for r in timed])
            client_load = median([r["client_load"] for r in timed])
            others = median([r["cpu0_others"] for r in timed if "cpu0_others" in r])
            others_text = "" if others is None else f"{others:.0%}"
            bound_mark = " †" if sum(r["client_bound"] for r in timed) * 2 > len(timed) else ""
            note = ""
            if workload.kind == "wrk" and not all(r.get("keep_alive", True) for r in timed):
                note = " (closes after each response)"
            out.append(
                f"| {server} | {loop} | {fmt(value)}{bound_mark}{note} | {versus} | {bound} "
                f"| {fmt(us)} | {server_load:.0%} | {client_load:.0%} | {others_text} |"
            )
    out.append(
        "\nMedians over repetitions; ratios are medians of per-repetition ratios "
        "(longwire ÷ peer > 1: longwire faster; for KiB/conn < 1: longwire smaller). "
        "† client-bound (load generator ≥ 90 % CPU, server below): the throughput is the "
        "client's ceiling, compare µs/msg. \"others on CPU 0\": the share of the server's "
        "CPU that other processes (and interrupts) took during the window: the VM is shared."
    )
    return "\n".join(out)


def versions(servers: list[str]) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ["longwire", "websockets", "aiohttp", "picows", "aiofastnet", "uvicorn",
                 "uvloop", "httptools"]:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    if "longwire" not in found and "longwire" in servers:
        version = subprocess.run(
            [sys.executable, "-c", "import longwire; print(longwire.__version__)"],
            capture_output=True, text=True, env=child_env(), check=False,
        ).stdout.strip()
        found["longwire"] = version or "not importable"
    wrk = shutil.which("wrk")
    if wrk:
        banner = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        found["wrk"] = (banner.stdout or banner.stderr).split(" [")[0].removeprefix("wrk ")
    return found


def select_workloads(requested: list[str] | None) -> list[str]:
    if not requested:
        return list(WORKLOADS)
    chosen: list[str] = []
    for item in requested:
        matches = [n for n in WORKLOADS if n == item or n.startswith(item + "-")]
        if not matches:
            raise SystemExit(f"unknown workload {item!r}; known: {', '.join(WORKLOADS)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workloads", nargs="+", metavar="W")
    parser.add_argument("--servers", nargs="+", metavar="S", choices=list(PEERS))
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--duration", type=float, help="timed window, s (at most 10)")
    parser.add_argument("--uvloop", action="store_true", help="servers on uvloop where they can")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/<ts>.json)")
    parser.add_argument(
        "--report", nargs="+", type=Path, metavar="JSON",
        help="run nothing: print the table of earlier results files (a workload found in a "
        "later file replaces the same workload of the earlier ones)",
    )
    args = window_defaults(parser.parse_args(), duration=5.0)
    args.wrk_duration = max(1, round(args.duration))
    return args


def window_defaults(args: argparse.Namespace, duration: float) -> argparse.Namespace:
    """Fill in what was not given: ``--repeat`` 3, the timed window ``duration`` s
    (a ``--quick`` run: 1 repetition of 0.5 s), at most 10 s, and a 1 s warm-up
    (0.1 s)."""
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 0.5 if args.quick else duration
    args.duration = min(args.duration, 10.0)
    if getattr(args, "warmup", None) is None:
        args.warmup = 0.1 if args.quick else 1.0
    return args


def report(paths: list[Path]) -> int:
    cells: list[dict[str, Any]] = []
    servers: list[str] = []
    for path in paths:
        record = json.loads(path.read_text())
        replaced = {cell["workload"] for cell in record["cells"]}
        cells = [cell for cell in cells if cell["workload"] not in replaced] + record["cells"]
        skipped = record["skipped"]
        servers += [s for s in record["settings"] if s not in servers and s not in skipped]
        print(f"# {path.name}: {record['started']}, versions {record['versions']}")
    workloads = [w for w in WORKLOADS if any(cell["workload"] == w for cell in cells)]
    print(table(cells, workloads, servers))
    return 0


def timed_status(result: dict[str, Any], workload: Workload) -> str:
    line = f"{fmt(result['value'])} {workload.unit}"
    if "server_us_per_msg" in result:
        line += (f", server {fmt(result['server_us_per_msg'])} µs/msg, "
                 f"cpu server {result['server_load']:.0%} "
                 f"client {result['client_load']:.0%}")
    return line


def main() -> int:
    args = parse_args()
    if args.report:
        return report(args.report)
    workloads = select_workloads(args.workloads)
    servers = args.servers or DEFAULT_SERVERS
    if any(WORKLOADS[w].kind == "wrk" for w in workloads) and shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    run = Run(datetime.datetime.now())
    print(f"# servers benchmark {run.started:%Y-%m-%d %H:%M}, repeat {args.repeat}, "
          f"window {args.duration:g} s, uvloop flag {'on' if args.uvloop else 'off'}"
          f"{', quick' if args.quick else ''}", flush=True)
    for rep in range(args.repeat):
        for workload_name in workloads:
            workload = WORKLOADS[workload_name]
            for server in run.order(servers, rep):
                result = run.cell(server, partial(run_cell, server, workload, args),
                                 partial(derive, workload=workload), rep, workload_name)
                if result is not None:
                    line = status(result, partial(timed_status, workload=workload))
                    print(f"  rep {rep + 1} {workload_name:22} {server:10} {line}", flush=True)
    tables = table(run.cells, workloads, run.shown(servers))
    return run.finish(tables, args.output, "", {
        **run.record(args), "versions": versions(servers),
        "settings": {s: PEERS[s].settings for s in servers},
    })


if __name__ == "__main__":
    sys.exit(main())
