"""What a hub needs from its broker: offsets and history, live fan-out between nodes, presence.

A *broker* holds the state that every node of a hub shares. ``memory://`` keeps
it in the process (one node); ``redis://`` keeps it in Redis so that several
server processes, on one machine or many, serve the same channels.

Every channel has a *position*: an *epoch* (a short random string, new whenever
the channel's history is lost: created, expired, or the broker's data wiped)
and an *offset*, the number of the last publication (0 before the first). Each
publication gets the next offset, so a client that remembers ``(epoch, offset)``
can ask for exactly what it missed, and be told when that is no longer possible.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .._errors import LongwireError

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "History",
    "Position",
    "Publication",
    "broker_from_url",
]


class BrokerUnavailable(LongwireError):
    """The broker cannot be reached (Redis is down or restarting): nothing was done."""


@dataclass(frozen=True, slots=True)
class Publication:
    """One message published to a channel."""

    channel: str
    epoch: str
    offset: int
    data: str
    """The message as JSON text (encoded once, by the publisher)."""


class Position(NamedTuple):
    """Where a channel's stream of publications stands."""

    epoch: str
    offset: int


class History(NamedTuple):
    """The answer to ``Broker.history``."""

    position: Position
    """The channel's current position."""
    publications: list[Publication]
    """The publications asked for, oldest first."""
    complete: bool
    """Whether ``publications`` reach back to the offset asked for: False when the
    epoch differs or the history was trimmed past it (recovery failed)."""


PublicationCallback = Callable[[Publication], None]
ControlCallback = Callable[[str, str], None]


class Broker(abc.ABC):
    """A hub's shared state. Methods raise ``BrokerUnavailable`` when the broker is unreachable.

    ``start`` is given two callbacks. ``on_publication(publication)`` is called,
    in offset order for each channel, for every publication to a channel this
    node subscribed to, its own included; ``on_control(channel, message)`` for
    every ``publish_control`` to such a channel. Both are plain functions called
    on the event loop; they must not block.
    """

    @abc.abstractmethod
    async def start(self, on_publication: PublicationCallback, on_control: ControlCallback) -> None:
        """Connect (if needed) and start delivering."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering and release connections. Idempotent."""

    @abc.abstractmethod
    async def publish(
        self, channel: str, data: str, *, history_size: int, history_ttl: float
    ) -> Publication:
        """Give ``data`` the channel's next offset, keep it in the history, deliver it.

        Args:
            channel: the channel name.
            data: the message, as JSON text.
            history_size: publications kept for recovery (0: none; the offset
                still counts).
            history_ttl: seconds the channel's history (and position) is kept
                after its last publication; once it is gone, the channel gets a
                new epoch.

        Returns:
            The publication, with its epoch and offset.

        Raises:
            BrokerUnavailable: the publication was not made (never half-made).
        """

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Start delivering ``channel``'s publications and control messages to this node."""

    @abc.abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop delivering ``channel`` to this node."""

    @abc.abstractmethod
    async def history(self, channel: str, *, since: Position | None, limit: int | None) -> History:
        """The channel's position and publications.

        Args:
            since: return the publications after this offset (``complete`` says
                whether all of them could be); None: the latest ones.
            limit: at most this many publications (the oldest first when
                ``since`` is given, else the latest); None: no limit.
        """

    @abc.abstractmethod
    async def publish_control(self, channel: str, message: str) -> None:
        """Deliver ``message`` to the nodes subscribed to ``channel``, without history."""

    @abc.abstractmethod
    async def presence_add(self, channel: str, client: str, info: str, ttl: float) -> bool:
        """Record ``client`` (with ``info``, JSON text) in ``channel`` for ``ttl`` seconds.

        Returns:
            Whether the client was not there before (a join).
        """

    @abc.abstractmethod
    async def presence_refresh(self, channel: str, client: str, ttl: float) -> bool:
        """Extend ``client``'s entry in ``channel`` to ``ttl`` seconds from now,
        if it is there and not expired; never creates one.

        Returns:
            Whether the entry was there (and is now extended).
        """

    @abc.abstractmethod
    async def presence_remove(self, channel: str, client: str) -> str | None:
        """Remove ``client`` from ``channel``; returns its info if it was there (a leave)."""

    @abc.abstractmethod
    async def presence(self, channel: str) -> dict[str, str]:
        """The clients in ``channel`` and their info (JSON text), expired ones left out."""

    @abc.abstractmethod
    async def presence_expired(self) -> list[tuple[str, str, str]]:
        """Remove every expired presence entry, on any channel; return them as
        ``(channel, client, info)``. With several nodes each entry is returned to
        one node only, which announces the leave."""

    @abc.abstractmethod
    async def shared_secret(self) -> bytes:
        """A random secret shared by every node of the hub (created on first use)."""

    @abc.abstractmethod
    async def offer_secret(self, secret: bytes) -> bytes:
        """Store ``secret`` as the shared secret if the broker holds none; return the
        one it holds (``secret`` itself when it was stored).

        A node calls this now and then with the secret it signs with, so that a
        broker which lost its data (Redis restarted without persistence) gets the
        secret back before a node started afterwards creates another one.
        """


def broker_from_url(url: str) -> Broker:
    """The broker for ``memory://`` or ``redis://host:port/db`` (``rediss://`` for TLS).

    Raises:
        ValueError: an unknown scheme.
        ImportError: ``redis://`` without the ``redis`` extra installed.
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        from ._memory import MemoryBroker  # noqa: PLC0415

        return MemoryBroker()
    if scheme in {"redis", "rediss", "unix"}:
        from ._redis import RedisBroker  # noqa: PLC0415

        return RedisBroker(url)
    raise ValueError(f"unknown broker {url!r}: use memory:// or redis://host:port")
