"""One ASGI HTTP request-response cycle on a server connection: the fast path.

``HTTPCycle`` gives the application its ``receive`` and ``send`` and turns
their messages into the http1 core's events on the connection
(``HTTPServerProtocol``): no native ``Request`` or ``Response`` is made. The
application's coroutine is first run inline (``aio._eager.start``): one that
answers without waiting (a hello world) costs no task at all.

The response head is held back until the first body message: a body sent whole
(``more_body`` false) then goes out with its head in one write, with a
``Content-Length`` the server adds if the app gave none; a streamed one is sent
chunked unless the app set ``Content-Length``. Holding the head also means an
app that fails between ``http.response.start`` and its first body still gets
a clean 500.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .._errors import ConnectionClosed, LocalProtocolError
from ..aio._eager import Finished, start
from ..aio._http_server import _NO_LENGTH_STATUSES, SMALL_FILE, read_small_file
from ..app import HTTPError
from ..app._file_response import FileResponse
from ..http1 import Data, EndOfMessage, Headers, Request, Response

if TYPE_CHECKING:
    from ..aio._body import BodyReader
    from ..aio._http_server import HTTPServerProtocol
    from ._scope import ASGIApplication, Scope

__all__ = ["ClientDisconnected", "HTTPCycle"]

logger = logging.getLogger("longwire.asgi")

_END = EndOfMessage()
_ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class ClientDisconnected(OSError):
    """``send`` was called after the client left (ASGI spec 2.4: an ``OSError``).

    Frameworks stop a streamed response on it (Starlette turns it into its own
    ``ClientDisconnect``).
    """


class HTTPCycle:
    """The ``receive`` and ``send`` of one request, and the writing of its response.

    Args:
        protocol: the connection.
        event: the request head.
        body: its body as it arrives, or ``None`` when it has none.
        started: ``time.monotonic()`` at dispatch (for the access log), or 0.
        timeout: seconds the app has to start its response (``None``: no limit).
    """

    __slots__ = (
        "_body",
        "_chunked",
        "_complete",
        "_disconnected",
        "_event",
        "_head_sent",
        "_headers",
        "_inline",
        "_no_body",
        "_protocol",
        "_request_done",
        "_sent",
        "_started",
        "_started_at",
        "_status",
        "_task",
        "_timeout",
        "_timer",
        "_trailers",
        "_trailers_wanted",
        "_waiters",
    )

    def __init__(
        self,
        protocol: HTTPServerProtocol,
        event: Request,
        body: BodyReader | None,
        started: float,
        timeout: float | None,
    ) -> None:
        self._protocol = protocol
        self._event = event
        self._body = body
        self._started_at = started
        self._timeout = timeout
        self._request_done = False  # the last http.request message was given
        self._started = False  # http.response.start received
        self._head_sent = False
        self._complete = False  # the response ended (the connection may carry on)
        self._disconnected = False
        self._status = 0
        self._headers: Any = ()
        self._no_body = False
        self._chunked = False
        self._trailers_wanted = False
        self._trailers: list[tuple[str, str]] | None = None
        self._sent = 0
        self._waiters: list[asyncio.Future[None]] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._inline = True  # running inside the connection's _dispatch

    # Running the application.

    def run(self, app: ASGIApplication, scope: Scope) -> None:
        """Call ``app`` for this request; it answers now or in a task."""
        protocol = self._protocol
        protocol._asgi_cycle = self
        try:
            coro = app(scope, self.receive, self.send)
            outcome: Any = start(coro, protocol._loop)
        except Exception as exc:  # raised before its first wait: still inline
            self._app_failed(exc)
            self._inline = False
            return
        if type(outcome) is Finished:
            self._app_returned(outcome.value)
            self._inline = False
            return
        self._inline = False
        task = self._task = outcome
        protocol._state.track(task)
        task.add_done_callback(self._task_done)
        if not self._started and self._timeout is not None:
            self._timer = protocol._loop.call_later(self._timeout, self._timed_out)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._task = None
        if task.cancelled():
            self._cancel_timer()
            if not self._complete:
                # Shutdown's grace period is over (or the app cancelled itself).
                if self._head_sent:
                    self._protocol._abort()
                else:
                    self._protocol._close()
            return
        exc = task.exception()
        if exc is not None:
            self._app_failed(exc)
        else:
            self._app_returned(task.result())

    def _app_returned(self, value: object) -> None:
        self._cancel_timer()
        if value is not None:
            logger.error("ASGI callable should return None, but returned %r", value)
        if self._complete or self._disconnected:
            return
        if not self._started:
            logger.error("ASGI callable returned without starting a response")
        else:
            logger.error("ASGI callable returned without completing its response")
        self._give_up()

    def _app_failed(self, exc: BaseException) -> None:
        self._cancel_timer()
        if self._disconnected:
            # What frameworks raise when the client leaves (ClientDisconnected, or
            # Starlette's ClientDisconnect on a body cut short): not a bug.
            logger.debug("ASGI application stopped: the client left", exc_info=exc)
            return
        logger.error("exception in ASGI application", exc_info=exc)
        if not self._complete and not self._disconnected:
            self._give_up()

    def _give_up(self) -> None:
        """The app will not finish its response: a 500 if nothing is out yet, else
        drop the connection (the client sees the body end short)."""
        if self._head_sent:
            self._complete = True
            self._protocol._asgi_cycle = None
            self._protocol._abort()
            return
        self._error_response(500, b"Internal Server Error\n")

    def _timed_out(self) -> None:
        self._timer = None
        if self._started or self._complete:
            return
        logger.error(
            "ASGI application did not start a response within %gs (asgi_response_timeout): "
            "cancelled, answered 504",
            self._timeout,
        )
        task = self._task
        if not self._disconnected:
            self._error_response(504, b"Gateway Timeout: the application did not answer\n")
        if task is not None:
            task.cancel()

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _error_response(self, status: int, body: bytes) -> None:
        """Answer with a plain-text ``status`` in place of the app's response."""
        self._started = True
        self._status = status
        self._headers = _ERROR_HEADERS
        self._trailers_wanted = False
        try:
            self._write_head(body, final=True)
        except LocalProtocolError:
            self._protocol._abort()
            return
        self._finish()

    def disconnected(self) -> None:
        """The connection is gone (called by the connection)."""
        self._disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # receive

    async def receive(self) -> dict[str, Any]:
        """The next ``http.request`` chunk; ``http.disconnect`` once the response
        is sent or the client is gone."""
        if self._complete or self._disconnected:
            return {"type": "http.disconnect"}
        body = self._body
        if body is not None:
            try:
                chunk = await body.read()  # the first read sends 100 Continue if asked
            except ConnectionClosed:
                self._body = None
                return {"type": "http.disconnect"}
            except HTTPError as exc:
                # The body broke a limit (413, or a 400 for broken chunking): the
                # server answers, and the connection closes after.
                self._body = None
                if not self._head_sent and not self._complete:
                    text = exc.detail or HTTPStatus(exc.status).phrase
                    self._error_response(exc.status, text.encode() + b"\n")
                self._disconnected = True
                return {"type": "http.disconnect"}
            if chunk and body.done:
                # The rest is buffered already: hand it over with the end.
                rest = [chunk]
                while more := await body.read():
                    rest.append(more)
                chunk = b"".join(rest) if len(rest) > 1 else chunk
            elif chunk:
                return {"type": "http.request", "body": chunk, "more_body": True}
            self._body = None
            self._request_done = True
            return {"type": "http.request", "body": chunk, "more_body": False}
        if not self._request_done:
            self._request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        # The whole body was given: wait until the response ends or the client leaves.
        waiter = self._protocol._loop.create_future()
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)
        await waiter
        return {"type": "http.disconnect"}

    # send

    async def send(self, message: dict[str, Any]) -> None:
        """Take one response message from the app.

        Raises:
            ClientDisconnected: the client is gone.
            RuntimeError: a message out of order or of an unknown type, or a
                response head the server cannot send (the connection is dropped).
        """
        kind = message["type"]
        if self._disconnected:
            raise ClientDisconnected("the client disconnected")
        if kind == "http.response.body":
            if not self._started or self._complete:
                raise RuntimeError(self._unexpected(kind))
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            if not self._head_sent:
                self._write_head(body, final=not more_body and not self._trailers_wanted)
                if not more_body and not self._trailers_wanted:
                    self._finish()
                    return
            elif body and not self._no_body:
                protocol = self._protocol
                protocol._out.append(protocol._http.send(Data(data=body)))
                self._sent += len(body)
            if more_body:
                await self._flush()
            elif not self._trailers_wanted:
                self._end(None)
            else:
                await self._flush()
            return
        if kind == "http.response.start":
            if self._started:
                raise RuntimeError(self._unexpected(kind))
            self._started = True
            self._cancel_timer()
            self._status = message["status"]
            self._headers = message.get("headers", ())
            self._trailers_wanted = bool(message.get("trailers", False))
            return
        if kind == "http.response.trailers":
            if not self._trailers_wanted or not self._head_sent or self._complete:
                raise RuntimeError(self._unexpected(kind))
            trailers = self._trailers if self._trailers is not None else []
            trailers += [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
            self._trailers = trailers
            if not message.get("more_trailers", False):
                self._end(trailers)
            return
        if kind == "http.response.pathsend":
            if not self._started or self._head_sent or self._complete:
                raise RuntimeError(self._unexpected(kind))
            await self._send_path(message["path"])
            return
        raise RuntimeError(self._unexpected(kind))

    def _unexpected(self, kind: str) -> str:
        if not self._started:
            return f"expected ASGI message 'http.response.start', but got {kind!r}"
        if self._complete:
            return f"unexpected ASGI message {kind!r} after the response was complete"
        return f"unexpected ASGI message {kind!r} at this point of the response"

    async def _flush(self) -> None:
        protocol = self._protocol
        protocol._write_out()
        if protocol._write_paused:
            await protocol._drained()  # backpressure: the client reads slower than we write

    # Writing the response.

    def _write_head(self, body: bytes, *, final: bool) -> None:
        """Send the head (and ``body``; with ``final``, the whole response).

        Raises:
            RuntimeError: the head is invalid (the connection is dropped).
        """
        protocol = self._protocol
        http = protocol._http
        status = self._status
        has_length = chunked = False
        fields = []  # Headers._fields: (lowercased name, name, value), built in one pass
        for name, value in self._headers:
            text = name.decode("latin-1")
            lower = text.lower()
            if lower == "content-length":
                has_length = True
            elif lower == "transfer-encoding":
                chunked = True
            fields.append((lower, text, value.decode("latin-1")))
        headers = Headers.__new__(Headers)
        headers._fields = fields
        for name, value in protocol._fixed_fields(headers):  # Date, and Server if configured
            fields.append((name.lower(), name, value))
        if protocol._closing and not protocol._queue:
            fields.append(("connection", "Connection", "close"))  # the last answer before closing
        method = self._event.method
        # RFC 9110 §9.3.2, §15.3.5, §15.4.5: HEAD, 204 and 304 answers carry no content.
        no_body = self._no_body = method == "HEAD" or status in _NO_LENGTH_STATUSES
        if final and not has_length and not chunked and not no_body:
            fields.append(("content-length", "Content-Length", str(len(body))))
            has_length = True
        self._chunked = not has_length and not no_body and self._event.http_version == "1.1"
        try:
            head = Response(status_code=status, headers=headers)
            if final:
                data = http.send_response(head, b"" if no_body else body)
            else:
                data = http.send(head)
                if body and not no_body:
                    data += http.send(Data(data=body))
        except LocalProtocolError as exc:
            raise self._invalid(exc) from None
        self._head_sent = True
        if not no_body:
            self._sent += len(body)
        protocol._metrics.http_responses[status] += 1
        protocol._out.append(data)

    def _end(self, trailers: list[tuple[str, str]] | None) -> None:
        """End the body (with ``trailers`` when the body is chunked), then the cycle."""
        protocol = self._protocol
        try:
            if trailers and self._chunked:
                protocol._out.append(protocol._http.send(EndOfMessage(trailers=Headers(trailers))))
            else:
                protocol._out.append(protocol._http.send(_END))
        except LocalProtocolError as exc:
            raise self._invalid(exc) from None  # fewer bytes than its Content-Length, say
        self._finish()

    def _invalid(self, exc: LocalProtocolError) -> RuntimeError:
        """The application's response broke HTTP: drop the connection; the error to raise."""
        self._complete = True
        protocol = self._protocol
        protocol._asgi_cycle = None
        logger.error("invalid response from the ASGI application: %s", exc)
        protocol._abort()
        return RuntimeError(f"invalid response: {exc}")

    def _finish(self) -> None:
        """The response is complete: log it and let the connection go on."""
        self._complete = True
        protocol = self._protocol
        if protocol._asgi_cycle is self:
            protocol._asgi_cycle = None
        self._wake()
        if protocol._state.access_log:
            protocol._log(self._event, self._status, self._sent, self._started_at)
        if protocol._transport is None:
            return
        protocol._cycle_done()
        if not self._inline:
            # Answered from a task: write, then answer what was pipelined meanwhile.
            protocol._write_out()
            if not protocol._busy:
                protocol._dispatch()
                protocol._write_out()

    async def _send_path(self, path: str) -> None:
        """``http.response.pathsend``: the file at ``path`` is the body (sendfile when
        the connection allows it)."""
        file = FileResponse(path)  # FileNotFoundError etc. go to the app
        size = file.size
        has_length = any(name.lower() == b"content-length" for name, _ in self._headers)
        if not has_length:
            self._headers = [*self._headers, (b"content-length", str(size).encode())]
        if size <= SMALL_FILE or self._event.method == "HEAD":
            # A file that cannot be read, or shrank, fails the app (before any head).
            body = read_small_file(file) if self._event.method != "HEAD" else b""
            self._write_head(body, final=True)
            self._finish()
            return
        self._write_head(b"", final=False)
        protocol = self._protocol
        try:
            if self._chunked or self._no_body:
                sent = await protocol._stream(file.stream)
            else:
                sent = await protocol._send_file(file)
        except OSError as exc:
            self._complete = True
            protocol._asgi_cycle = None
            protocol._abort()
            raise ClientDisconnected(str(exc)) from exc
        self._sent += sent
        if protocol._transport is None:
            self._disconnected = True
            raise ClientDisconnected("the client disconnected")
        self._end(None)
