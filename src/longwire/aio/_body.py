"""A request body arriving from the socket while the handler reads it: bounded buffering."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from .._errors import ConnectionClosed

__all__ = ["BodyReader"]


class BodyReader:
    """Chunks of one request body, handed from ``data_received`` to the handler.

    When more than ``buffer_size`` bytes wait unread, ``pause`` is called (the
    connection stops reading the socket) and ``resume`` once the handler catches
    up; so a client uploading faster than the handler consumes costs bounded memory.
    ``before_first_read`` runs on the first ``read`` (to send ``100 Continue``).
    """

    __slots__ = (
        "_before_first_read",
        "_buffered",
        "_chunks",
        "_done",
        "_error",
        "_failed",
        "_loop",
        "_pause",
        "_paused",
        "_resume",
        "_size",
        "_waiter",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        buffer_size: int,
        pause: Callable[[], None],
        resume: Callable[[], None],
        before_first_read: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._size = buffer_size
        self._pause = pause
        self._resume = resume
        self._before_first_read = before_first_read
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._failed = False
        self._error: Exception | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def done(self) -> bool:
        """Whether the whole body arrived (it may not all be read yet)."""
        return self._done

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self._size and not self._paused:
            self._paused = True
            self._pause()
        self._wake()

    def end(self) -> None:
        self._done = True
        self._wake()

    def fail(self, error: Exception | None = None) -> None:
        """The body will not end: the connection closed, or the client broke a limit.

        ``read`` then raises ``error``, or ``ConnectionClosed`` when it is None.
        """
        self._failed = True
        if error is not None and self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def read(self) -> bytes:
        """The next chunk of the body; ``b""`` once it has all been read.

        Raises:
            ConnectionClosed: the client went away before sending the whole body.
            HTTPError: the body broke a limit (e.g. 413); the app answers with it.
        """
        if self._before_first_read is not None:
            before, self._before_first_read = self._before_first_read, None
            before()
        while not self._chunks:
            if self._done:
                return b""
            if self._failed:
                if self._error is not None:
                    raise self._error
                raise ConnectionClosed(1006, "client disconnected before the body ended")
            waiter = self._waiter = self._loop.create_future()
            await waiter
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered <= self._size // 4:
            self._paused = False
            self._resume()
        return data
