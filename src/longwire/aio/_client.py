"""The client side: open a WebSocket connection (``ws://`` or ``wss://``).

A small ``asyncio.Protocol`` runs the opening handshake over the HTTP/1.1 core,
then hands the transport to a ``WebSocket`` (the same class servers use).
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Callable, Generator, Iterable
from dataclasses import fields, replace
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, cast, overload

from .._errors import HandshakeError, LongwireError, RemoteProtocolError
from ..http1 import Connection, EndOfMessage, InformationalResponse, Response, Role
from ..http1._headers import HeadersLike
from ..websocket import ClientHandshake, PerMessageDeflate
from ._config import WebSocketOptions
from ._reconnect import Reconnect, ReconnectingWebSocket
from ._urls import split_url
from ._websocket import WebSocket

__all__ = ["InvalidURI", "connect"]

_BODY_EXCERPT = 512


class InvalidURI(LongwireError, ValueError):
    """The URL is not a ``ws://`` or ``wss://`` URL."""


def _parse_url(url: str) -> tuple[bool, str, int, str, str]:
    """(secure, host, port, target, Host header) of a WebSocket URL."""
    try:
        return split_url(url, plain="ws", secure="wss", kind="a WebSocket")
    except ValueError as exc:
        raise InvalidURI(str(exc)) from None


