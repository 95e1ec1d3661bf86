"""Timeouts and limits: slow heads, idle keep-alive, too many connections, big messages."""

import asyncio
import time

import pytest
from aio_testing import (
    CLOSE,
    TEXT,
    encode_frame,
    open_raw,
    read_frame,
    read_response,
    read_to_eof,
    request,
    run,
    serve,
    wait_for,
    ws_handshake,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError

from longwire import App
from longwire.aio import WebSocketOptions

SLACK = 1.0  # seconds a loaded 2-core CI machine may add to a timer


def http_app() -> App:
    app = App()

    @app.get("/")
    async def index(req):
        return "hello"

    return app


def test_header_timeout_answers_408_then_closes():
    async def main():
        async with (
            serve(http_app(), header_timeout=0.3) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            started = time.monotonic()
            writer.write(b"GET / HTTP/1.1\r\nHost: te")  # half a head, then nothing
            rest = await read_to_eof(reader)
            elapsed = time.monotonic() - started
            assert rest.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert b"\r\nConnection: close\r\n" in rest
            assert 0.25 <= elapsed < 0.3 + SLACK

    run(main)


def test_keep_alive_idle_timeout_closes_an_idle_connection():
    async def main():
        async with serve(http_app(), keep_alive_timeout=0.3, header_timeout=5) as server:
            async with open_raw(server.port) as (reader, writer):
                writer.write(request("GET", "/"))
                assert (await read_response(reader)).status == 200
                answered = time.monotonic()
                # Nothing more is sent (no 408 for an idle connection): just the close.
                assert await read_to_eof(reader) == b""
                elapsed = time.monotonic() - answered
                assert 0.25 <= elapsed < 0.3 + SLACK
            await wait_for(lambda: server.connections == 0)

    run(main)


def test_activity_keeps_a_keep_alive_connection_open():
    async def main():
        async with (
            serve(http_app(), keep_alive_timeout=0.3) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            for _ in range(4):  # 0.6 s in all, each gap under the idle timeout
                writer.write(request("GET", "/"))
                assert (await read_response(reader)).status == 200
                await asyncio.sleep(0.15)
            writer.write(request("GET", "/"))
            assert (await read_response(reader)).status == 200

    run(main)


def test_connections_over_max_connections_get_503():
    async def main():
        async with serve(http_app(), max_connections=2) as server:
            async with open_raw(server.port) as first, open_raw(server.port) as second:
                await wait_for(lambda: server.connections == 2)
                async with open_raw(server.port) as (reader, _):
                    refused = await read_to_eof(reader)
                assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
                assert b"\r\nRetry-After: 1\r\n" in refused
                # The two admitted connections still work.
                for reader, writer in (first, second):
                    writer.write(request("GET", "/"))
                    assert (await read_response(reader)).body == b"hello"
            # Once one closes, a new connection is admitted again.
            await wait_for(lambda: server.connections == 0)
            async with open_raw(server.port) as (reader, writer):
                writer.write(request("GET", "/"))
                assert (await read_response(reader)).status == 200

    run(main)


def ws_echo_app(**route_options) -> App:
    app = App()

    @app.websocket("/ws", **route_options)
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    return app


def test_message_over_max_message_size_closes_1009():
    async def main():
        options = WebSocketOptions(max_message_size=1000)
        async with (
            serve(ws_echo_app(), websocket=options) as server,
            ws_connect(f"ws://127.0.0.1:{server.port}/ws") as ws,
        ):
            await ws.send("x" * 1000)  # at the limit: fine
            assert await ws.recv() == "x" * 1000
            await ws.send("x" * 1001)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1009

    run(main)


def test_route_max_message_size_overrides_the_server_setting():
    async def main():
        # Uncompressed: deflate makes 10 bytes of digits longer on the wire.
        async with (
            serve(ws_echo_app(max_message_size=10)) as server,
            ws_connect(f"ws://127.0.0.1:{server.port}/ws", compression=None) as ws,
        ):
            await ws.send("0123456789")
            assert await ws.recv() == "0123456789"
            await ws.send("0123456789A")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1009

    run(main)


def test_close_timeout_drops_a_peer_that_never_answers_close():
    app = App()
    closed: list[tuple[int | None, bool]] = []

    @app.websocket("/ws")
    async def closer(ws):
        await ws.accept()
        await ws.close(1000, "bye")  # waits for the closing handshake, or the timeout
        closed.append((ws.close_code, ws.was_clean))

    async def main():
        options = WebSocketOptions(close_timeout=0.3)
        async with (
            serve(app, websocket=options) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            await ws_handshake(reader, writer)
            frame = await read_frame(reader)
            sent = time.monotonic()
            assert frame.opcode == CLOSE
            assert frame.close_code() == 1000
            assert frame.close_reason() == "bye"
            # Never answer: the server drops TCP after close_timeout.
            assert await read_to_eof(reader) == b""
            elapsed = time.monotonic() - sent
            assert 0.25 <= elapsed < 0.3 + SLACK
            await wait_for(lambda: closed)
            assert closed == [(1006, False)]

    run(main)


def test_raw_client_sees_1009_close_frame():
    async def main():
        options = WebSocketOptions(max_message_size=100)
        async with (
            serve(ws_echo_app(), websocket=options) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            await ws_handshake(reader, writer)
            writer.write(encode_frame(TEXT, b"y" * 101))
            frame = await read_frame(reader)
            assert frame.opcode == CLOSE
            assert frame.close_code() == 1009
            assert await read_to_eof(reader) == b""

    run(main)


def test_websocket_connections_count_toward_max_connections():
    async def main():
        async with serve(ws_echo_app(), max_connections=1) as server:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
                assert server.connections == 1
                async with open_raw(server.port) as (reader, _):
                    refused = await read_to_eof(reader)
                assert refused.startswith(b"HTTP/1.1 503 ")
            await wait_for(lambda: server.connections == 0)
            async with ws_connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                await ws.send("again")
                assert await ws.recv() == "again"

    run(main)
