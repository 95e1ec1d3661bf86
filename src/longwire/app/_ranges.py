"""Range requests as pure functions (RFC 9110 §14, §15.3.7 206, §15.5.17 416).

Nothing here reads a file: the caller knows the representation's length and
copies the bytes (``sendfile`` or a read loop) for the ranges it is given.

- ``select_ranges``: a ``Range`` field value and the length in, a ``RangeSelection``
  out: 200 (ignore the field, send everything), 206 (these ranges) or 416.
- ``parse_range`` and ``resolve_ranges``: its two halves, the grammar of §14.1.1
  and the resolution of §14.1.2 against a length.
- ``format_content_range``: the ``Content-Range`` field value (§14.4).
- ``MultipartByteranges``: the ``multipart/byteranges`` body of a 206 with several
  ranges (§14.6): its exact length up front, and its pieces one by one, so the
  data can be streamed from the file and never built in memory.

Ask ``longwire.app._conditional.evaluate_preconditions`` first: only when its
outcome has ``honour_range`` set is the ``Range`` field to be acted on.

Abuse (RFC 9110 §17.15, CVE-2011-3192): a ``Range`` with many overlapping ranges
(``bytes=0-,0-,0-,...``) asks for the representation many times over, and many
tiny ranges cost a part header each. The rule here:

1. More than ``MAX_RANGES`` (16) range-specs, or more than twice as many list
   elements (empty ones included): the field is ignored and the whole
   representation is sent (§14.2: a server "MAY ignore or reject" such a field).
   Parsing stops at the limit, so a huge field costs no more than a small one.
2. Unsatisfiable ranges are dropped (§14.1.2); none left: 416.
3. Ranges that overlap, touch, or are less than ``MERGE_GAP`` (80) bytes apart
   are merged (§15.3.7.2: "a server MAY coalesce any of the ranges that overlap,
   or that are separated by a gap that is smaller than the overhead of sending
   multiple parts"). Each merged range takes the place of its earliest member;
   the others keep the order they were asked in.

So a response never carries a byte twice, at most 16 parts, and at most
``length`` bytes of data; where Apache refuses overlapping ranges beyond a count,
merging serves the client at no extra cost.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, NamedTuple

__all__ = [
    "MAX_RANGES",
    "MERGE_GAP",
    "ByteRange",
    "MultipartByteranges",
    "RangeSelection",
    "RangeSpec",
    "format_content_range",
    "make_boundary",
    "parse_range",
    "resolve_ranges",
    "select_ranges",
]

# Limits

# 16 ranges: real clients ask for one (resuming, media seeking) or a handful (PDF
# viewers fetching objects); Apache answered CVE-2011-3192 with a limit (MaxRanges,
# 200) and nginx has max_ranges. Each range costs a part header and a seek, so a
# peer must not be able to ask for thousands. ``None`` turns the limit off.
MAX_RANGES: Final = 16

# 80 bytes: RFC 9110 §15.3.7.2 gives "around 80 bytes" as the overhead of a part in
# a multipart/byteranges body; a gap smaller than that costs less to send than the
# part boundary that would skip it.
MERGE_GAP: Final = 80

# Positions with more digits than this are larger than any representation (and
# than 2**63), so they are not converted: int() of a 4000-digit number is slow, of
# a longer one an error. Lengths passed in must stay below _HUGE.
_MAX_DIGITS: Final = 19
_HUGE: Final = 10**_MAX_DIGITS


class ByteRange(NamedTuple):
    """A satisfiable byte range: offsets ``start`` through ``end``, both inclusive."""

    start: int
    end: int

    @property
    def size(self) -> int:
        """How many bytes the range holds (``end - start + 1``)."""
        return self.end - self.start + 1


class RangeSpec(NamedTuple):
    """One range-spec of a ``Range`` field, before it meets a length (RFC 9110 §14.1.1).

    ``bytes=500-999`` is ``RangeSpec(500, 999)``, ``bytes=9500-`` is
    ``RangeSpec(9500, None)``, and the suffix ``bytes=-500`` is
    ``RangeSpec(None, 500)``: with ``first`` ``None``, ``last`` is the suffix length.
    """

    first: int | None
    last: int | None


def _number(digits: str) -> int | None:
    """The value of ``1*DIGIT``, capped at ``_HUGE``; ``None`` if not ASCII digits only."""
    # isdigit() alone takes "²" and other Unicode digits, which int() refuses, and
    # int() alone takes "+1", " 1" and "1_0": neither is DIGIT (RFC 5234 B.1).
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) > _MAX_DIGITS:
        digits = digits.lstrip("0") or "0"
        if len(digits) > _MAX_DIGITS:
            return _HUGE
    return int(digits)


def _less(a: str, b: str) -> bool:
    """Whether the ASCII digit string ``a`` is a smaller number than ``b`` (any length)."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)


