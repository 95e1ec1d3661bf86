"""Writing HTTP/1.1: events checked and serialized to bytes (RFC 9112).

``Writer`` is the sending half of a connection. It checks that a head the
application gives is well-formed and fits the request it answers, serializes it,
and frames the body that follows: Content-Length counted, chunks encoded, or raw
bytes until the connection closes. Anything wrong raises ``LocalProtocolError``.
Which state each event moves the connection to is ``Connection``'s business.
"""

from __future__ import annotations

from collections import deque
from http import HTTPStatus
from typing import Final

from .._errors import LocalProtocolError
from . import _abnf
from ._events import InformationalResponse, Request, Response
from ._headers import Headers
from ._message import (
    CHUNKED,
    LENGTH,
    NAME_CACHE,
    NO_BODY,
    NO_CONTENT,
    SPECIAL_FIELDS,
    UNTIL_CLOSE,
    Cycle,
    coding_names,
    list_tokens,
    lower_field_name,
    persistent,
)
from ._state import MIGHT_SWITCH_PROTOCOL, SEND_BODY, State

__all__ = ["Writer"]

_REASONS: Final = {status.value: status.phrase for status in HTTPStatus}

_TOKEN = _abnf.TOKEN.fullmatch
_FIELD_VALUE = _abnf.FIELD_VALUE.fullmatch
_CONTENT_LENGTH = _abnf.CONTENT_LENGTH.fullmatch


