"""Local fan-out: one message encoded once per transport, handed to every local subscriber.

A *subscriber* is one connection of this node that receives channels: a
WebSocket, or an SSE, streaming or long-poll response. The hub keeps, for each
channel, the subscribers of this node; a publication the broker delivers is
wrapped once in an ``Outgoing`` and given to each of them, and each takes the
encoding of its transport (built on first use, then shared).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed
from ..websocket import PreparedMessage
from ._broker import Publication

if TYPE_CHECKING:
    from ._client import HubClient

__all__ = [
    "CLOSE_TOO_SLOW",
    "Outgoing",
    "QueueSubscriber",
    "Subscriber",
    "WebSocketSubscriber",
    "plain_event",
    "publication_text",
]

CLOSE_TOO_SLOW = 1013
"""The close code of a WebSocket subscriber that could not keep up."""


def publication_text(publication: Publication) -> str:
    """The ``pub`` notification of a publication (docs/hub-protocol.md)."""
    return (
        '{"jsonrpc":"2.0","method":"pub","params":{"ch":'
        + json.dumps(publication.channel, ensure_ascii=False)
        + ',"e":"'
        + publication.epoch
        + '","o":'
        + str(publication.offset)
        + ',"d":'
        + publication.data
        + "}}"
    )


def plain_event(epoch: str, offset: int, data: str) -> bytes:
    """A publication as an event for the browser's own ``EventSource``."""
    return f"id: {epoch}:{offset}\ndata: {data}\n\n".encode()


class Outgoing:
    """One message to many subscribers, with its encoding per transport made once."""

    __slots__ = ("_line", "_plain", "_prepared", "_sse", "offset", "publication", "text")

    def __init__(self, text: str, publication: Publication | None = None) -> None:
        self.text = text
        self.publication = publication
        """The publication it carries (None: another message)."""
        self.offset = None if publication is None else publication.offset
        self._prepared: PreparedMessage | None = None
        self._sse: bytes | None = None
        self._line: bytes | None = None
        self._plain: bytes | None = None

    @property
    def prepared(self) -> PreparedMessage:
        """The WebSocket frame."""
        prepared = self._prepared
        if prepared is None:
            prepared = self._prepared = PreparedMessage(self.text)
        return prepared

    @property
    def sse(self) -> bytes:
        """The Server-Sent Event (``data:`` only: JSON has no line breaks)."""
        sse = self._sse
        if sse is None:
            sse = self._sse = b"data: " + self.text.encode() + b"\n\n"
        return sse

    @property
    def plain(self) -> bytes:
        """A publication as a plain Server-Sent Event: ``id: EPOCH:OFFSET``, its data.

        Other messages have none (empty).
        """
        plain = self._plain
        if plain is None:
            publication = self.publication
            plain = self._plain = (
                b""
                if publication is None
                else plain_event(publication.epoch, publication.offset, publication.data)
            )
        return plain

    @property
    def line(self) -> bytes:
        """The line of an ndjson stream."""
        line = self._line
        if line is None:
            line = self._line = self.text.encode() + b"\n"
        return line


class Subscriber:
    """A local connection receiving channels.

    While a channel's subscription is being set up (history read, recovered
    publications sent), what arrives live for it is held in ``held`` and
    released by ``release`` after the recovered ones, so that the client sees
    publications in offset order.
    """

    __slots__ = ("channels", "client", "held")

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self.channels: set[str] = set()
        self.held: dict[str, list[Outgoing]] = {}

    def deliver(self, channel: str, message: Outgoing) -> None:
        """Take ``message`` of ``channel`` (held while the subscription is set up)."""
        held = self.held
        if held and channel in held:
            held[channel].append(message)
        else:
            self.send(message)

    def hold(self, channel: str) -> None:
        """Hold what arrives on ``channel`` until ``release``."""
        self.held[channel] = []

    def release(self, channel: str, after: int) -> None:
        """Send what was held on ``channel``, leaving out publications up to offset ``after``."""
        for message in self.held.pop(channel, ()):
            if message.offset is None or message.offset > after:
                self.send(message)

    def send(self, message: Outgoing) -> None:
        """Send ``message`` now."""
        raise NotImplementedError

    def end(self, code: int, reason: str) -> None:
        """End the connection (too slow, hub closing)."""
        raise NotImplementedError


class WebSocketSubscriber(Subscriber):
    """A WebSocket client: messages go out as frames prepared once for everyone."""

    __slots__ = ("slow_limit", "ws")

    def __init__(self, client: HubClient, ws: Any, slow_limit: int) -> None:
        super().__init__(client)
        self.ws = ws
        self.slow_limit = slow_limit

    def send(self, message: Outgoing) -> None:
        ws = self.ws
        if ws.buffered_amount > self.slow_limit:
            # Dropping a client that cannot keep up keeps the others fast; it
            # reconnects and recovers from the history.
            self.end(CLOSE_TOO_SLOW, "subscriber too slow")
            return
        # Not contextlib.suppress: this runs once per subscriber per message.
        try:  # noqa: SIM105
            ws.send_prepared(message.prepared)
        except ConnectionClosed:
            pass  # the connection's own close ends the subscription

    def end(self, code: int, reason: str) -> None:
        self.ws.close(code, reason)


class QueueSubscriber(Subscriber):
    """An SSE, streaming or long-poll response: messages wait in a bounded queue for it."""

    __slots__ = ("_waiter", "ended", "max_queue", "queue")

    def __init__(self, client: HubClient, max_queue: int) -> None:
        super().__init__(client)
        self.queue: deque[Outgoing] = deque()
        self.max_queue = max_queue
        self.ended: str | None = None
        """Why the response must end (None: it goes on)."""
        self._waiter: asyncio.Future[None] | None = None

    def send(self, message: Outgoing) -> None:
        if self.ended is not None:
            return
        if len(self.queue) >= self.max_queue:
            # The response ends; the client reconnects and recovers what it lacks.
            self.end(CLOSE_TOO_SLOW, "queue full")
            return
        self.queue.append(message)
        self._wake()

    def end(self, code: int, reason: str) -> None:
        self.ended = reason
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Wait until a message is queued, the response must end, or ``timeout`` passes."""
        if self.queue or self.ended is not None:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> list[Outgoing]:
        """Every queued message, oldest first."""
        messages = list(self.queue)
        self.queue.clear()
        return messages


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
