"""Start a program fast: ``posix_spawn``, its pipes watched directly, its exit through a pidfd.

``loop.subprocess_exec`` works everywhere but costs: uvloop's libuv forks the
whole server process (page tables and all: milliseconds for a big one), the
default loop on Python 3.11 waits for each child in a thread of its own, and
both wrap each pipe in a transport that takes a loop iteration to set up. Here,
on Linux:

- the child is started with ``os.posix_spawn`` (a vfork-style clone: nothing of
  the parent is copied);
- its three pipes are plain non-blocking file descriptors that the loop watches
  (``add_reader``, and ``add_writer`` only while stdin has a backlog): the whole
  start is synchronous, so a WebSocket handler that starts a program needs no
  task of its own;
- its exit is seen through a pidfd (Linux 5.3), then it is reaped with ``waitpid``.

``SpawnedProcess`` makes the same ``SubprocessProtocol`` calls as the loop's own
transports (``connection_made``, ``pipe_data_received``, ``pipe_connection_lost``,
``process_exited``, ``connection_lost``; ``pause_writing``/``resume_writing`` for
stdin), so ``Program`` does not know which kind it runs on. Where pidfds or
``posix_spawn`` are missing, ``spawn`` uses ``loop.subprocess_exec``.

The child gets its own session (``setsid``: ``Program.terminate`` signals its
process group), SIGPIPE and SIGXFSZ back to their defaults (Python ignores them,
and ignored signals stay ignored across exec, which would leave ``cat`` writing
to a closed pipe forever), an empty signal mask, and only the file descriptors
0, 1 and 2 (everything else the server opens is close-on-exec).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["READ_SIZE", "SpawnedProcess", "spawn"]

READ_SIZE = 64 * 1024
"""The most read from a program's stdout or stderr at once: a pipe's capacity. Not
more: ``os.read`` allocates this much first, and above glibc's mmap threshold (128
KiB) every read would map and unmap memory (ten times the cost of a small read)."""

# Signals Python sets to "ignore" at startup (as subprocess's restore_signals resets).
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
_DEFAULT_HIGH_WATER = 64 * 1024
# Whether the fast path may be tried (until it finds the system lacks something).
_support = {"fast": hasattr(os, "posix_spawn") and hasattr(os, "pidfd_open")}


class _ReadPipe(asyncio.ReadTransport):
    """The read end of the child's stdout or stderr, watched with ``add_reader``."""

    def __init__(self, process: SpawnedProcess, fd: int, target: int) -> None:
        super().__init__()
        self._process = process
        self._loop = process._loop
        self._fd = fd
        self._target = target  # 1 or 2: what the protocol calls it
        self._deliver = process._protocol.pipe_data_received
        self._closed = False
        self._reading = True
        self.disconnected = False
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if data:
            self._deliver(self._target, data)
        else:
            self._lost(None)

    def _lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._close_fd()
        self._process._pipe_lost(self._target, exc)

    def _close_fd(self) -> None:
        self._closed = True
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)
        os.close(self._fd)

    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        if self._reading and not self._closed:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._readable)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._close_fd()
            self._loop.call_soon(self._process._pipe_lost, self._target, None)


