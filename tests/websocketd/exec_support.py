"""Helpers for the websocketd-mode tests: a served ``exec_app``, test programs, process checks.

In-process tests run each scenario in a fresh event loop through
``leakcheck.run_without_leaks`` (a leaked task or transport fails the test);
programs print their own pid so a test can check that the process is gone
afterwards (reaped, not a zombie). The CLI tests reuse ``tests/cli/cli_support``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import longwire
from leakcheck import run_without_leaks
from longwire.aio import Server, WebSocket, make_config
from longwire.websocketd import exec_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))
from cli_support import Running, free_port, run_cli, running

__all__ = [
    "PY",
    "Running",
    "alive",
    "any_loop",
    "collect_until_closed",
    "free_port",
    "python",
    "read_http_head",
    "run",
    "run_cli",
    "running",
    "served",
    "wait_for",
    "wait_gone",
    "zombie_children",
]

PY = sys.executable
SCENARIO_TIMEOUT = 60.0  # seconds for a whole in-process scenario on a loaded machine
WAIT_TIMEOUT = 20.0  # for one condition to become true


@pytest.fixture(params=["asyncio", "uvloop"])
def any_loop(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on the default event loop, then on uvloop (``longwire exec``'s default):
    their subprocess and pipe transports differ in the details."""
    if request.param == "asyncio":
        yield "asyncio"
        return
    uvloop = pytest.importorskip("uvloop")
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield "uvloop"
    finally:
        asyncio.set_event_loop_policy(previous)


def run(scenario: Callable[[], Awaitable[None]], *, timeout: float = SCENARIO_TIMEOUT) -> None:
    """Run ``scenario()`` in a fresh loop; fail on a leaked task or transport."""

    async def main() -> None:
        await scenario()

    run_without_leaks(main(), timeout=timeout)


def python(code: str) -> list[str]:
    """A command running ``code`` with unbuffered output (a pipe would buffer it)."""
    return [PY, "-u", "-c", code]


@contextlib.asynccontextmanager
async def served(
    command: Sequence[str], *, config: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[Server]:
    """An ``exec_app(command, **options)`` served on a free port of 127.0.0.1."""
    options.setdefault("kill_grace", 0.5)
    app = exec_app(command, **options)
    settings: dict[str, Any] = {"access_log": False, **(config or {})}
    async with Server(app, port=0, config=make_config(**settings)) as server:
        yield server


def connect(server: Server, path: str = "/", **options: Any) -> Any:
    """``longwire.connect`` to ``server`` (use with ``async with``)."""
    options.setdefault("open_timeout", WAIT_TIMEOUT)
    return longwire.connect(f"ws://127.0.0.1:{server.port}{path}", **options)


async def recv(ws: WebSocket, timeout: float = WAIT_TIMEOUT) -> str | bytes:
    """The next message, within ``timeout`` seconds."""
    return await asyncio.wait_for(ws.recv(), timeout)


async def collect_until_closed(ws: WebSocket, timeout: float = WAIT_TIMEOUT) -> list[str | bytes]:
    """Every message until the connection closes."""
    messages: list[str | bytes] = []

    async def read() -> None:
        async for message in ws:
            messages.append(message)

    await asyncio.wait_for(read(), timeout)
    # The client reports CLOSED a moment before close_code is set (when TCP is
    # gone): wait for it, so that callers may check it.
    await wait_for(lambda: ws.close_code is not None, timeout)
    return messages


async def wait_for(
    predicate: Callable[[], object], timeout: float = WAIT_TIMEOUT, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists at all (a zombie counts: it is not reaped)."""
    return _stat_fields(pid) is not None


async def wait_gone(pid: int, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait until process ``pid`` is gone: exited *and* reaped."""
    await wait_for(lambda: not alive(pid), timeout)


def zombie_children() -> list[int]:
    """This process's children that exited but were never reaped."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and fields[0] == "Z" and int(fields[1]) == os.getpid():
                found.append(int(entry))
    return found


async def read_http_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The status and headers (lower-case names) of the next HTTP response."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_TIMEOUT)
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """The payload of the next chunk of a chunked body (``b""`` at its end)."""
    size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), WAIT_TIMEOUT)
    size = int(size_line.split(b";")[0], 16)
    data = await asyncio.wait_for(reader.readexactly(size + 2), WAIT_TIMEOUT)
    return data[:-2]