def parse_range(value: str, *, max_ranges: int | None = MAX_RANGES) -> tuple[RangeSpec, ...] | None:
    """Parse a ``Range`` field value with the ``bytes`` unit (RFC 9110 §14.1.1, §14.1.2).

    Spaces and tabs around list elements and after ``=`` are allowed (the RFC's
    own example, erratum 7306), and so are empty elements (§5.6.1.2); none inside
    a range-spec.

    Args:
        value: the field value, such as ``"bytes=0-499, -500"``.
        max_ranges: the most range-specs accepted (``None``: no limit).

    Returns:
        The range-specs in the order given, or ``None`` when the field is to be
        ignored: another unit (§14.2: "An origin server MUST ignore a Range header
        field that contains a range unit it does not understand"), invalid syntax,
        a last-pos below its first-pos (§14.1.1: "A range-spec is invalid if the
        last-pos value is present and less than the first-pos"), no range-spec at
        all, or more than ``max_ranges`` of them.

    Raises:
        ValueError: ``max_ranges`` is negative.
    """
    if max_ranges is not None and max_ranges < 0:
        raise ValueError(f"max_ranges must be >= 0 or None, not {max_ranges}")
    unit, equals, range_set = value.partition("=")
    # RFC 9110 §14.1: "All range unit names are case-insensitive".
    if not equals or unit.strip(" \t").lower() != "bytes":
        return None
    if max_ranges is None:
        elements = range_set.split(",")
    else:
        # Split no further than the limit allows: a field of 30000 commas must not
        # become 30000 strings first. Empty elements count towards twice the limit.
        most = 2 * max_ranges
        elements = range_set.split(",", most)
        if len(elements) > most:
            return None
    specs: list[RangeSpec] = []
    for element in elements:
        spec = element.strip(" \t")
        if not spec:
            continue
        # RFC 9110 §14.1.1:
        #   range-set     = 1#range-spec
        #   range-spec    = int-range / suffix-range / other-range
        #   int-range     = first-pos "-" [ last-pos ]
        #   suffix-range  = "-" suffix-length
        # other-range only has a meaning for units other than bytes (§14.1.2).
        first_digits, dash, last_digits = spec.partition("-")
        if not dash:
            return None
        last = _number(last_digits) if last_digits else None
        if last_digits and last is None:
            return None
        if first_digits:
            first = _number(first_digits)
            if first is None:
                return None
            if last is not None and (
                last < first or (last == first == _HUGE and _less(last_digits, first_digits))
            ):
                return None
            specs.append(RangeSpec(first, last))
        elif last is None:  # "-" alone
            return None
        else:
            specs.append(RangeSpec(None, last))
        if max_ranges is not None and len(specs) > max_ranges:
            return None
    return tuple(specs) if specs else None


def _coalesce(ranges: list[ByteRange], merge_gap: int) -> tuple[ByteRange, ...]:
    """Merge ranges that overlap, touch or lie within ``merge_gap`` bytes of each other."""
    # Sorted by start, with the position each was asked in.
    order = sorted(range(len(ranges)), key=ranges.__getitem__)
    groups: list[list[int]] = []  # [start, end, earliest position]
    for position in order:
        start, end = ranges[position]
        if groups and start - groups[-1][1] - 1 <= merge_gap:
            group = groups[-1]
            group[1] = max(group[1], end)
            group[2] = min(group[2], position)
        else:
            groups.append([start, end, position])
    if len(groups) > 1:
        groups.sort(key=lambda group: group[2])
    return tuple(ByteRange(start, end) for start, end, _ in groups)


