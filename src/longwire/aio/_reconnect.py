"""A client WebSocket that reconnects by itself: ``connect(url, reconnect=True)``.

::

    ws = await longwire.connect("wss://example.com/feed", reconnect=Reconnect(max_attempts=10))
    ws.on_reconnect = lambda attempt: ws.send('{"subscribe": "prices"}')
    async for message in ws:       # goes on across reconnections
        ...

When the connection drops (the network fails, the server restarts and closes
with 1001 Going Away, ...) a ``ReconnectingWebSocket`` opens a new one with the
same URL and options, waiting longer after each failed attempt (exponential
backoff with jitter). Messages are never buffered for a connection that is not
there: ``send`` while reconnecting raises ``ConnectionClosed``, so the
application decides what to resend (``on_reconnect`` is the place).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._errors import ConnectionClosed
from ..websocket import CloseCode
from ._websocket import (
    CloseCallback,
    ErrorCallback,
    MessageCallback,
    ReadyState,
    WebSocket,
    messages,
)

__all__ = ["RETRY_CLOSE_CODES", "Reconnect", "ReconnectingWebSocket"]

logger = logging.getLogger("longwire.websocket")

RETRY_CLOSE_CODES = frozenset(
    {
        CloseCode.GOING_AWAY,  # 1001: the server is shutting down or restarting
        CloseCode.ABNORMAL_CLOSURE,  # 1006: the TCP connection dropped
        CloseCode.INTERNAL_ERROR,  # 1011: includes our own keepalive timeout
        CloseCode.SERVICE_RESTART,  # 1012
        CloseCode.TRY_AGAIN_LATER,  # 1013
        CloseCode.BAD_GATEWAY,  # 1014: a proxy lost the upstream
    }
)
"""Close codes after which the connection is reopened.

