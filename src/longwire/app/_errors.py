"""``HTTPError``: raise it anywhere in a handler or middleware to answer with an error status."""

from __future__ import annotations

import logging
import secrets
from html import escape
from http import HTTPStatus
from typing import TYPE_CHECKING

from .._errors import LongwireError
from ..http1._headers import Headers, HeadersLike
from ._negotiation import add_vary, best_media_type
from ._response import Response, _check_status, _encode_json

if TYPE_CHECKING:
    from ._request import Request

__all__ = ["HTTPError", "internal_error"]

# Where unhandled exceptions of handlers and middleware are reported.
_logger = logging.getLogger("longwire.app")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a valid but unregistered status, such as 599
        return f"Status {status}"


_TEXT = "text/plain"
_HTML = "text/html"
# The order breaks ties: text for "*/*" (curl, fetch), JSON for API clients,
# HTML when a browser navigates.
_ERROR_TYPES = (_TEXT, "application/problem+json", "application/json", _HTML)


class HTTPError(LongwireError):
    """An HTTP error answer, raised instead of returned.

    ``raise HTTPError(404)`` answers ``404`` with the body ``Not Found\\n``;
    ``raise HTTPError(401, "token expired", [("WWW-Authenticate", "Bearer")])``
    sets both the text and a header.

    Args:
        status: the status code, an integer from 100 to 599.
        detail: the plain-text body (a newline is appended); defaults to the
            standard reason phrase of ``status``.
        headers: header fields to send with the answer.

    Raises:
        ValueError: ``status`` is not an integer from 100 to 599.
    """

    def __init__(
        self, status: int, detail: str | None = None, headers: HeadersLike | None = None
    ) -> None:
        status = _check_status(status)
        if detail is None:
            detail = _reason(status)
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail
        self.headers = Headers.coerce(headers)

    def response(self, request: Request | None = None) -> Response:
        """The response that answers this error, in the type ``request`` prefers.

        ``text/plain`` (``detail`` and a newline) by default and when ``Accept``
        allows anything; a problem-details object (RFC 9457: ``type``,
        ``title``, ``status``, ``detail``) as ``application/problem+json``, or
        ``application/json`` when only that is accepted; a small HTML page when
        ``text/html`` is preferred (browsers). With a ``request``, ``Vary:
        Accept``. A status that forbids a body (1xx, 204, 304: RFC 9110 §15)
        gets none.
        """
        status = self.status
        if status < 200 or status in (204, 304):
            return Response(b"", status, self.headers)
        if request is None:
            return Response.text(self.detail + "\n", status, self.headers)
        accept = request.headers.get("accept")
        kind = _TEXT if accept is None else best_media_type(_ERROR_TYPES, accept) or _TEXT
        if kind == _TEXT:
            response = Response.text(self.detail + "\n", status, self.headers)
        elif kind == _HTML:
            title = escape(f"{status} {_reason(status)}")
            page = f"<!doctype html>\n<title>{title}</title>\n<h1>{title}</h1>\n"
            if self.detail != _reason(status):
                page += f"<p>{escape(self.detail)}</p>\n"
            response = Response.html(page, status, self.headers)
        else:
            problem: dict[str, object] = {
                "type": "about:blank",
                "title": _reason(status),
                "status": status,
            }
            if self.detail != problem["title"]:
                problem["detail"] = self.detail
            response = Response(_encode_json(problem).encode(), status, self.headers, kind)
        if accept is not None:
            add_vary(response.headers, "Accept")
        return response


def internal_error(request: Request) -> Response:
    """The 500 for an exception being handled: logged with an id the client also gets.

    Call it from an ``except`` block: the log record (``longwire.app`` logger,
    with a ``request_id`` field) carries the traceback; the client gets the id
    in the body and in ``X-Request-Id``, never the traceback.
    """
    request_id = secrets.token_hex(6)
    _logger.exception(
        "unhandled error in %s %s (request id %s)",
        request.method,
        request.target,
        request_id,
        extra={"request_id": request_id},
    )
    error = HTTPError(
        500, f"Internal Server Error (request id {request_id})", [("X-Request-Id", request_id)]
    )
    return error.response(request)
