"""Helpers for the client tests: a bounded ``asyncio.run`` that fails on leaks, and servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, make_config

DEADLINE = 10.0


def run(coro: Coroutine[Any, Any, Any], timeout: float = DEADLINE) -> Any:
    """Run ``coro`` in a new loop, bounded by ``timeout``; fail on leaked tasks or sockets."""
    return run_without_leaks(coro, timeout=timeout)


def longwire_server(app: App, port: int = 0, **options: Any) -> Server:
    return Server(app, port=port, config=make_config(access_log=False, **options))


@asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]],
) -> AsyncIterator[int]:
    """A TCP server running ``handle`` per connection (closing the writer after it); its port."""
    tasks: list[asyncio.Task[Any]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        try:
            await handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> dict[str, str]:
    """The headers of the request head on ``reader`` (names lowercased)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:-2]
    return {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in lines)}
