"""``redis://``: the broker of a hub whose nodes share one Redis.

Keys (``lw:`` is the default prefix). ``{channel}`` is a cluster hash tag, so a
channel's keys share one slot and every script below touches a single slot::

    lw:{ch}:m     HASH    e → epoch, o → offset of the last publication
    lw:{ch}:s     STREAM  the kept publications: entry id ``<offset>-0``, field d → data
    lw:{ch}:p     ZSET    client → when its presence expires (ms, Redis's clock)
    lw:{ch}:i     HASH    client → its presence info
    lw:presence   ZSET    channel → at most its earliest presence expiry (the sweep's index)
    lw:secret     STRING  the shared secret, hex
    lw:{ch}       pub/sub ``p<epoch> <offset> <data>`` (publication) or ``c<message>`` (control)

Needs Redis 6.2 or later (``ZADD ... LT``).

A publication is one Lua script (offset, stream entry, expiries and PUBLISH), so
it is made whole or not at all, and live delivery order is offset order.

Errors: redis-py's ``ConnectionError`` and ``TimeoutError`` (and ``OSError``)
become ``BrokerUnavailable``; anything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

try:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.connection import AbstractConnection
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ReadOnlyError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised by a test that hides redis
    raise ImportError(
        "the redis:// broker needs the redis extra: pip install 'longwire[redis]'"
    ) from exc

from ._broker import (
    Broker,
    BrokerUnavailable,
    ControlCallback,
    History,
    Position,
    Publication,
    PublicationCallback,
)
from ._memory import new_epoch

__all__ = ["RedisBroker"]

logger = logging.getLogger("longwire.hub")

# Seconds a channel read but never published to keeps its epoch (as MemoryBroker).
EMPTY_STREAM_TTL = 300.0
# A channel's presence keys outlive its last join by this much, so that a hub
# whose nodes all stopped sweeping does not leave them in Redis for ever.
PRESENCE_KEY_GRACE = 3600.0
# Entries (presence sweep) or channels (gap fill) handled per round trip.
BATCH = 200

# Errors that mean "Redis cannot be reached now": the command was not done.
# ReadOnlyError: a replica that a failover has not promoted yet.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: meta, stream. ARGV: epoch if the channel is new, data, history size,
# history ttl (ms), pub/sub channel. Nothing below can fail once it starts writing.
_PUBLISH = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local size = tonumber(ARGV[3])
if size > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', size, offset .. '-0', 'd', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
else
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], 'p' .. epoch .. ' ' .. offset .. ' ' .. ARGV[2])
return {epoch, offset}
"""

# KEYS: meta, stream. ARGV: epoch if the channel is new, empty-channel ttl (ms),
# since epoch ('' for none), since offset, limit (-1 for none).
# Returns {epoch, offset, complete (0/1), entries}; entries newest first when
# there is no since, else oldest first.
_HISTORY = """
local epoch = redis.call('HGET', KEYS[1], 'e')
local offset = 0
local empty_ttl = tonumber(ARGV[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('PEXPIRE', KEYS[1], empty_ttl)
else
  offset = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
  if offset == 0 and redis.call('PTTL', KEYS[1]) < empty_ttl then
    redis.call('PEXPIRE', KEYS[1], empty_ttl)
  end
end
local limit = tonumber(ARGV[5])
local entries = {}
local complete = 1
if ARGV[3] == '' then
  if limit < 0 then
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-')
  elseif limit > 0 then
    entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', limit)
  end
else
  local since = tonumber(ARGV[4])
  if ARGV[3] ~= epoch or since > offset then
    complete = 0
  elseif since < offset then
    local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
    local first = offset + 1
    if #oldest > 0 then
      first = tonumber(string.match(oldest[1][1], '^%d+'))
    end
    if first > since + 1 or (limit >= 0 and offset - since > limit) then
      complete = 0
    end
    local start = math.max(since + 1, 1) .. '-0'
    if limit < 0 then
      entries = redis.call('XRANGE', KEYS[2], start, '+')
    elseif limit > 0 then
      entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', limit)
    end
  end
end
return {epoch, offset, complete, entries}
"""

