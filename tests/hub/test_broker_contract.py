"""The Broker contract (longwire/hub/_broker.py), run against every broker.

``memory://`` and ``redis://`` (a real redis-server, tests/redis_server.py) must
give the same answers: offsets, epochs, history and its ``complete`` flag, live
delivery, control messages, presence and its sweep, the shared secret.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest

from leakcheck import run_without_leaks
from longwire.hub._broker import Broker, Position, Publication
from longwire.hub._memory import MemoryBroker
from redis_server import RedisServer, require_redis_server

BrokerFactory = Callable[[], Broker]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def new_broker(request: pytest.FixtureRequest) -> BrokerFactory:
    """Makes brokers of one kind; the redis ones of a test share a fresh key prefix."""
    if request.param == "memory":
        return MemoryBroker
    from longwire.hub._redis import RedisBroker

    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    return lambda: RedisBroker(server.url, prefix=prefix)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return run_without_leaks(coro, timeout=30)


class Recorder:
    """The callbacks given to ``Broker.start``: keeps what was delivered."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.controls: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def on_publication(self, publication: Publication) -> None:
        self.publications.append(publication)
        self._changed.set()

    def on_control(self, channel: str, message: str) -> None:
        self.controls.append((channel, message))
        self._changed.set()

    async def wait(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._changed.clear()
                await self._changed.wait()


async def started(new_broker: BrokerFactory) -> tuple[Broker, Recorder]:
    broker = new_broker()
    recorder = Recorder()
    await broker.start(recorder.on_publication, recorder.on_control)
    return broker, recorder


def with_broker(
    new_broker: BrokerFactory, body: Callable[[Broker, Recorder], Awaitable[None]]
) -> None:
    async def main() -> None:
        broker, recorder = await started(new_broker)
        try:
            await body(broker, recorder)
        finally:
            await broker.close()

    run(main())


# Offsets and epochs ---------------------------------------------------------------


def test_offsets_count_up_from_one_in_one_epoch(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        published = [
            await broker.publish("room", f'"m{i}"', history_size=10, history_ttl=60)
            for i in range(1, 4)
        ]
        assert [p.offset for p in published] == [1, 2, 3]
        assert [p.data for p in published] == ['"m1"', '"m2"', '"m3"']
        assert {p.channel for p in published} == {"room"}
        assert len({p.epoch for p in published}) == 1
        other = await broker.publish("other", "1", history_size=10, history_ttl=60)
        assert other.offset == 1

    with_broker(new_broker, body)


def test_epoch_is_new_once_the_history_expired(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        first = await broker.publish("room", "1", history_size=10, history_ttl=0.3)
        second = await broker.publish("room", "2", history_size=10, history_ttl=0.3)
        assert second.epoch == first.epoch
        assert second.offset == 2
        await asyncio.sleep(0.5)
        third = await broker.publish("room", "3", history_size=10, history_ttl=0.3)
        assert third.epoch != first.epoch
        assert third.offset == 1
        history = await broker.history("room", since=Position(first.epoch, 2), limit=None)
        assert history == (Position(third.epoch, 1), [], False)

    with_broker(new_broker, body)


# History ---------------------------------------------------------------

# Five publications, three kept: offsets 3, 4, 5. (since offset, limit) →
# (offsets returned, complete).
SINCE_CASES = [
    pytest.param(5, None, [], True, id="up-to-date"),
    pytest.param(2, None, [3, 4, 5], True, id="all-kept"),
    pytest.param(4, None, [5], True, id="one-missed"),
    pytest.param(1, None, [3, 4, 5], False, id="trimmed-past"),
    pytest.param(0, None, [3, 4, 5], False, id="from-zero-trimmed"),
    pytest.param(3, 1, [4], False, id="limit-cuts"),
    pytest.param(3, 2, [4, 5], True, id="limit-exact"),
    pytest.param(2, 0, [], False, id="limit-zero-missed"),
    pytest.param(5, 0, [], True, id="limit-zero-up-to-date"),
    pytest.param(1, 2, [3, 4], False, id="trimmed-and-limit"),
    pytest.param(6, None, [], False, id="future-offset"),
]


@pytest.mark.parametrize(("since", "limit", "offsets", "complete"), SINCE_CASES)
def test_history_since(
    new_broker: BrokerFactory, since: int, limit: int | None, offsets: list[int], complete: bool
) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        for i in range(1, 6):
            last = await broker.publish("room", str(i), history_size=3, history_ttl=60)
        history = await broker.history("room", since=Position(last.epoch, since), limit=limit)
        assert history.position == Position(last.epoch, 5)
        assert [p.offset for p in history.publications] == offsets
        assert [p.data for p in history.publications] == [str(o) for o in offsets]
        assert {(p.channel, p.epoch) for p in history.publications} <= {("room", last.epoch)}
        assert history.complete is complete

    with_broker(new_broker, body)


def test_history_since_another_epoch(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        last = await broker.publish("room", "1", history_size=3, history_ttl=60)
        history = await broker.history("room", since=Position("other", 0), limit=None)
        assert history == (Position(last.epoch, 1), [], False)

    with_broker(new_broker, body)


@pytest.mark.parametrize(
    ("limit", "offsets"), [(None, [3, 4, 5]), (2, [4, 5]), (5, [3, 4, 5]), (0, [])]
)
def test_history_latest(new_broker: BrokerFactory, limit: int | None, offsets: list[int]) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        for i in range(1, 6):
            last = await broker.publish("room", str(i), history_size=3, history_ttl=60)
        history = await broker.history("room", since=None, limit=limit)
        assert history.position == Position(last.epoch, 5)
        assert [p.offset for p in history.publications] == offsets
        assert history.complete

    with_broker(new_broker, body)


def test_history_of_an_empty_channel_fixes_its_epoch(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        empty = await broker.history("room", since=None, limit=None)
        assert empty.position.offset == 0
        assert empty.publications == []
        assert empty.complete
        again = await broker.history("room", since=Position(empty.position.epoch, 0), limit=None)
        assert again == (empty.position, [], True)
        stranger = await broker.history("room", since=Position("other", 0), limit=None)
        assert stranger == (empty.position, [], False)
        first = await broker.publish("room", "1", history_size=3, history_ttl=60)
        assert (first.epoch, first.offset) == (empty.position.epoch, 1)
        caught_up = await broker.history("room", since=empty.position, limit=None)
        assert caught_up == (Position(first.epoch, 1), [first], True)

    with_broker(new_broker, body)


def test_history_size_zero_counts_offsets_but_keeps_nothing(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        for i in range(1, 4):
            last = await broker.publish("room", str(i), history_size=0, history_ttl=60)
        assert last.offset == 3
        assert await broker.history("room", since=None, limit=None) == (
            Position(last.epoch, 3),
            [],
            True,
        )
        behind = await broker.history("room", since=Position(last.epoch, 2), limit=None)
        assert behind == (Position(last.epoch, 3), [], False)
        level = await broker.history("room", since=Position(last.epoch, 3), limit=None)
        assert level == (Position(last.epoch, 3), [], True)

    with_broker(new_broker, body)


def test_history_size_change_trims_to_the_latest(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        for i in range(1, 6):
            await broker.publish("room", str(i), history_size=10, history_ttl=60)
        last = await broker.publish("room", "6", history_size=2, history_ttl=60)
        history = await broker.history("room", since=None, limit=None)
        assert [p.offset for p in history.publications] == [5, 6]
        await broker.publish("room", "7", history_size=0, history_ttl=60)
        await broker.publish("room", "8", history_size=4, history_ttl=60)
        history = await broker.history("room", since=Position(last.epoch, 7), limit=None)
        assert [p.offset for p in history.publications] == [8]
        assert history.complete

    with_broker(new_broker, body)


# Live delivery ---------------------------------------------------------------


def test_live_delivery_in_offset_order_to_subscribed_channels_only(
    new_broker: BrokerFactory,
) -> None:
    async def body(broker: Broker, recorder: Recorder) -> None:
        await broker.subscribe("a")
        await broker.subscribe("a")  # idempotent

        async def publisher(n: int) -> None:
            for i in range(10):
                await broker.publish("a", f'"{n}-{i}"', history_size=100, history_ttl=60)
                await broker.publish("b", f'"{n}-{i}"', history_size=100, history_ttl=60)

        await asyncio.gather(*(publisher(n) for n in range(4)))
        await recorder.wait(lambda: len(recorder.publications) >= 40)
        received = recorder.publications
        assert {p.channel for p in received} == {"a"}
        assert [p.offset for p in received] == list(range(1, 41))
        expected = {f'"{n}-{i}"' for n, i in itertools.product(range(4), range(10))}
        assert sorted(p.data for p in received) == sorted(expected)
        history = await broker.history("a", since=None, limit=None)
        assert history.publications == received

    with_broker(new_broker, body)


def test_unsubscribe_stops_delivery(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, recorder: Recorder) -> None:
        await broker.subscribe("a")
        await broker.subscribe("sentinel")
        await broker.publish("a", "1", history_size=10, history_ttl=60)
        await recorder.wait(lambda: len(recorder.publications) == 1)
        await broker.unsubscribe("a")
        await broker.unsubscribe("a")  # idempotent
        await broker.unsubscribe("never")
        await broker.publish("a", "2", history_size=10, history_ttl=60)
        # One pub/sub stream per node: once the sentinel is here, "a" would be too.
        await broker.publish("sentinel", "s", history_size=10, history_ttl=60)
        await recorder.wait(lambda: recorder.publications[-1].channel == "sentinel")
        assert [(p.channel, p.data) for p in recorder.publications] == [
            ("a", "1"),
            ("sentinel", "s"),
        ]
        await broker.subscribe("a")
        third = await broker.publish("a", "3", history_size=10, history_ttl=60)
        await recorder.wait(lambda: recorder.publications[-1] == third)

    with_broker(new_broker, body)


def test_control_messages_reach_subscribed_channels_without_history(
    new_broker: BrokerFactory,
) -> None:
    async def body(broker: Broker, recorder: Recorder) -> None:
        await broker.subscribe("a")
        await broker.publish_control("a", '{"kick":"x"}')
        await broker.publish_control("b", "ignored")
        await broker.publish_control("a", "")
        await recorder.wait(lambda: len(recorder.controls) == 2)
        assert recorder.controls == [("a", '{"kick":"x"}'), ("a", "")]
        assert recorder.publications == []
        history = await broker.history("a", since=None, limit=None)
        assert history.position.offset == 0

    with_broker(new_broker, body)


def test_data_is_kept_verbatim(new_broker: BrokerFactory) -> None:
    data = '{"text":"caf\\u00e9 ☕ with spaces\\nand a newline","n":[1,2]}'

    async def body(broker: Broker, recorder: Recorder) -> None:
        await broker.subscribe("a b")
        published = await broker.publish("a b", data, history_size=1, history_ttl=60)
        await recorder.wait(lambda: len(recorder.publications) == 1)
        assert recorder.publications == [published]
        assert published.data == data
        history = await broker.history("a b", since=None, limit=None)
        assert history.publications == [published]

    with_broker(new_broker, body)


# Presence ---------------------------------------------------------------


def test_presence_add_remove_list(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        assert await broker.presence("room") == {}
        assert await broker.presence_add("room", "alice", '{"n":1}', 60) is True
        assert await broker.presence_add("room", "alice", '{"n":2}', 60) is False
        assert await broker.presence_add("room", "bob", '{"n":3}', 60) is True
        assert await broker.presence_add("other", "alice", "{}", 60) is True
        assert await broker.presence("room") == {"alice": '{"n":2}', "bob": '{"n":3}'}
        assert await broker.presence_remove("room", "alice") == '{"n":2}'
        assert await broker.presence_remove("room", "alice") is None
        assert await broker.presence_remove("nowhere", "alice") is None
        assert await broker.presence("room") == {"bob": '{"n":3}'}
        assert await broker.presence("other") == {"alice": "{}"}
        assert await broker.presence_expired() == []

    with_broker(new_broker, body)


def test_presence_refresh_extends_and_never_creates(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        assert await broker.presence_refresh("room", "alice", 60) is False
        assert await broker.presence("room") == {}
        await broker.presence_add("room", "alice", '"a"', 0.2)
        assert await broker.presence_refresh("room", "alice", 60) is True
        await asyncio.sleep(0.3)
        assert await broker.presence("room") == {"alice": '"a"'}
        # An expired entry is not revived: the sweep announces it.
        await broker.presence_add("room", "bob", '"b"', 0.1)
        await asyncio.sleep(0.2)
        assert await broker.presence_refresh("room", "bob", 60) is False
        assert await broker.presence_expired() == [("room", "bob", '"b"')]
        await broker.presence_remove("room", "alice")
        assert await broker.presence_refresh("room", "alice", 60) is False
        assert await broker.presence("room") == {}

    with_broker(new_broker, body)


def test_presence_expiry_and_sweep(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        await broker.presence_add("room", "short", '"s"', 0.1)
        await broker.presence_add("room", "long", '"l"', 60)
        await broker.presence_add("other", "short", '"o"', 0.1)
        await broker.presence_add("other", "gone", '"g"', 0.1)
        await asyncio.sleep(0.3)
        assert await broker.presence("room") == {"long": '"l"'}
        assert await broker.presence("other") == {}
        # A removed expired entry was no longer there: no leave to announce.
        assert await broker.presence_remove("other", "gone") is None
        sweeps = await asyncio.gather(*(broker.presence_expired() for _ in range(3)))
        swept = [entry for sweep in sweeps for entry in sweep]
        assert sorted(swept) == [("other", "short", '"o"'), ("room", "short", '"s"')]
        assert await broker.presence_expired() == []
        assert await broker.presence("room") == {"long": '"l"'}

    with_broker(new_broker, body)


def test_presence_rejoin_after_expiry_is_a_join(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        assert await broker.presence_add("room", "alice", "1", 0.1) is True
        await asyncio.sleep(0.25)
        assert await broker.presence_add("room", "alice", "2", 60) is True
        assert await broker.presence_expired() == []
        assert await broker.presence("room") == {"alice": "2"}

    with_broker(new_broker, body)


def test_presence_refresh_keeps_the_entry(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        await broker.presence_add("room", "alice", "1", 0.3)
        for _ in range(3):
            await asyncio.sleep(0.15)
            assert await broker.presence_add("room", "alice", "1", 0.3) is False
        assert await broker.presence_expired() == []
        await asyncio.sleep(0.4)
        assert await broker.presence_expired() == [("room", "alice", "1")]

    with_broker(new_broker, body)


# Shared secret ---------------------------------------------------------------


def test_shared_secret_is_stable(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        secret = await broker.shared_secret()
        assert isinstance(secret, bytes)
        assert len(secret) >= 16
        assert await broker.shared_secret() == secret

    with_broker(new_broker, body)


def test_close_is_idempotent(new_broker: BrokerFactory) -> None:
    async def main() -> None:
        broker, _ = await started(new_broker)
        await broker.subscribe("a")
        await broker.close()
        await broker.close()

    run(main())


def test_offer_secret_stores_it_only_when_none_is_held(new_broker: BrokerFactory) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        first, second = b"1" * 32, b"2" * 32
        assert await broker.offer_secret(first) == first  # none held: stored
        assert await broker.offer_secret(second) == first  # one held: kept
        assert await broker.shared_secret() == first

    with_broker(new_broker, body)


def test_offer_secret_after_shared_secret_keeps_the_shared_one(
    new_broker: BrokerFactory,
) -> None:
    async def body(broker: Broker, _: Recorder) -> None:
        secret = await broker.shared_secret()
        assert await broker.offer_secret(b"x" * 32) == secret
        assert await broker.shared_secret() == secret

    with_broker(new_broker, body)


def test_the_memory_broker_forgets_expired_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each client's personal channel is a channel: expired ones must not pile up."""
    from longwire.hub import _memory

    monkeypatch.setattr(_memory, "_EMPTY_STREAM_TTL", 0.05)
    monkeypatch.setattr(_memory, "_SWEEP_INTERVAL", 0.05)

    async def main() -> None:
        broker = _memory.MemoryBroker()
        for n in range(100):
            await broker.history(f"#client{n}", since=None, limit=0)
        await broker.publish("kept", "1", history_size=10, history_ttl=60)
        await asyncio.sleep(0.1)
        await broker.history("#late", since=None, limit=0)
        assert set(broker._streams) == {"kept", "#late"}
        kept = await broker.history("kept", since=None, limit=None)
        assert [publication.data for publication in kept.publications] == ["1"]

    asyncio.run(main())
