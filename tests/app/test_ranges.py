"""Range requests: parsing, resolution, limits, Content-Range, multipart/byteranges.

RFC 9110 §14, §15.3.7 (206) and §15.5.17 (416).
"""

import email.parser
import email.policy
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longwire.app._ranges import (
    MAX_RANGES,
    MERGE_GAP,
    ByteRange,
    MultipartByteranges,
    RangeSelection,
    RangeSpec,
    format_content_range,
    make_boundary,
    parse_range,
    resolve_ranges,
    select_ranges,
)

HUGE = "9" * 30  # more digits than any length


def ranges_of(value, length=10000, **kwargs):
    selection = select_ranges(value, length, **kwargs)
    assert selection.status == 206, selection
    return [tuple(byte_range) for byte_range in selection.ranges]


# RFC 9110 §14.1.2, "Given a representation of 10000 bytes" (or its §14.1.1 example).


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # "The first 500 bytes (byte offsets 0-499, inclusive)"
        ("bytes=0-499", [(0, 499)]),
        # "The second 500 bytes (byte offsets 500-999, inclusive)"
        ("bytes=500-999", [(500, 999)]),
        # "The final 500 bytes (byte offsets 9500-9999, inclusive)"
        ("bytes=-500", [(9500, 9999)]),
        ("bytes=9500-", [(9500, 9999)]),
        # "The first and last bytes only (bytes 0 and 9999)"
        ("bytes=0-0,-1", [(0, 0), (9999, 9999)]),
        # "Other valid (but not canonical) specifications of the second 500 bytes"
        ("bytes=500-600,601-999", [(500, 999)]),
        ("bytes=500-700,601-999", [(500, 999)]),
        # §14.1.1's own example, with the space after "=" (erratum 7306).
        ("bytes= 0-999, 4500-5499, -1000", [(0, 999), (4500, 5499), (9000, 9999)]),
    ],
)
def test_rfc_examples(value, expected):
    assert ranges_of(value) == expected


def test_rfc_examples_parse_to_these_specs():
    assert parse_range("bytes=0-499") == (RangeSpec(0, 499),)
    assert parse_range("bytes=9500-") == (RangeSpec(9500, None),)
    assert parse_range("bytes=-500") == (RangeSpec(None, 500),)
    assert parse_range("bytes=0-0,-1") == (RangeSpec(0, 0), RangeSpec(None, 1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-99999", [(0, 9999)]),  # last-pos past the end: the remainder
        (f"bytes=0-{HUGE}", [(0, 9999)]),
        ("bytes=-20000", [(0, 9999)]),  # suffix longer than the representation
        (f"bytes=-{HUGE}", [(0, 9999)]),
        ("bytes=9999-", [(9999, 9999)]),
        ("bytes=0000000000000000000000000000001-0000000000000000000000000000002", [(1, 2)]),
        ("BYTES=0-1", [(0, 1)]),  # §14.1: range unit names are case-insensitive
        ("Bytes=0-1", [(0, 1)]),
        ("bytes =0-1", [(0, 1)]),
        ("bytes=0-1 ,\t2000-2001 ", [(0, 1), (2000, 2001)]),
        ("bytes=,0-1,,", [(0, 1)]),  # §5.6.1.2: empty list elements
        ("bytes=10000-, 0-1", [(0, 1)]),  # the unsatisfiable spec is dropped
    ],
)
def test_resolution(value, expected):
    assert ranges_of(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "bytes=10000-",
        "bytes=10000-10001",
        "bytes=20000-, 10000-",
        "bytes=-0",  # a zero suffix-length selects nothing
        f"bytes={HUGE}-",
        f"bytes={HUGE}-{HUGE}",
    ],
)
def test_unsatisfiable(value):
    selection = select_ranges(value, 10000)
    assert selection == RangeSelection(416, 10000)
    # RFC 9110 §15.5.17 / §14.4: unsatisfied-range.
    assert selection.content_range == "bytes */10000"
    assert not selection.multipart


