"""websocketd mode: ``longwire exec -- cat`` against ``websocketd cat``, same load, same run.

Method (shared/BENCHMARKING.md): each repetition starts each server in turn (the
order rotates), on a fresh port, pinned with its ``cat`` children to CPU 0
(``taskset -c 0``, inherited by the children), while this script's load
generator (a raw ``asyncio.Protocol`` client on uvloop when installed, frames
built once before the run) runs pinned to CPU 1. Every workload first checks
the answers (each line comes back byte-equal as a text message) and only then
times a window. Reported: the median rate per server, and the median of the
per-repetition ratios longwire ÷ websocketd.

Workloads:
  roundtrips   ``--conns`` WebSocket connections, each its own ``cat``, one
               32-byte line in flight per connection: round trips per second
  setups       ``--concurrency`` clients, each in a loop: connect, handshake, one
               line and its echo, close handshake (the server then ends ``cat``):
               connection set-ups per second

Usage:
  python bench/exec_bench.py [--servers longwire websocketd] [--repeat 3]
                             [--duration 5] [--quick] [--output FILE]

Prints a table and one JSON object (``--output`` also writes it). Exits 1 when
a check fails, 2 when a server is missing (websocketd: apt-get install websocketd).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVER_CPU, CLIENT_CPU = "0", "1"
READY_TIMEOUT = 30.0
LINE = b"0123456789abcdef0123456789abcdef"  # 32 bytes; cat sends it back
MASK = b"\x11\x22\x33\x44"
CYCLE_TIMEOUT = 5.0  # a set-up cycle slower than this is a failure, not a data point


def masked_text_frame(payload: bytes) -> bytes:
    """A client text frame (RFC 6455 §5.2) with a fixed mask; payload < 126 bytes."""
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + MASK + masked


FRAME = masked_text_frame(LINE)  # the server writes it to the program as a line
CLOSE_FRAME = bytes([0x88, 0x82]) + MASK + bytes(b ^ MASK[i] for i, b in enumerate(b"\x03\xe8"))
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"longwire-bench!!") + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


class CheckFailed(Exception):
    """The server answered wrongly: nothing is timed."""


class Client(asyncio.Protocol):
    """One WebSocket connection: the handshake by hand, then text frames parsed by header."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: Any = None
        self.buffer = bytearray()
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.on_message: Callable[[int, bytes], None] = lambda opcode, payload: None
        self.handshake_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(HANDSHAKE % (HOST.encode(), self.port))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshake_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(CheckFailed(f"handshake answered {head[:60]!r}"))
                return
            self.handshake_done = True
            if not self.opened.done():
                self.opened.set_result(None)
        buffer = self.buffer
        position = 0
        while len(buffer) - position >= 2:
            opcode = buffer[position] & 0x0F
            length = buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if len(buffer) - position < 4:
                    break
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if len(buffer) - position < 10:
                    break
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            if len(buffer) < start + length:
                break
            payload = bytes(buffer[start : start + length])
            position = start + length
            self.on_message(opcode, payload)
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(CheckFailed(f"connection lost before the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


async def open_client(port: int) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(port), HOST, port)
    await asyncio.wait_for(client.opened, READY_TIMEOUT)
    return client


async def roundtrips(port: int, conns: int, duration: float) -> dict[str, Any]:
    """``conns`` connections, one line in flight each: round trips per second."""
    clients = [await open_client(port) for _ in range(conns)]
    counts = [0] * conns
    timing = {"on": False}
    failures: list[str] = []

    def echo_counter(index: int, client: Client) -> Callable[[int, bytes], None]:
        def on_message(opcode: int, payload: bytes) -> None:
            if opcode != 0x1 or payload != LINE:
                failures.append(f"opcode {opcode} payload {payload[:40]!r}")
                return
            if timing["on"]:
                counts[index] += 1
            assert client.transport is not None
            client.transport.write(FRAME)

        return on_message

    try:
        for index, client in enumerate(clients):
            client.on_message = echo_counter(index, client)
            assert client.transport is not None
            client.transport.write(FRAME)
        await asyncio.sleep(min(1.0, duration / 4))  # warm-up; checks each echo
        if failures:
            raise CheckFailed(failures[0])
        if not any(client.transport and not client.transport.is_closing() for client in clients):
            raise CheckFailed("every connection closed")
        timing["on"] = True
        started = time.perf_counter()
        await asyncio.sleep(duration)
        timing["on"] = False
        elapsed = time.perf_counter() - started
        if failures:
            raise CheckFailed(failures[0])
        if min(counts) == 0:
            raise CheckFailed(f"a connection made no round trip: {counts}")
        return {"rate": sum(counts) / elapsed, "unit": "round trips/s"}
    finally:
        for client in clients:
            if client.transport is not None:
                client.transport.abort()


async def one_setup(port: int) -> None:
    """Connect, one line and its echo, close handshake; raises CheckFailed."""
    client = await open_client(port)
    echoed = asyncio.get_running_loop().create_future()

    def on_message(opcode: int, payload: bytes) -> None:
        if opcode == 0x1 and not echoed.done():
            if payload == LINE:
                echoed.set_result(None)
            else:
                echoed.set_exception(CheckFailed(f"echo was {payload[:40]!r}"))

    client.on_message = on_message
    assert client.transport is not None
    try:
        client.transport.write(FRAME)
        await echoed
        client.transport.write(CLOSE_FRAME)
        await client.closed  # the server closes the TCP connection after the close handshake
    finally:
        client.transport.abort()


async def setups(port: int, concurrency: int, duration: float) -> dict[str, Any]:
    """``concurrency`` clients connecting, echoing one line and closing, in a loop."""
    count = 0
    failures = 0
    timing = {"on": False}
    stop_at = [float("inf")]

    async def worker() -> None:
        nonlocal count, failures
        while time.perf_counter() < stop_at[0]:
            try:
                await asyncio.wait_for(one_setup(port), CYCLE_TIMEOUT)
            except (CheckFailed, OSError, TimeoutError):
                if timing["on"]:
                    failures += 1
                continue
            if timing["on"]:
                count += 1

    await asyncio.wait_for(one_setup(port), READY_TIMEOUT)  # the check
    warmup = min(1.0, duration / 4)
    stop_at[0] = time.perf_counter() + warmup + duration
    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    timing["on"] = True
    started = time.perf_counter()
    await asyncio.sleep(duration)
    timing["on"] = False
    elapsed = time.perf_counter() - started
    await asyncio.gather(*workers)
    if count == 0:
        raise CheckFailed(f"no connection set-up completed ({failures} failed)")
    return {"rate": count / elapsed, "unit": "set-ups/s", "failures": failures}


# -- the servers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(name: str, port: int) -> list[str]:
    if name == "websocketd":
        return ["websocketd", "--address", HOST, "--port", str(port), "cat"]
    return [sys.executable, "-m", "longwire", "exec", "--host", HOST, "--port", str(port),
            "--", "cat"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH")] if p)
    return env


class Server:
    """A server pinned to CPU 0 in its own session, ready once its port accepts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        command = ["taskset", "-c", SERVER_CPU, *server_command(name, self.port)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=child_env(), start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckFailed(f"{self.name} exited with status {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return
            time.sleep(0.05)
        raise CheckFailed(f"{self.name} did not listen within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # Children that outlived their server (none should) go with the session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def run_cell(name: str, workload: str, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(name)
    try:
        server.wait_ready()
        if workload == "roundtrips":
            coro = roundtrips(server.port, args.conns, args.duration)
        else:
            coro = setups(server.port, args.concurrency, args.duration)
        return run_loop(coro)
    finally:
        server.stop()


def run_loop(coro: Any) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    sys.path.insert(0, str(ROOT / "src"))
    import longwire

    found["longwire"] = longwire.__version__
    result = subprocess.run(["websocketd", "--version"], capture_output=True, text=True,
                            check=False)
    found["websocketd"] = (result.stdout or result.stderr).strip()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", default=["longwire", "websocketd"],
                        choices=["longwire", "websocketd"])
    parser.add_argument("--workloads", nargs="+", default=["roundtrips", "setups"],
                        choices=["roundtrips", "setups"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="one short repetition (smoke run)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.duration, args.conns, args.concurrency = 1, 0.5, 4, 2
    if "websocketd" in args.servers and shutil.which("websocketd") is None:
        print("websocketd is not installed: apt-get install websocketd", file=sys.stderr)
        return 2
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
    rates: dict[str, dict[str, list[float]]] = {w: {s: [] for s in args.servers}
                                                for w in args.workloads}
    ratios: dict[str, list[float]] = {w: [] for w in args.workloads}
    cells = []
    try:
        for repetition in range(args.repeat):
            for workload in args.workloads:
                order = args.servers[repetition % len(args.servers):] + \
                    args.servers[: repetition % len(args.servers)]
                this_round = {}
                for name in order:
                    result = run_cell(name, workload, args)
                    result.update(server=name, workload=workload, repetition=repetition)
                    cells.append(result)
                    this_round[name] = result["rate"]
                    rates[workload][name].append(result["rate"])
                    print(f"  {workload:10} {name:10} {result['rate']:10.0f} {result['unit']}",
                          file=sys.stderr, flush=True)
                if {"longwire", "websocketd"} <= this_round.keys():
                    ratios[workload].append(this_round["longwire"] / this_round["websocketd"])
    except CheckFailed as exc:
        print(f"check failed: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = {"versions": versions(), "settings": {
        "repeat": args.repeat, "duration": args.duration, "conns": args.conns,
        "concurrency": args.concurrency}, "cells": cells, "median": {}}
    heading = " ".join(f"{s:>12}" for s in args.servers)
    print(f"{'workload':12} {heading}  longwire÷websocketd")
    for workload in args.workloads:
        medians = {s: statistics.median(rates[workload][s]) for s in args.servers}
        ratio = statistics.median(ratios[workload]) if ratios[workload] else None
        summary["median"][workload] = {**medians, "ratio": ratio}
        shown = f"{ratio:.2f}×" if ratio is not None else "-"
        print(f"{workload:12} " + " ".join(f"{medians[s]:12.0f}" for s in args.servers)
              + f"  {shown}")
    text = json.dumps(summary, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
