"""A real ``redis-server`` for the tests: a free loopback port, no persistence.

::

    with RedisServer() as server:       # started, answers PING
        broker = RedisBroker(server.url)
        server.restart()                # same port, data wiped (an outage)

``redis-server`` is the Debian package that ``scripts/system-deps.sh`` installs;
``require_redis_server()`` skips the calling test when it is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["RedisServer", "require_redis_server"]

# Seconds to wait for a started server to answer PING, or a stopped one to exit.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def require_redis_server() -> str:
    """The path of ``redis-server``; skips the test (or module) when it is not installed."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server is not installed (scripts/system-deps.sh installs it)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1``.

    Args:
        port: the port to listen on; None picks a free one (kept across restarts).
        executable: the ``redis-server`` to run.
    """

    def __init__(self, port: int | None = None, *, executable: str = "redis-server") -> None:
        self.port = port
        self._executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="lw-redis-")

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        if self.port is None:
            raise RuntimeError("the server was never started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        if self.running:
            return self
        chosen = self.port is None
        for _ in range(3 if chosen else 1):  # a picked port may be taken meanwhile
            if chosen:
                self.port = _free_port()
            if self._spawn():
                return self
        log = Path(self._dir.name, "redis.log").read_text(errors="replace")
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log[-2000:]}")

    def _spawn(self) -> bool:
        args = [
            self._executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir.name,
            "--logfile", "redis.log",
            "--daemonize", "no",
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            assert self.port is not None
            if _pings(self.port):
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); its data is gone. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port (with no data)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        with contextlib.suppress(OSError):
            self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
