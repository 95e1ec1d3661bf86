"""Helpers for the metrics tests: a bounded runner, a server, raw peers, and a scrape parser.

Scrapes are parsed with ``prometheus_client``'s own parser, so the exposition
format is checked by a second implementation rather than by longwire itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from prometheus_client.parser import text_string_to_metric_families

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.metrics import Metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def run(main: Callable[[], Awaitable[None]], *, timeout: float = 30.0) -> None:
    """Run ``main()`` in a fresh loop, bounded; fails on leaked tasks, sockets or transports."""

    async def call() -> None:
        await main()

    run_without_leaks(call(), timeout=timeout)


@contextlib.asynccontextmanager
async def serve(
    app: App, *, metrics: Metrics | None = None, **config: object
) -> AsyncIterator[Server]:
    """A ``Server`` for ``app`` on a free port of 127.0.0.1, without an access log."""
    config.setdefault("access_log", False)
    server = Server(app, port=0, config=ServerConfig(**config), metrics=metrics)
    async with server:
        yield server


def parse(text: str) -> Samples:
    """``{(sample name, sorted labels): value}`` of an exposition, by prometheus_client."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a status or close code not seen yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def delta(after: Samples, before: Samples) -> Samples:
    """What moved between two scrapes: ``{sample: after - before}`` for the samples that did."""
    moved = {}
    for key in after.keys() | before.keys():
        change = after.get(key, 0) - before.get(key, 0)
        if change:
            moved[key] = change
    return moved


# HTTP/1.1, raw


def request(
    method: str = "GET", target: str = "/", headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: test", *[f"{n}: {v}" for n, v in headers]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(
    reader: asyncio.StreamReader, *, head_only: bool = False
) -> tuple[int, dict[str, str], bytes, bytes]:
    """``(status, headers, body, every byte read)`` of the next response (Content-Length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, field = line.partition(":")
        headers[name.strip().lower()] = field.strip()
    status = int(status_line.split(" ")[1])
    body = b""
    if not head_only and status >= 200 and status not in (204, 304):
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body, head + body


@contextlib.asynccontextmanager
async def open_raw(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def get(port: int, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection, closed afterwards."""
    async with open_raw(port) as (reader, writer):
        writer.write(request(method, target))
        status, headers, body, _ = await read_response(reader, head_only=method == "HEAD")
        return status, headers, body


async def scrape(port: int, path: str = "/metrics") -> Samples:
    """GET the metrics on a new connection, check the answer, parse it."""
    status, headers, body = await get(port, path)
    assert status == 200, (status, body)
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(body.decode("utf-8"))


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is true; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


# WebSocket, raw (RFC 6455 by hand)


def handshake_request(path: str, *, version: str = "13", key: str | None = None) -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    return request(
        "GET",
        path,
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", version),
        ],
    )


async def raw_handshake(port: int, path: str, **options: str) -> int:
    """Send one upgrade request on a new connection; the status answered."""
    async with open_raw(port) as (reader, writer):
        writer.write(handshake_request(path, **options))
        status, _, _, _ = await read_response(reader)
        return status


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""
