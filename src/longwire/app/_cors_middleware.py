"""``CORS``: a middleware that applies a ``CORSPolicy`` to every request.

::

    app = App()
    app.middleware(CORS(["https://app.example.com"], allow_methods=["GET", "PUT"]))

Preflights are answered by the middleware itself, before routing; every other
response, error responses included, gets the ``Access-Control-*`` fields the
policy gives, so a page can read why its request failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypedDict, Unpack

from ._app import CallNext
from ._cors import CORSPolicy, Origins
from ._errors import HTTPError, internal_error
from ._request import Request
from ._response import Response
from ._response_edit import detach, merge_vary

__all__ = ["CORS", "CORSOptions"]


class CORSOptions(TypedDict, total=False):
    """The keyword arguments of ``CORSPolicy`` besides ``allow_origins``."""

    allow_methods: Literal["*"] | Iterable[str]
    allow_headers: Literal["*"] | Iterable[str]
    expose_headers: Literal["*"] | Iterable[str]
    allow_credentials: bool
    max_age: int | None
    allow_private_network: bool


class CORS:
    """Middleware: the CORS protocol (WHATWG Fetch) for a whole application.

    ``CORS(policy)`` with a ``CORSPolicy``, or ``CORS(allow_origins, **options)``
    with ``CORSPolicy``'s arguments (defaults: methods GET, HEAD and POST, no
    extra request header, no exposed header, no credentials, preflights cached
    600 s).

    - A preflight (``OPTIONS`` with ``Origin`` and
      ``Access-Control-Request-Method``) is answered here, for any path,
      without running the handler: 204 with the ``Access-Control-Allow-*``
      fields, or, refused, 403 with no CORS field (the browser then fails the
      request; the plain-text body is for people reading it with curl).
    - Any other request runs; its response gets ``Vary: Origin`` and, when the
      origin is allowed, ``Access-Control-Allow-Origin`` (and
      ``-Allow-Credentials``, ``-Expose-Headers``), replacing any the handler
      set. That includes a 404, an ``HTTPError`` raised by inner middleware,
      and the 500 of an unhandled exception (logged to ``longwire.app``, with
      a request id, as ``App`` does), so the page can read the error.

    Register it first (outermost): before authentication, which would
    otherwise answer preflights, which never carry credentials, with 401.

    Args:
        allow_origins: a ``CORSPolicy``, or its ``allow_origins``.
        options: ``CORSPolicy``'s other arguments (only without a policy).

    Attributes:
        policy: the ``CORSPolicy`` applied.

    Raises:
        TypeError: a policy and options together.
        ValueError: what ``CORSPolicy`` raises for bad arguments.
    """

    __slots__ = ("policy",)

    def __init__(
        self, allow_origins: CORSPolicy | Origins, /, **options: Unpack[CORSOptions]
    ) -> None:
        if isinstance(allow_origins, CORSPolicy):
            if options:
                raise TypeError(
                    "CORS takes a CORSPolicy or CORSPolicy's arguments, not both: "
                    f"move {sorted(options)} into the policy"
                )
            self.policy = allow_origins
        else:
            self.policy = CORSPolicy(allow_origins, **options)

    def __repr__(self) -> str:
        return f"CORS({self.policy!r})"

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Answer a preflight, or run the request and annotate its response.

        Args:
            request: the request.
            call_next: the rest of the middleware chain and the handler.

        Returns:
            The preflight's answer, or the response with its CORS fields.
        """
        policy = self.policy
        headers = request.headers
        if request.method == "OPTIONS" and policy.is_preflight("OPTIONS", headers):
            status, fields = policy.preflight(headers)
            if status == 204:
                return Response(b"", 204, fields)
            return Response.text("Forbidden: CORS preflight refused\n", status, fields)
        try:
            response = await call_next(request)
        except HTTPError as exc:
            response = exc.response(request)
        except Exception:
            response = internal_error(request)
        fields = policy.annotate(headers, response.headers)
        if all(name == "Vary" for name, _ in fields):
            # No origin, or one not allowed: only Vary: Origin (in place: idempotent).
            merge_vary(response.headers, "Origin")
            return response
        # Access-Control-Allow-Origin names this request's origin: on a copy.
        response = detach(response)
        response_headers = response.headers
        for name, value in fields:
            if name == "Vary":
                merge_vary(response_headers, value)
            else:
                response_headers.set(name, value)
        return response
