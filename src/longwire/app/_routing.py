"""Routing: from a method and a path to a handler and its path parameters.

Patterns are paths with parameters in braces::

    /users/{name}              str (the default): one segment, no "/"
    /items/{item_id:int}       int: ASCII digits, converted with int()
    /prices/{amount:float}     float: digits with an optional fraction (no sign, no exponent)
    /orders/{order:uuid}       uuid: 8-4-4-4-12 hex digits, converted to uuid.UUID
    /files/{rest:path}         path: the rest of the path, "/" included; last only

Each pattern is compiled to one regular expression. Patterns without parameters
go in a dict, looked up first, so a static path always wins over a parameterised
one; parameterised patterns are then tried in registration order.

Matching works on the percent-decoded path (``Request.path``), so parameters
arrive decoded and ``%2F`` separates segments like ``/`` does. Nothing is
normalised: ``/a`` and ``/a/`` are different paths, and neither redirects.
"""

from __future__ import annotations

import enum
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import HTTPError

if TYPE_CHECKING:
    from ._request import Request

__all__ = ["UNSET", "Route", "Router", "WebSocketRoute"]


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET
"""Marks a WebSocket route option left to the server's default."""


# name -> (regex, conversion); None converts nothing (the value stays a str).
_CONVERTERS: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "str": (r"[^/]+", None),
    "int": (r"[0-9]+", int),
    "float": (r"[0-9]+(?:\.[0-9]+)?", float),
    "uuid": (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        uuid.UUID,
    ),
    "path": (r".+", None),
}

_PARAM = re.compile(r"\{([^{}]*)\}")
# RFC 9110 §9.1: a method is a token (§5.6.2).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route: a path pattern, the methods it answers, its handler.

    Attributes:
        path: the pattern, as registered.
        methods: the methods registered (``HEAD`` is implied by ``GET``, not listed).
        handler: the function registered, unchanged.
        call: what the application awaits: ``handler`` itself for a coroutine
            function, else an adapter that calls it and awaits an awaitable result.
    """

    path: str
    methods: frozenset[str]
    handler: Callable[..., Any]
    call: Callable[[Request], Awaitable[Any]] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WebSocketRoute:
    """A WebSocket endpoint and the options of its opening handshake.

    Attributes:
        path: the pattern, as registered.
        handler: the coroutine function the server runs for each accepted connection.
        subprotocols: the subprotocols offered, by preference (empty: none).
        origins: the ``Origin`` values accepted, a function ``(origin or None)
            -> bool`` deciding, or ``None`` to accept any.
        compression: whether to negotiate permessage-deflate (RFC 7692).
        max_message_size: the message size limit in bytes, ``None`` for no
            limit, or ``UNSET`` to leave it to the server's default.
    """

    path: str
    handler: Callable[..., Any]
    subprotocols: tuple[str, ...] = ()
    origins: frozenset[str] | Callable[[str | None], bool] | None = None
    compression: bool = True
    max_message_size: int | _Unset | None = UNSET

    def __post_init__(self) -> None:
        if not isinstance(self.subprotocols, tuple) or not all(
            isinstance(p, str) for p in self.subprotocols
        ):
            raise TypeError(f"subprotocols must be a tuple of str, not {self.subprotocols!r}")
        origins = self.origins
        if origins is not None and not isinstance(origins, frozenset) and not callable(origins):
            raise TypeError(
                f"origins must be a frozenset of str, a function or None, not {origins!r}"
            )
        size = self.max_message_size
        if (
            size is not None
            and size is not UNSET
            and (not isinstance(size, int) or isinstance(size, bool) or size < 0)
        ):
            raise ValueError(f"max_message_size must be an int >= 0, None or UNSET, not {size!r}")

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a handshake with this ``Origin`` (``None``: none sent) may proceed."""
        origins = self.origins
        if origins is None:
            return True
        if isinstance(origins, frozenset):
            return origin in origins
        return bool(origins(origin))


def _adapt(handler: Callable[..., Any]) -> Callable[[Request], Awaitable[Any]]:
    """An async callable for a plain function (or any callable returning an awaitable)."""

    async def call(request: Request) -> Any:
        result = handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call


