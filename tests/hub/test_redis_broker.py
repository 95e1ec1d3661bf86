"""RedisBroker beyond the shared contract: several nodes, outages, the missing extra.

Each test runs its own redis-server (tests/redis_server.py), which some restart.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis.asyncio

from leakcheck import run_without_leaks
from longwire.hub._broker import BrokerUnavailable, Position, Publication, broker_from_url
from longwire.hub._redis import RedisBroker
from redis_server import RedisServer, require_redis_server


@pytest.fixture
def server() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer() as server:
        yield server


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return run_without_leaks(coro, timeout=30)


class Node:
    """A RedisBroker started with callbacks that record what it delivers."""

    def __init__(self, url: str, **options: Any) -> None:
        self.broker = RedisBroker(url, **options)
        self.publications: list[Publication] = []
        self.controls: list[tuple[str, str]] = []

    async def __aenter__(self) -> Node:
        await self.broker.start(self.publications.append, self._on_control)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.broker.close()

    def _on_control(self, channel: str, message: str) -> None:
        self.controls.append((channel, message))


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def pubsub_clients(url: str) -> int:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return len(await client.client_list(_type="pubsub"))
    finally:
        await client.aclose()


def test_broker_from_url_makes_a_redis_broker(server: RedisServer) -> None:
    async def main() -> None:
        broker = broker_from_url(server.url)
        assert isinstance(broker, RedisBroker)
        await broker.close()

    run(main())


def test_two_nodes_share_publications_and_presence(server: RedisServer) -> None:
    async def main() -> None:
        async with Node(server.url) as a, Node(server.url) as b:
            await a.broker.subscribe("room")
            await b.broker.subscribe("room")
            first = await a.broker.publish("room", "1", history_size=10, history_ttl=60)
            second = await b.broker.publish("room", "2", history_size=10, history_ttl=60)
            assert (first.epoch, first.offset) == (second.epoch, 1)
            assert second.offset == 2
            await b.broker.publish_control("room", "hello")
            await until(lambda: len(a.controls) == len(b.controls) == 1)
            assert a.publications == b.publications == [first, second]
            assert a.controls == b.controls == [("room", "hello")]

            assert await a.broker.presence_add("room", "alice", "{}", 60) is True
            assert await b.broker.presence_add("room", "alice", "{}", 60) is False
            assert await b.broker.presence("room") == {"alice": "{}"}
            assert await b.broker.presence_remove("room", "alice") == "{}"
            assert await a.broker.presence("room") == {}
            assert await a.broker.shared_secret() == await b.broker.shared_secret()

    run(main())


def test_concurrent_sweeps_from_two_nodes_return_each_entry_once(server: RedisServer) -> None:
    async def main() -> None:
        async with Node(server.url) as a, Node(server.url) as b:
            entries = {(f"ch{i % 7}", f"client{i}", f'"{i}"') for i in range(120)}
            await asyncio.gather(
                *(a.broker.presence_add(c, client, info, 0.2) for c, client, info in entries)
            )
            await a.broker.presence_add("ch0", "stays", "{}", 60)
            await asyncio.sleep(0.4)
            sweeps = await asyncio.gather(
                *(node.broker.presence_expired() for node in (a, b, a, b, a, b))
            )
            swept = [entry for sweep in sweeps for entry in sweep]
            assert len(swept) == len(entries)
            assert set(swept) == entries
            assert await b.broker.presence("ch0") == {"stays": "{}"}

    run(main())


def test_sweep_index_follows_the_earliest_expiry(server: RedisServer) -> None:
    # The index must keep a channel whose first entries were swept but which
    # still holds later ones, and pick up joins made between the sweep's steps.
    async def main() -> None:
        async with Node(server.url) as a:
            broker = a.broker
            await broker.presence_add("room", "early", "1", 0.1)
            await broker.presence_add("room", "late", "2", 0.6)
            await asyncio.sleep(0.25)
            assert await broker.presence_expired() == [("room", "early", "1")]
            await broker.presence_add("room", "sooner", "3", 0.1)
            await asyncio.sleep(0.25)
            assert await broker.presence_expired() == [("room", "sooner", "3")]
            await asyncio.sleep(0.4)
            assert await broker.presence_expired() == [("room", "late", "2")]
            assert await broker.presence_expired() == []

    run(main())


def test_a_restart_makes_commands_fail_fast_then_work(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="longwire.hub")

    async def main() -> None:
        async with Node(server.url, reconnect_min=0.05, reconnect_max=0.2) as a:
            await a.broker.subscribe("room")
            await a.broker.publish("room", "before", history_size=10, history_ttl=60)
            await until(lambda: len(a.publications) == 1)

            server.stop()
            for call in (
                lambda: a.broker.publish("room", "lost", history_size=10, history_ttl=60),
                lambda: a.broker.history("room", since=None, limit=None),
                lambda: a.broker.presence_add("room", "alice", "{}", 60),
                lambda: a.broker.subscribe("other"),
                a.broker.shared_secret,
            ):
                started = time.monotonic()
                with pytest.raises(BrokerUnavailable):
                    await call()
                assert time.monotonic() - started < 3
            await asyncio.sleep(1)  # several reconnection attempts, one warning
            server.start()

            # The restarted Redis has no data: a new epoch, from offset 1.
            after = await a.broker.publish("room", "after", history_size=10, history_ttl=60)
            assert after.offset == 1
            await until(lambda: a.publications[-1] == after)
            assert [p.data for p in a.publications] == ["before", "after"]
            await a.broker.subscribe("other")

        lost = [r for r in caplog.records if r.getMessage().startswith("lost Redis pub/sub")]
        back = [r for r in caplog.records if r.getMessage().startswith("reconnected")]
        assert len(lost) == len(back) == 1

    run(main())


def test_gap_during_a_pubsub_outage_is_filled_from_the_stream(server: RedisServer) -> None:
    async def main() -> None:
        # Node a reconnects slowly, so that b publishes while a is away.
        async with Node(server.url, reconnect_min=1.0) as a, Node(server.url) as b:
            await a.broker.subscribe("room")
            await a.broker.subscribe("idle")  # nothing delivered yet: gap from its baseline
            for i in (1, 2):
                await b.broker.publish("room", str(i), history_size=10, history_ttl=60)
            await until(lambda: len(a.publications) == 2)

            killer = redis.asyncio.Redis.from_url(server.url)
            try:
                await killer.client_kill_filter(_type="pubsub")
                for i in (3, 4, 5):
                    await b.broker.publish("room", str(i), history_size=10, history_ttl=60)
                await b.broker.publish("idle", "x", history_size=10, history_ttl=60)
                # Made while a had no pub/sub connection (else this test proves nothing).
                assert len(await killer.client_list(_type="pubsub")) == 0
            finally:
                await killer.aclose()

            live = await b.broker.publish("room", "6", history_size=10, history_ttl=60)
            await until(lambda: len(a.publications) == 7)
            await asyncio.sleep(0.1)  # no duplicate trailing behind
            room = [p for p in a.publications if p.channel == "room"]
            assert [p.offset for p in room] == [1, 2, 3, 4, 5, 6]
            assert [p.data for p in room] == ["1", "2", "3", "4", "5", "6"]
            assert room[-1] == live
            idle = [p for p in a.publications if p.channel == "idle"]
            assert [(p.offset, p.data) for p in idle] == [(1, "x")]

    run(main())


def test_gap_across_a_restart_delivers_the_new_epoch(server: RedisServer) -> None:
    async def main() -> None:
        async with Node(server.url, reconnect_min=1.5, reconnect_max=1.5) as a:
            async with Node(server.url) as b:
                await a.broker.subscribe("room")
                old = await b.broker.publish("room", "old", history_size=10, history_ttl=60)
                await until(lambda: len(a.publications) == 1)
                server.restart()
                # Let the nodes see their connections closed (the loop was blocked).
                await asyncio.sleep(0.2)
                new = [
                    await b.broker.publish("room", f"new{i}", history_size=10, history_ttl=60)
                    for i in (1, 2)
                ]
                assert await pubsub_clients(server.url) == 0
            await until(lambda: len(a.publications) == 3)
            assert a.publications == [old, *new]
            assert new[0].epoch != old.epoch
            # Live delivery goes on after the gap fill.
            newer = await a.broker.publish("room", "new3", history_size=10, history_ttl=60)
            await until(lambda: a.publications[-1] == newer)
            assert [p.offset for p in a.publications] == [1, 1, 2, 3]

    run(main())


def test_baseline_history_position(server: RedisServer) -> None:
    async def main() -> None:
        async with Node(server.url) as a:
            await a.broker.publish("room", "1", history_size=10, history_ttl=60)
            await a.broker.subscribe("room")
            # Subscribing does not deliver what was published before.
            await a.broker.publish("room", "2", history_size=10, history_ttl=60)
            await until(lambda: len(a.publications) == 1)
            assert a.publications[0].offset == 2
            history = await a.broker.history(
                "room", since=Position(a.publications[0].epoch, 1), limit=None
            )
            assert history.publications == a.publications

    run(main())


def test_the_secret_is_written_back_when_pubsub_reconnects(server: RedisServer) -> None:
    # Redis restarted without its data: the node writes back the secret it holds
    # as soon as it is reconnected, so a node started afterwards reads the same one.
    async def main() -> None:
        async with Node(server.url, reconnect_min=0.05, reconnect_max=0.2) as a:
            secret = await a.broker.shared_secret()
            server.restart()
            checker = redis.asyncio.Redis.from_url(server.url)
            try:
                async with asyncio.timeout(10):
                    while await checker.get("lw:secret") is None:
                        await asyncio.sleep(0.02)
                assert await checker.get("lw:secret") == secret.hex().encode()
            finally:
                await checker.aclose()
            async with Node(server.url) as late:
                assert await late.broker.shared_secret() == secret

    run(main())


def test_a_broker_that_never_read_the_secret_writes_none(server: RedisServer) -> None:
    # A hub given its own secret never asks the broker for one: nothing to write back.
    async def main() -> None:
        async with Node(server.url, reconnect_min=0.05, reconnect_max=0.2) as a:
            await a.broker.subscribe("room")
            server.restart()
            async with asyncio.timeout(10):  # resubscribed: reconnected
                while await pubsub_clients(server.url) == 0:
                    await asyncio.sleep(0.02)
            checker = redis.asyncio.Redis.from_url(server.url)
            try:
                assert await checker.exists("lw:secret") == 0
            finally:
                await checker.aclose()

    run(main())


def test_without_the_extra_the_import_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(sys.modules):
        if name == "redis" or name.startswith("redis."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "longwire.hub._redis")
    with pytest.raises(ImportError, match=r"pip install 'longwire\[redis\]'") as caught:
        importlib.import_module("longwire.hub._redis")
    assert str(caught.value) == (
        "the redis:// broker needs the redis extra: pip install 'longwire[redis]'"
    )
    with pytest.raises(ImportError, match="redis extra"):
        broker_from_url("redis://127.0.0.1:6379/0")
