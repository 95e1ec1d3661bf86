"""The hub answers JSON-RPC as a ``jsonrpc.Peer`` would: results JSON cannot
encode, batch and in-progress limits, dispatch on the parsed message."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from typing import Any

import aiohttp
from hub_testing import HttpClient, serving, ws_client

from longwire.jsonrpc import DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 20))


def unencodable(hub):
    hub.channel("room:*", publish=True)

    @hub.method()
    def thing(client):
        return object()

    @hub.method()
    def nan(client):
        return float("nan")

    @hub.method()
    def echo(client, value):
        return value


def call(call_id: Any, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


async def exchange(ws: Any, message: Any) -> Any:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def internal_error(call_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": -32603, "message": "Internal error"}, "id": call_id}


def test_a_result_json_cannot_encode_is_an_internal_error_on_the_websocket(caplog):
    caplog.set_level(logging.ERROR)

    async def main():
        async with serving(unencodable) as (base, _hub), ws_client(base) as client:
            await client.stop_reading()
            ws = client.ws
            assert await exchange(ws, call(1, "thing")) == internal_error(1)
            assert await exchange(ws, call(2, "nan")) == internal_error(2)
            # The connection still serves, and a batch replaces only the member at fault.
            batch = [call(3, "echo", [1]), call(4, "nan"), call(5, "ping")]
            answers = await exchange(ws, batch)
            assert answers[0] == {"jsonrpc": "2.0", "result": 1, "id": 3}
            assert answers[1] == internal_error(4)
            assert answers[2]["id"] == 5
            assert "error" not in answers[2]
            assert await exchange(ws, call(6, "echo", ["ok"])) == {
                "jsonrpc": "2.0",
                "result": "ok",
                "id": 6,
            }
        gc.collect()

    run(main())
    messages = [record.getMessage() for record in caplog.records]
    assert sum("not JSON serializable" in message for message in messages) == 3
    assert not any("never retrieved" in message for message in messages)


def test_a_result_json_cannot_encode_is_an_internal_error_over_post():
    async def main():
        async with serving(unencodable) as (base, _hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            await client.connect()
            answer = await client.raw("thing")
            assert answer["error"] == {"code": -32603, "message": "Internal error"}
            assert (await client.raw("nan"))["error"]["code"] == -32603
            assert await client.call("echo", [2]) == 2

    run(main())


def counting(calls: list[Any]):
    def configure(hub):
        hub.channel("room:*", publish=True)

        @hub.method()
        def count(client, n):
            calls.append(n)
            return n

    return configure


def test_a_batch_over_the_limit_is_refused_and_not_run_on_the_websocket():
    calls: list[Any] = []

    async def main():
        async with serving(counting(calls)) as (base, _hub), ws_client(base) as client:
            await client.stop_reading()
            over = [call(n, "count", [n]) for n in range(DEFAULT_MAX_BATCH + 1)]
            answer = await exchange(client.ws, over)
            assert answer["id"] is None
            assert answer["error"]["code"] == -32600
            assert str(DEFAULT_MAX_BATCH) in answer["error"]["data"]
            assert calls == []
            full = [call(n, "count", [n]) for n in range(DEFAULT_MAX_BATCH)]
            answers = await exchange(client.ws, full)
            assert [a["result"] for a in answers] == list(range(DEFAULT_MAX_BATCH))
            assert calls == list(range(DEFAULT_MAX_BATCH))

    run(main())


def test_a_batch_over_the_limit_is_refused_before_connect_and_over_post():
    calls: list[Any] = []

    async def main():
        async with serving(counting(calls)) as (base, _hub), aiohttp.ClientSession() as http:
            async with ws_client(base, connect=False) as client:
                await client.stop_reading()
                over = [call(n, "connect") for n in range(DEFAULT_MAX_BATCH + 1)]
                answer = await exchange(client.ws, over)
                assert answer["error"]["code"] == -32600
                assert answer["id"] is None
            client = HttpClient(base, http)
            await client.connect()
            over = [call(n, "count", [n]) for n in range(DEFAULT_MAX_BATCH + 1)]
            url = f"{client.base}/rpc"
            async with http.post(url, params={"s": client.session}, json=over) as response:
                assert response.status == 200
                answer = await response.json()
            assert answer["error"]["code"] == -32600
            assert answer["id"] is None
            assert calls == []

    run(main())


def test_application_calls_in_progress_on_a_websocket_are_bounded(caplog):
    caplog.set_level(logging.WARNING, logger="longwire.hub")
    started: list[int] = []

    def configure(hub):
        hub.channel("room:*", publish=True)
        hub.release = asyncio.Event()

        @hub.method()
        async def wait(client, n):
            started.append(n)
            await hub.release.wait()
            return n

    async def main():
        async with serving(configure) as (base, hub), ws_client(base) as client:
            await client.stop_reading()
            ws = client.ws
            for n in range(DEFAULT_MAX_PENDING):
                await ws.send(json.dumps(call(n, "wait", [n])))
            # One more request is answered at once, a notification dropped; the
            # built-in methods still answer.
            refused = await exchange(ws, call("over", "wait", [-1]))
            assert refused["id"] == "over"
            assert refused["error"]["code"] == -32000
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "wait", "params": [-2]}))
            pong = await exchange(ws, call("ping", "ping"))
            assert pong["id"] == "ping"
            assert "error" not in pong
            assert len(started) == DEFAULT_MAX_PENDING
            assert -1 not in started
            assert -2 not in started
            hub.release.set()
            ids = set()
            for _ in range(DEFAULT_MAX_PENDING):
                ids.add(json.loads(await asyncio.wait_for(ws.recv(), 5))["id"])
            assert ids == set(range(DEFAULT_MAX_PENDING))
            # Their slots are free again.
            assert await exchange(ws, call("again", "wait", [7])) == {
                "jsonrpc": "2.0",
                "result": 7,
                "id": "again",
            }

    run(main())
    assert any("dropped" in record.getMessage() for record in caplog.records)


def test_an_application_call_is_recognised_by_its_parsed_method():
    # "method" inside params, before the real member: the message is still an
    # application call, run on its own, so a slow one holds nothing up.
    def configure(hub):
        hub.channel("room:*", publish=True)
        hub.release = asyncio.Event()

        @hub.method()
        async def slow(client, method=None):
            await hub.release.wait()
            return "done"

    async def main():
        async with serving(configure) as (base, hub), ws_client(base) as client:
            await client.stop_reading()
            ws = client.ws
            text = '{"jsonrpc":"2.0","params":{"method":"ping"},"id":1,"method":"slow"}'
            await ws.send(text)
            answer = await exchange(ws, call(2, "ping"))
            assert answer["id"] == 2  # not held up behind "slow"
            hub.release.set()
            done = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert done == {"jsonrpc": "2.0", "result": "done", "id": 1}
            # A built-in call whose params name an application method is no app call.
            publish = call(3, "publish", {"ch": "room:x", "data": {"method": "slow"}})
            answer = await exchange(ws, publish)
            assert answer["id"] == 3
            assert "error" not in answer

    run(main())
