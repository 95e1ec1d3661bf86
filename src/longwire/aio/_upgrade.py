"""The server side of a WebSocket upgrade: route it, let the handler decide, hand over."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed, HandshakeError, LocalProtocolError
from ..http1 import Headers, Request
from ..websocket import CloseCode, PerMessageDeflate, ServerHandshake
from ._eager import Finished, start
from ._websocket import ReadyState, WebSocket

if TYPE_CHECKING:
    from ..app import WebSocketRoute
    from ._http_server import HTTPServerProtocol

__all__ = ["ServerWebSocket", "start_websocket"]

logger = logging.getLogger("longwire.websocket")
access_logger = logging.getLogger("longwire.access")

_DEFAULT: Any = object()


def start_websocket(protocol: HTTPServerProtocol, event: Request) -> None:
    """Handle an upgrade request: answer errors over HTTP, else start the route's handler."""
    from ..app import Response  # noqa: PLC0415 - app imports aio lazily too

    started = time.monotonic()

    def answer(
        reason: str, status: int, text: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        protocol._metrics.handshake_failed(reason)
        response = Response.text(text + "\n", status=status, headers=list(headers))
        protocol._respond(event, response, started)
        protocol._handshake_declined()

    try:
        handshake = ServerHandshake.from_request(event)
    except HandshakeError as exc:
        names = {name.lower() for name, _ in exc.headers}
        reason = "version" if "sec-websocket-version" in names else "bad_request"
        answer(reason, exc.status, exc.message, exc.headers)
        return
    request = protocol._make_request(event, None)
    match = protocol._app.match_websocket(request.path)
    if match is None:
        answer("not_found", 404, "Not Found")
        return
    route, params = match
    request.path_params = params
    if not route.origin_allowed(handshake.origin):
        answer("origin", 403, f"origin {handshake.origin!r} is not allowed")
        return
    ws = ServerWebSocket(protocol, handshake, route, request, started)
    protocol._state.handshakes.add(ws)
    try:
        result = route.handler(ws)
        if asyncio.iscoroutine(result):
            outcome: Any = start(result, protocol._loop)
        else:
            outcome = Finished(result)
    except Exception as exc:
        ws._handler_finished(exc)
        return
    if type(outcome) is Finished:
        ws._handler_finished(None)
    else:
        protocol._state.track(outcome)
        outcome.add_done_callback(ws._handler_task_done)


class ServerWebSocket(WebSocket):
    """A WebSocket whose handshake the server's handler has yet to accept or reject."""

    __slots__ = ("_handshake", "_protocol", "_route", "_server_state")

    def __init__(
        self,
        protocol: HTTPServerProtocol,
        handshake: ServerHandshake,
        route: WebSocketRoute,
        request: Any,
        started: float,
    ) -> None:
        options = protocol._config.websocket
        super().__init__(
            options=options, loop=protocol._loop, request=request, remote_address=protocol._client
        )
        self._protocol: HTTPServerProtocol | None = protocol
        self._handshake = handshake
        self._route = route
        self._server_state = protocol._state
        self._metrics = protocol._metrics
        self._started = started

    async def accept(self, subprotocol: str | None = _DEFAULT, headers: Any = ()) -> None:
        """Accept the handshake: answer 101 Switching Protocols.

        Args:
            subprotocol: the subprotocol to speak; by default the first of the
                route's ``subprotocols`` that the client offers (or none).
            headers: extra headers for the 101 response.

        Raises:
            LocalProtocolError: the handshake was already answered, or
                ``subprotocol`` was not offered by the client.
        """
        self._accept_now(subprotocol, headers)

    def _accept_now(self, subprotocol: str | None = _DEFAULT, headers: Any = ()) -> None:
        protocol = self._protocol
        if self._state is not ReadyState.CONNECTING or protocol is None:
            raise LocalProtocolError(f"cannot accept: the WebSocket is {self._state.name}")
        transport = protocol._transport
        if transport is None:
            self._metrics.handshake_failed("client_gone")
            self._server_state.handshakes.discard(self)
            self._state = ReadyState.CLOSED
            self.close_code = CloseCode.ABNORMAL_CLOSURE
            raise ConnectionClosed(
                CloseCode.ABNORMAL_CLOSURE, "client went away during the handshake"
            )
        handshake = self._handshake
        if subprotocol is _DEFAULT:
            offered = handshake.subprotocols
            subprotocol = next((p for p in self._route.subprotocols if p in offered), None)
        route = self._route
        options = self._options
        deflate: PerMessageDeflate | None = options.compression if route.compression else None
        max_size = route.max_message_size
        if not (max_size is None or isinstance(max_size, int)):
            max_size = options.max_message_size
        http = protocol._http
        response, core = handshake.accept(
            subprotocol=subprotocol,
            deflate=deflate,
            headers=headers,
            max_message_size=max_size,
            # Frames the client sent right behind its request: parsed (and
            # delivered) by the data_received(b"") in _open.
            trailing_data=http.trailing_data,
        )
        data = http.send(response)
        transport.write(data)
        metrics = self._metrics
        metrics.http_responses[101] += 1
        metrics.http_bytes_out += len(data)
        metrics.websocket_opened(self)
        self._protocol = None
        self._server_state.handshakes.discard(self)
        reading_paused = protocol._hand_over(self)
        self._open(
            core,
            transport,
            subprotocol=subprotocol,
            extensions=response.headers.get("Sec-WebSocket-Extensions", "") or "",
            released=self._released_by_server,
        )
        if reading_paused:
            transport.resume_reading()

    async def reject(self, status: int = 403, body: str | bytes = b"", headers: Any = ()) -> None:
        """Refuse the handshake with an HTTP response (instead of 101).

        Raises:
            LocalProtocolError: the handshake was already answered.
        """
        self._reject_now(status, body, headers)

    def _reject_now(
        self, status: int, body: str | bytes = b"", headers: Any = (), reason: str = "rejected"
    ) -> None:
        from ..app import Response  # noqa: PLC0415

        protocol = self._protocol
        if self._state is not ReadyState.CONNECTING or protocol is None:
            raise LocalProtocolError(f"cannot reject: the WebSocket is {self._state.name}")
        if not 200 <= status <= 599:
            raise LocalProtocolError(f"a rejection needs a final status (200-599), not {status}")
        self._metrics.handshake_failed(reason)
        self._protocol = None
        self._server_state.handshakes.discard(self)
        self._state = ReadyState.CLOSED
        self.close_code = CloseCode.ABNORMAL_CLOSURE
        if isinstance(body, str):
            response = Response.text(body, status=status, headers=Headers.coerce(headers))
        else:
            response = Response(body, status=status, headers=Headers.coerce(headers))
        protocol._respond(self._handshake.request, response, self._started)
        protocol._handshake_declined()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def _going_away(self, reason: str = "server shutting down") -> None:
        if self._state is ReadyState.CONNECTING and self._protocol is not None:
            self._reject_now(503, "server shutting down\n", reason="shutdown")
        else:
            super()._going_away(reason)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> asyncio.Future[None]:
        if self._state is ReadyState.CONNECTING and self._protocol is not None:
            # Closing before accepting refuses the handshake, as in ASGI.
            closed = self._closed_future()
            self._reject_now(403)
            return closed
        return super().close(code, reason)

    async def _accept_then_send(self, data: Any, compress: bool) -> None:
        self._accept_now()
        await self.send(data, compress=compress)

    # The handler's end.

    def _handler_task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._handler_finished(None)
        else:
            self._handler_finished(task.exception())

    def _handler_finished(self, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(exc, ConnectionClosed):
            logger.error("WebSocket handler for %s failed", self._route.path, exc_info=exc)
            if self._state is ReadyState.CONNECTING and self._protocol is not None:
                self._reject_now(500, "Internal Server Error\n", reason="server_error")
            elif self._state is ReadyState.OPEN:
                self.close(CloseCode.INTERNAL_ERROR, "internal error")
            return
        if self._state is ReadyState.CONNECTING and self._protocol is not None:
            # A handler that returns without deciding has set callbacks (or has
            # nothing to say): accept.
            try:
                self._accept_now()
            except (ConnectionClosed, LocalProtocolError):
                return
        if self._state is ReadyState.OPEN and self.on_message is None:
            self.close()

    def _released_by_server(self, ws: WebSocket) -> None:
        state = self._server_state
        state.connections.discard(self)
        state.metrics.websocket_closed(self, self.close_code or CloseCode.ABNORMAL_CLOSURE)
        if state.access_log:
            address = self.remote_address
            client = f"{address[0]}:{address[1]}" if address else "-"
            duration = round(time.monotonic() - self._started, 1)
            target = self._handshake.request.target
            access_logger.info(
                '%s "WS %s" 101 in=%d out=%d %.1fs close=%s',
                client,
                target,
                self.bytes_received,
                self.bytes_sent,
                duration,
                self.close_code,
                extra={
                    "client": client,
                    "method": "WS",
                    "target": target,
                    "status": 101,
                    "bytes_in": self.bytes_received,
                    "bytes_out": self.bytes_sent,
                    "duration_s": duration,
                    "close_code": self.close_code,
                },
            )
