"""Fixtures for the HTTP/1.1 core tests: a wired client/server pair and event helpers.

The test directories are not packages, so shared helpers travel as fixtures:
``pair`` (a fresh ``ConnectionPair``), ``make_pair`` (the class, for tests that
need limits or several pairs), ``merge_data`` and ``feed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pytest

from longwire import Role
from longwire.http1 import Connection, Data, Event, Limits


def merge_data(events: Iterable[Event]) -> list[Event]:
    """Events with adjacent ``Data`` joined and empty ``Data`` dropped.

    Chunk boundaries carry no meaning, so two parses of the same bytes are equal
    when their merged events are.
    """
    merged: list[Event] = []
    for event in events:
        if isinstance(event, Data):
            if not event.data:
                continue
            if merged and isinstance(merged[-1], Data):
                merged[-1] = Data(data=merged[-1].data + event.data)
                continue
        merged.append(event)
    return merged


def feed(conn: Connection, data: bytes, cuts: Iterable[int] = ()) -> list[Event]:
    """Feed ``data`` to ``conn`` split at the offsets ``cuts``; return all events."""
    events: list[Event] = []
    start = 0
    for cut in sorted(set(cuts)):
        if 0 < cut < len(data):
            events += conn.receive_data(data[start:cut])
            start = cut
    events += conn.receive_data(data[start:])
    return events


class ConnectionPair:
    """A client and a server connection wired together (after h11's test helper).

    ``send(role, events)`` sends events from that side, feeds the bytes to the
    other side, checks what it parsed, and returns the bytes.
    """

    def __init__(
        self, client_limits: Limits | None = None, server_limits: Limits | None = None
    ) -> None:
        self.client = Connection(Role.CLIENT, limits=client_limits)
        self.server = Connection(Role.SERVER, limits=server_limits)

    def sender(self, role: Role) -> Connection:
        return self.client if role is Role.CLIENT else self.server

    def receiver(self, role: Role) -> Connection:
        return self.server if role is Role.CLIENT else self.client

    def send(
        self,
        role: Role,
        events: Event | Sequence[Event],
        expect: Sequence[Event] | str = "match",
    ) -> bytes:
        """Send ``events`` from ``role``; the peer must parse ``expect`` (default: the same)."""
        if not isinstance(events, Sequence):
            events = [events]
        data = b"".join(self.sender(role).send(event) for event in events)
        got = self.receiver(role).receive_data(data)
        wanted = list(events) if expect == "match" else list(expect)
        assert merge_data(got) == merge_data(wanted)
        return data

    def states(self) -> dict[Role, tuple[str, str]]:
        """Each side's (our_state, their_state) names, for compact assertions."""
        return {
            Role.CLIENT: (self.client.our_state.name, self.client.their_state.name),
            Role.SERVER: (self.server.our_state.name, self.server.their_state.name),
        }


@pytest.fixture
def pair() -> ConnectionPair:
    return ConnectionPair()


@pytest.fixture(scope="session")
def make_pair() -> type[ConnectionPair]:
    return ConnectionPair


@pytest.fixture(scope="session", name="merge_data")
def merge_data_fixture() -> Callable[[Iterable[Event]], list[Event]]:
    return merge_data


@pytest.fixture(scope="session", name="feed")
def feed_fixture() -> Callable[..., list[Event]]:
    return feed
