"""A running program: stdin with flow control, stdout to its reader, stderr to the log, its end.

``Program`` is the ``asyncio.SubprocessProtocol`` of one child process (no
streams API: the pipes call it directly). What the program writes goes to an
``Output`` (the WebSocket session, the event stream or the broadcast hub),
which may pause it; what clients send goes in through ``write``, which says
when the pipe is full. ``Processes`` counts the programs of an app (the
process limit) and ends them all at shutdown.

Ending a program (``terminate``) is the same sequence wherever it comes from (a
client leaving, the server shutting down): close its stdin, wait ``kill_grace``,
SIGTERM, wait ``kill_grace``, SIGKILL. Programs run in their own session, so the
signals reach the whole process group (a shell pipeline, say) and a terminal's
Ctrl+C reaches only the server, which then ends them this way. Every program is
waited for: the transport reaps it, so no zombie is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from typing import Protocol, cast

from ._lines import LineBuffer
from ._spawn import _WritePipe, spawn

__all__ = ["STDIN_HIGH_WATER", "Output", "Processes", "Program", "describe_exit"]

logger = logging.getLogger("longwire.exec")

STDIN_HIGH_WATER = 64 * 1024
"""Bytes waiting for a program to read its stdin above which the clients' messages
stop being read (the WebSocket then stops reading its socket)."""


def describe_exit(returncode: int) -> str:
    """``"exit status 3"``, or ``"killed by SIGTERM"`` for a negative return code."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name}"


class Output(Protocol):
    """What receives a program's output."""

    def program_output(self, messages: list[bytes]) -> None:
        """Complete stdout lines (line mode, terminators removed) or raw chunks (binary)."""

    def program_finished(self, program: Program) -> None:
        """The program has exited and its stdout is at its end (or it was terminated)."""


class Program(asyncio.SubprocessProtocol):
    """One child process and its pipes (created by ``Processes.start``).

    Attributes:
        pid: the process id, once started.
        returncode: the exit status once it has exited (negative: killed by that signal).
        finished: a future done (with ``returncode``) once the process is reaped
            and its pipes are closed.
        terminated: whether ``terminate`` was called (the output is then discarded).
    """

    def __init__(
        self,
        output: Output,
        *,
        binary: bool,
        max_line_size: int,
        kill_grace: float,
        label: str = "",
    ) -> None:
        self.output = output
        self.label = label
        self.pid: int | None = None
        self.returncode: int | None = None
        self.terminated = False
        self._loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[int] = self._loop.create_future()
        self._kill_grace = kill_grace
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._stdout: asyncio.ReadTransport | None = None
        self._lines = None if binary else LineBuffer(max_line_size)
        self._stderr = LineBuffer(max_line_size)
        self._stdout_open = True
        self._stderr_open = True
        self._output_ended = False  # program_finished was called
        self._stdin_paused = False
        self._stdin_waiter: asyncio.Future[None] | None = None
        self._output_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._done = False

    def __repr__(self) -> str:
        return f"<Program pid={self.pid} {self.label}>"

    # asyncio.SubprocessProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Casts, not isinstance: uvloop's transports do not subclass asyncio's.
        self._transport = process = cast(asyncio.SubprocessTransport, transport)
        self.pid = process.get_pid()
        logger.debug("pid %s started: %s", self.pid, self.label, extra={"pid": self.pid})
        stdin = cast("asyncio.WriteTransport | None", process.get_pipe_transport(0))
        if stdin is not None and not stdin.is_closing():
            try:
                stdin.set_write_buffer_limits(high=STDIN_HIGH_WATER)
            except RuntimeError:  # uvloop: the program already closed its end
                stdin = None
            self._stdin = stdin
            if type(stdin) is _WritePipe:
                # It drops what comes once closed: clients may call it directly,
                # a frame less for every message.
                self.write = stdin.write  # type: ignore[method-assign]
        stdout = cast("asyncio.ReadTransport | None", process.get_pipe_transport(1))
        if stdout is not None:
            self._stdout = stdout
            if self._output_paused:
                stdout.pause_reading()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if self._done:
            return  # queued before the transport was closed
        assert isinstance(data, bytes)
        if fd == 1:
            if self.terminated:
                return
            lines = self._lines
            if lines is None:
                self.output.program_output([data])
                return
            split_before = lines.split_lines
            messages = lines.feed(data)
            if lines.split_lines and not split_before:
                logger.warning(
                    "pid %s: a stdout line is over %d bytes: sent in pieces",
                    self.pid,
                    lines.max_line_size,
                    extra={"pid": self.pid},
                )
            if messages:
                self.output.program_output(messages)
        else:
            for line in self._stderr.feed(data):
                self._log_stderr(line)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 0:
            self._stdin = None
            self._wake_stdin_writer()
        elif fd == 1:
            if self._lines is not None and not self._done and not self.terminated:
                last = self._lines.flush()
                if last is not None:
                    self.output.program_output([last])
            self._stdout_open = False
            self._stdout = None
            self._check_end()
        elif fd == 2:
            last = self._stderr.flush()
            if last is not None:
                self._log_stderr(last)
            self._stderr_open = False
            self._check_end()

    def process_exited(self) -> None:
        assert self._transport is not None
        returncode = self._transport.get_returncode()
        assert returncode is not None
        self.returncode = returncode
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.terminated:
            logger.debug(
                "pid %s ended: %s", self.pid, describe_exit(returncode), extra={"pid": self.pid}
            )
            # Nobody reads the output any more: don't wait for the end of stdout,
            # which a leftover child of the program could hold open.
            self._finish()
            return
        level = logging.DEBUG if returncode == 0 else logging.INFO
        logger.log(
            level,
            "pid %s exited: %s",
            self.pid,
            describe_exit(returncode),
            extra={"pid": self.pid, "returncode": returncode},
        )
        self._check_end()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stdout_open = self._stderr_open = False
        self._check_end()

    def pause_writing(self) -> None:
        self._stdin_paused = True

    def resume_writing(self) -> None:
        self._stdin_paused = False
        self._wake_stdin_writer()

    # Input

    def write(self, data: bytes) -> None:
        """Write ``data`` to the program's stdin (dropped once stdin is closed)."""
        stdin = self._stdin
        if stdin is not None and not stdin.is_closing():
            try:
                stdin.write(data)
            except RuntimeError:  # uvloop: the program closed its end in the meantime
                self._stdin = None

    @property
    def stdin_paused(self) -> bool:
        """Whether stdin holds more than ``STDIN_HIGH_WATER`` unread bytes."""
        return self._stdin_paused and self._stdin is not None

    def stdin_drained(self) -> asyncio.Future[None]:
        """A future done once stdin has room again (or is closed)."""
        waiter = self._stdin_waiter
        if waiter is None:
            waiter = self._stdin_waiter = self._loop.create_future()
            if not self.stdin_paused:
                waiter.set_result(None)
                self._stdin_waiter = None
        return waiter

    def _wake_stdin_writer(self) -> None:
        waiter, self._stdin_waiter = self._stdin_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close_stdin(self) -> None:
        """Close stdin (the program reads end of file once the buffered data is read)."""
        stdin = self._stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()

    # Output flow control

    def pause_output(self) -> None:
        """Stop reading stdout (the program blocks once the pipe is full)."""
        if not self._output_paused:
            self._output_paused = True
            if self._stdout is not None and not self.terminated:
                self._stdout.pause_reading()

    def resume_output(self) -> None:
        """Read stdout again."""
        if self._output_paused:
            self._output_paused = False
            if self._stdout is not None:
                self._stdout.resume_reading()

    # Ending

    def terminate(self) -> None:
        """End the program: close stdin; after ``kill_grace`` SIGTERM, after as long
        again SIGKILL. Its output is discarded from now on. Idempotent."""
        if self.terminated or self._done:
            return
        self.terminated = True
        # A program blocked writing to a full stdout would never see its stdin end.
        if self._output_paused:
            self.resume_output()
        if self.returncode is not None:
            self._finish()
            return
        self.close_stdin()
        self._timer = self._loop.call_later(self._kill_grace, self._escalate, signal.SIGTERM)

    def _escalate(self, signum: signal.Signals) -> None:
        self._timer = None
        if self.returncode is not None:
            return
        if signum == signal.SIGKILL:
            logger.warning(
                "pid %s did not exit %.1fs after SIGTERM: killing it",
                self.pid,
                self._kill_grace,
                extra={"pid": self.pid},
            )
        else:
            logger.debug("pid %s: stdin closed %.1fs ago: SIGTERM", self.pid, self._kill_grace)
            self._timer = self._loop.call_later(self._kill_grace, self._escalate, signal.SIGKILL)
        self._signal(signum)

    def _signal(self, signum: signal.Signals) -> None:
        transport = self._transport
        if transport is None or transport.get_returncode() is not None or self.pid is None:
            return  # reaped: the pid may already belong to another process
        try:
            # The program leads its own process group (start_new_session).
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:  # a member runs as another user: signal the leader only
            with contextlib.suppress(ProcessLookupError):
                transport.send_signal(signum)

    def _check_end(self) -> None:
        """Exited, stdout at its end: the output has ended. Then, once stderr is at
        its end too (every line logged), close the pipes."""
        if self.returncode is None or self._stdout_open or self._done:
            return
        if not self._output_ended:
            self._output_ended = True
            self.output.program_finished(self)
        if not self._stderr_open:
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._wake_stdin_writer()
        transport = self._transport
        if transport is not None:
            transport.close()  # the process has exited: this only closes the pipes
        returncode = self.returncode
        assert returncode is not None
        try:
            if not self._output_ended:
                self._output_ended = True
                self.output.program_finished(self)
        finally:
            if not self.finished.done():
                self.finished.set_result(returncode)

    def _log_stderr(self, line: bytes) -> None:
        logger.warning(
            "pid %s: %s",
            self.pid,
            line.decode("utf-8", "replace"),
            extra={"pid": self.pid, "stream": "stderr"},
        )