class _HandshakeProtocol(asyncio.Protocol):
    """Runs the client's opening handshake, then gives the transport to the WebSocket."""

    def __init__(
        self, handshake: ClientHandshake, ws: WebSocket, options: WebSocketOptions
    ) -> None:
        self._handshake = handshake
        self._ws = ws
        self._options = options
        self._http = Connection(Role.CLIENT)
        self._transport: asyncio.Transport | None = None
        self._response: InformationalResponse | Response | None = None
        self._body = bytearray()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop: no subclass
        http = self._http
        transport.write(http.send(self._handshake.request) + http.send(EndOfMessage()))

    def data_received(self, data: bytes) -> None:
        try:
            events = self._http.receive_data(data)
        except RemoteProtocolError as exc:
            self._fail(HandshakeError(f"invalid HTTP response to the handshake: {exc.message}"))
            return
        for event in events:
            if isinstance(event, InformationalResponse) and event.status_code == 101:
                self._switch(event)
                return
            if isinstance(event, Response):
                self._response = event
            elif isinstance(event, EndOfMessage):
                self._refused()
                return
            elif hasattr(event, "data") and len(self._body) < _BODY_EXCERPT:
                self._body += event.data[: _BODY_EXCERPT - len(self._body)]

    def eof_received(self) -> bool | None:
        if self._response is not None:
            self._refused()
        else:
            self._fail(HandshakeError("the server closed the connection during the handshake"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            message = "the connection was lost during the handshake"
            if exc is not None:
                message += f": {exc}"
            self.done.set_exception(HandshakeError(message))

    def _switch(self, response: InformationalResponse) -> None:
        assert self._transport is not None
        options = self._options
        try:
            core = self._handshake.receive_response(
                response,
                trailing_data=self._http.trailing_data,
                max_message_size=options.max_message_size,
            )
        except HandshakeError as exc:
            self._fail(exc)
            return
        subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        extensions = response.headers.get("Sec-WebSocket-Extensions", "") or ""
        self._ws._open(core, self._transport, subprotocol=subprotocol, extensions=extensions)
        if not self.done.done():
            self.done.set_result(None)

    def _refused(self) -> None:
        response = self._response
        assert response is not None
        excerpt = bytes(self._body)
        text = excerpt.decode("utf-8", "replace").strip()
        message = f"server refused the WebSocket handshake: {response.status_code}"
        if text:
            message += f": {text[:200]}"
        self._fail(HandshakeError(message, status=response.status_code, body=excerpt))

    def _fail(self, exc: HandshakeError) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()


_W = TypeVar("_W", WebSocket, ReconnectingWebSocket)


def _deflate_offer(compression: object) -> PerMessageDeflate | None:
    if isinstance(compression, PerMessageDeflate):
        return compression
    if compression is True or compression == "deflate":
        # Let the server pick our window size too: it costs it nothing to accept.
        return PerMessageDeflate(client_max_window_bits=None)
    if compression is False or compression is None:
        return None
    raise ValueError(
        f"compression must be True, False, None, 'deflate' or a PerMessageDeflate, "
        f"not {compression!r}"
    )


class connect(Generic[_W]):
    """Open a WebSocket: ``async with connect(url) as ws:`` or ``ws = await connect(url)``.

    The connection is a ``WebSocket``; with ``reconnect``, a ``ReconnectingWebSocket``
    that reopens itself when the connection drops.

    Args:
        url: ``ws://host[:port]/path?query`` or ``wss://...``.
        subprotocols: subprotocols to offer, most preferred first.
        headers: extra request headers.
        origin: an ``Origin`` header to send.
        compression: offer permessage-deflate: True or ``"deflate"`` (default), the
            ``PerMessageDeflate`` settings to offer, or False/None for no compression.
        open_timeout: seconds for TCP, TLS and the handshake together (None: no
            limit). Default 10.
        ssl: for ``wss://``, an ``ssl.SSLContext`` (default: the system's CAs, with
            certificate and host name verification on); for example
            ``client_ssl_context(cafile)`` to trust a private CA.
        sock: an already connected socket to use instead of connecting.
        reconnect: a ``Reconnect`` policy (True: the default one) to get a
            ``ReconnectingWebSocket``. Default None: a plain ``WebSocket``.
        options: ``WebSocketOptions`` fields (``max_message_size``, ``ping_interval``, ...).

    Raises:
        InvalidURI: the URL is not a WebSocket URL (raised at once, by ``connect(...)``).
        TypeError: an unknown option.
        ConnectionRefusedError, OSError: the TCP connection failed (the message
            names the address).
        ssl.SSLCertVerificationError: the server's certificate is not trusted.
        TimeoutError: opening took longer than ``open_timeout``.
        HandshakeError: the server did not answer with a valid 101; ``status``
            and ``body`` (an excerpt) say what it answered instead.
    """

    @overload
    def __init__(
        self: connect[WebSocket],
        url: str,
        *,
        reconnect: Literal[False] | None = None,
        **kwargs: Any,
    ) -> None: ...

    @overload
    def __init__(
        self: connect[ReconnectingWebSocket],
        url: str,
        *,
        reconnect: Reconnect | Literal[True],
        **kwargs: Any,
    ) -> None: ...

    def __init__(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: HeadersLike = (),
        origin: str | None = None,
        compression: bool | str | PerMessageDeflate | None = True,
        open_timeout: float | None = 10.0,
        ssl: ssl_module.SSLContext | None = None,
        sock: socket.socket | None = None,
        reconnect: Reconnect | bool | None = None,
        **options: Any,
    ) -> None:
        self.url = url
        self._secure, self._host, self._port, self._target, self._host_header = _parse_url(url)
        if isinstance(subprotocols, str):
            raise TypeError("subprotocols must be an iterable of str, not a str: wrap it in a list")
        self._subprotocols = tuple(subprotocols)
        self._headers = headers
        self._origin = origin
        self._deflate = _deflate_offer(compression)
        self._open_timeout = open_timeout
        if self._secure:
            self._ssl: ssl_module.SSLContext | None = ssl or ssl_module.create_default_context()
        elif ssl is not None:
            raise InvalidURI(f"an ssl context was given for a ws:// URL: {url!r}")
        else:
            self._ssl = None
        self._sock = sock
        unknown = set(options) - {f.name for f in fields(WebSocketOptions)}
        if unknown:
            raise TypeError(f"connect() got unknown option(s): {', '.join(sorted(unknown))}")
        self._options = replace(WebSocketOptions(compression=self._deflate), **options)
        if reconnect is True:
            reconnect = Reconnect()
        if reconnect is not None and reconnect is not False and sock is not None:
            raise ValueError("reconnect needs a URL to connect to, not a socket (sock=)")
        self._reconnect = reconnect or None
        self._ws: WebSocket | ReconnectingWebSocket | None = None

    async def _open(self) -> _W:
        if self._reconnect is None:
            ws: Any = await self._connect()
        else:
            ws = await ReconnectingWebSocket(self.url, self._connect, self._reconnect)._start()
        return cast(_W, ws)

    async def _connect(self, prepare: Callable[[WebSocket], None] | None = None) -> WebSocket:
        """Open one connection; ``prepare`` is called on the ``WebSocket`` before the handshake."""
        loop = asyncio.get_running_loop()
        handshake = ClientHandshake(
            self._host_header,
            self._target,
            subprotocols=self._subprotocols,
            deflate=self._deflate,
            origin=self._origin,
            headers=self._headers,
        )
        ws = WebSocket(options=self._options, loop=loop, remote_address=(self._host, self._port))
        if prepare is not None:
            prepare(ws)
        context = self._ssl
        protocol: _HandshakeProtocol | None = None

        def factory() -> _HandshakeProtocol:
            nonlocal protocol
            protocol = _HandshakeProtocol(handshake, ws, self._options)
            return protocol

        async def open_() -> None:
            if self._sock is not None:
                await loop.create_connection(
                    factory,
                    sock=self._sock,
                    ssl=context,
                    server_hostname=self._host if context else None,
                )
            else:
                await loop.create_connection(factory, self._host, self._port, ssl=context)
            assert protocol is not None
            await protocol.done

        timeout = asyncio.timeout(self._open_timeout)
        try:
            async with timeout:
                await open_()
        except BaseException as exc:
            # Timed out, cancelled or failed half way: the connection must not outlive us.
            if protocol is not None and protocol._transport is not None:
                protocol._transport.abort()
            if timeout.expired():
                raise TimeoutError(
                    f"WebSocket handshake with {self.url} took over {self._open_timeout}s"
                ) from None
            if isinstance(exc, OSError):
                # A DNS failure, for one, does not say which name it was about.
                exc.add_note(f"while connecting to {self.url}")
            raise
        return ws

    def __await__(self) -> Generator[Any, None, _W]:
        return self._open().__await__()

    async def __aenter__(self) -> _W:
        ws: _W = await self._open()
        self._ws = ws
        return ws

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
