"""``Connection``: one HTTP/1.1 connection, either side, without I/O.

Bytes go in through ``receive_data`` / ``receive_eof`` and come out as events;
events go in through ``send`` and come out as bytes. Everything the peer or the
application can get wrong raises ``RemoteProtocolError`` or ``LocalProtocolError``
(both carry ``status_hint``) and moves that side to ``State.ERROR``.

How it parses, and why it is fast in pure Python: a head is found with one
``bytes.find(b"\\r\\n\\r\\n")`` (resumed where the previous search stopped, and
bounded by the limits), checked for forbidden bytes with one ``bytes.translate``,
decoded once as latin-1 and split once on CRLF; each field line is then one
``str.partition`` plus a dict lookup that both validates the name and lowercases
it. Bodies are cut out of the buffer with slices, never byte by byte.

A cycle is one request and its response. Requests may be pipelined: the server
parses ahead (up to ``Limits.max_pipelined_requests`` unanswered) and answers in
order; the client may send ahead and matches responses to its requests in order.
"""

from __future__ import annotations

import re
from collections import deque
from http import HTTPStatus
from typing import Final

from .._errors import LocalProtocolError, RemoteProtocolError
from .._role import Role
from . import _abnf
from ._events import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from ._headers import Headers
from ._limits import Limits
from ._state import RECEIVING, SENDING, State

__all__ = ["Connection"]

IDLE: Final = State.IDLE
SEND_BODY: Final = State.SEND_BODY
DONE: Final = State.DONE
MUST_CLOSE: Final = State.MUST_CLOSE
CLOSED: Final = State.CLOSED
MIGHT_SWITCH_PROTOCOL: Final = State.MIGHT_SWITCH_PROTOCOL
SWITCHED_PROTOCOL: Final = State.SWITCHED_PROTOCOL
ERROR: Final = State.ERROR

# How a body is delimited (RFC 9112 §6.3).
_NO_BODY: Final = 0  # HEAD, 1xx, 204, 304, or a request without framing headers
_LENGTH: Final = 1  # Content-Length
_CHUNKED: Final = 2  # Transfer-Encoding ending in chunked
_UNTIL_CLOSE: Final = 3  # a response read until the connection closes

# Where a chunked body reader is (RFC 9112 §7.1).
_CHUNK_SIZE: Final = 0  # waiting for a chunk-size line
_CHUNK_DATA: Final = 1  # inside chunk-data
_CHUNK_CRLF: Final = 2  # waiting for the CRLF that ends chunk-data
_TRAILERS: Final = 3  # after the last chunk: trailer fields, then CRLF

# The fields that decide how a message is framed or whether the connection lives.
_SPECIAL_FIELDS: Final = frozenset(
    ("content-length", "transfer-encoding", "host", "connection", "upgrade", "expect")
)

# Field names seen before, mapped to their lowercase form: one dict lookup both
# proves a name is a valid token and lowercases it. Names repeat across requests
# ("Host", "Accept", ...), so this saves a regex match and a str.lower() per line.
# Bounded (entries and name length) so a peer inventing names cannot grow it.
_NAME_CACHE: dict[str, str] = {}
_NAME_CACHE_SIZE: Final = 512
_NAME_CACHE_NAME_LENGTH: Final = 64

_WHITESPACE: Final = " \t"  # OWS / BWS (RFC 9110 §5.6.3)
_VERSIONS: Final = frozenset(("1.1", "1.0"))
# Statuses whose responses never have content (RFC 9110 §15.3.5, §15.4.5).
_NO_CONTENT: Final = frozenset((204, 304))
_REASONS: Final = {status.value: status.phrase for status in HTTPStatus}

