"""``Request``: one HTTP request as a handler sees it.

The server builds one per request, so the constructor only stores its
arguments; the path, the query, the cookies and the body are worked out on
first use. The body is read through ``stream()``, which undoes a
``Content-Encoding``; ``body()``, ``text()``, ``json()`` and ``form()`` build on
it. See docs/requests.md.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..http1._headers import Headers
from ._coding import MAX_DECODED_SIZE, Decoder
from ._cookies import BadSignatureError, parse_cookie_header, unsign
from ._errors import HTTPError
from ._forms import FormData, FormTooLargeError, UnsupportedFormTypeError, UrlencodedParser
from ._multipart import (
    DEFAULT_SPOOL_THRESHOLD,
    FormLimits,
    MultipartCollector,
    UploadFile,
    parse_boundary,
)
from ._secrets import Secret

__all__ = ["Request"]

_DEFAULT_FORM_LIMITS = FormLimits()


def _charset(content_type: str | None) -> str:
    """The ``charset`` parameter of a ``Content-Type`` value (RFC 9110 §8.3.1), or UTF-8."""
    if content_type:
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip(" \t").lower() == "charset":
                return value.strip(" \t").strip('"') or "utf-8"
    return "utf-8"


def _media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lowercased (RFC 9110 §8.3.1); ``""`` if none."""
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip(" \t").lower()


def _is_json(media_type: str) -> bool:
    # application/json (RFC 8259 §11), or a type with the +json structured
    # syntax suffix (RFC 6839 §3.1): application/problem+json, application/ld+json...
    return media_type == "application/json" or (media_type.endswith("+json") and "/" in media_type)


