"""The hub's routes: one per transport (docs/hub-protocol.md).

::

    GET  {prefix}/longwire.js        the browser client
    WS   {prefix}/ws                 JSON-RPC both ways (subprotocol jsonrpc)
    POST {prefix}/rpc?s=SESSION      JSON-RPC upstream for the HTTP transports
    GET  {prefix}/sse?s=…&ch=…       downstream as Server-Sent Events
    GET  {prefix}/stream?s=…&ch=…    downstream as an ndjson stream
    GET  {prefix}/poll?s=…&ch=…      downstream by long polling
    GET  {prefix}/events/{channel}   one channel for the browser's own EventSource
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from .._errors import ConnectionClosed
from ..app import App, HTTPError, Request, Response, StreamingResponse
from ..jsonrpc import (
    DEFAULT_MAX_PENDING,
    OVERLOADED,
    ErrorResponse,
    Message,
    Notification,
    RPCError,
    encode,
    notification,
    parse,
)
from ..jsonrpc import Request as RPCRequest
from ._broker import BrokerUnavailable, Position, Publication
from ._client import HubClient, new_client_id
from ._fanout import (
    Outgoing,
    QueueSubscriber,
    WebSocketSubscriber,
    plain_event,
    publication_text,
)
from ._hub import FORBIDDEN, Context, Hub, parse_positions
from ._tokens import InvalidToken

__all__ = ["register_routes"]

logger = logging.getLogger("longwire.hub")

_NO_STORE = ("Cache-Control", "no-store")
_NO_BUFFERING = ("X-Accel-Buffering", "no")
_JSON = "application/json"
MAX_BODY = 1 << 20
"""Bytes of one POST to ``/rpc``; more is answered 413."""
CLOSE_FORBIDDEN = 4003


@cache
def client_script() -> bytes:
    """``longwire.js``: the session client, the JSON-RPC peer and the hub client, in one script."""
    parts = [
        resources.files("longwire.realtime") / "static" / "longwire.js",
        resources.files("longwire.realtime") / "static" / "jsonrpc.js",
        resources.files("longwire.hub") / "static" / "hub.js",
    ]
    return b"\n".join(part.read_bytes() for part in parts if part.is_file())


def register_routes(hub: Hub, app: App, prefix: str) -> None:
    """Add the hub's routes under ``prefix`` to ``app``."""
    routes = _Routes(hub)
    app.get(prefix + "/longwire.js")(routes.script)
    app.websocket(prefix + "/ws", subprotocols=("jsonrpc",), origins=hub.origins)(routes.websocket)
    match = app.match_websocket(prefix + "/ws")
    assert match is not None
    routes.origin_allowed = match[0].origin_allowed
    app.post(prefix + "/rpc")(routes.rpc)
    app.get(prefix + "/sse")(routes.sse)
    app.get(prefix + "/stream")(routes.stream)
    app.get(prefix + "/poll")(routes.poll)
    app.get(prefix + "/events/{channel:path}")(routes.events)


class _Downstream(NamedTuple):
    """A checked downstream request: who asks, from which positions, with which grants."""

    client: HubClient
    positions: list[tuple[str, Position]]
    granted: set[str | None]


