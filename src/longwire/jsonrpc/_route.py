"""JSON-RPC on an ``App`` WebSocket route: ``App.jsonrpc(path)`` makes a ``JsonRpcEndpoint``.

::

    rpc = app.jsonrpc("/rpc")

    @rpc.method()
    async def add(a, b):
        return a + b

    @rpc                         # optional: runs for each connection
    async def on_connect(conn):
        print(await conn.call("client.version"))
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConnectionClosed
from ._link import SUBPROTOCOL, PeerCalls, run_peer, sender
from ._methods import Methods
from ._peer import DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, DEFAULT_TIMEOUT, Peer, check_limits

if TYPE_CHECKING:
    from ..aio import WebSocket
    from ..app import Request

__all__ = ["JsonRpcConnection", "JsonRpcEndpoint", "OnConnect"]

logger = logging.getLogger("longwire.jsonrpc")

_F = TypeVar("_F", bound=Callable[..., Any])

OnConnect = Callable[["JsonRpcConnection"], Coroutine[Any, Any, None]]
"""``async def on_connect(conn)``: runs for each connection, beside its methods."""

# RFC 6455 §7.4.1: 1011, "an unexpected condition prevented it from fulfilling the request".
_INTERNAL_ERROR = 1011


class JsonRpcConnection(PeerCalls):
    """The server's handle on one JSON-RPC connection of an ``App.jsonrpc`` route.

    ``on_connect`` gets it, and so do methods registered with ``context=True``.

    Attributes:
        websocket: the ``WebSocket``.
        request: the upgrade ``Request`` (headers, query, ``path_params``).
        endpoint: the ``JsonRpcEndpoint``.
        peer: the ``Peer`` speaking JSON-RPC over the WebSocket.
        state: a ``dict`` for the application's per-connection data.
    """

    __slots__ = ("endpoint", "peer", "request", "state", "websocket")

    def __init__(self, websocket: WebSocket, endpoint: JsonRpcEndpoint) -> None:
        self.websocket = websocket
        self.request: Request | None = websocket.request
        self.endpoint = endpoint
        self.state: dict[str, Any] = {}
        self.peer = Peer(
            sender(websocket),
            endpoint.methods,
            context=self,
            timeout=endpoint.timeout,
            max_batch=endpoint.max_batch,
            max_pending=endpoint.max_pending,
        )

    def __repr__(self) -> str:
        return f"<JsonRpcConnection {self.endpoint.path} {self.peer!r}>"

    def close(self, code: int = 1000, reason: str = "") -> asyncio.Future[None]:
        """Start the WebSocket closing handshake; pending calls then fail with ``ConnectionClosed``.

        Returns:
            A future done when the connection is closed (awaiting it is optional).
        """
        return self.websocket.close(code, reason)

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (or closing)."""
        return self.peer.closed or self.websocket.ready_state >= 2


class JsonRpcEndpoint:
    """A JSON-RPC 2.0 WebSocket route: made by ``App.jsonrpc``, which registers it.

    The route offers the ``jsonrpc`` subprotocol and selects it when the client
    offers it. RFC 6455 §4.2.2 lets a server accept a handshake without
    selecting a subprotocol, and so does the endpoint by default, so a plain
    ``new WebSocket(url)`` works; with ``require_subprotocol``, a handshake not
    offering ``jsonrpc`` is refused with 400.

    Over the connection, a ``Peer`` serves ``methods`` (each connection is the
    context of methods registered with ``context=True``) and the server may
    call the client's methods through the ``JsonRpcConnection``. Messages that
    are no valid JSON-RPC are answered with the specification's errors; a
    binary message closes the connection with 1003.

    Used as a decorator, it takes ``async def on_connect(conn)`` and returns
    itself; ``on_connect`` runs beside the connection's methods once it is
    open (so it may ``await conn.call(...)``), and is cancelled when the
    connection closes; if it raises, the error is logged and the connection
    closed with 1011.

    Args:
        path: the path pattern (as for ``App.websocket``).
        methods: the ``Methods`` served (default: a new, empty one, which
            ``method`` fills).
        require_subprotocol: refuse handshakes that do not offer ``jsonrpc``.
        timeout, max_batch, max_pending: each connection's ``Peer`` limits.

    Attributes:
        connections: the ``JsonRpcConnection`` objects open now.
    """

    def __init__(
        self,
        path: str,
        methods: Methods | None = None,
        *,
        require_subprotocol: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_batch: int | None = DEFAULT_MAX_BATCH,
        max_pending: int | None = DEFAULT_MAX_PENDING,
    ) -> None:
        if methods is not None and not isinstance(methods, Methods):
            raise TypeError(f"methods must be a longwire.jsonrpc.Methods, not {methods!r}")
        # Fail now, not at the first connection.
        check_limits(timeout, max_batch, max_pending)
        self.path = path
        self.methods = methods if methods is not None else Methods()
        self.require_subprotocol = require_subprotocol
        self.timeout = timeout
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.on_connect: OnConnect | None = None
        self.connections: set[JsonRpcConnection] = set()

    def __call__(self, on_connect: OnConnect) -> JsonRpcEndpoint:
        """Decorator: run ``on_connect(conn)`` for each connection; returns the endpoint.

        Raises:
            TypeError: ``on_connect`` is not an ``async def`` function.
        """
        if not inspect.iscoroutinefunction(on_connect):
            raise TypeError("on_connect must be an async def function (conn)")
        self.on_connect = on_connect
        return self

    def method(self, name: str | None = None, *, context: bool | None = None) -> Callable[[_F], _F]:
        """Decorator: register a method on ``methods`` (see ``Methods.method``)."""
        return self.methods.method(name, context=context)

    async def serve(self, ws: WebSocket) -> None:
        """The WebSocket handler: accept, then run JSON-RPC until the connection closes."""
        request = ws.request
        if self.require_subprotocol and (
            request is None
            or SUBPROTOCOL not in request.headers.get_list("Sec-WebSocket-Protocol")
        ):
            await ws.reject(
                400, f"this endpoint speaks JSON-RPC 2.0: offer the {SUBPROTOCOL!r} subprotocol\n"
            )
            return
        await ws.accept()
        conn = JsonRpcConnection(ws, self)
        self.connections.add(conn)
        greeter = None
        if self.on_connect is not None:
            greeter = asyncio.get_running_loop().create_task(self._greet(self.on_connect, conn))
        try:
            await run_peer(ws, conn.peer)
        finally:
            self.connections.discard(conn)
            if greeter is not None:
                greeter.cancel()
                await asyncio.gather(greeter, return_exceptions=True)

    async def _greet(self, on_connect: OnConnect, conn: JsonRpcConnection) -> None:
        try:
            await on_connect(conn)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("JSON-RPC on_connect for %s failed", self.path)
            conn.close(_INTERNAL_ERROR, "internal error")