@pytest.mark.parametrize(
    "value",
    [
        "",
        "bytes",
        "bytes=",
        "bytes= ",
        "bytes=,",
        "bytes=-",
        "bytes=--1",
        "bytes=0--1",
        "bytes=1-2-3",
        "bytes=a-b",
        "bytes=0-b",
        "bytes=a-",
        "bytes=5-1",  # §14.1.1: "last-pos value ... less than the first-pos" is invalid
        f"bytes=1{HUGE}-{HUGE}",
        "bytes=0 - 1",
        "bytes=0- 1",
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=0x10-",
        "bytes=1.5-2",
        "bytes=\xb2-3",  # superscript two: str.isdigit() says yes
        "bytes=\uff11-3",  # fullwidth one
        "bytes=0-1;q=1",
        "bytes 0-1",
        "bytes:0-1",
        "bytes=0-1 2-3",
        "bytes=0-1, bytes=2-3",  # two Range lines joined
        "items=0-1",  # §14.2: an unknown unit is ignored
        "none",
        "bytes0-1",
        "=0-1",
        "0-1",
    ],
)
def test_invalid_or_unknown_headers_are_ignored(value):
    assert parse_range(value) is None
    selection = select_ranges(value, 10000)
    assert selection == RangeSelection(200, 10000)
    assert selection.content_range is None


def test_no_header_and_zero_length():
    assert select_ranges(None, 10000) == RangeSelection(200, 10000)
    # §14.2: a server "MAY ignore a Range header field when the selected
    # representation has no content": nothing of it can be sent.
    for value in ("bytes=0-", "bytes=-1", "bytes=0-0", "bytes=5-"):
        assert select_ranges(value, 0) == RangeSelection(200, 0)
    assert resolve_ranges(parse_range("bytes=0-,-1"), 0) == ()


def test_single_range_selection():
    selection = select_ranges("bytes=500-999", 10000)
    assert selection == RangeSelection(206, 10000, (ByteRange(500, 999),))
    assert selection.content_range == "bytes 500-999/10000"
    assert not selection.multipart
    assert selection.ranges[0].size == 500


def test_multiple_range_selection():
    selection = select_ranges("bytes=0-0,-1", 10000)
    assert selection.multipart
    assert selection.content_range is None  # §15.3.7.2: not in a multipart head


# Limits and coalescing (module docstring; CVE-2011-3192)


def test_at_most_max_ranges():
    specs = ",".join(f"{i * 1000}-{i * 1000 + 9}" for i in range(MAX_RANGES))
    assert len(ranges_of(f"bytes={specs}", 10**6)) == MAX_RANGES
    assert select_ranges(f"bytes={specs},999999-", 10**6).status == 200
    assert select_ranges(f"bytes={specs},999999-", 10**6, max_ranges=None).status == 206
    assert select_ranges("bytes=0-1,5-6", 10000, max_ranges=1).status == 200


def test_empty_elements_are_bounded_too():
    assert ranges_of("bytes=" + "," * (2 * MAX_RANGES - 1) + "0-1") == [(0, 1)]
    assert select_ranges("bytes=" + "," * (2 * MAX_RANGES) + "0-1", 10000).status == 200


def test_overlapping_ranges_are_merged():
    # The CVE-2011-3192 request: the whole representation, many times over.
    assert ranges_of("bytes=" + ",".join(["0-"] * MAX_RANGES)) == [(0, 9999)]
    assert ranges_of("bytes=" + ",".join(f"{i}-{5000 + i}" for i in range(16))) == [(0, 5015)]
    assert ranges_of("bytes=0-10,5-20,-9990") == [(0, 9999)]


def test_close_ranges_are_merged():
    assert ranges_of("bytes=0-99,180-199") == [(0, 199)]  # an 80-byte gap
    assert ranges_of("bytes=0-99,181-199") == [(0, 99), (181, 199)]
    assert ranges_of("bytes=0-99,150-199", merge_gap=0) == [(0, 99), (150, 199)]
    assert ranges_of("bytes=0-99,100-199", merge_gap=0) == [(0, 199)]  # adjacent


def test_merged_ranges_keep_the_order_asked_for():
    # A PDF reader asks for the end first: that order is kept...
    assert ranges_of("bytes=9000-9099,0-10") == [(9000, 9099), (0, 10)]
    # ... and a merged range takes the place of its earliest member.
    assert ranges_of("bytes=9000-9099,5000-5010,0-10,5-20,5005-5100") == [
        (9000, 9099),
        (5000, 5100),
        (0, 20),
    ]


def test_resolve_ranges_arguments():
    assert resolve_ranges([(0, 1), (None, 1)], 1000) == (ByteRange(0, 1), ByteRange(999, 999))
    with pytest.raises(ValueError, match="first-pos"):
        resolve_ranges([(None, None)], 10)
    with pytest.raises(ValueError, match="length"):
        resolve_ranges([(0, 1)], -1)
    with pytest.raises(ValueError, match="length"):
        select_ranges("bytes=0-1", 10**19)
    with pytest.raises(ValueError, match="merge_gap"):
        resolve_ranges([(0, 1)], 10, merge_gap=-1)
    with pytest.raises(ValueError, match="max_ranges"):
        parse_range("bytes=0-1", max_ranges=-1)
    assert select_ranges("bytes=0-1", 10, max_ranges=0).status == 200


