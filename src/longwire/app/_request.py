"""``Request``: one HTTP request as a handler sees it.

The server builds one per request, so the constructor only stores its
arguments; the path, the query and the body are worked out on first use.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..http1._headers import Headers
from ._errors import HTTPError

__all__ = ["Request"]


def _charset(content_type: str | None) -> str:
    """The ``charset`` parameter of a ``Content-Type`` value (RFC 9110 §8.3.1), or UTF-8."""
    if content_type:
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip(" \t").lower() == "charset":
                return value.strip(" \t").strip('"') or "utf-8"
    return "utf-8"


class Request:
    """An HTTP request.

    Args:
        method: the request method, such as ``"GET"``.
        target: the request target as sent (origin-form ``/path?query``,
            absolute-form ``http://host/path`` or ``*``).
        headers: the header fields.
        client: the peer's ``(host, port)``, when known.
        scheme: ``"http"`` or ``"https"``.
        http_version: ``"1.1"`` or ``"1.0"``.
        receive_body: an async function returning the next body chunk and
            ``b""`` at the end; ``None`` when the request has no body.

    Attributes:
        path_params: the path parameters, converted; set by the router.
    """

    __slots__ = (
        "_body",
        "_path",
        "_path_params",
        "_query",
        "_query_pairs",
        "_query_string",
        "_raw_path",
        "_receive",
        "_state",
        "_streamed",
        "client",
        "headers",
        "http_version",
        "method",
        "scheme",
        "target",
    )

    def __init__(
        self,
        method: str,
        target: str,
        headers: Headers,
        *,
        client: tuple[str, int] | None = None,
        scheme: str = "http",
        http_version: str = "1.1",
        receive_body: Callable[[], Awaitable[bytes]] | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.client = client
        self.scheme = scheme
        self.http_version = http_version
        self._receive = receive_body
        # Worked out on first use.
        self._raw_path: str | None = None
        self._query_string: str | None = None
        self._path: str | None = None
        self._query: Mapping[str, str] | None = None
        self._query_pairs: list[tuple[str, str]] | None = None
        self._path_params: dict[str, Any] | None = None
        self._state: SimpleNamespace | None = None
        self._body: bytes | None = None
        self._streamed = False

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"

    # The target

    def _split_target(self) -> str:
        target = self.target
        if target.startswith("/"):
            raw_path, _, query_string = target.partition("?")
        elif "://" in target:  # absolute-form (RFC 9112 §3.2.2): a server must accept it
            parts = urlsplit(target)
            raw_path, query_string = parts.path or "/", parts.query
        else:  # asterisk-form "*" (§3.2.4) or CONNECT's authority-form (§3.2.3): kept whole
            raw_path, query_string = target, ""
        self._raw_path = raw_path
        self._query_string = query_string
        return raw_path

    @property
    def raw_path(self) -> str:
        """The path part of the target, still percent-encoded."""
        raw_path = self._raw_path
        return self._split_target() if raw_path is None else raw_path

    @property
    def path(self) -> str:
        """The path part of the target, percent-decoded (as UTF-8)."""
        path = self._path
        if path is None:
            raw_path = self._raw_path
            if raw_path is None:
                target = raw_path = self.target
                # Inlined _split_target() for the usual "/path": every request pays it.
                if "?" in target or not target.startswith("/"):
                    raw_path = self._split_target()
                else:
                    self._raw_path = target
                    self._query_string = ""
            path = self._path = unquote(raw_path) if "%" in raw_path else raw_path
        return path

    @property
    def query_string(self) -> str:
        """The query part of the target (after ``?``), still encoded; ``""`` when absent."""
        if self._query_string is None:
            self._split_target()
        return self._query_string or ""

    def _pairs(self) -> list[tuple[str, str]]:
        pairs = self._query_pairs
        if pairs is None:
            pairs = self._query_pairs = parse_qsl(self.query_string, keep_blank_values=True)
        return pairs

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters, read-only: each name maps to its first value."""
        query = self._query
        if query is None:
            first: dict[str, str] = {}
            for name, value in self._pairs():
                first.setdefault(name, value)
            query = self._query = MappingProxyType(first)
        return query

    def query_list(self, name: str) -> list[str]:
        """Every value of query parameter ``name``, in order (an empty list when absent)."""
        return [value for key, value in self._pairs() if key == name]

    # Per-request data

    @property
    def path_params(self) -> dict[str, Any]:
        """The path parameters, converted (``{}`` for a path without parameters)."""
        params = self._path_params
        if params is None:
            params = self._path_params = {}
        return params

    @path_params.setter
    def path_params(self, params: dict[str, Any]) -> None:
        self._path_params = params

    @property
    def state(self) -> SimpleNamespace:
        """A namespace where middleware leaves data for the handler (``request.state.user``)."""
        state = self._state
        if state is None:
            state = self._state = SimpleNamespace()
        return state

    # The body

    async def stream(self) -> AsyncIterator[bytes]:
        """Iterate over the body chunks as they arrive (no empty chunk).

        Good for one pass. After ``body()``, yields the buffered body instead.

        Raises:
            RuntimeError: the body was already streamed, in part or in full.
        """
        if self._body is not None:
            if self._body:
                yield self._body
            return
        if self._streamed:
            raise RuntimeError(
                "the request body was already consumed by an earlier stream(); "
                "call body() first to read it more than once"
            )
        self._streamed = True
        receive = self._receive
        if receive is None:
            return
        while chunk := await receive():
            yield chunk

    async def body(self) -> bytes:
        """The whole body, read once and kept (later calls return the same bytes).

        Raises:
            RuntimeError: ``stream()`` consumed the body before.
        """
        body = self._body
        if body is None:
            if self._receive is None and not self._streamed:
                body = b""
            else:
                body = b"".join([chunk async for chunk in self.stream()])
            self._body = body
        return body

    async def text(self) -> str:
        """The body decoded with the ``Content-Type`` charset (UTF-8 by default).

        Raises:
            HTTPError: 400 when the charset is unknown or the body doesn't decode.
        """
        body = await self.body()
        charset = _charset(self.headers.get("content-type"))
        try:
            return body.decode(charset)
        except LookupError:
            raise HTTPError(400, f"unknown charset {charset!r}") from None
        except UnicodeDecodeError as exc:
            raise HTTPError(400, f"body is not valid {charset}: {exc.reason}") from exc

    async def json(self) -> Any:
        """The body parsed as JSON (RFC 8259: UTF-8, or UTF-16/32 detected).

        Raises:
            HTTPError: 400 when the body is not valid JSON.
        """
        body = await self.body()
        try:
            return json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise HTTPError(400, f"invalid JSON body: {exc}") from exc
