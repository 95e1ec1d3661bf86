"""``ASGIApp``: an ASGI 3 application behind the interface the server drives an ``App`` by.

The server (``longwire.aio``) serves an ``App``: it calls ``startup()``,
``handle(request)`` per request, ``match_websocket(path)`` per handshake and
``shutdown()``. ``ASGIApp`` is an ``App`` whose four methods run the ASGI
application instead (lifespan for startup and shutdown), so everything built
on ``App`` (``Server``, ``run``, ``--workers``) serves ASGI apps unchanged.

One more thing: the server recognises an ``ASGIApp`` (``ServerState.asgi``)
and hands it each HTTP request head directly (``serve_http``): the scope is
built from the http1 core's event and the response written to the
connection, without the native ``Request``/``Response`` that ``handle`` would
need (``handle`` remains, for callers that have a ``Request``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import TYPE_CHECKING, Any

from ..app import App, Response, WebSocketRoute
from ._bridge import cancel_tasks, run_http
from ._http import HTTPCycle
from ._lifespan import Lifespan, LifespanMode
from ._proxy import TrustedProxies
from ._scope import ASGIApplication, http_scope, websocket_scope
from ._websocket import run_websocket

if TYPE_CHECKING:
    from ..aio._body import BodyReader
    from ..aio._http_server import HTTPServerProtocol
    from ..aio._upgrade import ServerWebSocket
    from ..app import Request
    from ..http1 import Request as RequestEvent

__all__ = ["ASGIApp", "check_asgi3"]


def check_asgi3(app: object) -> None:
    """Raise ``TypeError`` unless ``app`` looks like an ASGI 3 application.

    An ASGI 2 application ("double callable": ``app(scope)`` returns the
    coroutine function) is a class, or a callable taking one argument; it is
    refused with a pointer to asgiref's adapter rather than failing per request.
    """
    if not callable(app):
        raise TypeError(f"an ASGI application must be callable, not {type(app).__name__}")
    asgi2 = (
        "looks like an ASGI 2 application (called with the scope alone); longwire serves "
        "ASGI 3: wrap it with asgiref.compatibility.guarantee_single_callable"
    )
    if inspect.isclass(app):
        if hasattr(app, "__await__"):
            return
        raise TypeError(f"{app.__name__} {asgi2}")
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: give it the benefit of the doubt
        return
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if call is not app and positional:
        positional = positional[1:]  # self of __call__
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    if len(positional) == 1 and not variadic:
        raise TypeError(f"{getattr(app, '__name__', type(app).__name__)} {asgi2}")


class ASGIApp(App):
    """Serve an ASGI 3 application (Starlette, FastAPI, Django, ...) with longwire.

    ``Server(ASGIApp(app))``, ``longwire.run(ASGIApp(app))``, or
    ``longwire serve module:app`` (which wraps it for you). How long an app
    may take to start a response is the server's
    ``ServerConfig.asgi_response_timeout``.

    Args:
        app: the ASGI 3 application, ``async def app(scope, receive, send)``.
        root_path: the path prefix a proxy removed before forwarding (ASGI
            ``root_path``; ``path`` keeps it in front, as uvicorn does).
        lifespan: ``auto`` (run the lifespan protocol if the app supports it),
            ``on`` (it must) or ``off``.
        proxy_headers: believe ``Forwarded`` / ``X-Forwarded-For`` /
            ``X-Forwarded-Proto`` from these peers (a ``TrustedProxies``);
            ``None`` ignores those headers.

    Raises:
        TypeError: ``app`` is not an ASGI 3 application.
        ValueError: ``lifespan`` or ``root_path`` is invalid.

    Attributes:
        asgi_app: the application.
        state: the lifespan ``state``, copied into each scope.
    """

    def __init__(
        self,
        app: ASGIApplication,
        *,
        root_path: str = "",
        lifespan: LifespanMode = "auto",
        proxy_headers: TrustedProxies | None = None,
    ) -> None:
        super().__init__()
        check_asgi3(app)
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        if root_path and (not root_path.startswith("/") or root_path.endswith("/")):
            raise ValueError(f"root_path must start with '/' and not end with it: {root_path!r}")
        self.asgi_app = app
        self.root_path = root_path
        self.proxy_headers = proxy_headers
        self.state: dict[str, Any] = {}
        self._lifespan = Lifespan(app, lifespan, self.state)
        self._route = WebSocketRoute("/{path:path}", self._websocket, compression=True)
        self._tasks: set[asyncio.Task[None]] = set()  # the app's, from handle()

    def __repr__(self) -> str:
        return f"<ASGIApp {self.asgi_app!r}>"

    # What the server calls.

    async def startup(self) -> None:
        """Run the lifespan startup, then any ``on_startup`` hooks.

        Raises:
            LongwireError: the app's startup failed (``lifespan.startup.failed``).
        """
        await self._lifespan.startup()
        await super().startup()

    async def shutdown(self) -> None:
        """Run the ``on_shutdown`` hooks, then the lifespan shutdown."""
        await cancel_tasks(self._tasks)  # those handle() started, still running
        await super().shutdown()
        await self._lifespan.shutdown()

    async def handle(self, request: Request) -> Response:
        """Answer a native ``Request`` through the ASGI app (not the server's fast path)."""
        return await run_http(
            self.asgi_app,
            request,
            root_path=self.root_path,
            state=self._state(),
            tasks=self._tasks,
        )

    def match_websocket(self, path: str) -> tuple[WebSocketRoute, dict[str, Any]] | None:
        """Every path: the ASGI app decides (it may answer 404 with a denial response)."""
        return self._route, {}

    def serve_http(
        self, protocol: HTTPServerProtocol, event: RequestEvent, body: BodyReader | None
    ) -> None:
        """Answer one request head on ``protocol`` (the server's fast path)."""
        state = protocol._state
        started = time.monotonic() if state.access_log else 0.0
        timeout = state.config.asgi_response_timeout
        client = protocol._client
        scheme = protocol._scheme
        proxy = self.proxy_headers
        if proxy is not None:
            client, scheme = proxy.resolve(event.headers, client, scheme)
        scope = http_scope(
            method=event.method,
            target=event.target,
            headers=event.headers,
            http_version=event.http_version,
            scheme=scheme,
            client=client,
            server=_server_address(protocol),
            root_path=self.root_path,
            state=self._state(),
        )
        HTTPCycle(protocol, event, body, started, timeout).run(self.asgi_app, scope)

    # Internals.

    def _state(self) -> dict[str, Any] | None:
        return self.state if self._lifespan.supported else None

    async def _websocket(self, ws: ServerWebSocket) -> None:
        request = ws.request
        assert request is not None
        protocol = ws._protocol
        client, scheme = ws.remote_address, "wss" if request.scheme == "https" else "ws"
        if self.proxy_headers is not None:
            client, scheme = self.proxy_headers.resolve(request.headers, client, scheme)
        scope = websocket_scope(
            target=request.target,
            headers=request.headers,
            http_version=request.http_version,
            scheme=scheme,
            client=client,
            server=_server_address(protocol) if protocol is not None else None,
            root_path=self.root_path,
            state=self._state(),
        )
        await run_websocket(self.asgi_app, ws, scope)


def _server_address(protocol: HTTPServerProtocol) -> tuple[str, int | None] | None:
    """The address the connection was accepted on, as ASGI's ``server`` (cached)."""
    address = protocol._asgi_server
    if address is None:
        transport = protocol._transport
        name = transport.get_extra_info("sockname") if transport is not None else None
        if isinstance(name, tuple) and len(name) >= 2:
            address = (str(name[0]), int(name[1]))
        elif isinstance(name, str) and name:
            address = (name, None)  # a Unix socket
        else:
            return None
        protocol._asgi_server = address
    return address
