"""Responses: what a handler returns and the server writes.

The server reads four attributes from any response, nothing else:

- ``status`` (``int``, 100-599),
- ``headers`` (a :class:`~longwire.http1.Headers`; the server adds
  ``Content-Length`` or ``Transfer-Encoding`` itself, so don't set them),
- ``body`` (``bytes``; ``b""`` for a streaming response),
- ``stream`` (``None`` for a fixed body, else an async iterator of ``bytes``).

``StreamingResponse`` is a ``Response`` whose body comes from ``stream``, so one
type, and one ``isinstance`` check, covers everything a handler may return.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Self
from urllib.parse import quote

from ..http1._headers import Headers, HeadersLike
from ._cookies import SameSite, build_delete_cookie, build_set_cookie, sign
from ._secrets import Secret

__all__ = ["Response", "StreamingResponse", "to_response"]

_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"

# One encoder for every JSON response: json.dumps() with non-default options
# builds a new JSONEncoder on each call. NaN and Infinity are not JSON
# (RFC 8259 §6), so they raise ValueError instead of producing a body no
# parser accepts.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

# Characters left as they are in a Location header: the URI reserved and
# unreserved sets, plus "%" so an already-encoded URL is not encoded twice.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def _check_status(status: object) -> int:
    """``status`` as an ``int``, or ``ValueError`` unless it is an integer in 100..599."""
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return int(status)  # plain int even for an IntEnum such as http.HTTPStatus
    raise ValueError(f"status must be an integer from 100 to 599, not {status!r}")


def _headers(headers: HeadersLike) -> Headers:
    # A copy of a Headers the caller passes: adding Content-Type must not
    # change an object the application may reuse for other responses.
    if isinstance(headers, Headers):
        return headers.copy()
    return Headers(headers)


class Response:
    """An HTTP response with a fixed body.

    Args:
        body: the body; a ``str`` is encoded as UTF-8.
        status: the status code, an integer from 100 to 599.
        headers: header fields, as a ``Headers`` (copied) or ``(name, value)`` pairs.
        content_type: the ``Content-Type``. When ``None``, a ``str`` body gets
            ``text/plain; charset=utf-8`` (unless ``headers`` has one) and a
            ``bytes`` body gets no ``Content-Type`` at all.

    Raises:
        ValueError: ``status`` is not an integer from 100 to 599.
        TypeError: ``body`` is neither ``bytes`` nor ``str``.
    """

    __slots__ = ("body", "headers", "status", "stream")

    status: int
    headers: Headers
    body: bytes
    stream: AsyncIterator[bytes] | None

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: HeadersLike | None = None,
        content_type: str | None = None,
    ) -> None:
        if type(status) is not int or not 100 <= status <= 599:
            status = _check_status(status)
        self.status = status
        if isinstance(body, str):
            body = body.encode()
            default_type: str | None = _TEXT
        elif isinstance(body, bytes):
            default_type = None
        else:
            raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
        if headers is None:
            # Headers() costs as much as the rest of this method (it runs a
            # comprehension over no fields) and nearly every response pays it,
            # so the empty Headers is made directly.
            fields = Headers.__new__(Headers)
            fields._fields = []
            if content_type is None:
                content_type = default_type
            if content_type is not None:
                fields.add("Content-Type", content_type)
        else:
            fields = _headers(headers)
            if content_type is not None:
                fields.set("Content-Type", content_type)
            elif default_type is not None and "content-type" not in fields:
                fields.add("Content-Type", default_type)
        self.status = status
        self.headers = fields
        self.body = body
        self.stream = None

    @classmethod
    def text(cls, text: str, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """A ``text/plain; charset=utf-8`` response."""
        return Response(text.encode(), status, headers, _TEXT)

    @classmethod
    def html(cls, html: str, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """A ``text/html; charset=utf-8`` response."""
        return Response(html.encode(), status, headers, _HTML)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """An ``application/json`` response: ``obj`` as compact UTF-8 JSON.

        Raises:
            TypeError: ``obj`` holds something JSON cannot represent.
            ValueError: ``obj`` holds NaN or an infinity (not valid JSON).
        """
        return Response(_encode_json(obj).encode(), status, headers, _JSON)

    @classmethod
    def redirect(cls, url: str, status: int = 307, headers: HeadersLike | None = None) -> Response:
        """A redirect to ``url`` with an empty body.

        Characters a header cannot carry (non-ASCII, spaces) are percent-encoded.
        307 keeps the method and body; use 303 to turn a POST into a GET.

        Raises:
            ValueError: ``status`` is not a 3xx status.
        """
        if not (isinstance(status, int) and 300 <= status <= 399):
            raise ValueError(f"a redirect status must be 3xx, not {status!r}")
        response = Response(b"", status, headers)
        response.headers.set("Location", quote(url, safe=_URL_SAFE))
        return response

    # Cookies: each call adds one Set-Cookie field (RFC 6265 §4.1).

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | timedelta | None = None,
        expires: datetime | float | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: SameSite | None = "Lax",
        partitioned: bool = False,
    ) -> Self:
        """Add a ``Set-Cookie`` field; returns the response, for chaining.

        ``return Response.redirect("/", 303).set_cookie("theme", "dark")``.

        Args:
            name: the cookie name, a token.
            value: the value, cookie-octets only (no space, ``"``, ``,``, ``;``,
                ``\\`` or non-ASCII): encode anything else first.
            max_age: lifetime in seconds (or a ``timedelta``); 0 deletes it.
                Without ``max_age`` and ``expires``, it lasts the browser session.
            expires: an aware ``datetime`` or seconds since the epoch.
            path: the paths it is sent for; ``"/"``, the whole site, by default.
            domain: ``None`` (the default) keeps it to this exact host;
                a domain shares it with every subdomain.
            secure: send it over HTTPS only. Set it whenever the site is HTTPS.
            httponly: hide it from JavaScript (on by default: set
                ``httponly=False`` only for a cookie scripts must read).
            samesite: ``"Lax"`` (the default: not sent on cross-site POSTs,
                which stops most CSRF), ``"Strict"``, ``"None"`` (needs
                ``secure``), or ``None`` to omit it.
            partitioned: CHIPS partitioned storage (needs ``secure``).

        Raises:
            InvalidCookieError: (a ``ValueError``) the name, value or an
                attribute breaks RFC 6265, or a combination browsers refuse.
        """
        self.headers.add(
            "Set-Cookie",
            build_set_cookie(
                name,
                value,
                max_age=max_age,
                expires=expires,
                domain=domain,
                path=path,
                secure=secure,
                httponly=httponly,
                samesite=samesite,
                partitioned=partitioned,
            ),
        )
        return self

    def set_signed_cookie(
        self,
        name: str,
        value: str,
        secret: Secret | Sequence[Secret],
        *,
        salt: str | None = None,
        max_age: int | timedelta | None = None,
        expires: datetime | float | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: SameSite | None = "Lax",
        partitioned: bool = False,
    ) -> Self:
        """Add a ``Set-Cookie`` field whose value is signed; returns the response.

        The value is signed with HMAC-SHA256 and the current time
        (``payload.timestamp.signature``), so ``Request.signed_cookie`` can tell
        a genuine value from a forged or altered one. It is not encrypted:
        anyone holding the cookie can read ``value`` (base64).

        Args:
            name: the cookie name.
            value: any text (it is encoded into cookie-octets).
            secret: a secret of 16 bytes or more, or a list of them newest
                first (the first one signs).
            salt: ``None`` to use the cookie name, so a value signed for one
                cookie is refused as another.
            max_age: as ``set_cookie``: how long the browser keeps it. Check the
                age when reading too (``signed_cookie(..., max_age=...)``): a
                copied cookie does not expire with the browser's copy.
            expires: as ``set_cookie``.
            path: as ``set_cookie``.
            domain: as ``set_cookie``.
            secure: as ``set_cookie``.
            httponly: as ``set_cookie``.
            samesite: as ``set_cookie``.
            partitioned: as ``set_cookie``.

        Raises:
            InvalidCookieError: as ``set_cookie`` (e.g. a signed value over 4096 bytes).
            ValueError: no secret, or one shorter than 16 bytes.
        """
        signed = sign(value, secret, salt=name if salt is None else salt)
        return self.set_cookie(
            name,
            signed,
            max_age=max_age,
            expires=expires,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )

    def delete_cookie(
        self,
        name: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        partitioned: bool = False,
    ) -> Self:
        """Add a ``Set-Cookie`` field that deletes cookie ``name``; returns the response.

        A browser only replaces a cookie with the same name, path and domain:
        pass those it was set with. A ``__Secure-``/``__Host-`` cookie needs
        ``secure=True``, a partitioned one ``partitioned=True``.

        Raises:
            InvalidCookieError: as ``set_cookie``.
        """
        self.headers.add(
            "Set-Cookie",
            build_delete_cookie(
                name, domain=domain, path=path, secure=secure, partitioned=partitioned
            ),
        )
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}, {len(self.body)} bytes>"


class StreamingResponse(Response):
    """A response whose body is produced chunk by chunk.

    Args:
        content: an async or plain iterable of ``bytes`` or ``str`` chunks
            (``str`` is encoded as UTF-8). A plain iterable runs on the event
            loop: it must not block (wrap blocking reads yourself).
        status: the status code, an integer from 100 to 599.
        headers: header fields, as a ``Headers`` (copied) or ``(name, value)`` pairs.
        content_type: the ``Content-Type``, or ``None`` for none.

    ``body`` is ``b""``; ``stream`` is an async iterator of ``bytes``, good for
    one pass. A chunk of another type raises ``TypeError`` from the iterator.

    Raises:
        ValueError: ``status`` is not an integer from 100 to 599.
        TypeError: ``content`` is ``str``/``bytes`` (use ``Response``) or not iterable.
    """

    __slots__ = ()

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status: int = 200,
        headers: HeadersLike | None = None,
        content_type: str | None = None,
    ) -> None:
        if isinstance(content, (str, bytes, bytearray, memoryview)):
            raise TypeError(
                "StreamingResponse needs an iterable of chunks: use Response for one body"
            )
        if not isinstance(content, (AsyncIterable, Iterable)):
            raise TypeError(
                f"content must be an iterable or async iterable, not {type(content).__name__}"
            )
        super().__init__(b"", status, headers, content_type)
        self.stream = _chunks(content)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}, streaming>"


def _to_bytes(chunk: object) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"a streamed chunk must be bytes or str, not {type(chunk).__name__}")


async def _chunks(
    content: AsyncIterable[bytes | str] | Iterable[bytes | str],
) -> AsyncIterator[bytes]:
    if isinstance(content, AsyncIterable):
        async for chunk in content:
            yield _to_bytes(chunk)
    else:
        for chunk in content:
            yield _to_bytes(chunk)


def to_response(result: object) -> Response:
    """The response for what a handler returned, other than a ``Response``
    (``str``: text, ``bytes``, ``dict``/``list``: JSON, ``None``: 204).

    Raises:
        TypeError: ``result`` is of a type handlers may not return.
    """
    if isinstance(result, str):
        return Response.text(result)
    if isinstance(result, bytes):
        return Response(result)
    if isinstance(result, (dict, list)):
        return Response.json(result)
    if result is None:
        return Response(b"", 204)
    raise TypeError(
        f"a handler returned {type(result).__name__}: return a Response, str, bytes, "
        "dict, list or None"
    )