def test_a_huge_header_costs_little():
    value = "bytes=" + ",".join(["0-1"] * 20000)
    assert select_ranges(value, 10000).status == 200
    assert select_ranges("bytes=" + "," * 60000, 10000).status == 200


# Content-Range (§14.4)


@pytest.mark.parametrize(
    ("byte_range", "length", "expected"),
    [
        ((0, 499), 1234, "bytes 0-499/1234"),
        ((0, 0), 1, "bytes 0-0/1"),
        ((500, 999), None, "bytes 500-999/*"),
        (None, 1234, "bytes */1234"),
        (None, 0, "bytes */0"),
        (ByteRange(1, 2), 3, "bytes 1-2/3"),
    ],
)
def test_format_content_range(byte_range, length, expected):
    assert format_content_range(byte_range, length) == expected


@pytest.mark.parametrize(
    ("byte_range", "length"),
    [((5, 4), 10), ((-1, 4), 10), ((0, 10), 10), ((0, 0), 0), (None, None), (None, -1)],
)
def test_format_content_range_refuses(byte_range, length):
    with pytest.raises(ValueError, match=r"range|length"):
        format_content_range(byte_range, length)


# multipart/byteranges (§14.6)


DATA = bytes(range(256)) * 40  # 10240 bytes


def test_multipart_body_exactly():
    body = MultipartByteranges(
        ranges=((0, 4), (10, 14)), length=20, content_type="text/plain", boundary="THIS"
    )
    assert body.media_type == "multipart/byteranges; boundary=THIS"
    built = body.build(b"abcdefghijklmnopqrst")
    assert built == (
        b"--THIS\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/20\r\n\r\nabcde"
        b"\r\n--THIS\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-14/20\r\n\r\nklmno"
        b"\r\n--THIS--\r\n"
    )
    assert body.content_length == len(built)
    assert body.ranges == (ByteRange(0, 4), ByteRange(10, 14))


def test_multipart_without_content_type():
    body = MultipartByteranges(ranges=[ByteRange(1, 1)], length=3, boundary="b")
    assert body.build(b"xyz") == b"--b\r\nContent-Range: bytes 1-1/3\r\n\r\ny\r\n--b--\r\n"


def test_multipart_pieces_stream_without_the_data():
    body = MultipartByteranges(ranges=((0, 9), (100, 199)), length=DATA.__len__())
    pieces = list(body.pieces())
    assert [byte_range for _, byte_range in pieces] == [ByteRange(0, 9), ByteRange(100, 199), None]
    assert pieces[-1][0] == body.closing
    streamed = b"".join(
        head + (b"" if r is None else DATA[r.start : r.end + 1]) for head, r in pieces
    )
    assert streamed == body.build(DATA)
    assert len(streamed) == body.content_length


