"""State and helpers the Starlette and FastAPI apps share (one process serves one app)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

SUPPORTED_SUBPROTOCOLS = ("chat.v2", "chat.v1")
# How long /stream waits for its release before it gives up (the test then fails).
RELEASE_TIMEOUT = 5.0

background_done: dict[str, str] = {}
ws_closed: dict[str, dict[str, Any]] = {}
_releases: dict[str, asyncio.Event] = {}


def release_event(key: str) -> asyncio.Event:
    """The event /stream?id=key waits on; /release/key sets it (either may come first)."""
    return _releases.setdefault(key, asyncio.Event())


async def stream_chunks(key: str) -> AsyncIterator[bytes]:
    """``chunk 0``, then (once released) ``chunk 1`` and ``chunk 2``.

    The client only releases after it has received chunk 0, so a server that
    buffers a streamed body instead of sending it as it comes never completes.
    """
    yield b"chunk 0\n"
    try:
        await asyncio.wait_for(release_event(key).wait(), RELEASE_TIMEOUT)
    except TimeoutError:
        yield b"never released\n"
        return
    finally:
        _releases.pop(key, None)
    yield b"chunk 1\n"
    await asyncio.sleep(0.01)
    yield b"chunk 2\n"


async def mark_done(key: str) -> None:
    """The background task: observable afterwards through GET /background/{key}."""
    await asyncio.sleep(0.05)
    background_done[key] = "done"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def choose_subprotocol(offered: list[str]) -> str | None:
    """The first subprotocol the client offered that the app supports."""
    return next((p for p in offered if p in SUPPORTED_SUBPROTOCOLS), None)


def scope_fields(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol fields of an HTTP scope that every server must fill the same way."""
    return {
        "type": scope["type"],
        "asgi_version": scope["asgi"]["version"],
        "http_version": scope["http_version"],
        "method": scope["method"],
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope.get("raw_path", b"").decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope.get("root_path", ""),
        "server_port_is_int": isinstance((scope.get("server") or ("", 0))[1], int),
        "client_host": (scope.get("client") or ("", 0))[0],
        "headers": [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in scope["headers"]
            if name.startswith(b"x-")
        ],
        "headers_are_lowercase": all(name == name.lower() for name, _ in scope["headers"]),
    }
