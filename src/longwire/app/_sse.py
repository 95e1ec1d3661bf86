"""Server-Sent Events endpoints: ``@app.sse(path)``, ``EventStream``, ``SSEEndpoint``.

::

    @app.sse("/clock", heartbeat=15.0)
    async def clock(request, events):
        while True:
            await events.send(time.ctime())
            await asyncio.sleep(1)

    news = app.sse("/news", history=100)     # no handler: published events only
    news.publish("extra!", id="1")            # to every subscriber, and kept for resumption

Each GET gets a ``text/event-stream`` response. Its body is the handler's
``events.send(...)`` calls and the endpoint's ``publish(...)`` broadcasts, in
order, with a comment heartbeat after ``heartbeat`` seconds of silence. Events
wait in a per-stream queue of ``queue_size`` events, bounded either way: a
handler's ``send`` waits while the queue is full (so it goes at the client's
pace, through the transport's flow control); a ``publish`` never waits, and a
stream whose queue is full when an event is published is ended with a final
comment (the client reconnects with ``Last-Event-ID`` and gets what it missed
from the history). See docs/sse.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias

from ..sse import CONTENT_TYPE, HEARTBEAT, encode_comment, encode_event
from ._request import Request
from ._response import Response, StreamingResponse, _encode_json

__all__ = ["DEFAULT_QUEUE_SIZE", "OVERFLOW_COMMENT", "EventStream", "SSEEndpoint", "SSEHandler"]

_logger = logging.getLogger("longwire.app")

SSEHandler: TypeAlias = Callable[[Request, "EventStream"], Awaitable[None]]
"""``async def handler(request, events) -> None``."""

DEFAULT_QUEUE_SIZE = 1024
"""Events a stream holds for its client by default (``queue_size``)."""

OVERFLOW_COMMENT = encode_comment("overflow: client too slow, events dropped; reconnect")
"""The last bytes of a stream ended because a published event found its queue full."""

_HEADERS = (
    ("Cache-Control", "no-cache"),
    # nginx buffers proxied responses unless told not to.
    ("X-Accel-Buffering", "no"),
)


class EventStream:
    """One client's event stream, as a handler sees it.

    Made by the endpoint for each GET; the handler gets it as its second argument.

    Attributes:
        request: the request that opened the stream.
        endpoint: the ``SSEEndpoint`` serving it.
        last_event_id: the client's ``Last-Event-ID`` header, else its
            ``lastEventId`` query parameter (for clients that cannot set
            headers), else ``None``.
        resumed: whether ``last_event_id`` was found in the endpoint's history
            (the events published after it were replayed first). ``False`` with
            a ``last_event_id``: that id is unknown or too old, and the whole
            history was replayed; events may have been missed.
    """

    __slots__ = (
        "_chunks",
        "_closed",
        "_ended",
        "_overflowed",
        "_pending",
        "_space",
        "_waiter",
        "endpoint",
        "last_event_id",
        "request",
        "resumed",
    )

    def __init__(self, request: Request, endpoint: SSEEndpoint) -> None:
        self.request = request
        self.endpoint = endpoint
        last = request.headers.get("last-event-id")
        if last is None:
            last = request.query.get("lastEventId")
        self.last_event_id: str | None = last
        self.resumed = False
        self._chunks: list[bytes] = []
        self._pending = 0  # events in _chunks
        self._closed = False  # no more events are taken
        self._ended = False  # the body ends once _chunks is sent
        self._overflowed = False
        self._waiter: asyncio.Future[None] | None = None  # the body waiting for events
        self._space: asyncio.Future[None] | None = None  # senders waiting for room

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._pending} pending"
        return f"<EventStream {self.endpoint.path} {state}>"

    @property
    def closed(self) -> bool:
        """Whether the stream is over (client gone, overflow, endpoint closed):
        sends are then ignored."""
        return self._closed

    @property
    def pending(self) -> int:
        """Events queued and not yet handed to the connection."""
        return self._pending

    async def send(
        self,
        data: str,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
    ) -> bool:
        """Queue one event for this client (``encode_event``'s arguments).

        Waits while the queue holds ``queue_size`` events, so a handler sending
        in a loop goes at the client's pace and memory stays bounded. Events a
        handler sends are this client's only: they are not kept in the
        endpoint's history (use ``SSEEndpoint.publish`` for that).

        Returns:
            ``True`` if queued; ``False`` if the stream is closed (nothing sent).

        Raises:
            ValueError: as ``encode_event`` (a bad ``event``, ``id`` or ``retry``).
        """
        chunk = encode_event(data, event=event, id=id, retry=retry)
        if self._pending >= self.endpoint.queue_size and not self._closed:
            await self._wait_space()
        return self._put(chunk)

    async def send_json(
        self,
        obj: Any,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
    ) -> bool:
        """``send`` with ``obj`` as compact JSON for data.

        Raises:
            TypeError, ValueError: ``obj`` is not JSON-serializable (or NaN/infinity).
        """
        return await self.send(_encode_json(obj), event=event, id=id, retry=retry)

    async def send_many(self, items: Iterable[str], *, event: str | None = None) -> int:
        """Queue one event per item of ``items`` (all of type ``event``), in order.

        Cheaper than a ``send`` per item: the queue is checked once per batch.

        Returns:
            How many were queued (fewer than given if the stream closed meanwhile).
        """
        limit = self.endpoint.queue_size
        batch = [encode_event(data, event=event) for data in items]
        queued = 0
        while queued < len(batch) and not self._closed:
            if self._pending >= limit:
                await self._wait_space()
                continue
            room = limit - self._pending
            part = batch[queued : queued + room]
            self._chunks.extend(part)
            self._pending += len(part)
            queued += len(part)
            self._wake()
        return queued

    async def comment(self, text: str = "") -> bool:
        """Queue a comment (ignored by clients): ``False`` if the stream is closed."""
        chunk = encode_comment(text)
        if self._pending >= self.endpoint.queue_size and not self._closed:
            await self._wait_space()
        return self._put(chunk)

    async def wait_closed(self) -> None:
        """Wait until the stream is over: a handler that only sets things up and
        then lets published events flow awaits this (its return ends the stream)."""
        while not self._closed:
            await self._wait_space()

    def close(self) -> None:
        """End the stream once the events already queued are sent.

        Further sends are ignored, and a handler still running is cancelled
        once the stream is over (as when the client leaves).
        """
        self._end()

    # Internals

    def _put(self, chunk: bytes) -> bool:
        if self._closed:
            return False
        self._chunks.append(chunk)
        self._pending += 1
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def _push(self, chunk: bytes) -> bool:
        """A published event: queued, or the stream ends (overflow). Never waits."""
        if self._closed:
            return False
        if self._pending >= self.endpoint.queue_size:
            self._overflowed = True
            self._chunks.clear()
            self._pending = 0
            self._end()
            return False
        return self._put(chunk)

    async def _wait_space(self) -> None:
        space = self._space
        if space is None:
            space = self._space = asyncio.get_running_loop().create_future()
        await space

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _free(self) -> None:
        space = self._space
        if space is not None:
            self._space = None
            if not space.done():
                space.set_result(None)

    def _end(self) -> None:
        self._closed = True
        self._ended = True
        self.endpoint._subscribers.discard(self)
        self._wake()
        self._free()

    async def _run(self, handler: SSEHandler) -> None:
        try:
            await handler(self.request, self)
        except asyncio.CancelledError:
            if not self._closed:
                raise  # cancelled from outside (server shutdown)
            # Cancelled because the stream is over: a clean end for the handler.
        except Exception:
            _logger.exception("SSE handler for %s failed", self.endpoint.path)
        finally:
            self._ended = True
            self._wake()

    async def _body(self, handler: SSEHandler | None) -> AsyncIterator[bytes]:
        """The response body: replay, then the queued events, with heartbeats."""
        endpoint = self.endpoint
        loop = asyncio.get_running_loop()
        task: asyncio.Task[None] | None = None
        # Subscribed and replayed in one step: no event is missed or doubled.
        endpoint._subscribers.add(self)
        head = [endpoint._retry_field] if endpoint._retry_field else []
        if self.last_event_id is not None and endpoint._history is not None:
            replay, self.resumed = endpoint._replay(self.last_event_id)
            head += replay
        try:
            if head:
                yield b"".join(head)
            if handler is not None:
                task = loop.create_task(self._run(handler))
            heartbeat = endpoint.heartbeat
            while True:
                chunks = self._chunks
                if chunks:
                    data = b"".join(chunks) if len(chunks) > 1 else chunks[0]
                    self._chunks = []
                    self._pending = 0
                    self._free()  # senders refill while the connection writes this
                    yield data
                    continue
                if self._overflowed:
                    yield OVERFLOW_COMMENT
                    return
                if self._ended:
                    return
                waiter = self._waiter = loop.create_future()
                if heartbeat is None:
                    await waiter
                    continue
                timer = loop.call_later(heartbeat, _settle, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                if not self._chunks and not self._ended:
                    yield HEARTBEAT
        finally:
            self._closed = True
            endpoint._subscribers.discard(self)
            self._chunks = []
            self._pending = 0
            self._free()
            if task is not None and not task.done():
                task.cancel()
                # The handler's cleanup runs now, before the response is over.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([task], timeout=1.0)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class SSEEndpoint:
    """A Server-Sent Events route: made by ``App.sse``, which registers it.

    Used as a decorator, it takes the handler ``async def handler(request,
    events)`` and returns itself (so the decorated name is the endpoint, with
    ``publish``). Without a handler, each stream carries the published events
    until the client leaves.

    Args:
        path: the path pattern (as for ``App.get``).
        heartbeat: seconds of silence after which a comment is sent (keeps
            proxies from closing the stream and notices departed clients);
            ``None`` for none.
        retry: the reconnection delay (milliseconds) sent first on each stream,
            or ``None`` to leave the client's default (about 3 s in browsers).
        history: how many published events with an id to keep for resumption
            (0: none).
        queue_size: events a stream holds for a slow client (see the module
            documentation for what happens when it is full).

    Raises:
        ValueError: ``heartbeat`` not positive, ``retry`` negative, ``history``
            negative or ``queue_size`` below 1.
    """

    def __init__(
        self,
        path: str,
        *,
        heartbeat: float | None = 15.0,
        retry: int | None = None,
        history: int = 0,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        if heartbeat is not None and not heartbeat > 0:
            raise ValueError(f"heartbeat must be positive seconds or None, not {heartbeat!r}")
        if history < 0:
            raise ValueError(f"history must be 0 or more, not {history!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be 1 or more, not {queue_size!r}")
        self.path = path
        self.heartbeat = heartbeat
        self.retry = retry
        self.queue_size = queue_size
        self.handler: SSEHandler | None = None
        self._retry_field = b"" if retry is None else f"retry: {_check_retry(retry)}\n\n".encode()
        self._history: deque[tuple[str, bytes]] | None = deque(maxlen=history) if history else None
        self._subscribers: set[EventStream] = set()

    def __repr__(self) -> str:
        return f"<SSEEndpoint {self.path} {len(self._subscribers)} subscribers>"

    def __call__(self, handler: SSEHandler) -> SSEEndpoint:
        """Decorator: serve each stream with ``handler``; returns the endpoint.

        Raises:
            TypeError: ``handler`` is not an ``async def`` function.
        """
        if not inspect.iscoroutinefunction(handler):
            raise TypeError("an SSE handler must be an async def function (request, events)")
        self.handler = handler
        return self

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    @property
    def history(self) -> list[str]:
        """The ids of the events kept for resumption, oldest first."""
        return [] if self._history is None else [event_id for event_id, _ in self._history]

    def publish(
        self,
        data: str,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
    ) -> int:
        """Send one event to every open stream of this endpoint, without waiting.

        An event with an ``id`` is also kept in the history (the last
        ``history`` of them), for clients that reconnect with ``Last-Event-ID``.
        A stream whose queue is full is ended instead (see the module
        documentation). Call it from the event loop's thread.

        Returns:
            How many streams it was queued for.

        Raises:
            ValueError: as ``encode_event``.
        """
        chunk = encode_event(data, event=event, id=id, retry=retry)
        if id is not None and self._history is not None:
            self._history.append((id, chunk))
        sent = 0
        for stream in list(self._subscribers):
            if stream._push(chunk):
                sent += 1
            elif stream._overflowed:
                _logger.warning(
                    "ending an event stream of %s: %d events behind (queue_size)",
                    self.path,
                    self.queue_size,
                )
        return sent

    def publish_json(
        self,
        obj: Any,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
    ) -> int:
        """``publish`` with ``obj`` as compact JSON for data."""
        return self.publish(_encode_json(obj), event=event, id=id, retry=retry)

    def close(self) -> None:
        """End every open stream (after what is queued); the endpoint still takes new ones."""
        for stream in list(self._subscribers):
            stream.close()

    # Internals

    def _replay(self, last_id: str) -> tuple[list[bytes], bool]:
        """The kept events after ``last_id`` and ``True``; all of them and
        ``False`` when ``last_id`` is not in the history."""
        assert self._history is not None
        events = list(self._history)
        for index in range(len(events) - 1, -1, -1):
            if events[index][0] == last_id:
                return [chunk for _, chunk in events[index + 1 :]], True
        return [chunk for _, chunk in events], False

    async def serve(self, request: Request) -> Response:
        """The route handler: a streaming ``text/event-stream`` response."""
        events = EventStream(request, self)
        response = StreamingResponse((), headers=_HEADERS, content_type=CONTENT_TYPE)
        # The body generator directly (StreamingResponse's would wrap it in another).
        response.stream = events._body(self.handler)
        return response


def _check_retry(retry: object) -> int:
    if type(retry) is not int or retry < 0:
        raise ValueError(f"retry must be a non-negative int (milliseconds), not {retry!r}")
    return retry
