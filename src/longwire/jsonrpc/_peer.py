"""``Peer``: one end of a JSON-RPC 2.0 connection over any message transport.

Both ends are peers: each may call the other's methods. The transport is two
things: a coroutine function ``send(text)`` that sends one message, and calls
to ``await peer.feed(text)`` for each message received. ``Peer`` knows nothing
of WebSockets, so the ``App.jsonrpc`` route, the client and the hub share it.

Concurrency: each incoming request (or notification) runs in a task of its own,
started in the order the messages arrive (so plain-function handlers run in
that order), and a slow method delays no other.
Responses to our calls resolve them as soon as they are fed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeAlias, TypeVar

from .._errors import ConnectionClosed
from ._codec import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    OVERLOADED,
    ErrorResponse,
    InvalidMessage,
    Message,
    Notification,
    Params,
    Request,
    Response,
    RPCError,
    encode,
    notification,
    parse,
    request,
)
from ._methods import Methods

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT",
    "Peer",
    "Send",
    "check_limits",
]

logger = logging.getLogger("longwire.jsonrpc")

DEFAULT_TIMEOUT = 30.0
"""Seconds a call waits for its response. Long enough for a slow method on a
loaded server, short enough that a peer that never answers does not pin a
caller (and its slot under ``max_pending``) forever."""

DEFAULT_MAX_BATCH = 100
"""Most messages in one batch. A batch is answered in one message once all its
requests are done, so its size bounds both the work one message may start and
the size of that answer."""

DEFAULT_MAX_PENDING = 1000
"""Most requests in progress at once, in each direction: incoming requests and
notifications whose handler runs, and our calls awaiting a response. It bounds
the tasks and futures a peer that floods us, or never answers, can pin."""

_UNSET: Any = object()
_T = TypeVar("_T")

Send: TypeAlias = Callable[[str], Awaitable[None]]
"""``async def send(text)``: how a ``Peer`` sends one message."""


def _answer(message: Response | ErrorResponse | list[Response | ErrorResponse]) -> str:
    """The text of an answer; a result that cannot be encoded becomes an internal error."""
    try:
        return encode(message)
    except (TypeError, ValueError):
        pass
    # Encode each member alone, to replace only those at fault.
    members = message if isinstance(message, list) else [message]
    fixed: list[Response | ErrorResponse] = []
    for member in members:
        try:
            encode(member)
        except (TypeError, ValueError):
            logger.exception("JSON-RPC result for id %r is not JSON serializable", member.id)
            fixed.append(ErrorResponse(member.id, RPCError(INTERNAL_ERROR)))
        else:
            fixed.append(member)
    return encode(fixed if isinstance(message, list) else fixed[0])


class Peer:
    """One end of a JSON-RPC 2.0 connection: serves ``methods``, calls the other end's.

    Args:
        send: ``async def send(text)``: sends one message to the other end.
        methods: the methods the other end may call (``None``: none; requests
            are then answered ``METHOD_NOT_FOUND``).
        context: what handlers registered with ``context=True`` get first.

    Keyword Args (limits; see the ``DEFAULT_*`` constants for the reasoning):
        timeout: default seconds ``call`` waits for its response; ``None``: forever.
        max_batch: most messages in an incoming batch; a longer batch is
            answered with one ``INVALID_REQUEST`` error and not run. ``None``: no limit.
        max_pending: most requests in progress in each direction. An incoming
            request beyond it is answered at once with ``OVERLOADED`` (-32000)
            and an incoming notification is dropped (logged); a ``call`` beyond
            it raises ``RPCError(OVERLOADED)`` without sending. ``None``: no limit.

    Attributes:
        methods, context: as given.
        timeout: the default timeout of ``call``.
    """

    __slots__ = (
        "_closed",
        "_next_id",
        "_pending",
        "_running",
        "_send",
        "_tasks",
        "context",
        "max_batch",
        "max_pending",
        "methods",
        "timeout",
    )

    def __init__(
        self,
        send: Send,
        methods: Methods | None = None,
        *,
        context: Any = None,
        # Timeouts
        timeout: float | None = DEFAULT_TIMEOUT,
        # Limits
        max_batch: int | None = DEFAULT_MAX_BATCH,
        max_pending: int | None = DEFAULT_MAX_PENDING,
    ) -> None:
        check_limits(timeout, max_batch, max_pending)
        self._send = send
        self.methods = methods
        self.context = context
        self.timeout = timeout
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._next_id = 1
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed: BaseException | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed is not None else "open"
        return f"<Peer {state} pending={len(self._pending)} running={self._running}>"

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed is not None

    @property
    def pending(self) -> int:
        """How many of our calls await a response."""
        return len(self._pending)

    @property
    def running(self) -> int:
        """How many incoming requests and notifications are being handled."""
        return self._running

    # Calling the other end

    async def call(self, method: str, params: Params | tuple[Any, ...] = None, *,
                   timeout: float | None = _UNSET) -> Any:
        """Call ``method`` on the other end and return its result.

        Args:
            method: the method name.
            params: a list or tuple (by position), a dict (by name), or ``None``.
            timeout: seconds to wait for the response (default: the peer's
                ``timeout``); ``None``: no limit.

        Raises:
            RPCError: the other end answered with an error object; or
                ``OVERLOADED``: ``max_pending`` calls already await a response.
            TimeoutError: no response came in time (a late one is dropped).
            ConnectionClosed: the peer is closed, or closes before the response
                (or what ``close`` was given).
            TypeError, ValueError: ``params`` cannot be encoded.
        """
        if self._closed is not None:
            raise self._closed_error()
        args = list(params) if isinstance(params, tuple) else params
        if self.max_pending is not None and len(self._pending) >= self.max_pending:
            raise RPCError(OVERLOADED, "Too many calls pending")
        id_ = self._next_id
        self._next_id += 1
        text = request(method, args, id_)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[id_] = future
        if timeout is _UNSET:
            timeout = self.timeout
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, future, method, timeout)
        try:
            await self._send(text)
            return await future
        finally:
            self._pending.pop(id_, None)
            if timer is not None:
                timer.cancel()

    async def notify(self, method: str, params: Params | tuple[Any, ...] = None) -> None:
        """Send a notification: ``method`` is called, no answer comes back.

        Raises:
            ConnectionClosed: the peer is closed (or what ``send`` raises).
            TypeError, ValueError: ``params`` cannot be encoded.
        """
        if self._closed is not None:
            raise self._closed_error()
        args = list(params) if isinstance(params, tuple) else params
        await self._send(notification(method, args))

    # Receiving

    async def feed(self, text: str | bytes) -> None:
        """Handle one message received from the other end.

        Responses resolve our calls at once; requests and notifications start
        their handlers (as tasks); what breaks the specification is answered
        with the error the specification prescribes. A batch's requests run
        concurrently and are answered together, in one array, once all are done.

        Raises:
            ConnectionClosed: what ``send`` raises when answering an invalid
                message (the answers of handlers are sent from their tasks, which
                drop that error).
        """
        if self._closed is not None:
            return
        parsed = parse(text)
        if isinstance(parsed, list):
            await self._feed_batch(parsed)
        elif isinstance(parsed, (Request, Notification)):
            if self._admit(parsed):
                self._start(self._serve(parsed))
            elif isinstance(parsed, Request):
                await self._send(_answer(ErrorResponse(parsed.id, _busy())))
        elif isinstance(parsed, InvalidMessage):
            await self._send(_answer(parsed))
        else:
            self._resolve(parsed)

    async def _feed_batch(self, batch: list[Message]) -> None:
        if self.max_batch is not None and len(batch) > self.max_batch:
            limit = f"a batch of {len(batch)} is over the limit of {self.max_batch}"
            error = RPCError(INVALID_REQUEST, data=limit)
            await self._send(_answer(ErrorResponse(None, error)))
            return
        # §6: one answer per request, in one array. Any order is allowed; the
        # batch's order is kept (an admitted call holds its place as None).
        answers: list[Response | ErrorResponse | None] = []
        calls: list[asyncio.Task[Response | ErrorResponse | None]] = []
        for message in batch:
            if isinstance(message, (Request, Notification)):
                if self._admit(message):
                    # Started now, each in a task of its own, so that handlers
                    # start in the order messages arrive, batched or not.
                    calls.append(self._start(self._run(message)))
                    answers.append(None)
                elif isinstance(message, Request):
                    answers.append(ErrorResponse(message.id, _busy()))
            elif isinstance(message, InvalidMessage):
                answers.append(message)
            else:
                self._resolve(message)
        if calls:
            self._start(self._serve_batch(calls, answers))
        elif answers:
            # §6: "If there are no Response objects contained within the Response
            # array as it is to be sent to the client, the server MUST NOT return
            # an empty Array and should return nothing at all."
            await self._send(_answer([answer for answer in answers if answer is not None]))

    def _admit(self, message: Request | Notification) -> bool:
        """Count one more incoming request in progress, if ``max_pending`` allows."""
        if self.max_pending is not None and self._running >= self.max_pending:
            if isinstance(message, Notification):
                logger.warning(
                    "JSON-RPC notification %r dropped: %d requests in progress",
                    message.method,
                    self._running,
                )
            return False
        self._running += 1
        return True

    def _start(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, message: Request | Notification) -> Response | ErrorResponse | None:
        try:
            if self.methods is None:
                if isinstance(message, Notification):
                    return None
                return ErrorResponse(message.id, RPCError(RPCError.METHOD_NOT_FOUND))
            return await self.methods.respond(message, self.context)
        finally:
            self._running -= 1

    async def _serve(self, message: Request | Notification) -> None:
        answer = await self._run(message)
        if answer is not None:
            await self._send_quietly(_answer(answer))

    async def _serve_batch(
        self,
        calls: list[asyncio.Task[Response | ErrorResponse | None]],
        answers: list[Response | ErrorResponse | None],
    ) -> None:
        results = iter(await asyncio.gather(*calls))
        # Each None is an admitted call's place: its answer (None for a notification).
        ordered = [answer if answer is not None else next(results) for answer in answers]
        out = [answer for answer in ordered if answer is not None]
        if out:
            await self._send_quietly(_answer(out))

    async def _send_quietly(self, text: str) -> None:
        if self._closed is not None:
            return
        with contextlib.suppress(ConnectionClosed):  # the other end is gone: nobody to answer
            await self._send(text)

    def _resolve(self, message: Response | ErrorResponse) -> None:
        future = self._pending.get(message.id)
        if future is None:
            if message.id is None and isinstance(message, ErrorResponse):
                # The other end could not read one of our messages (§5: id null).
                logger.warning("JSON-RPC peer answered an invalid message: %r", message.error)
            else:
                logger.debug("JSON-RPC response to no pending call dropped: id %r", message.id)
            return
        if future.done():
            return
        if isinstance(message, ErrorResponse):
            future.set_exception(message.error)
        else:
            future.set_result(message.result)

    # Closing

    def close(self, exc: BaseException | None = None) -> None:
        """Close the peer: pending calls fail, running handlers are cancelled.

        Pending calls raise ``exc`` (by default ``ConnectionClosed(1000)``);
        later ones raise ``ConnectionClosed`` (caused by ``exc`` when it is
        another exception). Idempotent: only the first call counts.
        Await ``wait_closed`` for the cancelled handlers to finish.
        """
        if self._closed is not None:
            return
        self._closed = exc if exc is not None else ConnectionClosed(1000)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(self._closed)
        for task in self._tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until the handlers ``close`` cancelled are done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _closed_error(self) -> BaseException:
        closed = self._closed
        if isinstance(closed, ConnectionClosed):
            return ConnectionClosed(closed.code, closed.reason)  # a fresh traceback each time
        error = ConnectionClosed(1006, "JSON-RPC peer closed")
        error.__cause__ = closed
        return error


def check_limits(timeout: float | None, max_batch: int | None, max_pending: int | None) -> None:
    """Raise ``ValueError`` unless the ``Peer`` limits are valid."""
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be positive or None, not {timeout!r}")
    for name, limit in (("max_batch", max_batch), ("max_pending", max_pending)):
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError(f"{name} must be an int >= 1 or None, not {limit!r}")


def _busy() -> RPCError:
    return RPCError(OVERLOADED, "Too many requests in progress")


def _expire(future: asyncio.Future[Any], method: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no response to {method!r} within {timeout} s"))