class Writer:
    """The sending half of a connection: head and body events in, bytes out.

    Args:
        is_server: whether we send responses (server) or requests (client).
    """

    __slots__ = ("framing", "is_server", "remaining")

    def __init__(self, is_server: bool) -> None:
        self.is_server = is_server
        # The body being sent.
        self.framing = NO_BODY
        self.remaining = 0

    # Heads

    def request(self, event: Request) -> tuple[bytes, Cycle]:
        """Check and serialize a request head; return its bytes and the ``Cycle`` it opens."""
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
            if coding_names(codings) != ["chunked"]:
                raise LocalProtocolError("Transfer-Encoding must be exactly 'chunked'")
            self.framing, self.remaining = CHUNKED, 0
        elif lengths:
            self.framing, self.remaining = LENGTH, _local_content_length(lengths)
        else:
            self.framing, self.remaining = NO_BODY, 0

        keep_alive = persistent(special.get("connection", []), http11)
        if method == "CONNECT":
            switch: str | None = "connect"
        elif "upgrade" in special and http11:
            switch = "upgrade"
        else:
            switch = None
        cycle = Cycle(method, http11, keep_alive, switch)
        expect = special.get("expect")
        cycle.waiting_100 = bool(
            http11 and expect and "100-continue" in list_tokens(expect) and self.framing != NO_BODY
        )
        head = f"{method} {target} HTTP/{event.http_version}\r\n{''.join(lines)}\r\n"
        return head.encode("latin-1"), cycle

    def response(
        self,
        event: InformationalResponse | Response,
        cycles: deque[Cycle],
        request_state: State,
        last_request: Cycle | None,
    ) -> tuple[bytes, bool]:
        """Check and serialize a response head; return its bytes and whether it switches.

        Args:
            event: the response (interim or final).
            cycles: the unanswered cycles, oldest first. ``event`` answers the
                oldest: its ``keep_alive``, ``switch`` and ``waiting_100`` are updated
                with what the response decides.
            request_state: the state of the request direction.
            last_request: the cycle of the most recent request head.

        Returns:
            ``(head, switched)``: the bytes to write, and whether the response
            switches protocols (101, or a 2xx to CONNECT).
        """
        if not cycles:
            raise LocalProtocolError("no request to answer: a response needs a received request")
        cycle = cycles[0]
        switched = False
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
                if cycle.switch != "upgrade" or request_state is not MIGHT_SWITCH_PROTOCOL:
                    raise LocalProtocolError(
                        "101 Switching Protocols answers only a complete request with Upgrade"
                    )
                # RFC 9110 §15.2.2: "The server MUST generate an Upgrade header field".
                if "upgrade" not in special:
                    raise LocalProtocolError("a 101 response needs an Upgrade header")
                switched = True
            cycle.waiting_100 = False
            head = f"HTTP/1.1 {status} {reason}\r\n{''.join(lines)}\r\n"
            return head.encode("latin-1"), switched

        method = cycle.method
        connect_ok = method == "CONNECT" and 200 <= status < 300
        # RFC 9110 §8.6 and RFC 9112 §6.1: no Content-Length nor Transfer-Encoding in
        # a 204, nor in a 2xx to CONNECT.
        if (status == 204 or connect_ok) and (lengths or codings):
            what = "204 response" if status == 204 else "2xx response to CONNECT"
            raise LocalProtocolError(f"a {what} cannot have Content-Length or Transfer-Encoding")
        tokens = list_tokens(special.get("connection", []))
        keep_alive = cycle.keep_alive and "close" not in tokens
        if request_state is SEND_BODY and cycle is last_request:
            # Answered before the request body is complete (e.g. instead of 100
            # Continue): we cannot know whether or how much of the body will still
            # come, so this connection cannot carry another request.
            keep_alive = False

        if connect_ok:
            if request_state is not MIGHT_SWITCH_PROTOCOL:
                raise LocalProtocolError("a 2xx to CONNECT needs the complete request first")
            switched = True
            framing, remaining = NO_BODY, 0
        elif method == "HEAD" or status in NO_CONTENT:
            # RFC 9112 §6.3 item 1. (Content-Length is allowed in answer to HEAD and
            # in a 304: it describes the representation, not this message.)
            framing, remaining = NO_BODY, 0
        elif codings:
            if lengths:
                raise LocalProtocolError("Content-Length and Transfer-Encoding both set")
            if coding_names(codings) != ["chunked"]:
                raise LocalProtocolError("Transfer-Encoding must be exactly 'chunked'")
            if cycle.http11:
                framing, remaining = CHUNKED, 0
            else:
                # RFC 9112 §6.1: no Transfer-Encoding to an HTTP/1.0 client; the body
                # is delimited by closing the connection instead.
                lines = [line for line in lines if not _is_field(line, "transfer-encoding")]
                framing, remaining = UNTIL_CLOSE, 0
        elif lengths:
            framing, remaining = LENGTH, _local_content_length(lengths)
        elif cycle.http11:
            framing, remaining = CHUNKED, 0
            lines.append("Transfer-Encoding: chunked\r\n")
        else:
            framing, remaining = UNTIL_CLOSE, 0
        if framing == UNTIL_CLOSE:
            keep_alive = False

        if not switched:
            if not keep_alive and "close" not in tokens:
                lines = _with_connection_option(lines, "close")
            elif keep_alive and not cycle.http11 and "keep-alive" not in tokens:
                # RFC 9112 §9.3: an HTTP/1.0 client keeps the connection only if we
                # say keep-alive too.
                lines = _with_connection_option(lines, "keep-alive")
            cycle.switch = None  # a final response declines any proposed switch
        cycle.keep_alive = keep_alive
        cycle.waiting_100 = False
        self.framing, self.remaining = framing, remaining
        head = f"HTTP/1.1 {status} {reason}\r\n{''.join(lines)}\r\n"
        return head.encode("latin-1"), switched

    # Bodies

    def data(self, data: bytes, last_request: Cycle | None) -> bytes:
        """The bytes that carry ``data``, a piece of the body, framed as its head said.

        ``last_request`` is the cycle of the most recent request head: a client's
        body bytes end its wait for 100 Continue.
        """
        size = len(data)
        if not self.is_server and size and last_request is not None:
            last_request.waiting_100 = False
        framing = self.framing
        if framing == LENGTH:
            if size > self.remaining:
                raise LocalProtocolError(
                    f"Data of {size} bytes is more than the {self.remaining} bytes "
                    "left of Content-Length"
                )
            self.remaining -= size
            return bytes(data)
        if framing == CHUNKED:
            # RFC 9112 §7.1: chunk = chunk-size CRLF chunk-data CRLF. An empty chunk
            # would read as the last one, so empty Data sends nothing.
            return b"%x\r\n%b\r\n" % (size, data) if size else b""
        if framing == UNTIL_CLOSE:
            return bytes(data)
        if size:
            if self.is_server:
                raise LocalProtocolError(
                    "this response has no body (it answers HEAD, or its status is 1xx, 204 or 304)"
                )
            raise LocalProtocolError(
                "a request body needs framing: set Content-Length or "
                "Transfer-Encoding: chunked on the Request"
            )
        return b""

    def external_data(self, size: int, last_request: Cycle | None) -> None:
        """Account for ``size`` body bytes the caller writes itself (``sendfile``).

        The checks of ``data`` for a body framed by Content-Length or by closing
        the connection; a chunked body would need framing around the bytes.
        """
        framing = self.framing
        if framing == LENGTH:
            if size > self.remaining:
                raise LocalProtocolError(
                    f"{size} body bytes are more than the {self.remaining} bytes "
                    "left of Content-Length"
                )
            self.remaining -= size
        elif framing == CHUNKED:
            raise LocalProtocolError(
                "body bytes written outside the core need Content-Length framing, "
                "not Transfer-Encoding: chunked"
            )
        elif framing != UNTIL_CLOSE and size:
            raise LocalProtocolError(
                "this response has no body (it answers HEAD, or its status is 1xx, 204 or 304)"
            )
        if not self.is_server and size and last_request is not None:
            last_request.waiting_100 = False

    def end(self, trailers: Headers, last_request: Cycle | None) -> bytes:
        """The bytes that end the body: the last chunk and ``trailers`` if it is chunked.

        ``last_request`` is the cycle of the most recent request head (as for ``data``).
        """
        framing = self.framing
        if framing == LENGTH and self.remaining:
            raise LocalProtocolError(
                f"EndOfMessage with {self.remaining} bytes of Content-Length not sent"
            )
        self.framing = NO_BODY
        if framing == CHUNKED:
            lines = _field_lines(trailers)[0]
            return f"0\r\n{''.join(lines)}\r\n".encode("latin-1")
        if len(trailers):
            raise LocalProtocolError("trailers need a chunked body (Transfer-Encoding: chunked)")
        if not self.is_server and last_request is not None:
            last_request.waiting_100 = False
        return b""


