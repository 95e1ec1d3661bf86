"""The secret that signs sessions and grants: ``Hub(secret=...)``, or the broker's.

With a configured secret, hubs on different brokers accept each other's
sessions and the broker is never asked for one. Without, a node writes its
secret back when the broker lost it, and adopts the broker's when another
node's won (still accepting what it signed before).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
import redis.asyncio

from leakcheck import run_without_leaks
from longwire.hub import Hub, HubClient, Identity, InvalidToken, MemoryBroker, sign_token
from longwire.hub._redis import RedisBroker
from redis_server import RedisServer, require_redis_server

SECRET = "a-secret-of-at-least-16-bytes"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return run_without_leaks(coro, timeout=30)


def client(user: str = "ada") -> HubClient:
    return HubClient(f"id-{user}", Identity(user, {"c": 1}), transport="ws")


def from_session(hub: Hub, session: str) -> HubClient:
    return hub.client_from_session(session, transport="ws", request=None)


@pytest.mark.parametrize(
    ("secret", "error", "match"),
    [
        ("", ValueError, "empty"),
        (b"", ValueError, "empty"),
        ("short", ValueError, "at least 16 bytes, not 5"),
        (b"x" * 15, ValueError, "at least 16 bytes, not 15"),
        (12345678901234567890, TypeError, "str or bytes"),
    ],
)
def test_a_weak_or_wrong_secret_is_refused(secret: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Hub(secret=secret)


def test_the_length_is_counted_in_utf8_bytes() -> None:
    Hub(secret="\u00e9" * 8)  # 8 characters, 16 bytes
    Hub(secret=b"x" * 16)
    with pytest.raises(ValueError, match="not 15"):
        Hub(secret="\u00e9" * 7 + "x")


def test_hubs_with_the_same_secret_accept_each_others_sessions_and_grants() -> None:
    async def main() -> None:
        one = Hub(MemoryBroker(), secret=SECRET)
        two = Hub(MemoryBroker(), secret=SECRET.encode())
        other = Hub(MemoryBroker(), secret="another-secret-of-16-bytes")
        for hub in (one, two, other):
            await hub.start()
        try:
            ada = client()
            session = one.session_of(ada)
            back = from_session(two, session)
            assert (back.id, back.user, back.info) == (ada.id, "ada", {"c": 1})
            with pytest.raises(InvalidToken):
                from_session(other, session)
            # A grant (what hub.subscribe sends) made with the secret works on both.
            grant = sign_token(SECRET, None, cid=ada.id, gch="private:x", use="grant")
            assert await two.may_subscribe(ada, "private:x", grant) is not None
            # The broker was never asked for a secret, nor given one.
            await one._upkeep_once()
            for hub in (one, two):
                assert await hub.broker.offer_secret(b"b" * 32) == b"b" * 32
        finally:
            for hub in (one, two, other):
                await hub.close()

    run(main())


def test_without_a_secret_the_brokers_one_signs() -> None:
    async def main() -> None:
        broker = MemoryBroker()
        hub = Hub(broker)
        await hub.start()
        try:
            session = hub.session_of(client())
            assert from_session(Hub(secret=await broker.shared_secret()), session).user == "ada"
        finally:
            await hub.close()

    run(main())


# With Redis ---------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer() as server:
        yield server


def test_a_node_writes_its_secret_back_and_adopts_another_nodes(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    key = prefix + "secret"

    async def main() -> None:
        p = Hub(RedisBroker(redis_server.url, prefix=prefix))
        await p.start()
        checker = redis.asyncio.Redis.from_url(redis_server.url)
        late: Hub | None = None
        try:
            first = await checker.get(key)
            assert first is not None
            # Redis lost its data: p's upkeep writes the secret back.
            await checker.delete(key)
            await p._upkeep_once()
            assert await checker.get(key) == first
            early = p.session_of(client("early"))

            # Lost again, and a node started meanwhile made another secret.
            await checker.delete(key)
            late = Hub(RedisBroker(redis_server.url, prefix=prefix))
            await late.start()
            assert await checker.get(key) != first
            with pytest.raises(InvalidToken):
                from_session(late, early)  # the race Hub(secret=...) avoids

            # p adopts it (and says so): what either signs now works on both...
            with caplog.at_level(logging.WARNING, logger="longwire.hub"):
                await p._upkeep_once()
            assert "another hub secret" in caplog.text
            assert from_session(late, p.session_of(client("p"))).user == "p"
            assert from_session(p, late.session_of(client("late"))).user == "late"
            # ... and p still accepts the sessions it signed before.
            assert from_session(p, early).user == "early"
            stranger = Hub(secret="x" * 32).session_of(client("stranger"))
            with pytest.raises(InvalidToken):
                from_session(p, stranger)  # neither secret signed it
            await p._upkeep_once()  # stable from now on
            assert from_session(p, early).user == "early"
        finally:
            await checker.delete(key)
            await checker.aclose()
            if late is not None:
                await late.close()
            await p.close()

    run(main())