The others end the session: 1000 means the server is done with us, and the
protocol and policy codes (1002, 1003, 1007 to 1010) or an application's own
(3000-4999) would most likely be answered the same way again.
"""

Prepare = Callable[[WebSocket], None]
Connector = Callable[[Prepare], Awaitable[WebSocket]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnect:
    """When and how often to reopen a dropped connection.

    The n-th attempt after a drop waits ``initial_delay * factor ** (n - 1)``
    seconds, at most ``max_delay``, shortened by a random fraction up to
    ``jitter`` so that clients dropped together do not all come back at once.

    Attributes:
        initial_delay: seconds before the first attempt. Default 0.5.
        max_delay: longest wait between attempts. Default 30.
        factor: growth of the wait after each failed attempt. Default 2.
        jitter: 0 to 1; each wait is drawn from ``[delay * (1 - jitter), delay]``.
            Default 0.5.
        max_attempts: failed attempts in a row after which the session ends
            (close code 1006); None: try forever. Default None.
        retry_codes: close codes that cause a reconnection (``RETRY_CLOSE_CODES``).

    Raises:
        ValueError: a setting is out of range.
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    retry_codes: frozenset[int] = RETRY_CLOSE_CODES

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 <= initial_delay <= max_delay")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None to try forever)")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 for the first)."""
        # Cap the exponent: factor ** attempt overflows a float after ~1000 attempts.
        delay = min(self.max_delay, self.initial_delay * self.factor ** min(attempt - 1, 64))
        return delay * (1 - self.jitter * random.random())


class ReconnectingWebSocket:
    """A client WebSocket that reopens itself after the connection drops.

    ``connect(url, reconnect=...)`` returns one, already open. It has the
    ``WebSocket``'s shape (``ready_state``, ``send``, ``recv``, ``async for``,
    ``ping``, ``close``, ``buffered_amount``, ``subprotocol``, ``extensions``,
    ``close_code``, ``close_reason``, the ``on_open``, ``on_message``, ``on_close``
    and ``on_error`` callbacks) over whichever connection is current, plus:

    - ``on_reconnect(attempt)``: called after ``on_open`` each time a new
      connection is open (``attempt``: how many tries it took); the place to
      subscribe again or resend what the application did not see acknowledged;
    - ``reconnects``: how many times it reconnected;
    - ``policy``: the ``Reconnect`` settings; ``websocket``: the current ``WebSocket``.

    A close with a code in ``Reconnect.retry_codes`` (1001, 1006, 1011-1014)
    starts reconnecting: ``ready_state`` is CONNECTING until the new connection
    is open. ``recv`` and ``async for`` wait through it (messages received before
    the drop are delivered first). ``send`` and ``ping`` raise
    ``ConnectionClosed`` meanwhile: nothing is buffered. The first connection
    is not retried: ``connect`` raises if it fails.

    The session ends, and ``on_close`` is called once, when the application
    calls ``close()``, when the server closes with another code (1000, ...), or
    after ``max_attempts`` failed attempts in a row (code 1006, and the reason
    says why). Between connections no callback is called: watch ``ready_state``
    or ``on_reconnect``.
    """

    def __init__(self, url: str, connector: Connector, policy: Reconnect) -> None:
        """Not called directly: use ``connect(url, reconnect=...)``.

        Args:
            url: the URL, for ``repr``.
            connector: opens a connection, calling its argument on the new
                ``WebSocket`` before the handshake.
            policy: when to reconnect.
        """
        self.url = url
        self._connector = connector
        self.policy = policy
        self._ws: WebSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False  # the application called close()
        self._final: tuple[int, str, bool] | None = None  # (code, reason, was_clean)
        self._changed: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._on_message: MessageCallback | None = None
        self._on_error: ErrorCallback | None = None
        self.reconnects = 0
        self.on_open: Callable[[], Any] | None = None
        self.on_close: CloseCallback | None = None
        self.on_reconnect: Callable[[int], Any] | None = None

    def __repr__(self) -> str:
        return f"<ReconnectingWebSocket {self.ready_state.name} {self.url}>"

    async def _start(self) -> ReconnectingWebSocket:
        """Open the first connection (errors propagate: the first one is not retried)."""

        def prepare(ws: WebSocket) -> None:
            # Current from the start: should it close before connect() returns,
            # _dropped handles it as any other drop.
            self._ws = ws
            self._prepare(ws)

        await self._connector(prepare)
        return self

    def _prepare(self, ws: WebSocket) -> None:
        # Set before the handshake, so a message that comes with the 101 already
        # finds the application's callback.
        ws.on_message = self._on_message
        ws.on_error = self._on_error
        ws.on_close = lambda code, reason, was_clean: self._dropped(ws, code)

    # The WebSocket's shape, over the current connection.

    @property
    def ready_state(self) -> ReadyState:
        """CONNECTING while reconnecting, CLOSED once the session ended, else the connection's."""
        if self._final is not None:
            return ReadyState.CLOSED
        if self._task is not None:
            return ReadyState.CONNECTING
        assert self._ws is not None
        return self._ws.ready_state

    @property
    def websocket(self) -> WebSocket:
        """The current (or last) connection."""
        assert self._ws is not None
        return self._ws

    @property
    def buffered_amount(self) -> int:
        """Bytes queued on the current connection and not yet sent."""
        return self.websocket.buffered_amount

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol of the current connection."""
        return self.websocket.subprotocol

    @property
    def extensions(self) -> str:
        """The extensions of the current connection."""
        return self.websocket.extensions

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """The server's address."""
        return self.websocket.remote_address

    @property
    def close_code(self) -> int | None:
        """Once the session ended, its close code; else None."""
        return self._final[0] if self._final is not None else None

    @property
    def close_reason(self) -> str:
        """Once the session ended, its close reason."""
        return self._final[1] if self._final is not None else ""

    @property
    def was_clean(self) -> bool:
        """Whether the session ended with a closing handshake."""
        return self._final[2] if self._final is not None else False

    @property
    def on_message(self) -> MessageCallback | None:
        """Callback style: called with each message, on every connection."""
        return self._on_message

    @on_message.setter
    def on_message(self, callback: MessageCallback | None) -> None:
        self._on_message = callback
        if self._ws is not None:
            self._ws.on_message = callback

    @property
    def on_error(self) -> ErrorCallback | None:
        """Called with the exception when a connection fails or a callback raises."""
        return self._on_error

    @on_error.setter
    def on_error(self, callback: ErrorCallback | None) -> None:
        self._on_error = callback
        if self._ws is not None:
            self._ws.on_error = callback

    def send(self, data: str | bytes | bytearray | memoryview, *, compress: bool = True) -> Any:
        """Send a message on the current connection (see ``WebSocket.send``).

        Raises:
            ConnectionClosed: reconnecting, closing, or the session ended. The
                message is not kept for the next connection.
        """
        if self._task is not None or self._final is not None:
            raise self._closed_error()
        return self.websocket.send(data, compress=compress)

    async def ping(self, data: bytes = b"") -> float:
        """Ping the server on the current connection (see ``WebSocket.ping``).

        Raises:
            ConnectionClosed: not connected, or the connection closed before the Pong.
        """
        if self._task is not None or self._final is not None:
            raise self._closed_error()
        return await self.websocket.ping(data)

    async def recv(self) -> str | bytes:
        """The next message, waiting through reconnections.

        Raises:
            ConnectionClosed: the session ended (``code``, ``reason``: how).
        """
        while True:
            ws = self.websocket
            try:
                return await ws.recv()
            except ConnectionClosed:
                # Wait until this drop is settled: a new connection, or the end.
                while self._ws is ws and self._final is None:
                    await self._changed_future()
                if self._final is not None and self._ws is ws:
                    raise self._closed_error() from None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Messages until the session ends (see ``close_code``)."""
        return messages(self.recv)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> asyncio.Future[None]:
        """End the session: close the connection (or stop reconnecting); no reconnection follows.

        Returns:
            A future that completes when the session has ended; awaiting it is optional.

        Raises:
            LocalProtocolError: ``code`` or ``reason`` may not be sent (see ``WebSocket.close``).
        """
        closed = self._closed_future()
        if self._final is not None:
            return closed
        ws = self.websocket
        if self._task is not None:
            # No connection to close: as a browser does for a connecting WebSocket,
            # end with 1006.
            self._task.cancel()
            self._task = None
            self._end(CloseCode.ABNORMAL_CLOSURE, "closed while reconnecting", False)
            return closed
        ws.close(code, reason)  # raises before _closing is set if code is invalid
        self._closing = True
        return closed

    async def wait_closed(self) -> None:
        """Wait until the session has ended."""
        await self._closed_future()

    # Reconnecting.

    def _dropped(self, ws: WebSocket, code: int) -> None:
        """``ws`` closed (its ``on_close``): reconnect, or end the session."""
        if ws is not self._ws or self._final is not None:
            return
        if self._closing or code not in self.policy.retry_codes:
            self._end(code, ws.close_reason, ws.was_clean)
            return
        self._task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        policy = self.policy
        attempt = 0
        error: BaseException | None = None
        while policy.max_attempts is None or attempt < policy.max_attempts:
            attempt += 1
            await asyncio.sleep(policy.delay(attempt))
            try:
                ws = await self._connector(self._prepare)
            except Exception as exc:
                # The server is still down (refused, reset), slow (timeout), not
                # ready (a proxy's 502/503), ...: all are worth another try.
                logger.debug("reconnection attempt %d to %s failed: %r", attempt, self.url, exc)
                error = exc
                continue
            if ws.ready_state is not ReadyState.OPEN:
                # Accepted, then closed at once (a server too busy, 1013): that
                # is a failed attempt too. The connection finishes on its own.
                error = ws._closed_error()
                continue
            self._task = None
            self._ws = ws
            self.reconnects += 1
            self._wake()
            if self.on_open is not None:
                ws._call(self.on_open)
            if self.on_reconnect is not None:
                ws._call(self.on_reconnect, attempt)
            return
        self._task = None
        reason = f"gave up reconnecting after {attempt} attempts: {error}"
        self._end(CloseCode.ABNORMAL_CLOSURE, reason, False)

    def _end(self, code: int, reason: str, was_clean: bool) -> None:
        self._final = (code, reason, was_clean)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self._wake()
        if self.on_close is not None:
            self.websocket._call(self.on_close, code, reason, was_clean)

    def _wake(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    def _changed_future(self) -> asyncio.Future[None]:
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def _closed_future(self) -> asyncio.Future[None]:
        closed = self._closed
        if closed is None:
            closed = self._closed = asyncio.get_running_loop().create_future()
            if self._final is not None:
                closed.set_result(None)
        return closed

    def _closed_error(self) -> ConnectionClosed:
        if self._final is not None:
            return ConnectionClosed(self._final[0], self._final[1])
        if self._task is not None:
            return ConnectionClosed(CloseCode.ABNORMAL_CLOSURE, "reconnecting")
        return self.websocket._closed_error()
