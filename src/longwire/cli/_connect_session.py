"""The asyncio side of ``longwire connect``: open the connection, then run the session.

A session is two tasks on one ``WebSocket``: the receiver writes each message
out until the connection is closed (and its queue drained); the sender turns
stdin into messages (piped) or into messages and commands (interactive), then
starts the closing handshake. The session ends when the receiver does, and the
exit status says how the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import sys
from typing import Any

from .._errors import ConnectionClosed, HandshakeError, LocalProtocolError
from ..aio import ReadyState, WebSocket, connect
from ..websocket import CloseCode
from ._common import fail
from ._connect_io import InputError, Lines, Output, StdinReader
from .connect import EXIT_CLEAN, EXIT_CLOSED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_LOST

__all__ = ["Session", "open_connection"]

logger = logging.getLogger("longwire.connect")

# A closing handshake that ended with one of these is a success (exit status 0).
# 1005: the server sent a Close frame without a code, which many do for a normal close.
CLEAN_CLOSE_CODES = frozenset({1000, 1001, 1005})

# RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
_MAX_PING_PAYLOAD = 125

_CLOSE_WORDS = {
    1005: "no code given",
    1006: "no closing handshake",
}

HELP = """\
commands:
  /ping [PAYLOAD]          send a ping; the pong's round-trip time is shown
  /close [CODE [REASON]]   close with CODE (default 1000) and REASON
  /help                    this list
  //text                   send "/text" (a line starting with one / is a command)
