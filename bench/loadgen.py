"""WebSocket (and HTTP check) load generator for the server benchmarks.

A raw ``asyncio.Protocol`` on uvloop, not a WebSocket library: the handshake is
written by hand, masked frames are built once before the run, each batch goes
out in one ``transport.write``, and replies are counted by walking frame headers
without copying payloads. Every workload first checks the server's answers
(echoed payloads byte-equal, text stays text, broadcast counts and order) and
only then times a window.

Workloads (``--workload``):
  ws-pipelined   ``--conns`` connections, each keeping ``--depth`` messages in flight
  ws-inflight1   the same with depth 1 (one message in flight per connection)
  ws-large       one connection, ``--size``-byte binary messages, one at a time (MB/s)
  ws-broadcast   ``--conns`` subscribers and one publisher on ``/broadcast``; the
                 publisher keeps at most ``--depth`` messages ahead of the subscribers
  ws-idle        ``--conns`` idle connections; the server's VmRSS delta per connection
                 (``--deflate`` offers permessage-deflate in the handshake)
  http-check     ``GET /`` answers 200 ``Hello, world!``; reports keep-alive and
                 whether 16 pipelined requests get 16 answers

With ``--server-pid`` the server's CPU time (utime+stime from /proc/PID/stat)
and this process's are read at both ends of the timed window. Prints one JSON
object on stdout; exits 1 when a check fails.

Usage: python bench/loadgen.py --port P --workload ws-pipelined --size 32 --server-pid PID
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import resource
import struct
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONNECT_CONCURRENCY = 100  # below the servers' default listen backlogs (100-128)
# Bytes enough to hold any frame header plus a whole control frame.
HEADER_AND_CONTROL = 14 + 125


class CheckFailed(Exception):
    """The server answered wrongly: the workload is not timed."""


# -- measuring ---------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process, in seconds (0.0 without a pid)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_busy_seconds() -> dict[str, float]:
    """Busy time of each CPU so far (/proc/stat: all but idle and iowait), in seconds."""
    busy = {}
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"cpu") and line[3:4].isdigit():
                name, *ticks = line.split()
                values = [int(t) for t in ticks[:8]]
                busy[name.decode()] = (sum(values) - values[3] - values[4]) / CLOCK_TICKS
    return busy


class Window:
    """CPU and wall clock of the server and this process over a timed window.

    Also the busy time of every CPU, so that what other processes took from the
    pinned CPUs during the window shows in the results.
    """

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start = time.perf_counter()
        self.server_start = cpu_seconds(server_pid)
        self.client_start = cpu_seconds(os.getpid())
        self.busy_start = cpu_busy_seconds()

    def close(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self.start
        busy = cpu_busy_seconds()
        return {
            "seconds": seconds,
            "server_cpu": cpu_seconds(self.server_pid) - self.server_start,
            "client_cpu": cpu_seconds(os.getpid()) - self.client_start,
            "cpu_busy": {cpu: busy[cpu] - self.busy_start.get(cpu, 0.0) for cpu in busy},
        }


# -- frames ------------------------------------------------------------------


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    length = len(payload)
    if not length:
        return payload
    mask_bytes = (mask * ((length + 3) >> 2))[:length]
    return (
        int.from_bytes(payload, "little") ^ int.from_bytes(mask_bytes, "little")
    ).to_bytes(length, "little")


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = struct.pack("!BBH", first, 0xFE, length)
    else:
        header = struct.pack("!BBQ", first, 0xFF, length)
    mask = os.urandom(4)
    return header + mask + mask_payload(payload, mask)


def sample_payload(opcode: int, size: int, rng: random.Random) -> bytes:
    if opcode == TEXT:
        alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 -"
        return bytes(rng.choice(alphabet) for _ in range(size))
    return rng.randbytes(size)


# -- the client protocol -------------------------------------------------------


class Client(asyncio.Protocol):
    """A WebSocket client connection: hand-written handshake, then frames.

    In *collect* mode complete frames are kept (for checks); in *count* mode
    frame headers are walked and payloads skipped, and ``on_count(n, nbytes)``
    is told how many data messages completed in each read.
    """

    def __init__(self, path: str, host: str, port: int, offer_deflate: bool) -> None:
        self.path, self.host, self.port = path, host, port
        self.offer_deflate = offer_deflate
        self.key = base64.b64encode(os.urandom(16))
        self.head = b""
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.extensions = ""
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        # collect mode
        self.counting = False
        self.collected: list[tuple[int, bool, bytes]] = []  # (opcode, rsv1, payload)
        self.expect = 0
        self.collect_done: asyncio.Future[None] | None = None
        self.pending = bytearray()
        self.fragments: list[bytes] = []
        self.fragment_opcode = 0
        self.fragment_rsv1 = False
        self.inflater: Any = None  # permessage-deflate, for checks only
        # count mode
        self.skip = 0
        self.skip_counts = 0
        self.partial = b""
        self.received_bytes = 0
        self.on_count: Callable[[Client, int], None] = lambda client, n: None

    # handshake

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(("\r\n".join(self.handshake_lines()) + "\r\n\r\n").encode())

    def handshake_lines(self) -> list[str]:
        """The upgrade request's request line and header fields."""
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        return lines

    def connection_lost(self, exc: Exception | None) -> None:
        error = CheckFailed(f"connection closed by the server ({exc})")
        for future in (self.handshake, self.collect_done):
            if future is not None and not future.done():
                future.set_exception(error)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            if self.counting:
                self.count_frames(data)
            else:
                self.collect_frames(data)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        head, rest = self.head[:end], self.head[end + 4 :]
        self.head = b""
        try:
            self.check_handshake(head)
        except CheckFailed as error:
            self.handshake.set_exception(error)
            return
        self.upgraded = True
        self.handshake.set_result(None)
        if rest:
            self.collect_frames(rest)

    def check_handshake(self, head: bytes) -> None:
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if not status.startswith("HTTP/1.1 101"):
            raise CheckFailed(f"handshake answered {status!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise CheckFailed("wrong Sec-WebSocket-Accept")
        self.extensions = headers.get("sec-websocket-extensions", "")

    # collect mode (checks)

    def expect_messages(self, count: int) -> asyncio.Future[None]:
        self.expect = count
        self.collect_done = asyncio.get_running_loop().create_future()
        if len(self.collected) >= count:
            self.collect_done.set_result(None)
        return self.collect_done

    def collect_frames(self, data: bytes) -> None:
        self.pending += data
        buffer = self.pending
        position = 0
        while True:
            frame = parse_frame(buffer, position)
            if frame is None:
                break
            fin, rsv1, opcode, masked, payload, position = frame
            if masked:
                self.fail("the server masked a frame")
                return
            if opcode >= CLOSE:
                self.control(opcode, payload)
                continue
            if opcode:
                self.fragment_opcode, self.fragment_rsv1 = opcode, rsv1
            self.fragments.append(payload)
            if fin:
                self.collected.append(
                    (self.fragment_opcode, self.fragment_rsv1, b"".join(self.fragments))
                )
                self.fragments = []
        del buffer[:position]
        done = self.collect_done
        if done is not None and not done.done() and len(self.collected) >= self.expect:
            done.set_result(None)

    def fail(self, message: str) -> None:
        if self.collect_done is not None and not self.collect_done.done():
            self.collect_done.set_exception(CheckFailed(message))

    def control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == PING:
            self.transport.write(client_frame(PONG, payload))
        elif opcode == CLOSE:
            self.fail(f"the server sent close {payload[:2].hex()}")
            self.transport.close()

    def inflate(self, payload: bytes) -> bytes:
        """Decompress one permessage-deflate message (RFC 7692 §7.2.2)."""
        if self.inflater is None:
            self.inflater = zlib.decompressobj(-15)
        return bytes(self.inflater.decompress(payload + b"\x00\x00\xff\xff"))

    # count mode (timed)

    def start_counting(self) -> None:
        if self.pending or self.fragments:
            raise CheckFailed("unexpected data before the timed window")
        self.counting = True

    def count_frames(self, data: bytes) -> None:
        size = len(data)
        self.received_bytes += size
        count = 0
        position = 0
        if self.skip:
            if self.skip > size:
                self.skip -= size
                return
            position = self.skip
            self.skip = 0
            count = self.skip_counts
        if self.partial:
            # Complete the split header (or control frame) from a bounded slice:
            # never concatenate the whole read.
            joined = self.partial + data[position : position + HEADER_AND_CONTROL]
            used = len(self.partial)
            self.partial = b""
            end, completed = self.walk_one(joined)
            if end < 0:  # still incomplete: the read was tiny
                self.partial = joined
                self.on_count(self, count)
                return
            count += completed
            position += end - used
            if position > size:
                self.skip = position - size
                self.skip_counts = completed
                self.on_count(self, count - completed)
                return
        while size - position >= 2:
            first = data[position]
            length = data[position + 1] & 0x7F
            header = 2
            if length == 126:
                header = 4
                if size - position < 4:
                    break
                length = (data[position + 2] << 8) | data[position + 3]
            elif length == 127:
                header = 10
                if size - position < 10:
                    break
                length = int.from_bytes(data[position + 2 : position + 10], "big")
            end = position + header + length
            if first & 0x08:  # control frame: needs its payload
                if end > size:
                    break
                self.control(first & 0x0F, data[position + header : end])
                position = end
                continue
            fin = first >> 7
            if end > size:
                self.skip = end - size
                self.skip_counts = fin
                position = size
                break
            count += fin
            position = end
        if position < size:
            self.partial = data[position:]
        self.on_count(self, count)

    def walk_one(self, data: bytes) -> tuple[int, int]:
        """(end of the first frame in ``data``, messages it completes), or (-1, 0)."""
        size = len(data)
        if size < 2:
            return -1, 0
        first = data[0]
        length = data[1] & 0x7F
        header = 2
        if length == 126:
            header = 4
            if size < 4:
                return -1, 0
            length = (data[2] << 8) | data[3]
        elif length == 127:
            header = 10
            if size < 10:
                return -1, 0
            length = int.from_bytes(data[2:10], "big")
        end = header + length
        if first & 0x08:
            if end > size:
                return -1, 0
            self.control(first & 0x0F, data[header:end])
            return end, 0
        return end, first >> 7


Frame = tuple[bool, bool, int, bool, bytes, int]


def parse_frame(buffer: bytearray, position: int) -> Frame | None:
    """(fin, rsv1, opcode, masked, payload, end) of the frame at ``position``, or None."""
    size = len(buffer)
    if size - position < 2:
        return None
    first, second = buffer[position], buffer[position + 1]
    length = second & 0x7F
    header = 2
    if length == 126:
        header = 4
        if size - position < 4:
            return None
        length = int.from_bytes(buffer[position + 2 : position + 4], "big")
    elif length == 127:
        header = 10
        if size - position < 10:
            return None
        length = int.from_bytes(buffer[position + 2 : position + 10], "big")
    masked = bool(second & 0x80)
    if masked:
        header += 4
    end = position + header + length
    if end > size:
        return None
    payload = bytes(buffer[position + header : end])
    if masked:
        payload = mask_payload(payload, bytes(buffer[position + header - 4 : position + header]))
    return bool(first & 0x80), bool(first & 0x40), first & 0x0F, masked, payload, end


# -- connecting ----------------------------------------------------------------


async def connect(
    host: str, port: int, path: str, count: int, offer_deflate: bool = False,
) -> list[Client]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> Client:
        async with gate:
            _, client = await loop.create_connection(
                lambda: Client(path, host, port, offer_deflate), host, port,
            )
            await asyncio.wait_for(client.handshake, 30)
            return client

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def close_all(clients: list[Client]) -> None:
    for client in clients:
        if client.transport is not None and not client.transport.is_closing():
            client.transport.write(client_frame(CLOSE, struct.pack("!H", 1000)))
    waiting = [client.closed for client in clients]
    if waiting:
        await asyncio.wait(waiting, timeout=2)
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


async def check_echo(clients: list[Client], opcode: int, size: int, rng: random.Random) -> None:
    """Each client echoes a text sample, a binary sample and one workload message."""
    samples = [
        (TEXT, sample_payload(TEXT, 32, rng)),
        (BINARY, sample_payload(BINARY, 1000, rng)),
        (opcode, sample_payload(opcode, size, rng)),
    ]
    for client in clients:
        assert client.transport is not None
        client.transport.write(b"".join(client_frame(op, payload) for op, payload in samples))
    await asyncio.wait_for(
        asyncio.gather(*(client.expect_messages(len(samples)) for client in clients)), 60,
    )
    for client in clients:
        received = client.collected[: len(samples)]
        for (op, payload), (got_op, rsv1, echoed) in zip(samples, received, strict=True):
            got = client.inflate(echoed) if rsv1 else echoed
            if got_op != op:
                raise CheckFailed(f"sent opcode {op}, echoed opcode {got_op}")
            if got != payload:
                raise CheckFailed(f"echoed payload differs ({len(got)} bytes, sent {len(payload)})")
        if len(client.collected) != len(samples):
            raise CheckFailed("more messages echoed than sent")
        client.collected.clear()


# -- workloads -------------------------------------------------------------------


async def ws_echo_window(args: argparse.Namespace, depth: int) -> dict[str, Any]:
    """ws-pipelined, ws-inflight1, ws-large: keep ``depth`` messages in flight per connection."""
    opcode = TEXT if args.text else BINARY
    rng = random.Random(1)
    clients = await connect(args.host, args.port, "/echo", args.conns)
    try:
        await check_echo(clients, opcode, args.size, rng)
        chunk_size = max(1, depth // 2)
        frame = client_frame(opcode, sample_payload(opcode, args.size, rng))
        chunk = frame * chunk_size
        in_flight = dict.fromkeys(clients, 0)
        total = [0]
        stopping = [False]

        def on_count(client: Client, count: int) -> None:
            if not count:
                return
            total[0] += count
            left = in_flight[client] - count
            if not stopping[0]:
                while left <= depth - chunk_size:
                    assert client.transport is not None
                    client.transport.write(chunk)
                    left += chunk_size
            in_flight[client] = left

        for client in clients:
            client.start_counting()
            client.on_count = on_count
        for client in clients:
            assert client.transport is not None
            for _ in range(depth // chunk_size):
                client.transport.write(chunk)
            in_flight[client] = depth // chunk_size * chunk_size
        await asyncio.sleep(args.warmup)
        start_count = total[0]
        start_bytes = sum(client.received_bytes for client in clients)
        window = Window(args.server_pid)
        await asyncio.sleep(args.duration)
        result = window.close()
        result["messages"] = total[0] - start_count
        result["bytes"] = sum(client.received_bytes for client in clients) - start_bytes
        stopping[0] = True
        if not result["messages"]:
            raise CheckFailed("no message echoed in the timed window")
        return result
    finally:
        await close_all(clients)


async def ws_broadcast(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(2)
    subscribers = await connect(args.host, args.port, "/broadcast", args.conns)
    publishers = await connect(args.host, args.port, "/broadcast", 1)
    publisher = publishers[0]
    everyone = subscribers + publishers
    try:
        await asyncio.sleep(0.2)  # let the server register the last connections
        samples = [sample_payload(TEXT, args.size, rng) for _ in range(3)]
        assert publisher.transport is not None
        publisher.transport.write(b"".join(client_frame(TEXT, sample) for sample in samples))
        await asyncio.wait_for(
            asyncio.gather(*(client.expect_messages(len(samples)) for client in everyone)), 60,
        )
        await asyncio.sleep(0.2)
        for client in everyone:
            if [(op, payload) for op, _, payload in client.collected] != [
                (TEXT, sample) for sample in samples
            ]:
                raise CheckFailed("a subscriber did not get exactly the broadcast messages")
            client.collected.clear()

        chunk_size = max(1, args.depth // 2)
        chunk = client_frame(TEXT, sample_payload(TEXT, args.size, rng)) * chunk_size
        subscriber_count = len(subscribers)
        delivered = [0]
        sent = [0]
        stopping = [False]

        def refill() -> None:
            assert publisher.transport is not None
            # The slowest subscribers lag the average by little: the publisher
            # stays at most ``depth`` messages ahead of the average subscriber.
            while not stopping[0] and sent[0] - delivered[0] // subscriber_count <= (
                args.depth - chunk_size
            ):
                publisher.transport.write(chunk)
                sent[0] += chunk_size

        def on_subscriber_count(client: Client, count: int) -> None:
            if count:
                delivered[0] += count
                refill()

        for client in subscribers:
            client.start_counting()
            client.on_count = on_subscriber_count
        publisher.start_counting()
        refill()
        await asyncio.sleep(args.warmup)
        start = delivered[0]
        window = Window(args.server_pid)
        await asyncio.sleep(args.duration)
        result = window.close()
        result["messages"] = delivered[0] - start
        result["published"] = sent[0]
        stopping[0] = True
        if not result["messages"]:
            raise CheckFailed("no broadcast delivered in the timed window")
        return result
    finally:
        await close_all(everyone)


async def ws_idle(args: argparse.Namespace) -> dict[str, Any]:
    if args.server_pid is None:
        raise SystemExit("ws-idle needs --server-pid")
    rng = random.Random(3)
    # Check, and warm the server's code paths, on connections that then go away.
    warm = await connect(args.host, args.port, "/echo", 20, args.deflate)
    try:
        await check_echo(warm, TEXT, 64, rng)
    finally:
        await close_all(warm)
    await asyncio.sleep(0.5)
    before = rss_bytes(args.server_pid)
    start = time.perf_counter()
    clients = await connect(args.host, args.port, "/echo", args.conns, args.deflate)
    try:
        opened = time.perf_counter() - start
        await asyncio.sleep(1.0)
        after = rss_bytes(args.server_pid)
        # The idle connections still work (a sample of them).
        await check_echo(clients[:: max(1, len(clients) // 10)], TEXT, 64, rng)
        extensions = {client.extensions for client in clients}
        if len(extensions) != 1:
            raise CheckFailed(f"extensions differ between connections: {extensions}")
        negotiated = extensions.pop()
        if args.deflate and "permessage-deflate" not in negotiated:
            raise CheckFailed("permessage-deflate offered but not negotiated")
        return {
            "connections": len(clients),
            "rss_before": before,
            "rss_after": after,
            "bytes_per_connection": (after - before) / len(clients),
            "open_seconds": opened,
            "extensions": negotiated,
        }
    finally:
        await close_all(clients)


async def http_check(args: argparse.Namespace) -> dict[str, Any]:
    """The hello answer is right; does the server keep the connection, and pipeline?"""
    request = f"GET / HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(args.host, args.port)
    try:
        writer.write(request)
        keep_alive = await read_hello(reader)
    finally:
        writer.close()
    pipelined = 0
    if keep_alive:
        reader, writer = await asyncio.open_connection(args.host, args.port)
        try:
            writer.write(request * 16)
            for _ in range(16):
                await read_hello(reader)
                pipelined += 1
        finally:
            writer.close()
    return {"keep_alive": keep_alive, "pipelined": pipelined}


async def read_hello(reader: asyncio.StreamReader) -> bool:
    """Read one hello response; True when the connection stays open."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status, *lines = head.decode("latin-1").split("\r\n")
    if not status.startswith("HTTP/1.1 200"):
        raise CheckFailed(f"GET / answered {status!r}")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" not in headers:
        raise CheckFailed("no Content-Length in the hello response")
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    if body != b"Hello, world!":
        raise CheckFailed(f"GET / body is {body!r}")
    if not headers.get("content-type", "").startswith("text/plain"):
        raise CheckFailed(f"GET / content-type is {headers.get('content-type')!r}")
    return headers.get("connection") != "close"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.workload == "ws-pipelined":
        return await ws_echo_window(args, args.depth)
    if args.workload == "ws-inflight1":
        return await ws_echo_window(args, 1)
    if args.workload == "ws-large":
        args.text = False
        args.conns = 1
        return await ws_echo_window(args, 1)
    if args.workload == "ws-broadcast":
        return await ws_broadcast(args)
    if args.workload == "ws-idle":
        return await ws_idle(args)
    if args.workload == "http-check":
        return await http_check(args)
    raise SystemExit(f"unknown workload {args.workload}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--size", type=int, default=32, help="payload bytes")
    parser.add_argument("--text", action="store_true", help="text messages (default binary)")
    parser.add_argument("--conns", type=int, default=4)
    parser.add_argument("--depth", type=int, default=100, help="messages in flight")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--server-pid", type=int)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is in the bench extra
        runner = asyncio.run
    try:
        outcome = runner(main(arguments))
    except Exception as failure:
        print(json.dumps({"ok": False, "error": f"{type(failure).__name__}: {failure}"}))
        sys.exit(1)
    outcome["ok"] = True
    print(json.dumps(outcome))