# KEYS: zset, info. ARGV: client, info, ttl (ms), key grace (ms).
# Returns {joined (absent or expired), added (absent), expiry (ms)}.
_PRESENCE_ADD = (
    _NOW_MS
    + """
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
local expires = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local keep = tonumber(ARGV[3]) + tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < keep then
    redis.call('PEXPIRE', key, keep)
  end
end
local joined = 0
local added = 0
if not old then
  joined = 1
  added = 1
elseif tonumber(old) <= now then
  joined = 1
end
return {joined, added, expires}
"""
)

# KEYS: zset, info. ARGV: client, ttl (ms), key grace (ms). Extends an unexpired
# entry (a later expiry never lowers the index's bound); 1 if it was there.
_PRESENCE_REFRESH = (
    _NOW_MS
    + """
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) <= now then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
local keep = tonumber(ARGV[2]) + tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < keep then
    redis.call('PEXPIRE', key, keep)
  end
end
return 1
"""
)

# KEYS: zset, info. ARGV: client. Returns its info if it was there and not expired.
_PRESENCE_REMOVE = (
    _NOW_MS
    + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local info = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if score and tonumber(score) > now then
  return info
end
return false
"""
)

# KEYS: zset, info. Returns {live clients, the info hash as a flat list}.
_PRESENCE = (
    _NOW_MS
    + """
local live = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('(%d', now), '+inf')
return {live, redis.call('HGETALL', KEYS[2])}
"""
)

# KEYS: the presence index. ARGV: batch. The channels that may hold expired entries.
_PRESENCE_DUE = (
    _NOW_MS
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""
)

# KEYS: zset, info. ARGV: batch. Pops up to batch expired entries, atomically, so
# each is returned to one sweeping node only. Returns {flat client/info list,
# earliest expiry left ('' if none)}: if that is already due, more are waiting.
_PRESENCE_SWEEP = (
    _NOW_MS
    + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, client in ipairs(gone) do
  out[#out + 1] = client
  out[#out + 1] = redis.call('HGET', KEYS[2], client) or ''
  redis.call('ZREM', KEYS[1], client)
  redis.call('HDEL', KEYS[2], client)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local earliest = ''
if #first > 0 then
  earliest = first[2]
end
return {out, earliest}
"""
)


# KEYS: the secret. ARGV: a secret (hex). Stores it unless one is there; returns
# the one there. One script, so that it reads what it did not overwrite.
_OFFER_SECRET = """
local held = redis.call('GET', KEYS[1])
if held then
  return held
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Turn "Redis is unreachable" errors into ``BrokerUnavailable``."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BrokerUnavailable(f"Redis is unavailable: {exc}") from exc


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds, at least 1 (PEXPIRE 0 would delete the key)."""
    return max(1, math.ceil(seconds * 1000))


@dataclass(slots=True)
class _Seen:
    """Where this node stands in a subscribed channel: the last publication it
    delivered, or (``delivered`` False) the position when it subscribed."""

    epoch: str
    offset: int
    delivered: bool


