"""The WebSocket object on the server: states, callbacks, closing, ping, types, compression."""

import asyncio
import zlib

import pytest
from aio_testing import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    close_frame,
    encode_frame,
    handshake_request,
    open_raw,
    read_frame,
    read_to_eof,
    run,
    serve,
    wait_for,
    ws_handshake,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed as WebSocketsClosed

from longwire import App, ConnectionClosed, ReadyState, RemoteProtocolError, connect


def url(server, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_ready_state_goes_connecting_open_closing_closed():
    app = App()
    states: list[ReadyState] = []

    @app.websocket("/ws")
    async def handler(ws):
        states.append(ws.ready_state)
        await ws.accept()
        states.append(ws.ready_state)
        await ws.recv()
        closed = ws.close(4000, "done")
        states.append(ws.ready_state)
        await closed
        states.append(ws.ready_state)

    async def main():
        async with serve(app) as server:
            ws = await connect(url(server))
            assert ws.ready_state is ReadyState.OPEN
            await ws.send("close now")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            await ws.wait_closed()
            assert ws.ready_state is ReadyState.CLOSED
            await wait_for(lambda: len(states) == 4)
            assert states == [
                ReadyState.CONNECTING,
                ReadyState.OPEN,
                ReadyState.CLOSING,
                ReadyState.CLOSED,
            ]

    run(main)


def test_callback_style_handler():
    app = App()
    events: list[object] = []

    @app.websocket("/ws")
    def handler(ws):  # sets callbacks and returns: the handshake is accepted
        ws.on_open = lambda: events.append("open")
        ws.on_message = lambda message: ws.send(message.upper())
        ws.on_close = lambda code, reason, clean: events.append(("close", code, reason, clean))
        ws.on_error = lambda exc: events.append(("error", exc))

    async def main():
        async with serve(app) as server:
            async with ws_connect(url(server)) as ws:
                await ws.send("hi")
                assert await ws.recv() == "HI"
                await ws.send("again")
                assert await ws.recv() == "AGAIN"
                await ws.close(4001, "bye")
            await wait_for(lambda: len(events) == 2)
            assert events == ["open", ("close", 4001, "bye", True)]

    run(main)


def test_on_error_and_on_close_on_a_protocol_error():
    app = App()
    events: list[object] = []

    @app.websocket("/ws")
    def handler(ws):
        ws.on_message = lambda message: None
        ws.on_error = lambda exc: events.append(("error", exc))
        ws.on_close = lambda code, reason, clean: events.append(("close", code, clean))

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            await ws_handshake(reader, writer)
            writer.write(encode_frame(TEXT, b"\xff\xfe not UTF-8"))
            frame = await read_frame(reader)
            assert frame.opcode == CLOSE
            assert frame.close_code() == 1007
            assert await read_to_eof(reader) == b""
            await wait_for(lambda: len(events) == 2)
            (kind, error), close = events
            assert kind == "error"
            assert isinstance(error, RemoteProtocolError)
            assert close == ("close", 1007, False)

    run(main)


def test_failing_callback_reports_on_error_and_closes_1011():
    app = App()
    errors: list[BaseException] = []

    @app.websocket("/ws")
    def handler(ws):
        def on_message(message):
            raise ValueError(f"cannot handle {message}")

        ws.on_message = on_message
        ws.on_error = errors.append

    async def main():
        async with serve(app) as server, ws_connect(url(server)) as ws:
            await ws.send("this")
            with pytest.raises(WebSocketsClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1011
            assert [str(error) for error in errors] == ["cannot handle this"]

    run(main)


def test_async_callbacks():
    app = App()
    closed = asyncio.Event()
    seen: list[tuple[int, bool]] = []

    @app.websocket("/ws")
    async def handler(ws):
        async def on_message(message):
            await asyncio.sleep(0.01)
            await ws.send(f"echo {message}")

        async def on_close(code, reason, clean):
            await asyncio.sleep(0)
            seen.append((code, clean))
            closed.set()

        ws.on_message = on_message
        ws.on_close = on_close

    async def main():
        async with serve(app) as server:
            async with connect(url(server)) as ws:
                await ws.send("one")
                assert await ws.recv() == "echo one"
            async with asyncio.timeout(2):
                await closed.wait()
            assert seen == [(1000, True)]

    run(main)


def test_async_for_ends_on_close_and_recv_raises_with_the_code():
    app = App()
    server_side: list[object] = []

    @app.websocket("/ws")
    async def handler(ws):
        await ws.send("a")
        await ws.send("b")
        async for message in ws:  # ends when the client closes
            server_side.append(message)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        server_side.append((info.value.code, info.value.reason))

    async def main():
        async with serve(app) as server:
            ws = await connect(url(server))
            assert [await ws.recv(), await ws.recv()] == ["a", "b"]
            await ws.send("c")
            await ws.close(4002, "enough")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 4002
            await wait_for(lambda: len(server_side) == 2)
            assert server_side == ["c", (4002, "enough")]

    run(main)


def test_client_async_for_ends_when_the_server_closes():
    app = App()

    @app.websocket("/ws")
    async def handler(ws):
        for i in range(3):
            await ws.send(str(i))
        await ws.close(4005, "that's all")

    async def main():
        async with serve(app) as server, connect(url(server)) as ws:
            assert [message async for message in ws] == ["0", "1", "2"]
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (4005, "that's all")
            assert (ws.close_code, ws.close_reason) == (4005, "that's all")

    run(main)


def test_buffered_amount():
    app = App()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        assert ws.buffered_amount == 0
        ws.send(b"x" * 5000, compress=False)  # queued, not written until the loop turns
        queued = ws.buffered_amount
        await asyncio.sleep(0.05)
        await ws.send(f"{queued} {ws.buffered_amount}")

    async def main():
        async with serve(app) as server, connect(url(server)) as ws:
            assert await ws.recv() == b"x" * 5000
            queued, drained = map(int, (await ws.recv()).split())
            assert 5000 < queued < 5100  # the frame, header included
            assert drained == 0

    run(main)


def test_close_code_and_reason_reach_the_peer_both_ways():
    app = App()
    closes: list[tuple[int | None, str, bool]] = []

    @app.websocket("/server-closes")
    async def server_closes(ws):
        await ws.accept()
        await ws.close(4003, "custom reason")

    @app.websocket("/client-closes")
    async def client_closes(ws):
        async for _ in ws:
            pass
        closes.append((ws.close_code, ws.close_reason, ws.was_clean))

    async def main():
        async with serve(app) as server:
            async with ws_connect(url(server, "/server-closes")) as ws:
                with pytest.raises(WebSocketsClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (4003, "custom reason")
            async with ws_connect(url(server, "/client-closes")) as ws:
                await ws.close(4004, "client reason")
            await wait_for(lambda: closes)
            assert closes == [(4004, "client reason", True)]

    run(main)


def test_ping_returns_the_round_trip_time():
    app = App()
    rtts: list[object] = []

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        rtts.append(await ws.ping())
        rtts.append(await ws.ping(b"payload"))
        await ws.send("pinged")
        await ws.recv()

    async def main():
        async with serve(app) as server:
            async with ws_connect(url(server)) as ws:
                assert await ws.recv() == "pinged"
            assert len(rtts) == 2
            for rtt in rtts:
                assert isinstance(rtt, float)
                assert 0 <= rtt < 2
            # And from longwire's client to the server.
            async with connect(url(server)) as ws:
                rtt = await ws.ping()
                assert isinstance(rtt, float)
                assert await ws.recv() == "pinged"

    run(main)


def test_binary_stays_bytes_and_text_stays_str():
    app = App()
    received: list[object] = []

    @app.websocket("/ws")
    async def echo(ws):
        async for message in ws:
            received.append(message)
            await ws.send(message)

    async def main():
        async with serve(app) as server, connect(url(server)) as ws:
            for message in ("text é", b"\x00\xff binary", "", b""):
                await ws.send(message)
                echoed = await ws.recv()
                assert type(echoed) is type(message)
                assert echoed == message
            await ws.send(bytearray(b"from a bytearray"))
            assert await ws.recv() == b"from a bytearray"
        assert received == ["text é", b"\x00\xff binary", "", b"", b"from a bytearray"]

    run(main)


def test_send_all_writes_a_batch_at_once_in_order():
    app = App()
    written: list[int] = []

    @app.websocket("/ws")
    async def batch(ws):
        await ws.send_all(["one", b"two", "three"])  # before accept: accepts first
        transport = ws._transport
        real_write = transport.write

        def counting_write(data):
            written.append(len(data))
            real_write(data)

        transport.write = counting_write
        ws.send_all(["four", "five"])  # written now, not at the end of the loop turn
        assert len(written) == 1
        transport.write = real_write
        await ws.close()
        with pytest.raises(ConnectionClosed):
            ws.send_all(["six"])

    async def main():
        async with serve(app) as server, connect(url(server)) as ws:
            assert [message async for message in ws] == ["one", b"two", "three", "four", "five"]

    run(main)


def test_permessage_deflate_is_negotiated_and_can_be_skipped_per_message():
    app = App()
    extensions: list[str] = []

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        extensions.append(ws.extensions)
        await ws.send("a" * 1000)
        await ws.send("b" * 1000, compress=False)
        await ws.send(b"c" * 1000)
        await ws.recv()

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            response = await ws_handshake(
                reader, writer, headers=[("Sec-WebSocket-Extensions", "permessage-deflate")]
            )
            assert "permessage-deflate" in (response.header("sec-websocket-extensions") or "")
            compressed = await read_frame(reader)
            assert (compressed.opcode, compressed.rsv1) == (TEXT, True)
            inflate = zlib.decompressobj(-15)
            assert inflate.decompress(compressed.payload + b"\x00\x00\xff\xff") == b"a" * 1000
            plain = await read_frame(reader)
            assert (plain.opcode, plain.rsv1, plain.payload) == (TEXT, False, b"b" * 1000)
            binary = await read_frame(reader)
            assert (binary.opcode, binary.rsv1) == (BINARY, True)
            writer.write(close_frame(1000))
            writer.write(encode_frame(TEXT, b"done"))
            assert (await read_frame(reader)).opcode == CLOSE
            assert extensions[0].startswith("permessage-deflate")

    run(main)


def test_compression_can_be_turned_off_per_route():
    app = App()

    @app.websocket("/ws", compression=False)
    async def handler(ws):
        await ws.send("a" * 1000)

    async def main():
        async with serve(app) as server, connect(url(server)) as ws:
            assert ws.extensions == ""
            assert await ws.recv() == "a" * 1000

    run(main)


def test_recv_accepts_implicitly():
    app = App()

    @app.websocket("/ws")
    async def handler(ws):
        message = await ws.recv()
        await ws.send(f"got {message}")

    async def main():
        async with serve(app) as server, connect(url(server)) as ws:
            await ws.send("x")
            assert await ws.recv() == "got x"

    run(main)


def test_ping_raises_connection_closed_when_the_peer_goes_away():
    app = App()
    outcome: list[object] = []

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        try:
            await ws.ping()
        except ConnectionClosed as exc:
            outcome.append(exc.code)

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            await ws_handshake(reader, writer)
            assert (await read_frame(reader)).opcode == PING
            writer.transport.abort()  # no Pong, no Close: gone
            await wait_for(lambda: outcome)
            assert outcome == [1006]

    run(main)


def test_client_leaving_during_the_handshake():
    app = App()
    release = asyncio.Event()
    outcome: list[object] = []

    @app.websocket("/ws")
    async def handler(ws):
        await release.wait()
        try:
            # Reading is paused until the handshake is decided, so the departure
            # may show here or only at the first read.
            await ws.accept()
            await ws.recv()
        except ConnectionClosed as exc:
            outcome.append(exc.code)

    async def main():
        async with serve(app) as server:
            async with open_raw(server.port) as (_, writer):
                writer.write(handshake_request()[0])
                await wait_for(lambda: server.connections == 1)
            await asyncio.sleep(0.05)
            release.set()
            await wait_for(lambda: outcome)
            assert outcome == [1006]
            await wait_for(lambda: server.connections == 0)

    run(main)


@pytest.mark.parametrize("who_closes", ["client", "server"])
def test_wait_closed_returns_with_the_close_code_set(who_closes):
    app = App()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        if who_closes == "server":
            await ws.close(4001, "server bye")
        async for _ in ws:
            pass

    async def main():
        async with serve(app) as server:
            for _ in range(20):  # the ordering is a race: try it often
                ws = await connect(url(server))
                if who_closes == "client":
                    ws.close(4002, "client bye")
                await ws.wait_closed()
                expected = (4002, "client bye") if who_closes == "client" else (4001, "server bye")
                assert (ws.close_code, ws.close_reason) == expected
                assert ws.ready_state is ReadyState.CLOSED
                assert ws.was_clean

    run(main)


def test_closed_comes_with_its_close_code():
    """Between the closing handshake's end and the TCP close (one loop turn), the
    state is already CLOSED: the code is there too, and wait_closed waits for TCP.
    """
    app = App()
    seen: list[tuple[object, object, bool]] = []

    @app.websocket("/ws")
    async def handler(ws):
        await ws.accept()
        ws.close(4003, "done")
        while ws.ready_state is not ReadyState.CLOSED:
            await asyncio.sleep(0)
        seen.append((ws.close_code, ws.close_reason, ws._transport is None))
        await ws.wait_closed()
        seen.append((ws.close_code, ws.close_reason, ws._transport is None))

    async def main():
        async with serve(app) as server:
            ws = await connect(url(server))
            await ws.wait_closed()
            await wait_for(lambda: len(seen) == 2)

    run(main)
    assert seen == [(4003, "done", False), (4003, "done", True)]
