"""Editing a handler's response from middleware: ``detach`` and ``merge_vary``.

``detach``: a response whose header fields a middleware may change without
side effects.

A handler may return the same ``Response`` object for many requests (a module
constant, a cached answer). A middleware that added a per-request field to it
in place (``Access-Control-Allow-Origin: <this request's origin>``,
``Authentication-Info``) would leave that field on every later answer, so it
works on a copy: a new object with its own ``Headers``, sharing the body and
the stream (single-use anyway).
"""

from __future__ import annotations

import copy

from ..http1._headers import Headers
from ._negotiation import add_vary
from ._response import Response, StreamingResponse

__all__ = ["detach", "merge_vary"]


def detach(response: Response) -> Response:
    """A shallow copy of ``response`` with a copy of its header fields.

    The copy keeps the type of ``response``: a subclass keeps its own
    attributes (a file to send, say).

    Args:
        response: the response a handler returned.

    Returns:
        A new response object; changing its ``headers`` leaves ``response`` as is.
    """
    kind = type(response)
    if kind is Response or kind is StreamingResponse:
        # Four slots assigned: several times cheaper than copy.copy().
        new = kind.__new__(kind)
        new.status = response.status
        new.body = response.body
        new.stream = response.stream
    else:
        new = copy.copy(response)
    new.headers = response.headers.copy()
    return new


def merge_vary(headers: Headers, name: str) -> None:
    """``add_vary(headers, name)``, with a shortcut for a response without ``Vary``.

    Runs for nearly every response, and ``add_vary``'s general case costs
    several microseconds: a name added to a response without ``Vary`` is a
    plain append, and a name already listed (or ``Vary: *``) changes nothing.
    Adding a name is idempotent, so it may be done in place even on a
    response object the handler reuses.

    Args:
        headers: the response's header fields (modified).
        name: a field name, such as ``"Accept-Encoding"`` (not checked: pass
            a constant).
    """
    lname = name.lower()
    present = False
    for lower, _, value in headers._fields:
        if lower == "vary":
            present = True
            for item in value.split(","):
                if item.strip(" \t").lower() in (lname, "*"):
                    return  # already there, or "Vary: *" covers it
    if present:
        add_vary(headers, name)  # merges several Vary lines into one
    else:
        headers.add("Vary", name)
