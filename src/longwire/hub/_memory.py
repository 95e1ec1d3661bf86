"""``memory://``: the broker of a hub that lives in one process."""

from __future__ import annotations

import os
import secrets
import time
from collections import deque

from ._broker import (
    Broker,
    ControlCallback,
    History,
    Position,
    Publication,
    PublicationCallback,
)

__all__ = ["MemoryBroker"]

# Seconds a channel read but never published to keeps its epoch.
_EMPTY_STREAM_TTL = 300.0
# Seconds between sweeps of expired channels (each client's personal channel is
# one: without them the dict would grow by a channel per client ever seen).
_SWEEP_INTERVAL = 60.0


def new_epoch() -> str:
    """A fresh epoch: 8 URL-safe random characters."""
    return secrets.token_urlsafe(6)


class _Stream:
    __slots__ = ("epoch", "expires", "kept", "offset")

    def __init__(self, expires: float) -> None:
        self.epoch = new_epoch()
        self.offset = 0
        self.kept: deque[Publication] = deque()
        self.expires = expires


class MemoryBroker(Broker):
    """Channels, history and presence in this process's memory: no set-up, one node."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._next_sweep = 0.0
        self._subscribed: set[str] = set()
        self._presence: dict[str, dict[str, tuple[str, float]]] = {}
        self._secret: bytes | None = None
        self._on_publication: PublicationCallback | None = None
        self._on_control: ControlCallback | None = None

    async def start(self, on_publication: PublicationCallback, on_control: ControlCallback) -> None:
        self._on_publication = on_publication
        self._on_control = on_control

    async def close(self) -> None:
        self._on_publication = self._on_control = None

    def _stream(self, channel: str, now: float) -> _Stream:
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_INTERVAL
            expired = [name for name, kept in self._streams.items() if kept.expires <= now]
            for name in expired:
                del self._streams[name]
        stream = self._streams.get(channel)
        if stream is None or stream.expires <= now:
            stream = self._streams[channel] = _Stream(now + _EMPTY_STREAM_TTL)
        return stream

    async def publish(
        self, channel: str, data: str, *, history_size: int, history_ttl: float
    ) -> Publication:
        now = time.monotonic()
        stream = self._stream(channel, now)
        stream.offset += 1
        publication = Publication(channel, stream.epoch, stream.offset, data)
        kept = stream.kept
        if history_size > 0:
            kept.append(publication)
            while len(kept) > history_size:
                kept.popleft()
        elif kept:
            kept.clear()
        stream.expires = now + history_ttl
        if channel in self._subscribed and self._on_publication is not None:
            self._on_publication(publication)
        return publication

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def history(self, channel: str, *, since: Position | None, limit: int | None) -> History:
        now = time.monotonic()
        stream = self._stream(channel, now)
        if stream.offset == 0:
            # Read before anything was published (or after the history expired): keep
            # the new epoch a while, so that every reader gets the same one.
            stream.expires = max(stream.expires, now + _EMPTY_STREAM_TTL)
        position = Position(stream.epoch, stream.offset)
        kept = stream.kept
        if since is None:
            publications = list(kept) if limit is None else list(kept)[-limit:] if limit else []
            return History(position, publications, True)
        if since.epoch != stream.epoch or since.offset > stream.offset:
            return History(position, [], False)
        missed = stream.offset - since.offset
        oldest = kept[0].offset if kept else stream.offset + 1
        complete = missed == 0 or oldest <= since.offset + 1
        publications = [p for p in kept if p.offset > since.offset] if missed else []
        if limit is not None:
            complete = complete and len(publications) <= limit
            publications = publications[:limit]
        return History(position, publications, complete)

    async def publish_control(self, channel: str, message: str) -> None:
        if channel in self._subscribed and self._on_control is not None:
            self._on_control(channel, message)

    async def presence_add(self, channel: str, client: str, info: str, ttl: float) -> bool:
        now = time.monotonic()
        members = self._presence.setdefault(channel, {})
        previous = members.get(client)
        members[client] = (info, now + ttl)
        return previous is None or previous[1] <= now

    async def presence_refresh(self, channel: str, client: str, ttl: float) -> bool:
        now = time.monotonic()
        members = self._presence.get(channel)
        entry = members.get(client) if members else None
        if members is None or entry is None or entry[1] <= now:
            return False
        members[client] = (entry[0], now + ttl)
        return True

    async def presence_remove(self, channel: str, client: str) -> str | None:
        members = self._presence.get(channel)
        if not members:
            return None
        entry = members.pop(client, None)
        if not members:
            del self._presence[channel]
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def presence(self, channel: str) -> dict[str, str]:
        now = time.monotonic()
        members = self._presence.get(channel, {})
        return {client: info for client, (info, expires) in members.items() if expires > now}

    async def presence_expired(self) -> list[tuple[str, str, str]]:
        now = time.monotonic()
        expired: list[tuple[str, str, str]] = []
        for channel, members in list(self._presence.items()):
            for client, (info, expires) in list(members.items()):
                if expires <= now:
                    del members[client]
                    expired.append((channel, client, info))
            if not members:
                del self._presence[channel]
        return expired

    async def shared_secret(self) -> bytes:
        if self._secret is None:
            self._secret = os.urandom(32)
        return self._secret

    async def offer_secret(self, secret: bytes) -> bytes:
        if self._secret is None:
            self._secret = secret
        return self._secret
