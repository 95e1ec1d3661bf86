"""Reading HTTP/1.1: what received heads mean, and how their bodies are framed (RFC 9112).

``Reader`` takes complete heads from a ``ReceiveBuffer`` and turns them into
events: a ``Request`` or a response, with the framing of the body that follows
(RFC 9112 §6.3), then that body as ``Data`` and ``EndOfMessage``. It checks every
rule a received message must follow and raises ``RemoteProtocolError`` (with the
status to answer, on the server side) when the peer breaks one. Which state each
event moves the connection to is ``Connection``'s business, not the reader's.

Bodies are cut out of the buffer with slices, never byte by byte.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final

from .._errors import RemoteProtocolError
from . import _abnf
from ._events import Data, EndOfMessage, InformationalResponse, Request, Response
from ._headers import Headers
from ._message import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    NO_CONTENT,
    UNTIL_CLOSE,
    Cycle,
    coding_names,
    list_tokens,
    persistent,
)
from ._receivebuffer import ReceiveBuffer
from ._state import MIGHT_SWITCH_PROTOCOL, State

__all__ = ["Reader", "end_of_message"]

# Where a chunked body reader is (RFC 9112 §7.1).
_CHUNK_SIZE: Final = 0  # waiting for a chunk-size line
_CHUNK_DATA: Final = 1  # inside chunk-data
_CHUNK_CRLF: Final = 2  # waiting for the CRLF that ends chunk-data
_TRAILERS: Final = 3  # after the last chunk: trailer fields, then CRLF

_VERSIONS: Final = frozenset(("1.1", "1.0"))

_LEADING_CRLFS = re.compile(rb"(?:\r\n)+")
_TOKEN = _abnf.TOKEN.fullmatch
_REQUEST_LINE = _abnf.REQUEST_LINE.fullmatch
_STATUS_LINE = _abnf.STATUS_LINE.fullmatch
_CHUNK_SIZE_LINE = _abnf.CHUNK_SIZE_LINE.fullmatch
_CONTENT_LENGTH = _abnf.CONTENT_LENGTH.fullmatch


def _new_headers(fields: list[tuple[str, str, str]]) -> Headers:
    # Build Headers from already-lowercased triples without redoing the work
    # Headers.__init__ does; this module is the parser Headers is shaped for.
    headers = Headers.__new__(Headers)
    headers._fields = fields
    return headers


# A frozen dataclass's __init__ sets each field through object.__setattr__ and then
# validates; the parser's events are valid by construction and made once per
# message, so they are built by setting the slots directly (the result is the same).
_SET_TRAILERS = EndOfMessage.__dict__["trailers"].__set__
_SET_METHOD = Request.__dict__["method"].__set__
_SET_TARGET = Request.__dict__["target"].__set__
_SET_HEADERS = Request.__dict__["headers"].__set__
_SET_VERSION = Request.__dict__["http_version"].__set__


def end_of_message() -> EndOfMessage:
    event: EndOfMessage = object.__new__(EndOfMessage)
    _SET_TRAILERS(event, _new_headers([]))
    return event


def _new_request(method: str, target: str, headers: Headers, version: str) -> Request:
    request: Request = object.__new__(Request)
    _SET_METHOD(request, method)
    _SET_TARGET(request, target)
    _SET_HEADERS(request, headers)
    _SET_VERSION(request, version)
    return request


class Reader:
    """The receiving half of a connection: heads and bodies from a buffer, as events.

    Args:
        buffer: the ``ReceiveBuffer`` to read from.
    """

    __slots__ = ("buffer", "chunk", "framing", "received", "remaining")

    def __init__(self, buffer: ReceiveBuffer) -> None:
        self.buffer = buffer
        # The body being received.
        self.framing = NO_BODY
        self.remaining = 0  # bytes left in the Content-Length body or chunk
        self.received = 0  # body bytes announced so far (for max_body_size)
        self.chunk = _CHUNK_SIZE

    def error(self, message: str, status: int | None = 400) -> RemoteProtocolError:
        """The exception for ``message``, as the buffer builds it for our side."""
        return self.buffer.error(message, status)

    # Heads

    def read_request(self, max_body_size: int | None) -> tuple[Request, Cycle, bool] | None:
        """Cut the next request head out of the buffer; ``None`` while it is incomplete.

        Returns ``(request, cycle, has_body)``: the ``Request``, the ``Cycle`` it
        opens, and whether a body follows (``read_body`` is then ready to read it).
        ``max_body_size`` bounds a declared Content-Length (413 beyond it).
        """
        buffer = self.buffer
        buf = buffer.buf
        pos = buffer.pos
        if pos == len(buf):
            return None
        if buf[pos] == 13:
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
            # received prior to the request-line.
            crlfs = _LEADING_CRLFS.match(buf, pos)
            if crlfs is not None:
                buffer.pos = pos = crlfs.end()
                if pos == len(buf):
                    return None
        lines = buffer.take_section(True)
        if lines is None:
            return None
        request_line = lines[0]
        line_limit = buffer.limits.max_request_line_size
        if line_limit is not None and len(request_line) > line_limit:
            raise self.error("request line too long", 414)
        match = _REQUEST_LINE(request_line)
        if match is None:
            raise self._bad_request_line(request_line)
        method, target, version = match.groups()
        if version not in _VERSIONS:
            version = self._higher_minor_version(version, 505)
        fields, special = buffer.parse_fields(lines, 1)
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
                expect = expect or "100-continue" in list_tokens([value])

        # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code
        # to any HTTP/1.1 request message that lacks a Host header field and to any
        # request message that contains more than one Host header field line".
        if hosts != 1 and (hosts or http11):
            if hosts:
                raise self.error("more than one Host header")
            raise self.error("missing Host header in HTTP/1.1 request")

        if lengths or codings:
            framing, length = self._request_framing(http11, lengths, codings, max_body_size)
        else:
            framing, length = NO_BODY, 0  # RFC 9112 §6.3 item 7: no body
        keep_alive = persistent(connection, http11)
        # RFC 9110 §7.8: "A server MUST ignore an Upgrade header field that is
        # received in an HTTP/1.0 request."
        if method == "CONNECT":
            switch: str | None = "connect"
        elif upgrade and http11:
            switch = "upgrade"
        else:
            switch = None
        cycle = Cycle(method, http11, keep_alive, switch)
        # RFC 9110 §10.1.1: only meaningful for HTTP/1.1 requests with a body.
        cycle.waiting_100 = expect and http11 and framing != NO_BODY

        headers = _new_headers(fields)
        request = _new_request(method, target, headers, version)
        if framing == NO_BODY:
            return request, cycle, False
        self._start_body(framing, length)
        return request, cycle, True

    def _higher_minor_version(self, version: str, status: int | None) -> str:
        # RFC 9112 §2.3: "A recipient that receives a message with a major version
        # number that it implements and a minor version number higher than what it
        # implements SHOULD process the message as if it were in the highest minor
        # version within that major version to which the recipient is conformant."
        if version[0] == "1":
            return "1.1"
        raise self.error(f"unsupported HTTP version HTTP/{version}", status)

    def _bad_request_line(self, line: str) -> RemoteProtocolError:
        parts = line.split(" ")
        if len(parts) != 3 or not all(parts):
            return self.error(
                "malformed request line: expected method SP request-target SP HTTP-version"
            )
        method, target, version = parts
        if not _TOKEN(method):
            return self.error(f"invalid method {method[:40]!r}")
        if not _abnf.REQUEST_TARGET.fullmatch(target):
            return self.error("invalid request target: only visible ASCII is allowed")
        return self.error(f"malformed HTTP version {version[:40]!r}")

    def _request_framing(
        self, http11: bool, lengths: list[str], codings: list[str], max_body_size: int | None
    ) -> tuple[int, int]:
        # RFC 9112 §6.3, for requests.
        if codings:
            # Item 3: both present is how request smuggling starts; reject.
            if lengths:
                raise self.error("Content-Length and Transfer-Encoding both present")
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding is faulty.
            if not http11:
                raise self.error("Transfer-Encoding in an HTTP/1.0 message")
            names = self._transfer_codings(codings)
            # Item 4: "If a Transfer-Encoding header field is present in a request
            # and the chunked transfer coding is not the final encoding, the
            # message body length cannot be determined reliably; the server MUST
            # respond with the 400".
            if names[-1] != "chunked":
                raise self.error("Transfer-Encoding must end in chunked")
            if len(names) > 1:
                # RFC 9112 §6.1: a server receiving a coding it does not understand
                # SHOULD respond with 501. We implement only chunked.
                raise self.error(f"unsupported transfer coding {names[0]!r}", 501)
            return CHUNKED, 0
        if lengths:
            length = self._content_length(lengths)
            limit = max_body_size
            if limit is not None and length > limit:
                raise self.error(f"request body larger than the limit of {limit} bytes", 413)
            return (LENGTH, length) if length else (NO_BODY, 0)
        # Item 7: a request without either has no body.
        return NO_BODY, 0

    def _transfer_codings(self, codings: list[str]) -> list[str]:
        names = coding_names(codings)
        if not names:
            raise self.error("Transfer-Encoding must end in chunked")
        # RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more
        # than once to a message body".
        if names.count("chunked") > 1:
            raise self.error("chunked transfer coding applied more than once")
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
                raise self.error(f"invalid Content-Length value {value[:40]!r}")
        if len(set(values)) > 1:
            raise self.error("conflicting Content-Length values")
        return int(values[0])

    def read_response(
        self, cycles: deque[Cycle], request_state: State, max_body_size: int | None
    ) -> tuple[InformationalResponse | Response, bool, bool] | None:
        """Cut the next response head out of the buffer; ``None`` while it is incomplete.

        Args:
            cycles: the unanswered cycles, oldest first. The response answers the
                oldest: its ``keep_alive``, ``switch`` and ``waiting_100`` are
                updated with what the response decides.
            request_state: the state of the request direction (a protocol switch
                needs the request that proposed it complete).
            max_body_size: bounds a declared Content-Length.

        Returns:
            ``(response, switched, has_body)``: the ``InformationalResponse`` or
            ``Response``; whether it switches protocols (101, or a 2xx to CONNECT);
            whether a body follows (``read_body`` is then ready to read it).
        """
        buffer = self.buffer
        if buffer.pos == len(buffer.buf):
            return None
        lines = buffer.take_section(True)
        if lines is None:
            return None
        status_line = lines[0]
        line_limit = buffer.limits.max_request_line_size
        if line_limit is not None and len(status_line) > line_limit:
            raise self.error("status line too long")
        match = _STATUS_LINE(status_line)
        if match is None:
            raise self.error(f"malformed status line {status_line[:60]!r}")
        version, code, reason = match.groups()
        if version not in _VERSIONS:
            version = self._higher_minor_version(version, None)
        status = int(code)
        if status < 100:
            raise self.error(f"invalid status code {code}")
        if not cycles:
            raise self.error("received a response with no request outstanding")
        cycle = cycles[0]
        fields, special = buffer.parse_fields(lines, 1)
        headers = _new_headers(fields)
        reason = reason or ""
        switched = False

        if status < 200:
            if status == 101:
                if cycle.switch != "upgrade":
                    raise self.error(
                        "101 Switching Protocols to a request that did not ask to upgrade"
                    )
                if request_state is not MIGHT_SWITCH_PROTOCOL:
                    raise self.error("101 Switching Protocols before the request ended")
                switched = True
            cycle.waiting_100 = False
            interim = InformationalResponse(
                status_code=status, headers=headers, reason=reason, http_version=version
            )
            return interim, switched, False

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
        keep_alive = persistent(connection, version == "1.1")

        method = cycle.method
        if cycle.switch == "connect" and 200 <= status < 300:
            # RFC 9110 §9.3.6: the connection becomes a tunnel after the header section.
            if request_state is not MIGHT_SWITCH_PROTOCOL:
                raise self.error("2xx to CONNECT before the request was complete")
            switched = True
            framing, length = NO_BODY, 0
        elif method == "HEAD" or status in NO_CONTENT:
            # RFC 9112 §6.3 item 1: these responses end with their header section,
            # whatever framing fields they carry.
            framing, length = NO_BODY, 0
        else:
            framing, length = self._response_framing(version, lengths, codings, max_body_size)
        if framing == UNTIL_CLOSE:
            keep_alive = False
        cycle.keep_alive = cycle.keep_alive and keep_alive
        if not switched:
            cycle.switch = None
        cycle.waiting_100 = False
        response = Response(
            status_code=status, headers=headers, reason=reason, http_version=version
        )
        if framing == NO_BODY:
            return response, switched, False
        self._start_body(framing, length)
        return response, switched, True

    def _response_framing(
        self, version: str, lengths: list[str], codings: list[str], max_body_size: int | None
    ) -> tuple[int, int]:
        # RFC 9112 §6.3, for responses (items 1 and 2 handled by the caller).
        if codings:
            if lengths:
                raise self.error("Content-Length and Transfer-Encoding both present")
            if version != "1.1":
                raise self.error("Transfer-Encoding in an HTTP/1.0 message")
            # Item 4: chunked last means chunked (any coding under it is the
            # application's to decode, as the header says); otherwise the body runs
            # until the connection closes.
            if self._transfer_codings(codings)[-1] == "chunked":
                return CHUNKED, 0
            return UNTIL_CLOSE, 0
        if lengths:
            length = self._content_length(lengths)
            limit = max_body_size
            if limit is not None and length > limit:
                raise self.error(f"response body larger than the limit of {limit} bytes")
            return (LENGTH, length) if length else (NO_BODY, 0)
        # Item 8: no framing at all: read until the server closes.
        return UNTIL_CLOSE, 0

    # Bodies

    def _start_body(self, framing: int, length: int) -> None:
        # Get ready to read a body framed by framing (length: its Content-Length).
        self.framing = framing
        self.remaining = length
        self.received = length
        self.chunk = _CHUNK_SIZE

    def read_body(self, max_body_size: int | None) -> Data | EndOfMessage | None:
        """The next event of the body being read: ``Data``, then ``EndOfMessage``.

        Returns ``None`` when more bytes are needed. ``max_body_size`` bounds the
        body (it may have changed since the head was read).
        """
        framing = self.framing
        if framing == NO_BODY:
            return end_of_message()  # all of a Content-Length body was read
        buffer = self.buffer
        buf = buffer.buf
        limit = max_body_size
        while True:  # only a chunked body goes round: size line, chunk-data, CRLF, ...
            pos = buffer.pos
            available = len(buf) - pos

            if framing == LENGTH or (framing == CHUNKED and self.chunk == _CHUNK_DATA):
                if limit is not None and self.received > limit:
                    raise self._body_too_large(limit)
                if not available:
                    return None
                size = min(available, self.remaining)
                buffer.pos = pos + size
                self.remaining -= size
                if not self.remaining:
                    if framing == LENGTH:
                        self.framing = NO_BODY  # all of it: EndOfMessage comes next
                    else:
                        self.chunk = _CHUNK_CRLF
                return Data(data=bytes(buf[pos : pos + size]))

            if framing == UNTIL_CLOSE:
                if not available:
                    return None
                self.received += available
                if limit is not None and self.received > limit:
                    raise self._body_too_large(limit)
                buffer.pos = len(buf)
                return Data(data=bytes(buf[pos:]))

            phase = self.chunk
            if phase == _CHUNK_SIZE:
                line_limit = buffer.limits.max_chunk_line_size
                end = buf.find(
                    b"\r\n", pos, len(buf) if line_limit is None else pos + line_limit + 2
                )
                if end < 0:
                    if line_limit is not None and available >= line_limit + 2:
                        raise self.error("chunk size line too long")
                    if buf.find(b"\n", pos) >= 0:
                        raise self.error("bare LF in chunk size line")
                    return None
                match = _CHUNK_SIZE_LINE(buf, pos, end)
                if match is None:
                    raise self.error(f"invalid chunk size {bytes(buf[pos:end][:40])!r}")
                size = int(match.group(1), 16)
                buffer.pos = end + 2
                if size:
                    self.received += size
                    if limit is not None and self.received > limit:
                        raise self._body_too_large(limit)
                    self.remaining = size
                    self.chunk = _CHUNK_DATA
                else:
                    self.chunk = _TRAILERS
                continue

            if phase == _CHUNK_CRLF:
                if available < 2:
                    if available and buf[pos] != 13:
                        raise self.error("missing CRLF after chunk data")
                    return None
                if buf[pos] != 13 or buf[pos + 1] != 10:
                    raise self.error("missing CRLF after chunk data")
                buffer.pos = pos + 2
                self.chunk = _CHUNK_SIZE
                continue

            # _TRAILERS. RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then CRLF.
            if available < 2:
                return None
            if buf[pos] == 13 and buf[pos + 1] == 10:
                buffer.pos = pos + 2
                return end_of_message()
            lines = buffer.take_section(False)
            if lines is None:
                return None
            return EndOfMessage(trailers=_new_headers(buffer.parse_fields(lines, 0)[0]))

    def _body_too_large(self, limit: int) -> RemoteProtocolError:
        if self.buffer.is_server:
            return self.error(f"request body larger than the limit of {limit} bytes", 413)
        return self.error(f"response body larger than the limit of {limit} bytes")