class _Pattern:
    """A compiled pattern with parameters, and what it maps to."""

    __slots__ = ("converters", "path", "regex", "targets")

    def __init__(self, path: str) -> None:
        regex, converters = _compile(path)
        self.path = path
        self.regex = regex
        self.converters = converters
        # method -> Route for HTTP patterns; unused for WebSocket ones.
        self.targets: dict[str, Route] = {}

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted parameters, or ``None`` when ``path`` doesn't match."""
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        params: dict[str, Any] = found.groupdict()
        try:
            for name, convert in self.converters:
                params[name] = convert(params[name])
        except ValueError:  # e.g. an int over sys.get_int_max_str_digits(): no match
            return None
        return params


def _compile(path: str) -> tuple[re.Pattern[str], list[tuple[str, Callable[[str], Any]]]]:
    """One regex for ``path``, and the conversions its parameters need.

    Raises:
        ValueError: the pattern is malformed.
    """
    parts: list[str] = []
    converters: list[tuple[str, Callable[[str], Any]]] = []
    names: set[str] = set()
    end = 0
    for param in _PARAM.finditer(path):
        parts.append(_literal(path, path[end : param.start()]))
        name, _, kind = param.group(1).partition(":")
        kind = kind or "str"
        if not name.isidentifier():
            raise ValueError(
                f"route path {path!r}: parameter name {name!r} is not a Python identifier"
            )
        if name in names:
            raise ValueError(f"route path {path!r}: duplicate parameter name {name!r}")
        if kind not in _CONVERTERS:
            known = ", ".join(_CONVERTERS)
            raise ValueError(f"route path {path!r}: unknown converter {kind!r} (known: {known})")
        if kind == "path" and param.end() != len(path):
            raise ValueError(
                f"route path {path!r}: a 'path' parameter must end the pattern ({name!r} doesn't)"
            )
        names.add(name)
        regex, convert = _CONVERTERS[kind]
        parts.append(f"(?P<{name}>{regex})")
        if convert is not None:
            converters.append((name, convert))
        end = param.end()
    parts.append(_literal(path, path[end:]))
    # DOTALL: a decoded path may hold any character, "\n" (from %0A) included.
    return re.compile("".join(parts), re.DOTALL), converters


def _literal(path: str, text: str) -> str:
    if "{" in text or "}" in text:
        raise ValueError(f"route path {path!r}: unbalanced '{{' or '}}' in {text!r}")
    return re.escape(text)


def _is_static(path: str) -> bool:
    """Whether ``path`` has no parameters; ``ValueError`` unless it starts with "/"."""
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} must start with '/'")
    return "{" not in path and "}" not in path


def _methods(methods: Iterable[str]) -> frozenset[str]:
    if isinstance(methods, str):
        methods = (methods,)
    result = frozenset(methods)
    if not result:
        raise ValueError("a route needs at least one method")
    for method in result:
        if not _TOKEN.fullmatch(method):
            raise ValueError(f"{method!r} is not a valid HTTP method")
    return frozenset(method.upper() for method in result)


