"""Helpers for the HTTP-semantics tests: a server on loopback, raw sockets, curl, aiohttp.

Every test runs its ``main()`` with ``run``: a fresh event loop (the default one,
or uvloop through ``loop_factory``), a time bound, and a failure when a task, a
socket or a file is left open (``ResourceWarning``). The server runs in that
loop; the clients are raw sockets (where exact bytes matter), curl (a
subprocess with a bounded ``--max-time``) and aiohttp.

The raw HTTP reader and the ``multipart/byteranges`` parser are written here
from RFC 9112 and RFC 9110 §14.6, not with longwire's code, so the tests check
the server's bytes against a second implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import shutil
import socket
import ssl
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import trustme

from longwire.aio import Server, ServerConfig
from longwire.app import App

# `make test` installs curl (scripts/system-deps.sh): its absence is a failure, not a skip.
assert shutil.which("curl"), "curl is not installed: run scripts/system-deps.sh"

CURL_TIMEOUT = 10  # seconds, for curl's --max-time and for waiting on it
# A modification time well in the past (2020-09-13 12:26:40 UTC): a file changed
# less than a second ago gets a weak ETag, and an If-Range date must be older
# than a second, so the files served are aged to this.
OLD = 1_600_000_000
OLD_HTTP_DATE = "Sun, 13 Sep 2020 12:26:40 GMT"
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d GMT"
)


# Running


def run(
    main: Callable[[], Awaitable[None]],
    *,
    timeout: float = 15.0,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Run ``main()`` in a fresh event loop, bounded; fail on leaked tasks or sockets."""

    async def guarded() -> None:
        async with asyncio.timeout(timeout):
            await main()
        current = asyncio.current_task()
        for _ in range(50):  # done callbacks and closing transports need a few turns
            left = [task for task in asyncio.all_tasks() if task is not current]
            if not left:
                break
            await asyncio.sleep(0.01)
        else:
            for task in left:
                task.cancel()
            raise AssertionError(f"tasks left running: {left}")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(guarded())
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"resources left open: {leaks}"


@contextlib.asynccontextmanager
async def serve(app: App, **config: Any) -> AsyncIterator[Server]:
    """A ``Server`` for ``app`` on a free port of 127.0.0.1, without an access log."""
    config.setdefault("access_log", False)
    async with Server(app, port=0, config=ServerConfig(**config)) as server:
        yield server


def url(server: Server, path: str = "/") -> str:
    scheme = "https" if server.config.ssl is not None else "http"
    return f"{scheme}://127.0.0.1:{server.port}{path}"


# Files


def age(*paths: str | os.PathLike[str]) -> None:
    """Set the modification time of ``paths`` (and everything under a directory) to ``OLD``.

    Symbolic links are left alone (``os.utime`` would age their targets).
    """
    for path in paths:
        for root, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                full = os.path.join(root, name)
                if not os.path.islink(full):
                    os.utime(full, (OLD, OLD))
        os.utime(path, (OLD, OLD))


