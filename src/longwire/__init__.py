"""longwire: real-time web communication for Python.

The app API (``App``, ``Request``, ``Response``), the WebSocket object and client
(``WebSocket``, ``connect``) and the server (``Server``, ``run``) are here. The
sans-I/O protocol cores live in :mod:`longwire.http1` (HTTP/1.1, RFC 9112) and
:mod:`longwire.websocket` (RFC 6455 with RFC 7692 permessage-deflate); the asyncio
layer in :mod:`longwire.aio`, the application layer in :mod:`longwire.app`.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    ConnectionClosed,
    HandshakeError,
    LocalProtocolError,
    LongwireError,
    ProtocolError,
    RemoteProtocolError,
)
from ._role import Role
from ._version import __version__

if TYPE_CHECKING:
    from .aio import (
        EventSource,
        EventSourceError,
        ReadyState,
        Reconnect,
        ReconnectingWebSocket,
        Server,
        ServerConfig,
        WebSocket,
        WebSocketOptions,
        connect,
        run,
    )
    from .app import App, HTTPError, Request, Response, StreamingResponse

# The server and app layers load on first use, so that importing a sans-I/O core
# (``longwire.http1``, ``longwire.websocket``) does not import asyncio or socket.
_LAZY = {
    **dict.fromkeys(
        (
            "EventSource",
            "EventSourceError",
            "ReadyState",
            "Reconnect",
            "ReconnectingWebSocket",
            "Server",
            "ServerConfig",
            "WebSocket",
            "WebSocketOptions",
            "connect",
            "run",
        ),
        "aio",
    ),
    **dict.fromkeys(("App", "HTTPError", "Request", "Response", "StreamingResponse"), "app"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'longwire' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "App",
    "ConnectionClosed",
    "EventSource",
    "EventSourceError",
    "HTTPError",
    "HandshakeError",
    "LocalProtocolError",
    "LongwireError",
    "ProtocolError",
    "ReadyState",
    "Reconnect",
    "ReconnectingWebSocket",
    "RemoteProtocolError",
    "Request",
    "Response",
    "Role",
    "Server",
    "ServerConfig",
    "StreamingResponse",
    "WebSocket",
    "WebSocketOptions",
    "__version__",
    "connect",
    "run",
]
