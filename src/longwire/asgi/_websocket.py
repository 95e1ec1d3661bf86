"""One ASGI WebSocket session over the server's ``ServerWebSocket``.

The handshake, framing, compression, keepalive pings, flow control and the
closing handshake are the server's own (``aio._upgrade``, ``aio._websocket``);
this module only translates: ``websocket.accept`` is ``ws.accept``,
``websocket.close`` before accepting is a 403 (``ws.close``), the denial
response extension (``websocket.http.response.*``) is ``ws.reject`` with the
app's status, headers and body, and messages go through ``ws.recv`` /
``ws.send``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed, LocalProtocolError
from ..aio import ReadyState
from ..websocket import CloseCode
from ._http import ClientDisconnected

if TYPE_CHECKING:
    from ..aio._upgrade import ServerWebSocket
    from ._scope import ASGIApplication, Scope

__all__ = ["run_websocket"]

logger = logging.getLogger("longwire.asgi")

_CONNECT = "websocket.connect"


async def run_websocket(app: ASGIApplication, ws: ServerWebSocket, scope: Scope) -> None:
    """Run ``app`` for the handshake ``ws`` is waiting on, until it returns.

    Never raises: an app that fails before accepting gets a 500 sent for it,
    after accepting a close with 1011; an app that returns without deciding on
    the handshake gets a 500 too (as with uvicorn).
    """
    session = _Session(ws)
    try:
        result = await app(scope, session.receive, session.send)
    except Exception as exc:
        if session.client_left or isinstance(exc, ClientDisconnected | ConnectionClosed):
            logger.debug("ASGI WebSocket application stopped: the client left", exc_info=exc)
            return
        logger.error("exception in ASGI WebSocket application", exc_info=exc)
        if ws.ready_state is ReadyState.CONNECTING:
            _reject_500(ws)
        elif ws.ready_state is ReadyState.OPEN:
            ws.close(CloseCode.INTERNAL_ERROR, "internal error")
        return
    if result is not None:
        logger.error("ASGI callable should return None, but returned %r", result)
    if ws.ready_state is ReadyState.CONNECTING:  # undecided, or a denial body cut short
        logger.error("ASGI callable returned without accepting or rejecting the WebSocket")
        _reject_500(ws)
    # Open still: the server closes with 1000 (ServerWebSocket._handler_finished).


def _reject_500(ws: ServerWebSocket) -> None:
    with contextlib.suppress(LocalProtocolError):  # the client left during the handshake
        ws._reject_now(500, b"Internal Server Error\n", reason="server_error")


def _str_headers(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


class _Session:
    """The ``receive`` and ``send`` of one WebSocket connection."""

    __slots__ = ("_connect_given", "_ws", "client_left", "denial")

    def __init__(self, ws: ServerWebSocket) -> None:
        self._ws = ws
        self._connect_given = False
        # The denial response being sent: (status, headers, body so far).
        self.denial: tuple[int, list[tuple[str, str]], list[bytes]] | None = None
        self.client_left = False

    async def receive(self) -> dict[str, Any]:
        """``websocket.connect`` first, then ``websocket.receive`` messages, then
        ``websocket.disconnect`` with the close code and reason."""
        ws = self._ws
        if not self._connect_given:
            self._connect_given = True
            return {"type": _CONNECT}
        state = ws.ready_state
        if state is ReadyState.CONNECTING:
            if self.denial is None:
                raise RuntimeError(
                    "receive() before the handshake was decided: send 'websocket.accept' "
                    "or 'websocket.close' first"
                )
            return {"type": "websocket.disconnect", "code": CloseCode.ABNORMAL_CLOSURE}
        try:
            data = await ws.recv()
        except ConnectionClosed as exc:
            self.client_left = True
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if type(data) is str:
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def send(self, message: dict[str, Any]) -> None:
        """Take one message from the app.

        Raises:
            ClientDisconnected: the connection is closed (or closing).
            RuntimeError: a message out of order or of an unknown type.
        """
        kind = message["type"]
        ws = self._ws
        if kind == "websocket.send":
            if ws.ready_state is not ReadyState.OPEN:
                if ws.ready_state is ReadyState.CONNECTING:
                    raise RuntimeError("'websocket.send' before 'websocket.accept'")
                self.client_left = True
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            await ws.send(text if text is not None else message["bytes"])
            return
        state = ws.ready_state
        if kind == "websocket.accept":
            if state is not ReadyState.CONNECTING or self.denial is not None:
                raise RuntimeError(f"'websocket.accept' when the WebSocket is {state.name}")
            try:
                headers = _str_headers(message.get("headers", ()))
                await ws.accept(message.get("subprotocol"), headers)
            except ConnectionClosed:
                self.client_left = True
                raise ClientDisconnected("the client left during the handshake") from None
            return
        if kind == "websocket.close":
            if state is ReadyState.CONNECTING:
                if self.denial is not None:
                    raise RuntimeError("'websocket.close' during a denial response")
                self._reject(403, [], b"")  # ASGI: a close before accept is a 403
            elif state is ReadyState.OPEN:
                code = message.get("code") or CloseCode.NORMAL_CLOSURE
                ws.close(code, message.get("reason") or "")
            # Closing or closed already: nothing to do (the app may close twice).
            return
        if kind == "websocket.http.response.start":
            if state is not ReadyState.CONNECTING or self.denial is not None:
                raise RuntimeError(f"'{kind}' when the WebSocket is {state.name}")
            status = message["status"]
            if not 200 <= status <= 599:
                raise RuntimeError(f"a denial response needs a final status, not {status}")
            self.denial = (status, _str_headers(message.get("headers", ())), [])
            return
        if kind == "websocket.http.response.body":
            denial = self.denial
            if denial is None or state is not ReadyState.CONNECTING:
                raise RuntimeError(f"'{kind}' without 'websocket.http.response.start'")
            denial[2].append(message.get("body", b""))
            if not message.get("more_body", False):
                self._reject(denial[0], denial[1], b"".join(denial[2]))
            return
        raise RuntimeError(f"unexpected ASGI WebSocket message {kind!r}")

    def _reject(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        ws = self._ws
        if ws._protocol is None or ws._protocol._transport is None:
            self.client_left = True
            raise ClientDisconnected("the client left during the handshake")
        ws._reject_now(status, body, headers)
