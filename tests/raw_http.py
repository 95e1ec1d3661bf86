"""A raw HTTP/1.1 client on a socket: the request bytes, the response read byte by byte.

Shared by the asyncio-layer tests (tests/aio) and the HTTP-semantics tests
(tests/http). The reader is written here from RFC 9112, not with longwire's
code, so the tests check the server's bytes against a second implementation
rather than against itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass


class HeaderFields:
    """Look-ups over ``headers``: (lowercased name, value) pairs, in order."""

    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def names(self) -> set[str]:
        return {name for name, _ in self.headers}


@dataclass
class RawResponse(HeaderFields):
    """An HTTP response read from the socket byte by byte."""

    status: int
    headers: list[tuple[str, str]]  # (lowercased name, value), in order
    body: bytes
    head: bytes = b""  # the head as received, final CRLF CRLF included
    chunks: list[bytes] | None = None  # the chunk payloads of a chunked body

    @property
    def status_line(self) -> bytes:
        """The status line as received, its CRLF included."""
        return self.head[: self.head.index(b"\r\n") + 2]


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
                assert await reader.readuntil(b"\r\n") == b"\r\n"  # no trailers expected
                break
            chunks.append(await reader.readexactly(size))
            assert await reader.readexactly(2) == b"\r\n"
        response.chunks = chunks
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
    """A raw connection to the server on 127.0.0.1 (TLS with ``ssl_context``), closed at the end.

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
    """Everything until the server closes; a reset counts as the end (what came before it kept)."""
    chunks = []
    try:
        while chunk := await reader.read(1 << 16):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)
