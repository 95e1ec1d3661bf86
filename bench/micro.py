"""Micro-benchmarks of the sans-I/O cores, side by side with peer cores in the same run.

Workloads (each checked for correctness before it is timed):
  ws-parse-32B     server core: N masked 32-byte text frames, fed in 64 KiB reads -> messages
  ws-parse-1KiB    the same with 1 KiB binary frames
  ws-send-32B      client core: send N 32-byte text messages (mask included), drain bytes
  mask-64KiB       unmask a 64 KiB payload (C speedup and pure Python)
  mask-16MiB       unmask a 16 MiB payload (allocation-bound on small VMs)
  http-parse-get   server core: N pipelined 6-header GET requests, fed in 64 KiB reads
  http-cycle       server core: one request in, a 13-byte response out, N times (keep-alive)

Input is fed in 64 KiB pieces, as a socket read delivers it: one call holding a
hundred thousand messages would mostly measure the garbage collector.

Peers: the `websockets` library's sans-I/O protocol, `wsproto`, `h11` and
`httptools` (C) when installed (`pip install -e '.[bench]'`). Each workload runs
REPEAT times, alternating implementations; the table gives medians and the ratio
longwire / peer (above 1.0 means longwire is faster).

Usage: python bench/micro.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

from longwire import Role, http1
from longwire.websocket import Connection, Message
from longwire.websocket._masking import apply_mask_python

try:
    from longwire._speedups import apply_mask as apply_mask_c
except ImportError:  # pragma: no cover - no compiler
    apply_mask_c = None

Workload = Callable[[], int]  # runs once, returns the number of items processed
READ_SIZE = 64 * 1024


def reads(wire: bytes) -> list[bytes]:
    """``wire`` cut as successive socket reads would deliver it."""
    return [wire[i : i + READ_SIZE] for i in range(0, len(wire), READ_SIZE)]


def client_frames(messages: list[str | bytes]) -> bytes:
    client = Connection(Role.CLIENT)
    for message in messages:
        client.send_message(message)
    return client.data_to_send()


# WebSocket: longwire


def longwire_ws_parse(wire: bytes, count: int) -> Workload:
    pieces = reads(wire)

    def run() -> int:
        server = Connection(Role.SERVER, max_message_size=None)
        received = 0
        for piece in pieces:
            received += len(server.receive_data(piece))
        assert received == count
        return count

    return run


def longwire_ws_send(message: str, count: int) -> Workload:
    def run() -> int:
        client = Connection(Role.CLIENT)
        for _ in range(count):
            client.send_message(message)
        client.data_to_send()
        return count

    return run


# WebSocket: the websockets library's sans-I/O core


def websockets_ws_parse(wire: bytes, count: int) -> Workload:
    from websockets.protocol import Protocol, Side

    pieces = reads(wire)

    def run() -> int:
        protocol = Protocol(Side.SERVER, max_size=None)  # starts OPEN: no handshake
        received = 0
        for piece in pieces:
            protocol.receive_data(piece)
            received += len(protocol.events_received())
        assert received == count
        return count

    return run


def websockets_ws_send(message: str, count: int) -> Workload:
    from websockets.protocol import Protocol, Side

    def run() -> int:
        protocol = Protocol(Side.CLIENT)
        for _ in range(count):
            protocol.send_text(message.encode())
        protocol.data_to_send()
        return count

    return run


# WebSocket: wsproto


def wsproto_ws_parse(wire: bytes, count: int) -> Workload:
    from wsproto.connection import Connection as WsprotoConnection
    from wsproto.connection import ConnectionType

    pieces = reads(wire)

    def run() -> int:
        conn = WsprotoConnection(ConnectionType.SERVER)
        received = 0
        for piece in pieces:
            conn.receive_data(piece)
            # A frame split across reads comes as partial events: count whole messages.
            received += sum(1 for event in conn.events() if event.message_finished)
        assert received == count
        return count

    return run


def wsproto_ws_send(message: str, count: int) -> Workload:
    from wsproto.connection import Connection as WsprotoConnection
    from wsproto.connection import ConnectionType
    from wsproto.events import TextMessage

    def run() -> int:
        conn = WsprotoConnection(ConnectionType.CLIENT)
        out = [conn.send(TextMessage(data=message)) for _ in range(count)]
        b"".join(out)
        return count

    return run


# HTTP/1.1

GET = (
    b"GET /api/items?page=2 HTTP/1.1\r\n"
    b"Host: localhost:8000\r\n"
    b"User-Agent: bench/1.0\r\n"
    b"Accept: application/json\r\n"
    b"Accept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=abc123\r\n"
    b"\r\n"
)


def longwire_http_parse(count: int) -> Workload:
    pieces = reads(GET * count)
    limits = http1.Limits(max_pipelined_requests=None)

    def run() -> int:
        conn = http1.Connection(Role.SERVER, limits=limits)
        received = 0
        for piece in pieces:
            received += len(conn.receive_data(piece))
        assert received == 2 * count  # Request + EndOfMessage each
        return count

    return run


def longwire_http_cycle(count: int) -> Workload:
    response = http1.Response(
        status_code=200, headers=[("Content-Type", "text/plain"), ("Content-Length", "13")]
    )
    body = http1.Data(data=b"Hello, world!")
    end = http1.EndOfMessage()

    def run() -> int:
        conn = http1.Connection(Role.SERVER)
        for _ in range(count):
            events = conn.receive_data(GET)
            assert isinstance(events[0], http1.Request)
            conn.send(response)
            conn.send(body)
            conn.send(end)
        return count

    return run


def h11_http_parse(count: int) -> Workload:
    import h11

    wire = GET * count

    def run() -> int:
        # h11 takes the whole buffer at once: it parses one request per cycle anyway.
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(wire)
        n = 0
        while True:
            event = conn.next_event()
            if event is h11.PAUSED:
                # h11 parses one request per cycle: answer it to unpause.
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                continue
            if event is h11.NEED_DATA:
                break
            if isinstance(event, h11.Request):
                n += 1
        assert n == count
        return count

    return run


def h11_http_cycle(count: int) -> Workload:
    import h11

    def run() -> int:
        conn = h11.Connection(h11.SERVER)
        for _ in range(count):
            conn.receive_data(GET)
            assert isinstance(conn.next_event(), h11.Request)
            assert isinstance(conn.next_event(), h11.EndOfMessage)
            conn.send(h11.Response(status_code=200, headers=[
                ("Content-Type", "text/plain"), ("Content-Length", "13")]))
            conn.send(h11.Data(data=b"Hello, world!"))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()
        return count

    return run


def httptools_http_parse(count: int) -> Workload:
    import httptools

    pieces = reads(GET * count)

    class Callbacks:
        def __init__(self) -> None:
            self.n = 0
            self.headers: list[tuple[bytes, bytes]] = []

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_message_complete(self) -> None:
            self.n += 1
            self.headers = []

    def run() -> int:
        callbacks = Callbacks()
        parser = httptools.HttpRequestParser(callbacks)
        for piece in pieces:
            parser.feed_data(piece)
        assert callbacks.n == count
        return count

    return run


# Masking


def mask_workload(
    apply: Callable[[bytes, bytes], bytes], size: int, times: int = 1
) -> Workload:
    data = os.urandom(size)
    mask = b"\x12\x34\x56\x78"
    assert apply(apply(data, mask), mask) == data

    def run() -> int:
        for _ in range(times):
            apply(data, mask)
        return size * times

    return run


def optional(factory: Callable[[], Workload]) -> Workload | None:
    try:
        return factory()
    except ImportError:
        return None


def measure(workload: Workload) -> float:
    start = time.perf_counter()
    items = workload()
    return items / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = 2_000 if args.quick else 100_000
    mask_size = 1024 * 1024 if args.quick else 16 * 1024 * 1024
    repeat = 1 if args.quick else args.repeat

    text32 = "x" * 32
    wire32 = client_frames([text32] * n)
    wire1k = client_frames([os.urandom(1024)] * (n // 10))
    # Correctness first: the parse workloads must yield the messages that were sent.
    assert Connection(Role.SERVER).receive_data(wire32[:38 * 3]) == [Message(data=text32)] * 3

    groups: list[tuple[str, str, dict[str, Workload | None]]] = [
        ("ws-parse-32B", "msg/s", {
            "longwire": longwire_ws_parse(wire32, n),
            "websockets": optional(lambda: websockets_ws_parse(wire32, n)),
            "wsproto": optional(lambda: wsproto_ws_parse(wire32, n)),
        }),
        ("ws-parse-1KiB", "msg/s", {
            "longwire": longwire_ws_parse(wire1k, n // 10),
            "websockets": optional(lambda: websockets_ws_parse(wire1k, n // 10)),
            "wsproto": optional(lambda: wsproto_ws_parse(wire1k, n // 10)),
        }),
        ("ws-send-32B", "msg/s", {
            "longwire": longwire_ws_send(text32, n),
            "websockets": optional(lambda: websockets_ws_send(text32, n)),
            "wsproto": optional(lambda: wsproto_ws_send(text32, n)),
        }),
        ("mask-64KiB", "B/s", {
            "longwire-c": mask_workload(apply_mask_c, 65536, 200) if apply_mask_c else None,
            "longwire-py": mask_workload(apply_mask_python, 65536, 200),
        }),
        ("mask-16MiB", "B/s", {
            "longwire-c": mask_workload(apply_mask_c, mask_size) if apply_mask_c else None,
            "longwire-py": mask_workload(apply_mask_python, mask_size),
        }),
        ("http-parse-get", "req/s", {
            "longwire": longwire_http_parse(n),
            "h11": optional(lambda: h11_http_parse(n)),
            "httptools": optional(lambda: httptools_http_parse(n)),
        }),
        ("http-cycle", "req/s", {
            "longwire": longwire_http_cycle(n // 2),
            "h11": optional(lambda: h11_http_cycle(n // 2)),
        }),
    ]

    print(f"# {time.strftime('%Y-%m-%d')} python {platform.python_version()} "
          f"on {platform.machine()}, {os.cpu_count()} cpus; n={n}, repeat={repeat}")
    print(f"{'workload':<16} {'implementation':<13} {'median':>14}  ratio (longwire/peer)")
    for name, unit, implementations in groups:
        runs: dict[str, list[float]] = {k: [] for k, v in implementations.items() if v}
        for _ in range(repeat):  # alternate implementations within each repetition
            for impl, rates in runs.items():
                rates.append(measure(implementations[impl]))  # type: ignore[arg-type]
        ours = next(iter(runs))
        for impl, rates in runs.items():
            median = statistics.median(rates)
            ratio = "" if impl == ours else (
                f"{statistics.median(a / b for a, b in zip(runs[ours], rates, strict=False)):.2f}x")
            scaled = f"{median / 1e6:.1f} M{unit}" if unit == "B/s" else f"{median:,.0f} {unit}"
            print(f"{name:<16} {impl:<13} {scaled:>14}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
