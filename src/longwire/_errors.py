"""The exceptions longwire raises, all under one root.

::

    LongwireError
    ├── ProtocolError              a protocol rule was broken; carries what to answer
    │   ├── LocalProtocolError     ... by us (the application misused an API)
    │   └── RemoteProtocolError    ... by the peer (it sent bytes that break the RFC)
    ├── HandshakeError             a WebSocket opening handshake failed
    └── ConnectionClosed           a WebSocket connection is closed (code, reason)

A ``ProtocolError`` carries ``status_hint`` (the HTTP status a server answers with
before closing) and/or ``close_code`` (the WebSocket close code to fail the
connection with), so the I/O layer never has to guess.
"""

from __future__ import annotations

__all__ = [
    "ConnectionClosed",
    "HandshakeError",
    "LocalProtocolError",
    "LongwireError",
    "ProtocolError",
    "RemoteProtocolError",
]


class LongwireError(Exception):
    """Root of every exception longwire raises on purpose."""


class ProtocolError(LongwireError):
    """A protocol rule was broken.

    Args:
        message: one line saying which rule, in words a user can act on.
        status_hint: HTTP status to answer with (HTTP/1.1 cores), or ``None``.
        close_code: WebSocket close code to fail the connection with, or ``None``.
    """

    def __init__(
        self, message: str, *, status_hint: int | None = None, close_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_hint = status_hint
        self.close_code = close_code


class LocalProtocolError(ProtocolError):
    """We (the application using longwire) tried to do something the protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class HandshakeError(LongwireError):
    """A WebSocket opening handshake failed.

    On the server side, ``status`` and ``headers`` are the HTTP answer to send
    (for example 426 with ``Sec-WebSocket-Version: 13``). On the client side,
    ``status`` is the status the server answered with and ``body`` an excerpt of
    what it sent, when the failure is a non-101 answer.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or []
        self.body = body


class ConnectionClosed(LongwireError):
    """The WebSocket connection is closed.

    Attributes:
        code: the close code (1005 when the peer sent none, 1006 when the
            connection dropped without a closing handshake).
        reason: the close reason, possibly empty.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason
