"""The terminal and stdin side of ``longwire connect``.

- ``StdinReader``: bytes from a file descriptor without blocking the event loop,
  whatever it is: a terminal, a pipe or socket (watched with ``add_reader``), or a
  file redirected from disk or ``/dev/null`` (which epoll refuses to watch, and
  whose reads never block: they run in the default executor).
- ``Lines``: those bytes cut into lines, with a bound on a line's length.
- ``Output``: where received messages and status lines go. On a terminal with a
  prompt, a line is inserted above the line being typed (save the cursor, open a
  line above, write, restore), so neither is garbled and nothing needs to know
  what was typed so far: the kernel's line editing keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import sys
from collections import deque
from typing import BinaryIO, TextIO

__all__ = [
    "MAX_LINE_SIZE",
    "READ_SIZE",
    "InputError",
    "Lines",
    "Output",
    "StdinReader",
    "describe_binary",
    "escape",
]

READ_SIZE = 64 * 1024
"""Bytes asked for per read of stdin: also the largest --binary message sent."""

MAX_LINE_SIZE = 16 * 1024 * 1024
"""Longest stdin line buffered while waiting for its newline (text mode).

Far above any server's message limit (1 MiB by default here and in websockets),
so only input that is not lines at all (a binary file without ``--binary``) hits it.
"""

HEX_SHOWN = 32
"""Bytes of a binary message shown in hex on a terminal before it is cut short."""

PROMPT = "> "

# Escape C0 and C1 control characters and DEL so a message cannot move the
# cursor, retitle the window or otherwise drive the terminal it is shown on.
_CONTROL_ESCAPES = str.maketrans(
    {i: repr(chr(i))[1:-1] for i in itertools.chain(range(32), range(127, 160))}
)

# ESC 7 (save cursor), LF, CUU 1, IL 1 (insert a line, pushing the input line
# down), the text, LF, ESC 8 (restore), CUD 1: the text lands above the input
# line, and the cursor is back where the user was typing. At the bottom of the
# screen the first LF scrolls and the final CUD is a no-op; the result is the same.
_ABOVE_INPUT = "\x1b7\n\x1b[A\x1b[L{}\n\x1b8\x1b[B"


class InputError(Exception):
    """Stdin cannot be sent as asked (a line too long, text that is not UTF-8)."""


def escape(text: str) -> str:
    """``text`` safe to show on a terminal: control characters as Python escapes."""
    return text.translate(_CONTROL_ESCAPES)


def describe_binary(data: bytes) -> str:
    """``[binary N bytes] 0a1b...``: a binary message as shown on a terminal."""
    shown = data[:HEX_SHOWN].hex()
    more = "..." if len(data) > HEX_SHOWN else ""
    unit = "byte" if len(data) == 1 else "bytes"
    return f"[binary {len(data)} {unit}] {shown}{more}".rstrip()


class StdinReader:
    """Reads a file descriptor from the event loop without blocking it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._pollable: bool | None = None  # known after the first read

    async def read(self) -> bytes:
        """Up to ``READ_SIZE`` bytes; ``b""`` at the end of input."""
        while True:
            if self._pollable is not False:
                ready = await self._readable()
                if not ready:
                    continue  # cannot be watched: read from the executor below
                try:
                    return os.read(self._fd, READ_SIZE)
                except BlockingIOError:
                    continue  # someone else read it first, or the fd is non-blocking
                except OSError:
                    return b""  # EIO: the terminal hung up; EBADF: stdin was closed
            try:
                return await self._loop.run_in_executor(None, os.read, self._fd, READ_SIZE)
            except OSError:
                return b""

    async def _readable(self) -> bool:
        """Wait until the fd has data (or EOF); False if it cannot be watched."""
        ready: asyncio.Future[None] = self._loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        try:
            self._loop.add_reader(self._fd, wake)
        except (OSError, ValueError, NotImplementedError):
            # A regular file or /dev/null (epoll: EPERM), or a loop without add_reader.
            self._pollable = False
            return False
        self._pollable = True
        try:
            await ready
        finally:
            self._loop.remove_reader(self._fd)
        return True


