"""``Reconnect`` (the backoff policy) and ``ReconnectingWebSocket`` against a longwire server."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from client_support import longwire_server, run

import longwire
from longwire import App
from longwire.aio import (
    RETRY_CLOSE_CODES,
    ReadyState,
    Reconnect,
    ReconnectingWebSocket,
    connect,
)

FAST = Reconnect(initial_delay=0.01, max_delay=0.05)


# The policy


def test_default_policy() -> None:
    policy = Reconnect()
    assert (policy.initial_delay, policy.max_delay, policy.factor, policy.jitter) == (
        0.5,
        30.0,
        2.0,
        0.5,
    )
    assert policy.max_attempts is None
    assert policy.retry_codes == RETRY_CLOSE_CODES
    assert {1001, 1006, 1011, 1012, 1013, 1014} == set(RETRY_CLOSE_CODES)


def test_exponential_backoff_without_jitter() -> None:
    policy = Reconnect(initial_delay=0.5, max_delay=5.0, factor=2.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(10_000) == 5.0  # no overflow


def test_jitter_shortens_within_bounds() -> None:
    random.seed(1)
    policy = Reconnect(initial_delay=1.0, max_delay=8.0, jitter=0.5)
    delays = [policy.delay(3) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert max(delays) - min(delays) > 1.0  # spread, not constant


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"initial_delay": -1}, "initial_delay"),
        ({"initial_delay": 2, "max_delay": 1}, "max_delay"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.5}, "jitter"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_invalid_policy(settings: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Reconnect(**settings)


# The reconnecting WebSocket


def commands_app(connected: list[Any] | None = None) -> App:
    """Echo, plus "close CODE REASON" to close from the server."""
    app = App()

    @app.websocket("/ws")
    async def handler(ws: Any) -> None:
        if connected is not None:
            connected.append(ws)
        async for message in ws:
            if isinstance(message, str) and message.startswith("close "):
                _, code, reason = message.split(" ", 2)
                await ws.close(int(code), reason)
                return
            await ws.send(message)

    return app


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def test_reconnect_true_uses_the_default_policy() -> None:
    async def main() -> None:
        async with longwire_server(commands_app()) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=True) as ws:
                assert isinstance(ws, ReconnectingWebSocket)
                assert ws.policy == Reconnect()
                assert ws.ready_state is ReadyState.OPEN
                assert ws.remote_address == ("127.0.0.1", server.port)
                await ws.send("hi")
                assert await ws.recv() == "hi"
                assert await ws.ping() >= 0
            assert (ws.ready_state, ws.close_code, ws.was_clean) == (ReadyState.CLOSED, 1000, True)
            assert "CLOSED" in repr(ws)

    run(main())


def test_first_connection_is_not_retried() -> None:
    async def main() -> None:
        server = longwire_server(commands_app())
        await server.start()
        port = server.port
        await server.shutdown()
        with pytest.raises(ConnectionRefusedError):
            await connect(f"ws://127.0.0.1:{port}/ws", reconnect=FAST)

    run(main())


@pytest.mark.parametrize("code", [1011, 1012, 1013])
def test_server_close_with_a_retry_code_reconnects(code: int) -> None:
    connected: list[Any] = []

    async def main() -> None:
        async with longwire_server(commands_app(connected)) as server:
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=FAST)
            attempts: list[int] = []
            ws.on_reconnect = attempts.append
            await ws.send(f"close {code} try again")
            await until(lambda: ws.reconnects == 1)
            assert attempts == [1]
            assert len(connected) == 2
            await ws.send("back")
            assert await ws.recv() == "back"
            await ws.close()

    run(main())


@pytest.mark.parametrize("code", [1000, 1008, 4000])
def test_server_close_with_another_code_ends_the_session(code: int) -> None:
    async def main() -> None:
        async with longwire_server(commands_app()) as server:
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=FAST)
            closes: list[tuple[int, str, bool]] = []
            ws.on_close = lambda *args: closes.append(args)
            await ws.send(f"close {code} done")
            with pytest.raises(longwire.ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (code, "done")
            await asyncio.sleep(0.1)
            assert ws.reconnects == 0
            assert ws.ready_state is ReadyState.CLOSED
            assert closes == [(code, "done", True)]

    run(main())


def test_dropped_connection_reconnects_and_callbacks_follow() -> None:
    async def main() -> None:
        async with longwire_server(commands_app()) as server:
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=FAST)
            received: list[str | bytes] = []
            opened: list[str] = []
            ws.on_message = received.append
            ws.on_open = lambda: opened.append("open")
            errors: list[BaseException] = []
            ws.on_error = errors.append
            assert ws.on_message is not None
            assert ws.on_error is not None
            await ws.send("first")
            await until(lambda: received == ["first"])
            first = ws.websocket
            first._abort()  # the network fails: no closing handshake (1006)
            await until(lambda: ws.reconnects == 1)
            assert ws.websocket is not first
            assert first.close_code == 1006
            assert opened == ["open"]
            await ws.send("second")  # on_message carries over to the new connection
            await until(lambda: received == ["first", "second"])
            with pytest.raises(RuntimeError):
                await ws.recv()  # as with a WebSocket: not both styles at once
            await ws.close()
            assert errors == []

    run(main())


def test_send_and_ping_while_reconnecting_raise() -> None:
    async def main() -> None:
        policy = Reconnect(initial_delay=0.3, max_delay=0.3)
        async with longwire_server(commands_app()) as server:
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=policy)
            ws.websocket._abort()
            await until(lambda: ws.ready_state is ReadyState.CONNECTING)
            with pytest.raises(longwire.ConnectionClosed) as info:
                ws.send("lost?")
            assert info.value.code == 1006
            with pytest.raises(longwire.ConnectionClosed):
                await ws.ping()
            assert ws.buffered_amount == 0
            await until(lambda: ws.ready_state is ReadyState.OPEN)
            await ws.send("now")
            assert await ws.recv() == "now"  # "lost?" was not kept
            await ws.close()

    run(main())


def test_close_while_reconnecting() -> None:
    async def main() -> None:
        policy = Reconnect(initial_delay=10, max_delay=10)
        async with longwire_server(commands_app()) as server:
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=policy)
            closes: list[tuple[int, str, bool]] = []
            ws.on_close = lambda *args: closes.append(args)
            receiver = asyncio.create_task(ws.recv())
            ws.websocket._abort()
            await until(lambda: ws.ready_state is ReadyState.CONNECTING)
            await ws.close()  # stops the pending attempt at once
            assert ws.ready_state is ReadyState.CLOSED
            assert closes == [(1006, "closed while reconnecting", False)]
            with pytest.raises(longwire.ConnectionClosed) as info:
                await receiver
            assert info.value.code == 1006
            ws.close()  # a no-op once closed

    run(main())  # fails if the reconnection task were left running


def busy_app(busy: int) -> App:
    """The first connection is served; the next ``busy`` are accepted, then closed with 1013."""
    app = App()
    count = 0

    @app.websocket("/ws")
    async def handler(ws: Any) -> None:
        nonlocal count
        count += 1
        if 1 < count <= 1 + busy:
            await ws.accept()
            await ws.close(1013, "busy")
            return
        async for message in ws:
            await ws.send(message)

    return app


def test_accepted_then_closed_counts_as_a_failed_attempt() -> None:
    async def main() -> None:
        async with longwire_server(busy_app(busy=2)) as server:
            policy = Reconnect(initial_delay=0.01, max_delay=0.05, max_attempts=5)
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=policy)
            attempts: list[int] = []
            ws.on_reconnect = attempts.append
            ws.websocket._abort()
            await until(lambda: ws.reconnects == 1)
            assert attempts == [3]
            await ws.send("served")
            assert await ws.recv() == "served"
            await ws.close()

    run(main())


def test_first_connection_closed_at_once_ends_the_session() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.close(1000, "nothing for you")

    async def main() -> None:
        async with longwire_server(app) as server:
            ws = await connect(f"ws://127.0.0.1:{server.port}/ws", reconnect=FAST)
            with pytest.raises(longwire.ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (1000, "nothing for you")
            assert ws.reconnects == 0

    run(main())
