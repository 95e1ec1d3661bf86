"""``HTTPError``: raise it anywhere in a handler or middleware to answer with an error status."""

from __future__ import annotations

from http import HTTPStatus

from .._errors import LongwireError
from ..http1._headers import Headers, HeadersLike
from ._response import Response, _check_status

__all__ = ["HTTPError"]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a valid but unregistered status, such as 599
        return f"Status {status}"


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

    def response(self) -> Response:
        """The response that answers this error: ``detail`` as ``text/plain``.

        A status that forbids a body (1xx, 204, 304: RFC 9110 §15) gets none.
        """
        if self.status < 200 or self.status in (204, 304):
            return Response(b"", self.status, self.headers)
        return Response.text(self.detail + "\n", self.status, self.headers)