def resolve_ranges(
    specs: Iterable[RangeSpec | tuple[int | None, int | None]],
    length: int,
    *,
    merge_gap: int = MERGE_GAP,
) -> tuple[ByteRange, ...]:
    """Resolve range-specs against a representation of ``length`` bytes (RFC 9110 §14.1.2).

    Unsatisfiable specs are dropped; the rest are clamped to the length and then
    coalesced (see the module docstring).

    Args:
        specs: what ``parse_range`` returned.
        length: the representation's length in bytes.
        merge_gap: merge ranges separated by at most this many bytes (0: only
            overlapping or adjacent ones, which are always merged).

    Returns:
        The ranges to send, in order, each within ``0..length - 1``; empty when
        none is satisfiable (a 416).

    Raises:
        ValueError: ``length`` or ``merge_gap`` is negative, ``length`` is
            unreasonably large, or a spec has neither position.
    """
    if not 0 <= length < _HUGE:
        raise ValueError(f"length must be from 0 to {_HUGE - 1}, not {length}")
    if merge_gap < 0:
        raise ValueError(f"merge_gap must not be negative, not {merge_gap}")
    resolved: list[ByteRange] = []
    for first, last in specs:
        if first is None:
            if last is None:
                raise ValueError("a range-spec needs a first-pos or a suffix-length")
            # §14.1.2: "If the selected representation is shorter than the specified
            # suffix-length, the entire representation is used." A suffix-length of
            # zero selects nothing: unsatisfiable.
            if last == 0 or length == 0:
                continue
            resolved.append(ByteRange(max(length - last, 0), length - 1))
        else:
            # §14.1.2: satisfiable if "a first-pos that is less than the current
            # length"; "if the last-pos value is absent, or if the value is greater
            # than or equal to the current length of the representation data, the
            # byte range is interpreted as the remainder of the representation".
            if first >= length:
                continue
            end = length - 1 if last is None or last >= length else last
            resolved.append(ByteRange(first, end))
    if len(resolved) <= 1:
        return tuple(resolved)
    return _coalesce(resolved, merge_gap)


def format_content_range(byte_range: tuple[int, int] | None, length: int | None) -> str:
    """A ``Content-Range`` field value with the ``bytes`` unit (RFC 9110 §14.4).

    Args:
        byte_range: the ``(start, end)`` sent (inclusive), or ``None`` for the
            ``bytes */length`` of a 416 (§15.5.17).
        length: the complete length, or ``None`` when unknown (``*``).

    Returns:
        ``"bytes 0-499/1234"``, ``"bytes 0-499/*"`` or ``"bytes */1234"``.

    Raises:
        ValueError: the range is empty or reversed, or reaches past ``length``
            (§14.4: invalid "if it contains a range-resp that has a last-pos value
            less than its first-pos value, or a complete-length value less than or
            equal to its last-pos value"), or a 416 value has no ``length``.
    """
    # RFC 9110 §14.4:
    #   Content-Range       = range-unit SP ( range-resp / unsatisfied-range )
    #   range-resp          = incl-range "/" ( complete-length / "*" )
    #   incl-range          = first-pos "-" last-pos
    #   unsatisfied-range   = "*/" complete-length
    if byte_range is None:
        if length is None or length < 0:
            raise ValueError("an unsatisfied Content-Range needs the complete length")
        return f"bytes */{length}"
    start, end = byte_range
    if not 0 <= start <= end or (length is not None and end >= length):
        raise ValueError(f"invalid byte range {start}-{end} of {length}")
    return f"bytes {start}-{end}/{'*' if length is None else length}"


