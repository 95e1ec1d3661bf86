"""Several hub nodes (separate ``longwire serve`` processes) sharing one real Redis.

Clients speak docs/hub-protocol.md over real sockets to whichever node they
like; what one node's client publishes must reach the others' in offset order,
presence must span the nodes (and outlive none of them), a client must recover
exactly what it missed on another node after its own was killed, a long-poll
client needs no sticky sessions, and a Redis restart must lose nothing silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from cluster_support import (
    PRESENCE_TTL,
    WAIT,
    Node,
    PollClient,
    RedisServer,
    RpcError,
    WsClient,
    cluster,
    require_redis_server,
    run,
)

UNAVAILABLE = -32005


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def nodes(redis: RedisServer) -> Iterator[list[Node]]:
    """Three nodes, a, b and c, for the whole module."""
    with cluster(redis, "a", "b", "c") as started:
        yield started


@pytest.fixture
def doomed(redis: RedisServer) -> Iterator[Node]:
    """A fourth node, for a test that kills it."""
    with cluster(redis, "doomed") as started:
        yield started[0]


def offsets(pubs: list[dict[str, Any]]) -> list[int]:
    return [p["o"] for p in pubs]


def test_chat_across_nodes(nodes: list[Node]) -> None:
    """Clients on three nodes chat: each sees every message, in the same offset order."""
    ch = "room:chat"

    async def scenario() -> None:
        clients = [
            await WsClient.open(node.ws_url, user)
            for node, user in zip(nodes, ["al", "bo", "cy"], strict=True)
        ]
        assert [client.node for client in clients] == ["a", "b", "c"]
        try:
            for client in clients:
                result = await client.call("subscribe", {"ch": ch})
                assert result["o"] == 0
                assert result["presence"] is True
            # Turns, then everyone at once: offsets are given by the broker, and
            # every node delivers in offset order.
            sent = []
            for turn in range(3):
                for client in clients:
                    text = f"{client.hello['user']} {turn}"
                    sent.append((await client.publish(ch, {"text": text}))["o"])
            burst = await asyncio.gather(
                *(
                    client.publish(ch, {"text": f"burst {i}"})
                    for i in range(5)
                    for client in clients
                )
            )
            sent += [r["o"] for r in burst]
            assert sorted(sent) == list(range(1, 25))
            for client in clients:
                pubs = await client.wait_pubs(ch, 24)
                assert offsets(pubs) == list(range(1, 25)), client.node
                assert len({p["e"] for p in pubs}) == 1
            texts = [[p["d"]["text"] for p in client.pubs(ch)] for client in clients]
            assert texts[0] == texts[1] == texts[2]
            assert texts[0][:3] == ["al 0", "bo 0", "cy 0"]
            await asyncio.sleep(0.2)  # nothing more comes (no duplicate from another node)
            assert [len(client.pubs(ch)) for client in clients] == [24, 24, 24]
        finally:
            for client in clients:
                await client.close()

    run(scenario())


def test_presence_across_nodes(nodes: list[Node]) -> None:
    """Joins and leaves on one node are announced on the others; presence lists them all."""
    a, b, c = nodes
    ch = "room:presence"

    async def scenario() -> None:
        al = await WsClient.open(a.ws_url, "al")
        bo = await WsClient.open(b.ws_url, "bo")
        cy = await WsClient.open(c.ws_url, "cy")
        try:
            await al.call("subscribe", {"ch": ch})
            await bo.call("subscribe", {"ch": ch})
            joined = await al.inbox.until(
                lambda: [j for j in al.inbox.of("join", ch) if j["client"] == bo.id], "bo's join"
            )
            assert joined[0]["user"] == "bo"
            assert joined[0]["info"] == {"node": "b"}
            # presence asked on any node, even one where neither is connected.
            expected = {al.id: {"user": "al", "info": {"node": "a"}},
                        bo.id: {"user": "bo", "info": {"node": "b"}}}  # fmt: skip
            for client in (al, bo, cy):
                assert (await client.call("presence", {"ch": ch}))["clients"] == expected
            # Closing the WebSocket on b: a leave on a.
            await bo.close()
            left = await al.inbox.until(lambda: al.inbox.of("leave", ch), "bo's leave")
            assert left[0]["client"] == bo.id
            assert left[0]["user"] == "bo"
            assert (await cy.call("presence", {"ch": ch}))["clients"] == {
                al.id: {"user": "al", "info": {"node": "a"}}
            }
            # A refresh of al's own presence (upkeep) is not a new join.
            await asyncio.sleep(PRESENCE_TTL)
            assert [j["client"] for j in al.inbox.of("join", ch)].count(al.id) <= 1
        finally:
            await al.close()
            await cy.close()

    run(scenario())


def test_presence_of_a_killed_node_expires(nodes: list[Node], doomed: Node) -> None:
    """SIGKILL a node: its clients' presence expires and one surviving node announces the leave."""
    a, b, _ = nodes
    ch = "room:crash"

    async def scenario() -> None:
        al = await WsClient.open(a.ws_url, "al")
        bo = await WsClient.open(b.ws_url, "bo")
        victim = await WsClient.open(doomed.ws_url, "dee")
        try:
            await al.call("subscribe", {"ch": ch})
            await bo.call("subscribe", {"ch": ch})
            await victim.call("subscribe", {"ch": ch})
            await al.inbox.until(
                lambda: [j for j in al.inbox.of("join", ch) if j["client"] == victim.id],
                "the victim's join",
            )
            assert victim.id in (await bo.call("presence", {"ch": ch}))["clients"]
            doomed.kill()
            killed = time.monotonic()
            # The entry is refreshed no more: it expires after presence_ttl, and the
            # next upkeep of a surviving node (every presence_ttl / 3) sweeps it.
            for client in (al, bo):
                await client.inbox.until(
                    lambda c=client: [
                        x for x in c.inbox.of("leave", ch) if x["client"] == victim.id
                    ],
                    "the victim's leave",
                    timeout=PRESENCE_TTL + WAIT,
                )
            assert time.monotonic() - killed < PRESENCE_TTL + 5
            clients = (await al.call("presence", {"ch": ch}))["clients"]
            assert set(clients) == {al.id, bo.id}
            # Announced once, by one node, not once per surviving node.
            await asyncio.sleep(PRESENCE_TTL)
            for client in (al, bo):
                leaves = [x for x in client.inbox.of("leave", ch) if x["client"] == victim.id]
                assert len(leaves) == 1, leaves
                assert leaves[0]["user"] == "dee"
        finally:
            await al.close()
            await bo.close()
            await victim.ws.close()

    run(scenario())


