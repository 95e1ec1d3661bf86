"""ASGI servers (longwire or uvicorn) run as subprocesses, for tests/asgi/test_frameworks.py.

Everything here is namespaced ``asgi_`` (the ASGI server helper's own
tests/asgi/test_asgi_*.py share this directory). A server is started with its
working directory in tests/asgi, so the apps import as ``apps.<module>`` (see
apps/__init__.py for why not ``tests.asgi.apps``), on a free 127.0.0.1 port;
it is ready when it accepts a TCP connection (at most ``ASGI_START_TIMEOUT``),
and stopped with SIGTERM to its process group, then SIGKILL, even when a test
failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

ASGI_DIR = Path(__file__).resolve().parent
ASGI_HOST = "127.0.0.1"
# uvicorn is the reference: the same tests run against both.
ASGI_SERVERS = ["longwire", "uvicorn"]
ASGI_START_TIMEOUT = 10.0
ASGI_STOP_TIMEOUT = 5.0


@dataclasses.dataclass
class AsgiServer:
    """A running server: ``kind`` ("longwire" or "uvicorn"), its process and port."""

    kind: str
    app: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"http://{ASGI_HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{ASGI_HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's stdout and stderr (for failure messages)."""
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int | None:
        """SIGTERM to the process group, SIGKILL after ``ASGI_STOP_TIMEOUT``; the exit status."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=ASGI_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=ASGI_STOP_TIMEOUT)
                return None  # had to be killed
        return self.process.returncode


def asgi_free_port() -> int:
    with socket.socket() as s:
        s.bind((ASGI_HOST, 0))
        return int(s.getsockname()[1])


def asgi_command(
    kind: str, app: str, port: int, *, factory: bool = False, root_path: str | None = None,
    forwarded_allow_ips: str | None = None,
) -> list[str]:
    """The command line serving ``app`` with ``kind``; the options spelled as each spells them.

    ``forwarded_allow_ips``: turn proxy headers on, trusting those addresses
    (``None``: the server's default, and the tests send no proxy headers then).
    """
    if kind == "longwire":
        command = [sys.executable, "-m", "longwire", "serve", app]
    elif kind == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", app]
    else:
        raise ValueError(kind)
    command += ["--host", ASGI_HOST, "--port", str(port)]
    if factory:
        command.append("--factory")
    if root_path is not None:
        command += ["--root-path", root_path]
    if forwarded_allow_ips is not None:
        command += ["--proxy-headers", "--forwarded-allow-ips", forwarded_allow_ips]
    return command


def asgi_wait_ready(server: AsgiServer) -> None:
    deadline = time.monotonic() + ASGI_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"{server.kind} serving {server.app} exited with status "
                f"{server.process.returncode} before accepting connections:\n{server.log_tail()}"
            )
        with contextlib.suppress(OSError), socket.create_connection(
            (ASGI_HOST, server.port), timeout=0.5
        ):
            return
        time.sleep(0.05)
    pytest.fail(
        f"{server.kind} serving {server.app} did not accept connections within "
        f"{ASGI_START_TIMEOUT:.0f} s:\n{server.log_tail()}"
    )


@contextlib.contextmanager
def asgi_running(
    kind: str, app: str, *, env: dict[str, str] | None = None, factory: bool = False,
    root_path: str | None = None, forwarded_allow_ips: str | None = None,
) -> Iterator[AsgiServer]:
    """Serve ``app`` ("apps.module:attribute") with ``kind`` until the block ends."""
    port = asgi_free_port()
    command = asgi_command(kind, app, port, factory=factory, root_path=root_path,
                           forwarded_allow_ips=forwarded_allow_ips)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, cwd=ASGI_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True,
    )
    server = AsgiServer(kind, app, port, process, log)
    try:
        asgi_wait_ready(server)
        yield server
    finally:
        server.stop()
        log.close()

