"""Between clients and programs: a WebSocket's messages into stdin, stdout out to it or
to an event stream, each way with flow control and nothing dropped.

The fast path is callbacks only, no task per connection: ``ws.on_message`` writes
each message to stdin as the frame is parsed, and the program's ``pipe_data_received``
sends each line as it is read. Flow control:

- client too slow: ``ws.send`` returns a future while the socket's write buffer is
  over its limit; stdout reading is paused until it completes, so the program
  blocks on a full pipe instead of memory growing;
- program too slow to read stdin: past ``STDIN_HIGH_WATER`` the session turns to
  the WebSocket's coroutine style (``on_message = None``): messages then wait in
  its bounded queue, which pauses reading the socket, and a task moves them on
  as stdin drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .._errors import ConnectionClosed, LocalProtocolError
from ..aio import ReadyState, WebSocket
from ..sse import HEARTBEAT, encode_event
from ._process import Processes, Program, describe_exit

if TYPE_CHECKING:
    from ._options import ExecOptions

__all__ = ["Inbound", "StdinTarget", "WebSocketSession", "event_stream", "wait_or_heartbeat"]

logger = logging.getLogger("longwire.exec")

_OPEN = ReadyState.OPEN
# Encoded events held for an event stream before the program's stdout is paused.
_SSE_PAUSE_AT = 64 * 1024


class StdinTarget(Protocol):
    """Where client messages go: a ``Program``, or the broadcast hub (its current one)."""

    def write(self, data: bytes) -> None: ...

    @property
    def stdin_paused(self) -> bool: ...

    def stdin_drained(self) -> asyncio.Future[None]: ...


def encoder(binary: bool) -> Callable[[str | bytes], bytes]:
    """How a client message becomes stdin bytes: a line (LF appended), or raw in binary mode."""
    if binary:
        return lambda data: data.encode() if isinstance(data, str) else bytes(data)
    return lambda data: (data.encode() if isinstance(data, str) else bytes(data)) + b"\n"


class Inbound:
    """One WebSocket's messages into ``target``'s stdin.

    Installs itself as ``ws.on_message``; ``ready()`` (once the handshake is
    accepted) allows the switch to queueing when stdin is full.
    """

    __slots__ = ("_encode", "_ready", "_task", "target", "ws")

    def __init__(self, ws: WebSocket, target: StdinTarget, *, binary: bool) -> None:
        self.ws = ws
        self.target = target
        self._encode = encoder(binary)
        self._ready = False
        self._task: asyncio.Task[None] | None = None
        ws.on_message = self.message if binary else self.line

    def ready(self) -> None:
        """The handshake is accepted: from now on stdin's flow control applies."""
        self._ready = True
        if self.target.stdin_paused:
            self._queue_messages()

    def message(self, data: str | bytes) -> None:
        """``ws.on_message`` in binary mode: write the message to stdin as it is."""
        target = self.target
        target.write(self._encode(data))
        if target.stdin_paused and self._ready and self._task is None:
            self._queue_messages()

    def line(self, data: str | bytes) -> None:
        """``ws.on_message`` in line mode: write the message and a LF to stdin."""
        target = self.target
        target.write((data.encode() if isinstance(data, str) else data) + b"\n")
        if target.stdin_paused and self._ready and self._task is None:
            self._queue_messages()

    def _queue_messages(self) -> None:
        # The messages after this one wait in the WebSocket's queue, which pauses
        # the socket at max_queue; the task hands them over as stdin drains.
        self.ws.on_message = None
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        target = self.target
        encode = self._encode
        await target.stdin_drained()
        async for data in self.ws:
            target.write(encode(data))
            if target.stdin_paused:
                await target.stdin_drained()

    def close(self) -> None:
        """Stop (the connection is closed, or the program gone)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()


class WebSocketSession:
    """One WebSocket connection and the program it started (per-connection mode).

    It is the program's ``Output``: lines become text messages (invalid UTF-8
    replaced by U+FFFD: a text message must be UTF-8), chunks binary ones; the
    program's end closes the connection with 1000 (exit status 0) or 1011
    (anything else), after every line before it.
    """

    __slots__ = ("_binary", "_early", "_ended_early", "_waiting", "inbound", "program", "ws")

    def __init__(self, ws: WebSocket, *, binary: bool) -> None:
        self.ws = ws
        self.program: Program | None = None
        self.inbound: Inbound | None = None
        self._binary = binary
        # Output from before the handshake is accepted, sent once it is.
        self._early: list[bytes] | None = []
        self._ended_early = False
        self._waiting = False  # for the client to drain its write buffer

    def program_output(self, messages: list[bytes]) -> None:
        if self._early is not None:
            self._early.extend(messages)
            assert self.program is not None
            self.program.pause_output()
            return
        ws = self.ws
        if ws.ready_state is not _OPEN:
            return  # closing: the program is being ended
        if self._binary:
            waiter = ws.send_all(messages)
        else:
            waiter = ws.send_all([message.decode("utf-8", "replace") for message in messages])
        if not self._waiting and isinstance(waiter, asyncio.Future):
            # Over the write limit: stop reading stdout until the client catches up.
            self._waiting = True
            assert self.program is not None
            self.program.pause_output()
            waiter.add_done_callback(self._drained)

    def _drained(self, _: object) -> None:
        self._waiting = False
        if self.program is not None and self._early is None and self.ws.ready_state is _OPEN:
            self.program.resume_output()

    def program_finished(self, program: Program) -> None:
        if self._early is not None:
            self._ended_early = True
            return
        if self.inbound is not None:
            self.inbound.close()
        ws = self.ws
        if ws.ready_state is _OPEN and not program.terminated:
            returncode = program.returncode
            assert returncode is not None
            ws.close(1000 if returncode == 0 else 1011, describe_exit(returncode))

    def opened(self) -> None:
        """The handshake is accepted: send the early output and let the rest flow."""
        early, self._early = self._early, None
        program = self.program
        assert program is not None
        if self.inbound is not None:
            self.inbound.ready()
        if early:
            self.program_output(early)
        if not self._waiting:
            program.resume_output()
        if self._ended_early:
            self.program_finished(program)

    def client_gone(self, *_: object) -> None:
        """``ws.on_close``, or the handshake failed: end the program."""
        if self.inbound is not None:
            self.inbound.close()
        if self.program is not None:
            self.program.terminate()


async def run_websocket(
    ws: WebSocket,
    command: Sequence[str],
    options: ExecOptions,
    processes: Processes,
    env: dict[str, str],
) -> None:
    """Per-connection mode: start the program for ``ws``, accept, and let callbacks run it."""
    session = WebSocketSession(ws, binary=options.binary)
    program = Program(
        session,
        binary=options.binary,
        max_line_size=options.max_line_size,
        kill_grace=options.kill_grace,
        label=_label(command, ws.remote_address),
    )
    session.program = program
    try:
        await processes.start(program, command, env=env)
    except OSError as exc:
        logger.error("cannot start %s: %s", command[0], exc)
        with contextlib.suppress(LocalProtocolError):  # shutdown may have answered already
            await ws.reject(500, "cannot start the program\n")
        return
    # Set before accepting: frames that came with the handshake are parsed as it
    # is accepted, and go straight to stdin.
    session.inbound = Inbound(ws, program, binary=options.binary)
    ws.on_close = session.client_gone
    try:
        await ws.accept()
    except (ConnectionClosed, LocalProtocolError):
        # The client left during the handshake, or shutdown refused it meanwhile.
        session.client_gone()
        return
    session.opened()


def _label(command: Sequence[str], client: tuple[str, int] | None) -> str:
    peer = f" for {client[0]}:{client[1]}" if client else ""
    return f"{command[0]}{peer}"


async def wait_or_heartbeat(waiter: asyncio.Future[None], interval: float) -> None:
    """Wait for ``waiter``, for ``interval`` seconds at most (it is then left pending)."""
    loop = asyncio.get_running_loop()
    timer = loop.call_later(interval, _settle, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _EventSink:
    """A program's output as encoded events, for one event stream (per-connection mode)."""

    __slots__ = ("chunks", "ended", "program", "size", "waiter")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.ended = False
        self.program: Program | None = None
        self.waiter: asyncio.Future[None] | None = None

    def program_output(self, messages: list[bytes]) -> None:
        for message in messages:
            event = encode_event(message.decode("utf-8", "replace"))
            self.chunks.append(event)
            self.size += len(event)
        if self.size > _SSE_PAUSE_AT and self.program is not None:
            self.program.pause_output()
        self._wake()

    def program_finished(self, program: Program) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def event_stream(
    command: Sequence[str],
    options: ExecOptions,
    processes: Processes,
    env: dict[str, str],
    client: tuple[str, int] | None,
) -> AsyncIterator[bytes]:
    """Per-connection mode's event stream: a program of its own (stdin at end of file),
    one ``message`` event per line, then an ``exit`` event (data: ``exit status 0``,
    ``killed by SIGTERM``...) and the end of the response.

    The program starts on the first iteration, so a response the server never
    sends starts nothing; it is ended when the stream is closed (the client left).
    """
    sink = _EventSink()
    program: Program | None = None
    loop = asyncio.get_running_loop()
    try:
        if not processes.reserve():
            yield encode_event("too many processes", event="error")
            return
        program = sink.program = Program(
            sink,
            binary=False,
            max_line_size=options.max_line_size,
            kill_grace=options.kill_grace,
            label=_label(command, client),
        )
        try:
            await processes.start(program, command, env=env, stdin=False)
        except OSError as exc:
            logger.error("cannot start %s: %s", command[0], exc)
            yield encode_event("cannot start the program", event="error")
            return
        while True:
            if sink.chunks:
                data = b"".join(sink.chunks)
                sink.chunks.clear()
                sink.size = 0
                program.resume_output()
                yield data
            elif sink.ended:
                assert program.returncode is not None
                yield encode_event(describe_exit(program.returncode), event="exit")
                return
            else:
                sink.waiter = loop.create_future()
                await wait_or_heartbeat(sink.waiter, options.sse_heartbeat)
                if not sink.chunks and not sink.ended:
                    yield HEARTBEAT
    finally:
        if program is not None:
            program.terminate()