def test_recovery_on_another_node_after_a_kill(nodes: list[Node], doomed: Node) -> None:
    """A client of a killed node resumes on another with its position: exactly what it missed."""
    a, b, _ = nodes
    ch = "room:recovery"

    async def scenario() -> None:
        writer = await WsClient.open(a.ws_url, "writer")
        reader = await WsClient.open(doomed.ws_url, "reader")
        try:
            await reader.call("subscribe", {"ch": ch})
            for i in range(1, 4):
                await writer.publish(ch, {"n": i})
            pubs = await reader.wait_pubs(ch, 3)
            last = pubs[-1]
            assert last["o"] == 3
            doomed.kill()
            with pytest.raises(ConnectionError):
                await reader.call("ping", timeout=WAIT)
            for i in range(4, 9):
                await writer.publish(ch, {"n": i})  # missed by the reader
            # The reader comes back on node b, with its session: same client id.
            again = await WsClient.open(b.ws_url, session=reader.session)
            assert again.id == reader.id
            assert again.node == "doomed"  # its identity came with the session
            result = await again.call("subscribe", {"ch": ch, "since": {"e": last["e"], "o": 3}})
            assert result["recovered"] is True
            assert (result["e"], result["o"]) == (last["e"], 8)
            assert [(p["o"], p["d"]) for p in result["pubs"]] == [
                (i, {"n": i}) for i in range(4, 9)
            ]
            # Live ones follow, with no duplicate of the recovered ones.
            for i in range(9, 11):
                await writer.publish(ch, {"n": i})
            live = await again.wait_pubs(ch, 2)
            await asyncio.sleep(0.2)
            assert [(p["o"], p["d"]) for p in again.pubs(ch)] == [(9, {"n": 9}), (10, {"n": 10})]
            assert live[0]["e"] == last["e"]
            await again.close()
        finally:
            await writer.close()
            await reader.ws.close()

    run(scenario())


