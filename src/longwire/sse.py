"""Server-Sent Events: the ``text/event-stream`` format, encoder and decoder (sans-I/O).

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

``EventStreamDecoder`` is the other side, WHATWG HTML §9.2.6 "Interpreting an
event stream": feed it bytes as they come, in any chunks, and get ``Event`` objects::

    decoder = EventStreamDecoder()
    decoder.feed(b"data: YHOO\ndata: +2\r")     # []
    decoder.feed(b"\ndata: 10\n\n")             # [Event(type='message', data='YHOO\n+2\n10', ...)]
    decoder.end()                                # the stream ended: an unfinished event is dropped
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ._errors import LongwireError

__all__ = [
    "CONTENT_TYPE",
    "HEARTBEAT",
    "MAX_LINE_SIZE",
    "Event",
    "EventStreamDecoder",
    "EventStreamError",
    "encode_comment",
    "encode_event",
]

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


# Decoding (§9.2.6)

MAX_LINE_SIZE = 1024 * 1024
"""1 MiB: the default bound, in characters, on one line and on one event's data.

The decoder buffers a line until its end comes, and an event's data until its
blank line: without a bound, a server that never sends a line break (or never
ends an event) would make it buffer without end. Real events are a few KiB.
"""


class EventStreamError(LongwireError, ValueError):
    """The event stream broke a limit of ``EventStreamDecoder`` (a line or an event too long)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event, as a browser's ``MessageEvent`` would see it.

    Attributes:
        type: the ``event`` field, or ``"message"`` when the event had none (or
            an empty one).
        data: the ``data`` fields' values joined with LF.
        id: the stream's last event ID when the event was dispatched (the
            ``lastEventId`` of the browser's event): the latest ``id`` field,
            from this event or an earlier one.
        retry: the reconnection time in milliseconds that a valid ``retry``
            field of this event set, or ``None`` when it had none.
    """

    type: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


_EOL = re.compile(r"\r\n|\r|\n")


class EventStreamDecoder:
    """Turns the bytes of a ``text/event-stream`` body into events (WHATWG HTML §9.2.6).

    Args:
        last_event_id: the last event ID to start from (e.g. the one a previous
            connection ended with).
        max_line_size: the longest line, and the largest data of one event, in
            characters (``None``: no bound). Default ``MAX_LINE_SIZE``, 1 MiB.

    Attributes:
        last_event_id: the stream's last event ID string: the latest ``id`` field
            (without NUL) of a block ended by a blank line. It persists across
            events and across ``end()``, so a new connection can send it as
            ``Last-Event-ID``.
        retry: the reconnection time in milliseconds the server set with its latest
            valid ``retry`` field, or ``None`` if it never did. Set as soon as the
            field's line ends, whether or not an event follows.

    One decoder can read several streams in turn (reconnections): ``end()``
    finishes one, and the next ``feed`` starts a new one (its byte order mark is
    stripped again) with ``last_event_id`` and ``retry`` kept.
    """

    def __init__(
        self, *, last_event_id: str = "", max_line_size: int | None = MAX_LINE_SIZE
    ) -> None:
        if "\x00" in last_event_id:
            raise ValueError("a last event ID cannot contain NUL")
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self.max_line_size = max_line_size
        self._start_stream()

    def _start_stream(self) -> None:
        # "utf-8-sig" is UTF-8 decode: one leading BOM is removed (even when it comes
        # split across chunks), invalid bytes become U+FFFD.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._line: list[str] = []  # the pieces of a line not ended yet
        self._line_size = 0
        self._skip_lf = False  # the text so far ended with CR: a LF next ends no line
        self._data: list[str] = []
        self._data_size = 0
        self._type = ""
        # Chromium starts a reconnection's buffer from the last event ID string, so an
        # event without an id after a reconnection keeps it (HTML leaves it implicit).
        self._id = self.last_event_id
        self._event_retry: int | None = None

    def feed(self, data: bytes) -> list[Event]:
        """Add received bytes; return the events they complete, in order.

        Raises:
            EventStreamError: a line, or the data of one event, is longer than
                ``max_line_size``. The stream cannot be read further: call ``end()``
                before reusing the decoder.
        """
        text = self._decoder.decode(data)
        if not text:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]  # the LF of a CRLF split between chunks
                if not text:
                    return []
        events: list[Event] = []
        pos = 0
        for match in _EOL.finditer(text):
            piece = text[pos : match.start()]
            if self._line:
                self._check_line(self._line_size + len(piece))
                piece = "".join(self._line) + piece
                self._line.clear()
                self._line_size = 0
            else:
                self._check_line(len(piece))
            self._process_line(piece, events)
            pos = match.end()
        if pos < len(text):
            rest = text[pos:]
            self._check_line(self._line_size + len(rest))
            self._line.append(rest)
            self._line_size += len(rest)
        elif text[-1] == "\r":
            self._skip_lf = True
        return events

    def end(self) -> None:
        """The stream ended: drop an unfinished line or event (§9.2.6); be ready for a new one."""
        self._start_stream()

    def _check_line(self, size: int) -> None:
        limit = self.max_line_size
        if limit is not None and size > limit:
            raise EventStreamError(f"an event stream line is longer than {limit} characters")

    def _process_line(self, line: str, events: list[Event]) -> None:
        if not line:
            self._dispatch(events)
            return
        colon = line.find(":")
        if colon == 0:
            return  # a comment
        if colon < 0:
            name, value = line, ""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == " ":
                value = value[1:]
        if name == "data":
            size = self._data_size + len(value) + 1
            limit = self.max_line_size
            if limit is not None and size > limit + 1:  # + 1: the LF stripped at dispatch
                raise EventStreamError(f"an event's data is longer than {limit} characters")
            self._data.append(value)
            self._data_size = size
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            # int() refuses over 4300 digits; past 10**18 ms (31 million years) we clamp.
            digits = value.lstrip("0")
            self.retry = self._event_retry = int(digits or "0") if len(digits) <= 18 else 10**18
        # Any other field name is ignored.

    def _dispatch(self, events: list[Event]) -> None:
        self.last_event_id = self._id
        data, self._data, self._data_size = self._data, [], 0
        event_type, self._type = self._type, ""
        retry, self._event_retry = self._event_retry, None
        if not data:
            return  # no data field: nothing to dispatch
        events.append(Event(event_type or "message", "\n".join(data), self._id, retry))
