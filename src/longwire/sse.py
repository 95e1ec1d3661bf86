"""Server-Sent Events: the ``text/event-stream`` format, encoder side (sans-I/O).

WHATWG HTML, §9.2 "Server-sent events", §9.2.5 "Parsing an event stream"::

    stream        = [ bom ] *event
    event         = *( comment / field ) end-of-line
    comment       = colon *any-char end-of-line
    field         = 1*name-char [ colon [ space ] *any-char ] end-of-line
    end-of-line   = ( cr lf / cr / lf )

An event is a block of ``field: value`` lines ended by a blank line. The fields
a browser's ``EventSource`` reads are ``event`` (the type, ``message`` when
absent), ``data`` (one line per ``data`` field, joined with LF), ``id`` (what
``Last-Event-ID`` sends back on reconnection) and ``retry`` (the reconnection
delay in milliseconds). A line starting with a colon is a comment: ignored, and
so useful as a heartbeat that keeps proxies from closing an idle stream.

::

    from longwire.sse import encode_event, encode_comment

    encode_event("hello")                       # b"data: hello\\n\\n"
    encode_event("a\\nb", event="tick", id="7")   # b"event: tick\\nid: 7\\ndata: a\\ndata: b\\n\\n"
    encode_comment()                            # b":\\n" (a heartbeat)

The functions only build bytes: send them with any I/O (a ``StreamingResponse``
body with ``Content-Type: text/event-stream``, for one).
"""

from __future__ import annotations

import re

__all__ = ["CONTENT_TYPE", "HEARTBEAT", "encode_comment", "encode_event"]

CONTENT_TYPE = "text/event-stream"
"""The media type of an event stream (always UTF-8: WHATWG HTML §9.2.5)."""

# §9.2.5: "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE
# FEED (CRLF) character pair, a single U+000A LINE FEED (LF) character, or a single
# U+000D CARRIAGE RETURN (CR) character." Only these three: str.splitlines() would
# also split on U+2028, form feed and others, which a parser keeps inside a line.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> list[str]:
    if "\r" in text or "\n" in text:
        return _LINE_BREAK.split(text)
    return [text]


def _field(name: str, value: str) -> str:
    # §9.2.6: the parser drops one space after the colon, so "name: value" keeps a
    # value's own leading space; an empty value is written without the space.
    return f"{name}: {value}\n" if value else f"{name}:\n"


def encode_event(
    data: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """One event, ended by its blank line, as UTF-8 bytes.

    Args:
        data: the payload. Each line of it (split at CRLF, CR or LF) becomes a
            ``data`` field, so the client's ``event.data`` is ``data`` with its
            line breaks turned into LF. An empty ``data`` is encoded, but a
            browser does not dispatch an event whose data is empty.
        event: the event type (``EventSource`` dispatches it to listeners of
            that name); ``None`` leaves it out, which means ``message``.
        id: the event id, which the client sends back as ``Last-Event-ID`` when it
            reconnects; ``""`` resets it. ``None`` leaves it out.
        retry: the client's reconnection delay, in milliseconds.

    Fields come in the order ``event``, ``id``, ``retry``, then the ``data`` lines.

    Raises:
        ValueError: ``event`` contains CR or LF; ``id`` contains CR, LF or NUL (a
            parser ignores such an id, §9.2.6); ``retry`` is negative or not an
            ``int``; ``data`` holds a lone surrogate (not encodable as UTF-8).
    """
    parts: list[str] = []
    if event is not None:
        if "\r" in event or "\n" in event:
            raise ValueError(f"an event type cannot contain CR or LF: {event!r}")
        parts.append(_field("event", event))
    if id is not None:
        if "\r" in id or "\n" in id or "\x00" in id:
            raise ValueError(f"an event id cannot contain CR, LF or NUL: {id!r}")
        parts.append(_field("id", id))
    if retry is not None:
        if type(retry) is not int or retry < 0:
            raise ValueError(f"retry must be a non-negative int (milliseconds), not {retry!r}")
        parts.append(f"retry: {retry}\n")
    for line in _lines(data):
        parts.append(_field("data", line))
    parts.append("\n")
    return "".join(parts).encode()


def encode_comment(text: str = "") -> bytes:
    """A comment: one ``:`` line per line of ``text``, which clients ignore.

    With no text, ``b":\\n"``: the smallest heartbeat. A comment does not end an
    event (no blank line is added), so it may go anywhere between events.

    Raises:
        ValueError: ``text`` holds a lone surrogate (not encodable as UTF-8).
    """
    return "".join(f": {line}\n" if line else ":\n" for line in _lines(text)).encode()


HEARTBEAT = encode_comment()
"""``b":\\n"``: a comment line, to send on an idle stream now and then."""
