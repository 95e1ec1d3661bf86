"""The server side of one connection: an ``asyncio.Protocol`` over the HTTP/1.1 core.

It feeds received bytes to ``longwire.http1.Connection``, hands each request to the
application in order (pipelined requests wait their turn), and writes what the
core serializes. A WebSocket upgrade hands the socket to a ``ServerWebSocket``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from email.utils import formatdate
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from .._errors import LocalProtocolError, RemoteProtocolError
from ..app import HTTPError
from ..app import Request as AppRequest
from ..app import Response as AppResponse
from ..app._file_response import FileResponse, read_sections
from ..http1 import (
    Connection,
    Data,
    EndOfMessage,
    Headers,
    InformationalResponse,
    Request,
    Response,
    Role,
    State,
)
from ..metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..metrics import collect, render
from ._body import BodyReader
from ._eager import Finished, start
from ._flow import WriteFlowControl

if TYPE_CHECKING:
    from ..app import App
    from ..asgi._http import HTTPCycle
    from ._server import ServerState

__all__ = ["HTTPServerProtocol"]

access_logger = logging.getLogger("longwire.access")
logger = logging.getLogger("longwire.server")

# Sent without a request to answer (so outside the HTTP/1.1 core's cycle
# bookkeeping): the connection closes right after.
# (Date and Server, which RFC 9110 §6.6.1 and server_header want on a 4xx, go
# between the two halves.)
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 16\r\n",
    b"\r\nRequest Timeout\n",
)
_BUSY_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Retry-After: 1\r\nContent-Length: 40\r\n\r\nToo many connections; try again shortly\n"
)
_CONTINUE = InformationalResponse(status_code=100)
_END = EndOfMessage()
_HEADER, _IDLE, _LINGER = 1, 2, 3  # what the deadline is for
# RFC 9112 §9.6: after our last response we half-close, then read and discard
# for up to this long: closing outright with unread request bytes makes the
# kernel send a reset, which can destroy the response before the client reads it.
LINGER_TIMEOUT = 2.0
# At shutdown, how long a connection with no request yet (or half a head) has for
# its request to arrive: one accepted a moment before usually has it on the wire
# (a SIGHUP rolling restart stops workers under load), and closing it would lose it.
GOING_AWAY_GRACE = 0.5
# Fields the server sets itself: an application's own are replaced.
_FIXED_BODY_DROPS = ("content-length", "transfer-encoding")
_FIXED_BODY_DROPS_CLOSING = (*_FIXED_BODY_DROPS, "connection")
_CONNECTION = ("connection",)
# RFC 9110 §8.6: no Content-Length on a 204 (nor a 1xx); on a 304 it would have
# to be the length of the 200 the client has, which a fixed b"" body is not.
_NO_LENGTH_STATUSES = frozenset({204, 304})
# A FileResponse body up to this size is read at once and sent with its head in
# one write: cheaper than a sendfile task for the small files most pages have.
SMALL_FILE = 64 * 1024
# Event loop types whose loop.sendfile turned out not to be native (uvloop):
# their file responses are streamed, without asking again.
_NO_SENDFILE: set[type] = set()


class _FileChanged(Exception):
    """A file being sent shrank: fewer bytes than its Content-Length exist."""


_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    """RFC 9110 §6.6.1: an origin server with a clock sends Date; formatted once a second."""
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[0], _date_cache[1] = now, formatdate(now, usegmt=True)
    return str(_date_cache[1])


def read_small_file(response: FileResponse) -> bytes:
    """A (small) file response's body, its sections read at once.

    Raises:
        OSError: the file cannot be read.
        _FileChanged: it shrank: fewer bytes than its Content-Length exist.
    """
    chunks = []
    # os.open rather than open(): no buffered file object, and none of the
    # fstat, ioctl and lseek calls it makes.
    fd = os.open(response.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for prefix, offset, size in response.sections:
            chunks.append(prefix)
            if size:
                chunk = os.pread(fd, size, offset)
                if len(chunk) != size:
                    raise _FileChanged(f"{response.path} shrank while being read")
                chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_small_file(response: FileResponse) -> AppResponse | None:
    """A small file response read into a fixed body; ``None`` (a 500) if that fails."""
    try:
        body = read_small_file(response)
    except (OSError, _FileChanged) as exc:
        logger.error("cannot send %s: %s", response.path, exc)
        return None
    return AppResponse(body, response.status, response.headers)


class HTTPServerProtocol(WriteFlowControl):
    """One HTTP/1.1 connection of the server."""

    __slots__ = (
        "_app",
        "_asgi",
        "_asgi_cycle",
        "_asgi_server",
        "_body",
        "_busy",
        "_client",
        "_closing",
        "_config",
        "_deadline",
        "_deadline_kind",
        "_eof",
        "_http",
        "_lingering",
        "_loop",
        "_metrics",
        "_out",
        "_parse_paused",
        "_queue",
        "_reading_paused",
        "_scheme",
        "_server_field",
        "_state",
        "_stream_ends_on_eof",
        "_stream_task",
        "_timer",
        "_transport",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._app: App = state.app
        # Serving an ASGI app (longwire.asgi): its request cycle in progress, and
        # the address the connection came in on (the scope's "server"), once known.
        self._asgi = state.asgi
        self._asgi_cycle: HTTPCycle | None = None
        self._asgi_server: tuple[str, int | None] | None = None
        self._config = state.config
        self._loop = state.loop
        self._metrics = state.metrics
        self._http = Connection(Role.SERVER, limits=state.config.http_limits)
        self._transport: asyncio.Transport | None = None
        self._client: tuple[str, int] | None = None
        self._scheme = "https" if state.config.ssl is not None else "http"
        header = state.config.server_header
        self._server_field = None if header is None else ("Server", header)
        self._queue: deque[tuple[Request, BodyReader | None]] = deque()
        self._body: BodyReader | None = None  # of the request being received
        self._busy = False
        self._closing = False
        self._out: list[bytes] = []
        self._reading_paused = False
        self._parse_paused = False
        self._lingering = False
        self._eof = False
        self._init_flow()
        self._deadline: float | None = None
        self._deadline_kind = _HEADER
        self._timer: asyncio.TimerHandle | None = None
        # The task writing a streamed response body, cancelled if the client leaves.
        self._stream_task: asyncio.Task[Any] | None = None
        self._stream_ends_on_eof = False  # it is an event stream (see eof_received)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop: no subclass
        state = self._state
        limit = self._config.max_connections
        if limit is not None and len(state.connections) >= limit:
            logger.warning("refusing a connection: max_connections (%d) reached", limit)
            self._metrics.connections_refused += 1
            transport.write(_BUSY_503)
            transport.close()
            return
        state.connections.add(self)
        metrics = self._metrics
        metrics.http_connections += 1
        metrics.http_open += 1
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        transport.set_write_buffer_limits(high=self._config.write_limit)
        self._set_deadline(_HEADER, self._config.header_timeout)

    def data_received(self, data: bytes) -> None:
        self._metrics.http_bytes_in += len(data)
        if self._lingering:
            return  # closing: what the client still sends is discarded
        try:
            events = self._http.receive_data(data)
        except RemoteProtocolError as exc:
            self._bad_request(exc)
            return
        if events:
            self._received(events)
        elif self._deadline_kind is _IDLE and not self._busy:
            # Part of a request head: the client now has header_timeout to finish it.
            self._set_deadline(_HEADER, self._config.header_timeout)
        self._write_out()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._lingering:
            self._close()
            return True
        try:
            events = self._http.receive_eof()
        except RemoteProtocolError:
            events = []
        if events:
            self._received(events)
        self._write_out()
        if self._body is not None and not self._body.done:
            self._body.fail()
        # Half-closed: answer what is queued, then close (a keep-alive client that
        # shut down its side sends nothing more).
        self._closing = True
        if not self._busy and not self._queue:
            self._close()
        elif self._asgi_cycle is not None:
            # An ASGI response in flight: the client that shut its side has left (as
            # uvicorn sees it); the app learns it from receive() and send().
            self._close()
        elif self._stream_task is not None and self._stream_ends_on_eof:
            # An event stream never ends by itself, and its clients (EventSource,
            # curl) close the connection rather than half-close it: the end of
            # file means the client left. Stop the stream now, not at its next write.
            task, self._stream_task = self._stream_task, None
            task.cancel()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        connections = self._state.connections
        if self in connections:  # else refused, or handed over to a WebSocket
            connections.remove(self)
            self._metrics.http_open -= 1
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._body is not None:
            self._body.fail()
        self._queue.clear()
        self._release_drain()
        cycle = self._asgi_cycle
        if cycle is not None:
            self._asgi_cycle = None
            cycle.disconnected()  # the ASGI app's receive() gets http.disconnect
        task = self._stream_task
        if task is not None:
            # A stream waiting for its next chunk (an idle event stream) would only
            # notice at its next write: end it now, so its producer stops.
            self._stream_task = None
            task.cancel()

    # Receiving requests.

    def _received(self, events: list[Any]) -> None:
        i, count = 0, len(events)
        while i < count:
            event = events[i]
            kind = type(event)
            if kind is Request:
                if i + 1 < count and type(events[i + 1]) is EndOfMessage:
                    self._queue.append((event, None))  # no body: the common case
                    i += 2
                    continue
                body = self._body = BodyReader(
                    self._loop,
                    buffer_size=self._config.body_buffer_size,
                    pause=self._pause_reading,
                    resume=self._resume_reading,
                    before_first_read=self._maybe_continue,
                )
                self._queue.append((event, body))
            elif kind is Data:
                assert self._body is not None
                self._body.feed(event.data)
            elif kind is EndOfMessage and self._body is not None:
                self._body.end()
                self._body = None
            i += 1
        if self._queue:
            self._deadline = None  # a whole head arrived in time
        if self._http.reading_paused:
            # The core keeps further requests unparsed until we answer: reparse then.
            self._parse_paused = True
            if not self._reading_paused:
                self._pause_reading()
        if not self._busy:
            self._dispatch()

    def _dispatch(self) -> None:
        """Answer queued requests in order, as long as their handlers finish at once."""
        queue = self._queue
        transport = self._transport
        metrics_path = self._config.metrics_path
        while queue and not self._busy and transport is not None and not transport.is_closing():
            event, body = queue.popleft()
            target = event.target
            # The metrics path, with or without a query; a plain target costs two
            # comparisons, with no call.
            if metrics_path is not None and (
                target == metrics_path
                or ("?" in target and target.partition("?")[0] == metrics_path)
            ):
                self._busy = True
                started = time.monotonic() if self._state.access_log else 0.0
                self._respond(event, self._metrics_response(event.method), started)
                continue
            if event.headers.has_token("Upgrade", "websocket"):
                self._upgrade(event)
                return
            self._busy = True
            if self._asgi is not None:
                self._asgi.serve_http(self, event, body)  # answers in its own time
                continue
            request = self._make_request(event, body)
            started = time.monotonic() if self._state.access_log else 0.0
            try:
                outcome = start(self._app.handle(request), self._loop)
            except Exception:  # App.handle answers errors itself; this is a bug
                logger.exception("application failed")
                outcome = Finished(None)
            if type(outcome) is Finished:
                request.close()  # the files of a form the handler read
                self._respond(event, outcome.value, started)
            else:
                assert isinstance(outcome, asyncio.Task)
                self._state.track(outcome)
                outcome.add_done_callback(
                    partial(self._handler_done, event=event, started=started, request=request)
                )

    def _make_request(self, event: Request, body: BodyReader | None) -> AppRequest:
        return AppRequest(
            event.method,
            event.target,
            event.headers,
            client=self._client,
            scheme=self._scheme,
            http_version=event.http_version,
            receive_body=body.read if body is not None else None,
        )

    def _metrics_response(self, method: str) -> AppResponse:
        """The answer to a request for ``metrics_path``: the metrics, for GET and HEAD."""
        if method not in {"GET", "HEAD"}:
            return AppResponse.text(
                "Method Not Allowed\n", status=405, headers=[("Allow", "GET, HEAD")]
            )
        directory = self._config.metrics_dir
        try:
            text = render(collect(self._metrics, directory))
        except OSError as exc:
            logger.error("cannot collect the metrics in %s: %s", directory, exc)
            return AppResponse.text("Metrics unavailable\n", status=500)
        return AppResponse(text.encode(), content_type=METRICS_CONTENT_TYPE)

    def _handler_done(
        self, task: asyncio.Task[Any], *, event: Request, started: float, request: AppRequest
    ) -> None:
        request.close()  # the files of a form the handler read
        if task.cancelled():
            self._close()
            return
        exc = task.exception()
        if exc is not None:
            logger.error("application failed", exc_info=exc)
            self._respond(event, None, started)
        else:
            self._respond(event, task.result(), started)
        self._write_out()
        if not self._busy:
            self._dispatch()
            self._write_out()

    # Sending responses.

    def _respond(self, event: Request, response: Any, started: float) -> None:
        """Write ``response`` (an app ``Response``; None means the app failed: 500)."""
        if self._transport is None:
            self._busy = False
            return
        if response is None:
            response = AppResponse.text("Internal Server Error\n", status=500)
        stream = response.stream
        if stream is not None and type(response) is FileResponse and event.method != "HEAD":
            sections = response.sections
            if sum(section.size + len(section.prefix) for section in sections) <= SMALL_FILE:
                response = _read_small_file(response) or AppResponse.text(
                    "Internal Server Error\n", status=500
                )
                stream = None
        headers = response.headers
        extra = self._fixed_fields(headers)
        closing = self._closing and not self._queue
        if closing:
            # The last answer (pipelined requests still queued are answered first).
            extra.append(("Connection", "close"))
        if stream is None:
            body = response.body
            if response.status not in _NO_LENGTH_STATUSES:
                extra.append(("Content-Length", str(len(body))))
            drop: tuple[str, ...] = _FIXED_BODY_DROPS_CLOSING if closing else _FIXED_BODY_DROPS
        else:
            body = b""
            drop = _CONNECTION if closing else ()
        headers = headers.copy_with(extra, drop=drop)
        http = self._http
        head_event = Response(status_code=response.status, headers=headers)
        try:
            if stream is None:
                # HEAD: the same head (Content-Length included), no body.
                self._out.append(
                    http.send_response(head_event, body if event.method != "HEAD" else b"")
                )
            else:
                self._out.append(http.send(head_event))
        except LocalProtocolError as exc:
            logger.error("invalid response from the application: %s", exc)
            self._abort()
            self._busy = False
            return
        self._metrics.http_responses[head_event.status_code] += 1
        if stream is not None and event.method == "HEAD":
            # RFC 9110 §9.3.2: no content in answer to HEAD: the stream is not run.
            self._out.append(http.send(_END))
        elif stream is not None:
            self._write_out()
            if type(response) is FileResponse:
                task = self._loop.create_task(self._send_file(response))
            else:
                task = self._loop.create_task(self._stream(stream))
            self._state.track(task)
            self._stream_task = task
            self._stream_ends_on_eof = (response.headers.get("content-type") or "").startswith(
                "text/event-stream"
            )
            task.add_done_callback(
                partial(self._stream_done, event=event, status=response.status, started=started)
            )
            return
        if self._state.access_log:
            sent = len(body) if event.method != "HEAD" else 0  # the bytes of body sent
            self._log(event, response.status, sent, started)
        self._cycle_done()

    def _fixed_fields(self, headers: Headers | None) -> list[tuple[str, str]]:
        """``Date`` and ``Server``, unless the application set its own in ``headers``."""
        has_date = has_server = False
        for field in () if headers is None else headers._fields:
            name = field[0]
            if name == "date":
                has_date = True
            elif name == "server":
                has_server = True
        extra = [] if has_date else [("Date", _http_date())]
        server = self._server_field
        if server is not None and not has_server:
            extra.append(server)
        return extra

    async def _send_file(self, response: FileResponse) -> int:
        """Send a file response's sections: ``loop.sendfile`` where it is native,
        else the response's own stream (TLS, uvloop)."""
        transport = self._transport
        loop = self._loop
        if (
            transport is None
            or type(loop) in _NO_SENDFILE
            or transport.get_extra_info("sslcontext") is not None
        ):
            return await self._stream(response.stream)
        http = self._http
        sent = 0
        with open(response.path, "rb") as file:
            for index, (prefix, offset, size) in enumerate(response.sections):
                if prefix:
                    self._out.append(http.send(Data(data=prefix)))
                    sent += len(prefix)
                if not size:
                    continue
                self._write_out()
                if self._transport is None:
                    return sent
                try:
                    count = await loop.sendfile(transport, file, offset, size, fallback=False)
                except (NotImplementedError, asyncio.SendfileNotAvailableError) as exc:
                    # Raised before a byte is sent: stream this section and the rest.
                    if isinstance(exc, NotImplementedError):
                        _NO_SENDFILE.add(type(loop))
                    sections = response.sections
                    rest = (sections[index]._replace(prefix=b""), *sections[index + 1 :])
                    return sent + await self._stream(read_sections(response.path, rest))
                http.send_external_data(count)
                self._metrics.http_bytes_out += count
                sent += count
                if count < size:
                    raise _FileChanged(f"{response.path} shrank while being sent")
        return sent

    async def _stream(self, stream: Any) -> int:
        http = self._http
        sent = 0
        async for chunk in stream:
            if self._transport is None:
                break
            if chunk:
                self._out.append(http.send(Data(data=chunk)))
                sent += len(chunk)
                self._write_out()
                if self._write_paused:
                    await self._drained()
        return sent

    def _stream_done(
        self, task: asyncio.Task[Any], *, event: Request, status: int, started: float
    ) -> None:
        if self._stream_task is task:
            self._stream_task = None
        if task.cancelled() or task.exception() is not None or self._transport is None:
            if not task.cancelled() and (exc := task.exception()) is not None:
                if isinstance(exc, ConnectionError):
                    logger.debug("client %s left during a streamed response", self._client)
                else:
                    logger.error("streamed response failed", exc_info=exc)
            # The head is out: the only honest signal left is to drop the connection.
            self._abort()
            return
        try:
            self._out.append(self._http.send(_END))
        except LocalProtocolError as exc:
            # Fewer bytes than Content-Length (a file that shrank while streamed).
            logger.error("streamed response ended short: %s", exc)
            self._abort()
            return
        if self._state.access_log:
            self._log(event, status, task.result(), started)
        self._cycle_done()
        self._write_out()
        if not self._busy:
            self._dispatch()
            self._write_out()

    def _cycle_done(self) -> None:
        self._busy = False
        http = self._http
        # Not ``http.keep_alive``: that is about the next cycle, and a pipelined
        # request may still await its answer (a last one with Connection: close).
        if http.our_state is not State.IDLE or (self._closing and not self._queue):
            self._write_out()
            self._close()
            return
        if self._reading_paused and not http.reading_paused:
            self._resume_reading()
        if self._parse_paused:
            # Requests may be buffered unparsed (over the pipelining limit, or
            # behind an upgrade request that was declined).
            self._parse_paused = False
            try:
                events = http.receive_data(b"")
            except RemoteProtocolError as exc:
                self._bad_request(exc)
                return
            if events:
                self._received(events)
                return
        if not self._queue and self._body is None:
            self._set_deadline(_IDLE, self._config.keep_alive_timeout)

    def _write_out(self) -> None:
        out = self._out
        if out and self._transport is not None:
            data = b"".join(out) if len(out) > 1 else out[0]
            self._metrics.http_bytes_out += len(data)
            self._transport.write(data)
        out.clear()

    def _maybe_continue(self) -> None:
        # RFC 9110 §10.1.1: the client waits for 100 before sending its body; we
        # send it once the handler asks for the body, not before.
        http = self._http
        if http.client_is_waiting_for_100_continue and self._transport is not None:
            data = http.send(_CONTINUE)
            self._metrics.http_bytes_out += len(data)
            self._transport.write(data)

    def _bad_request(self, exc: RemoteProtocolError) -> None:
        """The client broke HTTP/1.1: answer ``exc.status_hint`` (if we can), then close."""
        logger.debug("bad request from %s: %s", self._client, exc)
        status = exc.status_hint or 400
        if self._busy or self._queue:
            # Earlier requests are still being answered; answering out of order is
            # impossible, so stop here.
            reader = self._body
            if reader is not None and not self._queue:
                # The body in error is that of the request in flight, whose handler
                # may be waiting for it: its read raises HTTPError, which the app
                # answers with the status (e.g. 413 for a chunked body over the limit).

                reader.fail(HTTPError(status, exc.message))
                self._body = None
            self._queue.clear()
            self._closing = True
            return
        body = (exc.message + "\n").encode("utf-8", "replace")
        headers = Headers(
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                *self._fixed_fields(None),
            ]
        )
        try:
            data = self._http.send(Response(status_code=status, headers=headers))
            data += self._http.send(Data(data=body)) + self._http.send(_END)
        except LocalProtocolError:
            data = b""
        if self._transport is not None:
            if data:
                metrics = self._metrics
                metrics.http_responses[status] += 1
                metrics.http_bytes_out += len(data)
            self._transport.write(data)
        self._close(linger=True)

    def _log(self, event: Request, status: int, size: int, started: float) -> None:
        client = f"{self._client[0]}:{self._client[1]}" if self._client else "-"
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        access_logger.info(
            '%s "%s %s HTTP/%s" %d %d %.1fms',
            client,
            event.method,
            event.target,
            event.http_version,
            status,
            size,
            duration_ms,
            extra={
                "client": client,
                "method": event.method,
                "target": event.target,
                "status": status,
                "size": size,
                "duration_ms": duration_ms,
            },
        )

    # WebSocket upgrade.

    def _upgrade(self, event: Request) -> None:
        from ._upgrade import start_websocket  # noqa: PLC0415

        self._busy = True
        self._set_deadline(_HEADER, None)
        start_websocket(self, event)

    def _hand_over(self, successor: object) -> bool:
        """The connection now speaks WebSocket: ``successor`` takes our place.

        Returns:
            Whether reading was paused (the successor resumes it once it listens).
        """
        connections = self._state.connections
        if self in connections:
            connections.remove(self)
            self._metrics.http_open -= 1
        connections.add(successor)
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self._reading_paused

    def _handshake_declined(self) -> None:
        """The upgrade was answered with an HTTP response (``_respond``): carry on."""
        self._write_out()
        if not self._busy:
            self._dispatch()
            self._write_out()

    # Flow control and lifetime.

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    def _set_deadline(self, kind: int, seconds: float | None) -> None:
        """Arm the one timer this connection has (a deadline, checked when it fires)."""
        self._deadline_kind = kind
        if seconds is None:
            self._deadline = None
            return
        deadline = self._deadline = self._loop.time() + seconds
        timer = self._timer
        if timer is None or timer.when() > deadline:
            # The armed timer would fire too late for this (shorter) deadline: a
            # keep-alive timeout shorter than the header timeout must still apply.
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._transport is None:
            return
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._deadline_passed)
            return
        if self._deadline_kind is _LINGER:
            self._transport.close()
            return
        if self._deadline_kind is _HEADER and not self._busy and not self._closing:
            logger.debug("header timeout for %s", self._client)
            metrics = self._metrics
            metrics.http_responses[408] += 1
            fields = "".join(f"{name}: {value}\r\n" for name, value in self._fixed_fields(None))
            data = _TIMEOUT_408[0] + fields.encode("ascii") + _TIMEOUT_408[1]
            metrics.http_bytes_out += len(data)
            self._transport.write(data)
            self._close(linger=True)
            return
        self._close()

    def _going_away(self) -> None:
        """Server shutdown: finish the request in flight, then close."""
        self._closing = True
        if self._stream_task is not None and self._stream_ends_on_eof:
            # An event stream is never answered in full: end it (the client
            # reconnects, to another server if there is one).
            task, self._stream_task = self._stream_task, None
            task.cancel()
            return
        if self._busy or self._queue:
            return  # closed once answered (_cycle_done)
        if self._deadline_kind is _IDLE:
            self._close()  # idle between requests: closing is safe (RFC 9112 §9.6)
            return
        # A connection accepted just before the shutdown, or with a request head on
        # its way: the client has sent, or is sending, a request it expects answered.
        # It gets a moment to arrive, then its answer carries Connection: close.
        remaining = GOING_AWAY_GRACE
        if self._deadline is not None:
            remaining = min(remaining, max(0.0, self._deadline - self._loop.time()))
        self._set_deadline(_HEADER, remaining)

    def _close(self, *, linger: bool = False) -> None:
        """Close; with ``linger`` (or a request body not fully received), in stages."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        linger = linger or (self._body is not None and not self._body.done)
        if not linger or self._eof or not transport.can_write_eof():
            transport.close()
            return
        if not self._lingering:
            # Half-close, then wait for the client's end of file (see LINGER_TIMEOUT).
            self._lingering = True
            self._write_out()
            transport.write_eof()
            self._resume_reading()
            self._set_deadline(_LINGER, LINGER_TIMEOUT)

    def _abort(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.abort()