def _wrong_type(content_type: str | None, expected: str) -> str:
    """The one-line detail of a 415: the type received (shortened) and the one expected."""
    if not content_type:
        return f"no Content-Type: expected {expected}"
    shown = content_type.partition(";")[0].strip(" \t")
    return f"Content-Type is {shown[:60]!r}, expected {expected}"


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
        "_cookies",
        "_form",
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
        self._cookies: Mapping[str, str] | None = None
        self._form: FormData[str | UploadFile] | None = None

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

    # Cookies

    @property
    def cookies(self) -> Mapping[str, str]:
        """The request's cookies, read-only: each name maps to its first value.

        Parsed once from the ``Cookie`` header (several ``Cookie`` lines are
        joined with ``"; "``, RFC 9113 §8.2.3), leniently: a malformed pair is
        skipped. Values are as sent (no percent-decoding, no signature check:
        see ``signed_cookie``).
        """
        cookies = self._cookies
        if cookies is None:
            header = "; ".join(self.headers.get_all("cookie"))
            cookies = self._cookies = MappingProxyType(parse_cookie_header(header))
        return cookies

    def signed_cookie(
        self,
        name: str,
        secret: Secret | Sequence[Secret],
        *,
        max_age: float | timedelta | None = None,
        salt: str | None = None,
    ) -> str | None:
        """The value of a cookie set with ``Response.set_signed_cookie``, if genuine.

        Args:
            name: the cookie name.
            secret: the secret it was signed with, or a list of secrets newest
                first (values signed with any of them are accepted, so a key can
                be rotated without logging everyone out).
            max_age: the oldest a value may be, in seconds (or a ``timedelta``),
                counted from when it was signed; ``None`` accepts any age.
            salt: the salt it was signed with; ``None`` for the cookie name (the
                default of ``set_signed_cookie``).

        Returns:
            The value that was signed, or ``None`` when the cookie is missing,
            forged, altered, signed for another name or salt, or too old.

        Raises:
            ValueError: no secret, or one shorter than 16 bytes.
        """
        value = self.cookies.get(name)
        if value is None:
            return None
        try:
            return unsign(value, secret, max_age, salt=name if salt is None else salt)
        except BadSignatureError:
            return None

    # The body

    async def stream(
        self, *, max_decoded_size: int | None = MAX_DECODED_SIZE
    ) -> AsyncIterator[bytes]:
        """Iterate over the body chunks as they arrive (no empty chunk).

        A ``Content-Encoding`` (``gzip``, ``deflate``, ``br`` with the brotli
        package, or two of them stacked) is undone as the chunks arrive;
        ``identity`` is no coding. Good for one pass. After ``body()``, yields
        the buffered body instead.

        Args:
            max_decoded_size: the most bytes a coded body may decode to;
                ``None`` for no limit. A body without coding is bounded by the
                server's ``max_body_size`` instead.

        Raises:
            RuntimeError: the body was already streamed, in part or in full.
            UnsupportedContentCoding: (415) a coding that cannot be undone; the
                answer lists in ``Accept-Encoding`` those that can.
            DecodedContentTooLarge: (413) the decoded body passed ``max_decoded_size``.
            ContentCodingError: (400) corrupt or truncated coded content.
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
        if "content-encoding" not in self.headers:
            while chunk := await receive():
                yield chunk
            return
        decoder = Decoder(self.headers.get_all("content-encoding"), max_size=max_decoded_size)
        if not decoder.codings:  # identity
            while chunk := await receive():
                yield chunk
            return
        while chunk := await receive():
            if data := decoder.decode(chunk):
                yield data
        if data := decoder.finish():
            yield data

    async def body(self, *, max_decoded_size: int | None = MAX_DECODED_SIZE) -> bytes:
        """The whole body, decoded, read once and kept (later calls return the same bytes).

        Args:
            max_decoded_size: as for ``stream()``; only the first call reads.

        Raises:
            RuntimeError: ``stream()`` (or ``form()``) consumed the body before.
            ContentCodingError: as ``stream()`` (400, 413 or 415).
        """
        body = self._body
        if body is None:
            if self._receive is None and not self._streamed:
                body = b""
            else:
                chunks = self.stream(max_decoded_size=max_decoded_size)
                body = b"".join([chunk async for chunk in chunks])
            self._body = body
        return body

    async def text(self) -> str:
        """The body decoded with the ``Content-Type`` charset (UTF-8 by default).

        For any textual body: ``text/plain``, ``text/csv``, ``text/xml`` and
        ``application/xml`` (parse XML with a hardened parser: see docs/requests.md).

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

        The ``Content-Type`` must be ``application/json`` or a ``+json`` type
        (``application/problem+json``...); a missing one is refused too, since
        a cross-site page can send a body without one and no CORS preflight.
        To read JSON whatever the type, ``json.loads(await request.body())``.

        Raises:
            HTTPError: 415 when the ``Content-Type`` is not JSON (or missing);
                400 when the body is not valid JSON.
        """
        content_type = self.headers.get("content-type")
        if not _is_json(_media_type(content_type)):
            raise HTTPError(415, _wrong_type(content_type, "application/json"))
        body = await self.body()
        try:
            return json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise HTTPError(400, f"invalid JSON body: {exc}") from exc

    async def form(
        self,
        *,
        limits: FormLimits | None = None,
        spool_threshold: int = DEFAULT_SPOOL_THRESHOLD,
        temp_dir: str | None = None,
    ) -> FormData[str | UploadFile]:
        """The body as form fields, parsed as it arrives; parsed once and kept.

        ``application/x-www-form-urlencoded`` gives ``str`` values;
        ``multipart/form-data`` gives ``str`` values for plain fields and
        ``UploadFile`` values for files (``<input type=file>``), a file bigger
        than ``spool_threshold`` going to a temporary file on disk as it
        arrives. ``name[]`` is stored under ``name``; ``form.getall(name)``
        gives every value of a repeated name.

        The uploaded files belong to the request: ``close()`` closes them
        (deleting temporary files); copy what you want to keep.

        Args:
            limits: the size and count limits (``FormLimits()`` by default).
                Only the first call reads the body: later calls return the
                same ``FormData`` whatever their arguments.
            spool_threshold: files bigger than this many bytes go to disk.
            temp_dir: where those files go; ``tempfile``'s default when ``None``
                (mind a ``/tmp`` on tmpfs: it is memory).

        Raises:
            UnsupportedFormTypeError: (415) the ``Content-Type`` is not one of the two.
            MalformedFormError: (400) the body breaks its format.
            FormTooLargeError: (413) a limit of ``limits`` was broken; its
                ``limit`` names it.
            ContentCodingError: as ``stream()`` (400, 413, 415).
            RuntimeError: the body was streamed before.
        """
        form = self._form
        if form is not None:
            return form
        if limits is None:
            limits = _DEFAULT_FORM_LIMITS
        content_type = self.headers.get("content-type")
        media_type = _media_type(content_type)
        if media_type == "application/x-www-form-urlencoded":
            form = await self._urlencoded(limits)
        elif media_type == "multipart/form-data":
            collector = MultipartCollector(
                parse_boundary(content_type),
                limits=limits.multipart,
                spool_threshold=spool_threshold,
                max_memory_size=limits.max_memory_size,
                temp_dir=temp_dir,
            )
            try:
                async for chunk in self.stream(max_decoded_size=limits.max_size):
                    collector.feed(chunk)
                form = collector.end()
            except BaseException:
                # An error, a cancellation, a client gone: the files go now.
                collector.close()
                raise
        else:
            raise UnsupportedFormTypeError(
                _wrong_type(
                    content_type, "application/x-www-form-urlencoded or multipart/form-data"
                )
            )
        self._form = form
        return form

    async def _urlencoded(self, limits: FormLimits) -> FormData[str]:
        size = limits.max_urlencoded_size
        parser = UrlencodedParser(max_fields=limits.max_fields, max_size=size)
        try:
            async for chunk in self.stream(max_decoded_size=size):
                parser.feed(chunk)
        except FormTooLargeError as exc:
            if exc.limit != "max_size":
                raise
            # The parser's max_size is FormLimits.max_urlencoded_size.
            raise FormTooLargeError(
                exc.detail, limit="max_urlencoded_size", value=exc.value
            ) from None
        return parser.end()

    def close(self) -> None:
        """Close the files ``form()`` received, deleting their temporary files.

        Safe to call more than once, and when there is no form. The server calls
        it once the handler has returned; an ``UploadFile`` nobody closed closes
        its file when it is garbage collected anyway.
        """
        form = self._form
        if form is not None:
            for value in form.values():
                if isinstance(value, UploadFile):
                    value.close()