_LEADING_CRLFS = re.compile(rb"(?:\r\n)+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = _abnf.TOKEN.fullmatch
_FIELD_VALUE = _abnf.FIELD_VALUE.fullmatch
_REQUEST_LINE = _abnf.REQUEST_LINE.fullmatch
_STATUS_LINE = _abnf.STATUS_LINE.fullmatch
_CHUNK_SIZE_LINE = _abnf.CHUNK_SIZE_LINE.fullmatch
_CONTENT_LENGTH = _abnf.CONTENT_LENGTH.fullmatch
_HEAD_CHARACTERS = _abnf.HEAD_CHARACTERS


class _Cycle:
    """One request and its response, from the request head to the response's end."""

    __slots__ = ("http11", "keep_alive", "method", "switch", "waiting_100")

    def __init__(self, method: str, http11: bool, keep_alive: bool, switch: str | None) -> None:
        self.method = method
        # Whether the request was HTTP/1.1 (its response may use chunked and 1xx).
        self.http11 = http11
        # Whether the connection may be reused after this cycle: the request's say,
        # then also the response's once it is known (RFC 9112 §9.3).
        self.keep_alive = keep_alive
        # "upgrade" or "connect" while a protocol switch is proposed and undecided.
        self.switch = switch
        # Expect: 100-continue and no body byte nor answer has gone by yet.
        self.waiting_100 = False


def _lower_field_name(name: str) -> str | None:
    """The lowercase form of field name ``name``, or ``None`` if it is not a token."""
    if not _TOKEN(name):
        return None
    lower = name.lower()
    if len(_NAME_CACHE) < _NAME_CACHE_SIZE and len(name) <= _NAME_CACHE_NAME_LENGTH:
        _NAME_CACHE[name] = lower
    return lower


def _new_headers(fields: list[tuple[str, str, str]]) -> Headers:
    # Build Headers from already-lowercased triples without redoing the work
    # Headers.__init__ does; this module is the parser Headers is shaped for.
    headers = Headers.__new__(Headers)
    headers._fields = fields
    return headers


def _end_of_message() -> EndOfMessage:
    # EndOfMessage() builds its empty trailers through Headers.__init__; this is
    # the same event, built the cheaper way (it is on every message's path).
    return EndOfMessage(trailers=_new_headers([]))


def _keep_alive(connection: list[str], http11: bool) -> bool:
    """Whether a message with these Connection values lets the connection persist.

    RFC 9112 §9.3: HTTP/1.1 persists unless "close" is given; HTTP/1.0 persists
    only when "keep-alive" is.
    """
    if not connection:
        return http11
    if len(connection) == 1 and "," not in connection[0]:
        # The common case: one field with one option (values arrive stripped).
        token = connection[0].lower()
        return token != "close" and (http11 or token == "keep-alive")
    tokens = _list_tokens(connection)
    return "close" not in tokens and (http11 or "keep-alive" in tokens)


def _list_tokens(values: list[str]) -> set[str]:
    # RFC 9110 §5.6.1: #element lists; tokens compared case-insensitively.
    return {token.strip(_WHITESPACE).lower() for value in values for token in value.split(",")}


class Connection:
    """A sans-I/O HTTP/1.1 connection: feed it bytes, get events; give it events, get bytes.

    Args:
        role: ``Role.SERVER`` to receive requests and send responses,
            ``Role.CLIENT`` for the opposite.
        limits: bounds on what the peer may send (see ``Limits``); defaults apply
            when ``None``.

    Attributes:
        role: the ``role`` given.
        limits: the ``Limits`` in force.
        max_body_size: the body limit in force, initialised from ``limits``; the
            application may change it between events, and it applies to the body
            being read (``None`` for no limit).
    """

    def __init__(self, role: Role, *, limits: Limits | None = None) -> None:
        if limits is None:
            limits = Limits()
        self.role = role
        self.limits = limits
        self.max_body_size: int | None = limits.max_body_size
        self._is_server = role is Role.SERVER
        self._send_table = SENDING[role]
        self._receive_table = RECEIVING[role]

        # Each direction's state; our_state / their_state pick by role.
        self._req_state = IDLE
        self._resp_state = IDLE
        # Cycles whose response has not ended yet, oldest first.
        self._cycles: deque[_Cycle] = deque()
        # The cycle of the most recent request head (its request may be complete).
        self._last_request: _Cycle | None = None
        # Set when a 101 (or a 2xx to CONNECT) is sent or received.
        self._switched = False

        # Received bytes not yet consumed start at _pos. _scan is where the search
        # for the end of an incomplete head resumes; _line_seen tells whether the
        # first line of that head is known to fit max_request_line_size.
        self._buf = bytearray()
        self._pos = 0
        self._scan = 0
        self._line_seen = False
        self._eof = False
        self._error: RemoteProtocolError | None = None

        # The body being received.
        self._rx_framing = _NO_BODY
        self._rx_remaining = 0  # bytes left in the Content-Length body or chunk
        self._rx_received = 0  # body bytes announced so far (for max_body_size)
        self._rx_chunk = _CHUNK_SIZE

        # The body being sent.
        self._tx_framing = _NO_BODY
        self._tx_remaining = 0

    # Public state

    @property
    def our_state(self) -> State:
        """The state of the direction we send in."""
        return self._resp_state if self._is_server else self._req_state

    @property
    def their_state(self) -> State:
        """The state of the direction the peer sends in."""
        return self._req_state if self._is_server else self._resp_state

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can be reused once the current cycle ends."""
        if self._req_state in _FINISHED or self._resp_state in _FINISHED:
            return False
        return self._cycles[0].keep_alive if self._cycles else True

    @property
    def trailing_data(self) -> bytes:
        """Received bytes not parsed yet.

        After ``SWITCHED_PROTOCOL``: every byte that followed the head that switched,
        to hand to the next protocol (e.g. the WebSocket core). Bytes received after
        the switch are appended here too.
        """
        return bytes(self._buf[self._pos :])

    @property
    def reading_paused(self) -> bool:
        """(Server) whether parsing stopped until we answer.

        True when ``Limits.max_pipelined_requests`` requests are unanswered, or an
        upgrade request awaits our decision. The I/O layer should stop reading the
        socket, and call ``receive_data(b"")`` after it sends a response.
        """
        if not self._is_server:
            return False
        if self._req_state is MIGHT_SWITCH_PROTOCOL:
            return True
        limit = self.limits.max_pipelined_requests
        return self._req_state is IDLE and limit is not None and len(self._cycles) >= limit

    @property
    def client_is_waiting_for_100_continue(self) -> bool:
        """Whether the client sent ``Expect: 100-continue`` and still waits to send its body.

        True from such a request (HTTP/1.1, with a body) until a 1xx or final
        response, or the first body byte, goes by.
        """
        last = self._last_request
        return last is not None and last.waiting_100

    def __repr__(self) -> str:
        return (
            f"<Connection {self.role.value} our_state={self.our_state.name} "
            f"their_state={self.their_state.name}>"
        )

    # Receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Add received bytes and return every event they complete, in order.

        ``receive_data(b"")`` adds nothing and parses what is buffered: call it to
        resume after ``reading_paused`` (it does not mean end of file; that is
        ``receive_eof``). Once the peer's last message is complete (``their_state``
        is ``DONE`` or ``MUST_CLOSE``), further bytes are ignored. After a protocol
        switch they are kept for ``trailing_data``.

        Raises:
            RemoteProtocolError: the bytes break HTTP/1.1 or a limit; ``status_hint``
                is the status to answer with (server) or ``None`` (client). Events
                parsed earlier in the same call are discarded with the exception;
                ``their_state`` becomes ``ERROR`` and every later call raises again.
            LocalProtocolError: bytes given after ``receive_eof``.
        """
        if self._error is not None:
            raise RemoteProtocolError(self._error.message, status_hint=self._error.status_hint)
        if data:
            if self._eof:
                raise LocalProtocolError("receive_data() got bytes after receive_eof()")
            state = self._req_state if self._is_server else self._resp_state
            if state is DONE or state is MUST_CLOSE:
                return []
            self._buf += data
        return self._parse()

    def receive_eof(self) -> list[Event]:
        """The peer closed its sending side; return the events that completes.

        A close-delimited response body ends (``EndOfMessage``); then, at a point
        between messages, ``ConnectionClosed`` comes and ``their_state`` becomes
        ``CLOSED``. If parsing is paused, the events come with the ``receive_data(b"")``
        that resumes it.

        Raises:
            RemoteProtocolError: the connection closed in the middle of a message
                (``status_hint`` is ``None``: there is nobody left to answer).
        """
        if self._error is not None:
            raise RemoteProtocolError(self._error.message, status_hint=self._error.status_hint)
        self._eof = True
        return self._parse()

    def _parse(self) -> list[Event]:
        events: list[Event] = []
        try:
            if self._is_server:
                self._parse_requests(events)
            else:
                self._parse_responses(events)
            if self._eof:
                self._parse_eof(events)
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise
        state = self._req_state if self._is_server else self._resp_state
        if state is DONE or state is MUST_CLOSE:
            self._pos = len(self._buf)  # after the peer's last message: ignored
        pos = self._pos
        if pos:
            # bytearray keeps an offset to its start: deleting a prefix is O(1).
            del self._buf[:pos]
            self._scan = max(0, self._scan - pos)
            self._pos = 0
        return events

    def _fail(self, exc: RemoteProtocolError) -> None:
        self._error = exc
        if self._is_server:
            if self._req_state is IDLE:
                # The failed request never became a cycle: make it one, so the
                # application can answer it (in order) with exc.status_hint.
                self._cycles.append(_Cycle("", http11=False, keep_alive=False, switch=None))
            elif self._last_request is not None:
                self._last_request.keep_alive = False
            self._req_state = ERROR
        else:
            self._resp_state = ERROR

    def _remote_error(self, message: str, status: int | None = 400) -> RemoteProtocolError:
        # A client has nobody to answer, so only a server gets a status hint.
        return RemoteProtocolError(message, status_hint=status if self._is_server else None)

    def _parse_requests(self, events: list[Event]) -> None:
        limit = self.limits.max_pipelined_requests
        while True:
            state = self._req_state
            if state is IDLE:
                if limit is not None and len(self._cycles) >= limit:
                    return  # paused: too many requests unanswered
                if not self._read_request_head(events):
                    return
            elif state is SEND_BODY:
                if not self._read_body(events):
                    return
            else:
                return  # DONE, MUST_CLOSE, MIGHT_SWITCH_PROTOCOL, ...: parse nothing more

    def _parse_responses(self, events: list[Event]) -> None:
        while True:
            state = self._resp_state
            if state is IDLE:
                if not self._read_response_head(events):
                    return
            elif state is SEND_BODY:
                if not self._read_body(events):
                    return
            else:
                return

    def _parse_eof(self, events: list[Event]) -> None:
        state = self._req_state if self._is_server else self._resp_state
        if state is SEND_BODY:
            if self._rx_framing != _UNTIL_CLOSE:
                raise self._remote_error("connection closed in the middle of a message body", None)
            # RFC 9112 §6.3 item 8: the close ends a close-delimited response body.
            self._received_end(events, _end_of_message())
            state = self._resp_state
        if state is IDLE and self._pos < len(self._buf):
            if self.reading_paused:
                return  # the ConnectionClosed comes when parsing resumes
            raise self._remote_error("connection closed in the middle of a message head", None)
        if (state, ConnectionClosed) in self._receive_table and state is not CLOSED:
            self._received(ConnectionClosed)
            events.append(ConnectionClosed())

    # Receiving: heads

    def _take_section(self, is_head: bool) -> list[str] | None:
        """Cut the next complete head (or trailer section) out of the buffer.

        Returns its lines, decoded as latin-1, without the blank line that ends it;
        or ``None`` when it is not complete yet.
        """
        buf = self._buf
        start = self._pos
        scan = self._scan if self._scan > start else start
        limit = self.limits.max_header_size
        end = buf.find(b"\r\n\r\n", scan, len(buf) if limit is None else start + limit)
        if end < 0:
            self._section_incomplete(start, scan, is_head)
            return None
        section = buf[start:end]
        self._pos = self._scan = end + 4
        self._line_seen = False
        lines = section.decode("latin-1").split("\r\n")
        # Forbidden bytes, in one pass: translate() deletes every allowed byte, so
        # only CR, LF and forbidden bytes remain. The CRLFs that separate the lines
        # account for 2 bytes each; anything more is a bare CR, a bare LF, NUL or
        # another control character (RFC 9112 §2.2, RFC 9110 §5.5).
        if len(section.translate(None, _HEAD_CHARACTERS)) != 2 * (len(lines) - 1):
            raise self._bad_characters(lines, is_head)
        return lines

    def _section_incomplete(self, start: int, scan: int, is_head: bool) -> None:
        # No end of head yet: make sure waiting for it stays within the limits, so
        # a peer can never make us buffer more than them.
        buf = self._buf
        size = len(buf) - start
        line_limit = self.limits.max_request_line_size
        if is_head and not self._line_seen and line_limit is not None:
            if buf.find(b"\r\n", scan, start + line_limit + 2) >= 0:
                self._line_seen = True
            elif size >= line_limit + 2:
                what = "request line" if self._is_server else "status line"
                raise self._remote_error(f"{what} too long", 414)
        limit = self.limits.max_header_size
        if limit is not None and size >= limit:
            what = "header section" if is_head else "trailer section"
            raise self._remote_error(f"{what} too large", 431)
        # A bare LF (one without CR before it) can never be part of a valid head:
        # say so now rather than wait for a CRLFCRLF that a peer ending its lines
        # with LF alone will never send. Count the LFs from where the last call
        # stopped, and the CRLFs that end there: they differ iff one LF is bare.
        if buf.count(b"\n", scan) != buf.count(b"\r\n", max(start, scan - 1)):
            what = "header section" if is_head else "trailer section"
            raise self._remote_error(f"bare LF in {what}")
        self._scan = max(start, len(buf) - 3)

    def _bad_characters(self, lines: list[str], is_head: bool) -> RemoteProtocolError:
        # Slow path: say which rule the section broke.
        section = "header section" if is_head else "trailer section"
        for number, line in enumerate(lines):
            if "\r" in line:
                return self._remote_error(f"bare CR in {section}")
            if "\n" in line:
                return self._remote_error(f"bare LF in {section}")
            bad = _CONTROL.search(line)
            if bad:
                char = bad.group()
                what = "NUL" if char == "\x00" else f"control character {char!r}"
                where = "start line" if is_head and number == 0 else "header field value"
                return self._remote_error(f"{what} in {where}")
        return self._remote_error(f"invalid character in {section}")  # pragma: no cover

    def _parse_fields(
        self, lines: list[str], first: int
    ) -> tuple[list[tuple[str, str, str]], list[int]]:
        """Parse field lines ``lines[first:]`` into ``(lowercase name, name, value)``.

        Also returns the indexes of the fields in ``_SPECIAL_FIELDS``, so that
        callers look at those few instead of scanning every field again.
        """
        limit = self.limits.max_header_count
        if limit is not None and len(lines) - first > limit:
            raise self._remote_error("too many header fields", 431)
        fields: list[tuple[str, str, str]] = []
        special: list[int] = []
        cache = _NAME_CACHE
        for index in range(first, len(lines)):
            line = lines[index]
            # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
            name, colon, value = line.partition(":")
            lower = cache.get(name)
            if lower is None or not colon:
                lower = self._check_field_name(line, name, colon, fields)
                if lower is None:
                    continue  # an obs-fold, merged into the previous field
            if lower in _SPECIAL_FIELDS:
                special.append(len(fields))
            fields.append((lower, name, value.strip(" \t")))
        return fields, special

    def _check_field_name(
        self, line: str, name: str, colon: str, fields: list[tuple[str, str, str]]
    ) -> str | None:
        if colon:
            lower = _lower_field_name(name)
            if lower is not None:
                return lower
        if line[:1] in (" ", "\t"):
            # RFC 9112 §5.2: obs-fold. A server MUST reject it in a request; a user
            # agent MUST replace it with SP before interpreting the value.
            if self._is_server:
                raise self._remote_error("obs-fold (line folding) is not allowed in requests")
            if not fields:
                raise self._remote_error("obs-fold (line folding) before the first header field")
            lower, previous_name, previous = fields.pop()
            folded = f"{previous} {line.strip(_WHITESPACE)}".strip(_WHITESPACE)
            fields.append((lower, previous_name, folded))
            return None
        if not colon:
            raise self._remote_error(f"header field line without a colon: {line[:40]!r}")
        if name.rstrip(_WHITESPACE) != name and _TOKEN(name.rstrip(_WHITESPACE)):
            # RFC 9112 §5.1: "No whitespace is allowed between the field name and
            # colon ... A server MUST reject ... with 400"; it is a smuggling vector.
            raise self._remote_error("whitespace between header field name and colon")
        if not name:
            raise self._remote_error("empty header field name")
        raise self._remote_error(f"invalid header field name {name[:40]!r}")

    def _read_request_head(self, events: list[Event]) -> bool:
        buf = self._buf
        pos = self._pos
        if pos == len(buf):
            return False
        if buf[pos] == 13:
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
            # received prior to the request-line.
            crlfs = _LEADING_CRLFS.match(buf, pos)
            if crlfs is not None:
                self._pos = pos = crlfs.end()
                if pos == len(buf):
                    return False
        lines = self._take_section(True)
        if lines is None:
            return False
        request_line = lines[0]
        line_limit = self.limits.max_request_line_size
        if line_limit is not None and len(request_line) > line_limit:
            raise self._remote_error("request line too long", 414)
        match = _REQUEST_LINE(request_line)
        if match is None:
            raise self._bad_request_line(request_line)
        method, target, version = match.groups()
        if version not in _VERSIONS:
            version = self._higher_minor_version(version, 505)
        fields, special = self._parse_fields(lines, 1)
        http11 = version == "1.1"

        hosts = 0
        lengths: list[str] = []
        codings: list[str] = []
        connection: list[str] = []
        upgrade = expect = False
        for index in special:
            lower, _, value = fields[index]
            if lower == "host":
                hosts += 1
            elif lower == "connection":
                connection.append(value)
            elif lower == "content-length":
                lengths.append(value)
            elif lower == "transfer-encoding":
                codings.append(value)
            elif lower == "upgrade":
                upgrade = True
            else:
                expect = expect or "100-continue" in _list_tokens([value])

        # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code
        # to any HTTP/1.1 request message that lacks a Host header field and to any
        # request message that contains more than one Host header field line".
        if hosts != 1 and (hosts or http11):
            if hosts:
                raise self._remote_error("more than one Host header")
            raise self._remote_error("missing Host header in HTTP/1.1 request")

        if lengths or codings:
            framing, length = self._request_framing(http11, lengths, codings)
        else:
            framing, length = _NO_BODY, 0  # RFC 9112 §6.3 item 7: no body
        keep_alive = _keep_alive(connection, http11)
        # RFC 9110 §7.8: "A server MUST ignore an Upgrade header field that is
        # received in an HTTP/1.0 request."
        if method == "CONNECT":
            switch: str | None = "connect"
        elif upgrade and http11:
            switch = "upgrade"
        else:
            switch = None
        cycle = _Cycle(method, http11, keep_alive, switch)
        # RFC 9110 §10.1.1: only meaningful for HTTP/1.1 requests with a body.
        cycle.waiting_100 = expect and http11 and framing != _NO_BODY

        self._received_head(cycle)
        headers = _new_headers(fields)
        events.append(Request(method=method, target=target, headers=headers, http_version=version))
        self._start_body(events, framing, length)
        return True

    def _higher_minor_version(self, version: str, status: int | None) -> str:
        # RFC 9112 §2.3: "A recipient that receives a message with a major version
        # number that it implements and a minor version number higher than what it
        # implements SHOULD process the message as if it were in the highest minor
        # version within that major version to which the recipient is conformant."
        if version[0] == "1":
            return "1.1"
        raise self._remote_error(f"unsupported HTTP version HTTP/{version}", status)

    def _bad_request_line(self, line: str) -> RemoteProtocolError:
        parts = line.split(" ")
        if len(parts) != 3 or not all(parts):
            return self._remote_error(
                "malformed request line: expected method SP request-target SP HTTP-version"
            )
        method, target, version = parts
        if not _TOKEN(method):
            return self._remote_error(f"invalid method {method[:40]!r}")
        if not _abnf.REQUEST_TARGET.fullmatch(target):
            return self._remote_error("invalid request target: only visible ASCII is allowed")
        return self._remote_error(f"malformed HTTP version {version[:40]!r}")

    def _request_framing(
        self, http11: bool, lengths: list[str], codings: list[str]
    ) -> tuple[int, int]:
        # RFC 9112 §6.3, for requests.
        if codings:
            # Item 3: both present is how request smuggling starts; reject.
            if lengths:
                raise self._remote_error("Content-Length and Transfer-Encoding both present")
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding is faulty.
            if not http11:
                raise self._remote_error("Transfer-Encoding in an HTTP/1.0 message")
            names = self._transfer_codings(codings)
            # Item 4: "If a Transfer-Encoding header field is present in a request
            # and the chunked transfer coding is not the final encoding, the
            # message body length cannot be determined reliably; the server MUST
            # respond with the 400".
            if names[-1] != "chunked":
                raise self._remote_error("Transfer-Encoding must end in chunked")
            if len(names) > 1:
                # RFC 9112 §6.1: a server receiving a coding it does not understand
                # SHOULD respond with 501. We implement only chunked.
                raise self._remote_error(f"unsupported transfer coding {names[0]!r}", 501)
            return _CHUNKED, 0
        if lengths:
            length = self._content_length(lengths)
            limit = self.max_body_size
            if limit is not None and length > limit:
                raise self._remote_error(
                    f"request body larger than the limit of {limit} bytes", 413
                )
            return (_LENGTH, length) if length else (_NO_BODY, 0)
        # Item 7: a request without either has no body.
        return _NO_BODY, 0

    def _transfer_codings(self, codings: list[str]) -> list[str]:
        names = _coding_names(codings)
        if not names:
            raise self._remote_error("Transfer-Encoding must end in chunked")
        # RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more
        # than once to a message body".
        if names.count("chunked") > 1:
            raise self._remote_error("chunked transfer coding applied more than once")
        return names

    def _content_length(self, lengths: list[str]) -> int:
        if len(lengths) == 1 and _CONTENT_LENGTH(lengths[0]):
            return int(lengths[0])
        # RFC 9110 §8.6: a list of identical values ("42, 42", or repeated fields)
        # may be accepted as that value; anything else is invalid (RFC 9112 §6.3
        # item 5: "the recipient MUST treat it as an unrecoverable error").
        values = [item.strip(" \t") for value in lengths for item in value.split(",")]
        for value in values:
            if not _CONTENT_LENGTH(value):
                raise self._remote_error(f"invalid Content-Length value {value[:40]!r}")
        if len(set(values)) > 1:
            raise self._remote_error("conflicting Content-Length values")
        return int(values[0])

    def _read_response_head(self, events: list[Event]) -> bool:
        if self._pos == len(self._buf):
            return False
        lines = self._take_section(True)
        if lines is None:
            return False
        status_line = lines[0]
        line_limit = self.limits.max_request_line_size
        if line_limit is not None and len(status_line) > line_limit:
            raise self._remote_error("status line too long")
        match = _STATUS_LINE(status_line)
        if match is None:
            raise self._remote_error(f"malformed status line {status_line[:60]!r}")
        version, code, reason = match.groups()
        if version not in _VERSIONS:
            version = self._higher_minor_version(version, None)
        status = int(code)
        if status < 100:
            raise self._remote_error(f"invalid status code {code}")
        if not self._cycles:
            raise self._remote_error("received a response with no request outstanding")
        cycle = self._cycles[0]
        fields, special = self._parse_fields(lines, 1)
        headers = _new_headers(fields)
        reason = reason or ""

        if status < 200:
            if status == 101:
                if cycle.switch != "upgrade":
                    raise self._remote_error(
                        "101 Switching Protocols to a request that did not ask to upgrade"
                    )
                if self._req_state is not MIGHT_SWITCH_PROTOCOL:
                    raise self._remote_error("101 Switching Protocols before the request ended")
                self._switched = True
            cycle.waiting_100 = False
            self._received(InformationalResponse)
            events.append(
                InformationalResponse(
                    status_code=status, headers=headers, reason=reason, http_version=version
                )
            )
            return True

        lengths: list[str] = []
        codings: list[str] = []
        connection: list[str] = []
        for index in special:
            lower, _, value = fields[index]
            if lower == "content-length":
                lengths.append(value)
            elif lower == "transfer-encoding":
                codings.append(value)
            elif lower == "connection":
                connection.append(value)
        keep_alive = _keep_alive(connection, version == "1.1")

        method = cycle.method
        if cycle.switch == "connect" and 200 <= status < 300:
            # RFC 9110 §9.3.6: the connection becomes a tunnel after the header section.
            if self._req_state is not MIGHT_SWITCH_PROTOCOL:
                raise self._remote_error("2xx to CONNECT before the request was complete")
            self._switched = True
            framing, length = _NO_BODY, 0
        elif method == "HEAD" or status in _NO_CONTENT:
            # RFC 9112 §6.3 item 1: these responses end with their header section,
            # whatever framing fields they carry.
            framing, length = _NO_BODY, 0
        else:
            framing, length = self._response_framing(version, lengths, codings)
        if framing == _UNTIL_CLOSE:
            keep_alive = False
        cycle.keep_alive = cycle.keep_alive and keep_alive
        if not self._switched:
            cycle.switch = None
        cycle.waiting_100 = False
        self._received(Response)
        events.append(
            Response(status_code=status, headers=headers, reason=reason, http_version=version)
        )
        if not self._switched:
            self._start_body(events, framing, length)
        return True

    def _response_framing(
        self, version: str, lengths: list[str], codings: list[str]
    ) -> tuple[int, int]:
        # RFC 9112 §6.3, for responses (items 1 and 2 handled by the caller).
        if codings:
            if lengths:
                raise self._remote_error("Content-Length and Transfer-Encoding both present")
            if version != "1.1":
                raise self._remote_error("Transfer-Encoding in an HTTP/1.0 message")
            # Item 4: chunked last means chunked (any coding under it is the
            # application's to decode, as the header says); otherwise the body runs
            # until the connection closes.
            if self._transfer_codings(codings)[-1] == "chunked":
                return _CHUNKED, 0
            return _UNTIL_CLOSE, 0
        if lengths:
            length = self._content_length(lengths)
            limit = self.max_body_size
            if limit is not None and length > limit:
                raise self._remote_error(f"response body larger than the limit of {limit} bytes")
            return (_LENGTH, length) if length else (_NO_BODY, 0)
        # Item 8: no framing at all: read until the server closes.
        return _UNTIL_CLOSE, 0

    # Receiving: bodies

    def _start_body(self, events: list[Event], framing: int, length: int) -> None:
        if framing == _NO_BODY:
            self._received_end(events, _end_of_message())
            return
        self._rx_framing = framing
        self._rx_remaining = length
        self._rx_received = length
        self._rx_chunk = _CHUNK_SIZE

    def _read_body(self, events: list[Event]) -> bool:
        """Turn buffered body bytes into events; False when more bytes are needed."""
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        framing = self._rx_framing
        limit = self.max_body_size

        if framing == _LENGTH or (framing == _CHUNKED and self._rx_chunk == _CHUNK_DATA):
            if limit is not None and self._rx_received > limit:
                raise self._body_too_large(limit)
            if not available:
                return False
            size = min(available, self._rx_remaining)
            self._pos = pos + size
            self._rx_remaining -= size
            self._data_received(events, bytes(buf[pos : pos + size]))
            if self._rx_remaining:
                return False
            if framing == _LENGTH:
                self._received_end(events, _end_of_message())
            else:
                self._rx_chunk = _CHUNK_CRLF
            return True

        if framing == _UNTIL_CLOSE:
            if not available:
                return False
            self._rx_received += available
            if limit is not None and self._rx_received > limit:
                raise self._body_too_large(limit)
            self._pos = len(buf)
            self._data_received(events, bytes(buf[pos:]))
            return False

        phase = self._rx_chunk
        if phase == _CHUNK_SIZE:
            line_limit = self.limits.max_chunk_line_size
            end = buf.find(b"\r\n", pos, len(buf) if line_limit is None else pos + line_limit + 2)
            if end < 0:
                if line_limit is not None and available >= line_limit + 2:
                    raise self._remote_error("chunk size line too long")
                if buf.find(b"\n", pos) >= 0:
                    raise self._remote_error("bare LF in chunk size line")
                return False
            match = _CHUNK_SIZE_LINE(buf, pos, end)
            if match is None:
                raise self._remote_error(f"invalid chunk size {bytes(buf[pos:end][:40])!r}")
            size = int(match.group(1), 16)
            self._pos = end + 2
            if size:
                self._rx_received += size
                if limit is not None and self._rx_received > limit:
                    raise self._body_too_large(limit)
                self._rx_remaining = size
                self._rx_chunk = _CHUNK_DATA
            else:
                self._rx_chunk = _TRAILERS
            return True

        if phase == _CHUNK_CRLF:
            if available < 2:
                if available and buf[pos] != 13:
                    raise self._remote_error("missing CRLF after chunk data")
                return False
            if buf[pos] != 13 or buf[pos + 1] != 10:
                raise self._remote_error("missing CRLF after chunk data")
            self._pos = pos + 2
            self._rx_chunk = _CHUNK_SIZE
            return True

        # _TRAILERS. RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then CRLF.
        if available < 2:
            return False
        if buf[pos] == 13 and buf[pos + 1] == 10:
            self._pos = pos + 2
            self._received_end(events, _end_of_message())
            return True
        lines = self._take_section(False)
        if lines is None:
            return False
        trailers = _new_headers(self._parse_fields(lines, 0)[0])
        self._received_end(events, EndOfMessage(trailers=trailers))
        return True

    def _body_too_large(self, limit: int) -> RemoteProtocolError:
        if self._is_server:
            return self._remote_error(f"request body larger than the limit of {limit} bytes", 413)
        return self._remote_error(f"response body larger than the limit of {limit} bytes")

    def _data_received(self, events: list[Event], data: bytes) -> None:
        last = self._last_request
        if self._is_server and last is not None:
            last.waiting_100 = False  # the client stopped waiting: body bytes came
        self._received(Data)
        events.append(Data(data=data))

    # Transitions

    def _received(self, event_type: type) -> None:
        """Move the peer's direction along its table (any other decision: ``_settle``)."""
        state = self._req_state if self._is_server else self._resp_state
        new = self._receive_table.get((state, event_type))
        if new is None:  # pragma: no cover - the parser only produces legal events
            raise self._remote_error(f"unexpected {event_type.__name__} in state {state.name}")
        if self._is_server:
            self._req_state = new
        else:
            self._resp_state = new
        if event_type is not Data and event_type is not Request:
            # A request head or a piece of body decides nothing; the rest may.
            self._settle()

    def _received_head(self, cycle: _Cycle) -> None:
        self._cycles.append(cycle)
        self._last_request = cycle
        self._received(Request)

    def _received_end(self, events: list[Event], event: EndOfMessage) -> None:
        self._rx_framing = _NO_BODY
        if self._is_server and self._last_request is not None:
            self._last_request.waiting_100 = False
        self._received(EndOfMessage)
        events.append(event)

    def _settle(self) -> None:
        """Apply, after a table transition, the decisions that depend on the messages.

        This is the one place where keep-alive (RFC 9112 §9.3) and protocol switches
        (RFC 9110 §7.8, §9.3.6) change states. Applying it twice changes nothing.
        """
        if self._switched:
            # 101 Switching Protocols, or 2xx to CONNECT: HTTP/1.1 is over.
            self._req_state = self._resp_state = SWITCHED_PROTOCOL
            self._cycles.clear()
            return
        req, resp = self._req_state, self._resp_state
        if resp is DONE:
            # A response ended, and with it its cycle. The connection is reused
            # only if both the request and the response allowed it.
            cycle = self._cycles.popleft()
            resp = IDLE if cycle.keep_alive else MUST_CLOSE
        last = self._last_request
        if last is not None:
            if req is MIGHT_SWITCH_PROTOCOL and last.switch is None:
                req = DONE  # the switch was declined by a final response
            if req is DONE:
                if last.switch is not None:
                    req = MIGHT_SWITCH_PROTOCOL  # wait for the answer, parse nothing
                elif last.keep_alive:
                    req = IDLE  # ready for the next request (pipelined or not)
                # else: that was the last request; DONE until its response ends.
        if resp is MUST_CLOSE and req in _BETWEEN_MESSAGES:
            req = MUST_CLOSE
        self._req_state, self._resp_state = req, resp

    # Sending

    def send(self, event: Event) -> bytes:
        """Validate ``event`` against the protocol and return its bytes to write.

        ``send(ConnectionClosed())`` records that we closed and returns ``b""``.

        Raises:
            LocalProtocolError: the event is not allowed now or is malformed (e.g. a
                response with no request to answer, a body on a HEAD/204/304
                response, a header name that is not a token or a value with CR, LF
                or NUL, more or fewer bytes than Content-Length). ``our_state``
                becomes ``ERROR``.
        """
        try:
            return self._send(event)
        except LocalProtocolError:
            if self._is_server:
                self._resp_state = ERROR
            else:
                self._req_state = ERROR
            raise

    def _send(self, event: Event) -> bytes:
        state = self.our_state
        new = self._send_table.get((state, type(event)))
        if new is None:
            raise LocalProtocolError(
                f"cannot send {type(event).__name__} when our_state is {state.name}"
            )
        if isinstance(event, Data):
            return self._send_data(event.data)
        if isinstance(event, EndOfMessage):
            data = self._send_end(event)
        elif isinstance(event, Request):
            data = self._send_request(event)
        elif isinstance(event, ConnectionClosed):
            data = b""
        else:
            data = self._send_response(event)
        if self._is_server:
            self._resp_state = new
        else:
            self._req_state = new
        self._settle()
        return data

    def _send_data(self, data: bytes) -> bytes:
        size = len(data)
        if not self._is_server and size and self._last_request is not None:
            self._last_request.waiting_100 = False
        framing = self._tx_framing
        if framing == _LENGTH:
            if size > self._tx_remaining:
                raise LocalProtocolError(
                    f"Data of {size} bytes is more than the {self._tx_remaining} bytes "
                    "left of Content-Length"
                )
            self._tx_remaining -= size
            return bytes(data)
        if framing == _CHUNKED:
            # RFC 9112 §7.1: chunk = chunk-size CRLF chunk-data CRLF. An empty chunk
            # would read as the last one, so empty Data sends nothing.
            return b"%x\r\n%b\r\n" % (size, data) if size else b""
        if framing == _UNTIL_CLOSE:
            return bytes(data)
        if size:
            if self._is_server:
                raise LocalProtocolError(
                    "this response has no body (it answers HEAD, or its status is 1xx, 204 or 304)"
                )
            raise LocalProtocolError(
                "a request body needs framing: set Content-Length or "
                "Transfer-Encoding: chunked on the Request"
            )
        return b""

    def _send_end(self, event: EndOfMessage) -> bytes:
        framing = self._tx_framing
        if framing == _LENGTH and self._tx_remaining:
            raise LocalProtocolError(
                f"EndOfMessage with {self._tx_remaining} bytes of Content-Length not sent"
            )
        self._tx_framing = _NO_BODY
        if framing == _CHUNKED:
            trailers = _field_lines(event.trailers)[0]
            return f"0\r\n{''.join(trailers)}\r\n".encode("latin-1")
        if len(event.trailers):
            raise LocalProtocolError("trailers need a chunked body (Transfer-Encoding: chunked)")
        if not self._is_server and self._last_request is not None:
            self._last_request.waiting_100 = False
        return b""

    def _send_request(self, event: Request) -> bytes:
        method, target = event.method, event.target
        if not _TOKEN(method):
            raise LocalProtocolError(f"invalid method {method!r}: it must be a token")
        if not _abnf.REQUEST_TARGET.fullmatch(target):
            raise LocalProtocolError(
                f"invalid request target {target!r}: visible ASCII without spaces only"
            )
        lines, special = _field_lines(event.headers)
        http11 = event.http_version == "1.1"
        hosts = len(special.get("host", ()))
        # RFC 9112 §3.2: "A client MUST send a Host header field in all HTTP/1.1
        # request messages", and a request must not carry two.
        if hosts > 1:
            raise LocalProtocolError("a request must not have more than one Host header")
        if http11 and not hosts:
            raise LocalProtocolError("an HTTP/1.1 request needs a Host header")

        lengths = special.get("content-length")
        codings = special.get("transfer-encoding")
        if codings:
            if lengths:
                raise LocalProtocolError("Content-Length and Transfer-Encoding both set")
            if not http11:
                raise LocalProtocolError("Transfer-Encoding cannot be used in HTTP/1.0")
            if _coding_names(codings) != ["chunked"]:
                raise LocalProtocolError("Transfer-Encoding must be exactly 'chunked'")
            self._tx_framing, self._tx_remaining = _CHUNKED, 0
        elif lengths:
            self._tx_framing, self._tx_remaining = _LENGTH, _local_content_length(lengths)
        else:
            self._tx_framing, self._tx_remaining = _NO_BODY, 0

        keep_alive = _keep_alive(special.get("connection", []), http11)
        if method == "CONNECT":
            switch: str | None = "connect"
        elif "upgrade" in special and http11:
            switch = "upgrade"
        else:
            switch = None
        cycle = _Cycle(method, http11, keep_alive, switch)
        expect = special.get("expect")
        cycle.waiting_100 = bool(
            http11
            and expect
            and "100-continue" in _list_tokens(expect)
            and self._tx_framing != _NO_BODY
        )
        self._cycles.append(cycle)
        self._last_request = cycle
        return f"{method} {target} HTTP/{event.http_version}\r\n{''.join(lines)}\r\n".encode(
            "latin-1"
        )

    def _send_response(self, event: InformationalResponse | Response) -> bytes:
        if not self._cycles:
            raise LocalProtocolError("no request to answer: a response needs a received request")
        cycle = self._cycles[0]
        status = event.status_code
        reason = event.reason
        if reason:
            if not _abnf.REASON_PHRASE.fullmatch(reason):
                raise LocalProtocolError(f"invalid reason phrase {reason!r}")
        else:
            reason = _REASONS.get(status, "Unknown")
        lines, special = _field_lines(event.headers)
        lengths = special.get("content-length")
        codings = special.get("transfer-encoding")

        if type(event) is InformationalResponse:
            # RFC 9110 §15.2: "A server MUST NOT send a 1xx response to an HTTP/1.0
            # client."
            if not cycle.http11:
                raise LocalProtocolError("a 1xx response cannot be sent to an HTTP/1.0 client")
            if lengths or codings:
                raise LocalProtocolError(
                    "a 1xx response cannot have Content-Length or Transfer-Encoding"
                )
            if status == 101:
                if cycle.switch != "upgrade" or self._req_state is not MIGHT_SWITCH_PROTOCOL:
                    raise LocalProtocolError(
                        "101 Switching Protocols answers only a complete request with Upgrade"
                    )
                # RFC 9110 §15.2.2: "The server MUST generate an Upgrade header field".
                if "upgrade" not in special:
                    raise LocalProtocolError("a 101 response needs an Upgrade header")
                self._switched = True
            cycle.waiting_100 = False
            return f"HTTP/1.1 {status} {reason}\r\n{''.join(lines)}\r\n".encode("latin-1")

        method = cycle.method
        connect_ok = method == "CONNECT" and 200 <= status < 300
        # RFC 9110 §8.6 and RFC 9112 §6.1: no Content-Length nor Transfer-Encoding in
        # a 204, nor in a 2xx to CONNECT.
        if (status == 204 or connect_ok) and (lengths or codings):
            what = "204 response" if status == 204 else "2xx response to CONNECT"
            raise LocalProtocolError(f"a {what} cannot have Content-Length or Transfer-Encoding")
        tokens = _list_tokens(special.get("connection", []))
        keep_alive = cycle.keep_alive and "close" not in tokens
        if self._req_state is SEND_BODY and cycle is self._last_request:
            # Answered before the request body is complete (e.g. instead of 100
            # Continue): we cannot know whether or how much of the body will still
            # come, so this connection cannot carry another request.
            keep_alive = False

        if connect_ok:
            if self._req_state is not MIGHT_SWITCH_PROTOCOL:
                raise LocalProtocolError("a 2xx to CONNECT needs the complete request first")
            self._switched = True
            framing, remaining = _NO_BODY, 0
        elif method == "HEAD" or status in _NO_CONTENT:
            # RFC 9112 §6.3 item 1. (Content-Length is allowed in answer to HEAD and
            # in a 304: it describes the representation, not this message.)
            framing, remaining = _NO_BODY, 0
        elif codings:
            if lengths:
                raise LocalProtocolError("Content-Length and Transfer-Encoding both set")
            if _coding_names(codings) != ["chunked"]:
                raise LocalProtocolError("Transfer-Encoding must be exactly 'chunked'")
            if cycle.http11:
                framing, remaining = _CHUNKED, 0
            else:
                # RFC 9112 §6.1: no Transfer-Encoding to an HTTP/1.0 client; the body
                # is delimited by closing the connection instead.
                lines = [line for line in lines if not _is_field(line, "transfer-encoding")]
                framing, remaining = _UNTIL_CLOSE, 0
        elif lengths:
            framing, remaining = _LENGTH, _local_content_length(lengths)
        elif cycle.http11:
            framing, remaining = _CHUNKED, 0
            lines.append("Transfer-Encoding: chunked\r\n")
        else:
            framing, remaining = _UNTIL_CLOSE, 0
        if framing == _UNTIL_CLOSE:
            keep_alive = False

        if not self._switched:
            if not keep_alive and "close" not in tokens:
                lines = _with_connection_option(lines, "close")
            elif keep_alive and not cycle.http11 and "keep-alive" not in tokens:
                # RFC 9112 §9.3: an HTTP/1.0 client keeps the connection only if we
                # say keep-alive too.
                lines = _with_connection_option(lines, "keep-alive")
            cycle.switch = None  # a final response declines any proposed switch
        cycle.keep_alive = keep_alive
        cycle.waiting_100 = False
        self._tx_framing, self._tx_remaining = framing, remaining
        return f"HTTP/1.1 {status} {reason}\r\n{''.join(lines)}\r\n".encode("latin-1")


_FINISHED: Final = frozenset((MUST_CLOSE, CLOSED, ERROR, SWITCHED_PROTOCOL))
_BETWEEN_MESSAGES: Final = frozenset((IDLE, DONE, MIGHT_SWITCH_PROTOCOL))


def _field_lines(headers: Headers) -> tuple[list[str], dict[str, list[str]]]:
    """Validate fields to send; return their lines and the values of the framing fields.

    Raises:
        LocalProtocolError: a name is not a token, or a value has a CTL (CR, LF and
            NUL are how header injection works) or leading/trailing whitespace.
    """
    lines = []
    special: dict[str, list[str]] = {}
    cache = _NAME_CACHE
    for name, value in headers:
        lower = cache.get(name) or _lower_field_name(name)
        if lower is None:
            raise LocalProtocolError(f"invalid header name {name!r}: it must be a token")
        if not _FIELD_VALUE(value):
            raise LocalProtocolError(
                f"invalid header value for {name}: {value!r} (no CR, LF, NUL or other "
                "control characters, no leading or trailing whitespace)"
            )
        if lower in _SPECIAL_FIELDS:
            special.setdefault(lower, []).append(value)
        lines.append(f"{name}: {value}\r\n")
    return lines, special


def _is_field(line: str, lower: str) -> bool:
    return line.partition(":")[0].lower() == lower


def _with_connection_option(lines: list[str], option: str) -> list[str]:
    """Replace the Connection fields by one with the same options plus ``option``.

    The opposite persistence option is dropped, so "keep-alive" never travels
    with "close"; other options (e.g. "Upgrade") keep their order and case.
    """
    opposite = "keep-alive" if option == "close" else "close"
    kept = []
    options = []
    for line in lines:
        name, _, value = line.partition(":")
        if name.lower() != "connection":
            kept.append(line)
            continue
        for item in value.split(","):
            token = item.strip(" \t\r\n")
            if token and token.lower() != opposite:
                options.append(token)
    options.append(option)
    kept.append(f"Connection: {', '.join(options)}\r\n")
    return kept


def _coding_names(codings: list[str]) -> list[str]:
    return [
        name
        for name in (item.strip(" \t").lower() for v in codings for item in v.split(","))
        if name
    ]


def _local_content_length(lengths: list[str]) -> int:
    if len(lengths) != 1 or not _CONTENT_LENGTH(lengths[0]):
        raise LocalProtocolError(
            f"Content-Length must be given once, as a decimal number: {lengths!r}"
        )
    return int(lengths[0])
