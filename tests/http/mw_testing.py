"""Helpers for the middleware tests: a server on loopback, curl as a client, the docs' examples.

Every test drives a real ``longwire.aio.Server`` on 127.0.0.1 with real
clients: curl (a subprocess with a bounded ``--max-time``), aiohttp and
``urllib.request``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from leakcheck import run_without_leaks
from longwire.aio import Server, ServerConfig
from longwire.app import App

# `make test` installs curl (scripts/system-deps.sh): its absence is a failure, not a skip.
assert shutil.which("curl"), "curl is not installed: run scripts/system-deps.sh"

CURL_TIMEOUT = 10  # seconds, for curl's --max-time and for waiting on it
DOCS = Path(__file__).resolve().parents[2] / "docs"


def run(main: Callable[[], Awaitable[None]], *, timeout: float = 15.0) -> None:
    """Run ``main()`` in a fresh event loop, bounded; fails on leaked tasks or sockets."""

    async def call() -> None:
        await main()

    run_without_leaks(call(), timeout=timeout)


@contextlib.asynccontextmanager
async def serve(app: App) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1; yields the base URL."""
    async with Server(app, port=0, config=ServerConfig(access_log=False)) as server:
        yield f"http://127.0.0.1:{server.port}"


@dataclass
class Reply:
    """What curl received: the last response's status, fields and body."""

    status: int
    headers: list[tuple[str, str]]  # (lowercased name, value), in order
    body: bytes
    heads: int  # how many response heads curl saw (2 for a Digest exchange)

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]


def _last_head(dump: str) -> tuple[int, list[tuple[str, str]], int]:
    heads = [block for block in re.split(r"\r\n\r\n", dump) if block.startswith("HTTP/")]
    lines = heads[-1].split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.append((name.strip().lower(), value.strip(" \t")))
    return status, fields, len(heads)


async def curl(*args: str) -> Reply:
    """Run ``curl -sS args``; the last response it received (``--compressed`` decodes)."""
    with tempfile.TemporaryDirectory() as directory:
        head_file, body_file = Path(directory, "head"), Path(directory, "body")
        process = await asyncio.create_subprocess_exec(
            "curl",
            "-sS",
            "--max-time",
            str(CURL_TIMEOUT),
            "-D",
            str(head_file),
            "-o",
            str(body_file),
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), CURL_TIMEOUT + 5)
        assert process.returncode == 0, f"curl {args} failed: {err.decode()}"
        status, fields, heads = _last_head(head_file.read_bytes().decode("latin-1"))
        body = body_file.read_bytes() if body_file.exists() else b""
    return Reply(status, fields, body, heads)


def python_block(name: str, first_line: str) -> str:
    """The one ```python block of ``docs/<name>`` whose first line is ``first_line``."""
    text = (DOCS / name).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    [code] = [block for block in blocks if block.splitlines()[0] == first_line]
    return code


def run_block(code: str, filename: str) -> dict[str, object]:
    """Execute a docs example as a module that is not ``__main__``; its namespace."""
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(code, filename, "exec"), namespace)
    return namespace
