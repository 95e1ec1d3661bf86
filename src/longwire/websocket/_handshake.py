"""The opening handshake (RFC 6455 §4), both sides, on top of the HTTP/1.1 core's events.

Server::

    handshake = ServerHandshake.from_request(request)     # HandshakeError → answer it
    if handshake.origin not in allowed: ...                 # the application decides
    response, ws = handshake.accept(subprotocol="chat.v1", deflate=PerMessageDeflate())
    out = http.send(response)                               # 101; then hand over:
    ws.receive_data(http.trailing_data)

Client::

    handshake = ClientHandshake("example.com", "/chat", subprotocols=["chat.v1"])
    out = http.send(handshake.request); out += http.send(EndOfMessage())
    ...                                                     # 101 arrives
    ws = handshake.receive_response(response, trailing_data=http.trailing_data)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Sequence

from .._errors import HandshakeError, LocalProtocolError
from .._role import Role
from ..http1._events import InformationalResponse, Request, Response
from ..http1._headers import Headers, HeadersLike
from ._deflate import PerMessageDeflate
from ._header_values import ExtensionOffer, format_extension, parse_extensions, parse_token_list
from ._protocol import DEFAULT_MAX_MESSAGE_SIZE, Connection

__all__ = ["GUID", "ClientHandshake", "ServerHandshake", "accept_key"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455 §1.3: the globally unique identifier concatenated with the key."""

SUPPORTED_VERSION = "13"
_DEFLATE = "permessage-deflate"
# What to answer a request that is not a WebSocket upgrade at all (RFC 9110 §15.5.22:
# "The server MUST send an Upgrade header field in a 426 response").
_UPGRADE_REQUIRED_HEADERS = [("Upgrade", "websocket"), ("Connection", "Upgrade")]


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for ``key``: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _valid_key(key: str) -> bool:
    # RFC 6455 §4.2.1: "a base64-encoded value that, when decoded, is 16 bytes in length."
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


class ServerHandshake:
    """A request validated as a WebSocket opening handshake (RFC 6455 §4.2.1).

    Attributes:
        request: the HTTP request.
        key: its ``Sec-WebSocket-Key``.
        subprotocols: the subprotocols the client offers, in its order of preference.
        extensions: the extensions it offers, as ``(name, params)``.
        origin: its ``Origin`` header, for the application to check, or ``None``.
    """

    __slots__ = ("extensions", "key", "origin", "request", "subprotocols")

    def __init__(
        self,
        request: Request,
        key: str,
        subprotocols: Sequence[str],
        extensions: Sequence[ExtensionOffer],
        origin: str | None,
    ) -> None:
        self.request = request
        self.key = key
        self.subprotocols = tuple(subprotocols)
        self.extensions = tuple(extensions)
        self.origin = origin

    @classmethod
    def from_request(cls, request: Request) -> ServerHandshake:
        """Validate ``request`` as an opening handshake.

        Raises:
            HandshakeError: with ``status`` and ``headers`` to answer: 426 with
                ``Upgrade: websocket`` when the request is no WebSocket upgrade,
                426 with ``Sec-WebSocket-Version: 13`` for another version, 400
                for a malformed handshake.
        """
        headers = request.headers
        # RFC 6455 §4.2.1: "An HTTP/1.1 or higher GET request".
        if request.method != "GET":
            raise HandshakeError(
                f"WebSocket handshake must use GET, not {request.method}", status=400
            )
        if request.http_version != "1.1":
            raise HandshakeError("WebSocket handshake needs HTTP/1.1", status=400)
        if not headers.has_token("Upgrade", "websocket"):
            raise HandshakeError(
                "missing 'Upgrade: websocket' header",
                status=426,
                headers=_UPGRADE_REQUIRED_HEADERS,
            )
        if not headers.has_token("Connection", "upgrade"):
            raise HandshakeError(
                "'Connection' header must include 'Upgrade'",
                status=426,
                headers=_UPGRADE_REQUIRED_HEADERS,
            )
        # RFC 6455 §4.4: a version we do not speak gets 426 and the versions we do.
        versions = headers.get_all("Sec-WebSocket-Version")
        if versions != [SUPPORTED_VERSION]:
            raise HandshakeError(
                f"unsupported Sec-WebSocket-Version {', '.join(versions) or '(missing)'}",
                status=426,
                headers=[("Sec-WebSocket-Version", SUPPORTED_VERSION)],
            )
        keys = headers.get_all("Sec-WebSocket-Key")
        if len(keys) != 1 or not _valid_key(keys[0]):
            raise HandshakeError(
                "Sec-WebSocket-Key must be one base64 value of 16 bytes", status=400
            )
        try:
            subprotocols = parse_token_list(headers.get_all("Sec-WebSocket-Protocol"))
        except ValueError as exc:
            raise HandshakeError(f"invalid Sec-WebSocket-Protocol: {exc}", status=400) from exc
        try:
            extensions = parse_extensions(headers.get_all("Sec-WebSocket-Extensions"))
        except ValueError as exc:
            raise HandshakeError(f"invalid Sec-WebSocket-Extensions: {exc}", status=400) from exc
        return cls(request, keys[0], subprotocols, extensions, headers.get("Origin"))

    def accept(
        self,
        *,
        subprotocol: str | None = None,
        deflate: PerMessageDeflate | None = None,
        headers: HeadersLike = (),
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        trailing_data: bytes = b"",
    ) -> tuple[InformationalResponse, Connection]:
        """Build the 101 response and the server-side connection.

        Args:
            subprotocol: the one subprotocol to speak, chosen from ``subprotocols``, or None.
            deflate: permessage-deflate settings; None disables compression.
                The client's offers are accepted when they fit these settings.
            headers: extra response headers.
            max_message_size, max_frame_size: limits for the connection (None: no limit).
            trailing_data: bytes received after the request head
                (``http1.Connection.trailing_data``).

        Raises:
            LocalProtocolError: ``subprotocol`` was not offered by the client.
        """
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise LocalProtocolError(f"subprotocol {subprotocol!r} was not offered by the client")
        response_headers = Headers(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept_key(self.key)),
            ]
        )
        if subprotocol is not None:
            response_headers.add("Sec-WebSocket-Protocol", subprotocol)
        runtime = None
        if deflate is not None:
            offers = [params for name, params in self.extensions if name == _DEFLATE]
            if offers and (accepted := deflate.server_accept(offers)) is not None:
                params, runtime = accepted
                response_headers.add("Sec-WebSocket-Extensions", format_extension(_DEFLATE, params))
        for name, value in Headers.coerce(headers):
            response_headers.add(name, value)
        response = InformationalResponse(status_code=101, headers=response_headers)
        connection = Connection(
            Role.SERVER,
            deflate=runtime,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            trailing_data=trailing_data,
        )
        return response, connection


