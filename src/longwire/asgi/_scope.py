"""ASGI connection scopes (HTTP and WebSocket) built from a request head.

The ASGI HTTP & WebSocket spec, version 2.4: https://asgi.readthedocs.io/en/latest/specs/www.html.
These functions take the http1 core's fields directly (the target string and
the ``Headers``), not a native ``longwire.app.Request``: the HTTP fast path
builds one scope per request and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

from ..http1 import Headers

__all__ = [
    "ASGI_VERSION",
    "HTTP_EXTENSIONS",
    "HTTP_EXTENSIONS_TRAILERS",
    "WEBSOCKET_EXTENSIONS",
    "ASGIApplication",
    "Receive",
    "Scope",
    "Send",
    "header_fields",
    "http_scope",
    "split_target",
    "websocket_scope",
]

Scope: TypeAlias = dict[str, Any]
Receive: TypeAlias = Callable[[], Any]
Send: TypeAlias = Callable[[dict[str, Any]], Any]
ASGIApplication: TypeAlias = Callable[[Scope, Receive, Send], Any]

ASGI_VERSION = "3.0"
# Spec 2.4: ``send`` on a closed connection raises an OSError subclass
# (``ClientDisconnected``), which Starlette relies on to stop a streamed body.
SPEC_VERSION = "2.4"

# Extensions offered in every HTTP scope. ``http.response.trailers`` only when
# the request says ``TE: trailers`` (RFC 9110 §10.1.4: the client will accept
# them); ``http.response.zerocopy`` is not offered (pathsend covers files).
HTTP_EXTENSIONS: dict[str, dict[str, Any]] = {"http.response.pathsend": {}}
HTTP_EXTENSIONS_TRAILERS: dict[str, dict[str, Any]] = {
    "http.response.pathsend": {},
    "http.response.trailers": {},
}
# The denial response: an app may answer the handshake with any HTTP response.
WEBSOCKET_EXTENSIONS: dict[str, dict[str, Any]] = {"websocket.http.response": {}}


def split_target(target: str) -> tuple[str, str]:
    """``(raw_path, query_string)`` of a request-target, both still percent-encoded.

    Origin-form (``/a?b``) is split at the first ``?``; absolute-form
    (``http://host/a?b``, RFC 9112 §3.2.2) keeps its path and query; the
    asterisk-form (``*``) and authority-form are kept whole as the path.
    """
    if target.startswith("/"):
        raw_path, _, query = target.partition("?")
        return raw_path, query
    if "://" in target:
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    return target, ""


def header_fields(headers: Headers) -> list[tuple[bytes, bytes]]:
    """The request's fields as ASGI wants them: lower-cased byte names, in order.

    The core keeps names and values as the wire bytes decoded as latin-1, so
    encoding back is exact.
    """
    # Headers._fields holds (lowered name, name, value): no .lower() per field here.
    return [
        (lower.encode("latin-1"), value.encode("latin-1")) for lower, _, value in headers._fields
    ]


def _copy_extensions(extensions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {} for name in extensions}


def http_scope(
    *,
    method: str,
    target: str,
    headers: Headers,
    http_version: str,
    scheme: str,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    root_path: str,
    state: dict[str, Any] | None,
) -> Scope:
    """The scope of one HTTP request (``type`` ``"http"``).

    ``path`` is the percent-decoded path (UTF-8) with ``root_path`` in front,
    and ``raw_path`` the same undecoded, as bytes: since uvicorn 0.26 and
    Starlette 0.33, ``path`` is the full path and routing strips ``root_path``.
    """
    raw_path, query = split_target(target)
    path = unquote(raw_path) if "%" in raw_path else raw_path
    if root_path:
        path = root_path + path
        raw_path = root_path + raw_path
    fields = header_fields(headers)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": ASGI_VERSION, "spec_version": SPEC_VERSION},
        "http_version": http_version,
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": root_path,
        "headers": fields,
        "client": client,
        "server": server,
        "extensions": _copy_extensions(
            HTTP_EXTENSIONS_TRAILERS if _accepts_trailers(fields) else HTTP_EXTENSIONS
        ),
    }
    if state is not None:
        scope["state"] = state.copy()  # shallow: the lifespan's objects are shared
    return scope


def _accepts_trailers(fields: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name == b"te" and b"trailers" in value.lower() for name, value in fields)


def websocket_scope(
    *,
    target: str,
    headers: Headers,
    http_version: str,
    scheme: str,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    root_path: str,
    state: dict[str, Any] | None,
) -> Scope:
    """The scope of one WebSocket handshake (``type`` ``"websocket"``); ``scheme`` is
    ``ws`` or ``wss``. ``subprotocols`` are those the client offers, in its order."""
    raw_path, query = split_target(target)
    path = unquote(raw_path) if "%" in raw_path else raw_path
    if root_path:
        path = root_path + path
        raw_path = root_path + raw_path
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": ASGI_VERSION, "spec_version": SPEC_VERSION},
        "http_version": http_version,
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": root_path,
        "headers": header_fields(headers),
        "client": client,
        "server": server,
        "subprotocols": headers.get_list("Sec-WebSocket-Protocol"),
        "extensions": _copy_extensions(WEBSOCKET_EXTENSIONS),
    }
    if state is not None:
        scope["state"] = state.copy()
    return scope
