"""``App.mount(prefix, asgi_app)``: an ASGI application under a path of a native App."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from ..app import WebSocketRoute
from ._bridge import cancel_tasks, run_http
from ._scope import ASGIApplication, websocket_scope
from ._websocket import run_websocket

if TYPE_CHECKING:
    from ..aio._upgrade import ServerWebSocket
    from ..app import App, Request, Response

__all__ = ["MOUNT_METHODS", "mount_asgi"]

MOUNT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
"""The methods routed to a mounted ASGI app (``HEAD`` comes with ``GET``); others
get the App's own 405 or 501."""


def mount_asgi(app: App, prefix: str, target: ASGIApplication) -> None:
    """Route ``prefix`` and everything under it, HTTP and WebSocket, to ``target``.

    The app sees ``root_path`` = ``prefix`` and ``path`` = the full path (what
    Starlette's ``Mount`` gives a sub-application). Its lifespan is not run:
    use the App's ``on_startup``/``on_shutdown`` hooks.

    Raises:
        TypeError: ``target`` is not an ASGI 3 application.
        ValueError: ``prefix`` does not start with "/", or the paths are taken.
    """
    from ._adapter import check_asgi3  # noqa: PLC0415 - _adapter imports this module's peers

    check_asgi3(target)
    if not prefix.startswith("/"):
        raise ValueError(f"mount prefix {prefix!r} must start with '/'")
    base = prefix.rstrip("/")
    # The app's tasks still running (background work after a response): the
    # App's shutdown cancels them, after the server cancelled its handler tasks.
    tasks: set[asyncio.Task[None]] = set()
    app.on_shutdown(partial(cancel_tasks, tasks))

    async def http(request: Request) -> Response:
        return await run_http(target, request, root_path=base, state=None, tasks=tasks)

    async def websocket(ws: ServerWebSocket) -> None:
        request = ws.request
        assert request is not None
        protocol = ws._protocol
        transport = protocol._transport if protocol is not None else None
        name: Any = transport.get_extra_info("sockname") if transport is not None else None
        scope = websocket_scope(
            target=request.target,
            headers=request.headers,
            http_version=request.http_version,
            scheme="wss" if request.scheme == "https" else "ws",
            client=ws.remote_address,
            server=(str(name[0]), int(name[1])) if isinstance(name, tuple) else None,
            root_path="",
            state=None,
        )
        scope["root_path"] = base
        await run_websocket(target, ws, scope)

    paths = [base + "/{path:path}", base + "/"] if base else ["/{path:path}", "/"]
    if base:
        paths.append(base)
    for path in paths:
        app.router.add(path, http, MOUNT_METHODS, fallback=path.endswith("{path:path}"))
        app.router.add_websocket(path, WebSocketRoute(path, websocket))
