"""``--broadcast``: one program shared by every client.

Each stdout line goes to every WebSocket client (and, with ``--sse``, to every
event-stream subscriber, numbered); each client message goes to the program's
stdin as a line. The program is started with the server and runs whether or
not anyone is connected; its output with nobody connected is dropped (bar the
SSE history).

A slow client must not hold the others back: the program's stdout is never
paused for one; a WebSocket client with more than ``client_buffer`` bytes
waiting is closed with 1013 (Try Again Later), an event stream that far behind
is ended (the browser reconnects with ``Last-Event-ID`` and gets the lines it
missed from the history, if they are still there).

If the program exits, clients stay connected and it is started again after a
delay: ``RESTART_INITIAL_DELAY``, doubling up to ``RESTART_MAX_DELAY``, back to
the start once a run lasted ``RESTART_RESET_AFTER``. What clients send while
it is down is dropped (and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence

from .._errors import ConnectionClosed, LocalProtocolError
from ..aio import ReadyState, WebSocket
from ..sse import HEARTBEAT, encode_event
from ._bridge import Inbound, wait_or_heartbeat
from ._options import ExecOptions
from ._process import Program, describe_exit
from ._spawn import spawn

__all__ = [
    "RESTART_INITIAL_DELAY",
    "RESTART_MAX_DELAY",
    "RESTART_RESET_AFTER",
    "SLOW_CLIENT_CODE",
    "BroadcastHub",
]

logger = logging.getLogger("longwire.exec")

RESTART_INITIAL_DELAY = 0.5
"""Seconds before the first restart of a broadcast program that exited."""

RESTART_MAX_DELAY = 30.0
"""The longest wait between restarts (the delay doubles after each quick exit)."""

RESTART_RESET_AFTER = 30.0
"""A run at least this long (seconds) resets the restart delay."""

SLOW_CLIENT_CODE = 1013
"""The close code for a client more than ``client_buffer`` bytes behind: Try Again
Later (a temporary condition; longwire's reconnecting client retries on it)."""

_OPEN = ReadyState.OPEN


class _Subscriber:
    """One event stream's events waiting to be sent."""

    __slots__ = ("chunks", "ended", "limit", "overflowed", "size", "waiter")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False
        self.ended = False
        self.waiter: asyncio.Future[None] | None = None

    def push(self, event: bytes) -> None:
        if self.overflowed:
            return
        self.chunks.append(event)
        self.size += len(event)
        if self.size > self.limit:
            self.overflowed = True
        self.wake()

    def end(self) -> None:
        self.ended = True
        self.wake()

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class BroadcastHub:
    """The shared program, its clients and its event-stream subscribers.

    Args:
        command: the program and its arguments.
        options: the exec options (binary, limits, SSE settings).
        env: the program's environment.

    Attributes:
        clients: the open WebSocket clients.
        line_number: lines the programs have written so far (the last event id).
    """

    def __init__(self, command: Sequence[str], options: ExecOptions, env: dict[str, str]) -> None:
        self.command = tuple(command)
        self.options = options
        self.env = env
        self.program: Program | None = None
        self.clients: set[WebSocket] = set()
        self.line_number = 0
        self._subscribers: set[_Subscriber] = set()
        self._history: deque[tuple[int, bytes]] = deque(maxlen=options.sse_history)
        self._closing = False
        self._delay = RESTART_INITIAL_DELAY
        self._started_at = 0.0
        self._restart_timer: asyncio.TimerHandle | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._dropping = False  # client messages are being dropped (program down)

    # Lifetime

    async def start(self) -> None:
        """Start the program (at server startup).

        Raises:
            OSError: it could not be started.
        """
        self._closing = False
        await self._spawn()

    async def _spawn(self) -> None:
        program = Program(
            self,
            binary=self.options.binary,
            max_line_size=self.options.max_line_size,
            kill_grace=self.options.kill_grace,
            label=f"{self.command[0]} (broadcast)",
        )
        await spawn(program, self.command, env=self.env)
        if not program.finished.done():  # (with loop.subprocess_exec it may be over already)
            self.program = program
        self._started_at = asyncio.get_running_loop().time()
        self._dropping = False
        logger.info("broadcast program started: pid %s", program.pid, extra={"pid": program.pid})

    async def aclose(self) -> None:
        """Stop restarting, end the event streams, end the program and wait for it."""
        self._closing = True
        if self._restart_timer is not None:
            self._restart_timer.cancel()
        task = self._restart_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscriber in list(self._subscribers):
            subscriber.end()
        program = self.program
        if program is not None:
            program.terminate()
            # End of file and SIGTERM each get kill_grace; then SIGKILL, and the reaping.
            await asyncio.wait([program.finished], timeout=2 * self.options.kill_grace + 5)

    def _schedule_restart(self, why: str, *, ran: bool) -> None:
        loop = asyncio.get_running_loop()
        if ran and loop.time() - self._started_at >= RESTART_RESET_AFTER:
            self._delay = RESTART_INITIAL_DELAY
        delay = self._delay
        self._delay = min(delay * 2, RESTART_MAX_DELAY)
        logger.warning("the broadcast program %s: restarting it in %.1fs", why, delay)
        self._restart_timer = loop.call_later(delay, self._restart)

    def _restart(self) -> None:
        self._restart_timer = None
        self._restart_task = asyncio.get_running_loop().create_task(self._start_again())

    async def _start_again(self) -> None:
        try:
            await self._spawn()
        except OSError as exc:
            self._schedule_restart(f"could not be started ({exc})", ran=False)

    # Output

    def program_output(self, messages: list[bytes]) -> None:
        if self.options.binary:
            payloads: list[str] | list[bytes] = messages
        else:
            payloads = [message.decode("utf-8", "replace") for message in messages]
        if self.clients:
            self._send_all(payloads)
        if self.options.sse:
            history = self._history
            subscribers = self._subscribers
            for text in payloads:
                assert isinstance(text, str)
                self.line_number += 1
                event = encode_event(text, id=str(self.line_number))
                history.append((self.line_number, event))
                for subscriber in subscribers:
                    subscriber.push(event)

    def _send_all(self, payloads: Sequence[str | bytes]) -> None:
        limit = self.options.client_buffer
        for ws in list(self.clients):
            if ws.ready_state is not _OPEN:
                self.clients.discard(ws)
                continue
            waiter: object = None
            for payload in payloads:
                waiter = ws.send(payload)
            if isinstance(waiter, asyncio.Future) and ws.buffered_amount > limit:
                logger.warning(
                    "closing a client %s bytes behind (over --client-buffer %d)",
                    ws.buffered_amount,
                    limit,
                    extra={"client": ws.remote_address},
                )
                self.clients.discard(ws)
                ws.close(SLOW_CLIENT_CODE, "client too slow")

    def program_finished(self, program: Program) -> None:
        if self.program is program:
            self.program = None
        program.terminate()  # close its pipes, should a child of it hold stderr open
        if self._closing:
            return
        assert program.returncode is not None
        self._schedule_restart(describe_exit(program.returncode), ran=True)

    # Input (Inbound's StdinTarget)

    def write(self, data: bytes) -> None:
        """Write a client's message to the program's stdin (dropped while it is down)."""
        program = self.program
        if program is not None:
            program.write(data)
        elif not self._dropping:
            self._dropping = True
            logger.warning("the broadcast program is not running: dropping client messages")

    @property
    def stdin_paused(self) -> bool:
        """Whether the program's stdin is full."""
        return self.program is not None and self.program.stdin_paused

    def stdin_drained(self) -> asyncio.Future[None]:
        """A future done once the program's stdin has room (at once if it is down)."""
        if self.program is not None:
            return self.program.stdin_drained()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    # Clients

    async def serve_websocket(self, ws: WebSocket) -> None:
        """Accept ``ws`` as a client of the shared program."""
        inbound = Inbound(ws, self, binary=self.options.binary)

        def gone(*_: object) -> None:
            self.clients.discard(ws)
            inbound.close()

        ws.on_close = gone
        try:
            await ws.accept()
        except (ConnectionClosed, LocalProtocolError):
            inbound.close()
            return
        self.clients.add(ws)
        inbound.ready()

    def last_event_id(self, header: str | None) -> int:
        """Where an event stream starts: after ``Last-Event-ID`` when it is one of
        this server's line numbers, else after the latest line."""
        if header is not None:
            header = header.strip()
            if header.isdigit() and int(header) <= self.line_number:
                return int(header)
        return self.line_number

    async def events(self, since: int) -> AsyncIterator[bytes]:
        """An event stream of the lines after line ``since`` (those still in the
        history first), then each new one, with heartbeats while idle."""
        subscriber = _Subscriber(self.options.client_buffer)
        for number, event in self._history:
            if number > since:
                subscriber.push(event)
        self._subscribers.add(subscriber)
        loop = asyncio.get_running_loop()
        try:
            while True:
                if subscriber.overflowed:
                    logger.warning(
                        "ending an event stream over %d bytes behind (--client-buffer)",
                        subscriber.limit,
                    )
                    return
                if subscriber.chunks:
                    data = b"".join(subscriber.chunks)
                    subscriber.chunks.clear()
                    subscriber.size = 0
                    yield data
                    continue
                if subscriber.ended:
                    return
                subscriber.waiter = loop.create_future()
                await wait_or_heartbeat(subscriber.waiter, self.options.sse_heartbeat)
                if not subscriber.chunks and not subscriber.ended:
                    yield HEARTBEAT
        finally:
            self._subscribers.discard(subscriber)
