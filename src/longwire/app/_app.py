"""``App``: routes, middleware and lifecycle hooks, behind the methods a server calls.

::

    app = App()

    @app.get("/items/{item_id:int}")
    async def item(request):
        return {"id": request.path_params["item_id"]}

A server drives an ``App`` through four methods: ``await app.startup()`` once,
``await app.handle(request)`` per HTTP request (it always returns a
``Response``), ``app.match_websocket(path)`` per WebSocket handshake, and
``await app.shutdown()`` once at the end.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from ._errors import HTTPError, internal_error
from ._file_response import finish_response
from ._request import Request
from ._response import Response, to_response
from ._routing import UNSET, Route, Router, WebSocketRoute, _Unset
from ._sse import DEFAULT_QUEUE_SIZE, SSEEndpoint
from ._static import StaticFiles

if TYPE_CHECKING:
    from ..jsonrpc import JsonRpcEndpoint, Methods

__all__ = ["App", "CallNext", "Middleware"]

_logger = logging.getLogger("longwire.app")

CallNext: TypeAlias = Callable[[Request], Awaitable[Response]]
"""What a middleware calls to run the rest of the chain: ``await call_next(request)``."""

Middleware: TypeAlias = Callable[[Request, CallNext], Awaitable[Response]]
"""``async def middleware(request, call_next) -> Response``."""

_F = TypeVar("_F", bound=Callable[..., Any])
_M = TypeVar("_M", bound=Middleware)


def _link(middleware: Middleware, call_next: CallNext) -> CallNext:
    # A plain function returning the middleware's coroutine: no extra coroutine
    # per layer per request.
    def call(request: Request) -> Awaitable[Response]:
        return middleware(request, call_next)

    return call


# RFC 9110 §9 and RFC 5789: the methods a server is expected to know. A request
# with another method that no route names is 501 Not Implemented (§9.1), not 405.
_STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_GET_OR_HEAD = frozenset({"GET", "HEAD"})
# RFC 9110 §9.3.8: TRACE "SHOULD exclude fields that are likely to contain
# sensitive data" from the echo.
_TRACE_HIDDEN = frozenset({"authorization", "cookie", "proxy-authorization"})


def _trace_echo(request: Request) -> Response:
    """The answer to TRACE: the request head as received, as ``message/http``."""
    lines = [f"{request.method} {request.target} HTTP/{request.http_version}"]
    lines += [
        f"{name}: {value}" for name, value in request.headers if name.lower() not in _TRACE_HIDDEN
    ]
    body = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return Response(body, content_type="message/http")


def _strings(name: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be an iterable of str, not a str: wrap it in a tuple")
    return tuple(values)


class App:
    """A web application: HTTP routes, WebSocket routes, middleware, lifecycle hooks.

    HTTP handlers take the ``Request`` and may be ``async def`` or plain ``def``
    (a plain function runs on the event loop: it must not block). They return
    a ``Response`` (sent as is), ``str`` (``text/plain``), ``bytes`` (no
    ``Content-Type``), ``dict`` or ``list`` (JSON) or ``None`` (204 No
    Content), or raise ``HTTPError``.

    Methods beyond the routes: ``HEAD`` is answered for every ``GET`` route
    (same head, no body); ``OPTIONS`` on a routed path gets 204 with ``Allow``
    (and ``OPTIONS *`` lists every method); a known path with another method
    gets 405 with ``Allow``; ``CONNECT`` and methods no route names get 501.
    ``TRACE`` gets 405 unless ``trace=True``.

    A 200 to GET or HEAD with an ``ETag`` or ``Last-Modified`` field is
    answered 304 or 412 when the request's conditions say so; a
    ``FileResponse`` also honours ``Range`` (206, 416).

    Args:
        trace: answer ``TRACE`` with the request head as received (minus
            ``Authorization`` and ``Cookie``). Off by default: with it, a page
            script able to send TRACE could read fields it may not (cross-site
            tracing).
        redirect_slashes: when no route matches a path but the same path with
            (or without) a trailing slash does, answer 308 to that one.

    Attributes:
        router: the ``Router`` the decorators register routes with.
    """

    def __init__(self, *, trace: bool = False, redirect_slashes: bool = False) -> None:
        self.trace = trace
        self.redirect_slashes = redirect_slashes
        self.router = Router()
        # The router's table of static paths, read on the fast path of handle().
        self._static = self.router._static
        self._middleware: list[Middleware] = []
        # The middleware chain around _dispatch, built when middleware is added;
        # None while there is none, so handle() skips it.
        self._stack: CallNext | None = None
        self._on_startup: list[Callable[[], Any]] = []
        self._on_shutdown: list[Callable[[], Any]] = []

    # Registration

    def route(self, path: str, methods: Iterable[str] = ("GET",)) -> Callable[[_F], _F]:
        """Decorator: route ``methods`` on ``path`` to the decorated handler.

        Raises:
            ValueError: (when decorating) the pattern or a method is invalid,
                or a method of ``path`` already has a route.
        """

        def register(handler: _F) -> _F:
            self.router.add(path, handler, methods)
            return handler

        return register

    def get(self, path: str) -> Callable[[_F], _F]:
        """Decorator: route ``GET`` (and so ``HEAD``) on ``path``."""
        return self.route(path, ("GET",))

    def post(self, path: str) -> Callable[[_F], _F]:
        """Decorator: route ``POST`` on ``path``."""
        return self.route(path, ("POST",))

    def put(self, path: str) -> Callable[[_F], _F]:
        """Decorator: route ``PUT`` on ``path``."""
        return self.route(path, ("PUT",))

    def patch(self, path: str) -> Callable[[_F], _F]:
        """Decorator: route ``PATCH`` on ``path``."""
        return self.route(path, ("PATCH",))

    def delete(self, path: str) -> Callable[[_F], _F]:
        """Decorator: route ``DELETE`` on ``path``."""
        return self.route(path, ("DELETE",))

    def websocket(
        self,
        path: str,
        *,
        subprotocols: Iterable[str] = (),
        origins: Iterable[str] | Callable[[str | None], bool] | Any | None = None,
        compression: bool = True,
        max_message_size: int | _Unset | None = UNSET,
    ) -> Callable[[_F], _F]:
        """Decorator: route WebSocket connections to ``path`` to the decorated handler.

        Args:
            path: the path pattern (same syntax as HTTP routes).
            subprotocols: subprotocols to offer, by preference.
            origins: ``Origin`` values to accept; or a ``CORSPolicy``, whose
                allowed origins apply; or a function ``(origin or None) ->
                bool``; ``None`` accepts any.
            compression: whether to negotiate permessage-deflate.
            max_message_size: the message size limit in bytes, ``None`` for
                none; by default the server's setting applies.

        Raises:
            TypeError: ``subprotocols`` or ``origins`` is a ``str``.
            ValueError: (when decorating) the pattern is invalid or taken.
        """
        offered = _strings("subprotocols", subprotocols)
        accepted: frozenset[str] | Callable[[str | None], bool] | None
        if origins is None:
            accepted = None
        elif hasattr(origins, "origin_allowed"):  # a CORSPolicy: the same allow-list
            accepted = origins.origin_allowed
        elif callable(origins):
            accepted = origins
        else:
            accepted = frozenset(_strings("origins", origins))

        def register(handler: _F) -> _F:
            route = WebSocketRoute(path, handler, offered, accepted, compression, max_message_size)
            self.router.add_websocket(path, route)
            return handler

        return register

    def jsonrpc(
        self,
        path: str,
        methods: Methods | None = None,
        *,
        origins: Iterable[str] | Callable[[str | None], bool] | Any | None = None,
        compression: bool = True,
        max_message_size: int | _Unset | None = UNSET,
        require_subprotocol: bool = False,
        timeout: float | None = 30.0,
        max_batch: int | None = 100,
        max_pending: int | None = 1000,
    ) -> JsonRpcEndpoint:
        """A JSON-RPC 2.0 WebSocket endpoint on ``path`` (subprotocol ``jsonrpc``), registered now.

        Register methods with ``@endpoint.method()`` (or pass ``methods``);
        decorate ``async def on_connect(conn)`` with it to run code for each
        connection (the name is then the endpoint). ``origins``,
        ``compression`` and ``max_message_size`` are as for ``websocket``; the
        rest are ``longwire.jsonrpc.JsonRpcEndpoint``'s (see docs/jsonrpc.md).

        Raises:
            TypeError, ValueError: an option is invalid, or the pattern is invalid or taken.
        """
        from ..jsonrpc import SUBPROTOCOL, JsonRpcEndpoint  # noqa: PLC0415 - it imports aio

        endpoint = JsonRpcEndpoint(
            path,
            methods,
            require_subprotocol=require_subprotocol,
            timeout=timeout,
            max_batch=max_batch,
            max_pending=max_pending,
        )
        self.websocket(
            path,
            subprotocols=(SUBPROTOCOL,),
            origins=origins,
            compression=compression,
            max_message_size=max_message_size,
        )(endpoint.serve)
        return endpoint

    def sse(
        self,
        path: str,
        *,
        heartbeat: float | None = 15.0,
        retry: int | None = None,
        history: int = 0,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> SSEEndpoint:
        """A Server-Sent Events endpoint on ``path`` (GET and HEAD), registered now.

        Decorate ``async def handler(request, events)`` with it, or use it as
        is to serve what ``publish`` sends; either way the name is the
        ``SSEEndpoint`` (see it for the options, and docs/sse.md).

        Raises:
            ValueError: an option is out of range, or the pattern is invalid or taken.
        """
        endpoint = SSEEndpoint(
            path, heartbeat=heartbeat, retry=retry, history=history, queue_size=queue_size
        )
        self.router.add(path, endpoint.serve, ("GET",))
        return endpoint

    def static(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        index: str | None = "index.html",
        cache_control: str | None = "no-cache",
        listing: bool = False,
        hidden: bool = False,
    ) -> StaticFiles:
        """Serve the files under ``directory`` at ``prefix`` (GET and HEAD).

        ``app.static("/assets", "public")`` serves ``public/app.css`` at
        ``/assets/app.css``; ``prefix`` ``"/"`` serves the whole site. See ``StaticFiles``
        for what is guaranteed (no path traversal, ETag, ranges, sendfile).
        Other routes are tried first, registered before or after.

        Returns:
            The ``StaticFiles`` handler registered.

        Raises:
            FileNotFoundError, NotADirectoryError: ``directory`` is not a directory.
            ValueError: ``prefix`` does not start with "/".
        """
        if not prefix.startswith("/"):
            raise ValueError(f"prefix {prefix!r} must start with '/'")
        base = prefix.rstrip("/")
        files = StaticFiles(
            directory,
            index=index,
            cache_control=cache_control,
            listing=listing,
            hidden=hidden,
            prefix=base,
        )
        self.router.add(base + "/{path:path}", files, ("GET",), fallback=True)
        self.router.add(base + "/", files, ("GET",))
        if base:
            self.router.add(base, files, ("GET",))
        return files

    def mount(self, prefix: str, target: Any) -> None:
        """Serve ``target`` at ``prefix`` and every path under it.

        ``target`` is one of:

        - an object with a ``longwire_mount(app, prefix)`` method: it is called
          as ``target.longwire_mount(self, prefix)`` and registers what it
          needs itself (the extension point for longwire components);
        - an ASGI 3 application (any other callable): HTTP requests (GET,
          HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE) and WebSocket
          connections to ``prefix`` and below go to it, with the scope's
          ``root_path`` set to ``prefix`` and ``path`` the full path, as
          Starlette's ``Mount`` does (docs/asgi.md). Its lifespan is not run.

        HTTP routes registered on this App, before or after, win over the
        mount; WebSocket routes under ``prefix`` must be registered before it.

        Raises:
            TypeError: ``target`` is neither of the two.
            ValueError: ``prefix`` does not start with "/", or its paths are taken.
        """
        hook = getattr(target, "longwire_mount", None)
        if hook is not None and callable(hook):
            hook(self, prefix)
            return
        if not callable(target):
            raise TypeError(
                f"cannot mount {type(target).__name__}: expected an ASGI application "
                "or an object with a longwire_mount(app, prefix) method"
            )
        from ..asgi._mount import mount_asgi  # noqa: PLC0415 - the asgi layer loads on demand

        mount_asgi(self, prefix, target)

    def middleware(self, middleware: _M) -> _M:
        """Decorator: wrap every HTTP request in ``async def middleware(request, call_next)``.

        The first registered runs outermost. A middleware may answer by itself
        (short-circuit) or ``await call_next(request)`` and return, or change,
        that response. Handler errors other than ``HTTPError`` propagate
        through ``call_next``; unhandled, they become a 500.
        """
        self._middleware.append(middleware)
        stack: CallNext = self._dispatch
        for outer in reversed(self._middleware):
            stack = _link(outer, stack)
        self._stack = stack
        return middleware

    def on_startup(self, hook: _F) -> _F:
        """Decorator: run ``hook()`` (sync or async) in ``startup()``, in registration order."""
        self._on_startup.append(hook)
        return hook

    def on_shutdown(self, hook: _F) -> _F:
        """Decorator: run ``hook()`` (sync or async) in ``shutdown()``, in registration order."""
        self._on_shutdown.append(hook)
        return hook

    # What the server calls

    async def handle(self, request: Request) -> Response:
        """Answer ``request``: route it, run middleware and handler, convert the result.

        Never raises (``CancelledError`` aside): ``HTTPError`` becomes its
        response, an unknown path 404, a known path with another method 405
        (with ``Allow``), any other exception is logged to the
        ``longwire.app`` logger and becomes a 500.
        """
        try:
            if self._stack is not None:
                response = await self._stack(request)
                if not isinstance(response, Response):
                    raise TypeError(
                        f"a middleware returned {type(response).__name__}, not a Response"
                    )
                return response
            # _dispatch without the extra coroutine: the hot path of every request.
            targets = self._static.get(request.path)
            route = None if targets is None else targets.get(request.method)
            if route is None:
                route = self._match(request)
            result = await route.call(request)
            response = result if isinstance(result, Response) else to_response(result)
            if response.status == 200 and request.method in _GET_OR_HEAD:
                return finish_response(request, response)
            return response
        except HTTPError as exc:
            return self._error_response(request, exc)
        except Exception:
            return internal_error(request)

    def match_websocket(self, path: str) -> tuple[WebSocketRoute, dict[str, Any]] | None:
        """The WebSocket route for ``path`` and its parameters, or ``None``.

        Args:
            path: the percent-decoded path, without the query (``Request.path``).
        """
        return self.router.match_websocket(path)

    async def startup(self) -> None:
        """Run the startup hooks in order; the first to raise stops startup."""
        for hook in self._on_startup:
            result = hook()
            if inspect.isawaitable(result):
                await result

    async def shutdown(self) -> None:
        """Run the shutdown hooks in order; one that raises is logged and the rest still run."""
        for hook in self._on_shutdown:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _logger.exception("shutdown hook %r failed", hook)

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve the application with longwire's asyncio server until interrupted.

        ``options`` go to :func:`longwire.aio.run`.
        """
        from ..aio import run as _run  # noqa: PLC0415 - the server imports this module

        _run(self, host=host, port=port, **options)

    # Internals

    def _match(self, request: Request) -> Route:
        """The route for ``request`` off the static fast path; sets its ``path_params``.

        Raises:
            HTTPError: what answers a request no route takes (see the class
                documentation): 404, 405, 501, 204 to OPTIONS; or 200 to TRACE
                with ``trace``, as an exception carrying its response.
        """
        try:
            route, params = self.router.match(request.method, request.path)
        except HTTPError as exc:
            raise self._unrouted(request, exc) from None
        request.path_params = params
        return route

    def _unrouted(self, request: Request, error: HTTPError) -> HTTPError | _Answer:
        """What answers ``request`` when the router found no route (``error``)."""
        method = request.method
        if error.status == 405:
            allowed = set(self.router.allowed_methods(request.path)) | {"OPTIONS"}
            if self.trace:
                allowed.add("TRACE")
            allow = [("Allow", ", ".join(sorted(allowed)))]
            if method == "OPTIONS":
                return HTTPError(204, headers=allow)
            if method == "TRACE" and self.trace:
                return _Answer(_trace_echo(request))
            if method == "CONNECT" or not self._known(method):
                return HTTPError(501, f"method {method} is not implemented", allow)
            return HTTPError(405, headers=allow)
        if error.status == 404:
            if method == "OPTIONS" and request.target == "*":
                methods = self.router.methods | {"HEAD", "OPTIONS"}
                if "GET" not in methods:
                    methods -= {"HEAD"}
                if self.trace:
                    methods |= {"TRACE"}
                return HTTPError(204, headers=[("Allow", ", ".join(sorted(methods)))])
            if method == "CONNECT" or not self._known(method):
                return HTTPError(501, f"method {method} is not implemented")
        return error

    def _error_response(self, request: Request, error: HTTPError) -> Response:
        """The answer to ``error``; with ``redirect_slashes``, a 404 may become a 308."""
        if error.status == 404 and self.redirect_slashes:
            redirect = self._slash_redirect(request)
            if redirect is not None:
                return redirect
        return error.response(request)

    def _known(self, method: str) -> bool:
        return method in _STANDARD_METHODS or method in self.router.methods

    def _slash_redirect(self, request: Request) -> Response | None:
        path = request.path
        if path == "/" or not path.startswith("/"):
            return None
        other = path[:-1] if path.endswith("/") else path + "/"
        if request.method not in self.router.allowed_methods(other, fallbacks=False):
            return None
        raw = request.raw_path
        location = raw[:-1] if raw.endswith("/") else raw + "/"
        if location.startswith("//"):  # "//evil.example" would leave the site
            return None
        query = request.query_string
        return Response.redirect(location + (f"?{query}" if query else ""), 308)

    async def _dispatch(self, request: Request) -> Response:
        """The innermost step of the middleware chain: route, call, convert, finish.

        ``HTTPError`` becomes a response here, so middleware sees 404s and the
        like as responses; other exceptions propagate to the middleware.
        """
        try:
            targets = self._static.get(request.path)
            route = None if targets is None else targets.get(request.method)
            if route is None:
                route = self._match(request)
            result = await route.call(request)
        except HTTPError as exc:
            return self._error_response(request, exc)
        response = result if isinstance(result, Response) else to_response(result)
        if response.status == 200 and request.method in _GET_OR_HEAD:
            return finish_response(request, response)
        return response


class _Answer(HTTPError):
    """A response the routing fallback answers with, raised like an ``HTTPError``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self._response = response

    def response(self, request: Request | None = None) -> Response:
        return self._response
