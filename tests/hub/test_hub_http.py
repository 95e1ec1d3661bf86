"""The hub over its HTTP transports: POST /rpc up; poll, stream, SSE down; plain EventSource."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from hub_testing import HttpClient, serving, ws_client

from longwire import EventSource


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 20))


@pytest.mark.parametrize("kind", ["polling", "streaming", "sse"])
def test_each_downstream_delivers_publications_and_resumes_from_positions(kind):
    async def main():
        async with serving() as (base, hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            await client.connect()
            await client.subscribe("room:t")
            await hub.publish("room:t", "before")  # published between subscribe and downstream

            async def receive(want):
                if kind == "polling":
                    got = []
                    while len(got) < want:
                        got += [m for m in await client.poll() if m["method"] == "pub"]
                    return got
                return await client.stream(kind, want)

            reader = asyncio.create_task(receive(3))
            await asyncio.sleep(0.1)
            await hub.publish("room:t", "live 1")
            await hub.publish("room:t", "live 2")
            got = await reader
            assert [m["params"]["d"] for m in got] == ["before", "live 1", "live 2"]
            assert client.positions["room:t"][1] == 3
            await hub.publish("room:t", "while away")
            got = await receive(1)
            assert [m["params"]["d"] for m in got] == ["while away"]

    run(main())


def test_a_long_poll_is_held_then_answered_empty_after_poll_timeout():
    async def main():
        async with serving(poll_timeout=0.3) as (base, _hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            await client.connect()
            started = asyncio.get_running_loop().time()
            assert await client.poll() == []
            assert asyncio.get_running_loop().time() - started >= 0.25

    run(main())


def test_a_position_history_cannot_cover_gets_a_reset_then_live_messages():
    async def main():
        async with serving() as (base, hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            await client.connect()
            result = await client.subscribe("room:gone")
            for n in range(20):  # history_size=10
                await hub.publish("room:gone", n)
            messages = await client.poll()
            assert messages[0]["method"] == "reset"
            assert messages[0]["params"]["o"] == 20
            assert messages[0]["params"]["e"] == result["e"]
            assert not [m for m in messages if m["method"] == "pub"]

    run(main())


def test_sessions_and_positions_are_checked():
    async def main():
        async with serving() as (base, _hub), aiohttp.ClientSession() as http:
            url = f"http://{base}"
            async with http.get(f"{url}/poll") as response:
                assert response.status == 403
            async with http.get(f"{url}/poll", params={"s": "forged.sig"}) as response:
                assert response.status == 403
            client = HttpClient(base, http)
            await client.connect()
            async with http.get(f"{url}/sse", params={"s": client.session, "ch": "x"}) as response:
                assert response.status == 400
            query = [("s", client.session), ("ch", "0.e.nowhere"), ("ch", "0.e.#someone")]
            async with http.get(f"{url}/poll", params=query) as response:
                messages = await response.json()
            assert [(m["method"], m["params"]["ch"]) for m in messages] == [
                ("unsubscribed", "nowhere"),
                ("unsubscribed", "#someone"),
            ]
            body = json.dumps({"jsonrpc": "2.0", "method": "ping"})
            async with http.post(f"{url}/rpc", params={"s": client.session}, data=body) as response:
                assert response.status == 204
            async with http.post(f"{url}/rpc", data="x" * (1 << 20 + 1)) as response:
                assert response.status == 413

    run(main())


def test_http_and_websocket_clients_share_channels_and_presence():
    async def main():
        async with (
            serving(presence_ttl=1.5) as (base, hub),
            aiohttp.ClientSession() as http,
            ws_client(base) as ws,
        ):
            await ws.call("subscribe", {"ch": "room:mix"})
            await ws.note("join")
            client = HttpClient(base, http)
            await client.connect(token=None)
            await client.subscribe("room:mix")
            joined = (await ws.note("join"))["params"]
            me = joined["client"]
            await client.call("publish", {"ch": "room:mix", "data": "from http"})
            assert (await ws.note("pub"))["params"]["d"] == "from http"
            await ws.call("publish", {"ch": "room:mix", "data": "from ws"})
            messages = await client.poll()
            assert [m["params"]["d"] for m in messages if m["method"] == "pub"] == [
                "from http",
                "from ws",
            ]
            # No more requests from the HTTP client: its presence expires.
            left = (await ws.note("leave", timeout=6))["params"]
            assert left["client"] == me
            assert me not in await hub.presence("room:mix")

    run(main())


def test_a_downstream_request_arriving_after_unsubscribe_does_not_rejoin():
    """A poll sent before an unsubscribe may reach the server after it (another
    connection): it refreshes presence but must not bring the client back."""

    async def main():
        async with serving(poll_timeout=0.2) as (base, hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            me = (await client.connect(token=None))["client"]
            await client.subscribe("room:late")
            assert set(await hub.presence("room:late")) == {me}
            stale = client.query()
            await client.call("unsubscribe", {"ch": "room:late"})
            assert await hub.presence("room:late") == {}
            async with http.get(f"http://{base}/poll", params=stale) as response:
                assert response.status == 200
            assert await hub.presence("room:late") == {}
            # Subscribing again joins again.
            await client.subscribe("room:late")
            assert set(await hub.presence("room:late")) == {me}

    run(main())


def test_a_server_side_subscription_is_read_over_http_with_its_grant():
    """Over HTTP every downstream request is checked again: the grant of a
    server-side subscription goes with it (g=), and only its client may use it."""

    def configure(hub):
        hub.channel("private:*", subscribe=False, history_size=10)

    async def main():
        async with (
            serving(configure, poll_timeout=0.3) as (base, hub),
            aiohttp.ClientSession() as http,
        ):
            client = HttpClient(base, http)
            me = (await client.connect(token=None))["client"]
            await hub.subscribe(me, "private:1")
            [note] = [m for m in await client.poll() if m["method"] == "pub"]
            grant = note["params"]["d"]["params"]["grant"]
            result = await client.call("subscribe", {"ch": "private:1", "grant": grant})
            client.positions["private:1"] = (result["e"], result["o"])
            await hub.publish("private:1", "secret")

            async def poll(query):
                async with http.get(f"http://{base}/poll", params=query) as response:
                    assert response.status == 200, await response.text()
                    return [(m["method"], m["params"]) for m in await response.json()]

            without = await poll(client.query())
            assert (
                "unsubscribed",
                {"ch": "private:1", "reason": "not allowed to subscribe to 'private:1'"},
            ) in without
            with_grant = await poll([*client.query(), ("g", grant)])
            assert [p["d"] for m, p in with_grant if m == "pub" and p["ch"] == "private:1"] == [
                "secret"
            ]
            # Another client's request, or a forged grant, gets nothing from it.
            other = HttpClient(base, http)
            await other.connect(token=None)
            other.positions["private:1"] = (result["e"], result["o"])
            for grants in ([("g", grant)], [("g", grant[:-2] + "xx")]):
                stolen = await poll([*other.query(), *grants])
                assert (
                    "unsubscribed",
                    {"ch": "private:1", "reason": "not allowed to subscribe to 'private:1'"},
                ) in stolen
                assert not [p for m, p in stolen if m == "pub" and p["ch"] == "private:1"]

    run(main())


def test_downstream_requests_with_too_many_grants_are_refused():
    async def main():
        async with serving(max_subscriptions=3) as (base, _), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            await client.connect(token=None)
            too_many = [*client.query(), *[("g", "x")] * 4]
            async with http.get(f"http://{base}/poll", params=too_many) as response:
                assert response.status == 400
                assert "too many grants" in await response.text()

    run(main())


def test_a_server_to_client_call_answered_over_post():
    async def main():
        async with serving() as (base, hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            connected = await client.connect()
            call = asyncio.create_task(hub.call(connected["client"], "whoami", timeout=5))
            messages = []
            while not messages:
                messages = [m for m in await client.poll() if m["method"] == "pub"]
            request = messages[0]["params"]["d"]
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": "me"}
            async with http.post(
                f"http://{base}/rpc", params={"s": client.session}, json=answer
            ) as response:
                assert response.status == 204
            assert await call == "me"

    run(main())


def test_the_browser_eventsource_resumes_a_channel_through_last_event_id():
    async def main():
        async with serving() as (base, hub):
            url = f"http://{base}/events/room:plain"
            async with EventSource(url) as source:
                reading = asyncio.ensure_future(anext(aiter(source)))  # connects
                await asyncio.sleep(0.2)
                first = await hub.publish("room:plain", {"n": 1})
                event = await reading
                assert event.id == f"{first.epoch}:1"
                assert json.loads(event.data) == {"n": 1}
            await hub.publish("room:plain", {"n": 2})
            await hub.publish("room:plain", {"n": 3})
            headers = {"Last-Event-ID": f"{first.epoch}:1"}
            async with EventSource(url, headers=headers) as source:
                events = aiter(source)
                got = [json.loads((await anext(events)).data) for _ in range(2)]
                assert got == [{"n": 2}, {"n": 3}]
            headers = {"Last-Event-ID": "stale-epoch:1"}
            async with EventSource(url, headers=headers) as source:
                event = await anext(aiter(source))
                assert event.type == "reset"
                assert json.loads(event.data) == {"e": first.epoch, "o": 3}

    run(main())


def test_plain_event_streams_check_the_channel_rules():
    async def main():
        async with serving() as (base, _hub), aiohttp.ClientSession() as http:
            async with http.get(f"http://{base}/events/nowhere") as response:
                assert response.status == 404
            async with http.get(f"http://{base}/events/%23someone") as response:
                assert response.status == 403

    run(main())


@pytest.mark.parametrize("path", ["sse", "stream", "events/room:head"])
def test_a_head_request_leaves_nothing_subscribed(path):
    """The server does not run a HEAD response's body: subscribing must wait for it."""

    async def main():
        async with serving() as (base, hub), aiohttp.ClientSession() as http:
            client = HttpClient(base, http)
            await client.connect(token=None)
            await client.subscribe("room:head")
            query = client.query() if path != "events/room:head" else []
            async with http.head(f"http://{base}/{path}", params=query) as response:
                assert response.status == 200
                assert "text/event-stream" in response.headers["Content-Type"] or (
                    "ndjson" in response.headers["Content-Type"]
                )
            await asyncio.sleep(0.1)
            assert "room:head" not in hub._local
            # A GET subscribes as before.
            async with http.get(f"http://{base}/{path}", params=query) as response:
                await response.content.readline()
                assert "room:head" in hub._local

    run(main())