@dataclass(frozen=True, slots=True)
class RangeSelection:
    """What to send for a ``Range`` request (``select_ranges``).

    Attributes:
        status: 200 (ignore the Range field: send the whole representation), 206
            (send ``ranges``) or 416 (Range Not Satisfiable).
        length: the representation's complete length.
        ranges: for a 206, the ranges to send (at least one), in order; else ``()``.
    """

    status: int
    length: int
    ranges: tuple[ByteRange, ...] = ()

    @property
    def multipart(self) -> bool:
        """Whether the 206 needs a ``multipart/byteranges`` body (more than one range)."""
        return len(self.ranges) > 1

    @property
    def content_range(self) -> str | None:
        """The ``Content-Range`` to send: a 416 or a single-range 206 has one, else ``None``.

        RFC 9110 §15.5.17: a 416 to a byte-range request "SHOULD generate a
        Content-Range header field specifying the current length of the selected
        representation"; §15.3.7.1: a
        single-part 206 "MUST generate a Content-Range header field"; §15.3.7.2: a
        multipart one "MUST NOT generate a Content-Range header field" in its head.
        """
        if self.status == 416:
            return f"bytes */{self.length}"
        if self.status == 206 and len(self.ranges) == 1:
            start, end = self.ranges[0]
            return f"bytes {start}-{end}/{self.length}"
        return None


def select_ranges(
    range_header: str | None,
    length: int,
    *,
    max_ranges: int | None = MAX_RANGES,
    merge_gap: int = MERGE_GAP,
) -> RangeSelection:
    """Decide between 200, 206 and 416 for a ``Range`` field and a representation length.

    Args:
        range_header: the ``Range`` field value, or ``None`` when there is none
            (or when the preconditions said not to honour it).
        length: the representation's length in bytes.
        max_ranges: the most range-specs accepted (``None``: no limit); more, and
            the field is ignored.
        merge_gap: see ``resolve_ranges``.

    Returns:
        The ``RangeSelection``. A zero-length representation always gets 200
        (§14.2: a server "MAY ignore a Range header field when the selected
        representation has no content"): no range of it can be sent.

    Raises:
        ValueError: ``length``, ``max_ranges`` or ``merge_gap`` is out of range.
    """
    if not 0 <= length < _HUGE:
        raise ValueError(f"length must be from 0 to {_HUGE - 1}, not {length}")
    if range_header is None or length == 0:
        return RangeSelection(200, length)
    specs = parse_range(range_header, max_ranges=max_ranges)
    if specs is None:
        # RFC 9110 §14.2: an invalid or unknown-unit Range is ignored: a 200.
        return RangeSelection(200, length)
    ranges = resolve_ranges(specs, length, merge_gap=merge_gap)
    if not ranges:
        # RFC 9110 §15.5.17: 416 when the set of ranges "has been rejected either
        # because none of the requested ranges are satisfiable or because the client
        # has requested an excessive number of small or overlapping ranges"; the
        # second kind is answered with a 200 instead (module docstring).
        return RangeSelection(416, length)
    return RangeSelection(206, length, ranges)


# multipart/byteranges

# RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace. Of bchars we allow only
# those that are also tchars (RFC 9110 §5.6.2), so the boundary parameter of the
# Content-Type never needs quoting.
_BOUNDARY = re.compile(r"[0-9A-Za-z'+_.-]{1,70}")