def _field_lines(headers: Headers) -> tuple[list[str], dict[str, list[str]]]:
    """Validate fields to send; return their lines and the values of the framing fields.

    Raises:
        LocalProtocolError: a name is not a token, or a value has a CTL (CR, LF and
            NUL are how header injection works) or leading/trailing whitespace.
    """
    lines = []
    special: dict[str, list[str]] = {}
    cache = _LINE_CACHE
    for name, value in headers:
        known = cache.get((name, value))
        if known is None:
            known = _field_line(name, value)
        line, lower = known
        if lower is not None:
            special.setdefault(lower, []).append(value)
        lines.append(line)
    return lines, special


# Servers send the same fields over and over (Content-Type, Server, Date within a
# second, the same Content-Length): a validated field is remembered, so checking it
# again costs one dict lookup. Bounded: cleared when full.
_LINE_CACHE: dict[tuple[str, str], tuple[str, str | None]] = {}
_LINE_CACHE_SIZE: Final = 1024
_LINE_CACHE_ITEM_LENGTH: Final = 256


def _field_line(name: str, value: str) -> tuple[str, str | None]:
    """The line for one field, and its lowercased name if it is a framing field."""
    lower = NAME_CACHE.get(name) or lower_field_name(name)
    if lower is None:
        raise LocalProtocolError(f"invalid header name {name!r}: it must be a token")
    if not _FIELD_VALUE(value):
        raise LocalProtocolError(
            f"invalid header value for {name}: {value!r} (no CR, LF, NUL or other "
            "control characters, no leading or trailing whitespace)"
        )
    known = (f"{name}: {value}\r\n", lower if lower in SPECIAL_FIELDS else None)
    if len(name) + len(value) <= _LINE_CACHE_ITEM_LENGTH:
        if len(_LINE_CACHE) >= _LINE_CACHE_SIZE:
            _LINE_CACHE.clear()
        _LINE_CACHE[name, value] = known
    return known


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


def _local_content_length(lengths: list[str]) -> int:
    if len(lengths) != 1 or not _CONTENT_LENGTH(lengths[0]):
        raise LocalProtocolError(
            f"Content-Length must be given once, as a decimal number: {lengths!r}"
        )
    return int(lengths[0])
