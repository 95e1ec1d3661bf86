"""``Sessions``: the routes of the session protocol, one per transport, on an ``App``.

::

    GET  {prefix}/longwire.js        the browser client, as a classic script
    GET  {prefix}/longwire.mjs       the browser client, as an ES module
    WS   {prefix}/websocket          the WebSocket transport (both directions)
    POST {prefix}/open               a new session: {"t":"open","sid":...}
    GET  {prefix}/{sid}/sse          downstream as Server-Sent Events
    GET  {prefix}/{sid}/stream       downstream as a chunked stream, one packet per line
    GET  {prefix}/{sid}/poll         downstream by long polling: one packet per answer
    POST {prefix}/{sid}/send         upstream for the HTTP transports: one packet
    POST {prefix}/{sid}/close        the page is leaving: end the session (sendBeacon)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from importlib import resources
from typing import Any

from .._errors import ConnectionClosed
from ..app import App, HTTPError, Request, Response, StreamingResponse
from ..sse import encode_event
from ._protocol import Frame, ProtocolViolation, decode_packet, encode_packet
from ._session import Session

__all__ = ["TRANSPORTS", "Sessions"]

logger = logging.getLogger("longwire.realtime")

TRANSPORTS: tuple[str, ...] = ("websocket", "sse", "streaming", "polling")
"""Every transport, in the client's default order of preference."""

SessionHandler = Callable[[Session], Awaitable[Any]]

_JS = "text/javascript; charset=utf-8"
_JSON = "application/json"
_NO_STORE = ("Cache-Control", "no-store")


def _client_source() -> bytes:
    return (resources.files(__package__) / "static" / "longwire.js").read_bytes()


# The ES module is the classic script (which defines globalThis.Longwire) plus exports.
_MODULE_TAIL = b"""
const { LongwireSocket, TRANSPORTS } = globalThis.Longwire;
export { LongwireSocket, TRANSPORTS };
export default LongwireSocket;
"""


def _ack_param(request: Request) -> int:
    value = request.query.get("ack", "0")
    if not value.isdigit() or len(value) > 15:
        raise HTTPError(400, "ack must be a non-negative integer")
    return int(value)


async def _cut() -> AsyncIterator[bytes]:
    """A body that fails before its first byte: the server drops the connection."""
    raise ConnectionResetError("connection dropped by drop_connection()")
    yield b""  # pragma: no cover - makes this an async generator


def _dropped() -> Response:
    return StreamingResponse(_cut(), content_type=_JSON)


