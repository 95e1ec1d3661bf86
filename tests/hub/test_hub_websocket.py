"""The hub over WebSocket: channels, recovery, presence, RPC both ways, limits."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from hub_testing import serving, ws_client

from longwire.hub import CLOSE_TOO_SLOW, ChannelOptions, Identity, sign_token
from longwire.jsonrpc import RPCError


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 20))


def test_subscribers_get_publications_in_offset_order_from_server_and_clients():
    async def main():
        async with serving() as (base, hub), ws_client(base) as one, ws_client(base) as two:
            for client in (one, two):
                result = await client.call("subscribe", {"ch": "room:a"})
                assert result["o"] == 0
                assert result["recovered"] is True
            await hub.publish("room:a", {"n": 1})
            answer = await one.call("publish", {"ch": "room:a", "data": {"n": 2}})
            assert answer["o"] == 2
            for client in (one, two):
                pubs = [await client.note("pub"), await client.note("pub")]
                assert [p["params"]["o"] for p in pubs] == [1, 2]
                assert [p["params"]["d"] for p in pubs] == [{"n": 1}, {"n": 2}]
                assert {p["params"]["ch"] for p in pubs} == {"room:a"}

    run(main())


def test_a_resubscribe_with_since_gets_exactly_what_was_missed():
    async def main():
        async with serving() as (base, hub):
            async with ws_client(base) as client:
                first = await client.call("subscribe", {"ch": "room:r"})
                await hub.publish("room:r", "a")
                pub = (await client.note("pub"))["params"]
            for data in ("b", "c"):
                await hub.publish("room:r", data)
            async with ws_client(base) as client:
                since = {"e": pub["e"], "o": pub["o"]}
                result = await client.call("subscribe", {"ch": "room:r", "since": since})
                assert result["recovered"] is True
                assert [p["d"] for p in result["pubs"]] == ["b", "c"]
                assert [p["o"] for p in result["pubs"]] == [2, 3]
                assert result["e"] == first["e"]
                assert result["o"] == 3
                await hub.publish("room:r", "d")
                assert (await client.note("pub"))["params"]["o"] == 4

    run(main())


def test_recovery_fails_when_history_no_longer_reaches_back_or_the_epoch_changed():
    async def main():
        async with serving() as (base, hub):
            for n in range(15):  # history_size=10
                await hub.publish("room:x", n)
            async with ws_client(base) as client:
                position = await client.call("history", {"ch": "room:x", "limit": 0})
                old = {"e": position["e"], "o": 2}
                result = await client.call("subscribe", {"ch": "room:x", "since": old})
                assert result["recovered"] is False
                assert result["pubs"] == []
                assert result["o"] == 15
                other = {"e": "another", "o": 15}
                result = await client.call("subscribe", {"ch": "room:x", "since": other})
                assert result["recovered"] is False

    run(main())


def test_live_publications_during_a_recovering_subscribe_are_not_lost_or_reordered():
    async def main():
        async with serving() as (base, hub), ws_client(base) as client:
            for n in range(5):
                await hub.publish("room:busy", n)
            history = await client.call("history", {"ch": "room:busy", "limit": 0})
            since = {"e": history["e"], "o": 0}

            async def publish_more():
                for n in range(5, 50):
                    await hub.publish("room:busy", n)
                    await asyncio.sleep(0)

            publisher = asyncio.create_task(publish_more())
            result = await client.call("subscribe", {"ch": "room:busy", "since": since})
            await publisher
            seen = [p["o"] for p in result["pubs"]]
            while not seen or seen[-1] < 50:
                seen.append((await client.note("pub"))["params"]["o"])
            # history_size=10 may cut the oldest: what arrives is in order, without gaps
            # after the first, and ends at 50.
            if result["recovered"]:
                assert seen == list(range(1, 51))
            else:
                assert seen == list(range(seen[0], 51))

    run(main())


def test_presence_join_and_leave_are_pushed_and_listed():
    async def main():
        async with serving() as (base, hub), ws_client(base) as watcher:
            await watcher.call("subscribe", {"ch": "room:p"})
            await watcher.note("join")  # itself
            async with ws_client(base) as other:
                await other.call("subscribe", {"ch": "room:p"})
                joined = (await watcher.note("join"))["params"]
                assert joined["client"] == other.connected["client"]
                present = await watcher.call("presence", {"ch": "room:p"})
                assert set(present["clients"]) == {
                    watcher.connected["client"],
                    other.connected["client"],
                }
                assert set(await hub.presence("room:p")) == set(present["clients"])
            left = (await watcher.note("leave"))["params"]
            assert left["client"] == joined["client"]
            assert left["ch"] == "room:p"

    run(main())


def test_client_rules_unknown_channels_publish_rights_and_personal_channels():
    def configure(hub):
        hub.channel("news", ChannelOptions(publish=False))
        hub.channel("open:*", publish=True)
        hub.channel("vip:*", subscribe=lambda client, channel: client.user == "ada")

    async def main():
        async with serving(configure) as (base, _hub), ws_client(base) as client:
            error = (await client.raw("subscribe", {"ch": "nowhere"}))["error"]
            assert error["code"] == -32004
            error = (await client.raw("publish", {"ch": "news", "data": 1}))["error"]
            assert error["code"] == -32003
            assert (await client.call("publish", {"ch": "open:1", "data": 1}))["o"] == 1
            error = (await client.raw("subscribe", {"ch": "vip:1"}))["error"]
            assert error["code"] == -32003
            error = (await client.raw("subscribe", {"ch": "#someoneelse"}))["error"]
            assert error["code"] == -32003
            error = (await client.raw("subscribe", {"ch": ""}))["error"]
            assert error["code"] == -32602
            error = (await client.raw("subscribe", {"ch": "open:1", "since": {"e": 1}}))["error"]
            assert error["code"] == -32602

    run(main())


def test_calls_before_connect_are_refused():
    async def main():
        async with serving() as (base, _hub), ws_client(base, connect=False) as client:
            error = (await client.raw("subscribe", {"ch": "room:a"}))["error"]
            assert error["code"] == -32001

    run(main())


def test_signed_tokens_decide_who_connects_and_which_channels_they_may_read():
    secret = "s" * 32

    async def main():
        async with (
            serving(token_secret=secret) as (base, _hub),
            ws_client(base, connect=False) as client,
        ):
            error = (await client.raw("connect", {}))["error"]
            assert error["code"] == -32003
            bad = sign_token("other" * 8, "ada")
            error = (await client.raw("connect", {"token": bad}))["error"]
            assert error["code"] == -32003
            assert "signature" in error["message"]
            expired = sign_token(secret, "ada", expires_in=-1)
            error = (await client.raw("connect", {"token": expired}))["error"]
            assert "expired" in error["message"]
            token = sign_token(secret, "ada", channels=["room:ada*"], info={"c": "red"})
            result = await client.call("connect", {"token": token})
            assert result["user"] == "ada"
            assert result["info"] == {"c": "red"}
            await client.call("subscribe", {"ch": "room:ada-1"})
            error = (await client.raw("subscribe", {"ch": "room:bob"}))["error"]
            assert error["code"] == -32003
            joined = (await client.note("join"))["params"]
            assert joined["user"] == "ada"
            assert joined["info"] == {"c": "red"}

    run(main())


def test_the_authenticate_hook_sees_the_handshake_request():
    async def authenticate(request, token):
        if request.query.get("token") == "letmein" or token == "letmein":
            return Identity(user="u1")
        return None

    async def main():
        async with (
            serving(authenticate=authenticate) as (base, _hub),
            ws_client(base, connect=False) as client,
        ):
            assert (await client.raw("connect", {}))["error"]["code"] == -32003
            assert (await client.call("connect", {"token": "letmein"}))["user"] == "u1"

    run(main())


def test_a_session_keeps_the_client_id_across_connections():
    async def main():
        async with serving() as (base, _hub):
            async with ws_client(base) as client:
                first = client.connected
            async with ws_client(base, session=first["session"]) as client:
                assert client.connected["client"] == first["client"]
            async with ws_client(base, session=first["session"][:-2] + "xx") as client:
                assert client.connected["client"] != first["client"]  # forged: a new id

    run(main())


def test_rpc_both_ways_and_direct_messages():
    def configure(hub):
        hub.channel("room:*", publish=True)

        @hub.method("add")
        async def add(client, a, b):
            return {"sum": a + b, "client": client.id}

        @hub.method()
        def fail(client):
            raise RPCError(4000, "nope", {"why": "testing"})

    async def main():
        async with serving(configure) as (base, hub), ws_client(base) as client:
            me = client.connected["client"]
            assert await client.call("add", [2, 3]) == {"sum": 5, "client": me}
            assert await client.call("add", {"a": 1, "b": 1}) == {"sum": 2, "client": me}
            error = (await client.raw("fail"))["error"]
            assert error == {"code": 4000, "message": "nope", "data": {"why": "testing"}}
            assert (await client.raw("add", [1]))["error"]["code"] == -32602
            assert (await client.raw("nosuch"))["error"]["code"] == -32601

            await hub.send(me, {"hello": 1})
            note = (await client.note("pub"))["params"]
            assert note["ch"] == "#" + me
            assert note["d"] == {
                "jsonrpc": "2.0",
                "method": "message",
                "params": {"data": {"hello": 1}},
            }

            call = asyncio.create_task(hub.call(me, "double", [21], timeout=5))
            request = (await client.note("pub"))["params"]["d"]
            assert request["method"] == "double"
            assert request["params"] == [21]
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": 42}
            await client.ws.send(json.dumps(answer))
            assert await call == 42

            call = asyncio.create_task(hub.call(me, "boom", timeout=5))
            request = (await client.note("pub"))["params"]["d"]
            error = {"code": -32601, "message": "Method not found"}
            await client.ws.send(
                json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error})
            )
            with pytest.raises(RPCError) as raised:
                await call
            assert raised.value.code == -32601

            with pytest.raises(TimeoutError):
                await hub.call("nobody", "x", timeout=0.2)

    run(main())


def test_a_grant_is_no_session_and_a_session_no_grant():
    """Both are signed with the hub's secret: each is refused in the other's place."""

    def configure(hub):
        hub.channel("private:*", subscribe=False)

    async def main():
        async with serving(configure) as (base, hub), ws_client(base) as client:
            me = client.connected["client"]
            await hub.subscribe(me, "private:1")
            grant = (await client.note("pub"))["params"]["d"]["params"]["grant"]
            session = client.connected["session"]
            # A session where a grant goes: refused.
            answer = await client.raw("subscribe", {"ch": "private:1", "grant": session})
            assert answer["error"]["code"] == -32003
            # A grant where a session goes: a new client, not this one.
            async with ws_client(base, session=grant) as other:
                assert other.connected["client"] != me

    run(main())


def test_server_side_subscribe_grants_a_channel_the_rules_refuse():
    def configure(hub):
        hub.channel("private:*", subscribe=False)

    async def main():
        async with serving(configure) as (base, hub), ws_client(base) as client:
            me = client.connected["client"]
            assert (await client.raw("subscribe", {"ch": "private:1"}))["error"]["code"] == -32003
            await hub.subscribe(me, "private:1")
            message = (await client.note("pub"))["params"]["d"]
            assert message["method"] == "subscribe"
            grant = message["params"]["grant"]
            await client.call("subscribe", {"ch": "private:1", "grant": grant})
            await hub.publish("private:1", "secret")
            assert (await client.note("pub"))["params"]["d"] == "secret"
            async with ws_client(base) as thief:
                answer = await thief.raw("subscribe", {"ch": "private:1", "grant": grant})
                assert answer["error"]["code"] == -32003  # the grant names its client
            await hub.unsubscribe(me, "private:1")
            assert (await client.note("pub"))["params"]["d"]["method"] == "unsubscribe"
            await hub.publish("private:1", "after")
            await hub.send(me, "marker")
            assert (await client.note("pub"))["params"]["d"]["params"] == {"data": "marker"}

    run(main())


def test_batches_and_malformed_messages_are_answered_per_json_rpc():
    async def main():
        async with serving() as (base, _hub), ws_client(base) as client:
            await client.stop_reading()
            await client.ws.send("{not json")
            answer = json.loads(await asyncio.wait_for(_raw_reply(client), 5))
            assert answer["error"]["code"] == -32700
            batch = [
                {"jsonrpc": "2.0", "id": "a", "method": "ping"},
                {"jsonrpc": "2.0", "method": "ping"},
                {"jsonrpc": "2.0", "id": "b", "method": "subscribe", "params": {"ch": "room:b"}},
            ]
            await client.ws.send(json.dumps(batch))
            answers = json.loads(await asyncio.wait_for(_raw_reply(client), 5))
            assert [a["id"] for a in answers] == ["a", "b"]
            assert answers[0]["result"] == "pong"

    run(main())


async def _raw_reply(client):
    """The next message that is an answer without a known id (taken from notes)."""
    while True:
        text = await client.ws.recv()
        if '"method":"join"' not in text:
            return text


def test_binary_messages_close_with_1003():
    async def main():
        async with serving() as (base, _hub), ws_client(base) as client:
            await client.stop_reading()
            await client.ws.send(b"\x00")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(client.ws.recv(), 5)
            assert client.ws.close_code == 1003

    run(main())


def test_a_subscriber_that_does_not_read_is_dropped_with_1013_and_others_keep_up():
    async def main():
        async with (
            serving(slow_limit=64 * 1024) as (base, hub),
            ws_client(base) as fast,
            ws_client(base) as slow,
        ):
            await fast.call("subscribe", {"ch": "room:s"})
            await slow.call("subscribe", {"ch": "room:s"})
            slow.ws.transport.pause_reading()  # a client that stops reading
            payload = "x" * 2048
            for n in range(3000):
                await hub.publish("room:s", payload)
                if n % 100 == 0:
                    await asyncio.sleep(0.001)
            count = 0
            while count < 3000:
                note = await fast.note("pub")
                count += 1
                assert note["params"]["o"] == count
            slow.ws.transport.resume_reading()
            await asyncio.wait_for(slow.ws.wait_closed(), 10)
            assert slow.ws.close_code == CLOSE_TOO_SLOW

    run(main())


def test_publishing_what_is_not_json_fails_and_publishes_nothing():
    async def main():
        async with serving() as (base, hub), ws_client(base) as client:
            await client.call("subscribe", {"ch": "room:nan"})
            for bad in (float("nan"), float("inf"), {"when": object()}):
                with pytest.raises((ValueError, TypeError)):
                    await hub.publish("room:nan", bad)
            await hub.publish("room:nan", "fine")
            note = await client.note("pub")
            assert (note["params"]["o"], note["params"]["d"]) == (1, "fine")

    run(main())


def test_a_second_connect_on_one_websocket_is_refused():
    async def main():
        async with serving() as (base, hub), ws_client(base) as client:
            me = client.connected["client"]
            answer = await client.raw("connect", {})
            assert answer["error"]["code"] == -32600
            assert "already connected" in answer["error"]["message"]
            # The connection goes on as the first client.
            await client.call("subscribe", {"ch": "room:again"})
            assert set(await hub.presence("room:again")) == {me}

    run(main())


def test_subscribers_wait_for_the_broker_subscription_and_miss_nothing():
    """While the broker's subscription to a channel is under way (a Redis round
    trip), a second subscriber must not read the history yet: what is published
    before the broker delivers would be lost to it."""
    from longwire.hub import MemoryBroker

    confirmed = asyncio.Event()

    class SlowBroker(MemoryBroker):
        async def subscribe(self, channel: str) -> None:
            if channel.startswith("room:"):
                await confirmed.wait()
            await super().subscribe(channel)

    async def main():
        async with (
            serving(broker=SlowBroker()) as (base, hub),
            ws_client(base) as first,
            ws_client(base) as second,
        ):
            start = await hub.history("room:slow")
            since = {"e": start.position.epoch, "o": 0}
            one = asyncio.create_task(first.call("subscribe", {"ch": "room:slow"}))
            await asyncio.sleep(0.05)
            two = asyncio.create_task(
                second.call("subscribe", {"ch": "room:slow", "since": since})
            )
            await asyncio.sleep(0.05)
            assert not two.done()  # waiting for the broker, like the first
            await hub.publish("room:slow", "during")
            confirmed.set()
            await one
            answer = await two
            assert [pub["d"] for pub in answer["pubs"]] == ["during"]

    run(main())