class Lines:
    """Lines of a ``StdinReader``, without their ``\\n`` (or ``\\r\\n``)."""

    def __init__(self, reader: StdinReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self._ready: deque[bytes] = deque()
        self._eof = False
        self.number = 0  # of the last line returned

    async def readline(self) -> bytes | None:
        """The next line; None at the end of input (a last line without ``\\n`` counts).

        Raises:
            InputError: a line is longer than ``MAX_LINE_SIZE``.
        """
        while not self._ready:
            if self._eof:
                return None
            data = await self._reader.read()
            if not data:
                self._eof = True
                if self._buffer:
                    self._ready.append(bytes(self._buffer))
                    self._buffer.clear()
                continue
            self._buffer += data
            if b"\n" in data:
                *lines, rest = self._buffer.split(b"\n")
                self._ready.extend(map(bytes, lines))
                self._buffer = bytearray(rest)
            if len(self._buffer) > MAX_LINE_SIZE:
                raise InputError(
                    f"line {self.number + len(self._ready) + 1} of stdin is over "
                    f"{MAX_LINE_SIZE} bytes (use --binary to send bytes as they come)"
                )
        self.number += 1
        line = self._ready.popleft()
        return line[:-1] if line.endswith(b"\r") else line


class Output:
    """Writes received messages to stdout and status lines to stderr.

    ``interactive``: messages are shown as ``< message`` (escaped, binary in hex);
    otherwise they are written as data. ``prompt``: stdout is the terminal the
    user types on, so a prompt is shown and lines go above the input line.
    """

    def __init__(
        self,
        *,
        interactive: bool,
        binary: bool,
        prompt: bool,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.interactive = interactive
        self.binary = binary
        self.prompt = prompt
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self._prompting = False
        self.broken = False  # stdout's reader went away (``| head -1``)

    def message(self, data: str | bytes) -> None:
        """Show or write one received message.

        A reader of stdout that went away (``BrokenPipeError``) sets ``broken``;
        later messages are dropped.
        """
        if self.broken:
            return
        try:
            if self.interactive:
                text = escape(data) if isinstance(data, str) else describe_binary(data)
                self._line(f"< {text}", self.stdout)
                return
            raw: BinaryIO = self.stdout.buffer
            if isinstance(data, str):
                raw.write(data.encode() + b"\n")
            elif self.binary:
                raw.write(data)
            else:
                raw.write(data.hex().encode() + b"\n")
            # Flush each message: `longwire connect ... | program` streams.
            raw.flush()
        except BrokenPipeError:
            self.broken = True
            # Python would report the failed flush again at exit: write nowhere instead.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stdout.fileno())
            os.close(devnull)

    def status(self, text: str) -> None:
        """Lines for the user on stderr (interactive feedback: /help, a pong)."""
        for line in text.splitlines():
            self._line(line, self.stderr)

    def show_prompt(self) -> None:
        if self.prompt:
            self.stdout.write(PROMPT)
            self.stdout.flush()
            self._prompting = True

    def end(self) -> None:
        """Clear the prompt for what follows the session (the close line, the shell)."""
        if self._prompting:
            self._prompting = False
            self.stdout.write("\r\x1b[K")
            self.stdout.flush()

    def _line(self, text: str, stream: TextIO) -> None:
        if self._prompting:
            stream.write(_ABOVE_INPUT.format(text))
        else:
            stream.write(text + "\n")
        stream.flush()

    def stream(self, stream: TextIO) -> io.TextIOBase:
        """A stream for a logging handler: its lines go through the same path."""
        return _LineStream(self, stream)


class _LineStream(io.TextIOBase):
    """A text stream whose complete lines are written with ``Output._line``."""

    def __init__(self, output: Output, stream: TextIO) -> None:
        self._output = output
        self._stream = stream
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._output._line(line, self._stream)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._stream.flush()
