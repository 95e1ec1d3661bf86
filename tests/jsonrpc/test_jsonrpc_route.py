"""``App.jsonrpc`` routes and ``longwire.jsonrpc.connect`` over a real loopback server,
and the route against the ``websockets`` library's client sending raw JSON."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets

import longwire
from leakcheck import run_without_leaks
from longwire import App, ConnectionClosed, HandshakeError
from longwire.aio import Server, ServerConfig
from longwire.jsonrpc import (
    INTERNAL_ERROR,
    JsonRpcClient,
    JsonRpcConnection,
    JsonRpcEndpoint,
    Methods,
    RPCError,
    connect,
)

CONFIG = ServerConfig(access_log=False)


def run(test: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return run_without_leaks(test(), timeout=20)


@asynccontextmanager
async def serving(app: App) -> AsyncIterator[str]:
    """The app on a free port: yields its ``ws://127.0.0.1:port`` base URL."""
    async with Server(app, port=0, config=CONFIG) as server:
        yield f"ws://127.0.0.1:{server.port}"


def calculator() -> tuple[App, JsonRpcEndpoint, list[Any]]:
    app = App()
    rpc = app.jsonrpc("/rpc/{room}")
    log: list[Any] = []

    @rpc.method()
    def add(a: float, b: float) -> float:
        return a + b

    @rpc.method("room", context=True)
    def room(conn: JsonRpcConnection) -> str:
        assert conn.request is not None
        return conn.request.path_params["room"]

    @rpc.method(context=True)
    async def ask_back(conn: JsonRpcConnection, question: str) -> Any:
        # A server method that calls the client while the client awaits it.
        return await conn.call("client.answer", [question])

    @rpc.method()
    async def sleep(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @rpc.method()
    def log_it(*values: Any) -> None:
        log.append(values)

    @rpc.method()
    def fail() -> None:
        raise ValueError("do not show this")

    return app, rpc, log


def client_methods() -> Methods:
    methods = Methods()

    @methods.method("client.answer")
    def answer(question: str) -> str:
        return f"answer to {question}"

    @methods.method("client.who", context=True)
    def who(client: JsonRpcClient) -> str:
        assert isinstance(client, JsonRpcClient)
        return client.websocket.subprotocol or "none"

    return methods


def test_client_calls_server_methods():
    app, rpc, log = calculator()

    async def main() -> None:
        async with serving(app) as base, connect(f"{base}/rpc/kitchen") as client:
            assert client.websocket.subprotocol == "jsonrpc"
            assert await client.call("add", [1, 2]) == 3
            assert await client.call("add", {"a": 0.5, "b": 2}) == 2.5
            assert await client.call("room") == "kitchen"
            await client.notify("log_it", ["a", 1])
            with pytest.raises(RPCError) as error:
                await client.call("fail")
            assert error.value == RPCError(INTERNAL_ERROR)
            with pytest.raises(RPCError) as missing:
                await client.call("nope")
            assert missing.value.code == RPCError.METHOD_NOT_FOUND
            # Concurrent calls, answered out of order.
            results = await asyncio.gather(
                client.call("sleep", [0.05]), client.call("sleep", [0.0]),
                *(client.call("add", [n, n]) for n in range(20)),
            )
            assert results == [0.05, 0.0, *(2 * n for n in range(20))]
            assert log == [("a", 1)]
            assert len(rpc.connections) == 1
        assert client.closed
        assert client.websocket.close_code == 1000

    run(main)


def test_server_calls_client_methods():
    app = App()
    results: list[Any] = []
    done = asyncio.Event

    rpc = app.jsonrpc("/rpc")
    finished: list[asyncio.Event] = []

    @rpc
    async def on_connect(conn: JsonRpcConnection) -> None:
        results.append(await conn.call("client.answer", ["life"]))
        results.append(await conn.call("client.who"))
        await conn.notify("client.answer", ["ignored"])
        try:
            await conn.call("client.missing")
        except RPCError as exc:
            results.append(exc.code)
        finished[0].set()

    assert on_connect is rpc

    async def main() -> None:
        finished.append(done())
        async with serving(app) as base, connect(f"{base}/rpc", client_methods()):
            await asyncio.wait_for(finished[0].wait(), 5)
        assert results == ["answer to life", "jsonrpc", RPCError.METHOD_NOT_FOUND]

    run(main)


def test_calls_nest_both_ways():
    app, _, _ = calculator()

    async def main() -> None:
        async with serving(app) as base, connect(f"{base}/rpc/x", client_methods()) as client:
            answers = await asyncio.gather(*(client.call("ask_back", [f"q{n}"]) for n in range(10)))
            assert answers == [f"answer to q{n}" for n in range(10)]

    run(main)


def test_closing_fails_pending_calls_on_both_ends():
    app = App()
    rpc = app.jsonrpc("/rpc")
    server_side: list[BaseException] = []
    calling = asyncio.Event

    @rpc.method()
    async def hang() -> None:
        await asyncio.Event().wait()

    async def watch(conn: JsonRpcConnection) -> None:
        try:
            await conn.call("client.hang", timeout=None)
        except ConnectionClosed as exc:
            server_side.append(exc)

    @rpc.method(context=True)
    async def call_me_then_leave(conn: JsonRpcConnection) -> None:
        # A call from outside the connection's handlers (which closing cancels).
        watchers.append(asyncio.ensure_future(watch(conn)))
        await asyncio.sleep(0.05)
        conn.close(4000, "bye")
        await asyncio.Event().wait()  # cancelled by the close

    watchers: list[asyncio.Future[None]] = []

    client_side = Methods()

    @client_side.method("client.hang")
    async def client_hang() -> None:
        started.set()
        await asyncio.Event().wait()

    started: asyncio.Event

    async def main() -> None:
        nonlocal started
        started = calling()
        async with serving(app) as base, connect(f"{base}/rpc", client_side) as client:
            hanging = asyncio.ensure_future(client.call("hang"))
            with pytest.raises(ConnectionClosed) as info:
                await client.call("call_me_then_leave")
            assert (info.value.code, info.value.reason) == (4000, "bye")
            with pytest.raises(ConnectionClosed):
                await hanging
            with pytest.raises(ConnectionClosed):
                await client.call("hang")
            assert started.is_set()
            await client.wait_closed()
            assert client.peer.running == 0
        await asyncio.gather(*watchers)
        assert [exc.code for exc in server_side] == [4000]

    run(main)


def test_server_shutdown_fails_client_calls():
    app, _, _ = calculator()

    async def main() -> None:
        server = Server(app, port=0, config=CONFIG)
        await server.start()
        client = await connect(f"ws://127.0.0.1:{server.port}/rpc/x", timeout=None)
        try:
            call = asyncio.ensure_future(client.call("sleep", [30]))
            await asyncio.sleep(0.05)
            await server.shutdown()
            with pytest.raises(ConnectionClosed) as info:
                await call
            assert info.value.code == 1001
        finally:
            await client.close()

    run(main)


def test_client_timeout():
    app, _, _ = calculator()

    async def main() -> None:
        async with serving(app) as base, connect(f"{base}/rpc/x", timeout=0.05) as client:
            with pytest.raises(TimeoutError):
                await client.call("sleep", [1])
            assert await client.call("sleep", [0.1], timeout=5) == 0.1
            assert client.peer.pending == 0

    run(main)


def test_on_connect_failure_closes_with_1011(caplog):
    app = App()
    rpc = app.jsonrpc("/rpc")

    @rpc
    async def on_connect(conn: JsonRpcConnection) -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        async with serving(app) as base, connect(f"{base}/rpc") as client:
            await client.wait_closed()
            assert client.websocket.close_code == 1011

    with caplog.at_level(logging.ERROR, logger="longwire.jsonrpc"):
        run(main)
    assert any("on_connect" in r.getMessage() for r in caplog.records)


def test_endpoint_options_are_checked():
    app = App()
    with pytest.raises(ValueError, match="max_batch"):
        app.jsonrpc("/a", max_batch=0)
    with pytest.raises(TypeError):
        app.jsonrpc("/b", methods={"x": print})  # type: ignore[arg-type]
    rpc = app.jsonrpc("/c")
    with pytest.raises(TypeError):
        rpc(lambda conn: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="/c"):
        app.jsonrpc("/c")  # taken
    with pytest.raises(TypeError):
        connect("ws://127.0.0.1:1/", subprotocols=["x"])
    with pytest.raises(TypeError):
        connect("ws://127.0.0.1:1/", reconnect=True)


def test_shared_methods_registry():
    methods = Methods()
    methods.add("ping", lambda: "pong")
    app = App()
    one = app.jsonrpc("/one", methods)
    two = app.jsonrpc("/two", methods)
    assert one.methods is two.methods is methods

    async def main() -> None:
        async with serving(app) as base:
            for path in ("/one", "/two"):
                async with connect(base + path) as client:
                    assert await client.call("ping") == "pong"

    run(main)


# The wire, seen by another implementation: the websockets library, raw JSON.


def test_websockets_client_speaks_raw_json():
    app, _, log = calculator()

    async def main() -> None:
        async with (
            serving(app) as base,
            websockets.connect(f"{base}/rpc/hall", subprotocols=["jsonrpc"]) as ws,
        ):
            assert ws.subprotocol == "jsonrpc"

            async def exchange(text: str) -> Any:
                await ws.send(text)
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

            assert await exchange('{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}') == {
                "jsonrpc": "2.0", "result": 5, "id": 1,
            }
            assert await exchange("{") == {
                "jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"},
                "id": None,
            }
            assert await exchange("[]") == {
                "jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"},
                "id": None,
            }
            batch = await exchange(json.dumps([
                {"jsonrpc": "2.0", "method": "room", "id": "r"},
                {"jsonrpc": "2.0", "method": "log_it", "params": [1]},
                {"jsonrpc": "2.0", "method": "add", "params": {"a": 1}, "id": "bad"},
                5,
            ]))
            assert batch[0] == {"jsonrpc": "2.0", "result": "hall", "id": "r"}
            assert batch[1]["error"]["code"] == -32602
            assert batch[1]["id"] == "bad"
            assert batch[2] == {
                "jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"},
                "id": None,
            }
            # Notifications alone get no answer: the next answer is the next call's.
            await ws.send('[{"jsonrpc":"2.0","method":"log_it","params":[2]}]')
            await ws.send('{"jsonrpc":"2.0","method":"log_it","params":[3]}')
            assert (await exchange('{"jsonrpc":"2.0","method":"add","params":[0,0],"id":2}'))[
                "id"
            ] == 2
            assert log == [(1,), (2,), (3,)]
            # A binary message: close 1003, Unsupported Data.
            await ws.send(b'{"jsonrpc":"2.0","method":"add","params":[2,3],"id":3}')
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1003

    run(main)


def test_a_client_not_offering_jsonrpc_is_accepted_unless_required():
    app = App()
    lenient = app.jsonrpc("/lenient")
    strict = app.jsonrpc("/strict", require_subprotocol=True)
    for endpoint in (lenient, strict):
        endpoint.methods.add("ping", lambda: "pong")

    async def main() -> None:
        async with serving(app) as base:
            # RFC 6455 §4.2.2: the server may accept without selecting a subprotocol.
            async with websockets.connect(f"{base}/lenient") as ws:
                assert ws.subprotocol is None
                await ws.send('{"jsonrpc":"2.0","method":"ping","id":1}')
                assert json.loads(await ws.recv())["result"] == "pong"
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(f"{base}/strict")
            assert refused.value.response.status_code == 400
            assert b"jsonrpc" in refused.value.response.body
            async with websockets.connect(f"{base}/strict", subprotocols=["x", "jsonrpc"]) as ws:
                assert ws.subprotocol == "jsonrpc"
            async with connect(f"{base}/strict") as client:
                assert await client.call("ping") == "pong"
            with pytest.raises(HandshakeError):
                await longwire.connect(f"{base}/strict")

    run(main)
