"""Authentication for handlers and applications: ``require_auth`` and ``Authenticate``.

::

    auth = BasicAuth("admin", StaticUsers({"ada": hash_password("lovelace")}, hashed=True))

    @app.get("/me")
    @require_auth(auth)                      # below the route decorator
    async def me(request):
        return {"user": request.state.user}

    app.middleware(Authenticate(auth, prefix="/admin"))   # a whole subtree

Both run the scheme's ``authenticate`` (``BasicAuth``, ``DigestAuth``,
``MultiAuth`` or anything with the same method), answer a failure with its
status and challenges, leave the user in ``request.state.user``, then ask the
optional ``authorize(user, request)`` (403 when it says no), and add the
scheme's ``Authentication-Info`` to the response.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias

from ..http1._headers import HeadersLike
from ._app import CallNext
from ._auth import AuthResult
from ._errors import HTTPError
from ._request import Request
from ._response import Response, to_response
from ._response_edit import detach

__all__ = ["Authenticate", "Authenticator", "Authorize", "require_auth"]


class Authenticator(Protocol):
    """What ``require_auth`` and ``Authenticate`` need of a scheme.

    ``BasicAuth``, ``DigestAuth`` and ``MultiAuth`` are ones.
    """

    def authenticate(
        self, headers: HeadersLike, method: str, target: str, *, now: float | None = None
    ) -> AuthResult:
        """Authenticate a request by its ``Authorization`` field."""
        ...


Authorize: TypeAlias = Callable[[str, Request], bool | Awaitable[bool]]
"""``authorize(user, request) -> bool`` (or an ``async def``): may this user do this?"""

_Handler = Callable[[Request], Any]


def _basic_credentials(request: Request) -> bool:
    """Whether the request carries Basic credentials (whose check may hash a password)."""
    values = request.headers.get_all("authorization")
    return len(values) == 1 and values[0].lstrip(" \t")[:6].lower() == "basic "


class _Guard:
    """The check shared by the decorator and the middleware."""

    __slots__ = ("authorize", "offload", "scheme")

    def __init__(self, scheme: Authenticator, authorize: Authorize | None, offload: bool) -> None:
        if not callable(getattr(scheme, "authenticate", None)):
            raise TypeError(
                f"{scheme!r} is not an authentication scheme: pass BasicAuth, DigestAuth, "
                "MultiAuth, or an object with their authenticate() method"
            )
        if authorize is not None and not callable(authorize):
            raise TypeError(f"authorize must be callable, not {authorize!r}")
        self.scheme = scheme
        self.authorize = authorize
        self.offload = offload

    async def check(self, request: Request) -> AuthResult:
        """Authenticate and authorize ``request``; ``request.state.user`` on success.

        Raises:
            HTTPError: 401 with challenges (or 400, a Digest ``uri`` mismatch)
                when not authenticated; 403 when ``authorize`` says no.
        """
        scheme = self.scheme
        headers, method, target = request.headers, request.method, request.target
        if self.offload and _basic_credentials(request):
            result = await asyncio.to_thread(scheme.authenticate, headers, method, target)
        else:
            result = scheme.authenticate(headers, method, target)
        if not result.ok:
            raise result.http_error()
        user = result.user
        assert user is not None
        request.state.user = user
        authorize = self.authorize
        if authorize is not None:
            allowed = authorize(user, request)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                raise HTTPError(403)
        return result


def _with_fields(result: object, fields: tuple[tuple[str, str], ...]) -> Response:
    """What a handler returned, as a response with ``fields`` added.

    A ``Response`` is copied first: the fields are this request's, and the
    handler may return the same object to every request.
    """
    response = detach(result) if isinstance(result, Response) else to_response(result)
    for name, value in fields:
        response.headers.add(name, value)
    return response


def require_auth(
    scheme: Authenticator, authorize: Authorize | None = None, *, offload: bool = True
) -> Callable[[_Handler], Callable[[Request], Awaitable[Any]]]:
    """Decorator: the handler runs only for authenticated (and authorized) requests.

    Put it *below* the route decorator, so that the route gets the guarded
    handler::

        @app.get("/me")
        @require_auth(auth, authorize=lambda user, request: user in ADMINS)
        async def me(request): ...

    The handler may be ``async def`` or plain ``def``; the result is an
    ``async def`` with the handler's name and docstring (``functools.wraps``).

    - Not authenticated: 401 with one ``WWW-Authenticate`` per challenge (a
      Digest nonce that expired gets ``stale=true``: the client retries
      without asking the user), or 400 for a Digest ``uri`` that is not the
      request's target (RFC 7616 §3.4.6). The handler does not run.
    - Authenticated: ``request.state.user`` is the user name. Then
      ``authorize(user, request)`` (sync or async), if given; false: 403.
    - The scheme's response fields (Digest's ``Authentication-Info``, with
      ``rspauth`` and sometimes ``nextnonce``) are added to the handler's
      response, and to an ``HTTPError`` it raises.

    Args:
        scheme: ``BasicAuth``, ``DigestAuth``, ``MultiAuth``, or any object
            with their ``authenticate(headers, method, target)``.
        authorize: ``authorize(user, request) -> bool`` (or awaitable), or
            ``None`` to let any authenticated user in.
        offload: check Basic credentials in a worker thread
            (``asyncio.to_thread``): a ``StaticUsers`` of ``hash_password``
            hashes spends about 0.25 s of CPU on a password it has not seen
            yet, which would stall the event loop. ``False`` checks them on the
            event loop (fine for a fast ``check``). Digest is always checked on
            the event loop: a few hashes, and state that is not thread-safe.

    Returns:
        The decorator.

    Raises:
        TypeError: ``scheme`` has no ``authenticate`` method, or ``authorize``
            is not callable.
    """
    guard = _Guard(scheme, authorize, offload)

    def decorate(handler: _Handler) -> Callable[[Request], Awaitable[Any]]:
        if not callable(handler):
            raise TypeError(f"require_auth decorates a handler, not {handler!r}")

        @functools.wraps(handler)
        async def guarded(request: Request) -> Any:
            fields = (await guard.check(request)).headers
            try:
                result = handler(request)
                if inspect.isawaitable(result):
                    result = await result
            except HTTPError as exc:
                if fields:
                    exc.headers = exc.headers.copy_with(fields)
                raise
            return _with_fields(result, fields) if fields else result

        return guarded

    return decorate


class Authenticate:
    """Middleware: authenticate (and authorize) every request, or those under a path.

    ``app.middleware(Authenticate(auth))`` protects the whole application;
    ``Authenticate(auth, prefix="/admin")`` protects ``/admin`` and everything
    below it (``/admin/users``), not ``/administrator``. Paths are compared
    percent-decoded, as the router matches them. ``when`` narrows further
    with any test of yours. Requests it does not apply to pass untouched.

    Otherwise as ``require_auth``: 401 (or 400) with challenges, the user in
    ``request.state.user``, 403 when ``authorize`` says no, and
    ``Authentication-Info`` added to the response.

    Register ``CORS`` before it: a preflight carries no credentials and must
    be answered by ``CORS``, and a 401 needs CORS fields for a page to read it.

    Args:
        scheme: as for ``require_auth``.
        prefix: a path (``"/admin"``) whose subtree needs authentication;
            ``None`` or ``"/"`` for every path.
        when: ``when(request) -> bool``: authenticate only where it is true
            (and under ``prefix``).
        authorize: as for ``require_auth``.
        offload: as for ``require_auth``.

    Raises:
        ValueError: ``prefix`` does not start with ``/``.
        TypeError: as ``require_auth``, or ``when`` not callable.
    """

    __slots__ = ("_guard", "_prefix", "when")

    def __init__(
        self,
        scheme: Authenticator,
        *,
        prefix: str | None = None,
        when: Callable[[Request], bool] | None = None,
        authorize: Authorize | None = None,
        offload: bool = True,
    ) -> None:
        if prefix is not None and not prefix.startswith("/"):
            raise ValueError(f"prefix must be a path starting with '/', not {prefix!r}")
        if when is not None and not callable(when):
            raise TypeError(f"when must be callable, not {when!r}")
        self._guard = _Guard(scheme, authorize, offload)
        stripped = "" if prefix is None else prefix.rstrip("/")
        # (the path itself, what its subtree starts with); None ("/") for all paths.
        self._prefix = (stripped, stripped + "/") if stripped else None
        self.when = when

    def __repr__(self) -> str:
        prefix = self._prefix[0] if self._prefix else None
        return f"Authenticate({self._guard.scheme!r}, prefix={prefix!r})"

    def applies(self, request: Request) -> bool:
        """Whether ``request`` needs authentication here.

        Args:
            request: the request.

        Returns:
            ``True`` when its path is under ``prefix`` and ``when`` (if given)
            says so.
        """
        prefix = self._prefix
        if prefix is not None:
            path = request.path
            if path != prefix[0] and not path.startswith(prefix[1]):
                return False
        return self.when is None or bool(self.when(request))

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Refuse the request, or run it and add the scheme's response fields.

        Args:
            request: the request.
            call_next: the rest of the middleware chain and the handler.

        Returns:
            The refusal (401, 400, 403) or the response.
        """
        if not self.applies(request):
            return await call_next(request)
        try:
            result = await self._guard.check(request)
        except HTTPError as exc:
            return exc.response(request)
        response = await call_next(request)
        if result.headers:
            return _with_fields(response, result.headers)
        return response
