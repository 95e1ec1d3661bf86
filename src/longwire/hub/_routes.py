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
from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed
from ..app import App, HTTPError, Request, Response, StreamingResponse
from ..jsonrpc import RPCError, notification
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

if TYPE_CHECKING:
    pass

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
                if subscriber is None and context.client is None:
                    answer = await hub.handle_text(text, context)
                    if context.client is not None:
                        subscriber = WebSocketSubscriber(context.client, ws, hub.slow_limit)
                        context.subscriber = subscriber
                        await hub.attach(subscriber, context.client.personal_channel)
                    if answer is not None:
                        ws.send(answer)
                    continue
                if _is_app_call(text, hub):
                    # An application method may take long: it must not hold up the
                    # connection's subscriptions and pings, so it runs on its own.
                    task = asyncio.get_running_loop().create_task(self._answer(ws, text, context))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    continue
                await self._answer(ws, text, context)
        except ConnectionClosed:
            pass
        except RPCError as exc:
            ws.close(CLOSE_FORBIDDEN, exc.message[:120])
        finally:
            for task in pending:
                task.cancel()
            if subscriber is not None:
                await hub.detach_all(subscriber, leave=True)

    async def _answer(self, ws: Any, text: str, context: Context) -> None:
        # A context of its own: calls may run concurrently, each with its releases.
        call = Context(
            transport=context.transport,
            request=context.request,
            client=context.client,
            subscriber=context.subscriber,
        )
        answer = await self.hub.handle_text(text, call)
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

    async def _open(self, request: Request, transport: str) -> tuple[QueueSubscriber, list[str]]:
        """Check a downstream request; its subscriber and the messages to send first."""
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
        grants: dict[str, str] = {}
        given = request.query_list("g")
        if len(given) > hub.max_subscriptions:
            raise HTTPError(400, "too many grants")
        for grant in given:
            granted = hub.granted_channel(grant, client)
            if granted is not None:
                grants[granted] = grant
        subscriber = QueueSubscriber(client, hub.max_queue)
        first: list[str] = []
        releases: list[tuple[str, int]] = []
        try:
            for channel, position in positions:
                try:
                    options = await hub.may_subscribe(client, channel, grants.get(channel))
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
        except BrokerUnavailable:
            await hub.detach_all(subscriber, leave=False)
            raise HTTPError(503, "broker unavailable") from None
        except BaseException:
            await hub.detach_all(subscriber, leave=False)
            raise
        for channel, offset in releases:
            subscriber.release(channel, offset)
        return subscriber, first

    async def poll(self, request: Request) -> Response:
        subscriber, first = await self._open(request, "polling")
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

    async def sse(self, request: Request) -> Response:
        subscriber, first = await self._open(request, "sse")
        body = self._downstream(
            subscriber,
            [Outgoing(text).sse for text in first],
            lambda message: message.sse,
            Outgoing(notification("hb")).sse,
            Outgoing(notification("open", {"hb": int(self.hub.heartbeat * 1000)})).sse,
        )
        return StreamingResponse(
            body, content_type="text/event-stream", headers=[_NO_STORE, _NO_BUFFERING]
        )

    async def stream(self, request: Request) -> Response:
        subscriber, first = await self._open(request, "streaming")
        body = self._downstream(
            subscriber,
            [Outgoing(text).line for text in first],
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
        subscriber: QueueSubscriber,
        first: list[bytes],
        encode: Callable[[Outgoing], bytes],
        heartbeat: bytes,
        opening: bytes,
    ) -> AsyncIterator[bytes]:
        hub = self.hub
        try:
            yield opening + b"".join(first)
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
        subscriber = QueueSubscriber(client, hub.max_queue)
        try:
            history = await hub.recover(subscriber, channel, since)
        except BrokerUnavailable:
            raise HTTPError(503, "broker unavailable") from None
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
        body = self._plain_events(subscriber, first)
        return StreamingResponse(
            body, content_type="text/event-stream", headers=[_NO_STORE, _NO_BUFFERING]
        )

    async def _plain_events(
        self, subscriber: QueueSubscriber, first: list[bytes]
    ) -> AsyncIterator[bytes]:
        hub = self.hub
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


def _is_app_call(text: str, hub: Hub) -> bool:
    """Whether ``text`` looks like a call of an application method (cheap, no parse)."""
    if not hub.methods or text.lstrip().startswith("["):
        return False
    start = text.find('"method"')
    if start < 0:
        return False
    quote = text.find('"', text.find(":", start) + 1)
    end = text.find('"', quote + 1)
    return text[quote + 1 : end] in hub.methods


def _pub_texts(publications: list[Publication]) -> list[str]:
    return [publication_text(p) for p in publications]


def _event_id(value: str) -> Position | None:
    epoch, colon, offset = value.rpartition(":")
    if not colon or not offset.isdigit() or len(offset) > 15:
        return None
    return Position(epoch, int(offset))