class _WritePipe(asyncio.WriteTransport):
    """The write end of the child's stdin: written at once, buffered only when full.

    Over the high-water mark the protocol's ``pause_writing`` is called, and
    ``resume_writing`` once the backlog is down to the low-water mark.
    """

    def __init__(self, process: SpawnedProcess, fd: int) -> None:
        super().__init__()
        self._process = process
        self._loop = process._loop
        self._fd = fd
        self._buffer = bytearray()
        self._high = _DEFAULT_HIGH_WATER
        self._low = _DEFAULT_HIGH_WATER // 4
        self._paused = False
        self._closing = False
        self._closed = False
        self.disconnected = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._closed or not data:
            return
        if not self._buffer:
            try:
                written = os.write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:  # EPIPE: the program closed its stdin (or exited)
                self._lost(exc)
                return
            if written == len(data):
                return
            data = memoryview(data)[written:]
            self._loop.add_writer(self._fd, self._writable)
        self._buffer += data
        if not self._paused and len(self._buffer) > self._high:
            self._paused = True
            self._process._protocol.pause_writing()

    def _writable(self) -> None:
        try:
            written = os.write(self._fd, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._buffer[:written]
        if not self._buffer:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._close_fd()
                self._process._pipe_lost(0, None)
                return
        if self._paused and len(self._buffer) <= self._low:
            self._paused = False
            self._process._protocol.resume_writing()

    def _lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        if self._buffer:
            self._loop.remove_writer(self._fd)
            self._buffer.clear()
        self._close_fd()
        self._process._pipe_lost(0, exc)

    def _close_fd(self) -> None:
        self._closed = True
        os.close(self._fd)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing or self._closed

    def close(self) -> None:
        """Close once the backlog is written (the program then reads end of file)."""
        if self._closing or self._closed:
            return
        self._closing = True
        if not self._buffer:
            self._close_fd()
            self._loop.call_soon(self._process._pipe_lost, 0, None)

    def abort(self) -> None:
        if not self._closed:
            self._lost(None)


class SpawnedProcess(asyncio.SubprocessTransport):
    """A child started with ``posix_spawn``, its pipes watched directly, reaped through its pidfd.

    Made by ``spawn``; ``connection_made`` is called before it returns.
    """

    def __init__(
        self,
        protocol: asyncio.SubprocessProtocol,
        pid: int,
        pidfd: int,
        *,
        stdin: int | None,
        stdout: int,
        stderr: int,
    ) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self._pid = pid
        self._pidfd: int | None = pidfd
        self._returncode: int | None = None
        self._closed = False
        self._finished = False
        self._loop.add_reader(pidfd, self._pidfd_readable)
        self._pipes: dict[int, _ReadPipe | _WritePipe] = {}
        if stdin is not None:
            self._pipes[0] = _WritePipe(self, stdin)
        self._pipes[1] = _ReadPipe(self, stdout, 1)
        self._pipes[2] = _ReadPipe(self, stderr, 2)

    def __repr__(self) -> str:
        return f"<SpawnedProcess pid={self._pid} returncode={self._returncode}>"

    def _pipe_lost(self, fd: int, exc: Exception | None) -> None:
        pipe = self._pipes[fd]
        if pipe.disconnected:
            return
        pipe.disconnected = True
        self._protocol.pipe_connection_lost(fd, exc)
        self._try_finish()

    def _pidfd_readable(self) -> None:
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            pid, status = self._pid, 255 << 8
        if pid == 0:
            return  # not yet (a spurious wake-up)
        self._close_pidfd()
        self._returncode = os.waitstatus_to_exitcode(status)
        self._protocol.process_exited()
        self._try_finish()

    def _close_pidfd(self) -> None:
        pidfd, self._pidfd = self._pidfd, None
        if pidfd is not None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)

    def _try_finish(self) -> None:
        if self._finished or self._returncode is None:
            return
        if all(pipe.disconnected for pipe in self._pipes.values()):
            self._finished = True
            self._protocol.connection_lost(None)

    # asyncio.SubprocessTransport

    def get_pid(self) -> int:
        return self._pid

    def get_returncode(self) -> int | None:
        return self._returncode

    def get_pipe_transport(self, fd: int) -> Any:
        return self._pipes.get(fd)

    def send_signal(self, signal: int) -> None:
        if self._returncode is not None:
            raise ProcessLookupError(self._pid)
        os.kill(self._pid, signal)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the pipes; a child still running is killed (and still reaped)."""
        if self._closed:
            return
        self._closed = True
        for pipe in self._pipes.values():
            if isinstance(pipe, _WritePipe):
                pipe.abort()  # the program is gone: unwritten input is of no use
            else:
                pipe.close()
        if self._returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)


def _spawn_fast(
    protocol: asyncio.SubprocessProtocol, argv: Sequence[str], env: dict[str, str], stdin: bool
) -> SpawnedProcess:
    parent: list[int] = []  # our ends: stdin's write end (if a pipe), stdout's, stderr's
    child: list[int] = []  # what becomes the child's 0, 1 and 2
    try:
        if stdin:
            read_end, write_end = os.pipe()
            child.append(read_end)
            parent.append(write_end)
        else:
            child.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        for _ in (1, 2):
            read_end, write_end = os.pipe()
            parent.append(read_end)
            child.append(write_end)
        # os.pipe() makes close-on-exec descriptors; dup2 onto 0, 1 and 2 clears
        # the flag on the copies the child keeps.
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(child)],
            setsid=True,
            setsigdef=_DEFAULT_SIGNALS,
            setsigmask=(),
        )
    except BaseException:
        for fd in parent:
            os.close(fd)
        raise
    finally:
        for fd in child:
            os.close(fd)
    try:
        pidfd = os.pidfd_open(pid)
    except BaseException:
        for fd in parent:
            os.close(fd)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    for fd in parent:
        os.set_blocking(fd, False)
    stdin_fd = parent.pop(0) if stdin else None
    out, err = parent
    process = SpawnedProcess(protocol, pid, pidfd, stdin=stdin_fd, stdout=out, stderr=err)
    try:
        protocol.connection_made(process)
    except BaseException:
        process.close()  # killed, and still reaped through its pidfd
        raise
    return process


async def spawn(
    protocol: asyncio.SubprocessProtocol,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    stdin: bool = True,
) -> asyncio.SubprocessTransport:
    """Start ``argv`` (``argv[0]`` a path) for ``protocol``; return its transport.

    On Linux this completes without suspending (see the module documentation).

    Args:
        stdin: a pipe for stdin; ``False`` gives the program ``/dev/null``.

    Raises:
        OSError: the program could not be started.
    """
    if _support["fast"]:
        try:
            return _spawn_fast(protocol, argv, env, stdin)
        except NotImplementedError:  # posix_spawn without setsid (old libc)
            _support["fast"] = False
        except OSError as exc:
            if exc.errno != errno.ENOSYS:  # pidfd_open on a kernel before 5.3
                raise
            _support["fast"] = False
    factory: Callable[[], asyncio.SubprocessProtocol] = lambda: protocol  # noqa: E731
    transport, _ = await asyncio.get_running_loop().subprocess_exec(
        factory,
        *argv,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    return transport
