"""Long-polling benchmark: longwire and its peers side by side, the same load, the same run.

Workload ``longpoll-push``: the server pushes small messages as fast as the
client polls. Each of ``--clients`` (4) clients has a stream of its own on one
keep-alive connection and loops ``GET poll`` acknowledging the last message it
has; the server side produces the same 32-byte text message whenever fewer than
100 are unacknowledged (a producer per stream, bounded by its queue), so each
answer carries the batch produced since the previous poll. Reported: messages/s,
polls/s, messages per poll, server CPU µs per message.

Servers (bench/servers/*longpoll*_server.py):
  longwire-sessions  longwire.realtime.Sessions, polling transport, longwire's own
                     session protocol (POST /rt/open, GET /rt/{sid}/poll?ack=N)
  longwire-plain     longwire App, a hand-written GET /poll handler, minimal protocol
  aiohttp            aiohttp.web handler, minimal protocol
  uvicorn            raw ASGI app, httptools + uvloop, minimal protocol
  raw                the raw-asyncio bound: a BufferedProtocol, pre-encoded messages

The minimal protocol (bench/servers/_longpoll_common.py): ``GET /poll?c=<stream>&after=N``
answers ``[{"s":N+1,"d":"..."}, ...]`` (the pending messages after N, at most 100),
held until there is one; ``after`` acknowledges. Longwire's session protocol
carries the same messages as ``{"t":"msg","s":N,"d":"..."}`` frames.

Method (shared/BENCHMARKING.md): for each repetition the servers run one after
the other (the order rotates each repetition), each on a fresh port, pinned to
CPU 0 (``taskset -c 0``); the load generator (this script with ``--loadgen``: a
raw asyncio HTTP/1.1 keep-alive client, uvloop) is pinned to CPU 1. It first
checks each server's answers on streams of their own (every message parsed:
numbers 1, 2, 3... without a gap, the data intact, over at least 300 messages
per stream), then warms up, then times the window, over which the CPU time
(utime+stime from /proc/PID/stat) of the server and of the load generator is
taken. In the timed window it counts messages without parsing JSON (the count
of ``"d":`` must equal the step of the last ``"s":``, or the cell fails).
Reported per server: medians over repetitions, the medians of the per-repetition
ratios longwire ÷ peer and peer ÷ raw bound, and a ``†`` where the load
generator was the bottleneck (client ≥ 90 % CPU, server below).

Usage:
  python bench/longpoll_bench.py [--servers S ...] [--repeat 3] [--duration 3]
                                 [--clients 4] [--quick] [--output FILE]

Writes the raw results to bench/results/longpoll-<timestamp>.json. A failed
check fails the run (exit status 1); a server whose script exits before it is
ready is skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

# bench/ is not a package: run as a script, its directory is sys.path[0].
from servers_bench import (
    CLIENT_CPU,
    HOST,
    SERVERS_DIR,
    Run,
    Server,
    cpu_busy_seconds,
    cpu_seconds,
    cpu_shares,
    fmt,
    median,
    run_json,
    status,
    versions,
    window_defaults,
)

sys.path.insert(0, str(SERVERS_DIR))
from _longpoll_common import DATA, QUEUE  # the servers' own constants

WORKLOAD = "longpoll-push"
LONGWIRES = ("longwire-sessions", "longwire-plain")
CHECK_MESSAGES = 3 * QUEUE  # per stream, before timing


@dataclasses.dataclass(frozen=True)
class Peer:
    script: str
    protocol: str  # "minimal" or "sessions"
    settings: str


PEERS: dict[str, Peer] = {
    "longwire-sessions": Peer(
        "longwire_sessions_longpoll_server.py", "sessions",
        'Sessions(app, "/rt", push, transports=["polling"]) defaults otherwise; the '
        "handler awaits session.send while < 100 unacked (reads the private outbox "
        "length), else session.wait; access_log=False, default asyncio loop",
    ),
    "longwire-plain": Peer(
        "longwire_longpoll_server.py", "minimal",
        'app.get("/poll") over the shared Channel (producer task, a future holding the '
        "poll, json); access_log=False, default asyncio loop",
    ),
    "aiohttp": Peer(
        "aiohttp_longpoll_server.py", "minimal",
        'web.get("/poll") over the shared Channel; access log off, default asyncio loop',
    ),
    "uvicorn": Peer(
        "uvicorn_longpoll_server.py", "minimal",
        'raw ASGI app over the shared Channel; http="httptools", loop="uvloop", '
        "access log off, lifespan off",
    ),
    "raw": Peer(
        "raw_longpoll_server.py", "minimal",
        "asyncio.BufferedProtocol bound: messages encoded once when produced, "
        "b','.join answers, call_soon producer; default asyncio loop",
    ),
}
DEFAULT_SERVERS = list(PEERS)


class LongpollServer(Server):
    """A long-poll server script pinned to CPU 0 (``servers_bench.Server``'s
    READY handshake and teardown, another command line)."""

    def __init__(self, name: str) -> None:
        self.start(name, PEERS[name].script, [])


# -- the load generator (``--loadgen``, pinned to CPU 1) ----------------------------------


class CheckFailed(Exception):
    """A server answered something else than the protocol says."""


class Client:
    """One keep-alive connection polling one stream, in either protocol."""

    def __init__(self, port: int, protocol: str, stream: str) -> None:
        self.port = port
        self.protocol = protocol
        self.stream = stream
        self.last = 0  # the number of the last message received
        self.messages = 0
        self.polls = 0
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        if self.protocol == "sessions":
            self.writer.write(b"POST /rt/open HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n")
            opened = json.loads(await self.response())
            if not isinstance(opened, dict) or opened.get("t") != "open" or not opened.get("sid"):
                raise CheckFailed(f"POST /rt/open answered {opened!r}")
            self.prefix = f"GET /rt/{opened['sid']}/poll?ack=".encode()
        else:
            self.prefix = f"GET /poll?c={self.stream}&after=".encode()

    async def response(self) -> bytes:
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            status = head.split(b"\r\n", 1)[0]
            raise CheckFailed(f"answered {status!r}")
        length = -1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise CheckFailed("answered with Transfer-Encoding, not Content-Length")
        if length < 0:
            raise CheckFailed("answered without Content-Length")
        return await self.reader.readexactly(length)

    async def poll(self) -> bytes:
        self.writer.write(b"%s%d HTTP/1.1\r\nHost: bench\r\n\r\n" % (self.prefix, self.last))
        self.polls += 1
        return await self.response()

    async def check(self) -> None:
        """Poll until ``CHECK_MESSAGES`` arrived, parsing and checking every one."""
        while self.last < CHECK_MESSAGES:
            body = await self.poll()
            try:
                batch = json.loads(body)
            except ValueError as error:
                raise CheckFailed(f"not JSON: {body[:80]!r}: {error}") from None
            if not isinstance(batch, list) or not batch:
                raise CheckFailed(f"an empty or non-array answer: {body[:80]!r}")
            for message in batch:
                if self.protocol == "sessions" and message.get("t") != "msg":
                    raise CheckFailed(f"a frame other than msg: {message!r}")
                if message.get("s") != self.last + 1:
                    raise CheckFailed(f"message {message.get('s')!r} after {self.last}")
                if message.get("d") != DATA or "b" in message:
                    raise CheckFailed(f"message {self.last + 1} carries {message.get('d')!r}")
                self.last += 1
                self.messages += 1

    async def run(self, running: list[bool]) -> None:
        """Poll while ``running[0]``, counting messages without parsing the JSON."""
        while running[0]:
            body = await self.poll()
            count = body.count(b'"d":')
            at = body.rfind(b'"s":') + 4
            last = int(body[at:body.index(b",", at)]) if at >= 4 else self.last
            if last - self.last != count:
                raise CheckFailed(f"{count} messages in an answer taking {self.last} to {last}")
            self.last = last
            self.messages += count

    def close(self) -> None:
        self.writer.close()


async def loadgen(args: argparse.Namespace) -> dict[str, Any]:
    # Check on streams of their own, then time fresh ones.
    checkers = [Client(args.port, args.protocol, f"check{i}") for i in range(args.clients)]
    for client in checkers:
        await client.connect()
    await asyncio.wait_for(asyncio.gather(*(c.check() for c in checkers)), 30)
    for client in checkers:
        client.close()

    clients = [Client(args.port, args.protocol, f"s{i}") for i in range(args.clients)]
    for client in clients:
        await client.connect()
    running = [True]
    tasks = [asyncio.ensure_future(c.run(running)) for c in clients]
    await asyncio.sleep(args.warmup)
    messages = sum(c.messages for c in clients)
    polls = sum(c.polls for c in clients)
    server_start = cpu_seconds(args.server_pid)
    client_start = time.process_time()
    busy_start = cpu_busy_seconds()
    started = time.perf_counter()
    done, _ = await asyncio.wait(tasks, timeout=args.duration)
    seconds = time.perf_counter() - started
    server_cpu = cpu_seconds(args.server_pid) - server_start
    client_cpu = time.process_time() - client_start
    busy = cpu_busy_seconds()
    messages = sum(c.messages for c in clients) - messages
    polls = sum(c.polls for c in clients) - polls
    running[0] = False
    for task in done:
        task.result()  # a failed check during the window
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    for client in clients:
        client.close()
    return {
        "ok": True, "messages": messages, "polls": polls, "seconds": seconds,
        "server_cpu": server_cpu, "client_cpu": client_cpu,
        "checked": CHECK_MESSAGES * args.clients,
        "cpu_busy": {cpu: busy[cpu] - busy_start.get(cpu, 0.0) for cpu in busy},
    }


def loadgen_main(args: argparse.Namespace) -> int:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is in the bench extra
        runner = asyncio.run
    try:
        result = runner(loadgen(args))
    except (CheckFailed, OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(result), flush=True)
    return 0


# -- running one cell -----------------------------------------------------------------


def run_cell(name: str, args: argparse.Namespace) -> dict[str, Any]:
    server = LongpollServer(name)
    try:
        server.wait_ready()
        command = [
            "taskset", "-c", CLIENT_CPU, sys.executable, str(Path(__file__).resolve()),
            "--loadgen", "--port", str(server.port), "--server-pid", str(server.process.pid),
            "--protocol", PEERS[name].protocol, "--clients", str(args.clients),
            "--duration", str(args.duration), "--warmup", str(args.warmup),
        ]
        return server.outcome(run_json(command, timeout=args.duration + args.warmup + 60))
    finally:
        server.stop()


def derive(result: dict[str, Any]) -> None:
    """Add throughput, µs per message and CPU shares to a timed result."""
    if not result.get("ok"):
        return
    seconds = result["seconds"]
    result["value"] = result["messages"] / seconds
    result["polls_per_s"] = result["polls"] / seconds
    result["per_poll"] = result["messages"] / max(1, result["polls"])
    result["server_us_per_msg"] = result["server_cpu"] / max(1, result["messages"]) * 1e6
    cpu_shares(result, seconds, seconds)


# -- report -----------------------------------------------------------------------------


def table(cells: list[dict[str, Any]], servers: list[str], clients: int) -> str:
    by_server: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
    for cell in cells:
        by_server.setdefault(cell["server"], []).append(cell)

    def ratio(numerator: str, denominator: str) -> float | None:
        ratios = [
            a["value"] / b["value"]
            for a in by_server.get(numerator, []) for b in by_server.get(denominator, [])
            if a["rep"] == b["rep"] and a.get("value") and b.get("value")
        ]
        return median(ratios)

    shown = [s for s in LONGWIRES if s in servers]
    out = [
        f"\n### {WORKLOAD}: {clients} clients, each its own stream and keep-alive connection; "
        f"32 B text messages, at most {QUEUE} unacknowledged per stream\n",
        "| server | loop | msg/s | polls/s | msg/poll | "
        + "".join(f"{s} ÷ peer | " for s in shown)
        + "of raw bound | server µs/msg | server CPU | client CPU | others on CPU 0 |",
        "|---|---|---:|---:|---:|" + "---:|" * len(shown) + "---:|---:|---:|---:|---:|",
    ]
    for server in servers:
        results = by_server.get(server, [])
        if not results:
            continue
        loop = "/".join(sorted({r.get("loop", "?") for r in results}))
        failed = [r for r in results if not r.get("ok")]
        if failed:
            out.append(f"| {server} | {loop} | FAILED: {failed[0]['error'][:160]} |")
            continue
        versus = "".join(
            "| " + ("" if server == s else fmt(ratio(s, server))) + " " for s in shown
        )
        bound = "" if server == "raw" else fmt(ratio(server, "raw"))
        others = median([r["cpu0_others"] for r in results if "cpu0_others" in r])
        mark = " †" if sum(r["client_bound"] for r in results) * 2 > len(results) else ""
        out.append(
            f"| {server} | {loop} | {fmt(median([r['value'] for r in results]))}{mark} "
            f"| {fmt(median([r['polls_per_s'] for r in results]))} "
            f"| {fmt(median([r['per_poll'] for r in results]))} {versus}| {bound} "
            f"| {fmt(median([r['server_us_per_msg'] for r in results]))} "
            f"| {median([r['server_load'] for r in results]):.0%} "
            f"| {median([r['client_load'] for r in results]):.0%} "
            f"| {'' if others is None else f'{others:.0%}'} |"
        )
    out.append(
        "\nMedians over repetitions; ratios are medians of per-repetition ratios of msg/s "
        "(X ÷ peer > 1: X faster). † client-bound (load generator ≥ 90 % CPU, server "
        "below): the throughput is the client's ceiling, compare µs/msg. \"others on CPU 0\": "
        "the share of the server's CPU that other processes (and interrupts) took."
    )
    return "\n".join(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--servers", nargs="+", metavar="S", choices=list(PEERS))
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--duration", type=float, help="timed window, s (at most 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent polling clients")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/...)")
    # The load generator's own arguments (this script runs itself with --loadgen).
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--protocol", choices=["minimal", "sessions"], help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, help=argparse.SUPPRESS)
    return window_defaults(parser.parse_args(), duration=3.0)


def timed_status(result: dict[str, Any]) -> str:
    return (f"{fmt(result['value'])} msg/s, {fmt(result['polls_per_s'])} polls/s, "
            f"server {fmt(result['server_us_per_msg'])} µs/msg, cpu server "
            f"{result['server_load']:.0%} client {result['client_load']:.0%}")


def main() -> int:
    args = parse_args()
    if args.loadgen:
        return loadgen_main(args)
    servers = args.servers or DEFAULT_SERVERS
    run = Run(datetime.datetime.now())
    print(f"# long-poll benchmark {run.started:%Y-%m-%d %H:%M}, repeat {args.repeat}, "
          f"window {args.duration:g} s, {args.clients} clients"
          f"{', quick' if args.quick else ''}", flush=True)
    for rep in range(args.repeat):
        for server in run.order(servers, rep):
            result = run.cell(server, partial(run_cell, server, args), derive, rep, WORKLOAD)
            if result is not None:
                print(f"  rep {rep + 1} {WORKLOAD} {server:18} {status(result, timed_status)}",
                      flush=True)
    tables = table(run.cells, run.shown(servers), args.clients)
    return run.finish(tables, args.output, "longpoll-", {
        **run.record(args, leave_out=("loadgen", "port", "server_pid", "protocol")),
        "versions": versions(["longwire"]),
        "settings": {s: PEERS[s].settings for s in servers},
    })


if __name__ == "__main__":
    sys.exit(main())
