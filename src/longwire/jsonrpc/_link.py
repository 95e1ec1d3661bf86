"""A ``Peer`` over a longwire ``WebSocket``: what the route and the client share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed
from ._codec import Params
from ._peer import Peer, Send

if TYPE_CHECKING:
    from ..aio import WebSocket

__all__ = ["SUBPROTOCOL", "UNSUPPORTED_DATA", "PeerCalls", "run_peer", "sender"]

SUBPROTOCOL = "jsonrpc"
"""The WebSocket subprotocol name both ends offer (and the server selects)."""

UNSUPPORTED_DATA = 1003
"""RFC 6455 §7.4.1: the close code for "a type of data it cannot accept": JSON-RPC
is text, so a binary message closes the connection with it."""

ABNORMAL_CLOSURE = 1006

_UNSET: Any = object()


class PeerCalls:
    """``call`` and ``notify`` towards the other end, for a class holding a ``peer``."""

    __slots__ = ()
    peer: Peer

    async def call(
        self, method: str, params: Params | tuple[Any, ...] = None, *, timeout: Any = _UNSET
    ) -> Any:
        """Call ``method`` on the other end and return its result (see ``Peer.call``)."""
        if timeout is _UNSET:
            return await self.peer.call(method, params)
        return await self.peer.call(method, params, timeout=timeout)

    async def notify(self, method: str, params: Params | tuple[Any, ...] = None) -> None:
        """Send the other end a notification (see ``Peer.notify``)."""
        await self.peer.notify(method, params)


def sender(ws: WebSocket) -> Send:
    """``send(text)`` for a ``Peer``: one text message, awaiting backpressure."""

    async def send(text: str) -> None:
        await ws.send(text)

    return send


async def run_peer(ws: WebSocket, peer: Peer) -> None:
    """Feed ``ws``'s messages to ``peer`` until the connection closes, then close ``peer``.

    A binary message starts the closing handshake with 1003. Once the
    connection is done, ``peer`` is closed with a ``ConnectionClosed`` carrying
    the close code (pending calls fail with it) and its cancelled handlers are
    awaited, so nothing outlives the connection.
    """
    closed: ConnectionClosed | None = None
    try:
        while True:
            message = await ws.recv()
            if not isinstance(message, str):
                ws.close(UNSUPPORTED_DATA, "JSON-RPC messages are text")
                closed = ConnectionClosed(UNSUPPORTED_DATA, "JSON-RPC messages are text")
                break
            await peer.feed(message)
    except ConnectionClosed as exc:
        closed = exc
    finally:
        if closed is None:  # cancelled
            closed = ConnectionClosed(ws.close_code or ABNORMAL_CLOSURE, ws.close_reason)
        peer.close(closed)
        await peer.wait_closed()