class ClientHandshake:
    """The client side of the opening handshake (RFC 6455 §4.1).

    Args:
        host: the ``Host`` header value (``host`` or ``host:port``).
        target: the request target, e.g. ``"/chat?room=1"``.
        subprotocols: subprotocols to offer, most preferred first.
        deflate: permessage-deflate settings to offer, or None.
        origin: an ``Origin`` header to send, or None.
        headers: extra request headers.
        key: the ``Sec-WebSocket-Key``; random (16 bytes from ``os.urandom``) unless given.
    """

    __slots__ = ("_deflate", "key", "request", "subprotocols")

    def __init__(
        self,
        host: str,
        target: str = "/",
        *,
        subprotocols: Iterable[str] = (),
        deflate: PerMessageDeflate | None = None,
        origin: str | None = None,
        headers: HeadersLike = (),
        key: str | None = None,
    ) -> None:
        # RFC 6455 §4.1: "a nonce consisting of a randomly selected 16-byte value".
        self.key = key if key is not None else base64.b64encode(os.urandom(16)).decode("ascii")
        self.subprotocols = tuple(subprotocols)
        self._deflate = deflate
        request_headers = Headers(
            [
                ("Host", host),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self.key),
                ("Sec-WebSocket-Version", SUPPORTED_VERSION),
            ]
        )
        if origin is not None:
            request_headers.add("Origin", origin)
        if self.subprotocols:
            request_headers.add("Sec-WebSocket-Protocol", ", ".join(self.subprotocols))
        if deflate is not None:
            request_headers.add(
                "Sec-WebSocket-Extensions", format_extension(_DEFLATE, deflate.client_offer())
            )
        for name, value in Headers.coerce(headers):
            request_headers.add(name, value)
        self.request = Request(method="GET", target=target, headers=request_headers)

    def receive_response(
        self,
        response: InformationalResponse | Response,
        *,
        trailing_data: bytes = b"",
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
    ) -> Connection:
        """Verify the server's answer (RFC 6455 §4.1) and return the client-side connection.

        Raises:
            HandshakeError: the answer is not a valid 101 for this request;
                ``status`` is the status code received.
        """
        status = response.status_code
        headers = response.headers

        def fail(message: str) -> HandshakeError:
            return HandshakeError(message, status=status)

        if status != 101:
            raise fail(f"server answered {status} instead of 101 Switching Protocols")
        if not headers.has_token("Upgrade", "websocket"):
            raise fail("101 response lacks 'Upgrade: websocket'")
        if not headers.has_token("Connection", "upgrade"):
            raise fail("101 response lacks 'Connection: Upgrade'")
        if headers.get_all("Sec-WebSocket-Accept") != [accept_key(self.key)]:
            raise fail("Sec-WebSocket-Accept does not match the key sent")

        subprotocols = headers.get_all("Sec-WebSocket-Protocol")
        if subprotocols and (len(subprotocols) != 1 or subprotocols[0] not in self.subprotocols):
            chosen = ", ".join(subprotocols)
            raise fail(f"server chose subprotocol {chosen!r}, which was not offered")

        try:
            extensions = parse_extensions(headers.get_all("Sec-WebSocket-Extensions"))
        except ValueError as exc:
            raise fail(f"invalid Sec-WebSocket-Extensions: {exc}") from exc
        runtime = None
        for name, params in extensions:
            # RFC 6455 §4.1: the server must not answer with an extension not offered,
            # nor (RFC 7692 §7) accept permessage-deflate twice.
            if name != _DEFLATE or self._deflate is None or runtime is not None:
                raise fail(f"server accepted extension {name!r}, which was not offered")
            runtime = self._deflate.client_accept(params)

        return Connection(
            Role.CLIENT,
            deflate=runtime,
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
            trailing_data=trailing_data,
        )