class _Routes:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.origin_allowed: Callable[[str | None], bool] = lambda origin: True

    async def script(self, request: Request) -> Response:
        return Response(
            client_script(),
            content_type="text/javascript; charset=utf-8",
            headers=[("Cache-Control", "no-cache")],
        )

    # WebSocket.

    async def websocket(self, ws: Any) -> None:
        hub = self.hub
        await hub.start()
        context = Context(transport="websocket", request=ws.request)
        subscriber: WebSocketSubscriber | None = None
        pending: set[asyncio.Task[Any]] = set()
        try:
            async for text in ws:
                if not isinstance(text, str):
                    ws.close(1003, "the hub speaks JSON-RPC in text messages")
                    break
                parsed = parse(text)
                if subscriber is None and context.client is None:
                    answer = await hub.handle_parsed(parsed, context)
                    if context.client is not None:
                        subscriber = WebSocketSubscriber(context.client, ws, hub.slow_limit)
                        context.subscriber = subscriber
                        await hub.attach(subscriber, context.client.personal_channel)
                    if answer is not None:
                        ws.send(answer)
                    continue
                if isinstance(parsed, RPCRequest | Notification) and parsed.method in hub.methods:
                    # An application method may take long: it must not hold up the
                    # connection's subscriptions and pings, so it runs on its own,
                    # up to DEFAULT_MAX_PENDING at once (as a jsonrpc Peer's).
                    if len(pending) >= DEFAULT_MAX_PENDING:
                        _refuse(ws, parsed, len(pending))
                        continue
                    call = self._answer(ws, parsed, context)
                    task = asyncio.get_running_loop().create_task(call)
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    continue
                await self._answer(ws, parsed, context)
        except ConnectionClosed:
            pass
        except RPCError as exc:
            ws.close(CLOSE_FORBIDDEN, exc.message[:120])
        finally:
            for task in pending:
                task.cancel()
            if subscriber is not None:
                await hub.detach_all(subscriber, leave=True)

    async def _answer(self, ws: Any, parsed: list[Message] | Message, context: Context) -> None:
        # A context of its own: calls may run concurrently, each with its releases.
        call = Context(
            transport=context.transport,
            request=context.request,
            client=context.client,
            subscriber=context.subscriber,
        )
        answer = await self.hub.handle_parsed(parsed, call)
        with contextlib.suppress(ConnectionClosed):
            if answer is not None:
                ws.send(answer)
            for release in call.after:
                release()

    # HTTP upstream.

    async def rpc(self, request: Request) -> Response:
        hub = self.hub
        await hub.start()
        if not self.origin_allowed(request.headers.get("Origin")):
            raise HTTPError(403, "origin not allowed")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPError(413, f"a JSON-RPC POST is at most {MAX_BODY} bytes")
        context = Context(transport="http", request=request)
        session = request.query.get("s")
        if session is not None:
            context.client = self._client(request, "http")
        answer = await hub.handle_text(body, context)
        if answer is None:
            return Response(b"", status=204, headers=[_NO_STORE])
        return Response(answer.encode(), content_type=_JSON, headers=[_NO_STORE])

    def _client(self, request: Request, transport: str) -> HubClient:
        session = request.query.get("s")
        if not session:
            raise HTTPError(403, "a session (s=) is required: call connect first")
        try:
            return self.hub.client_from_session(session, transport=transport, request=request)
        except InvalidToken as exc:
            raise HTTPError(403, f"invalid session: {exc}") from None

    # HTTP downstream.

    async def _check(self, request: Request, transport: str) -> _Downstream:
        """Check a downstream request (400, 403): its client, positions and grants."""
        hub = self.hub
        await hub.start()
        client = self._client(request, transport)
        try:
            positions = parse_positions(request.query_list("ch"))
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        if len(positions) > hub.max_subscriptions + 1:
            raise HTTPError(400, "too many channels")
        # Grants of server-side subscriptions (hub.subscribe), each naming its channel.
        given = request.query_list("g")
        if len(given) > hub.max_subscriptions:
            raise HTTPError(400, "too many grants")
        granted = {hub.granted_channel(grant, client) for grant in given}
        return _Downstream(client, positions, granted)

    async def _open(self, asked: _Downstream) -> tuple[QueueSubscriber, list[str]]:
        """Subscribe a downstream: its subscriber and the messages to send first.

        Raises:
            BrokerUnavailable: nothing stays subscribed.
        """
        hub = self.hub
        client, positions, granted = asked
        subscriber = QueueSubscriber(client, hub.max_queue)
        first: list[str] = []
        releases: list[tuple[str, int]] = []
        try:
            for channel, position in positions:
                try:
                    options = await hub.may_subscribe(client, channel, granted=channel in granted)
                except RPCError as exc:
                    first.append(
                        notification("unsubscribed", {"ch": channel, "reason": exc.message})
                    )
                    continue
                history = await hub.recover(subscriber, channel, position)
                if history.complete:
                    first.extend(_pub_texts(history.publications))
                else:
                    first.append(
                        notification(
                            "reset",
                            {
                                "ch": channel,
                                "e": history.position.epoch,
                                "o": history.position.offset,
                                "reason": "history no longer reaches back",
                            },
                        )
                    )
                releases.append((channel, history.position.offset))
                if options.presence:
                    await hub.refresh_presence(channel, client)
        except BaseException:
            await hub.detach_all(subscriber, leave=False)
            raise
        for channel, offset in releases:
            subscriber.release(channel, offset)
        return subscriber, first

    async def poll(self, request: Request) -> Response:
        asked = await self._check(request, "polling")
        try:
            subscriber, first = await self._open(asked)
        except BrokerUnavailable:
            raise HTTPError(503, "broker unavailable") from None
        hub = self.hub
        try:
            if not first:
                await subscriber.wait(hub.poll_timeout)
                # What else arrives in this loop turn goes in the same answer.
                await asyncio.sleep(0)
            messages = first + [message.text for message in subscriber.take()]
        finally:
            await hub.detach_all(subscriber, leave=False)
        body = "[" + ",".join(messages) + "]"
        return Response(body.encode(), content_type=_JSON, headers=[_NO_STORE])

    # The SSE and streaming responses subscribe once they are being sent: a
    # response the server does not run (HEAD, a client gone meanwhile) must
    # leave nothing subscribed.

    async def sse(self, request: Request) -> Response:
        body = self._downstream(
            await self._check(request, "sse"),
            lambda message: message.sse,
            Outgoing(notification("hb")).sse,
            Outgoing(notification("open", {"hb": int(self.hub.heartbeat * 1000)})).sse,
        )
        return StreamingResponse(
            body, content_type="text/event-stream", headers=[_NO_STORE, _NO_BUFFERING]
        )

    async def stream(self, request: Request) -> Response:
        body = self._downstream(
            await self._check(request, "streaming"),
            lambda message: message.line,
            Outgoing(notification("hb")).line,
            Outgoing(notification("open", {"hb": int(self.hub.heartbeat * 1000)})).line,
        )
        return StreamingResponse(
            body,
            content_type="application/x-ndjson; charset=utf-8",
            headers=[_NO_STORE, _NO_BUFFERING],
        )

    async def _downstream(
        self,
        asked: _Downstream,
        encode: Callable[[Outgoing], bytes],
        heartbeat: bytes,
        opening: bytes,
    ) -> AsyncIterator[bytes]:
        hub = self.hub
        try:
            subscriber, first = await self._open(asked)
        except BrokerUnavailable:
            return  # an empty response: the client reconnects, with backoff
        try:
            yield opening + b"".join(encode(Outgoing(text)) for text in first)
            last_write = time.monotonic()
            while subscriber.ended is None:
                messages = subscriber.take()
                if messages:
                    yield b"".join(map(encode, messages))
                    last_write = time.monotonic()
                    continue
                idle = time.monotonic() - last_write
                if idle >= hub.heartbeat:
                    yield heartbeat
                    last_write = time.monotonic()
                    continue
                await subscriber.wait(hub.heartbeat - idle)
        finally:
            await hub.detach_all(subscriber, leave=False)

    # One channel, for the browser's own EventSource.

    async def events(self, request: Request) -> Response:
        hub = self.hub
        await hub.start()
        channel = request.path_params["channel"]
        try:
            identity = await hub.identify(request, None)
            client = HubClient(new_client_id(), identity, transport="sse", request=request)
            await hub.may_subscribe(client, channel)
        except RPCError as exc:
            raise HTTPError(403 if exc.code == FORBIDDEN else 404, exc.message) from None
        if channel.startswith("#"):
            raise HTTPError(404, "personal channels are not served as plain event streams")
        last = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
        since = _event_id(last) if last else None
        body = self._plain_events(client, channel, since)
        return StreamingResponse(
            body, content_type="text/event-stream", headers=[_NO_STORE, _NO_BUFFERING]
        )

    async def _plain_events(
        self, client: HubClient, channel: str, since: Position | None
    ) -> AsyncIterator[bytes]:
        hub = self.hub
        subscriber = QueueSubscriber(client, hub.max_queue)
        try:
            history = await hub.recover(subscriber, channel, since)
        except BrokerUnavailable:
            return  # an empty response: EventSource reconnects
        first: list[bytes] = [b"retry: 2000\n\n"]
        if since is not None and not history.complete:
            data = json.dumps({"e": history.position.epoch, "o": history.position.offset})
            first.append(
                f"event: reset\ndata: {data}\nid: {history.position.epoch}:"
                f"{history.position.offset}\n\n".encode()
            )
        elif since is not None:
            first.extend(plain_event(p.epoch, p.offset, p.data) for p in history.publications)
        subscriber.release(channel, history.position.offset)
        try:
            yield b"".join(first)
            last_write = time.monotonic()
            while subscriber.ended is None:
                messages = subscriber.take()
                if messages:
                    yield b"".join(message.plain for message in messages)
                    last_write = time.monotonic()
                    continue
                idle = time.monotonic() - last_write
                if idle >= hub.heartbeat:
                    yield b": hb\n\n"
                    last_write = time.monotonic()
                    continue
                await subscriber.wait(hub.heartbeat - idle)
        finally:
            await hub.detach_all(subscriber, leave=False)


def _refuse(ws: Any, message: RPCRequest | Notification, running: int) -> None:
    """Turn down an application call over the limit, as a jsonrpc ``Peer`` does."""
    if isinstance(message, Notification):
        logger.warning(
            "JSON-RPC notification %r dropped: %d requests in progress", message.method, running
        )
        return
    error = RPCError(OVERLOADED, "Too many requests in progress")
    ws.send(encode(ErrorResponse(message.id, error)))


def _pub_texts(publications: list[Publication]) -> list[str]:
    return [publication_text(p) for p in publications]


def _event_id(value: str) -> Position | None:
    epoch, colon, offset = value.rpartition(":")
    if not colon or not offset.isdigit() or len(offset) > 15:
        return None
    return Position(epoch, int(offset))
