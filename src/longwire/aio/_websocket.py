"""The WebSocket object handlers and clients use, with the browser's shape.

One class for both ends. It is the socket's ``asyncio.Protocol`` once the opening
handshake is done: bytes go into the sans-I/O core (``longwire.websocket.Connection``)
and what the core returns goes out. It holds no protocol knowledge of its own.

Two styles, both first class:

- coroutine style: ``async for message in ws`` / ``await ws.recv()``, with
  ``await ws.send(...)`` for backpressure;
- callback style, as in a browser: ``ws.on_message = ...``; messages are then
  delivered to the callback as they are parsed and never queued.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed, LocalProtocolError
from ..metrics import Metrics
from ..websocket import CloseCode, CloseReceived, ConnectionFailed, Message, Pong, PreparedMessage
from ..websocket import Connection as WebSocketCore
from ..websocket import State as CoreState
from ._config import WebSocketOptions
from ._flow import WriteFlowControl

if TYPE_CHECKING:
    from ..app import Request

__all__ = ["ReadyState", "WebSocket"]

logger = logging.getLogger("longwire.websocket")

MessageCallback = Callable[[str | bytes], Any]
CloseCallback = Callable[[int, str, bool], Any]
ErrorCallback = Callable[[BaseException], Any]


async def messages(recv: Callable[[], Awaitable[str | bytes]]) -> AsyncIterator[str | bytes]:
    """What ``recv`` returns, until it raises ``ConnectionClosed``."""
    while True:
        try:
            yield await recv()
        except ConnectionClosed:
            return


class _Flusher:
    """Writes, at the end of the loop turn, what the loop's WebSockets queued in it.

    One callback per loop turn for all of them, rather than one per connection:
    a broadcast to 10,000 connections queues 10,000 sends and schedules once.
    """

    __slots__ = ("_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[WebSocket] = []

    def add(self, ws: WebSocket) -> None:
        pending = self._pending
        if not pending:
            self._loop.call_soon(self._run)
        pending.append(ws)

    def _run(self) -> None:
        pending = self._pending
        self._pending = []
        for ws in pending:
            if ws._flush_scheduled:  # else it was written meanwhile
                try:
                    ws._flush()
                except Exception:  # one broken transport must not starve the others
                    logger.exception("writing to %r failed", ws)


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary()
)


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


class ReadyState(enum.IntEnum):
    """The browser's ``WebSocket.readyState`` values."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class _Done:
    """What ``send`` returns when nothing needs waiting for: awaiting it is free."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]


_DONE = _Done()
_KEEPALIVE_REASON = "keepalive ping timeout"
_WRITELINES_SIZE = 64 * 1024
_CORE_OPEN = CoreState.OPEN
# Where a WebSocket with no server counts (a client's): nobody reads it, and an
# increment there costs what it costs anywhere, so the hot paths need no test.
_UNCOUNTED = Metrics()


class WebSocket(WriteFlowControl):
    """A WebSocket connection (RFC 6455), from either end.

    Handlers receive one; ``longwire.connect`` returns one. Attributes in the
    browser's shape: ``ready_state``, ``buffered_amount``, ``subprotocol``,
    ``extensions``, and the ``on_open``, ``on_message``, ``on_close(code, reason,
    was_clean)`` and ``on_error(exception)`` callbacks.

    Also: ``request`` (server side: the upgrade ``Request``, with ``path_params``),
    ``remote_address``, ``close_code`` and ``close_reason`` (once closed).
    """

    __slots__ = (
        "_close_timer",
        "_closed",
        "_core",
        "_flush_scheduled",
        "_flusher",
        "_in_feed",
        "_keepalive_timer",
        "_loop",
        "_metrics",
        "_options",
        "_pending_pings",
        "_queue",
        "_reading_paused",
        "_released",
        "_started",
        "_state",
        "_transport",
        "_unflushed",
        "_waiter",
        "bytes_received",
        "bytes_sent",
        "close_code",
        "close_reason",
        "extensions",
        "on_close",
        "on_error",
        "on_message",
        "on_open",
        "remote_address",
        "request",
        "subprotocol",
        "was_clean",
    )

    def __init__(
        self,
        *,
        options: WebSocketOptions,
        loop: asyncio.AbstractEventLoop,
        request: Request | None = None,
        remote_address: tuple[str, int] | None = None,
    ) -> None:
        self._options = options
        self._loop = loop
        self._metrics = _UNCOUNTED
        self._state = ReadyState.CONNECTING
        self._core: WebSocketCore | None = None
        self._transport: asyncio.Transport | None = None
        self._queue: deque[str | bytes] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._pending_pings: dict[bytes, tuple[asyncio.Future[float], float]] | None = None
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._in_feed = False
        self._flush_scheduled = False
        self._flusher = _flusher(loop)
        self._unflushed = 0  # about how many bytes send() queued since the last flush
        self._init_flow()
        self._reading_paused = False
        self._released: Callable[[WebSocket], None] | None = None
        self._started = time.monotonic()
        self.request = request
        self.remote_address = remote_address
        self.subprotocol: str | None = None
        self.extensions = ""
        self.close_code: int | None = None
        self.close_reason = ""
        self.was_clean = False
        self.bytes_received = 0
        self.bytes_sent = 0
        self.on_open: Callable[[], Any] | None = None
        self.on_message: MessageCallback | None = None
        self.on_close: CloseCallback | None = None
        self.on_error: ErrorCallback | None = None

    def __repr__(self) -> str:
        return f"<WebSocket {self._state.name} {self.remote_address}>"

    # The browser's attributes.

    @property
    def ready_state(self) -> ReadyState:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return self._state

    @property
    def buffered_amount(self) -> int:
        """Bytes queued by ``send`` and not yet handed to the operating system."""
        transport = self._transport
        queued = self._core.bytes_to_send if self._core is not None else 0
        if transport is None or transport.is_closing():
            return queued
        return queued + transport.get_write_buffer_size()

    # Opening (called by the server or client I/O code).

    def _open(
        self,
        core: WebSocketCore,
        transport: asyncio.Transport,
        *,
        subprotocol: str | None,
        extensions: str,
        released: Callable[[WebSocket], None] | None = None,
    ) -> None:
        """Take over ``transport``: the handshake is done and ``core`` is its result."""
        self._core = core
        self._transport = transport
        self.subprotocol = subprotocol
        self.extensions = extensions
        self._released = released
        self._state = ReadyState.OPEN
        transport.set_write_buffer_limits(high=self._options.write_limit)
        transport.set_protocol(self)
        interval = self._options.ping_interval
        if interval is not None:
            self._keepalive_timer = self._loop.call_later(interval, self._send_keepalive)
        if self.on_open is not None:
            self._call(self.on_open)
        # Bytes that came with the handshake (a client may send frames at once).
        self.data_received(b"")

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        core = self._core
        assert core is not None
        self.bytes_received += len(data)
        events = core.receive_data(data)
        if events:
            self._in_feed = True
            # Counted once per read rather than once per message: the (rare) other
            # events take themselves off below.
            metrics = self._metrics
            metrics.websocket_messages_in += len(events)
            try:
                for event in events:
                    if type(event) is Message:
                        callback = self.on_message
                        if callback is None:
                            self._deliver(event.data)
                            continue
                        # The callback style's path, inlined: once per message.
                        try:
                            result = callback(event.data)
                        except Exception as exc:
                            self._callback_failed(callback, exc)
                            continue
                        if type(result) is CoroutineType:
                            task = self._loop.create_task(result)
                            task.add_done_callback(self._callback_task_done)
                        continue
                    metrics.websocket_messages_in -= 1
                    if type(event) is Pong:
                        self._pong_received(event.payload)
                    elif type(event) is CloseReceived:
                        if self._state is ReadyState.OPEN:
                            self._state = ReadyState.CLOSING
                    elif type(event) is ConnectionFailed:
                        self._failed(event)
            finally:
                self._in_feed = False
        self._flush()

    def eof_received(self) -> bool | None:
        core = self._core
        if core is not None:
            core.receive_eof()
            self._flush()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    # Receiving.

    def _deliver(self, data: str | bytes) -> None:
        callback = self.on_message
        if callback is not None:
            # _call, inlined: this runs once per message.
            try:
                result = callback(data)
            except Exception as exc:
                self._callback_failed(callback, exc)
                return
            if type(result) is CoroutineType:
                self._loop.create_task(result).add_done_callback(self._callback_task_done)
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if (
            len(queue) >= self._options.max_queue
            and not self._reading_paused
            and self._state is ReadyState.OPEN  # CLOSING: the peer's Close must get in
        ):
            # The application is not keeping up: stop reading, so TCP flow control
            # slows the peer down instead of our memory growing.
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    async def recv(self) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises:
            ConnectionClosed: the connection is closed (``code`` and ``reason``
                say how) and no message is left.
        """
        while True:
            queue = self._queue
            if queue:
                data = queue.popleft()
                if self._reading_paused and len(queue) <= self._options.max_queue // 4:
                    self._reading_paused = False
                    if self._transport is not None and not self._transport.is_closing():
                        self._transport.resume_reading()
                return data
            if self._state is ReadyState.CONNECTING and self.request is not None:
                await self.accept()
                continue
            if self._state is ReadyState.CLOSED:
                raise self._closed_error()
            if self.on_message is not None:
                raise RuntimeError("recv() cannot be used while on_message is set")
            if self._waiter is not None:
                raise RuntimeError("recv() is already being awaited by another task")
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Messages until the connection closes (for any reason: see ``close_code``)."""
        return messages(self.recv)

    # Sending.

    def send(self, data: str | bytes | bytearray | memoryview, *, compress: bool = True) -> Any:
        """Send a message: ``str`` as text, bytes-like as binary.

        The message is queued at once (``buffered_amount`` grows) and written with
        the others of this event-loop turn. The return value can be awaited: it
        completes at once unless the write buffer is over ``write_limit``, and then
        when it drains. Awaiting it is how a producer respects backpressure.

        Args:
            compress: with permessage-deflate negotiated, compress this message
                (messages under the configured minimum size never are).

        Raises:
            ConnectionClosed: the closing handshake has started or is over.
        """
        if self._state is not ReadyState.OPEN:
            if self._state is ReadyState.CONNECTING and self.request is not None:
                return self._accept_then_send(data, compress)
            raise self._closed_error()
        core = self._core
        assert core is not None
        core.send_message(data, compress=compress)
        self._metrics.websocket_messages_out += 1
        if not self._in_feed:
            self._unflushed += len(data)
            if self._unflushed > self._options.write_limit:
                # Write now rather than at the end of the loop turn: the transport
                # must see the bytes to pause us, or a producer that awaits each
                # send (and so never yields) queues without bound.
                self._flush()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                self._flusher.add(self)
        if self._write_paused:
            return self._drained()
        return _DONE

    def send_prepared(self, message: PreparedMessage) -> Any:
        """Send a message framed once for many connections (``PreparedMessage``).

        Like ``send`` (queued now, written at the end of the loop turn, the
        result awaitable for backpressure), without encoding or framing: a
        broadcast builds one ``PreparedMessage`` and sends it to every
        connection. It goes uncompressed even with permessage-deflate.

        Raises:
            ConnectionClosed: the closing handshake has started or is over.
        """
        if self._state is not ReadyState.OPEN:
            raise self._closed_error()
        core = self._core
        assert core is not None
        core.send_prepared(message)
        self._metrics.websocket_messages_out += 1
        if not self._in_feed:
            self._unflushed += message.size
            if self._unflushed > self._options.write_limit:
                self._flush()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                self._flusher.add(self)
        if self._write_paused:
            return self._drained()
        return _DONE

    def send_all(
        self, messages: Iterable[str | bytes | bytearray | memoryview], *, compress: bool = True
    ) -> Any:
        """Send several messages and write them now, in one write.

        ``send`` leaves the write to the end of the event-loop turn, so that the
        messages of one turn go out together; a caller that has a batch in hand
        (the lines of one read from a pipe, say) saves that round through the
        loop. The return value is ``send``'s: awaitable, for backpressure.

        Raises:
            ConnectionClosed: the closing handshake has started or is over.
        """
        if self._state is not ReadyState.OPEN:
            if self._state is ReadyState.CONNECTING and self.request is not None:
                return self._accept_then_send_all(list(messages), compress)
            raise self._closed_error()
        core = self._core
        assert core is not None
        send_message = core.send_message
        count = 0
        for data in messages:
            send_message(data, compress=compress)
            count += 1
        self._metrics.websocket_messages_out += count
        if not self._in_feed:  # else data_received flushes when the feed is done
            self._flush()
        if self._write_paused:
            return self._drained()
        return _DONE

    async def _accept_then_send_all(
        self, messages: list[str | bytes | bytearray | memoryview], compress: bool
    ) -> None:
        await self.accept()
        await self.send_all(messages, compress=compress)

    async def _accept_then_send(
        self, data: str | bytes | bytearray | memoryview, compress: bool
    ) -> None:
        await self.accept()
        await self.send(data, compress=compress)

    async def ping(self, data: bytes = b"") -> float:
        """Send a Ping and wait for its Pong.

        Returns:
            The round-trip time in seconds.

        Raises:
            ConnectionClosed: the connection closed before the Pong came.
        """
        if self._state is not ReadyState.OPEN:
            raise self._closed_error()
        pings = self._pending_pings
        if pings is None:
            pings = self._pending_pings = {}
        payload = bytes(data) or os.urandom(4)
        while payload in pings:
            payload = os.urandom(4)
        future: asyncio.Future[float] = self._loop.create_future()
        pings[payload] = (future, time.monotonic())
        assert self._core is not None
        self._core.send_ping(payload)
        self._flush()
        return await future

    def _pong_received(self, payload: bytes) -> None:
        pings = self._pending_pings
        if not pings or payload not in pings:
            return
        # RFC 6455 §5.5.3: a Pong answers the most recent Ping; earlier ones are
        # answered by it too.
        for key in list(pings):
            future, sent_at = pings.pop(key)
            if not future.done():
                future.set_result(time.monotonic() - sent_at)
            if key == payload:
                break

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._unflushed = 0
        core = self._core
        transport = self._transport
        if core is None or transport is None:
            return
        pieces = core.data_to_send_list()
        if len(pieces) == 2 and len(pieces[1]) < _WRITELINES_SIZE:
            # One small frame (header, payload): the common case.
            data = b"".join(pieces)
            self.bytes_sent += len(data)
            if not transport.is_closing():
                transport.write(data)
        elif pieces:
            size = sum(map(len, pieces))
            self.bytes_sent += size
            if not transport.is_closing():
                if size < _WRITELINES_SIZE:
                    transport.write(b"".join(pieces) if len(pieces) > 1 else pieces[0])
                else:
                    # A big payload goes to the transport as it is, not copied into
                    # one buffer with its header first.
                    transport.writelines(pieces)
        if core.state is _CORE_OPEN:
            return  # no Close frame either way yet: nothing below applies
        if core.should_close_transport:
            if self._state is not ReadyState.CLOSED:
                self._state = ReadyState.CLOSED
                self._settle_close_code()  # CLOSED comes with its code, as in a browser
            transport.close()
        elif core.close_sent is not None and self._close_timer is None:
            # Our Close frame is out: the peer has close_timeout to answer (and a
            # server to close TCP), or we drop the connection.
            self._close_timer = self._loop.call_later(
                self._options.close_timeout, self._close_timed_out
            )

    # Closing.

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> asyncio.Future[None]:
        """Start the closing handshake (a no-op once started).

        Returns:
            A future that completes when the connection is closed; awaiting it is
            optional.

        Raises:
            LocalProtocolError: ``code`` may not be sent (RFC 6455 §7.4) or
                ``reason`` is over 123 bytes in UTF-8.
        """
        closed = self._closed_future()
        if self._state is ReadyState.CONNECTING:
            if self.request is not None:
                self._loop.create_task(self.reject(403))
            return closed
        if self._state is ReadyState.OPEN:
            assert self._core is not None
            self._core.close(code, reason)
            self._state = ReadyState.CLOSING
            self._flush()
            if self._reading_paused and self._transport is not None:
                # A full queue paused reading: the peer's Close must still be read,
                # or the closing handshake can only time out.
                self._reading_paused = False
                self._transport.resume_reading()
        return closed

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await self._closed_future()

    def _closed_future(self) -> asyncio.Future[None]:
        closed = self._closed
        if closed is None:
            closed = self._closed = self._loop.create_future()
            if self._state is ReadyState.CLOSED and self._transport is None:
                closed.set_result(None)  # else _finish settles it once TCP is gone
        return closed

    def _failed(self, event: ConnectionFailed) -> None:
        logger.debug("WebSocket failed: %s (%d)", event.reason, event.code)
        if self.on_error is not None:
            self._call(self.on_error, event.error)

    def _send_keepalive(self) -> None:
        self._keepalive_timer = None
        if self._state is not ReadyState.OPEN:
            return
        payload = os.urandom(4)
        pings = self._pending_pings
        if pings is None:
            pings = self._pending_pings = {}
        future: asyncio.Future[float] = self._loop.create_future()
        pings[payload] = (future, time.monotonic())
        future.add_done_callback(self._keepalive_answered)
        assert self._core is not None
        self._core.send_ping(payload)
        self._flush()
        timeout = self._options.ping_timeout
        if timeout is not None:
            self._keepalive_timer = self._loop.call_later(timeout, self._keepalive_expired, future)

    def _keepalive_answered(self, future: asyncio.Future[float]) -> None:
        if future.cancelled() or self._state is not ReadyState.OPEN:
            return
        timer = self._keepalive_timer
        if timer is not None:
            timer.cancel()
        interval = self._options.ping_interval
        assert interval is not None
        self._keepalive_timer = self._loop.call_later(interval, self._send_keepalive)

    def _keepalive_expired(self, future: asyncio.Future[float]) -> None:
        self._keepalive_timer = None
        if future.done() or self._state is ReadyState.CLOSED:
            return
        if self._reading_paused:
            # We stopped reading (the application is behind on its queue): the
            # Pong may be waiting unread, which says nothing about the peer.
            # Check again once more time has passed.
            assert self._options.ping_timeout is not None
            self._keepalive_timer = self._loop.call_later(
                self._options.ping_timeout, self._keepalive_expired, future
            )
            return
        future.cancel()
        self._metrics.heartbeat_timeouts += 1
        # The peer is unresponsive: say why, but don't wait for an answer that
        # will not come; the transport is dropped if it cannot even flush.
        self.close_code, self.close_reason = CloseCode.INTERNAL_ERROR, _KEEPALIVE_REASON
        if self._state is ReadyState.OPEN:
            assert self._core is not None
            self._core.close(CloseCode.INTERNAL_ERROR, _KEEPALIVE_REASON)
            self._state = ReadyState.CLOSING
            self._flush()
        self._abort_later(1.0)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if self._transport is not None:
            self._transport.abort()

    def _abort_later(self, delay: float) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.close()
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_timer = self._loop.call_later(delay, transport.abort)

    def _going_away(self, reason: str = "server shutting down") -> None:
        """Server shutdown: close with 1001 Going Away."""
        if self._state is ReadyState.OPEN:
            self.close(CloseCode.GOING_AWAY, reason)
        elif self._state is ReadyState.CONNECTING and self.request is not None:
            self._loop.create_task(self.reject(503))

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _finish(self) -> None:
        """The TCP connection is gone: settle the state, then tell everyone."""
        if self._state is ReadyState.CLOSED and self._transport is None:
            return
        self._state = ReadyState.CLOSED
        self._transport = None
        for timer in (self._keepalive_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        self._keepalive_timer = self._close_timer = None
        self._settle_close_code()
        for future in (self._waiter, self._drain):
            if future is not None and not future.done():
                future.set_result(None)
        self._waiter = self._drain = None
        if self._pending_pings:
            for ping, _ in self._pending_pings.values():
                if not ping.done():
                    ping.set_exception(self._closed_error())
                    ping.exception()  # retrieved: a ping nobody awaits must not warn
            self._pending_pings = None
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self._released is not None:
            self._released(self)
        if self.on_close is not None:
            self._call(self.on_close, self.close_code, self.close_reason, self.was_clean)

    def _settle_close_code(self) -> None:
        """Set ``close_code``, ``close_reason`` and ``was_clean`` from the core."""
        core = self._core
        if core is not None and core.close_received is not None:
            self.close_code, self.close_reason = core.close_received
            self.was_clean = core.close_sent is not None
        elif self.close_code is None:
            if core is not None and core.close_sent is not None and core.close_sent[0] != 1000:
                # We failed the connection (a protocol error, a keepalive timeout):
                # our code says why, better than 1006.
                self.close_code, self.close_reason = core.close_sent
            else:
                self.close_code, self.close_reason = CloseCode.ABNORMAL_CLOSURE, ""

    def _closed_error(self) -> ConnectionClosed:
        if self._state is ReadyState.CLOSED and self.close_code is not None:
            return ConnectionClosed(self.close_code, self.close_reason)
        core = self._core
        if core is not None and core.close_received is not None:
            return ConnectionClosed(*core.close_received)
        if core is not None and core.close_sent is not None:
            return ConnectionClosed(*core.close_sent)
        return ConnectionClosed(CloseCode.ABNORMAL_CLOSURE)

    # Callbacks.

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run a user callback; an async one becomes a task. Failures close with 1011."""
        try:
            result = callback(*args)
        except Exception as exc:
            self._callback_failed(callback, exc)
            return
        if type(result) is CoroutineType:
            task = self._loop.create_task(result)
            task.add_done_callback(self._callback_task_done)

    def _callback_task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._callback_failed(None, exc)

    def _callback_failed(self, callback: Callable[..., Any] | None, exc: BaseException) -> None:
        if isinstance(exc, ConnectionClosed):
            return
        logger.error("WebSocket callback %r failed", callback, exc_info=exc)
        if callback is not self.on_error and self.on_error is not None:
            self._call(self.on_error, exc)
        if self._state is ReadyState.OPEN:
            self.close(CloseCode.INTERNAL_ERROR, "internal error")

    # Server side: the handshake decision (overridden by the server's subclass).

    async def accept(self, subprotocol: str | None = None, headers: Any = ()) -> None:
        """(Server) Accept the handshake: answer 101. Sending or receiving does it implicitly."""
        raise LocalProtocolError("only a server-side WebSocket in CONNECTING state can accept")

    async def reject(self, status: int = 403, body: str | bytes = b"", headers: Any = ()) -> None:
        """(Server) Refuse the handshake with an HTTP response instead of 101."""
        raise LocalProtocolError("only a server-side WebSocket in CONNECTING state can reject")
