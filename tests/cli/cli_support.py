"""Run ``longwire`` commands as a user does: real subprocesses on real ports.

Every long-running command is started through ``Running``, which reads its
output with threads, waits for a line with a timeout, and is always killed in
``finally`` (the ``running`` context manager), so a failing test leaks nothing.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 30  # seconds: importing and binding on a loaded CI machine
EXIT_TIMEOUT = 30


class Running:
    """A ``python -m longwire COMMAND ...`` subprocess whose output is read by threads."""

    def __init__(
        self, *args: str, cwd: Path | None = None, stdin: int | None = subprocess.DEVNULL
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "longwire", *args],
            cwd=cwd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT) -> str:
        """The first output line containing ``text``; fails on timeout or early exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stdout + self.stderr:
                if text in line:
                    return line
            if self.proc.poll() is not None:
                self.wait()  # let the readers finish
                status = self.proc.returncode
                pytest.fail(f"process exited ({status}) before {text!r}: {self.output}")
            time.sleep(0.02)
        pytest.fail(f"no {text!r} within {timeout} s: {self.output}")

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        status = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return status

    @property
    def output(self) -> str:
        return "\n".join(["stdout:", *self.stdout, "stderr:", *self.stderr])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def running(
    *args: str, cwd: Path | None = None, ready: str | None = "listening on"
) -> Iterator[Running]:
    """Start ``longwire ARGS``, wait for the ``ready`` line, and kill it whatever happens."""
    process = Running(*args, cwd=cwd)
    try:
        if ready is not None:
            process.wait_for(ready)
        yield process
    finally:
        process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``longwire ARGS`` to completion (for commands expected to exit)."""
    return subprocess.run(
        [sys.executable, "-m", "longwire", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
