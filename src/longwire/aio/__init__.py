"""The asyncio layer: connections on ``asyncio.Protocol`` that move bytes between sockets
and the sans-I/O cores, the WebSocket object, and the server's lifetime.
"""

from ._client import InvalidURI, connect
from ._config import DEFAULT_COMPRESSION, ServerConfig, WebSocketOptions
from ._eventsource import EventSource, EventSourceError, EventSourceState
from ._reconnect import RETRY_CLOSE_CODES, Reconnect, ReconnectingWebSocket
from ._server import Server, make_config, run, serve
from ._tls import client_ssl_context, server_ssl_context
from ._websocket import ReadyState, WebSocket

__all__ = [
    "DEFAULT_COMPRESSION",
    "RETRY_CLOSE_CODES",
    "EventSource",
    "EventSourceError",
    "EventSourceState",
    "InvalidURI",
    "ReadyState",
    "Reconnect",
    "ReconnectingWebSocket",
    "Server",
    "ServerConfig",
    "WebSocket",
    "WebSocketOptions",
    "client_ssl_context",
    "connect",
    "make_config",
    "run",
    "serve",
    "server_ssl_context",
]