def write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` (parents made) with the old modification time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))
    return path


# Raw HTTP/1.1


@dataclass
class RawResponse:
    """An HTTP response read from the socket byte by byte."""

    status: int
    headers: list[tuple[str, str]]  # (lowercased name, value), in order
    body: bytes
    head: bytes = b""  # the head as received, final CRLF CRLF included

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def names(self) -> set[str]:
        return {name for name, _ in self.headers}


async def read_response(reader: asyncio.StreamReader, *, head_only: bool = False) -> RawResponse:
    """The next response on ``reader``; ``head_only`` for a response to HEAD.

    Length-framed and chunked bodies are read exactly; no framing reads to EOF.
    """
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].split(b"\r\n")
    version, status, *_ = status_line.split(b" ", 2)
    assert version == b"HTTP/1.1", status_line
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        assert colon, f"a header line without a colon: {line!r}"
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    response = RawResponse(int(status), headers, b"", head)
    code = response.status
    if head_only or code < 200 or code in (204, 304):
        return response
    if "chunked" in (response.header("transfer-encoding") or ""):
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                assert await reader.readuntil(b"\r\n") == b"\r\n"
                break
            chunks.append(await reader.readexactly(size))
            assert await reader.readexactly(2) == b"\r\n"
        response.body = b"".join(chunks)
    elif (length := response.header("content-length")) is not None:
        response.body = await reader.readexactly(int(length))
    else:
        response.body = await reader.read()
    return response


def request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """The bytes of a request (``Host`` first, ``Content-Length`` added for a body)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: test"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@contextlib.asynccontextmanager
async def open_raw(
    port: int, *, ssl_context: ssl.SSLContext | None = None, rcvbuf: int | None = None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the server (TLS with ``ssl_context``), closed at the end.

    ``rcvbuf`` sets ``SO_RCVBUF`` before connecting (a small window keeps a
    large response from fitting in the kernel's buffers).
    """
    if rcvbuf is None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context)
    else:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(
                sock=sock, ssl=ssl_context, server_hostname="127.0.0.1" if ssl_context else None
            )
        except BaseException:
            sock.close()
            raise
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def exchange(
    port: int, data: bytes, *, head_only: bool = False, ssl_context: ssl.SSLContext | None = None
) -> RawResponse:
    """Send ``data`` (one request) on a new connection; its response."""
    async with open_raw(port, ssl_context=ssl_context) as (reader, writer):
        writer.write(data)
        return await read_response(reader, head_only=head_only)


async def get(port: int, target: str, *headers: tuple[str, str]) -> RawResponse:
    """``GET target`` with ``headers`` on a new raw connection."""
    return await exchange(port, request("GET", target, headers))


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes; a reset counts as the end."""
    chunks = []
    try:
        while chunk := await reader.read(1 << 16):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


# curl


@dataclass
class Reply:
    """What curl received: the last response's status, fields and body."""

    status: int
    headers: list[tuple[str, str]]  # (lowercased name, value), in order
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def names(self) -> set[str]:
        return {name for name, _ in self.headers}


def _last_head(dump: str) -> tuple[int, list[tuple[str, str]]]:
    heads = [block for block in re.split(r"\r\n\r\n", dump) if block.startswith("HTTP/")]
    lines = heads[-1].split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.append((name.strip().lower(), value.strip(" \t")))
    return status, fields


async def curl(*args: str, output: Path | None = None) -> Reply:
    """Run ``curl -sS ARGS``; the last response it received.

    The body goes to ``output`` when given (and is then read back from it).
    """
    with tempfile.TemporaryDirectory() as directory:
        head_file = Path(directory, "head")
        body_file = output or Path(directory, "body")
        process = await asyncio.create_subprocess_exec(
            "curl",
            "-sS",
            "--max-time",
            str(CURL_TIMEOUT),
            "-D",
            str(head_file),
            "-o",
            str(body_file),
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), CURL_TIMEOUT + 5)
        assert process.returncode == 0, f"curl {args} failed: {err.decode()}"
        status, fields = _last_head(head_file.read_bytes().decode("latin-1"))
        body = body_file.read_bytes() if body_file.exists() else b""
    return Reply(status, fields, body)


# aiohttp


async def fetch(method: str, address: str, **options: Any) -> Reply:
    """One request with aiohttp (options as ``ClientSession.request``), no redirects followed."""
    options.setdefault("allow_redirects", False)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.request(method, address, **options) as response,
    ):
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in response.raw_headers
        ]
        return Reply(response.status, headers, await response.read())


# Ranges


@dataclass
class Part:
    """One part of a ``multipart/byteranges`` body."""

    headers: dict[str, str]  # lowercased names
    first: int
    last: int
    length: int
    data: bytes


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def content_range(value: str | None) -> tuple[int, int, int]:
    """``(first, last, complete length)`` of a ``Content-Range: bytes a-b/n`` value."""
    assert value is not None, "no Content-Range"
    match = _CONTENT_RANGE.fullmatch(value)
    assert match is not None, f"bad Content-Range {value!r}"
    first, last, length = (int(n) for n in match.groups())
    return first, last, length


def parse_byteranges(content_type: str | None, body: bytes) -> list[Part]:
    """The parts of a ``multipart/byteranges`` body (RFC 9110 §14.6, RFC 2046 §5.1.1).

    Read strictly from the start: a boundary line, header lines, an empty line,
    exactly the bytes its ``Content-Range`` announces, CRLF; then the closing
    delimiter and nothing after it but a final CRLF.
    """
    assert content_type is not None
    match = re.fullmatch(r'multipart/byteranges; ?boundary="?([^";]+)"?', content_type)
    assert match is not None, f"not multipart/byteranges: {content_type!r}"
    delimiter = b"--" + match[1].encode()
    parts = []
    position = 0
    if body.startswith(b"\r\n"):  # an empty preamble ending in CRLF is allowed
        position = 2
    while True:
        assert body.startswith(delimiter, position), body[position : position + 80]
        position += len(delimiter)
        if body.startswith(b"--", position):
            assert body[position + 2 :] in (b"", b"\r\n"), body[position:]
            return parts
        assert body.startswith(b"\r\n", position)
        end = body.index(b"\r\n\r\n", position)
        headers = {}
        for line in body[position + 2 : end].split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        first, last, length = content_range(headers.get("content-range"))
        start = end + 4
        data = body[start : start + last - first + 1]
        assert len(data) == last - first + 1
        parts.append(Part(headers, first, last, length, data))
        position = start + len(data)
        assert body.startswith(b"\r\n", position)
        position += 2


# TLS


@dataclass
class Certificates:
    """A test CA (trustme) and a server certificate for 127.0.0.1 and localhost."""

    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.server_cert = self.ca.issue_cert("127.0.0.1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    @contextlib.contextmanager
    def ca_file(self) -> Iterator[str]:
        with self.ca.cert_pem.tempfile() as path:
            yield path


# sendfile accounting


@dataclass
class SendfileCall:
    offset: int
    count: int
    result: int | None = None
    error: BaseException | None = None


@contextlib.contextmanager
def watch_sendfile(loop: asyncio.AbstractEventLoop) -> Iterator[list[SendfileCall]]:
    """Record every ``loop.sendfile`` call (the original still runs) while inside."""
    calls: list[SendfileCall] = []
    original = loop.sendfile

    async def sendfile(
        transport: Any, file: Any, offset: int = 0, count: Any = None, **options: Any
    ) -> int:
        call = SendfileCall(offset, count)
        calls.append(call)
        try:
            call.result = await original(transport, file, offset, count, **options)
        except BaseException as exc:
            call.error = exc
            raise
        return call.result

    loop.sendfile = sendfile  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del loop.sendfile  # type: ignore[method-assign]
