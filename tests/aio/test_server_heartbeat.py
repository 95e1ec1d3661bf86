"""Keepalive pings: an unresponsive peer is dropped with 1011, a responsive one is kept."""

import asyncio
import time

from aio_testing import (
    CLOSE,
    PING,
    PONG,
    TEXT,
    close_frame,
    encode_frame,
    open_raw,
    read_frame,
    read_to_eof,
    run,
    serve,
    wait_for,
    ws_handshake,
)
from websockets.asyncio.client import connect as ws_connect

from longwire import App, ReadyState
from longwire.aio import WebSocketOptions

HEARTBEAT = WebSocketOptions(ping_interval=0.2, ping_timeout=0.2)


def sleepy_app(closes: list[tuple[int | None, str, bool]]) -> App:
    """A handler that never reads: it only sleeps until the connection is closed."""
    app = App()

    @app.websocket("/ws")
    async def sleepy(ws):
        ws.on_close = lambda code, reason, clean: closes.append((code, reason, clean))
        await ws.accept()
        while ws.ready_state is not ReadyState.CLOSED:
            await asyncio.sleep(0.05)
        closes.append((ws.close_code, ws.close_reason, ws.was_clean))

    @app.websocket("/echo")
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    return app


def test_unanswered_pings_close_the_connection_with_1011():
    closes: list[tuple[int | None, str, bool]] = []

    async def main():
        async with (
            serve(sleepy_app(closes), websocket=HEARTBEAT) as server,
            open_raw(server.port) as (reader, writer),
        ):
            await ws_handshake(reader, writer)
            opened = time.monotonic()
            pings = 0
            while (frame := await read_frame(reader)).opcode == PING:
                pings += 1  # never answered
            elapsed = time.monotonic() - opened
            assert pings == 1
            assert frame.opcode == CLOSE
            assert frame.close_code() == 1011
            assert "keepalive" in frame.close_reason()
            assert 0.35 <= elapsed < 0.4 + 1.0  # interval + timeout
            assert await read_to_eof(reader) == b""
            await wait_for(lambda: len(closes) == 2)
            code, reason, clean = closes[0]
            assert (code, clean) == (1011, False)
            assert "keepalive" in reason
            assert closes[1] == closes[0]  # close_code etc. agree with on_close

    run(main)


def test_answered_pings_keep_the_connection_open():
    closes: list[tuple[int | None, str, bool]] = []

    async def main():
        async with (
            serve(sleepy_app(closes), websocket=HEARTBEAT) as server,
            open_raw(server.port) as (reader, writer),
        ):
            await ws_handshake(reader, writer)
            pings = 0
            deadline = time.monotonic() + 1.0  # five ping intervals
            while time.monotonic() < deadline:
                try:
                    async with asyncio.timeout(deadline - time.monotonic()):
                        frame = await read_frame(reader)
                except TimeoutError:
                    break
                assert frame.opcode == PING, frame
                pings += 1
                writer.write(encode_frame(PONG, frame.payload))
            assert pings >= 3
            assert closes == []
            writer.write(close_frame(1000))
            while (frame := await read_frame(reader)).opcode == PING:
                pass  # one may have been on its way
            assert frame.opcode == CLOSE
            await wait_for(lambda: len(closes) == 2)
            assert closes[0] == (1000, "", True)

    run(main)


def test_websockets_client_stays_connected_past_several_intervals():
    async def main():
        options = WebSocketOptions(ping_interval=0.1, ping_timeout=0.1)
        # The client sends no pings of its own: only its pongs keep it alive.
        async with (
            serve(sleepy_app([]), websocket=options) as server,
            ws_connect(f"ws://127.0.0.1:{server.port}/echo", ping_interval=None) as ws,
        ):
            await asyncio.sleep(0.6)
            await ws.send("still here")
            assert await ws.recv() == "still here"

    run(main)


def test_raw_handler_that_never_reads_still_answers_client_pings():
    async def main():
        async with serve(sleepy_app([])) as server, open_raw(server.port) as (reader, writer):
            await ws_handshake(reader, writer)
            writer.write(encode_frame(PING, b"are you there"))
            pong = await read_frame(reader)
            assert (pong.opcode, pong.payload) == (PONG, b"are you there")
            writer.write(encode_frame(TEXT, b"unread") + close_frame(1000))
            assert (await read_frame(reader)).opcode == CLOSE

    run(main)


def test_a_slow_reader_is_not_mistaken_for_a_dead_peer():
    app = App()
    outcome: list[object] = []

    @app.websocket("/ws", compression=False)
    async def slow_consumer(ws):
        await ws.accept()
        await asyncio.sleep(1.0)  # the queue fills and reading pauses: pongs wait unread
        outcome.append(ws.ready_state)
        outcome.extend([await ws.recv() for _ in range(10)])
        await asyncio.sleep(0.5)  # reading again: the keepalive goes on
        await ws.send("done")

    async def main():
        options = WebSocketOptions(max_queue=2, ping_interval=0.2, ping_timeout=0.2)
        async with (
            serve(app, websocket=options) as server,
            ws_connect(f"ws://127.0.0.1:{server.port}/ws", ping_interval=None) as ws,
        ):
            for i in range(10):
                await ws.send(str(i))
            assert await ws.recv() == "done"
            assert outcome == [ReadyState.OPEN, *map(str, range(10))]

    run(main)