class RedisBroker(Broker):
    """Channels, history and presence in Redis, shared by every node that uses it.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS)
            or ``unix://path``; query parameters as in redis-py's ``from_url``.
        prefix: the start of every key and pub/sub channel name, so that several
            hubs can share one Redis database.
        timeout: seconds to connect, to wait for an answer or for a free
            connection before a command raises ``BrokerUnavailable``; also
            bounds ``subscribe``.
        reconnect_min: the first delay (seconds) before the pub/sub connection
            is made again after it was lost; it doubles at each failure ...
        reconnect_max: ... up to this. Each delay is jittered (half to all of it).
        ping_interval: seconds of silence on the pub/sub connection after which
            it is PINGed; no answer within ``timeout`` counts as a lost connection.
        max_connections: connections for commands (pub/sub has one of its own);
            more concurrent commands wait for one.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "lw:",
        # Timeouts
        timeout: float = 2.0,
        ping_interval: float = 5.0,
        # Reconnection
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        # Limits
        max_connections: int = 100,
    ) -> None:
        self._prefix = prefix
        self._timeout = timeout
        self._ping_interval = ping_interval
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        pool = BlockingConnectionPool.from_url(
            url,
            # Commands beyond max_connections wait for a free connection, up to timeout.
            max_connections=max_connections,
            timeout=timeout,
            decode_responses=True,
            # RESP2 whatever redis-py's default: pub/sub messages are plain replies,
            # and no RESP3 "maintenance notifications", which turn off redis-py's
            # check for pooled connections the server closed.
            protocol=2,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No silent retries: a command that failed raises, once, promptly.
            retry=Retry(NoBackoff(), 0),
        )
        self._pool = pool
        self._redis: Redis = Redis.from_pool(pool)
        self._publish = self._redis.register_script(_PUBLISH)
        self._history = self._redis.register_script(_HISTORY)
        self._presence_add = self._redis.register_script(_PRESENCE_ADD)
        self._presence_refresh = self._redis.register_script(_PRESENCE_REFRESH)
        self._presence_remove = self._redis.register_script(_PRESENCE_REMOVE)
        self._presence = self._redis.register_script(_PRESENCE)
        self._presence_due = self._redis.register_script(_PRESENCE_DUE)
        self._presence_sweep = self._redis.register_script(_PRESENCE_SWEEP)
        self._offer_secret = self._redis.register_script(_OFFER_SECRET)
        self._index_key = f"{prefix}presence"
        self._secret_key = f"{prefix}secret"
        # The shared secret this node last read, written back after each reconnection.
        self._secret: bytes | None = None

        self._on_publication: PublicationCallback | None = None
        self._on_control: ControlCallback | None = None
        # Subscribed channels and their pub/sub names, both ways.
        self._channels: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._seen: dict[str, _Seen] = {}
        # subscribe() calls waiting for Redis to confirm their SUBSCRIBE.
        self._waiters: dict[str, asyncio.Future[None]] = {}
        # The pub/sub connection while it is up (None during an outage).
        self._conn: AbstractConnection | None = None
        self._write_lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    # Key names ---------------------------------------------------------------

    def _key(self, channel: str, kind: str) -> str:
        return f"{self._prefix}{{{channel}}}:{kind}"

    def _pubsub_name(self, channel: str) -> str:
        return f"{self._prefix}{{{channel}}}"

    # Lifecycle ---------------------------------------------------------------

    async def start(self, on_publication: PublicationCallback, on_control: ControlCallback) -> None:
        """Check that Redis answers, then start the pub/sub reader.

        Raises:
            BrokerUnavailable: Redis did not answer.
        """
        self._on_publication = on_publication
        self._on_control = on_control
        with _translated():
            await self._redis.ping()
        if self._reader is None and not self._closed:
            self._reader = asyncio.get_running_loop().create_task(
                self._run(), name="longwire.hub redis pub/sub"
            )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_publication = self._on_control = None
        reader, self._reader = self._reader, None
        if reader is not None:
            # Python 3.11's asyncio.wait_for (which redis-py uses) can swallow a
            # cancellation that lands as its inner call completes: cancel again.
            while not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=0.1)
            if not reader.cancelled():
                reader.exception()  # retrieved; _run only ends by cancellation
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(BrokerUnavailable("the broker is closed"))
                waiter.exception()  # retrieved: no "never retrieved" warning
        self._waiters.clear()
        await self._redis.aclose()

    # Publications --------------------------------------------------------------

    async def publish(
        self, channel: str, data: str, *, history_size: int, history_ttl: float
    ) -> Publication:
        keys = [self._key(channel, "m"), self._key(channel, "s")]
        args: list[str | int] = [
            new_epoch(),
            data,
            max(0, history_size),
            _ms(history_ttl),
            self._pubsub_name(channel),
        ]
        with _translated():
            epoch, offset = await self._publish(keys, args)
        return Publication(channel, epoch, int(offset), data)

    async def publish_control(self, channel: str, message: str) -> None:
        with _translated():
            await self._redis.publish(self._pubsub_name(channel), "c" + message)

    def _history_call(
        self, channel: str, since: Position | None, limit: int | None, client: Any = None
    ) -> Any:
        keys = [self._key(channel, "m"), self._key(channel, "s")]
        args: list[str | int] = [
            new_epoch(),
            _ms(EMPTY_STREAM_TTL),
            "" if since is None else since.epoch,
            0 if since is None else since.offset,
            -1 if limit is None else max(0, limit),
        ]
        return self._history(keys, args, client=client)

    @staticmethod
    def _parse_history(channel: str, since: Position | None, reply: list[Any]) -> History:
        epoch, offset, complete, entries = reply
        publications = [
            Publication(channel, epoch, int(entry_id.partition("-")[0]), fields[1])
            for entry_id, fields in entries
        ]
        if since is None:
            publications.reverse()  # XREVRANGE: newest first
        return History(Position(epoch, int(offset)), publications, bool(complete))

    async def history(self, channel: str, *, since: Position | None, limit: int | None) -> History:
        with _translated():
            reply = await self._history_call(channel, since, limit)
        return self._parse_history(channel, since, reply)

    # Subscriptions ---------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Start delivering ``channel``.

        Returns once Redis confirmed the subscription, so every publication made
        after this returns is delivered.

        Raises:
            BrokerUnavailable: not confirmed within ``timeout`` (nothing was done).
        """
        if channel in self._channels:
            waiter = self._waiters.get(channel)
            if waiter is not None:
                await self._confirmed(channel, waiter)
            return
        name = self._pubsub_name(channel)
        self._channels[channel] = name
        self._names[name] = channel
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[channel] = waiter
        conn = self._conn
        try:
            if conn is not None:
                # Otherwise the reader subscribes it when it reconnects.
                await self._send(conn, "SUBSCRIBE", name)
            await self._confirmed(channel, waiter)
            if channel not in self._seen:
                # The baseline for a gap fill, should the connection drop before
                # anything is delivered.
                reply = await self._history_call(channel, None, 0)
                position = self._parse_history(channel, None, reply).position
                if channel in self._channels and channel not in self._seen:
                    self._seen[channel] = _Seen(position.epoch, position.offset, False)
        except (*_UNAVAILABLE, TimeoutError, BrokerUnavailable) as exc:
            if self._channels.get(channel) == name:
                await self.unsubscribe(channel)
            if isinstance(exc, BrokerUnavailable):
                raise
            raise BrokerUnavailable(f"could not subscribe to {channel!r}: {exc!r}") from exc

    async def _confirmed(self, channel: str, waiter: asyncio.Future[None]) -> None:
        async with asyncio.timeout(self._timeout):
            await asyncio.shield(waiter)
        if self._waiters.get(channel) is waiter:
            del self._waiters[channel]

    async def unsubscribe(self, channel: str) -> None:
        name = self._channels.pop(channel, None)
        if name is None:
            return
        del self._names[name]
        self._seen.pop(channel, None)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        conn = self._conn
        if conn is not None:
            # Lost connection: the next one will not subscribe to it anyway.
            with contextlib.suppress(*_UNAVAILABLE):
                await self._send(conn, "UNSUBSCRIBE", name)

    def _new_connection(self) -> AbstractConnection:
        """A connection of its own (not from the pool) for pub/sub."""
        make: Callable[[], AbstractConnection] = self._pool.make_connection
        return make()

    async def _send(self, conn: AbstractConnection, *args: str) -> None:
        async with self._write_lock:
            # Never let send_command reconnect a connection the reader gave up.
            if conn is not self._conn or not conn.is_connected:
                raise RedisConnectionError("the pub/sub connection is down")
            await conn.send_command(*args)

    # The pub/sub reader ---------------------------------------------------------------

    async def _run(self) -> None:
        """Keep one pub/sub connection up, resubscribing and filling gaps after each outage."""
        failures = 0
        lost: str | None = None
        while not self._closed:
            conn = self._new_connection()
            try:
                connect: Callable[[], Awaitable[None]] = conn.connect  # untyped in redis-py
                await connect()
                await self._reoffer_secret()
                await self._resync(conn)
                if lost is not None:
                    logger.warning("reconnected to Redis pub/sub after: %s", lost)
                    lost = None
                failures = 0
                await self._read(conn)
            except _UNAVAILABLE as exc:
                if lost is None:
                    lost = str(exc) or type(exc).__name__
                    logger.warning("lost Redis pub/sub (%s): reconnecting", lost)
            except Exception:
                # A bug (or an answer we do not understand): start afresh rather
                # than stop delivering for good.
                logger.exception("Redis pub/sub reader failed: reconnecting")
                lost = lost or "reader error"
            finally:
                self._conn = None
                await conn.disconnect(nowait=True)
            failures += 1
            delay = min(self._reconnect_max, self._reconnect_min * 2 ** (failures - 1))
            await asyncio.sleep(random.uniform(delay / 2, delay))

    async def _resync(self, conn: AbstractConnection) -> None:
        """Subscribe to every channel, then deliver what was missed, then what came meanwhile."""
        # Channels subscribed from now on send their own SUBSCRIBE (no await
        # between the snapshot and publishing the connection).
        names = list(self._names)
        self._conn = conn
        if names:
            await self._send(conn, "SUBSCRIBE", *names)
        pending = set(names)
        early: list[Any] = []
        while pending:
            message = await conn.read_response(timeout=self._timeout, push_request=True)
            if message is None:
                raise RedisTimeoutError("SUBSCRIBE was not confirmed")
            if isinstance(message, list) and message[0] == "subscribe":
                pending.discard(message[1])
                self._dispatch(message)
            else:
                early.append(message)
        await self._fill_gaps([self._names[name] for name in names if name in self._names])
        for message in early:
            self._dispatch(message)

    async def _fill_gaps(self, channels: Sequence[str]) -> None:
        """Deliver, from the streams, what ``channels`` published since this node last saw them."""
        for start in range(0, len(channels), BATCH):
            batch = [c for c in channels[start : start + BATCH] if c in self._seen]
            if not batch:
                continue
            sinces = [Position(self._seen[c].epoch, self._seen[c].offset) for c in batch]
            pipe = self._redis.pipeline(transaction=False)
            for channel, since in zip(batch, sinces, strict=True):
                await self._history_call(channel, since, None, client=pipe)
            replies = await pipe.execute()
            for channel, since, reply in zip(batch, sinces, replies, strict=True):
                found = self._parse_history(channel, since, reply)
                if found.position.epoch != since.epoch:
                    # The history was lost meanwhile (expired, Redis restarted):
                    # all the new epoch's publications are new to this node.
                    found = self._parse_history(
                        channel, None, await self._history_call(channel, None, None)
                    )
                for publication in found.publications:
                    self._deliver(publication)

    async def _read(self, conn: AbstractConnection) -> None:
        pinged = False
        while True:
            message = await conn.read_response(
                timeout=self._timeout if pinged else self._ping_interval, push_request=True
            )
            if message is None:
                if pinged:
                    raise RedisTimeoutError("no answer to PING on the pub/sub connection")
                await self._send(conn, "PING")
                pinged = True
                continue
            pinged = False
            self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, list):
            return  # PONG out of subscribed mode
        kind = message[0]
        if kind == "message":
            channel = self._names.get(message[1])
            if channel is None:
                return  # unsubscribed meanwhile
            payload: str = message[2]
            if payload.startswith("p"):
                epoch, offset, data = payload[1:].split(" ", 2)
                self._deliver(Publication(channel, epoch, int(offset), data))
            elif payload.startswith("c") and self._on_control is not None:
                try:
                    self._on_control(channel, payload[1:])
                except Exception:
                    logger.exception("on_control failed")
        elif kind == "subscribe":
            channel = self._names.get(message[1])
            waiter = None if channel is None else self._waiters.get(channel)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _deliver(self, publication: Publication) -> None:
        channel = publication.channel
        if channel not in self._channels:
            return
        seen = self._seen.get(channel)
        if (
            seen is not None
            and seen.delivered
            and seen.epoch == publication.epoch
            and publication.offset <= seen.offset
        ):
            return  # already delivered (a gap fill overlapping live messages)
        self._seen[channel] = _Seen(publication.epoch, publication.offset, True)
        if self._on_publication is not None:
            try:
                self._on_publication(publication)
            except Exception:
                logger.exception("on_publication failed")

    # Presence ---------------------------------------------------------------

    async def presence_add(self, channel: str, client: str, info: str, ttl: float) -> bool:
        keys = [self._key(channel, "p"), self._key(channel, "i")]
        with _translated():
            joined, added, expires = await self._presence_add(
                keys, [client, info, _ms(ttl), _ms(PRESENCE_KEY_GRACE)]
            )
            if added:
                # Only a new member can lower the channel's earliest expiry; the
                # index keeps a lower bound of it (see presence_expired).
                await self._redis.zadd(self._index_key, {channel: expires}, lt=True)
        return bool(joined)

    async def presence_refresh(self, channel: str, client: str, ttl: float) -> bool:
        keys = [self._key(channel, "p"), self._key(channel, "i")]
        with _translated():
            extended = await self._presence_refresh(
                keys, [client, _ms(ttl), _ms(PRESENCE_KEY_GRACE)]
            )
        return bool(extended)

    async def presence_remove(self, channel: str, client: str) -> str | None:
        keys = [self._key(channel, "p"), self._key(channel, "i")]
        with _translated():
            info: str | None = await self._presence_remove(keys, [client])
        return info

    async def presence(self, channel: str) -> dict[str, str]:
        keys = [self._key(channel, "p"), self._key(channel, "i")]
        with _translated():
            live, flat = await self._presence(keys)
        infos = dict(zip(flat[::2], flat[1::2], strict=True))
        return {client: infos[client] for client in live if client in infos}

    async def presence_expired(self) -> list[tuple[str, str, str]]:
        """Pop the expired entries of the channels the index says are due.

        The index holds, per channel, a lower bound of its earliest expiry. A
        sweep pops a channel's expired entries (one script: each entry goes to
        one node), sets the channel's score to its earliest expiry left (or
        removes it), then reads that earliest expiry again and lowers the score
        to it: a join that the first step missed is seen by the re-read, or
        lowers the score itself after it (presence_add writes the channel, then
        the index). So no channel with entries ever drops out of the index.
        """
        expired: list[tuple[str, str, str]] = []
        with _translated():
            for _ in range(100):  # bounded: each round makes the due channels later
                due: list[str] = await self._presence_due([self._index_key], [BATCH])
                if not due:
                    break
                pipe = self._redis.pipeline(transaction=False)
                for channel in due:
                    keys = [self._key(channel, "p"), self._key(channel, "i")]
                    await self._presence_sweep(keys, [BATCH], client=pipe)
                swept = await pipe.execute()
                pipe = self._redis.pipeline(transaction=False)
                for channel, (flat, earliest) in zip(due, swept, strict=True):
                    expired.extend(
                        (channel, client, info)
                        for client, info in zip(flat[::2], flat[1::2], strict=True)
                    )
                    if earliest == "":
                        pipe.zrem(self._index_key, channel)
                    else:
                        pipe.zadd(self._index_key, {channel: float(earliest)})
                    pipe.zrange(self._key(channel, "p"), 0, 0, withscores=True)
                rechecked = (await pipe.execute())[1::2]
                pipe = self._redis.pipeline(transaction=False)
                for channel, first in zip(due, rechecked, strict=True):
                    if first:
                        pipe.zadd(self._index_key, {channel: first[0][1]}, lt=True)
                await pipe.execute()
                # Another round only if there may be more: a full batch of channels,
                # or a channel with a full batch of expired entries.
                if len(due) < BATCH and all(len(flat) < 2 * BATCH for flat, _ in swept):
                    break
        return expired

    # Shared secret ---------------------------------------------------------------

    async def shared_secret(self) -> bytes:
        return await self.offer_secret(secrets.token_bytes(32))

    async def offer_secret(self, secret: bytes) -> bytes:
        with _translated():
            held: str = await self._offer_secret([self._secret_key], [secret.hex()])
        self._secret = bytes.fromhex(held)
        return self._secret

    async def _reoffer_secret(self) -> None:
        """After a reconnection: write the secret back in case Redis lost its data,
        before a node started meanwhile makes another one (the hub's upkeep also
        offers it, and adopts the one Redis holds if another node's won)."""
        if self._secret is None:
            return
        try:
            await self.offer_secret(self._secret)
        except BrokerUnavailable:
            pass  # down again: the pub/sub connection will fail and retry too
        except Exception:
            logger.exception("could not write the shared secret back to Redis")
