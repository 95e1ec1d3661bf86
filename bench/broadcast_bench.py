"""Broadcast benchmark: one server fans 64-byte messages out to many WebSocket subscribers.

Workload ``broadcast-64B``: ``--clients`` subscribers (1,000 and 10,000) connect
and subscribe; then the server, told over its control socket (``GO``), publishes
``--messages`` messages (200 to 1,000 subscribers, 20 to 10,000: 200,000
deliveries per cell either way; python-socketio needs about 45 s for that here, so
the issue's 1,000 × 1,000 is ``--clients 1000 --messages 1000``) in a server-side
loop, as an application would.
Measured at the clients: **delivered msg/s** (subscribers × messages ÷ the time
from ``GO`` until the last subscriber has the last message, which is also
reported as the *burst* time), the **fan-out latency** of a single message (the
time from ``GO 1`` until the last subscriber has it; median of ``--trials``), and
the **server CPU µs per delivered message** over the burst.

Servers (bench/servers/broadcast_*.py; every payload is the same 64-character
text, ``broadcast_common.payload(i)``, its number first):
  longwire          longwire.hub.Hub (memory broker), ``await hub.publish`` per
                    message; hub protocol (``connect``, ``subscribe``, ``pub``
                    notifications) on ``/rt/ws``; default asyncio loop
  longwire-uvloop   the same on uvloop
  longwire-redis    Hub(broker="redis://…"): two longwire nodes (both on CPU 0,
                    with the redis-server this script starts), subscribers split
                    between them, the publisher on the first; server CPU is the
                    sum of the three processes
  socketio-uvicorn  python-socketio ``await sio.emit("m", data)`` to everyone,
                    ASGIApp on uvicorn (uvloop, httptools)
  socketio-aiohttp  the same attached to aiohttp (default asyncio loop)
  websockets        ``websockets.broadcast(connections, data)`` per message
  picows            ``WSTransport.send(TEXT, data)`` to every transport
  raw               the raw-asyncio bound: each frame built once, one
                    ``transport.write`` per subscriber

Method (shared/BENCHMARKING.md): for each repetition and subscriber count the
servers run one after the other (the order rotates each repetition), each on
fresh ports, pinned to CPU 0 (``taskset -c 0``); the load generator (this script
with ``--loadgen``: one uvloop process, a ``bench/loadgen.py`` ``Client`` per
connection, pinned to CPU 1) opens the connections, speaks each protocol's
subscription handshake, waits until the server has registered every subscriber
(``COUNT``) or every subscription was acknowledged, then **checks**: 5 messages,
each subscriber must get exactly them, in order, parsed (JSON for the hub and
Socket.IO). Then the latency trials, then the timed burst, during which frames
are counted by walking their headers (no payload copied, except each
subscriber's last message, which is parsed and checked, and every message of
one subscriber in 100, which are all parsed and checked in order); afterwards
each subscriber must have exactly the expected count. A ``†`` marks a
client-bound cell (load generator ≥ 90 % CPU, server below): there the server
CPU per message is the figure that compares servers.

Usage:
  python bench/broadcast_bench.py [--servers S ...] [--clients 1000 10000]
                                  [--messages N] [--repeat 3] [--trials 10]
                                  [--quick] [--output FILE]

Writes the raw results to bench/results/broadcast-<timestamp>.json. A failed
check fails the run (exit status 1); a server whose script exits before it is
ready is skipped with a message; longwire-redis is skipped with a note when
redis-server or the Redis broker is not available.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

# bench/ is not a package: run as a script, its directory is sys.path[0].
import loadgen
from servers_bench import (
    CLIENT_CPU,
    HOST,
    ROOT,
    SERVER_CPU,
    SERVERS_DIR,
    Run,
    Server,
    cpu_shares,
    fmt,
    free_port,
    median,
    run_json,
    status,
    stop,
    versions,
)

sys.path.insert(0, str(SERVERS_DIR))
from broadcast_common import SIZE, payload

WORKLOAD = "broadcast-64B"
LONGWIRES = ("longwire", "longwire-uvloop", "longwire-redis")
CHECK_MESSAGES = 5
SAMPLE_EVERY = 100  # one subscriber in this many parses every message of the burst
TAIL = 512  # stream bytes kept per subscriber: more than any frame of this workload


@dataclasses.dataclass(frozen=True)
class Peer:
    script: str
    protocol: str  # "hub", "socketio" or "plain"
    path: str
    arguments: tuple[str, ...] = ()
    nodes: int = 1
    redis: bool = False
    package: str = ""
    settings: str = ""


PEERS: dict[str, Peer] = {
    "longwire": Peer(
        "broadcast_longwire.py",
        "hub",
        "/rt/ws",
        package="longwire",
        settings='Hub() memory broker, hub.channel("bench") defaults, app.mount("/rt", hub), '
        "await hub.publish per message; App.run access_log=False, default asyncio loop",
    ),
    "longwire-uvloop": Peer(
        "broadcast_longwire.py",
        "hub",
        "/rt/ws",
        ("--uvloop",),
        package="longwire",
        settings="the same on uvloop",
    ),
    "longwire-redis": Peer(
        "broadcast_longwire.py",
        "hub",
        "/rt/ws",
        nodes=2,
        redis=True,
        package="longwire",
        settings='Hub(broker="redis://127.0.0.1:P"), two nodes (subscribers split, publisher '
        "on the first) and redis-server (--save '' --appendonly no), all on CPU 0; "
        "default asyncio loop",
    ),
    "socketio-uvicorn": Peer(
        "broadcast_socketio.py",
        "socketio",
        "/socket.io/?EIO=4&transport=websocket",
        ("--backend", "uvicorn"),
        package="python-socketio",
        settings='AsyncServer(async_mode="asgi") defaults, await sio.emit("m", data) to all; '
        'uvicorn loop="uvloop", http="httptools", ws="websockets-sansio", access log off',
    ),
    "socketio-aiohttp": Peer(
        "broadcast_socketio.py",
        "socketio",
        "/socket.io/?EIO=4&transport=websocket",
        ("--backend", "aiohttp"),
        package="python-socketio",
        settings='AsyncServer(async_mode="aiohttp") defaults, await sio.emit("m", data) to '
        "all; aiohttp AppRunner, access log off, default asyncio loop",
    ),
    "websockets": Peer(
        "broadcast_websockets.py",
        "plain",
        "/broadcast",
        package="websockets",
        settings="websockets.asyncio.server.serve(compression=None, max_size 32 MiB), "
        "broadcast(connections, str) per message; default asyncio loop",
    ),
    "picows": Peer(
        "broadcast_picows.py",
        "plain",
        "/broadcast",
        package="picows",
        settings="ws_create_server defaults (aiofastnet transports), transport.send(TEXT, "
        "bytes) per subscriber per message; default asyncio loop",
    ),
    "raw": Peer(
        "broadcast_raw.py",
        "plain",
        "/broadcast",
        settings="asyncio bound: frame built once per message, transport.write per "
        "subscriber (no UTF-8 check, no extension); default asyncio loop",
    ),
}
DEFAULT_SERVERS = [
    "longwire",
    "longwire-uvloop",
    "socketio-uvicorn",
    "socketio-aiohttp",
    "websockets",
    "picows",
    "raw",
    "longwire-redis",
]


class BroadcastServer(Server):
    """A broadcast server script pinned to CPU 0 (``servers_bench.Server``'s READY
    handshake and teardown, another command line)."""

    def __init__(self, name: str, extra: list[str]) -> None:
        self.control_port = free_port()
        peer = PEERS[name]
        arguments = ["--control-port", str(self.control_port), *peer.arguments, *extra]
        self.start(name, peer.script, arguments)


class NotAvailable(Exception):
    """The cell cannot run here (no redis-server)."""


class Redis:
    """A throw-away redis-server pinned to CPU 0: ``tests/redis_server.py``'s
    ``RedisServer`` (no persistence, free port), or the same command line here
    when that helper is absent."""

    def __init__(self) -> None:
        self.helper: Any = None
        self.process: subprocess.Popen[bytes] | None = None
        if shutil.which("redis-server") is None:
            raise NotAvailable("redis-server is not installed")
        try:
            sys.path.insert(0, str(ROOT / "tests"))
            from redis_server import RedisServer
        except ImportError:
            self.start_here()
        else:
            self.helper = RedisServer().start()
            self.port = int(self.helper.port)
            self.pid = int(self.helper._process.pid)
        os.sched_setaffinity(self.pid, {int(SERVER_CPU)})

    def start_here(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((HOST, self.port), 0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        stop(self.process)
        raise NotAvailable("redis-server did not start")

    def stop(self) -> None:
        if self.helper is not None:
            self.helper.close()
        if self.process is not None:
            stop(self.process)


# -- the load generator (``--loadgen``, pinned to CPU 1) ----------------------------------


class CheckFailed(loadgen.CheckFailed):
    """A server sent something else than its protocol says."""


class Done:
    """How many subscribers still lack their target message; resolved when none does."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def one_done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(None)


