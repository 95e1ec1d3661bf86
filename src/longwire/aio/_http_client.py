"""A minimal HTTP/1.1 client for one streaming GET (what ``EventSource`` needs), private.

``open_stream(url, headers)`` connects (``http://`` or ``https://``), sends a GET
over the sans-I/O ``longwire.http1`` core, follows redirects (301, 302, 303, 307,
308, at most ``max_redirects`` as the Fetch standard allows) and returns the final
``StreamResponse`` once its head has come. ``await response.read()`` then gives the
body piece by piece; the socket stops being read while unread body piles up
(``HIGH_WATER`` bytes), so a slow reader pushes back on the server through TCP.
One connection per request: ``close()`` aborts it.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque
from dataclasses import dataclass
from typing import cast
from urllib.parse import urljoin

from .._errors import RemoteProtocolError
from ..http1 import (
    Connection,
    Data,
    EndOfMessage,
    Event,
    Headers,
    Limits,
    Request,
    Response,
    Role,
)
from ._tls import client_ssl_context
from ._urls import split_url

__all__ = ["HIGH_WATER", "MAX_REDIRECTS", "StreamResponse", "open_stream", "parse_http_url"]

HIGH_WATER = 64 * 1024
"""Unread body bytes at which the socket stops being read (resumed below a quarter)."""

MAX_REDIRECTS = 20
"""The Fetch standard's redirect limit (§4.4 "HTTP-redirect fetch", step 5)."""

_REDIRECTS = frozenset((301, 302, 303, 307, 308))

# Body sizes are unbounded: an event stream does not end. Heads keep their limits.
_LIMITS = Limits(max_body_size=None)


@dataclass(frozen=True, slots=True)
class HTTPURL:
    """The parts of an ``http://`` or ``https://`` URL a request needs."""

    url: str
    secure: bool
    host: str
    port: int
    target: str
    host_header: str

    @property
    def origin(self) -> tuple[bool, str, int]:
        return self.secure, self.host, self.port


def parse_http_url(url: str) -> HTTPURL:
    """Split an absolute ``http``/``https`` URL.

    Raises:
        ValueError: another scheme, no host, credentials in the URL or a bad port.
    """
    secure, host, port, target, host_header = split_url(
        url, plain="http", secure="https", kind="an http"
    )
    return HTTPURL(url, secure, host, port, target, host_header)


class StreamResponse(asyncio.Protocol):
    """One GET on its own connection: the response head, then the body through ``read()``.

    Attributes:
        status: the final status code (set once ``head`` is done).
        reason: its reason phrase.
        headers: the response header fields.
        url: the URL that answered (after redirects).
    """

    def __init__(self, request: Request, url: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._request = request
        self.url = url
        self.status = 0
        self.reason = ""
        self.headers = Headers()
        self._http = Connection(Role.CLIENT, limits=_LIMITS)
        self._transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._ended = False  # the whole body came
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.head: asyncio.Future[None] = self._loop.create_future()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        http = self._http
        transport.write(http.send(self._request) + http.send(EndOfMessage()))

    def data_received(self, data: bytes) -> None:
        try:
            events = self._http.receive_data(data)
        except RemoteProtocolError as exc:
            self._fail(ConnectionError(f"invalid HTTP response from {self.url}: {exc.message}"))
            return
        self._handle(events)

    def eof_received(self) -> bool | None:
        try:
            events = self._http.receive_eof()
        except RemoteProtocolError as exc:
            self._fail(ConnectionError(f"{exc.message} ({self.url})"))
            return None
        self._handle(events)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ended:
            message = f"the connection to {self.url} was lost"
            self._fail(ConnectionError(f"{message}: {exc}" if exc else message))
        self._wake()

    # Reading

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Response):
                self.status, self.reason, self.headers = (
                    event.status_code, event.reason, event.headers,
                )
                if not self.head.done():
                    self.head.set_result(None)
            elif isinstance(event, Data):
                if event.data:
                    self._chunks.append(event.data)
                    self._buffered += len(event.data)
            elif isinstance(event, EndOfMessage):
                self._ended = True
        transport = self._transport
        if self._buffered >= HIGH_WATER and not self._paused and transport is not None:
            self._paused = True
            transport.pause_reading()
        self._wake()

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc
        if not self.head.done():
            self.head.set_result(None)  # _get() sees that no head came
        if self._transport is not None:
            self._transport.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self) -> bytes:
        """The next piece of the body; ``b""`` once it has all come.

        Raises:
            ConnectionError: the connection broke (or was closed) before the body's end.
        """
        while not self._chunks:
            if self._ended:
                return b""
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= HIGH_WATER // 4 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    def close(self) -> None:
        """Abort the connection (a pending ``read()`` raises ``ConnectionError``)."""
        if self._transport is not None:
            self._transport.abort()
        self._fail(ConnectionError(f"the connection to {self.url} was closed"))


def _request(url: HTTPURL, headers: Headers) -> Request:
    fields = [("Host", url.host_header), *((n, v) for n, v in headers if n.lower() != "host")]
    return Request(method="GET", target=url.target, headers=Headers(fields))


async def _get(
    url: HTTPURL, headers: Headers, context: ssl_module.SSLContext | None
) -> StreamResponse:
    """One GET on a new connection; returns once the response head has come."""
    loop = asyncio.get_running_loop()
    response = StreamResponse(_request(url, headers), url.url)
    try:
        await loop.create_connection(
            lambda: response, url.host, url.port, ssl=context if url.secure else None
        )
        await response.head
        if not response.status:  # no head came: the connection failed first
            raise response._error or ConnectionError(f"no response from {url.url}")
    except BaseException as exc:
        response.close()  # timed out, cancelled or failed half way: nothing may outlive us
        if isinstance(exc, OSError):
            exc.add_note(f"while connecting to {url.url}")
        raise
    return response


async def open_stream(
    url: str,
    headers: Headers,
    *,
    ssl: ssl_module.SSLContext | None = None,
    max_redirects: int = MAX_REDIRECTS,
) -> StreamResponse:
    """GET ``url``, following redirects; the final response, its body still to read.

    A redirect keeps the method (GET) and the headers, except ``Authorization``
    when it leads to another origin (Fetch §4.4). The body of a redirect is not read.

    Raises:
        ValueError: the URL, or a redirect's ``Location``, is not http(s).
        ConnectionError: too many redirects, a redirect without ``Location``, or
            an invalid response.
        OSError: the TCP connection or TLS failed (``ssl.SSLError`` among them).
    """
    target = parse_http_url(url)
    context = ssl
    for _ in range(max_redirects + 1):
        if target.secure and context is None:
            context = client_ssl_context()  # the system CAs: built once, not per hop
        response = await _get(target, headers, context)
        if response.status not in _REDIRECTS:
            return response
        response.close()
        location = response.headers.get("Location")
        if not location:
            raise ConnectionError(f"{response.status} redirect without Location from {target.url}")
        following = parse_http_url(urljoin(target.url, location))
        if following.origin != target.origin and "Authorization" in headers:
            headers = headers.copy_with((), drop=("Authorization",))
        target = following
    raise ConnectionError(f"more than {max_redirects} redirects from {url}")
