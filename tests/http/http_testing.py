"""Helpers for the HTTP tests: a server on loopback, raw sockets, curl, aiohttp, the docs' examples.

Every test runs its ``main()`` with ``run``: a fresh event loop (the default one,
or uvloop through ``loop_factory``), a time bound, and a failure when a task, a
socket or a file is left open (``ResourceWarning``). The server runs in that
loop; the clients are raw sockets (where exact bytes matter), curl (a
subprocess with a bounded ``--max-time``), aiohttp and ``urllib.request``.

The raw HTTP/1.1 client is tests/raw_http.py (shared with tests/aio), re-exported
here. It and the ``multipart/byteranges`` parser are written from RFC 9112 and
RFC 9110 §14.6, not with longwire's code, so the tests check the server's bytes
against a second implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import shutil
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
from longwire.app import App, Request
from longwire.http1 import Headers
from raw_http import (
    HeaderFields,
    RawResponse,
    exchange,
    get,
    open_raw,
    read_response,
    read_to_eof,
    request,
)

__all__ = [
    "CURL_TIMEOUT",
    "DOCS",
    "IMF_FIXDATE",
    "OLD",
    "OLD_HTTP_DATE",
    "Certificates",
    "Part",
    "RawResponse",
    "Receiver",
    "Reply",
    "SendfileCall",
    "age",
    "base_url",
    "content_range",
    "curl",
    "exchange",
    "fetch",
    "get",
    "make_request",
    "open_raw",
    "parse_byteranges",
    "post",
    "python_block",
    "read_response",
    "read_to_eof",
    "request",
    "run",
    "run_block",
    "serve",
    "url",
    "watch_sendfile",
    "write",
]

# `make test` installs curl (scripts/system-deps.sh): its absence is a failure, not a skip.
assert shutil.which("curl"), "curl is not installed: run scripts/system-deps.sh"

CURL_TIMEOUT = 10  # seconds, for curl's --max-time and for waiting on it
DOCS = Path(__file__).resolve().parents[2] / "docs"
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
    """The URL of ``path`` on ``server``."""
    scheme = "https" if server.config.ssl is not None else "http"
    return f"{scheme}://127.0.0.1:{server.port}{path}"


def base_url(server: Server) -> str:
    """The URL of ``server`` without a path, such as ``http://127.0.0.1:8123``."""
    return url(server, "")


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


# curl


@dataclass
class Reply(HeaderFields):
    """What curl (or aiohttp) received: the final response's status, fields and body."""

    status: int
    headers: list[tuple[str, str]]  # (lowercased name, value), in order
    body: bytes
    heads: int = 1  # how many response heads curl saw, 1xx included (2 for a Digest exchange)

    @property
    def text(self) -> str:
        return self.body.decode()


def _final_head(dump: str) -> tuple[int, list[tuple[str, str]], int]:
    """The status and fields of the last final head in curl's ``-D`` dump; how many heads."""
    heads = [block for block in re.split(r"\r\n\r\n", dump) if block.startswith("HTTP/")]
    finals = []
    for head in heads:
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        if status >= 200:  # interim 1xx heads (100 Continue, 103 Early Hints) skipped
            finals.append((status, lines[1:]))
    status, lines = finals[-1]
    fields = []
    for line in lines:
        name, _, value = line.partition(":")
        fields.append((name.strip().lower(), value.strip(" \t")))
    return status, fields, len(heads)


async def curl(
    *args: str,
    stdin: bytes | None = None,
    output: Path | None = None,
    timeout: float = CURL_TIMEOUT,
) -> Reply:
    """Run ``curl -sS ARGS``; the last final response it received (``--compressed`` decodes).

    ``stdin`` is curl's standard input (``-d @-``, ``-T -``), empty otherwise.
    The body goes to ``output`` when given (and is then read back from it).
    ``timeout`` is curl's ``--max-time``, in seconds.
    """
    with tempfile.TemporaryDirectory() as directory:
        head_file = Path(directory, "head")
        body_file = output or Path(directory, "body")
        process = await asyncio.create_subprocess_exec(
            "curl",
            "-sS",
            "--max-time",
            str(timeout),
            "-D",
            str(head_file),
            "-o",
            str(body_file),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(stdin), timeout + 5)
        assert process.returncode == 0, f"curl {args} failed: {err.decode()}"
        status, fields, heads = _final_head(head_file.read_bytes().decode("latin-1"))
        body = body_file.read_bytes() if body_file.exists() else b""
    return Reply(status, fields, body, heads)


# aiohttp


async def fetch(method: str, address: str, **options: Any) -> Reply:
    """One request with aiohttp (options as ``ClientSession.request``).

    Answered as it came: no redirects followed, no body decoded.
    """
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


async def post(address: str, **options: Any) -> Reply:
    """``fetch("POST", address, ...)``: ``data=``, ``headers=``..."""
    return await fetch("POST", address, **options)


# A bare Request


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


# The docs' examples


def python_block(name: str, first_line: str) -> str:
    """The one ```python block of ``docs/<name>`` whose first line is ``first_line``."""
    text = (DOCS / name).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    [code] = [block for block in blocks if block.splitlines()[0] == first_line]
    return code


def run_block(code: str, filename: str, name: str = "docs_example") -> dict[str, Any]:
    """Execute a docs example as a module named ``name`` (not ``__main__``); its namespace."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(code, filename, "exec"), namespace)
    return namespace
