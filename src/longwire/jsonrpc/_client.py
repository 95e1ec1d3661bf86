"""The client: ``async with longwire.jsonrpc.connect(url) as client: await client.call(...)``."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from types import TracebackType
from typing import Any

from ..aio import WebSocket
from ..aio import connect as ws_connect
from ._link import SUBPROTOCOL, PeerCalls, run_peer, sender
from ._methods import Methods
from ._peer import DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, DEFAULT_TIMEOUT, Peer, check_limits

__all__ = ["JsonRpcClient", "connect"]



class JsonRpcClient(PeerCalls):
    """A JSON-RPC 2.0 connection from the client's end: made by ``connect``.

    It calls the server's methods (``call``, ``notify``) and serves the
    ``methods`` the server calls, with itself as their context. It reads the
    connection in a task of its own until the connection closes; then pending
    calls fail with ``ConnectionClosed``.

    Attributes:
        websocket: the ``WebSocket`` (``subprotocol`` is ``"jsonrpc"`` when the
            server selected it).
        peer: the ``Peer``.
    """

    __slots__ = ("_reader", "peer", "websocket")

    def __init__(
        self,
        websocket: WebSocket,
        methods: Methods | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_batch: int | None = DEFAULT_MAX_BATCH,
        max_pending: int | None = DEFAULT_MAX_PENDING,
    ) -> None:
        self.websocket = websocket
        self.peer = Peer(
            sender(websocket),
            methods,
            context=self,
            timeout=timeout,
            max_batch=max_batch,
            max_pending=max_pending,
        )
        self._reader = asyncio.get_running_loop().create_task(run_peer(websocket, self.peer))

    def __repr__(self) -> str:
        return f"<JsonRpcClient {self.peer!r}>"

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (pending and later calls fail)."""
        return self.peer.closed

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait until it and the method handlers are done."""
        await self.websocket.close(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by either end) and the handlers are done."""
        await asyncio.shield(self._reader)

    async def __aenter__(self) -> JsonRpcClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class connect:
    """Open a JSON-RPC 2.0 connection: ``async with connect(url) as client:``.

    Or ``client = await connect(url)``, then ``await client.close()``. The
    handshake offers the ``jsonrpc`` subprotocol.

    ::

        async with longwire.jsonrpc.connect("ws://127.0.0.1:8000/rpc") as client:
            print(await client.call("add", [1, 2]))

    Args:
        url: a ``ws://`` or ``wss://`` URL.
        methods: the methods the server may call (context: the ``JsonRpcClient``).
        timeout, max_batch, max_pending: the ``Peer`` limits.
        kwargs: for ``longwire.aio.connect`` (``headers``, ``origin``, ``ssl``,
            ``open_timeout``, ``max_message_size``, ...); not ``subprotocols``
            nor ``reconnect`` (pending calls could not survive a new connection).

    Raises:
        TypeError: ``subprotocols`` or ``reconnect`` was given, or an unknown option.
        ValueError: a limit is out of range.
        And what ``longwire.aio.connect`` raises (``HandshakeError``, ``OSError``,
        ``TimeoutError``) when awaited or entered.
    """

    def __init__(
        self,
        url: str,
        methods: Methods | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_batch: int | None = DEFAULT_MAX_BATCH,
        max_pending: int | None = DEFAULT_MAX_PENDING,
        **kwargs: Any,
    ) -> None:
        for name in ("subprotocols", "reconnect"):
            if name in kwargs:
                raise TypeError(f"longwire.jsonrpc.connect() does not take {name}=")
        check_limits(timeout, max_batch, max_pending)
        self._connect = ws_connect(url, subprotocols=(SUBPROTOCOL,), **kwargs)
        self._methods = methods
        self._limits: dict[str, Any] = {
            "timeout": timeout,
            "max_batch": max_batch,
            "max_pending": max_pending,
        }
        self._client: JsonRpcClient | None = None

    async def _open(self) -> JsonRpcClient:
        ws = await self._connect
        return JsonRpcClient(ws, self._methods, **self._limits)

    def __await__(self) -> Generator[Any, None, JsonRpcClient]:
        return self._open().__await__()

    async def __aenter__(self) -> JsonRpcClient:
        self._client = await self._open()
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