class Router:
    """HTTP and WebSocket routes, and the matching of paths against them.

    ``add`` and ``add_websocket`` register; ``match`` and ``match_websocket``
    look up. See the module documentation for the pattern syntax.
    """

    __slots__ = (
        "_dynamic",
        "_fallbacks",
        "_patterns",
        "_routes",
        "_static",
        "_ws_dynamic",
        "_ws_static",
    )

    def __init__(self) -> None:
        # path -> method -> Route for patterns without parameters. The App reads
        # this dict directly on its fast path: it is only ever mutated in place.
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[_Pattern] = []
        self._fallbacks = 0  # fallback patterns, kept at the end of _dynamic
        self._patterns: dict[str, _Pattern] = {}
        self._routes: list[Route] = []
        self._ws_static: dict[str, WebSocketRoute] = {}
        self._ws_dynamic: list[tuple[_Pattern, WebSocketRoute]] = []

    @property
    def routes(self) -> tuple[Route, ...]:
        """The HTTP routes, in registration order."""
        return tuple(self._routes)

    def add(
        self,
        path: str,
        handler: Callable[..., Any],
        methods: Iterable[str] = ("GET",),
        *,
        fallback: bool = False,
    ) -> Route:
        """Route ``methods`` on ``path`` to ``handler``; return the new ``Route``.

        A route for ``GET`` also answers ``HEAD``, unless ``HEAD`` has a route of
        its own on the same pattern. Method names are upper-cased. A
        ``fallback`` pattern is tried after every other one, whenever they are
        registered, and after longer fallback patterns (``App.static`` mounts
        its catch-all that way).

        Raises:
            ValueError: the pattern is malformed (bad converter, duplicate
                parameter, unbalanced brace...), a method is not a valid token,
                or a method of ``path`` already has a route.
        """
        wanted = _methods(methods)
        static = _is_static(path)
        pattern = None if static else self._patterns.get(path) or _Pattern(path)  # may raise
        targets = self._static.get(path, {}) if pattern is None else pattern.targets
        # An implied HEAD (a GET route without HEAD in its methods) may be replaced.
        taken = sorted(m for m in wanted if m in targets and m in targets[m].methods)
        if taken:
            raise ValueError(f"{', '.join(taken)} {path} already has a route")
        call = handler if inspect.iscoroutinefunction(handler) else _adapt(handler)
        route = Route(path, wanted, handler, call)
        for method in wanted:
            targets[method] = route
        if "GET" in wanted and "HEAD" not in targets:
            targets["HEAD"] = route
        # Register only once everything is checked: a failed add changes nothing.
        if pattern is None:
            self._static[path] = targets
        elif path not in self._patterns:
            self._patterns[path] = pattern
            if fallback:
                # Longest pattern first: a mount at /files/x wins over one at /files,
                # whatever their order.
                dynamic = self._dynamic
                at = len(dynamic) - self._fallbacks
                while at < len(dynamic) and len(dynamic[at].path) >= len(path):
                    at += 1
                dynamic.insert(at, pattern)
                self._fallbacks += 1
            else:
                self._dynamic.insert(len(self._dynamic) - self._fallbacks, pattern)
        self._routes.append(route)
        return route

    def match(self, method: str, path: str) -> tuple[Route, dict[str, Any]]:
        """The route for ``method`` on ``path``, and its converted parameters.

        Args:
            method: the request method (case-sensitive: RFC 9110 §9.1).
            path: the percent-decoded path, without the query.

        Raises:
            HTTPError: 405 with an ``Allow`` header when patterns match ``path``
                but none for ``method``; else 426 with ``Upgrade: websocket``
                when a WebSocket route matches it; else 404.
        """
        targets = self._static.get(path)
        if targets is not None:
            route = targets.get(method)
            if route is not None:
                return route, {}
        for pattern in self._dynamic:
            params = pattern.match(path)
            if params is not None:
                route = pattern.targets.get(method)
                if route is not None:
                    return route, params
        # No route: a second pass, off the success path, gathers the methods of
        # every pattern matching ``path`` for 405's Allow (RFC 9110 §15.5.6).
        allowed = self.allowed_methods(path)
        if allowed:
            raise HTTPError(405, headers=[("Allow", ", ".join(sorted(allowed)))])
        if self.match_websocket(path) is not None:
            # RFC 9110 §15.5.22: a 426 MUST name the protocol to upgrade to in
            # Upgrade, which §7.8 requires listing in Connection too.
            raise HTTPError(426, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")])
        raise HTTPError(404)

    def allowed_methods(self, path: str, *, fallbacks: bool = True) -> frozenset[str]:
        """The methods routed on ``path`` (percent-decoded), ``HEAD`` included for
        ``GET``; without the fallback patterns' unless ``fallbacks``."""
        targets = self._static.get(path)
        allowed = set(targets or ())
        patterns = self._dynamic
        if not fallbacks and self._fallbacks:
            patterns = patterns[: -self._fallbacks]
        for pattern in patterns:
            if pattern.match(path) is not None:
                allowed.update(pattern.targets)
        return frozenset(allowed)

    @property
    def methods(self) -> frozenset[str]:
        """Every method some HTTP route answers."""
        return frozenset(method for route in self._routes for method in route.methods)

    def add_websocket(self, path: str, route: WebSocketRoute) -> None:
        """Route WebSocket connections to ``path`` to ``route``.

        Raises:
            ValueError: the pattern is malformed, or already has a WebSocket route.
        """
        if path in self._ws_static or any(p.path == path for p, _ in self._ws_dynamic):
            raise ValueError(f"WebSocket {path} already has a route")
        if _is_static(path):
            self._ws_static[path] = route
        else:
            self._ws_dynamic.append((_Pattern(path), route))

    def match_websocket(self, path: str) -> tuple[WebSocketRoute, dict[str, Any]] | None:
        """The WebSocket route for ``path`` (percent-decoded, no query) and its
        parameters, or ``None``."""
        route = self._ws_static.get(path)
        if route is not None:
            return route, {}
        for pattern, route in self._ws_dynamic:
            params = pattern.match(path)
            if params is not None:
                return route, params
        return None