Ctrl+D or Ctrl+C closes with 1000; Ctrl+C again leaves without waiting."""


def _connect_error(exc: BaseException, timeout: float | None) -> str:
    """Why connecting failed, in one line."""
    if isinstance(exc, HandshakeError):
        return " ".join(exc.message.split())  # the body excerpt may span lines
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verification failed: {exc.verify_message} "
            "(trust its CA with --cafile FILE, or skip the check with --insecure)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name: {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError) and exc.errno is None:
        return f"no WebSocket handshake within {timeout:g} s (--connect-timeout)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc)


async def open_connection(client: connect[WebSocket], *, timeout: float | None) -> WebSocket | None:
    """Connect; on failure print the one-line error and return None.

    ``timeout`` is the ``open_timeout`` the client was given, for the message.
    """
    try:
        return await client
    except (OSError, HandshakeError) as exc:
        fail("connect", f"cannot connect to {client.url}: {_connect_error(exc, timeout)}")
        return None


def describe_close(code: int | None, reason: str) -> str:
    """``code 4000, reason 'bye'`` or ``code 1000 (normal closure)``."""
    if reason:
        return f"code {code}, reason {reason!r}"
    words = _CLOSE_WORDS.get(code or 0)
    if words is None and code is not None:
        with contextlib.suppress(ValueError):  # not a registered code
            words = CloseCode(code).name.lower().replace("_", " ")
    return f"code {code}" + (f" ({words})" if words else "")


class Session:
    """One connection driven by stdin and written to stdout.

    Args:
        ws: the open connection.
        url: the URL, for the messages.
        binary: send binary messages (``--binary``).
        wait: piped mode: seconds of quiet after stdin ends before closing; None:
            wait for the server to close.
        offered: subprotocols were offered (so "none chosen" is worth saying).
        json_logs: status lines are JSON log records (``--json-logs``).
    """

    def __init__(
        self,
        ws: WebSocket,
        *,
        url: str,
        binary: bool = False,
        wait: float | None = 1.0,
        offered: bool = False,
        json_logs: bool = False,
    ) -> None:
        self.ws = ws
        self.url = url
        self.binary = binary
        self.wait = wait
        self.offered = offered
        self.interactive = os.isatty(0)
        self.output = Output(
            interactive=self.interactive,
            binary=binary,
            prompt=self.interactive and os.isatty(1),
        )
        self._loop = asyncio.get_running_loop()
        self._last_received = self._loop.time()
        self._left: asyncio.Future[None] = self._loop.create_future()
        self._pings: set[asyncio.Task[None]] = set()
        self._status: int | None = None  # set when stdin could not be sent
        self._route_logs(json_logs)

    async def run(self) -> int:
        """Run until the connection is closed; the exit status."""
        signals = self._handle_signals()  # first: once "connected" shows, Ctrl+C closes
        self._announce()
        receiver = self._loop.create_task(self._receive())
        sender = self._loop.create_task(self._interact() if self.interactive else self._pipe())
        results: list[Any] = []
        try:
            waiting: set[asyncio.Future[Any]] = {receiver, sender, self._left}
            while not (receiver.done() or self._left.done()):
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if sender in done and not sender.cancelled() and sender.exception() is not None:
                    break
        finally:
            for sig in signals:
                self._loop.remove_signal_handler(sig)
            tasks = [sender, receiver, *self._pings]
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            if self.ws.ready_state is ReadyState.OPEN:  # only after a bug in a task
                self.ws.close()
            self.output.end()
            if self.interactive:
                self._discard_typeahead()
        for result in results:
            if isinstance(result, Exception):
                raise result  # a bug: its traceback says where
        if self._left.done():
            logger.warning("left without waiting for the closing handshake")
            return EXIT_INTERRUPTED
        status = self._closed()
        return self._status if self._status is not None else status

    # Output.

    def _route_logs(self, json_logs: bool) -> None:
        """Status lines: plain text on stderr, or JSON records with ``--json-logs``;
        on a terminal with a prompt, every log line goes above the input line.
        """
        stderr: Any = self.output.stream(sys.stderr) if self.output.prompt else sys.stderr
        if self.output.prompt:
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                    handler.setStream(stderr)
        for previous in logger.handlers[:]:  # from an earlier session in this process
            logger.removeHandler(previous)
        logger.propagate = True
        if not json_logs:
            handler = logging.StreamHandler(stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.propagate = False  # not in the timestamped format of the other loggers

    def _announce(self) -> None:
        ws = self.ws
        details = []
        if ws.subprotocol is not None:
            details.append(f"subprotocol: {ws.subprotocol}")
        elif self.offered:
            details.append("subprotocol: none chosen by the server")
        if ws.extensions:
            names = ", ".join(item.split(";")[0].strip() for item in ws.extensions.split(","))
            details.append(f"extensions: {names}")
        logger.info(
            "connected to %s%s",
            self.url,
            f" ({'; '.join(details)})" if details else "",
            extra={"url": self.url, "subprotocol": ws.subprotocol, "extensions": ws.extensions},
        )
        if self.interactive:
            self.output.status("type a message and Enter to send it; /help for commands")

    def _closed(self) -> int:
        ws = self.ws
        code, reason = ws.close_code, ws.close_reason
        if ws.was_clean:
            status = EXIT_CLEAN if code in CLEAN_CLOSE_CODES else EXIT_CLOSED
            what = "closed"
        else:
            status, what = EXIT_LOST, "connection lost"
        logger.log(
            logging.INFO if status == EXIT_CLEAN else logging.WARNING,
            "%s: %s",
            what,
            describe_close(code, reason),
            extra={"close_code": code, "close_reason": reason, "exit_status": status},
        )
        return status

    def _discard_typeahead(self) -> None:
        """Drop what was typed and not sent, so the shell does not run it."""
        with contextlib.suppress(ImportError, OSError):
            import termios  # noqa: PLC0415 - POSIX only

            termios.tcflush(0, termios.TCIFLUSH)

    # Signals: SIGINT (Ctrl+C) and SIGTERM start the closing handshake; a second one
    # leaves at once.

    def _handle_signals(self) -> list[signal.Signals]:
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._interrupted)
            except (NotImplementedError, RuntimeError):  # Windows; not the main thread
                continue
            installed.append(sig)
        return installed

    def _interrupted(self) -> None:
        if self.ws.ready_state is ReadyState.OPEN:
            self.ws.close()
            if self.interactive:
                self.output.status("closing (Ctrl+C again to leave at once)")
        elif not self._left.done():
            self._left.set_result(None)

    # Receiving.

    async def _receive(self) -> None:
        ws, output = self.ws, self.output
        async for message in ws:
            self._last_received = self._loop.time()
            output.message(message)
            if output.broken and ws.ready_state is ReadyState.OPEN:
                ws.close()  # nobody reads the messages any more

    # Sending: piped.

    async def _pipe(self) -> None:
        reader = StdinReader(0)
        try:
            if self.binary:
                while data := await reader.read():
                    await self.ws.send(data)
            else:
                lines = Lines(reader)
                while (line := await lines.readline()) is not None:
                    try:
                        text = line.decode()
                    except UnicodeDecodeError:
                        raise InputError(
                            f"line {lines.number} of stdin is not UTF-8 text "
                            "(use --binary to send bytes)"
                        ) from None
                    await self.ws.send(text)
        except ConnectionClosed:
            return  # the server closed first: the receiver reports it
        except InputError as exc:
            fail("connect", exc)
            self._status = EXIT_ERROR
            self.ws.close()
            return
        await self._linger()
        self.ws.close()

    async def _linger(self) -> None:
        """After stdin ends: wait until ``wait`` seconds pass without a message."""
        if self.wait is None:
            await self.ws.wait_closed()
            return
        start = self._loop.time()
        while (delay := max(start, self._last_received) + self.wait - self._loop.time()) > 0:
            await asyncio.sleep(delay)

    # Sending: interactive.

    async def _interact(self) -> None:
        lines = Lines(StdinReader(0))
        output = self.output
        while True:
            output.show_prompt()
            try:
                line = await lines.readline()
            except InputError as exc:
                output.status(f"error: {exc}")
                continue
            if line is None:  # Ctrl+D
                self.ws.close()
                return
            text = line.decode(errors="replace")
            if text.startswith("/") and not text.startswith("//"):
                if self._command(text):
                    continue
                return
            if text.startswith("//"):
                text = text[1:]
            try:
                await self.ws.send(text.encode() if self.binary else text)
            except ConnectionClosed:
                return

    def _command(self, line: str) -> bool:
        """Run a ``/command``; False once the connection is closing."""
        name, _, argument = line.partition(" ")
        output = self.output
        if name == "/ping":
            payload = argument.encode()
            if len(payload) > _MAX_PING_PAYLOAD:
                output.status(f"error: a ping payload is at most {_MAX_PING_PAYLOAD} bytes")
                return True
            task = self._loop.create_task(self._ping(payload))
            self._pings.add(task)
            task.add_done_callback(self._pings.discard)
        elif name == "/close":
            code_text, _, reason = argument.strip().partition(" ")
            try:
                code = int(code_text) if code_text else CloseCode.NORMAL_CLOSURE
            except ValueError:
                output.status(f"error: usage: /close [CODE [REASON]], not {line!r}")
                return True
            try:
                self.ws.close(code, reason.strip())
            except LocalProtocolError as exc:  # a code that may not be sent, a long reason
                output.status(f"error: {exc.message}")
                return True
            return False
        elif name == "/help":
            output.status(HELP)
        else:
            output.status(f"error: unknown command {name!r}: /help lists them; //text sends /text")
        return True

    async def _ping(self, payload: bytes) -> None:
        try:
            seconds = await self.ws.ping(payload)
        except ConnectionClosed:
            return
        self.output.status(f"pong in {seconds * 1000:.2f} ms")
