"""``longwire.connect``: both ways to open, the options, and a clear error for each failure."""

from __future__ import annotations

import asyncio
import base64
import socket
from typing import Any

import pytest
from client_support import longwire_server, raw_server, read_head, run

import longwire
from longwire import App, HandshakeError
from longwire.aio import InvalidURI, ReadyState, WebSocket, connect
from longwire.websocket import PerMessageDeflate


def echo_app() -> App:
    app = App()

    @app.websocket("/echo", subprotocols=("chat",))
    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    @app.websocket("/private")
    async def private(ws: Any) -> None:
        await ws.reject(403, "go away: no token here")

    @app.websocket("/big")
    async def big(ws: Any) -> None:
        await ws.send(b"x" * 2000)
        await ws.wait_closed()

    return app


def test_await_and_async_with() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server:
            url = f"ws://127.0.0.1:{server.port}/echo"
            ws = await connect(url)
            assert isinstance(ws, WebSocket)
            assert ws.ready_state is ReadyState.OPEN
            assert ws.remote_address == ("127.0.0.1", server.port)
            await ws.send("awaited")
            assert await ws.recv() == "awaited"
            await ws.close()
            assert ws.ready_state is ReadyState.CLOSED

            async with connect(url, subprotocols=["chat"]) as ws:
                assert ws.subprotocol == "chat"
                await ws.send(b"context")
                assert await ws.recv() == b"context"
            assert (ws.ready_state, ws.close_code, ws.was_clean) == (ReadyState.CLOSED, 1000, True)

    run(main())


@pytest.mark.parametrize(
    ("compression", "negotiated"),
    [
        (True, True),
        ("deflate", True),
        (PerMessageDeflate(client_no_context_takeover=True), True),
        (False, False),
        (None, False),
    ],
)
def test_compression_option(compression: Any, negotiated: bool) -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server:
            url = f"ws://127.0.0.1:{server.port}/echo"
            async with connect(url, compression=compression) as ws:
                assert ws.extensions.startswith("permessage-deflate") is negotiated
                await ws.send("x" * 1000)
                assert await ws.recv() == "x" * 1000

    run(main())


def test_websocket_options_apply() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server:
            url = f"ws://127.0.0.1:{server.port}/big"
            async with connect(url, max_message_size=1000, ping_interval=None) as ws:
                with pytest.raises(longwire.ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.code == 1009  # message too big

    run(main())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "127.0.0.1:80",
        "ws:///path",
        "ws://127.0.0.1:99999/",
        "ws://user:secret@127.0.0.1/",
    ],
)
def test_invalid_uri(url: str) -> None:
    with pytest.raises(InvalidURI):
        connect(url)


def test_invalid_arguments() -> None:
    with pytest.raises(InvalidURI, match="ssl"):
        connect("ws://127.0.0.1/", ssl=longwire.aio.client_ssl_context())
    with pytest.raises(TypeError, match="wrap it"):
        connect("ws://127.0.0.1/", subprotocols="chat")
    with pytest.raises(TypeError, match="max_mesage_size"):
        connect("ws://127.0.0.1/", max_mesage_size=10)
    with pytest.raises(ValueError, match="compression"):
        connect("ws://127.0.0.1/", compression="gzip")
    with pytest.raises(ValueError, match="reconnect"):
        connect("ws://127.0.0.1/", sock=socket.socket(), reconnect=True)


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_names_the_address() -> None:
    port = free_port()

    async def main() -> None:
        with pytest.raises(ConnectionRefusedError) as info:
            await connect(f"ws://127.0.0.1:{port}/")
        assert f"127.0.0.1', {port}" in str(info.value)

    run(main())


def test_non_101_answer() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server:
            with pytest.raises(HandshakeError) as info:
                await connect(f"ws://127.0.0.1:{server.port}/nowhere")
            assert info.value.status == 404
            assert "404" in str(info.value)
            with pytest.raises(HandshakeError) as info:
                await connect(f"ws://127.0.0.1:{server.port}/private")
            assert info.value.status == 403
            assert "go away: no token here" in str(info.value)
            assert info.value.body == b"go away: no token here"

    run(main())


def test_non_101_answer_without_length_keeps_an_excerpt() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        # No Content-Length: the body runs until the connection closes.
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\n\r\n" + b"overloaded " * 1000)
        await writer.drain()

    async def main() -> None:
        async with raw_server(answer) as port:
            with pytest.raises(HandshakeError) as info:
                await connect(f"ws://127.0.0.1:{port}/")
            assert info.value.status == 503
            assert str(info.value).startswith("server refused the WebSocket handshake: 503")
            assert "overloaded" in str(info.value)
            assert len(str(info.value)) < 300  # an excerpt, not the whole body
            assert 0 < len(info.value.body) <= 512

    run(main())


def test_bad_accept_key() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        wrong = base64.b64encode(b"not the right hash!!").decode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + wrong.encode() + b"\r\n\r\n"
        )
        await writer.drain()
        await reader.read()

    async def main() -> None:
        async with raw_server(answer) as port:
            with pytest.raises(HandshakeError, match="Sec-WebSocket-Accept"):
                await connect(f"ws://127.0.0.1:{port}/")

    run(main())


def test_server_hangs_up_during_handshake() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)

    async def main() -> None:
        async with raw_server(hang_up) as port:
            with pytest.raises(HandshakeError, match="closed the connection"):
                await connect(f"ws://127.0.0.1:{port}/")

    run(main())


def test_open_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> None:
        async with raw_server(never_answer) as port:
            url = f"ws://127.0.0.1:{port}/"
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(TimeoutError, match=r"0\.2s"):
                await connect(url, open_timeout=0.2)
            assert loop.time() - started < 2

    run(main())


def test_cancelled_while_opening_leaves_nothing_open() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> None:
        async with raw_server(never_answer) as port:
            task = asyncio.create_task(connect(f"ws://127.0.0.1:{port}/")._open())
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())  # fails on an unclosed transport


def test_request_headers() -> None:
    seen: dict[str, str] = {}

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.update(await read_head(reader))
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        async with raw_server(record) as port:
            with pytest.raises(HandshakeError):
                await connect(
                    f"ws://127.0.0.1:{port}/path?q=1",
                    origin="https://example.com",
                    subprotocols=["a", "b"],
                    headers=[("Authorization", "Bearer t")],
                    compression=None,
                )
        assert seen["host"] == f"127.0.0.1:{port}"
        assert seen["origin"] == "https://example.com"
        assert seen["sec-websocket-protocol"] == "a, b"
        assert seen["authorization"] == "Bearer t"
        assert "sec-websocket-extensions" not in seen

    run(main())
