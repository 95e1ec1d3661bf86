"""The counters one server increments, the metric families they become, and snapshots."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "FAMILIES",
    "HANDSHAKE_FAILURE_REASONS",
    "Family",
    "Metrics",
    "Snapshot",
    "counters_only",
    "merge",
]

Snapshot = dict[str, dict[tuple[str, ...], float]]
"""Metric values: ``{family name: {label values, in the family's label order: value}}``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """One metric family: its name (as sampled), type, help text and label names."""

    name: str
    type: Literal["counter", "gauge"]
    help: str
    labels: tuple[str, ...] = ()


CONNECTIONS_OPEN = Family(
    name="longwire_connections_open",
    type="gauge",
    help="Connections open now, by kind: http (not upgraded) or websocket.",
    labels=("kind",),
)
CONNECTIONS = Family(
    name="longwire_connections_total",
    type="counter",
    help="Connections opened, by kind: http (TCP connections accepted) or websocket "
    "(of those, the ones upgraded to WebSocket).",
    labels=("kind",),
)
CONNECTIONS_REFUSED = Family(
    name="longwire_connections_refused_total",
    type="counter",
    help="TCP connections refused with 503 because max_connections were open.",
)
HTTP_REQUESTS = Family(
    name="longwire_http_requests_total",
    type="counter",
    help="HTTP requests answered, by response status (101: WebSocket handshakes accepted).",
    labels=("status",),
)
HTTP_BYTES = Family(
    name="longwire_http_bytes_total",
    type="counter",
    help="Bytes read (in) and written (out) on HTTP connections before any upgrade, "
    "heads included (under TLS: before encryption).",
    labels=("direction",),
)
WEBSOCKET_MESSAGES = Family(
    name="longwire_websocket_messages_total",
    type="counter",
    help="WebSocket messages received (in) and sent (out); control frames excluded.",
    labels=("direction",),
)
WEBSOCKET_BYTES = Family(
    name="longwire_websocket_bytes_total",
    type="counter",
    help="WebSocket bytes received (in) and sent (out) on the wire: frame headers, "
    "control frames and compressed payloads included (under TLS: before encryption).",
    labels=("direction",),
)
HANDSHAKE_FAILURES = Family(
    name="longwire_websocket_handshake_failures_total",
    type="counter",
    help="WebSocket upgrade requests not accepted, by reason.",
    labels=("reason",),
)
HEARTBEAT_TIMEOUTS = Family(
    name="longwire_websocket_heartbeat_timeouts_total",
    type="counter",
    help="WebSockets closed with 1011 because no Pong answered a keepalive Ping in time.",
)
WEBSOCKET_CLOSES = Family(
    name="longwire_websocket_closes_total",
    type="counter",
    help="WebSockets closed, by close code (1006: the connection dropped without a Close).",
    labels=("code",),
)

FAMILIES: tuple[Family, ...] = (
    CONNECTIONS_OPEN,
    CONNECTIONS,
    CONNECTIONS_REFUSED,
    HTTP_REQUESTS,
    HTTP_BYTES,
    WEBSOCKET_MESSAGES,
    WEBSOCKET_BYTES,
    HANDSHAKE_FAILURES,
    HEARTBEAT_TIMEOUTS,
    WEBSOCKET_CLOSES,
)
"""Every metric family, in the order a scrape lists them."""

_GAUGES = frozenset(family.name for family in FAMILIES if family.type == "gauge")

HANDSHAKE_FAILURE_REASONS = (
    "bad_request",  # not a valid WebSocket handshake (400, or 426 without Connection: Upgrade)
    "version",  # Sec-WebSocket-Version is not 13 (426)
    "not_found",  # no WebSocket route for the path (404)
    "origin",  # Origin not in the route's origins (403)
    "rejected",  # the handler called reject(), or close() before accepting
    "server_error",  # the handler raised before accepting (500)
    "shutdown",  # the server shut down before the handler decided (503)
    "client_gone",  # the client disconnected before the handler accepted
)
"""The ``reason`` label values of ``longwire_websocket_handshake_failures_total``."""

# Statuses index a list: one specialised subscript per request, no hashing, no
# allocation. Response heads accept 100..999 (longwire.http1.Response).
_STATUS_SLOTS = 1000

_HTTP, _WEBSOCKET = ("http",), ("websocket",)
_IN, _OUT = ("in",), ("out",)
_NO_LABELS: tuple[str, ...] = ()


class _ByteCounts(Protocol):
    """What ``Metrics`` reads from an open WebSocket: its own byte counters."""

    @property
    def bytes_received(self) -> int: ...

    @property
    def bytes_sent(self) -> int: ...


class Metrics:
    """The counters of one server, incremented in place by the asyncio layer.

    Counting is always on: each event is one integer attribute increment (or a
    list/dict item one, where a label varies), with no lock, no allocation and no
    formatting; ``snapshot()`` does the rest when a scrape asks. Everything runs
    on the server's event loop thread.

    Args:
        pid: the process id written in snapshot files (``write_snapshot``);
            default ``os.getpid()``. Tests give distinct ones to servers that
            share a directory in one process.

    Attributes:
        pid: as given.
        instance: a random id telling this object's snapshots from those of an
            earlier process that had the same pid.
        http_connections: TCP connections accepted (refused ones excluded).
        http_open: of those, how many are open and not upgraded.
        connections_refused: connections refused over ``max_connections``.
        http_responses: responses sent, indexed by status (a list of 1000).
        http_bytes_in: bytes read on HTTP connections.
        http_bytes_out: bytes written on HTTP connections.
        websocket_connections: WebSocket handshakes accepted.
        websocket_messages_in: WebSocket messages received.
        websocket_messages_out: WebSocket messages sent.
        websocket_bytes_in: bytes received by WebSockets already closed (open
            ones are added by ``snapshot``: they count their own).
        websocket_bytes_out: bytes sent by WebSockets already closed.
        handshake_failures: ``{reason: count}``, every reason of
            ``HANDSHAKE_FAILURE_REASONS`` present.
        heartbeat_timeouts: WebSockets closed for an unanswered keepalive Ping.
        closes: ``{close code: count}`` of closed WebSockets.
    """

    __slots__ = (
        "_websockets",
        "closes",
        "connections_refused",
        "handshake_failures",
        "heartbeat_timeouts",
        "http_bytes_in",
        "http_bytes_out",
        "http_connections",
        "http_open",
        "http_responses",
        "instance",
        "pid",
        "websocket_bytes_in",
        "websocket_bytes_out",
        "websocket_connections",
        "websocket_messages_in",
        "websocket_messages_out",
    )

    def __init__(self, *, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.instance = os.urandom(8).hex()
        self.http_connections = 0
        self.http_open = 0
        self.connections_refused = 0
        self.http_responses = [0] * _STATUS_SLOTS
        self.http_bytes_in = 0
        self.http_bytes_out = 0
        self.websocket_connections = 0
        self.websocket_messages_in = 0
        self.websocket_messages_out = 0
        self.websocket_bytes_in = 0
        self.websocket_bytes_out = 0
        self.handshake_failures = dict.fromkeys(HANDSHAKE_FAILURE_REASONS, 0)
        self.heartbeat_timeouts = 0
        self.closes: dict[int, int] = {}
        self._websockets: set[_ByteCounts] = set()

    def __repr__(self) -> str:
        return f"<Metrics pid={self.pid} http_open={self.http_open} ws_open={self.websockets_open}>"

    @property
    def websockets_open(self) -> int:
        """WebSockets open now (accepted and not yet closed)."""
        return len(self._websockets)

    # Once per WebSocket: method calls are fine here.

    def websocket_opened(self, websocket: _ByteCounts) -> None:
        """A handshake was accepted: ``websocket`` counts its own bytes from now on."""
        self.websocket_connections += 1
        self._websockets.add(websocket)

    def websocket_closed(self, websocket: _ByteCounts, code: int) -> None:
        """``websocket`` is closed with ``code``: its byte counts join the totals."""
        if websocket in self._websockets:
            self._websockets.discard(websocket)
            self.websocket_bytes_in += websocket.bytes_received
            self.websocket_bytes_out += websocket.bytes_sent
        self.closes[code] = self.closes.get(code, 0) + 1

    def handshake_failed(self, reason: str) -> None:
        """An upgrade request was not accepted; ``reason`` is one of ``HANDSHAKE_FAILURE_REASONS``.

        Raises:
            KeyError: an unknown reason (a bug: label values are a fixed set).
        """
        self.handshake_failures[reason] += 1

    def snapshot(self) -> Snapshot:
        """The current values of every family of ``FAMILIES``, as a new ``Snapshot``."""
        live = self._websockets
        ws_in = self.websocket_bytes_in + sum(ws.bytes_received for ws in live)
        ws_out = self.websocket_bytes_out + sum(ws.bytes_sent for ws in live)
        statuses = self.http_responses
        return {
            CONNECTIONS_OPEN.name: {_HTTP: self.http_open, _WEBSOCKET: len(live)},
            CONNECTIONS.name: {
                _HTTP: self.http_connections,
                _WEBSOCKET: self.websocket_connections,
            },
            CONNECTIONS_REFUSED.name: {_NO_LABELS: self.connections_refused},
            HTTP_REQUESTS.name: {
                (str(status),): count for status, count in enumerate(statuses) if count
            },
            HTTP_BYTES.name: {_IN: self.http_bytes_in, _OUT: self.http_bytes_out},
            WEBSOCKET_MESSAGES.name: {
                _IN: self.websocket_messages_in,
                _OUT: self.websocket_messages_out,
            },
            WEBSOCKET_BYTES.name: {_IN: ws_in, _OUT: ws_out},
            HANDSHAKE_FAILURES.name: {
                (reason,): count for reason, count in self.handshake_failures.items()
            },
            HEARTBEAT_TIMEOUTS.name: {_NO_LABELS: self.heartbeat_timeouts},
            WEBSOCKET_CLOSES.name: {(str(code),): count for code, count in self.closes.items()},
        }


def merge(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The sum of ``snapshots``, sample by sample (a sample missing from one counts as 0)."""
    total: Snapshot = {}
    for snapshot in snapshots:
        for name, samples in snapshot.items():
            family = total.setdefault(name, {})
            for labels, value in samples.items():
                family[labels] = family.get(labels, 0) + value
    return total


def counters_only(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` without its gauges: what is left of a process that is gone."""
    return {name: dict(samples) for name, samples in snapshot.items() if name not in _GAUGES}