class Subscriber(loadgen.Client):
    """``loadgen.Client`` (handshake, collect mode for checks, pings answered) with
    a subprotocol header, Engine.IO pings answered, and a counting mode that also
    keeps the last message (and every message, for a sampled subscriber)."""

    def __init__(self, path: str, host: str, port: int, protocol: str) -> None:
        super().__init__(path, host, port, False)
        self.protocol = protocol
        self.count = 0
        self.target = 0
        self.done: Done | None = None
        self.done_at = 0.0
        self.last = b""
        self.sample: list[bytes] | None = None
        self.tail = b""
        self.frame_left = 0  # payload bytes of a frame that ends in a later read
        self.frame_kind = (0, 0)  # (opcode, length) of that frame

    def handshake_lines(self) -> list[str]:
        lines = super().handshake_lines()
        if self.protocol == "hub":
            lines.append("Sec-WebSocket-Protocol: jsonrpc")
        return lines

    def send_text(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(loadgen.client_frame(loadgen.TEXT, text.encode()))

    # collect mode: Engine.IO pings are answered and left out

    def collect_frames(self, data: bytes) -> None:
        super().collect_frames(data)
        if self.protocol == "socketio" and any(m[2] == b"2" for m in self.collected):
            for message in self.collected:
                if message[2] == b"2":
                    self.send_text("3")
            self.collected = [m for m in self.collected if m[2] != b"2"]

    async def messages(self, count: int, timeout: float = 60) -> list[bytes]:
        """The next ``count`` data messages' payloads (collect mode)."""
        while len(self.collected) < count:
            await asyncio.wait_for(self.expect_messages(count), timeout)
        taken, self.collected = self.collected[:count], self.collected[count:]
        for opcode, rsv1, _ in taken:
            if opcode != loadgen.TEXT or rsv1:
                raise CheckFailed(f"got opcode {opcode} (rsv1 {rsv1}), not an uncompressed text")
        return [message for _, _, message in taken]

    # count mode

    def count_frames(self, data: bytes) -> None:
        size = len(data)
        self.received_bytes += size
        tail = self.tail
        position = 0
        left = self.frame_left
        if left:
            if left > size:
                self.frame_left = left - size
                self.tail = (tail + data[-TAIL:])[-TAIL:]
                return
            self.frame_left = 0
            opcode, length = self.frame_kind
            self.frame_done(opcode, length, data, left, tail)
            position = left
        elif self.partial:
            partial = self.partial
            self.partial = b""
            tail = tail[: len(tail) - len(partial)]
            data = partial + data
            size = len(data)
        while size - position >= 2:
            first = data[position]
            length = data[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = (data[position + 2] << 8) | data[position + 3]
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(data[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > size:
                self.frame_left = end - size
                self.frame_kind = (first & 0x0F, length)
                position = size
                break
            self.frame_done(first & 0x0F, length, data, end, tail)
            position = end
        if position < size:
            self.partial = data[position:]
        self.tail = (tail + data[-TAIL:])[-TAIL:]

    def frame_done(self, opcode: int, length: int, data: bytes, end: int, tail: bytes) -> None:
        """A frame of ``length`` payload bytes ends at ``end`` of ``data`` (``tail``: the
        stream's bytes before ``data``)."""
        if opcode >= loadgen.CLOSE:
            self.control(opcode, self.payload_at(length, data, end, tail))
            return
        if (
            length == 1
            and self.protocol == "socketio"
            and self.payload_at(length, data, end, tail) == b"2"  # Engine.IO ping
        ):
            self.send_text("3")
            return
        self.count += 1
        sample = self.sample
        if sample is not None:
            sample.append(self.payload_at(length, data, end, tail))
        if self.count == self.target:
            self.done_at = time.perf_counter()
            self.last = self.payload_at(length, data, end, tail)
            if self.done is not None:
                self.done.one_done()

    @staticmethod
    def payload_at(length: int, data: bytes, end: int, tail: bytes) -> bytes:
        if end >= length:
            return data[end - length : end]
        return (tail + data[:end])[-length:]


def message_data(protocol: str, message: bytes) -> str:
    """The application payload a message carries, per protocol (raises CheckFailed)."""
    try:
        if protocol == "plain":
            return message.decode()
        if protocol == "socketio":
            if not message.startswith(b"42"):
                raise CheckFailed(f"not a Socket.IO event: {message[:60]!r}")
            event, data = json.loads(message[2:])
            if event != "m":
                raise CheckFailed(f"event {event!r}")
            return str(data)
        notification = json.loads(message)
        params = notification["params"]
        if notification.get("method") != "pub" or params["ch"] != "bench":
            raise CheckFailed(f"not a pub of bench: {message[:80]!r}")
        return str(params["d"])
    except (ValueError, KeyError, TypeError) as error:
        raise CheckFailed(f"unparsable message {message[:80]!r}: {error}") from error


async def subscribe(client: Subscriber) -> None:
    """The protocol's subscription handshake, after the WebSocket one."""
    if client.protocol == "hub":
        for request_id, method, params in ((1, "connect", {}), (2, "subscribe", {"ch": "bench"})):
            client.send_text(
                json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            )
            (answer,) = await client.messages(1)
            response = json.loads(answer)
            if response.get("id") != request_id or "result" not in response:
                raise CheckFailed(f"{method} answered {answer[:200]!r}")
    elif client.protocol == "socketio":
        (opened,) = await client.messages(1)
        if not opened.startswith(b"0{"):
            raise CheckFailed(f"Engine.IO open packet expected, got {opened[:80]!r}")
        client.send_text("40")
        (connected,) = await client.messages(1)
        if not connected.startswith(b"40"):
            raise CheckFailed(f"Socket.IO connect answered {connected[:80]!r}")


class Control:
    """The server's control socket (bench/servers/broadcast_common.py)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Control:
        return cls(*await asyncio.open_connection(HOST, port))

    async def line(self, timeout: float) -> str:
        return (await asyncio.wait_for(self.reader.readline(), timeout)).decode().strip()

    async def count(self) -> int:
        self.writer.write(b"COUNT\n")
        return int(await self.line(10))

    def go(self, count: int, first: int) -> None:
        self.writer.write(f"GO {count} {first}\n".encode())

    async def done(self, timeout: float) -> float:
        answer = await self.line(timeout)
        if not answer.startswith("DONE "):
            raise CheckFailed(f"GO answered {answer!r}")
        return float(answer.split()[1])


def cpu_of(pids: list[int]) -> float:
    return sum(loadgen.cpu_seconds(pid) for pid in pids)


async def broadcast_once(
    clients: list[Subscriber],
    control: Control,
    count: int,
    first: int,
    timeout: float,
) -> tuple[float, list[float], float]:
    """``GO count first`` in count mode: (the time until the last subscriber had the
    last message, every subscriber's time, the server loop's own seconds)."""
    done = Done(len(clients))
    for client in clients:
        client.target += count
        client.done = done
    started = time.perf_counter()
    control.go(count, first)
    try:
        await asyncio.wait_for(asyncio.shield(done.future), timeout)
    except TimeoutError:
        short = [c for c in clients if c.count < c.target]
        raise CheckFailed(
            f"{len(short)} of {len(clients)} subscribers short of message {first + count - 1} "
            f"after {timeout:.0f} s (e.g. {short[0].count} of {short[0].target})"
        ) from None
    times = [client.done_at - started for client in clients]
    loop_seconds = await control.done(timeout)
    return max(times), times, loop_seconds


async def run_loadgen(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ports = [int(p) for p in args.ports.split(",")]
    control_ports = [int(p) for p in args.control_ports.split(",")]
    pids = [int(p) for p in args.pids.split(",")]
    gate = asyncio.Semaphore(loadgen.CONNECT_CONCURRENCY)
    connect_started = time.perf_counter()

    async def one(index: int) -> Subscriber:
        port = ports[index % len(ports)]
        async with gate:
            _, client = await loop.create_connection(
                lambda: Subscriber(args.path, HOST, port, args.protocol),
                HOST,
                port,
            )
            await asyncio.wait_for(client.handshake, 30)
            await subscribe(client)
            return client

    clients: list[Subscriber] = []
    tasks = [asyncio.ensure_future(one(i)) for i in range(args.clients)]
    try:
        clients = list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await loadgen.close_all([r for r in results if isinstance(r, Subscriber)])
        raise
    try:
        connect_seconds = time.perf_counter() - connect_started
        controls = [await Control.open(port) for port in control_ports]
        publisher = controls[0]
        # Every subscriber registered (by the servers that can tell).
        expected = [len(range(i, args.clients, len(ports))) for i in range(len(ports))]
        deadline = time.monotonic() + 30
        while True:
            counts = [await control.count() for control in controls]
            if all(c in (-1, e) for c, e in zip(counts, expected, strict=True)):
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"servers registered {counts} subscribers, not {expected}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)

        # Check: every subscriber gets exactly the messages, in order.
        publisher.go(CHECK_MESSAGES, 0)
        wanted = [payload(i) for i in range(CHECK_MESSAGES)]
        received = await asyncio.gather(*(client.messages(CHECK_MESSAGES) for client in clients))
        await publisher.done(60)
        for messages in received:
            got = [message_data(args.protocol, m) for m in messages]
            if got != wanted:
                raise CheckFailed(f"a subscriber got {got[:3]}…, not {wanted[:3]}…")
        wire_bytes = len(received[0][0])
        await asyncio.sleep(0.2)
        for client in clients:
            if client.collected:
                raise CheckFailed(f"a subscriber got more: {client.collected[0][2][:80]!r}")
            client.start_counting()
        first = CHECK_MESSAGES

        # Fan-out latency of single messages (also the warm-up).
        latencies = []
        for _ in range(args.trials):
            last, _times, _ = await broadcast_once(clients, publisher, 1, first, 60)
            latencies.append(last)
            wanted_last = payload(first)
            for client in clients:
                if message_data(args.protocol, client.last) != wanted_last:
                    raise CheckFailed(f"a subscriber's message is not {wanted_last!r}")
            first += 1
            await asyncio.sleep(0.05)

        # The timed burst.
        for client in clients[::SAMPLE_EVERY]:
            client.sample = []
        base = {client: client.count for client in clients}
        client_start = loadgen.cpu_seconds(os.getpid())
        server_start = cpu_of(pids)
        busy_start = loadgen.cpu_busy_seconds()
        burst, times, loop_seconds = await broadcast_once(
            clients,
            publisher,
            args.messages,
            first,
            args.timeout,
        )
        server_cpu = cpu_of(pids) - server_start
        client_cpu = loadgen.cpu_seconds(os.getpid()) - client_start
        busy = loadgen.cpu_busy_seconds()
        # Nothing more arrives; each subscriber got each message, the last one right.
        await asyncio.sleep(0.3)
        wanted_last = payload(first + args.messages - 1)
        expected_burst = [payload(i) for i in range(first, first + args.messages)]
        for client in clients:
            if client.count - base[client] != args.messages:
                raise CheckFailed(
                    f"a subscriber got {client.count - base[client]} of {args.messages} messages"
                )
            if message_data(args.protocol, client.last) != wanted_last:
                raise CheckFailed(f"a subscriber's last message is not {wanted_last!r}")
            if client.sample is not None:
                got = [message_data(args.protocol, m) for m in client.sample]
                if got != expected_burst:
                    raise CheckFailed("a sampled subscriber's messages differ or are out of order")
        delivered = len(clients) * args.messages
        return {
            "ok": True,
            "clients": len(clients),
            "messages_each": args.messages,
            "messages": delivered,
            "wire_bytes": wire_bytes,
            "connect_seconds": connect_seconds,
            "seconds": burst,
            "first_done": min(times),
            "median_done": statistics.median(times),
            "loop_seconds": loop_seconds,
            "latencies": latencies,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "cpu_busy": {cpu: busy[cpu] - busy_start.get(cpu, 0.0) for cpu in busy},
            "sampled": len(clients[::SAMPLE_EVERY]),
        }
    finally:
        await loadgen.close_all(clients)


def loadgen_main(args: argparse.Namespace) -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is in the bench extra
        runner = asyncio.run
    try:
        result = runner(run_loadgen(args))
    except (
        loadgen.CheckFailed,
        OSError,
        asyncio.IncompleteReadError,
        TimeoutError,
        ValueError,
    ) as error:
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(result), flush=True)
    return 0


# -- running one cell -----------------------------------------------------------------


def run_cell(name: str, clients: int, messages: int, args: argparse.Namespace) -> dict[str, Any]:
    peer = PEERS[name]
    servers: list[BroadcastServer] = []
    redis: Redis | None = None
    try:
        extra: list[str] = []
        if peer.redis:
            try:
                redis = Redis()
            except (NotAvailable, RuntimeError, OSError) as error:
                return {"ok": True, "skipped": f"not available: {error}"}
            extra = ["--broker", f"redis://{HOST}:{redis.port}"]
        servers = [BroadcastServer(name, extra) for _ in range(peer.nodes)]
        for server in servers:
            server.wait_ready()
        pids = [server.process.pid for server in servers]
        if redis is not None:
            pids.append(redis.pid)
        command = [
            "taskset",
            "-c",
            CLIENT_CPU,
            sys.executable,
            str(Path(__file__).resolve()),
            "--loadgen",
            "--protocol",
            peer.protocol,
            "--path",
            peer.path,
            "--ports",
            ",".join(str(s.port) for s in servers),
            "--control-ports",
            ",".join(str(s.control_port) for s in servers),
            "--pids",
            ",".join(map(str, pids)),
            "--clients",
            str(clients),
            "--messages",
            str(messages),
            "--trials",
            str(args.trials),
            "--timeout",
            str(args.timeout),
        ]
        result = run_json(command, timeout=args.timeout + 180)
        for server in servers:
            if server.process.poll() is not None:
                result = {"ok": False, "error": f"server died: {server.last_error()}"}
        if peer.redis and not result.get("ok"):
            # The Redis broker is new: a failure is reported, not fatal to the run.
            return {
                "ok": True,
                "skipped": f"not available: {result.get('error')}",
                "loop": servers[0].loop,
            }
        result["loop"] = servers[0].loop
        return result
    finally:
        for server in servers:
            server.stop()
        if redis is not None:
            redis.stop()


def derive(result: dict[str, Any]) -> None:
    """Add throughput, µs per message, latency and CPU shares to a timed result."""
    if not result.get("ok") or "skipped" in result:
        return
    seconds = result["seconds"]
    result["value"] = result["messages"] / seconds
    result["latency"] = statistics.median(result["latencies"]) if result["latencies"] else None
    result["server_us_per_msg"] = result["server_cpu"] / result["messages"] * 1e6
    cpu_shares(result, seconds, seconds)


# -- report -----------------------------------------------------------------------------


def table(cells: list[dict[str, Any]], servers: list[str], clients: int) -> str:
    rows = [c for c in cells if c["clients_requested"] == clients]
    if not rows:
        return ""
    by_server: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
    for cell in rows:
        by_server.setdefault(cell["server"], []).append(cell)

    def ratio(numerator: str, denominator: str) -> float | None:
        ratios = [
            a["value"] / b["value"]
            for a in by_server.get(numerator, [])
            for b in by_server.get(denominator, [])
            if a["rep"] == b["rep"] and a.get("value") and b.get("value")
        ]
        return median(ratios)

    timed_any = [r for r in rows if "value" in r]
    messages = timed_any[0]["messages_each"] if timed_any else "?"
    shown = [s for s in LONGWIRES if by_server.get(s) and any("value" in r for r in by_server[s])]
    out = [
        f"\n### {WORKLOAD}: {clients:,} subscribers × {messages} messages of {SIZE} B\n",
        "| server | loop | delivered msg/s | burst s | 1-msg fan-out ms | "
        + "".join(f"{s} ÷ peer | " for s in shown)
        + "of raw bound | server µs/msg | wire B/msg | server CPU | client CPU "
        "| others on CPU 0 |",
        "|---|---|---:|---:|---:|" + "---:|" * len(shown) + "---:|---:|---:|---:|---:|---:|",
    ]
    for server in servers:
        results = by_server.get(server, [])
        if not results:
            continue
        loop = "/".join(sorted({r.get("loop", "?") for r in results}))
        failed = [r for r in results if not r.get("ok")]
        timed = [r for r in results if "value" in r]
        if failed:
            out.append(f"| {server} | {loop} | FAILED: {failed[0]['error'][:160]} |")
            continue
        if not timed:
            out.append(f"| {server} | {loop} | n/a ({results[0]['skipped'][:160]}) |")
            continue
        versus = "".join("| " + ("" if server == s else fmt(ratio(s, server))) + " " for s in shown)
        bound = "" if server == "raw" else fmt(ratio(server, "raw"))
        others = median([r["cpu0_others"] for r in timed if "cpu0_others" in r])
        mark = " †" if sum(r["client_bound"] for r in timed) * 2 > len(timed) else ""
        latency = median([r["latency"] for r in timed if r["latency"] is not None])
        out.append(
            f"| {server} | {loop} | {fmt(median([r['value'] for r in timed]))}{mark} "
            f"| {median([r['seconds'] for r in timed]):.2f} "
            f"| {'' if latency is None else f'{latency * 1000:.1f}'} {versus}| {bound} "
            f"| {fmt(median([r['server_us_per_msg'] for r in timed]))} "
            f"| {timed[0]['wire_bytes']} "
            f"| {median([r['server_load'] for r in timed]):.0%} "
            f"| {median([r['client_load'] for r in timed]):.0%} "
            f"| {'' if others is None else f'{others:.0%}'} |"
        )
    out.append(
        "\nMedians over repetitions; ratios are medians of per-repetition ratios of delivered "
        "msg/s (X ÷ peer > 1: X faster). burst: from GO until the last subscriber has the last "
        "message; 1-msg fan-out: from GO 1 until the last subscriber has it. wire B/msg: the "
        "WebSocket payload each subscriber gets per 64 B message (the protocol's envelope). "
        "† client-bound (load generator ≥ 90 % CPU, server below): compare µs/msg. "
        '"others on CPU 0": what other processes took of the server\'s CPU (for '
        "longwire-redis the server CPU is both nodes plus redis-server)."
    )
    return "\n".join(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--servers", nargs="+", metavar="S", choices=list(PEERS))
    parser.add_argument("--clients", nargs="+", type=int, help="subscriber counts")
    parser.add_argument(
        "--messages",
        type=int,
        help="messages per burst (default 200 for ≤ 1,000 subscribers, 20 above)",
    )
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--trials", type=int, help="single-message fan-out trials per cell")
    parser.add_argument("--timeout", type=float, default=240.0, help="s, for one burst")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/...)")
    # The load generator's own arguments (this script runs itself with --loadgen).
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--protocol", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--control-ports", help=argparse.SUPPRESS)
    parser.add_argument("--pids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        (args.clients,) = args.clients
        return args
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.trials is None:
        args.trials = 3 if args.quick else 10
    if args.clients is None:
        args.clients = [50] if args.quick else [1000, 10000]
    return args


def messages_for(clients: int, args: argparse.Namespace) -> int:
    if args.messages:
        return int(args.messages)
    if args.quick:
        return 20
    return 200 if clients <= 1000 else 20


def timed_status(result: dict[str, Any]) -> str:
    return (
        f"{fmt(result['value'])} msg/s, burst {result['seconds']:.2f} s, "
        f"fan-out {result['latency'] * 1000:.1f} ms, server "
        f"{fmt(result['server_us_per_msg'])} µs/msg, cpu server "
        f"{result['server_load']:.0%} client {result['client_load']:.0%}"
    )


def main() -> int:
    args = parse_args()
    if args.loadgen:
        return loadgen_main(args)
    servers = args.servers or DEFAULT_SERVERS
    run = Run(datetime.datetime.now())
    print(
        f"# broadcast benchmark {run.started:%Y-%m-%d %H:%M}, repeat {args.repeat}, "
        f"subscribers {args.clients}, {args.trials} fan-out trials"
        f"{', quick' if args.quick else ''}",
        flush=True,
    )
    for rep in range(args.repeat):
        for clients in args.clients:
            messages = messages_for(clients, args)
            for server in run.order(servers, rep):
                result = run.cell(
                    server, partial(run_cell, server, clients, messages, args), derive,
                    rep, WORKLOAD, clients_requested=clients,
                )
                if result is not None:
                    line = status(result, timed_status)
                    print(f"  rep {rep + 1} {clients:>6} {server:17} {line}", flush=True)
    shown = run.shown(servers)
    tables = "\n".join(table(run.cells, shown, clients) for clients in args.clients)
    found = versions(servers)
    for package in ("python-socketio", "python-engineio", "redis", "hiredis"):
        with contextlib.suppress(Exception):
            found[package] = __import__("importlib.metadata").metadata.version(package)
    if shutil.which("redis-server"):
        banner = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout
        found["redis-server"] = banner.split("v=")[1].split()[0] if "v=" in banner else banner
    return run.finish(tables, args.output, "broadcast-", {
        **run.record(args), "versions": found,
        "settings": {s: PEERS[s].settings for s in servers},
    })


if __name__ == "__main__":
    sys.exit(main())
