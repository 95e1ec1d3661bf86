"""ASGI WebSocket served by longwire: raw hand-written ASGI apps, a real client.

The client is the ``websockets`` library (a second implementation), over real
sockets on 127.0.0.1; the server runs in-process. Bounded in time, leak-checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.asgi import ASGIApp, ClientDisconnected

TIMEOUT = 10.0


def run(main: Any) -> None:
    run_without_leaks(main(), timeout=TIMEOUT)


@contextlib.asynccontextmanager
async def serve(app: Any, **options: Any) -> AsyncIterator[str]:
    """The ws:// base URL of a server for ``app`` (an ASGI app, or a native App)."""
    target = app if isinstance(app, App) else ASGIApp(app, lifespan="off")
    config = ServerConfig(access_log=False, **options)
    async with Server(target, port=0, config=config) as server:
        yield f"ws://127.0.0.1:{server.port}"


async def echo(scope, receive, send):
    assert (await receive()) == {"type": "websocket.connect"}
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def test_echo_text_and_bytes_and_the_scope():
    scopes: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await echo(scope, receive, send)

    async def main():
        target = "/chat/r%C3%A9?room=1"
        async with serve(app) as url, connect(url + target, subprotocols=["v2", "v1"]) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01\xff")
            assert await ws.recv() == b"\x00\x01\xff"
            for i in range(50):
                await ws.send(f"m{i}")
            assert [await ws.recv() for _ in range(50)] == [f"m{i}" for i in range(50)]
        (scope,) = scopes
        assert scope["type"] == "websocket"
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
        assert scope["scheme"] == "ws"
        assert scope["path"] == "/chat/ré"
        assert scope["raw_path"] == b"/chat/r%C3%A9"
        assert scope["query_string"] == b"room=1"
        assert scope["subprotocols"] == ["v2", "v1"]
        assert scope["extensions"] == {"websocket.http.response": {}}
        names = [name for name, _ in scope["headers"]]
        assert names[:3] == [b"host", b"upgrade", b"connection"]  # in order, lower-cased
        assert b"sec-websocket-key" in names
        assert scope["client"][0] == "127.0.0.1"
        assert scope["server"][0] == "127.0.0.1"

    run(main)


def test_accept_with_subprotocol_and_headers():
    async def app(scope, receive, send):
        await receive()
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": "v1",
                "headers": [(b"x-session", b"abc")],
            }
        )
        await send({"type": "websocket.send", "text": "welcome"})
        await receive()

    async def main():
        async with serve(app) as url, connect(url, subprotocols=["v2", "v1"]) as ws:
            assert ws.subprotocol == "v1"
            assert ws.response.headers["x-session"] == "abc"
            assert await ws.recv() == "welcome"

    run(main)


def test_app_close_with_code_and_reason_then_disconnect():
    disconnects: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "go away"})
        disconnects.append(await receive())

    async def main():
        async with serve(app) as url, connect(url) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4000
            assert info.value.rcvd.reason == "go away"
        assert disconnects[0]["type"] == "websocket.disconnect"
        assert disconnects[0]["code"] == 4000

    run(main)


def test_client_close_reaches_the_app_with_code_and_reason():
    got: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        got.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            got.append(exc)  # type: ignore[arg-type]
        done.set()

    async def main():
        async with serve(app) as url:
            async with connect(url) as ws:
                await ws.close(4001, "bye")
            await asyncio.wait_for(done.wait(), 2)
        assert got[0] == {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}
        assert isinstance(got[1], ClientDisconnected)

    run(main)


def test_close_before_accept_is_403():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.close"})

    async def main():
        async with serve(app) as url:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url):
                    pass
            assert info.value.response.status_code == 403

    run(main)


def test_denial_response_extension():
    async def app(scope, receive, send):
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"token"})
        assert (await receive())["type"] == "websocket.disconnect"

    async def main():
        async with serve(app) as url:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url):
                    pass
            response = info.value.response
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.body == b"no token"

    run(main)


def test_app_failing_before_accept_is_500_and_after_is_1011(caplog):
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/after":
            await send({"type": "websocket.accept"})
            await receive()
        raise ValueError("broken")

    async def main():
        async with serve(app) as url:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url + "/before"):
                    pass
            assert info.value.response.status_code == 500
            async with connect(url + "/after") as ws:
                await ws.send("trigger")
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 1011

    with caplog.at_level(logging.ERROR, logger="longwire.asgi"):
        run(main)
    assert sum("exception in ASGI WebSocket" in r.message for r in caplog.records) == 2


def test_app_returning_without_deciding_is_500_and_after_accept_closes_1000():
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/accepted":
            await send({"type": "websocket.accept"})

    async def main():
        async with serve(app) as url:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url + "/undecided"):
                    pass
            assert info.value.response.status_code == 500
            async with connect(url + "/accepted") as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 1000

    run(main)


def test_native_app_mounts_an_asgi_app_for_websockets():
    seen: list[tuple[str, str]] = []

    async def app(scope, receive, send):
        seen.append((scope["path"], scope["root_path"]))
        await echo(scope, receive, send)

    native = App()
    native.mount("/legacy", app)

    async def main():
        async with serve(native) as url, connect(url + "/legacy/ws") as ws:
            await ws.send("through the mount")
            assert await ws.recv() == "through the mount"
        assert seen == [("/legacy/ws", "/legacy")]

    run(main)