def test_long_polling_round_robin_without_sticky_sessions(nodes: list[Node]) -> None:
    """connect, subscribe and every poll on a different node: each publication exactly once."""
    ch = "room:rr"
    count = 30

    async def scenario() -> None:
        writer = await WsClient.open(nodes[0].ws_url, "writer")
        async with httpx.AsyncClient() as http:
            poller = PollClient(http, [node.url for node in nodes])
            try:
                hello = await poller.connect("polly")
                await poller.subscribe(ch)
                assert poller.nodes == ["a", "b"]

                async def publish() -> None:
                    for i in range(1, count + 1):
                        await writer.publish(ch, {"n": i})
                        if i % 3 == 0:
                            # A direct message through the personal channel, from
                            # node a to whichever node the poll is held on.
                            await writer.call("tell", {"to": hello["client"], "data": i})
                        await asyncio.sleep(0.01)

                publishing = asyncio.create_task(publish())
                personal = hello["personal"]["ch"]
                deadline = time.monotonic() + 4 * WAIT

                def done() -> bool:
                    return (
                        len(poller.pubs(ch)) >= count and len(poller.pubs(personal)) >= count // 3
                    )

                while not (publishing.done() and done()) and time.monotonic() < deadline:
                    await poller.poll()
                await publishing
            finally:
                await writer.close()
            pubs = poller.pubs(ch)
            assert [(p["o"], p["d"]) for p in pubs] == [(i, {"n": i}) for i in range(1, count + 1)]
            # The personal channel's messages arrive on whichever node polls, too.
            told = poller.pubs(personal)
            assert [p["d"] for p in told] == [
                {"jsonrpc": "2.0", "method": "message",
                 "params": {"data": {"from": "writer", "data": i}}}
                for i in range(3, count + 1, 3)
            ]  # fmt: skip
            assert offsets(told) == list(range(1, count // 3 + 1))
            # Every node answered polls.
            assert set(poller.nodes[2:]) == {"a", "b", "c"}
            assert not [m for m in poller.received if m.get("method") not in {"pub", "join"}]

    run(scenario())


def test_presence_of_a_long_polling_client_spans_nodes(nodes: list[Node]) -> None:
    """A polling client is present while it polls (on any node) and expires when it stops."""
    ch = "room:pollers"

    async def scenario() -> None:
        watcher = await WsClient.open(nodes[2].ws_url, "watcher")
        async with httpx.AsyncClient() as http:
            poller = PollClient(http, [nodes[0].url, nodes[1].url])
            try:
                await watcher.call("subscribe", {"ch": ch})
                await poller.connect("polly")
                await poller.subscribe(ch)
                await watcher.inbox.until(
                    lambda: [j for j in watcher.inbox.of("join", ch) if j["user"] == "polly"],
                    "the poller's join",
                )
                for _ in range(2):  # polls, alternating between a and b, keep it present
                    await poller.poll()
                    assert (
                        poller.client_id in (await watcher.call("presence", {"ch": ch}))["clients"]
                    )
                assert not watcher.inbox.of("leave", ch)
                # It stops polling: gone after presence_ttl.
                await watcher.inbox.until(
                    lambda: watcher.inbox.of("leave", ch), "the poller's leave", PRESENCE_TTL + WAIT
                )
                assert watcher.inbox.of("leave", ch)[0]["client"] == poller.client_id
            finally:
                await watcher.close()

    run(scenario())


def test_redis_restart(redis: RedisServer) -> None:
    """Redis goes away and comes back (empty): publishes in between are refused with
    -32005, never lost silently; afterwards every accepted publication is delivered."""
    require_redis_server()
    ch = "room:outage"
    with RedisServer() as own, cluster(own, "p", "q") as (p, q):

        async def scenario() -> None:
            writer = await WsClient.open(p.ws_url, "writer")
            reader = await WsClient.open(q.ws_url, "reader")
            try:
                await reader.call("subscribe", {"ch": ch})
                before = [await writer.publish(ch, {"n": i}) for i in range(3)]
                await reader.wait_pubs(ch, 3)

                own.stop()
                for i in range(3):
                    with pytest.raises(RpcError) as caught:
                        await writer.publish(ch, {"lost": i})
                    assert caught.value.code == UNAVAILABLE
                for method, params in (
                    ("history", {"ch": ch}),
                    ("presence", {"ch": ch}),
                    ("subscribe", {"ch": "room:other"}),
                ):
                    with pytest.raises(RpcError) as caught:
                        await reader.call(method, params)
                    assert caught.value.code == UNAVAILABLE, method
                # The connections stay open through the outage.
                assert await reader.call("ping") == "pong"

                own.start()
                # Publish as fast as possible from node p as soon as it can: node q
                # may not have resubscribed yet, and must fill that gap from history.
                accepted: list[tuple[str, int, int]] = []
                deadline = time.monotonic() + 3 * WAIT
                n = 0
                while len(accepted) < 10 and time.monotonic() < deadline:
                    n += 1
                    try:
                        result = await writer.publish(ch, {"after": n})
                    except RpcError as exc:
                        if exc.code != UNAVAILABLE:
                            raise
                        await asyncio.sleep(0.01)
                        continue
                    accepted.append((result["e"], result["o"], n))
                assert len(accepted) == 10, "publishing never worked again after Redis came back"
                epoch = accepted[0][0]
                assert epoch != before[0]["e"], "Redis came back empty: the channel's epoch is new"
                assert [o for _, o, _ in accepted] == list(range(1, 11))

                await reader.inbox.until(
                    lambda: len([x for x in reader.pubs(ch) if "after" in x["d"]]) >= 10,
                    "the publications made after the restart",
                    timeout=3 * WAIT,
                )
                await asyncio.sleep(0.3)
                pubs = reader.pubs(ch)
                assert [p["d"] for p in pubs[:3]] == [{"n": i} for i in range(3)]
                assert not [x for x in pubs if "lost" in x["d"]]
                after = [(x["e"], x["o"], x["d"]["after"]) for x in pubs[3:]]
                assert after == accepted, "each accepted publication once, in order"
                # And the hub works again both ways, presence included.
                await reader.call("subscribe", {"ch": "room:other"})
                result = await writer.publish("room:other", "hi")
                assert result["o"] == 1
                await reader.wait_pubs("room:other", 1)
                # Presence was wiped with Redis: the nodes' upkeep puts the
                # WebSocket clients back (within presence_ttl / 3).
                deadline = time.monotonic() + PRESENCE_TTL + WAIT
                while time.monotonic() < deadline:
                    if reader.id in (await writer.call("presence", {"ch": ch}))["clients"]:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the reader's presence never came back")
            finally:
                await writer.close()
                await reader.close()

        run(scenario(), timeout=90)


HUB_SECRET = "a-hub-secret-for-the-cluster-tests-0123456789"


async def sessions_work_both_ways(p: Node, late: Node, before: WsClient) -> None:
    """``before``'s session (signed by p) works on ``late``, and one ``late`` signs works on p."""
    again = await WsClient.open(late.ws_url, session=before.session)
    await again.close()
    fresh = await WsClient.open(late.ws_url, "fresh")
    await fresh.close()
    back = await WsClient.open(p.ws_url, session=fresh.session)
    await back.close()
    assert (again.id, again.hello["user"]) == (before.id, "early")
    assert (back.id, back.hello["user"]) == (fresh.id, "fresh")


async def redis_get(url: str, key: str) -> bytes | None:
    client = aioredis.Redis.from_url(url)
    try:
        value: bytes | None = await client.get(key)
        return value
    finally:
        await client.aclose()


def test_a_configured_secret_survives_a_redis_restart(redis: RedisServer) -> None:
    """Redis lost everything: a node started afterwards accepts the sessions the running
    nodes signed (a load balancer mixes them), as they share ``Hub(secret=...)``."""
    env = {"LONGWIRE_HUB_SECRET": HUB_SECRET}
    with RedisServer() as own, cluster(own, "p", env=env) as (p,):

        async def scenario() -> None:
            before = await WsClient.open(p.ws_url, "early")
            await before.close()
            own.restart()
            with cluster(own, "late", env=env) as (late,):
                await sessions_work_both_ways(p, late, before)
            # A configured secret never goes to Redis.
            assert await redis_get(own.url, "lw:secret") is None

        run(scenario(), timeout=60)


def test_running_nodes_write_the_secret_back_after_a_redis_restart(redis: RedisServer) -> None:
    """Without ``Hub(secret=...)``: Redis lost ``lw:secret``; the running node writes its
    own back, so a node started after that signs and accepts with the same one."""
    with RedisServer() as own, cluster(own, "p") as (p,):

        async def scenario() -> None:
            before = await WsClient.open(p.ws_url, "early")
            await before.close()
            secret = await redis_get(own.url, "lw:secret")
            assert secret is not None
            own.restart()
            # p writes it back when its pub/sub reconnects, else at its next upkeep
            # (every presence_ttl / 3).
            deadline = time.monotonic() + WAIT
            while (held := await redis_get(own.url, "lw:secret")) is None:
                assert time.monotonic() < deadline, "p never wrote its secret back"
                await asyncio.sleep(0.05)
            assert held == secret
            with cluster(own, "late") as (late,):
                await sessions_work_both_ways(p, late, before)

        run(scenario(), timeout=60)
