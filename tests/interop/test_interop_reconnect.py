"""``connect(url, reconnect=...)`` against a real longwire server that goes away and comes back.

The server is restarted on the same port (a ``Server`` closed, a new one started);
the reconnecting client must notice, come back, and carry on.
"""

from __future__ import annotations

import asyncio
from unittest.mock import ANY

import pytest
from lw_peers import echo_app, run

import longwire
from longwire.aio import ReadyState, Reconnect, ReconnectingWebSocket, Server, make_config

pytestmark = pytest.mark.interop

FAST = Reconnect(initial_delay=0.02, max_delay=0.1, jitter=0.5)


def server(port: int = 0, connected: list[object] | None = None) -> Server:
    return Server(echo_app(connected=connected), port=port, config=make_config(access_log=False))


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not callable(condition) or not condition():
            await asyncio.sleep(0.01)


def test_reconnects_after_server_restart() -> None:
    async def main() -> None:
        first = server()
        await first.start()
        port = first.port
        ws = await longwire.connect(f"ws://127.0.0.1:{port}/echo", reconnect=FAST)
        assert isinstance(ws, ReconnectingWebSocket)
        events: list[object] = []
        reconnected = asyncio.Event()
        ws.on_open = lambda: events.append("open")
        ws.on_close = lambda *args: events.append(("close", *args))

        def on_reconnect(attempt: int) -> None:
            events.append(("reconnect", attempt))
            reconnected.set()

        ws.on_reconnect = on_reconnect
        try:
            await ws.send("before")
            assert await ws.recv() == "before"
            # A recv() pending across the restart gets the first message after it.
            pending = asyncio.create_task(ws.recv())
            await first.shutdown()  # closes with 1001 Going Away
            await wait_for(lambda: ws.ready_state is ReadyState.CONNECTING)
            with pytest.raises(longwire.ConnectionClosed):
                ws.send("while away")  # not buffered: the application decides
            await asyncio.sleep(0.15)  # a few failed attempts while nobody listens
            async with server(port):
                await asyncio.wait_for(reconnected.wait(), 5)
                assert ws.ready_state is ReadyState.OPEN
                assert ws.reconnects == 1
                assert events == ["open", ("reconnect", ANY)]
                await ws.send("after")
                assert await asyncio.wait_for(pending, 5) == "after"
                await ws.close()
            assert (ws.close_code, ws.ready_state) == (1000, ReadyState.CLOSED)
            assert events[-1] == ("close", 1000, "", True)
        finally:
            ws.close()
            await ws.wait_closed()

    run(main())


def test_async_for_continues_across_restarts() -> None:
    async def main() -> None:
        first = server()
        await first.start()
        port = first.port
        ws = await longwire.connect(f"ws://127.0.0.1:{port}/echo", reconnect=FAST)
        received: list[str | bytes] = []

        async def consume() -> None:
            async for message in ws:
                received.append(message)

        consumer = asyncio.create_task(consume())
        await ws.send("one")
        await wait_for(lambda: received == ["one"])
        await first.shutdown()
        async with server(port):
            await wait_for(lambda: ws.ready_state is ReadyState.OPEN)
            await ws.send("two")
            await wait_for(lambda: received == ["one", "two"])
            await ws.close()
            await asyncio.wait_for(consumer, 5)  # the loop ends with the session
        assert received == ["one", "two"]

    run(main())


def test_gives_up_after_max_attempts() -> None:
    async def main() -> None:
        srv = server()
        await srv.start()
        policy = Reconnect(initial_delay=0.01, max_delay=0.05, max_attempts=3)
        ws = await longwire.connect(f"ws://127.0.0.1:{srv.port}/echo", reconnect=policy)
        closes: list[tuple[int, str, bool]] = []
        reconnects: list[int] = []
        ws.on_close = lambda code, reason, clean: closes.append((code, reason, clean))
        ws.on_reconnect = reconnects.append
        await srv.shutdown()  # and never comes back
        with pytest.raises(longwire.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.code == 1006
        assert "3 attempts" in info.value.reason
        assert (ws.ready_state, ws.close_code, ws.was_clean) == (ReadyState.CLOSED, 1006, False)
        assert len(closes) == 1
        assert closes[0][0] == 1006
        assert reconnects == []
        with pytest.raises(longwire.ConnectionClosed):
            ws.send("too late")
        await ws.wait_closed()

    run(main())


def test_close_by_the_application_does_not_reconnect() -> None:
    connected: list[object] = []

    async def main() -> None:
        async with server(connected=connected) as srv:
            ws = await longwire.connect(f"ws://127.0.0.1:{srv.port}/echo", reconnect=FAST)
            reconnects: list[int] = []
            ws.on_reconnect = reconnects.append
            await ws.send("hi")
            assert await ws.recv() == "hi"
            await ws.close(4000, "done")
            assert (ws.ready_state, ws.close_code) == (ReadyState.CLOSED, 4000)
            await asyncio.sleep(0.2)  # many times the reconnection delay
            assert reconnects == []
            assert ws.reconnects == 0
            assert len(connected) == 1
            with pytest.raises(longwire.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 4000

    run(main())
