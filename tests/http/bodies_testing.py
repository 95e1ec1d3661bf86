"""Helpers for the request-body and cookie tests: a server on loopback, curl, a bare Request.

Every test runs its ``main()`` with ``run``: a fresh event loop, a time bound,
and a failure when a task, a socket or a file is left open (``ResourceWarning``).
The server runs in that loop; clients are curl (a subprocess) and aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.app import Request
from longwire.http1 import Headers


def run(main: Callable[[], Awaitable[None]], *, timeout: float = 10.0) -> None:
    """Run ``main()`` in a fresh event loop; fail on a timeout or on anything left open."""

    async def call() -> None:
        await main()

    run_without_leaks(call(), timeout=timeout)


@contextlib.asynccontextmanager
async def serve(app: App, **config: object) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1; yields its base URL."""
    config.setdefault("access_log", False)
    async with Server(app, port=0, config=ServerConfig(**config)) as server:
        yield f"http://127.0.0.1:{server.port}"


@dataclass
class CurlResult:
    status: int
    headers: list[tuple[str, str]]  # names lowercased
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode()


async def curl(*args: str, stdin: bytes | None = None) -> CurlResult:
    """Run ``curl -sS -i ARGS`` and parse its answer (interim 1xx heads skipped)."""
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "-i",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    assert process.returncode == 0, f"curl {args} failed: {err.decode()}"
    while True:
        head, _, out = out.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        if status >= 200:
            break
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.lower(), value.strip()))
    return CurlResult(status, headers, out)


class Receiver:
    """A ``receive_body`` function over fixed chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = [*chunks, b""]

    async def __call__(self) -> bytes:
        return self.chunks.pop(0)


def make_request(
    method: str = "POST",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | list[bytes] | None = None,
) -> Request:
    """A ``Request`` as the server builds it, its body given as bytes or chunks."""
    receive = None
    if body is not None:
        receive = Receiver([body] if isinstance(body, bytes) else body)
    return Request(method, target, Headers(headers), receive_body=receive)



async def post(url: str, **options: object) -> CurlResult:
    """POST with aiohttp (``data=``, ``headers=``...): the status, header fields and body."""
    return await fetch("POST", url, **options)


async def fetch(method: str, url: str, **options: object) -> CurlResult:
    """A request with aiohttp (options as ``ClientSession.request``), answered like ``curl``."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, **options) as response,
    ):
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in response.raw_headers
        ]
        return CurlResult(response.status, headers, await response.read())