def make_boundary() -> str:
    """A fresh multipart boundary: 32 random hex digits.

    128 random bits: the chance that the data contains the delimiter line by
    accident is nil, and nobody can aim for it (RFC 2046 §5.1.1: the boundary
    must not occur in the encapsulated data).

    Returns:
        The boundary, without the leading ``--``.
    """
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True, kw_only=True)
class MultipartByteranges:
    """The ``multipart/byteranges`` body of a 206 (RFC 9110 §14.6, §15.3.7.2).

    Everything but the data is worked out on construction: ``content_length``
    is exact before a byte is sent, and ``pieces()`` yields what to write around
    each range, so the range data can come straight from a file::

        body = MultipartByteranges(ranges=selection.ranges, length=size,
                                   content_type="application/pdf")
        headers: Content-Type = body.media_type, Content-Length = body.content_length
        for head, byte_range in body.pieces():
            write(head)
            if byte_range is not None:
                sendfile(fd, offset=byte_range.start, count=byte_range.size)

    Attributes:
        ranges: the ranges, in the order to send them (``(start, end)`` pairs are
            converted to ``ByteRange``).
        length: the representation's complete length.
        content_type: the representation's ``Content-Type``, repeated in each
            part (§15.3.7.2), or ``None`` if it has none.
        boundary: the boundary, random by default (``make_boundary``).
        part_heads: the bytes before each range's data: delimiter and part
            header fields.
        closing: the bytes after the last range: the close-delimiter.
        content_length: the exact length of the whole body.

    Raises:
        ValueError: no ranges, a range outside ``0..length - 1``, a boundary that
            is not 1-70 of ``0-9A-Za-z'+_.-``, or a ``content_type`` with a control
            character or one that latin-1 cannot encode.
    """

    ranges: tuple[ByteRange, ...]
    length: int
    content_type: str | None = None
    boundary: str = field(default_factory=make_boundary)
    part_heads: tuple[bytes, ...] = field(init=False, repr=False)
    closing: bytes = field(init=False, repr=False)
    content_length: int = field(init=False)

    def __post_init__(self) -> None:
        ranges = tuple(ByteRange(start, end) for start, end in self.ranges)
        if not ranges:
            raise ValueError("a multipart/byteranges body needs at least one range")
        length = self.length
        for start, end in ranges:
            if not 0 <= start <= end < length:
                raise ValueError(f"byte range {start}-{end} is outside 0-{length - 1}")
        boundary = self.boundary
        if _BOUNDARY.fullmatch(boundary) is None:
            raise ValueError(f"invalid multipart boundary {boundary!r}")
        content_type = self.content_type
        if content_type is not None and not content_type.isprintable():
            raise ValueError(f"invalid Content-Type {content_type!r}")
        type_line = "" if content_type is None else f"Content-Type: {content_type}\r\n"
        try:
            type_line.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"Content-Type {content_type!r} is not latin-1") from None
        # RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter, so
        # every part but the first opens with one, and so does the close-delimiter
        # ("--" boundary "--"), followed by a CRLF (an empty epilogue), as Apache
        # and nginx send it.
        heads: list[bytes] = []
        delimiter = f"--{boundary}\r\n{type_line}"
        total = 0
        for start, end in ranges:
            head = f"{delimiter}Content-Range: bytes {start}-{end}/{length}\r\n\r\n"
            heads.append(head.encode("latin-1"))
            total += len(heads[-1]) + end - start + 1
            delimiter = f"\r\n--{boundary}\r\n{type_line}"
        closing = f"\r\n--{boundary}--\r\n".encode("latin-1")
        total += len(closing)
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "part_heads", tuple(heads))
        object.__setattr__(self, "closing", closing)
        object.__setattr__(self, "content_length", total)

    @property
    def media_type(self) -> str:
        """The response's ``Content-Type``: ``multipart/byteranges; boundary=...``."""
        return f"multipart/byteranges; boundary={self.boundary}"

    def pieces(self) -> Iterator[tuple[bytes, ByteRange | None]]:
        """The body in order: ``(bytes to write, range whose data follows them)``.

        Yields each part's head with its range, then the close-delimiter with
        ``None``. Writing each piece's bytes, then the range's data when there
        is one, produces exactly ``content_length`` bytes.
        """
        yield from zip(self.part_heads, self.ranges, strict=True)
        yield self.closing, None

    def build(self, data: bytes | bytearray | memoryview) -> bytes:
        """The whole body, for a representation held in memory.

        Args:
            data: the complete representation (``length`` bytes).

        Returns:
            The body, ``content_length`` bytes long.

        Raises:
            ValueError: ``data`` is not ``length`` bytes long.
        """
        view = memoryview(data)
        if view.nbytes != self.length:
            raise ValueError(f"data is {view.nbytes} bytes, not {self.length}")
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        chunks: list[bytes | memoryview] = []
        for head, byte_range in self.pieces():
            chunks.append(head)
            if byte_range is not None:
                chunks.append(view[byte_range.start : byte_range.end + 1])
        return b"".join(chunks)
