"""``EventSource``: a Server-Sent Events client, as WHATWG HTML §9.2 defines the browser's.

::

    async with EventSource("https://example.com/events") as source:
        async for event in source:
            print(event.type, event.data, event.id)

It connects when iteration starts, reads the stream with ``EventStreamDecoder``
and reconnects by itself, after the server's ``retry`` delay, when the connection
drops or the stream ends, sending ``Last-Event-ID``. A status other than 200, or
a Content-Type other than ``text/event-stream``, fails it for good (iteration
raises ``EventSourceError``); a 204 means the server asks it to stop.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque
from collections.abc import Mapping
from enum import IntEnum
from types import TracebackType

from .._errors import LongwireError
from ..http1 import Headers
from ..http1._headers import HeadersLike
from ..sse import CONTENT_TYPE, MAX_LINE_SIZE, Event, EventStreamDecoder, EventStreamError
from ._http_client import MAX_REDIRECTS, StreamResponse, open_stream, parse_http_url
from ._tls import client_ssl_context

__all__ = ["EventSource", "EventSourceError", "EventSourceState"]


class EventSourceState(IntEnum):
    """``EventSource.ready_state``, with the browser's values."""

    CONNECTING = 0
    """Connecting, or waiting to reconnect."""
    OPEN = 1
    """Connected: events are being read."""
    CLOSED = 2
    """Closed (by ``close()``, a 204, or a failure); no reconnection."""


