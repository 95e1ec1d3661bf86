"""Events of the HTTP/1.1 core: what ``Connection.receive_data`` returns and ``send`` takes.

A message is ``Request`` or ``Response`` (preceded by any number of
``InformationalResponse``), then ``Data`` chunks, then ``EndOfMessage``.
``ConnectionClosed`` says the peer closed its side at a clean point.

Events are frozen, slotted, keyword-only dataclasses. ``headers`` accepts a
``Headers`` or any iterable of ``(name, value)`` pairs and is stored as ``Headers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._errors import LocalProtocolError
from ._headers import Headers

__all__ = [
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "InformationalResponse",
    "Request",
    "Response",
]

_VERSIONS = ("1.1", "1.0")


def _check_version(version: str) -> None:
    if version not in _VERSIONS:
        raise LocalProtocolError(f"unsupported HTTP version {version!r}: use '1.1' or '1.0'")


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A request head.

    Attributes:
        method: the method token as sent, e.g. ``"GET"`` (case-sensitive, RFC 9110 §9.1).
        target: the request-target as sent, e.g. ``"/chat?room=1"``.
        headers: the header fields.
        http_version: ``"1.1"`` or ``"1.0"``.
    """

    method: str
    target: str
    headers: Headers = field(default_factory=Headers)
    http_version: str = "1.1"

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers.coerce(self.headers))
        _check_version(self.http_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class _ResponseBase:
    status_code: int
    headers: Headers = field(default_factory=Headers)
    reason: str = ""
    http_version: str = "1.1"

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers.coerce(self.headers))
        _check_version(self.http_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class InformationalResponse(_ResponseBase):
    """A 1xx interim response (100 Continue, 101 Switching Protocols, 103 Early Hints)."""

    def __post_init__(self) -> None:
        _ResponseBase.__post_init__(self)
        if not 100 <= self.status_code <= 199:
            raise LocalProtocolError(
                f"InformationalResponse needs a 1xx status, not {self.status_code}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(_ResponseBase):
    """A final response head (status 200-999)."""

    def __post_init__(self) -> None:
        _ResponseBase.__post_init__(self)
        if not 200 <= self.status_code <= 999:
            raise LocalProtocolError(
                f"Response needs a final status (200-999), not {self.status_code}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """A piece of a message body, in order. Chunk boundaries carry no meaning."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfMessage:
    """The end of a message body, with trailer fields when the body was chunked."""

    trailers: Headers = field(default_factory=Headers)

    def __post_init__(self) -> None:
        if not isinstance(self.trailers, Headers):
            object.__setattr__(self, "trailers", Headers.coerce(self.trailers))


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The peer closed its sending side at a point where that is allowed."""


Event = Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed
