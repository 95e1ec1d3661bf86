"""An ASGI app answering a native ``Request`` with a native ``Response``.

For an ASGI app mounted in an ``App`` (``app.mount("/legacy", asgi_app)``), and
for ``ASGIApp.handle``: the request went through the App's routing, so it is a
``longwire.app.Request``, and the App wants a ``Response`` back. The ASGI app
runs in a task; its response becomes a ``Response`` when it sends the whole
body at once, else a ``StreamingResponse`` fed by its later ``send`` calls (one
chunk buffered at most: the app waits for the connection). A HEAD gets the
head the app started, and its body messages are dropped.

The app's task is kept in the ``tasks`` set given (the mount's, cancelled by the
App's shutdown, after the server's own handler tasks): it may run on after its
response (background work), but not past the server.

The server's own fast path (``_http.HTTPCycle``) does without these objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from .._errors import ConnectionClosed
from ..app import HTTPError, Request, Response, StreamingResponse
from ._http import ClientDisconnected
from ._scope import ASGIApplication, Scope, http_scope

__all__ = ["cancel_tasks", "run_http"]

logger = logging.getLogger("longwire.asgi")

_FAILED = object()  # in the chunk queue: the app failed mid-body
_END = object()


async def run_http(
    app: ASGIApplication,
    request: Request,
    *,
    root_path: str,
    state: dict[str, Any] | None,
    tasks: set[asyncio.Task[None]],
) -> Response:
    """The app's response to ``request``; a 500 if it fails before starting one.

    The scope's ``path`` is the request's full path and ``root_path`` the
    mount prefix (as Starlette's ``Mount`` gives them). The app's task is in
    ``tasks`` until it ends (see ``cancel_tasks``).
    """
    scope = http_scope(
        method=request.method,
        target=request.target,
        headers=request.headers,
        http_version=request.http_version,
        scheme=request.scheme,
        client=request.client,
        server=None,
        root_path="",
        state=state,
    )
    scope["root_path"] = root_path
    bridge = _Bridge(request)
    task = asyncio.get_running_loop().create_task(bridge.run(app, scope))
    bridge.task = task
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    try:
        return await asyncio.shield(bridge.response)
    except asyncio.CancelledError:
        task.cancel()
        raise


async def cancel_tasks(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel the app tasks still running in ``tasks`` (at shutdown), and wait a moment."""
    if not tasks:
        return
    running = list(tasks)
    for task in running:
        task.cancel()
    await asyncio.wait(running, timeout=1.0)


class _Bridge:
    __slots__ = (
        "_chunks",
        "_disconnected",
        "_finished",
        "_headers",
        "_more",
        "_receive",
        "_request",
        "_request_done",
        "_room",
        "_started",
        "_status",
        "_streamed",
        "_streaming",
        "_waiters",
        "response",
        "task",
    )

    def __init__(self, request: Request) -> None:
        loop = asyncio.get_running_loop()
        self._request = request
        self._receive = request._receive  # the raw body: ASGI undoes no content coding
        self._request_done = False
        self._started = False
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._streaming = False
        self._finished = False  # the app sent its last body chunk
        self._streamed = False  # the stream handed out every chunk
        self._disconnected = False
        self._chunks: deque[Any] = deque()
        self._more: asyncio.Future[None] | None = None  # the stream waits for a chunk
        self._room: asyncio.Future[None] | None = None  # the app waits for the stream
        self._waiters: list[asyncio.Future[None]] = []
        self.response: asyncio.Future[Response] = loop.create_future()
        self.task: asyncio.Task[None] | None = None

    async def run(self, app: ASGIApplication, scope: Scope) -> None:
        try:
            result = await app(scope, self.receive, self.send)
        except Exception as exc:
            if self._disconnected:
                logger.debug("mounted ASGI application stopped: the client left", exc_info=exc)
            else:
                logger.error("exception in mounted ASGI application", exc_info=exc)
            self._give_up()
            return
        if result is not None:
            logger.error("ASGI callable should return None, but returned %r", result)
        if not self.response.done() or (self._streaming and not self._finished):
            logger.error("ASGI callable returned without completing its response")
            self._give_up()

    def _give_up(self) -> None:
        if not self.response.done():
            self.response.set_result(Response.text("Internal Server Error\n", status=500))
        elif self._streaming:
            self._push(_FAILED)

    # receive

    async def receive(self) -> dict[str, Any]:
        if self._disconnected:
            return {"type": "http.disconnect"}
        receive = self._receive
        if receive is not None:
            try:
                chunk = await receive()
            except ConnectionClosed:
                self._receive = None
                return {"type": "http.disconnect"}
            except HTTPError:
                self._receive = None
                raise
            if chunk:
                return {"type": "http.request", "body": chunk, "more_body": True}
            self._receive = None
            self._request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if not self._request_done:
            self._request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self._finished:
            return {"type": "http.disconnect"}  # the response is complete
        # The whole body was given: wait until the response ends or the client leaves.
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter
        return {"type": "http.disconnect"}

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # send

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self._disconnected:
            raise ClientDisconnected("the client disconnected")
        if kind == "http.response.start" and not self._started:
            self._started = True
            self._status = message["status"]
            self._headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
            return
        if kind != "http.response.body" or not self._started:
            raise RuntimeError(f"unexpected ASGI message {kind!r} from a mounted application")
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self._request.method == "HEAD":
            # RFC 9110 §9.3.2: the head as the app wrote it (its Content-Length
            # included); the server sends no body, so none is kept.
            if self._finished:
                raise RuntimeError("unexpected ASGI message after the response was complete")
            if not self.response.done():
                self.response.set_result(StreamingResponse((), self._status, self._headers))
            if not more_body:
                self._finished = True
                self._wake()
            return
        if not self.response.done():
            if not more_body:
                self._finished = True
                self.response.set_result(Response(body, self._status, self._headers))
                self._wake()
                return
            # Streamed.
            self._streaming = True
            self.response.set_result(StreamingResponse(self._stream(), self._status, self._headers))
        elif not self._streaming or self._finished:
            raise RuntimeError("unexpected ASGI message after the response was complete")
        if body:
            self._push(body)
        if not more_body:
            self._finished = True
            self._push(_END)
            self._wake()
            return
        while len(self._chunks) > 1 and not self._disconnected:
            room = self._room = asyncio.get_running_loop().create_future()
            await room
        if self._disconnected:
            raise ClientDisconnected("the client disconnected")

    def _push(self, item: Any) -> None:
        self._chunks.append(item)
        more = self._more
        if more is not None and not more.done():
            more.set_result(None)

    async def _stream(self) -> AsyncIterator[bytes]:
        chunks = self._chunks
        try:
            while True:
                while not chunks:
                    more = self._more = asyncio.get_running_loop().create_future()
                    await more
                item = chunks.popleft()
                room = self._room
                if room is not None and not room.done():
                    room.set_result(None)
                if item is _END:
                    self._streamed = True
                    return
                if item is _FAILED:
                    raise RuntimeError("the mounted ASGI application failed mid-response")
                yield item
        finally:
            if not self._streamed:
                # Stopped early: the client left (or the server is shutting down).
                self._disconnected = True
                self._wake()
                room = self._room
                if room is not None and not room.done():
                    room.set_result(None)
                task = self.task
                if task is not None and not task.done():
                    task.cancel()
