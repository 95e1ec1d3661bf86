"""The receive buffer: received bytes, and the sections cut out of them (RFC 9112 §2, §5).

``ReceiveBuffer`` holds the bytes received and not consumed yet. It cuts complete
header and trailer sections out of them, never buffering more than the limits
allow while one is incomplete, rejects the bytes a head may not contain, and
splits field lines into names and values. What a head means is the ``Reader``'s
business (``_readers``).

How it parses, and why it is fast in pure Python: a head is found with one
``bytes.find(b"\\r\\n\\r\\n")`` (resumed where the previous search stopped, and
bounded by the limits), checked for forbidden bytes with one ``bytes.translate``,
decoded once as latin-1 and split once on CRLF; each field line is then one
``str.partition`` plus a dict lookup that both validates the name and lowercases
it.
"""

from __future__ import annotations

import re

from .._errors import RemoteProtocolError
from . import _abnf
from ._limits import Limits
from ._message import NAME_CACHE, SPECIAL_FIELDS, WHITESPACE, lower_field_name

__all__ = ["ReceiveBuffer"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = _abnf.TOKEN.fullmatch
_HEAD_CHARACTERS = _abnf.HEAD_CHARACTERS


class ReceiveBuffer:
    """Received bytes not consumed yet, and the sections cut out of them.

    Args:
        is_server: whether the peer sends requests (we are the server) or responses.
        limits: bounds on what the peer may make us buffer.

    Readers consume bytes by moving ``pos`` forward. The owner appends received
    bytes to ``buf`` and, after a batch, deletes the consumed ones (``buf[:pos]``),
    moving ``pos`` and ``scan`` back by as much.
    """

    __slots__ = ("buf", "is_server", "limits", "line_seen", "pos", "scan")

    def __init__(self, is_server: bool, limits: Limits) -> None:
        self.is_server = is_server
        self.limits = limits
        # Received bytes not yet consumed start at pos. scan is where the search
        # for the end of an incomplete head resumes; line_seen tells whether the
        # first line of that head is known to fit max_request_line_size.
        self.buf = bytearray()
        self.pos = 0
        self.scan = 0
        self.line_seen = False

    def error(self, message: str, status: int | None = 400) -> RemoteProtocolError:
        """The exception for ``message``; ``status`` is the status a server answers with."""
        # A client has nobody to answer, so only a server gets a status hint.
        return RemoteProtocolError(message, status_hint=status if self.is_server else None)

    # Sections

    def take_section(self, is_head: bool) -> list[str] | None:
        """Cut the next complete head (or trailer section) out of the buffer.

        Returns its lines, decoded as latin-1, without the blank line that ends it;
        or ``None`` when it is not complete yet.
        """
        buf = self.buf
        start = self.pos
        scan = self.scan if self.scan > start else start
        limit = self.limits.max_header_size
        end = buf.find(b"\r\n\r\n", scan, len(buf) if limit is None else start + limit)
        if end < 0:
            self._section_incomplete(start, scan, is_head)
            return None
        section = buf[start:end]
        self.pos = self.scan = end + 4
        self.line_seen = False
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
        buf = self.buf
        size = len(buf) - start
        line_limit = self.limits.max_request_line_size
        if is_head and not self.line_seen and line_limit is not None:
            if buf.find(b"\r\n", scan, start + line_limit + 2) >= 0:
                self.line_seen = True
            elif size >= line_limit + 2:
                what = "request line" if self.is_server else "status line"
                raise self.error(f"{what} too long", 414)
        limit = self.limits.max_header_size
        if limit is not None and size >= limit:
            what = "header section" if is_head else "trailer section"
            raise self.error(f"{what} too large", 431)
        # A bare LF (one without CR before it) can never be part of a valid head:
        # say so now rather than wait for a CRLFCRLF that a peer ending its lines
        # with LF alone will never send. Count the LFs from where the last call
        # stopped, and the CRLFs that end there: they differ iff one LF is bare.
        if buf.count(b"\n", scan) != buf.count(b"\r\n", max(start, scan - 1)):
            what = "header section" if is_head else "trailer section"
            raise self.error(f"bare LF in {what}")
        self.scan = max(start, len(buf) - 3)

    def _bad_characters(self, lines: list[str], is_head: bool) -> RemoteProtocolError:
        # Slow path: say which rule the section broke.
        section = "header section" if is_head else "trailer section"
        for number, line in enumerate(lines):
            if "\r" in line:
                return self.error(f"bare CR in {section}")
            if "\n" in line:
                return self.error(f"bare LF in {section}")
            bad = _CONTROL.search(line)
            if bad:
                char = bad.group()
                what = "NUL" if char == "\x00" else f"control character {char!r}"
                where = "start line" if is_head and number == 0 else "header field value"
                return self.error(f"{what} in {where}")
        return self.error(f"invalid character in {section}")  # pragma: no cover

    def parse_fields(
        self, lines: list[str], first: int
    ) -> tuple[list[tuple[str, str, str]], list[int]]:
        """Parse field lines ``lines[first:]`` into ``(lowercase name, name, value)``.

        Also returns the indexes of the fields in ``SPECIAL_FIELDS``, so that
        callers look at those few instead of scanning every field again.
        """
        limit = self.limits.max_header_count
        if limit is not None and len(lines) - first > limit:
            raise self.error("too many header fields", 431)
        fields: list[tuple[str, str, str]] = []
        special: list[int] = []
        cache = NAME_CACHE
        for index in range(first, len(lines)):
            line = lines[index]
            # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
            name, colon, value = line.partition(":")
            lower = cache.get(name)
            if lower is None or not colon:
                lower = self._check_field_name(line, name, colon, fields)
                if lower is None:
                    continue  # an obs-fold, merged into the previous field
            if lower in SPECIAL_FIELDS:
                special.append(len(fields))
            fields.append((lower, name, value.strip(" \t")))
        return fields, special

    def _check_field_name(
        self, line: str, name: str, colon: str, fields: list[tuple[str, str, str]]
    ) -> str | None:
        if colon:
            lower = lower_field_name(name)
            if lower is not None:
                return lower
        if line[:1] in (" ", "\t"):
            # RFC 9112 §5.2: obs-fold. A server MUST reject it in a request; a user
            # agent MUST replace it with SP before interpreting the value.
            if self.is_server:
                raise self.error("obs-fold (line folding) is not allowed in requests")
            if not fields:
                raise self.error("obs-fold (line folding) before the first header field")
            lower, previous_name, previous = fields.pop()
            folded = f"{previous} {line.strip(WHITESPACE)}".strip(WHITESPACE)
            fields.append((lower, previous_name, folded))
            return None
        if not colon:
            raise self.error(f"header field line without a colon: {line[:40]!r}")
        if name.rstrip(WHITESPACE) != name and _TOKEN(name.rstrip(WHITESPACE)):
            # RFC 9112 §5.1: "No whitespace is allowed between the field name and
            # colon ... A server MUST reject ... with 400"; it is a smuggling vector.
            raise self.error("whitespace between header field name and colon")
        if not name:
            raise self.error("empty header field name")
        raise self.error(f"invalid header field name {name[:40]!r}")
