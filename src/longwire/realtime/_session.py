"""``Session``: one logical connection, whatever transports carry it over time.

A session outlives its transport connections: a WebSocket that drops, an SSE
stream that ends, a long poll answered, none of them ends it. The session keeps
what it sent until the client acknowledges it (``Outbox``) and drops what the
client resends (``Inbox``), so each message arrives once and in order. It ends
when either side closes it, or when no request arrives for ``session_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from .._errors import ConnectionClosed
from ..aio._websocket import ReadyState
from ._protocol import (
    CLOSE_QUEUE_OVERFLOW,
    Frame,
    Inbox,
    Outbox,
    ProtocolViolation,
    QueueOverflow,
    message_data,
)

__all__ = ["Session"]

logger = logging.getLogger("longwire.realtime")


class Session:
    """A session as its handler sees it: the shape of the server-side ``WebSocket``.

    ``await send(data)``, ``await recv()``, ``async for message in session``,
    ``close(code, reason)``, ``ready_state``, ``close_code`` and
    ``close_reason`` work as they do on a ``WebSocket``; ``transport`` names the
    transport carrying the session now (``"websocket"``, ``"sse"``,
    ``"streaming"``, ``"polling"``, or ``None`` between connections) and ``id``
    is the session id.

    Attributes:
        id: the session id (unguessable: ``secrets.token_urlsafe(24)``).
        transport: the transport in use, or ``None`` while none is connected.
        close_code: once closed, the close code (1000 normal, 1006 timed out,
            1011 handler error, 1013 queue limit exceeded, or the client's).
        close_reason: once closed, the close reason.
        request: the request that opened the session (its headers, cookies).
        pings: how many heartbeat pings the client sent.
    """

    def __init__(
        self,
        *,
        max_queue: int,
        request: Any = None,
        on_done: Callable[[Session], None] | None = None,
    ) -> None:
        self.id = secrets.token_urlsafe(24)
        self.transport: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.request = request
        self.pings = 0
        self._max_queue = max_queue
        self._outbox = Outbox(max_queue)
        self._inbox = Inbox()
        self._incoming: deque[str | bytes] = deque()
        self._state = ReadyState.OPEN
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None  # recv() waiting
        self._wakers: list[asyncio.Future[None]] = []  # downstreams waiting for a change
        self._room: list[asyncio.Future[None]] = []  # send() waiting for acks
        self._attached = 0  # the token of the downstream in use (a newer one replaces it)
        self._drop_down = False  # drop_connection(): cut the downstream...
        self._drop_up = False  # ...and the answer to the next upstream request
        self._on_done = on_done
        self._done = False
        self.task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Session {self.id[:8]}... {self._state.name} via {self.transport}>"

    # The handler's side.

    @property
    def ready_state(self) -> ReadyState:
        """``OPEN`` until closed by either side, then ``CLOSED``."""
        return self._state

    async def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        It is queued until the client acknowledges it. With ``max_queue``
        messages unacknowledged, it waits until the client acknowledges some
        (backpressure: a client that stopped reading stops the sender; one
        that is gone ends the session after ``session_timeout``).

        Raises:
            ConnectionClosed: the session is closed.
        """
        if self._state is not ReadyState.OPEN:
            raise self._closed_error()
        payload = data if isinstance(data, str) else bytes(data)
        while True:
            try:
                self._outbox.push_message(payload)
                break
            except QueueOverflow:
                # Backpressure: wait for the client to acknowledge (or the session to end).
                room = self._loop.create_future()
                self._room.append(room)
                try:
                    await room
                finally:
                    if room in self._room:
                        self._room.remove(room)
                if self._state is not ReadyState.OPEN:
                    raise self._closed_error() from None
        self._notify()

    async def recv(self) -> str | bytes:
        """The next message from the client: ``str`` for text, ``bytes`` for binary.

        Raises:
            ConnectionClosed: the session is closed and no message is left.
        """
        while True:
            if self._incoming:
                return self._incoming.popleft()
            if self._state is not ReadyState.OPEN:
                raise self._closed_error()
            if self._waiter is not None:
                raise RuntimeError("recv() is already being awaited by another task")
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Messages until the session closes (see ``close_code``)."""
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.recv()
            except ConnectionClosed:
                return

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session: the client gets a close frame after the messages sent before.

        A no-op once closed.
        """
        if self._state is not ReadyState.OPEN:
            return
        self._outbox.push_close(code, reason)
        self._closed(code, reason)

    def drop_connection(self) -> None:
        """Cut the transport connection in use (as a network failure would).

        The session stays: the client reconnects and resumes it, losing and
        duplicating nothing. Meant for tests and for moving clients off a server.
        """
        self._drop_down = self._drop_up = True
        self._notify()

    # The transports' side.

    def attach(self, transport: str) -> int:
        """A downstream connection starts; returns its token (older ones stop)."""
        self._attached += 1
        self.transport = transport
        self._notify()
        return self._attached

    def detach(self, token: int) -> None:
        """The downstream connection with ``token`` ended."""
        if token == self._attached:
            self.transport = None

    def current(self, token: int) -> bool:
        """Whether the downstream with ``token`` is still the one in use."""
        return token == self._attached

    def take_drop(self, *, upstream: bool = False) -> bool:
        """Whether ``drop_connection()`` asked to cut this connection (asked once).

        ``upstream``: for the answer to an upstream request; else the downstream.
        """
        if upstream:
            drop, self._drop_up = self._drop_up, False
        else:
            drop, self._drop_down = self._drop_down, False
        return drop

    def pending(self, after: int) -> list[Frame]:
        """The frames to send a downstream that has every frame up to ``after``."""
        return self._outbox.after(after)

    @property
    def finished(self) -> bool:
        """Whether the session is closed and the client acknowledged the close frame."""
        return self._state is ReadyState.CLOSED and len(self._outbox) == 0

    @property
    def upstream_ack(self) -> int:
        """The last client frame number taken in order: the ack to send back."""
        return self._inbox.last

    @property
    def downstream_last(self) -> int:
        """The number of the last frame queued for the client."""
        return self._outbox.last

    async def wait(self, timeout: float) -> None:
        """Until something changes for downstreams (a frame, a new one, a drop) or ``timeout``."""
        waker = self._loop.create_future()
        self._wakers.append(waker)
        timer = self._loop.call_later(timeout, _wake, waker)
        try:
            await waker
        finally:
            timer.cancel()
            if waker in self._wakers:
                self._wakers.remove(waker)

    def receive(self, frames: list[Frame], *, reply: list[Frame] | None = None) -> None:
        """Take the frames a client sent (a packet), in order.

        ``reply`` collects frames to answer on the same connection (``pong``).

        Raises:
            ProtocolViolation: a frame is malformed.
        """
        for frame in frames:
            kind = frame["t"]
            if kind == "ack":
                self._outbox.ack(frame["a"])
                if self._room:
                    self._release_senders()
                if self.finished:
                    self._finish()
            elif kind == "ping":
                self.pings += 1
                if reply is not None:
                    reply.append({"t": "pong"})
            elif kind in ("msg", "close"):
                if not self._inbox.accept(frame):
                    continue
                if kind == "close":
                    code = frame.get("code", 1000)
                    reason = frame.get("reason", "")
                    if self._state is ReadyState.OPEN:
                        self._outbox.push_close(code, reason)
                        self._closed(code, reason)
                    continue
                if self._state is not ReadyState.OPEN:
                    continue
                if len(self._incoming) >= self._max_queue:
                    self.close(CLOSE_QUEUE_OVERFLOW, "queue limit exceeded")
                    continue
                self._incoming.append(message_data(frame))
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif kind in ("pong", "hb", "open", "hello"):
                continue
            else:  # pragma: no cover - decode_packet checked the type
                raise ProtocolViolation(f"unexpected frame {kind!r}")
        self._notify()

    def expire(self) -> None:
        """No request came for the session timeout: close it as dropped (1006)."""
        if self._state is ReadyState.OPEN:
            self._closed(1006, "session timed out")
        self._finish()

    # Internals.

    def _notify(self) -> None:
        # Cheap when no downstream waits: nearly every send() on a busy session.
        if self._wakers:
            wakers, self._wakers = self._wakers, []
            for waker in wakers:
                _wake(waker)

    def _release_senders(self) -> None:
        rooms, self._room = self._room, []
        for room in rooms:
            _wake(room)

    def _closed(self, code: int, reason: str) -> None:
        self._state = ReadyState.CLOSED
        self.close_code = code
        self.close_reason = reason
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._release_senders()
        self._notify()

    def _finish(self) -> None:
        """Forget the session: its close is acknowledged, or it timed out."""
        if self._done:
            return
        self._done = True
        self._notify()
        if self._on_done is not None:
            self._on_done(self)

    def _closed_error(self) -> ConnectionClosed:
        return ConnectionClosed(self.close_code or 1006, self.close_reason)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