class Sessions:
    """Serve sessions at ``prefix`` on ``app``, each handled by ``await handler(session)``.

    Registers the routes listed in the module documentation with the app's
    decorators. Each session gets its own task running ``handler``; when the
    handler returns, the session is closed with 1000 (1011 if it raised).

    Args:
        app: the application.
        prefix: the path prefix, such as ``"/rt"`` (``""`` for the root).
        handler: ``async def handler(session)``.
        heartbeat: seconds between the server's heartbeat frames on an idle SSE
            or streaming response; the client is told it in the ``open`` frame.
        session_timeout: seconds without any request (or WebSocket message)
            after which a session is dropped (closed with 1006).
        poll_timeout: seconds a long poll is held when there is nothing to send.
        max_queue: unacknowledged messages to the client, and messages from it
            that the handler has not received yet, allowed per session; beyond
            that the session is closed with 1013.
        transports: the transports served; the others are refused (the
            WebSocket handshake with 403, the HTTP ones with 404).
        origins: ``Origin`` values accepted for the WebSocket handshake and
            for opening a session over HTTP (403 otherwise: CORS alone would
            let another site's page open a session it cannot read), as
            ``App.websocket`` takes them (``None``: any).

    Raises:
        ValueError: an unknown transport, or a limit that is not positive.
    """

    def __init__(
        self,
        app: App,
        prefix: str,
        handler: SessionHandler,
        *,
        heartbeat: float = 15.0,
        session_timeout: float = 60.0,
        poll_timeout: float = 25.0,
        max_queue: int = 10_000,
        transports: Iterable[str] = TRANSPORTS,
        origins: Any = None,
    ) -> None:
        served = tuple(transports)
        unknown = set(served) - set(TRANSPORTS)
        if unknown:
            raise ValueError(f"unknown transports: {sorted(unknown)}")
        for name, value in (
            ("heartbeat", heartbeat),
            ("session_timeout", session_timeout),
            ("poll_timeout", poll_timeout),
            ("max_queue", max_queue),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix {prefix!r} must start with '/' and not end with one")
        self.app = app
        self.prefix = prefix
        self.handler = handler
        self.heartbeat = heartbeat
        self.session_timeout = session_timeout
        self.poll_timeout = poll_timeout
        self.max_queue = max_queue
        self.transports = served
        self._sessions: dict[str, Session] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._script = _client_source()
        self._module = self._script + _MODULE_TAIL
        self._register(app, prefix, origins)
        app.on_shutdown(self.close)

    # Public.

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, or ``None``."""
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        """The live sessions."""
        return iter(list(self._sessions.values()))

    async def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close every session (the clients get ``code``) and end their handlers.

        Call it before stopping the server so that SSE, streaming and long-poll
        responses end at once (``App.shutdown`` calls it too, but the server waits
        for responses in flight before running shutdown hooks).
        """
        for session in list(self._sessions.values()):
            session.close(code, reason)
        await asyncio.sleep(0.05)  # let open downstreams carry the close frames
        for session in list(self._sessions.values()):
            session.expire()
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    # Sessions.

    def _create(self, request: Any) -> Session:
        session = Session(max_queue=self.max_queue, request=request, on_done=self._forget)
        self._sessions[session.id] = session
        self._touch(session)
        task = asyncio.get_running_loop().create_task(self._run(session))
        session.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return session

    async def _run(self, session: Session) -> None:
        try:
            await self.handler(session)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("session handler %r failed", self.handler)
            session.close(1011, "internal error")
            return
        session.close(1000, "")

    def _forget(self, session: Session) -> None:
        self._sessions.pop(session.id, None)
        timer = self._timers.pop(session.id, None)
        if timer is not None:
            timer.cancel()

    def _touch(self, session: Session) -> None:
        timer = self._timers.pop(session.id, None)
        if timer is not None:
            timer.cancel()
        self._timers[session.id] = asyncio.get_running_loop().call_later(
            self.session_timeout, session.expire
        )

    def _lookup(self, request: Request, transport: str | None = None) -> Session:
        if transport is not None and transport not in self.transports:
            raise HTTPError(404, f"the {transport} transport is not served")
        session = self._sessions.get(request.path_params["sid"])
        if session is None:
            raise HTTPError(404, "no such session")
        self._touch(session)
        return session

    def _open_frame(self, session: Session) -> Frame:
        return {
            "t": "open",
            "sid": session.id,
            "ack": session.upstream_ack,
            "hb": int(self.heartbeat * 1000),
            "timeout": int(self.session_timeout * 1000),
            "poll": int(self.poll_timeout * 1000),
        }

    # Routes.

    def _register(self, app: App, prefix: str, origins: Any) -> None:
        app.get(prefix + "/longwire.js")(self._serve_script)
        app.get(prefix + "/longwire.mjs")(self._serve_module)
        app.websocket(prefix + "/websocket", origins=origins)(self._websocket)
        match = app.match_websocket(prefix + "/websocket")
        assert match is not None
        self._origin_allowed = match[0].origin_allowed  # the same check for /open
        app.post(prefix + "/open")(self._open)
        app.get(prefix + "/{sid}/sse")(self._sse)
        app.get(prefix + "/{sid}/stream")(self._stream)
        app.get(prefix + "/{sid}/poll")(self._poll)
        app.post(prefix + "/{sid}/send")(self._send)
        app.post(prefix + "/{sid}/close")(self._close)

    async def _serve_script(self, request: Request) -> Response:
        return Response(self._script, content_type=_JS, headers=[("Cache-Control", "no-cache")])

    async def _serve_module(self, request: Request) -> Response:
        return Response(self._module, content_type=_JS, headers=[("Cache-Control", "no-cache")])

    async def _open(self, request: Request) -> Response:
        if not set(self.transports) - {"websocket"}:
            raise HTTPError(404, "no HTTP transport is served")
        origin = request.headers.get("origin")
        if not self._origin_allowed(origin):
            raise HTTPError(403, f"origin {origin!r} is not allowed")
        session = self._create(request)
        return Response.json(self._open_frame(session), headers=[_NO_STORE])

    async def _send(self, request: Request) -> Response:
        session = self._lookup(request)
        try:
            frames = decode_packet(await request.body())
            reply: list[Frame] = []
            session.receive(frames, reply=reply)
        except ProtocolViolation as exc:
            raise HTTPError(400, str(exc)) from None
        if session.take_drop(upstream=True):
            return _dropped()
        return Response(
            encode_packet([{"t": "ack", "a": session.upstream_ack}, *reply]),
            content_type=_JSON,
            headers=[_NO_STORE],
        )

    async def _close(self, request: Request) -> Response:
        session = self._lookup(request)
        session.close(1001, "going away")
        session.expire()
        return Response(b"", 204)

    async def _poll(self, request: Request) -> Response:
        session = self._lookup(request, "polling")
        cursor = _ack_param(request)
        session.receive([{"t": "ack", "a": cursor}])
        token = session.attach("polling")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_timeout
        frames: list[Frame] = []
        try:
            while True:
                if session.take_drop():
                    return _dropped()
                if not session.current(token):
                    break
                frames = session.pending(cursor)
                remaining = deadline - loop.time()
                if frames or remaining <= 0 or session.finished:
                    break
                await session.wait(remaining)
        finally:
            session.detach(token)
            self._touch(session)
        return Response(encode_packet(frames), content_type=_JSON, headers=[_NO_STORE])

    async def _sse(self, request: Request) -> Response:
        session = self._lookup(request, "sse")
        cursor = _ack_param(request)

        def event(frames: list[Frame]) -> bytes:
            return encode_event(encode_packet(frames))

        # Heartbeats are events, not comments: EventSource does not expose comments.
        body = self._downstream(session, "sse", cursor, event, event([{"t": "hb"}]))
        return StreamingResponse(
            body,
            content_type="text/event-stream",
            headers=[_NO_STORE, ("X-Accel-Buffering", "no")],
        )

    async def _stream(self, request: Request) -> Response:
        session = self._lookup(request, "streaming")
        cursor = _ack_param(request)

        def line(frames: list[Frame]) -> bytes:
            return encode_packet(frames).encode() + b"\n"

        body = self._downstream(session, "streaming", cursor, line, line([{"t": "hb"}]))
        return StreamingResponse(
            body,
            content_type="application/x-ndjson; charset=utf-8",
            headers=[_NO_STORE, ("X-Accel-Buffering", "no")],
        )

    async def _downstream(
        self,
        session: Session,
        transport: str,
        cursor: int,
        encode: Callable[[list[Frame]], bytes],
        heartbeat: bytes,
    ) -> AsyncIterator[bytes]:
        """The body of an SSE or streaming response: packets as they come, heartbeats."""
        session.receive([{"t": "ack", "a": cursor}])
        token = session.attach(transport)
        try:
            yield encode([self._open_frame(session)])
            last_write = time.monotonic()
            while True:
                if session.take_drop():
                    raise ConnectionResetError("connection dropped by drop_connection()")
                if not session.current(token):
                    return
                frames = session.pending(cursor)
                if frames:
                    cursor = frames[-1]["s"]
                    yield encode(frames)
                    last_write = time.monotonic()
                if session.finished or (
                    session.close_code is not None and cursor >= session.downstream_last
                ):
                    return  # the close frame is out: the response ends
                idle = time.monotonic() - last_write
                if idle >= self.heartbeat:
                    yield heartbeat
                    last_write = time.monotonic()
                    continue
                await session.wait(self.heartbeat - idle)
        finally:
            session.detach(token)

    async def _websocket(self, ws: Any) -> None:
        if "websocket" not in self.transports:
            await ws.reject(403, "the websocket transport is not served")
            return
        try:
            hello = decode_packet(await asyncio.wait_for(ws.recv(), self.session_timeout))
        except (ProtocolViolation, TimeoutError, ConnectionClosed):
            ws.close(1002, "expected a hello packet")
            return
        if not hello or hello[0]["t"] != "hello":
            ws.close(1002, "expected a hello packet")
            return
        first = hello[0]
        sid = first.get("sid")
        ack = first.get("ack", 0)
        if type(ack) is not int or ack < 0:
            ws.close(1002, "invalid ack")
            return
        if sid is None:
            session = self._create(ws.request)
        else:
            found = self._sessions.get(sid) if isinstance(sid, str) else None
            if found is None:
                ws.close(4004, "no such session")
                return
            session = found
            self._touch(session)
        session.receive([{"t": "ack", "a": ack}])
        token = session.attach("websocket")
        await ws.send(encode_packet([self._open_frame(session)]))
        pump = asyncio.get_running_loop().create_task(self._ws_pump(ws, session, token, ack))
        try:
            async for raw in ws:
                self._touch(session)
                frames = decode_packet(raw)
                reply: list[Frame] = []
                session.receive(frames, reply=reply)
                if any(frame["t"] in ("msg", "close") for frame in frames):
                    reply.insert(0, {"t": "ack", "a": session.upstream_ack})
                if reply:
                    await ws.send(encode_packet(reply))
        except ProtocolViolation as exc:
            ws.close(1002, str(exc)[:100])
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            session.detach(token)

    async def _ws_pump(self, ws: Any, session: Session, token: int, cursor: int) -> None:
        """Send a WebSocket session's frames as they are queued."""
        try:
            while True:
                if session.take_drop():
                    session.take_drop(upstream=True)
                    ws._abort()  # a drop, not a closing handshake
                    return
                if not session.current(token):
                    ws.close(4001, "replaced by a newer connection")
                    return
                frames = session.pending(cursor)
                if frames:
                    cursor = frames[-1]["s"]
                    await ws.send(encode_packet(frames))
                await session.wait(self.heartbeat)
        except ConnectionClosed:
            return