class EventSourceError(LongwireError):
    """The server's answer failed the connection (no reconnection follows).

    Attributes:
        status: the status code the server answered with, or ``None`` (the
            stream broke a limit of the decoder).
        content_type: the Content-Type it answered with, or ``None``.
    """

    def __init__(
        self, message: str, *, status: int | None = None, content_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.content_type = content_type


# What fetch calls a network error: a new connection is tried after the delay.
_NETWORK_ERRORS = (OSError, TimeoutError, ValueError)


def _is_event_stream(content_type: str | None) -> bool:
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    return essence == CONTENT_TYPE


class EventSource:
    """A Server-Sent Events stream that reconnects by itself; iterate it for ``Event``\\ s.

    Args:
        url: an ``http://`` or ``https://`` URL.
        headers: extra request headers, a mapping or ``(name, value)`` pairs
            (``Accept: text/event-stream`` and ``Cache-Control: no-cache`` are
            sent unless given here).
        last_event_id: the ``Last-Event-ID`` to send on the first connection
            (e.g. saved from an earlier run). Default: none.
        retry: the reconnection delay in seconds until the server sets one with
            a ``retry`` field. Default 3.
        max_retry: the longest reconnection delay, in seconds, whatever the
            server asks. Default 60.
        ssl: for ``https://``, an ``ssl.SSLContext`` (default: the system's CAs,
            with certificate and host name checks).
        connect_timeout: seconds for TCP, TLS and the response head together;
            running out is a network error (reconnect). ``None``: no limit. Default 10.
        read_timeout: seconds without any byte from the server after which the
            connection counts as lost (reconnect); ``None`` (default): no limit.
            Set it above the server's heartbeat interval.
        max_redirects: how many redirects to follow per connection. Default 20.
        max_line_size: the decoder's bound on a line and on an event's data, in
            characters. Default 1 MiB; a server breaking it fails the connection.

    Attributes:
        url: the URL given (reconnections start from it, not from a redirect's).
        ready_state: an ``EventSourceState``.
        last_error: the network error that caused the latest reconnection, or
            ``None``.

    Raises:
        ValueError: the URL is not http(s), or an option is out of range.
    """

    CONNECTING = EventSourceState.CONNECTING
    OPEN = EventSourceState.OPEN
    CLOSED = EventSourceState.CLOSED

    def __init__(
        self,
        url: str,
        *,
        headers: HeadersLike | Mapping[str, str] | None = None,
        last_event_id: str | None = None,
        retry: float = 3.0,
        max_retry: float = 60.0,
        ssl: ssl_module.SSLContext | None = None,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = None,
        max_redirects: int = MAX_REDIRECTS,
        max_line_size: int | None = MAX_LINE_SIZE,
    ) -> None:
        secure = parse_http_url(url).secure
        if not 0 <= retry <= max_retry:
            raise ValueError(f"need 0 <= retry <= max_retry, not {retry!r} and {max_retry!r}")
        self.url = url
        self.ready_state = EventSourceState.CONNECTING
        self.last_error: BaseException | None = None
        if isinstance(headers, Mapping):
            headers = headers.items()
        self._headers = Headers.coerce(headers)
        self._retry = float(retry)
        self._max_retry = float(max_retry)
        # For https, the default context is built once, not at every reconnection.
        if ssl is None and secure:
            ssl = client_ssl_context()
        self._ssl = ssl
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_redirects = max_redirects
        self._decoder = EventStreamDecoder(
            last_event_id=last_event_id or "", max_line_size=max_line_size
        )
        self._events: deque[Event] = deque()
        self._response: StreamResponse | None = None
        self._connecting: asyncio.Future[StreamResponse] | None = None
        self._closing = asyncio.Event()

    @property
    def last_event_id(self) -> str:
        """The last event ID string: sent as ``Last-Event-ID`` when reconnecting."""
        return self._decoder.last_event_id

    @property
    def retry(self) -> float:
        """The reconnection delay in seconds (the server's ``retry``, at most ``max_retry``)."""
        return self._retry

    def __repr__(self) -> str:
        return f"<EventSource {self.url} {self.ready_state.name}>"

    # Lifetime

    async def __aenter__(self) -> EventSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop: close the connection, cancel a connection attempt or a wait; no reconnection.

        Safe to call more than once and from another task: an ``async for``
        over the source then ends.
        """
        self.ready_state = EventSourceState.CLOSED
        self._closing.set()
        self._events.clear()
        if self._connecting is not None:
            self._connecting.cancel()
        self._drop()

    def _closed(self) -> bool:
        # A method, not an inline test: mypy would keep a narrowing across awaits.
        return self.ready_state is EventSourceState.CLOSED

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
        self._decoder.end()

    # Iteration

    def __aiter__(self) -> EventSource:
        return self

    async def __anext__(self) -> Event:
        """The next event, connecting and reconnecting as needed.

        Raises:
            StopAsyncIteration: closed (``close()``, or a 204 from the server).
            EventSourceError: the server failed the connection (once; then the
                iteration ends).
        """
        while True:
            if self._events:
                return self._events.popleft()
            if self._closed():
                raise StopAsyncIteration
            response = self._response
            if response is None:
                await self._connect()
                continue
            try:
                async with asyncio.timeout(self._read_timeout):
                    chunk = await response.read()
            except (ConnectionError, TimeoutError) as exc:
                self.last_error = exc
                chunk = b""
            if self._closed():
                continue
            if not chunk:  # the stream ended or broke: reconnect
                self._drop()
                await self._wait()
                continue
            try:
                self._events.extend(self._decoder.feed(chunk))
            except EventStreamError as exc:
                self._fail(str(exc))
            server_retry = self._decoder.retry
            if server_retry is not None:
                self._retry = min(server_retry / 1000, self._max_retry)

    def _request_headers(self) -> Headers:
        headers = self._headers.copy()
        headers.setdefault("Accept", CONTENT_TYPE)
        headers.setdefault("Cache-Control", "no-cache")
        last_id = self._decoder.last_event_id
        if last_id:
            # A field value is bytes: send the id's UTF-8 (the writer sends Latin-1).
            headers.set("Last-Event-ID", last_id.encode().decode("latin-1"))
        return headers

    async def _open(self) -> StreamResponse:
        async with asyncio.timeout(self._connect_timeout):
            return await open_stream(
                self.url,
                self._request_headers(),
                ssl=self._ssl,
                max_redirects=self._max_redirects,
            )

    async def _connect(self) -> None:
        """One connection attempt: OPEN, a wait before the next one, CLOSED, or a failure."""
        self.ready_state = EventSourceState.CONNECTING
        connecting = self._connecting = asyncio.ensure_future(self._open())
        try:
            response = await connecting
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed() and task and not task.cancelling():
                return  # close() cancelled the attempt, not our caller
            raise
        except (*_NETWORK_ERRORS, ConnectionError) as exc:
            self.last_error = exc
            await self._wait()
            return
        finally:
            self._connecting = None
        if self._closed():
            response.close()
            return
        self._response = response
        status, content_type = response.status, response.headers.get("Content-Type")
        if status == 204:
            self.ready_state = EventSourceState.CLOSED
            self._drop()
        elif status != 200:
            self._fail(
                f"{self.url} answered {status} {response.reason}".rstrip()
                + ", not 200: the EventSource is closed",
                status=status,
                content_type=content_type,
            )
        elif not _is_event_stream(content_type):
            self._fail(
                f"{self.url} answered with Content-Type {content_type!r}, "
                f"not {CONTENT_TYPE!r}: the EventSource is closed",
                status=status,
                content_type=content_type,
            )
        else:
            self.ready_state = EventSourceState.OPEN

    def _fail(
        self, message: str, *, status: int | None = None, content_type: str | None = None
    ) -> None:
        """Fail the connection (HTML §9.2.3): CLOSED, and the iteration raises."""
        self.ready_state = EventSourceState.CLOSED
        self._drop()
        self._events.clear()
        raise EventSourceError(message, status=status, content_type=content_type)

    async def _wait(self) -> None:
        """Wait the reconnection delay (CONNECTING), or until ``close()``."""
        if self._closed():
            return
        self.ready_state = EventSourceState.CONNECTING
        try:
            async with asyncio.timeout(self._retry):
                await self._closing.wait()
        except TimeoutError:
            pass
