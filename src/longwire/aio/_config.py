"""Settings of the asyncio layer: one frozen dataclass per concern, defaults documented here.

Every other place (``App.run``, ``longwire.aio.run``, the CLI) derives its options
from these fields rather than declaring them again.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from ..http1 import Limits
from ..websocket import DEFAULT_MAX_MESSAGE_SIZE, PerMessageDeflate

__all__ = ["DEFAULT_COMPRESSION", "ServerConfig", "WebSocketOptions"]

DEFAULT_COMPRESSION = PerMessageDeflate(
    server_no_context_takeover=True,
    client_no_context_takeover=True,
    compress_level=6,
    mem_level=5,
    min_size=128,
)
"""The server's permessage-deflate settings: frugal with memory.

With ``no_context_takeover`` both ways, zlib objects exist only while a message is
compressed or decompressed, so an idle connection holds no zlib memory at all
(with context takeover it would keep about 200 KiB per connection: see
``PerMessageDeflate``). The cost is ratio: each message is compressed on its own,
which matters little for the JSON-sized messages real-time apps send. Messages
under 128 bytes go uncompressed: deflate gains nothing on them.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSocketOptions:
    """How a WebSocket connection behaves, server or client side.

    Attributes:
        max_message_size: largest message accepted, in bytes after decompression;
            bigger closes the connection with 1009. None: no limit. Default 1 MiB.
        max_queue: received messages held for an application that does not read
            (``recv`` / ``async for``) before reading from the socket pauses.
            Default 16.
        write_limit: high-water mark of the transport's write buffer, in bytes:
            above it ``await ws.send(...)`` waits until the buffer drains below a
            quarter of it. Default 64 KiB.
        ping_interval: seconds between keepalive pings; None disables them.
            Default 20.
        ping_timeout: seconds to wait for the pong; when none comes, the connection
            is closed with 1011 "keepalive ping timeout". Default 20.
        close_timeout: seconds to wait for the closing handshake (and, for a client,
            for the server to close TCP) before dropping the connection. Default 10.
        compression: permessage-deflate settings, or None to refuse compression.
    """

    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    max_queue: int = 16
    write_limit: int = 64 * 1024
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float = 10.0
    compression: PerMessageDeflate | None = DEFAULT_COMPRESSION

    def __post_init__(self) -> None:
        if self.max_message_size is not None and self.max_message_size < 1:
            raise ValueError("max_message_size must be at least 1 (or None for no limit)")
        if self.max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if self.write_limit < 1:
            raise ValueError("write_limit must be at least 1")
        for name in ("ping_interval", "ping_timeout", "close_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server behaves. Times are in seconds.

    Attributes:
        header_timeout: time a client has to send a whole request head, from its
            first byte (or from connecting): slow clients (slowloris) get 408.
            Default 10.
        keep_alive_timeout: idle time after a response before an unused keep-alive
            connection is closed. Default 5.
        shutdown_timeout: on SIGINT/SIGTERM, time given to in-flight requests and
            closing handshakes before connections are dropped. Default 10.
        max_connections: open connections (HTTP and WebSocket) above which new
            ones are answered 503 and closed. None: no limit. Default 10,000.
        http_limits: sizes the HTTP/1.1 parser accepts (``longwire.http1.Limits``).
        body_buffer_size: request body bytes buffered for a handler that has not
            read them yet before reading from the socket pauses. Default 64 KiB.
        write_limit: high-water mark of a connection's write buffer; streamed
            responses wait above it. Default 64 KiB.
        websocket: WebSocket behaviour (``WebSocketOptions``); a route may
            override ``max_message_size`` and compression.
        access_log: log one line per request and per WebSocket session to the
            ``longwire.access`` logger. Default on.
        ssl: a server ``ssl.SSLContext`` for https/wss, or None.
        backlog: listen backlog. Default 2048.
        metrics_path: the path (such as ``/metrics``) at which the server itself
            answers GET and HEAD with its metrics in the Prometheus text format,
            ahead of the app's routes. None: no such endpoint (the counting goes
            on regardless: see ``Server.metrics``). Default None.
        metrics_dir: a directory that several server processes share: each
            writes its metrics there (at most once a second, and before
            answering a scrape), and a scrape answers with the sum over all of
            them. None: this process's metrics only. Default None.
        server_header: the ``Server`` field sent with every HTTP response
            (unless the application sets its own); None sends none. Default
            ``longwire`` (no version: it would tell an attacker which bugs to try).
        asgi_response_timeout: time an ASGI application has to start its
            response (``http.response.start``) to a request; past it, the
            application is cancelled and the client answered 504. None: no
            limit (long-polling apps). Native apps are not affected. Default 60.
    """

    header_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    shutdown_timeout: float = 10.0
    max_connections: int | None = 10_000
    http_limits: Limits = field(default_factory=Limits)
    body_buffer_size: int = 64 * 1024
    write_limit: int = 64 * 1024
    websocket: WebSocketOptions = field(default_factory=WebSocketOptions)
    access_log: bool = True
    ssl: ssl.SSLContext | None = None
    backlog: int = 2048
    metrics_path: str | None = None
    metrics_dir: str | None = None
    server_header: str | None = "longwire"
    asgi_response_timeout: float | None = 60.0

    def __post_init__(self) -> None:
        for name in ("header_timeout", "keep_alive_timeout", "shutdown_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1 (or None for no limit)")
        if self.backlog < 1:
            raise ValueError("backlog must be at least 1")
        if self.body_buffer_size < 1 or self.write_limit < 1:
            raise ValueError("body_buffer_size and write_limit must be at least 1")
        path = self.metrics_path
        if path is not None and (
            not path.startswith("/") or any(c in path for c in "?# ") or not path.isprintable()
        ):
            raise ValueError(f"metrics_path must be a path such as /metrics, not {path!r}")
        header = self.server_header
        if header is not None and (not header or not header.isprintable() or not header.isascii()):
            raise ValueError(f"server_header must be printable ASCII text, not {header!r}")
        if self.asgi_response_timeout is not None and self.asgi_response_timeout <= 0:
            raise ValueError("asgi_response_timeout must be positive (or None for no limit)")
        if self.metrics_dir == "":
            raise ValueError("metrics_dir must be a directory (or None)")
