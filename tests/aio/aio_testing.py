"""Helpers for the asyncio layer's tests: a bounded runner, a server, raw HTTP and WebSocket peers.

The raw peers are written from the RFCs (plain ``int.to_bytes``, ``int`` XOR
masking), not with longwire's cores, so the tests check the server's bytes
against a second implementation rather than against itself. The raw HTTP/1.1
client is tests/raw_http.py, shared with tests/http; it is re-exported here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from raw_http import RawResponse, open_raw, read_response, read_to_eof, request  # noqa: F401

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Opcodes (RFC 6455 §5.2).
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def run(main: Callable[[], Awaitable[None]], *, timeout: float = 10.0) -> None:
    """Run ``main()`` in a fresh event loop, bounded by ``timeout`` seconds.

    Fails when ``main`` leaves a task running or a socket or transport unclosed.
    """

    async def call() -> None:
        await main()

    run_without_leaks(call(), timeout=timeout)


@contextlib.asynccontextmanager
async def serve(app: App, **config: object) -> AsyncIterator[Server]:
    """A ``Server`` for ``app`` on a free port of 127.0.0.1, without an access log."""
    config.setdefault("access_log", False)
    async with Server(app, port=0, config=ServerConfig(**config)) as server:
        yield server


async def wait_for(predicate: Callable[[], object], timeout: float = 2.0) -> None:
    """Poll ``predicate`` until it is true; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# WebSocket


@dataclass
class RawFrame:
    fin: bool
    rsv1: bool
    opcode: int
    payload: bytes

    def close_code(self) -> int:
        return int.from_bytes(self.payload[:2], "big")

    def close_reason(self) -> str:
        return self.payload[2:].decode()


def mask(data: bytes, key: bytes) -> bytes:
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def encode_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False
) -> bytes:
    """A client frame (masked, as RFC 6455 §5.3 requires)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        header = bytes([first, 0x80 | size])
    elif size < 1 << 16:
        header = bytes([first, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + size.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + mask(payload, key)


def close_frame(code: int, reason: str = "") -> bytes:
    return encode_frame(CLOSE, code.to_bytes(2, "big") + reason.encode())


async def read_frame(reader: asyncio.StreamReader) -> RawFrame:
    """The next server frame (unmasked, as RFC 6455 §5.1 requires)."""
    first, second = await reader.readexactly(2)
    assert not second & 0x80, "a server frame is masked"
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    payload = await reader.readexactly(size)
    return RawFrame(bool(first & 0x80), bool(first & 0x40), first & 0x0F, payload)


def handshake_request(
    path: str = "/ws", headers: Iterable[tuple[str, str]] = (), *, key: str | None = None
) -> tuple[bytes, str]:
    """The bytes of an opening handshake request, and the key it carries."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    fields = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
        *headers,
    ]
    return request("GET", path, fields), key


def expected_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


async def ws_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: str = "/ws",
    headers: Iterable[tuple[str, str]] = (),
) -> RawResponse:
    """Run the opening handshake on a raw connection; the response must be a valid 101."""
    data, key = handshake_request(path, headers)
    writer.write(data)
    response = await read_response(reader, head_only=True)
    assert response.status == 101, response
    assert response.header("sec-websocket-accept") == expected_accept(key)
    return response
