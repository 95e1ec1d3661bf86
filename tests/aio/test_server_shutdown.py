"""Graceful shutdown: WebSockets get 1001, requests in flight finish, new connections fail."""

import asyncio
import time

import pytest
from aio_testing import open_raw, read_response, read_to_eof, request, run, serve, wait_for

from longwire import App, ConnectionClosed, HandshakeError, ReadyState, connect


def test_shutdown_closes_websockets_and_finishes_requests_in_flight():
    app = App()
    slow_started = asyncio.Event()
    hooks: list[str] = []

    @app.get("/slow")
    async def slow(req):
        slow_started.set()
        await asyncio.sleep(0.3)
        return "finished"

    @app.websocket("/ws")
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    @app.on_shutdown
    def on_shutdown():
        hooks.append("shutdown")

    async def main():
        async with serve(app) as server:
            port = server.port
            ws = await connect(f"ws://127.0.0.1:{port}/ws")
            await ws.send("before")
            assert await ws.recv() == "before"
            async with open_raw(port) as (reader, writer):
                writer.write(request("GET", "/slow"))
                async with asyncio.timeout(2):
                    await slow_started.wait()
                started = time.monotonic()
                shutdown = asyncio.create_task(server.shutdown(timeout=2))
                await asyncio.sleep(0.05)
                # Listening stopped at once.
                with pytest.raises(ConnectionRefusedError):
                    await asyncio.open_connection("127.0.0.1", port)
                # The WebSocket is closed with 1001 Going Away.
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.code == 1001
                # The request in flight gets its response, and the connection closes.
                response = await read_response(reader)
                assert response.status == 200
                assert response.body == b"finished"
                assert response.header("connection") == "close"
                assert await read_to_eof(reader) == b""
                await shutdown
                assert time.monotonic() - started < 1.5  # well before the 2 s timeout
            assert server.connections == 0
            assert hooks == ["shutdown"]
            await ws.wait_closed()

    run(main)


def test_shutdown_closes_idle_keep_alive_connections_at_once():
    app = App()

    @app.get("/")
    async def index(req):
        return "hello"

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/"))
            assert (await read_response(reader)).status == 200
            started = time.monotonic()
            await server.shutdown(timeout=2)
            assert time.monotonic() - started < 0.5
            assert await read_to_eof(reader) == b""

    run(main)


@pytest.mark.parametrize(
    "sent_before", [b"", b"GET / HTTP/1.1\r\nHo"], ids=["nothing", "half a head"]
)
def test_shutdown_answers_a_request_arriving_just_after_on_a_new_connection(sent_before):
    """A connection accepted a moment before the shutdown (a rolling restart under
    load) has its request on the wire: it is answered, with Connection: close.
    """
    app = App()

    @app.get("/")
    async def index(req):
        return "hello"

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(sent_before)
            await wait_for(lambda: server.connections == 1)
            shutdown = asyncio.create_task(server.shutdown(timeout=2))
            await asyncio.sleep(0.05)
            writer.write(request("GET", "/")[len(sent_before):])
            response = await read_response(reader)
            assert (response.status, response.body) == (200, b"hello")
            assert response.header("connection") == "close"
            assert await read_to_eof(reader) == b""
            await shutdown

    run(main)


def test_shutdown_gives_a_silent_new_connection_only_a_short_grace():
    app = App()

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, _writer):
            await wait_for(lambda: server.connections == 1)
            started = time.monotonic()
            await server.shutdown(timeout=5)
            assert time.monotonic() - started < 1.5  # the grace (0.5 s), not the timeout
            assert await read_to_eof(reader) == b""  # closed: no request, no answer

    run(main)


def test_shutdown_drops_what_is_left_after_the_timeout():
    app = App()
    release = asyncio.Event()

    @app.get("/stuck")
    async def stuck(req):
        await release.wait()
        return "too late"

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/stuck"))
            await wait_for(lambda: server.connections == 1)
            await asyncio.sleep(0.05)
            started = time.monotonic()
            await server.shutdown(timeout=0.3)
            elapsed = time.monotonic() - started
            assert 0.25 <= elapsed < 1.0
            assert await read_to_eof(reader) == b""
            release.set()  # let the handler end; its answer has nowhere to go
            await asyncio.sleep(0.01)

    run(main)


def test_shutdown_answers_pending_handshakes_with_503():
    app = App()
    deciding = asyncio.Event()
    release = asyncio.Event()
    states: list[ReadyState] = []

    @app.websocket("/ws")
    async def slow_to_decide(ws):
        deciding.set()
        try:
            await release.wait()
        finally:
            # Refused meanwhile, then cancelled once shutdown has no connection
            # left to wait for: nothing left to decide either way.
            states.append(ws.ready_state)

    async def main():
        async with serve(app) as server:

            async def client():
                return await connect(f"ws://127.0.0.1:{server.port}/ws")

            connecting = asyncio.create_task(client())
            async with asyncio.timeout(2):
                await deciding.wait()
            started = time.monotonic()
            await server.shutdown(timeout=2)
            assert time.monotonic() - started < 0.5
            with pytest.raises(HandshakeError) as info:
                await connecting
            assert info.value.status == 503
            release.set()
            await wait_for(lambda: states)
            assert states == [ReadyState.CLOSED]

    run(main)


def test_serve_gives_the_signals_back_what_they_had():
    """A worker ignores SIGTERM once it has shut down: serve() must leave that in
    place, not reset it to the default (which would kill it mid clean-up).
    """
    import os
    import signal

    from longwire.aio import ServerConfig
    from longwire.aio import serve as serve_forever

    app = App()
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:

        def ready(server):
            os.kill(os.getpid(), signal.SIGTERM)  # handled by serve: a graceful stop

        config = ServerConfig(access_log=False)
        asyncio.run(asyncio.wait_for(serve_forever(app, port=0, config=config, ready=ready), 10))
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is before[signal.SIGINT]
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