class Processes:
    """The programs of one app: the limit on how many run, and ending them all.

    Args:
        limit: programs allowed to run at once (counted until reaped); ``None``
            for no limit.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.running: set[Program] = set()
        self.closing = False
        self._reserved = 0

    def __len__(self) -> int:
        return len(self.running) + self._reserved

    def reserve(self) -> bool:
        """Take a place for a program about to start; ``False`` at the limit."""
        if self.closing or (self.limit is not None and len(self) >= self.limit):
            return False
        self._reserved += 1
        return True

    async def start(
        self,
        program: Program,
        command: Sequence[str],
        *,
        env: dict[str, str],
        stdin: bool = True,
        reserved: bool = True,
    ) -> None:
        """Start ``command`` as ``program`` (using the place ``reserve`` took, if ``reserved``).

        Args:
            stdin: a pipe for stdin; ``False`` gives it ``/dev/null`` (end of file).

        Raises:
            OSError: the program could not be started.
        """
        try:
            await spawn(program, command, env=env, stdin=stdin)
        finally:
            if reserved:
                self._reserved -= 1
        self.running.add(program)
        program.finished.add_done_callback(lambda _: self.running.discard(program))
        if self.closing:  # shutdown began while it was starting: aclose() missed it
            program.terminate()

    async def aclose(self, timeout: float) -> None:
        """Terminate every program and wait (up to ``timeout`` seconds) until all are reaped."""
        self.closing = True
        programs = list(self.running)
        for program in programs:
            program.terminate()
        if programs:
            _, pending = await asyncio.wait([p.finished for p in programs], timeout=timeout)
            if pending:
                logger.error("%d programs still running after SIGKILL", len(pending))