def parse_multipart(body):
    """The parts the standard library's MIME parser finds in a multipart body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {body.media_type}\r\n\r\n".encode() + body.build(DATA)
    )
    assert message.get_content_type() == "multipart/byteranges"
    return [
        (part["Content-Type"], part["Content-Range"], part.get_payload(decode=True))
        for part in message.iter_parts()
    ]


def test_multipart_is_what_a_mime_parser_reads():
    body = MultipartByteranges(
        ranges=((0, 99), (5000, 5099), (10200, 10239)),
        length=len(DATA),
        content_type="application/octet-stream",
    )
    assert parse_multipart(body) == [
        ("application/octet-stream", "bytes 0-99/10240", DATA[0:100]),
        ("application/octet-stream", "bytes 5000-5099/10240", DATA[5000:5100]),
        ("application/octet-stream", "bytes 10200-10239/10240", DATA[10200:]),
    ]


def test_multipart_build_accepts_buffers():
    body = MultipartByteranges(ranges=((0, 1),), length=4, boundary="b")
    assert body.build(bytearray(b"abcd")) == body.build(memoryview(b"abcd")) == body.build(b"abcd")
    with pytest.raises(ValueError, match="bytes"):
        body.build(b"abc")


def test_boundaries():
    boundaries = {make_boundary() for _ in range(100)}
    assert len(boundaries) == 100
    assert all(re.fullmatch("[0-9a-f]{32}", boundary) for boundary in boundaries)
    one = MultipartByteranges(ranges=((0, 0),), length=1)
    two = MultipartByteranges(ranges=((0, 0),), length=1)
    assert one.boundary != two.boundary


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ranges": ()},
        {"ranges": ((0, 10),)},
        {"ranges": ((5, 4),)},
        {"ranges": ((-1, 4),)},
        {"boundary": ""},
        {"boundary": "a" * 71},
        {"boundary": "with space"},
        {"boundary": "semi;colon"},
        {"boundary": "new\r\nline"},
        {"content_type": "text/plain\r\nX-Injected: 1"},
        {"content_type": "text/plain\x00"},
        {"content_type": "text/\u20ac"},
    ],
)
def test_multipart_refuses(kwargs):
    arguments = {"ranges": ((0, 1),), "length": 10, "content_type": "text/plain", **kwargs}
    with pytest.raises(ValueError, match=r"range|boundary|Content-Type"):
        MultipartByteranges(**arguments)


# Properties


# Small numbers: the properties below are checked byte by byte, with sets.
positions = st.integers(0, 400)
LONG_DATA = bytes(range(251)) * 2  # 502 bytes: longer than most positions
specs = st.one_of(
    st.tuples(positions, st.none()),
    st.tuples(st.none(), positions),
    st.tuples(positions, positions).map(sorted).map(tuple),
)


def spec_text(spec):
    first, last = spec
    return f"{'' if first is None else first}-{'' if last is None else last}"


def requested_bytes(spec, length):
    first, last = spec
    if first is None:
        return range(max(length - last, 0), length) if last else range(0)
    return range(first, length if last is None else min(last + 1, length))


@settings(max_examples=60)
@given(
    st.lists(specs, min_size=1, max_size=MAX_RANGES),
    st.integers(0, 300),
    st.sampled_from([0, 1, 5, MERGE_GAP]),
    st.sampled_from([",", ", ", " ,\t", ",,"]),
)
def test_resolution_properties(spec_list, length, merge_gap, separator):
    value = "bytes=" + separator.join(spec_text(spec) for spec in spec_list)
    assert parse_range(value) == tuple(RangeSpec(*spec) for spec in spec_list)
    selection = select_ranges(value, length, merge_gap=merge_gap)
    requested = set()
    for spec in spec_list:
        requested.update(requested_bytes(spec, length))
    if length == 0:
        assert selection.status == 200
        return
    if not requested:
        assert selection.status == 416
        return
    assert selection.status == 206
    ranges = selection.ranges
    assert 1 <= len(ranges) <= len(spec_list)
    # Every range lies within the representation...
    for start, end in ranges:
        assert 0 <= start <= end < length
    # ...starts and ends on requested bytes, and every requested byte is sent...
    sent = set()
    for start, end in ranges:
        assert start in requested
        assert end in requested
        sent.update(range(start, end + 1))
    assert requested <= sent
    # ...once: no two ranges overlap, and none is within merge_gap of another.
    ordered = sorted(ranges)
    for (_, end), (next_start, _) in itertools.pairwise(ordered):
        assert next_start - end - 1 > merge_gap
    assert sum(r.size for r in ranges) == len(sent)


@settings(max_examples=60)
@given(
    st.lists(st.tuples(positions, positions).map(sorted), min_size=1, max_size=MAX_RANGES),
    st.one_of(st.none(), st.sampled_from(["text/plain", "application/pdf", "a/b; q=\xe9"])),
)
def test_multipart_length_matches_the_built_body(pairs, content_type):
    data = LONG_DATA
    body = MultipartByteranges(ranges=pairs, length=len(data), content_type=content_type)
    built = body.build(data)
    assert len(built) == body.content_length
    # Every part's data is where its head says.
    offset = 0
    for head, byte_range in body.pieces():
        assert built[offset : offset + len(head)] == head
        offset += len(head)
        if byte_range is not None:
            start, end = byte_range
            assert built[offset : offset + end - start + 1] == data[start : end + 1]
            offset += end - start + 1
    assert offset == len(built)


@settings(max_examples=60)
@given(st.text(st.sampled_from("bytes=-0123456789 ,\t;BYTESx\xb2"), max_size=40))
def test_any_header_gives_a_sound_answer(value):
    selection = select_ranges(value, 1000)
    assert selection.status in (200, 206, 416)
    assert all(0 <= start <= end < 1000 for start, end in selection.ranges)
    assert (selection.status == 206) == bool(selection.ranges)
    assert len(selection.ranges) <= MAX_RANGES
