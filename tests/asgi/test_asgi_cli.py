"""``longwire serve`` with ASGI applications, run as a user runs it: real subprocesses, real ports.

Every server is started through ``Served``, which reads its output with a
thread, waits for a line with a timeout, and is always stopped (SIGTERM, then
SIGKILL) in ``finally``, so a failing test leaks no process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0

SCOPE_APP = """
import json

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    fields = {k: scope[k] for k in ("path", "root_path", "scheme", "client")}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(fields).encode()})

def make():
    return app
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A ``python -m longwire serve ...`` subprocess whose output a thread collects."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "longwire", "serve", *args, "--port", str(self.port)],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"exited ({self.proc.returncode}) before {text!r}: {self.output}")
            time.sleep(0.02)
        pytest.fail(f"no {text!r} within {timeout} s: {self.output}")

    def exit_status(self) -> int:
        status = self.proc.wait(timeout=EXIT_TIMEOUT)
        self._reader.join(5)
        return status

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def get(self, path: str, headers: dict[str, str] | None = None) -> bytes:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=10
        ) as r:
            return bytes(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


@contextlib.contextmanager
def served(*args: str, cwd: Path) -> Iterator[Served]:
    server = Served(*args, cwd=cwd)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "scope_app.py").write_text(SCOPE_APP)
    return tmp_path


def test_serve_detects_an_asgi_app_with_root_path_and_proxy_headers(app_dir):
    with served(
        "scope_app:app",
        "--root-path",
        "/api",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        cwd=app_dir,
    ) as server:
        server.wait_for("serving scope_app:app at http://127.0.0.1:")
        fields = json.loads(
            server.get("/items", {"X-Forwarded-For": "198.51.100.4", "X-Forwarded-Proto": "https"})
        )
        assert fields == {
            "path": "/api/items",
            "root_path": "/api",
            "scheme": "https",
            "client": ["198.51.100.4", 0],
        }
        server.stop()
        assert server.proc.returncode == 0


def test_factory(app_dir):
    with served("scope_app:make", "--factory", "--lifespan", "off", cwd=app_dir) as server:
        server.wait_for("serving scope_app:make")
        assert json.loads(server.get("/x"))["path"] == "/x"


@pytest.mark.parametrize(
    ("source", "args", "message"),
    [
        (
            "class app:\n    def __init__(self, scope):\n        pass\n",
            [],
            "looks like an ASGI 2 application",
        ),
        (
            "async def app(scope, receive, send):\n    pass\n",
            ["--interface", "native"],
            "not a longwire App",
        ),
        (
            "import longwire\napp = longwire.App()\n",
            ["--root-path", "/x"],
            "--root-path: only for ASGI applications",
        ),
        (
            "import longwire\napp = longwire.App()\n",
            ["--interface", "asgi"],
            "is a longwire App, not an ASGI application",
        ),
    ],
)
def test_usage_errors(tmp_path, source, args, message):
    (tmp_path / "bad_app.py").write_text(source)
    server = Served("bad_app:app", *args, cwd=tmp_path)
    try:
        assert server.exit_status() != 0
        assert message in server.output
    finally:
        server.stop()


def test_lifespan_startup_failure_exits_1_with_one_line(tmp_path):
    (tmp_path / "failing.py").write_text(
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'lifespan'\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'cannot reach db'})\n"
    )
    server = Served("failing:app", cwd=tmp_path)
    try:
        assert server.exit_status() == 1
        errors = [line for line in server.lines if "error" in line.lower()]
        assert errors == ["longwire serve: error: ASGI lifespan startup failed: cannot reach db"]
    finally:
        server.stop()


def test_reload_restarts_on_change(tmp_path):
    module = tmp_path / "reloaded.py"
    source = (
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'VERSION'})\n"
    )
    module.write_text(source.replace("VERSION", "one"))
    with served("reloaded:app", "--reload", cwd=tmp_path) as server:
        server.wait_for("serving reloaded:app")
        assert server.get("/") == b"one"
        time.sleep(0.05)
        module.write_text(source.replace("VERSION", "two"))
        stat = module.stat()
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # coarse clocks
        server.wait_for("changed: restarting")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        body = b""
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                body = server.get("/")
                if body == b"two":
                    break
            time.sleep(0.1)
        assert body == b"two"
        server.stop()
        assert server.proc.returncode == 0
