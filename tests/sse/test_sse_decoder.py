"""EventStreamDecoder: WHATWG HTML §9.2.6 "Interpreting an event stream", rule by rule."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longwire.sse import (
    MAX_LINE_SIZE,
    Event,
    EventStreamDecoder,
    EventStreamError,
    encode_comment,
    encode_event,
)


def decode(stream: bytes, **options: object) -> list[Event]:
    """Every event of ``stream`` fed in one piece (an unfinished one is dropped)."""
    decoder = EventStreamDecoder(**options)  # type: ignore[arg-type]
    events = decoder.feed(stream)
    decoder.end()
    return events


def decode_in_pieces(stream: bytes, cuts: list[int]) -> list[Event]:
    decoder = EventStreamDecoder()
    events: list[Event] = []
    bounds = [0, *sorted(cuts), len(stream)]
    for start, stop in itertools.pairwise(bounds):
        events += decoder.feed(stream[start:stop])
    decoder.end()
    return events


# The standard's own examples (§9.2.6, the end of the section)

YHOO = b"data: YHOO\ndata: +2\ndata: 10\n\n"
FOUR_BLOCKS = (
    b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
)
EMPTY_DATA = b"data\n\ndata\ndata\n\ndata:"
SPACE = b"data:test\n\ndata: test\n\n"
TYPES = b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n"
EXAMPLES = [YHOO, FOUR_BLOCKS, EMPTY_DATA, SPACE, TYPES]


def test_data_lines_are_joined_with_lf():
    assert decode(YHOO) == [Event("message", "YHOO\n+2\n10")]


def test_four_blocks_comment_id_and_reset_id():
    decoder = EventStreamDecoder()
    first, second, third = decoder.feed(FOUR_BLOCKS)
    # The comment block fires nothing; "id: 1" sets the last event ID, "id" resets it.
    assert first == Event("message", "first event", "1")
    assert second == Event("message", "second event", "")
    # Only one leading space is stripped.
    assert third == Event("message", " third event", "")
    assert decoder.last_event_id == ""


def test_last_event_id_after_each_block():
    decoder = EventStreamDecoder()
    assert decoder.feed(b": test stream\n\ndata: first event\nid: 1\n\n")[0].id == "1"
    assert decoder.last_event_id == "1"  # what a reconnection would send
    decoder.feed(b"data:second event\nid\n\n")
    assert decoder.last_event_id == ""


def test_data_without_colon_and_the_unfinished_last_block():
    # The first block's data is empty, the middle one's a single LF; the last block
    # is not followed by a blank line, so it is discarded.
    assert decode(EMPTY_DATA) == [Event("message", ""), Event("message", "\n")]


def test_one_space_after_the_colon_is_ignored():
    assert decode(SPACE) == [Event("message", "test")] * 2


def test_event_types():
    assert [(e.type, e.data) for e in decode(TYPES)] == [
        ("add", "73857293"), ("remove", "2153"), ("add", "113411"),
    ]


# Every rule


@pytest.mark.parametrize("eol", [b"\r\n", b"\n", b"\r"])
def test_each_line_ending(eol):
    stream = eol.join([b"event: e", b"data: a", b"data: b", b"", b""])
    assert decode(stream) == [Event("e", "a\nb")]


def test_mixed_line_endings_and_cr_lf_across_chunks():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: a\r") == []
    # This LF ends no line: with the CR before it, it is one CRLF.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\r") == [Event("message", "a\nb")]
    # CR CR is two line ends, so the LF here starts a new (empty) line: no event.
    assert decoder.feed(b"\ndata: c\n\r\n") == [Event("message", "c")]


def test_lf_alone_after_an_ended_line_is_a_blank_line():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert decoder.feed(b"\n") == [Event("message", "x")]


def test_only_cr_and_lf_end_lines():
    # U+2028, U+0085, form feed and vertical tab stay inside the value.
    text = "a\u2028b\x85c\x0cd\x0be"
    assert decode(f"data: {text}\n\n".encode()) == [Event("message", text)]


def test_one_leading_bom_is_stripped():
    assert decode(b"\xef\xbb\xbfdata: a\n\n") == [Event("message", "a")]
    # A second BOM is part of the first line: a field named "\ufeffdata", ignored.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n") == []
    # A BOM elsewhere is data.
    assert decode(b"data: \xef\xbb\xbfa\n\n") == [Event("message", "\ufeffa")]


def test_bom_split_across_chunks():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"\xef") == decoder.feed(b"\xbb") == []
    assert decoder.feed(b"\xbfdata: a\n\n") == [Event("message", "a")]


def test_invalid_utf8_becomes_replacement_characters():
    assert decode(b"data: a\xffb\xc3\n\n") == [Event("message", "a\ufffdb\ufffd")]


def test_utf8_split_across_chunks():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: \xc3") == []
    assert decoder.feed(b"\xa9\n\n") == [Event("message", "\xe9")]


def test_comments_are_ignored_anywhere():
    stream = b":hello\ndata: a\n: comment: with colon\ndata: b\n\n" + encode_comment("x\ny")
    assert decode(stream + b"\n") == [Event("message", "a\nb")]


def test_a_comment_only_block_dispatches_nothing():
    assert decode(b":\n\n:\n\n") == []


def test_field_name_is_everything_before_the_first_colon():
    assert decode(b"data:a:b: c\n\n") == [Event("message", "a:b: c")]
    assert decode(b"data : x\n\n") == []  # field "data " is unknown


def test_unknown_fields_and_case_are_ignored():
    stream = b"Data: x\nDATA: y\nfoo: bar\nevent\ndata: z\n\n"
    assert decode(stream) == [Event("message", "z")]


def test_empty_event_field_means_message():
    assert decode(b"event: custom\nevent:\ndata: x\n\n") == [Event("message", "x")]


def test_event_type_resets_after_each_dispatch():
    assert [e.type for e in decode(b"event: a\ndata: 1\n\ndata: 2\n\n")] == ["a", "message"]


def test_event_type_resets_even_without_dispatch():
    assert decode(b"event: a\n\ndata: 1\n\n") == [Event("message", "1")]


def test_one_trailing_lf_is_stripped():
    assert decode(b"data: a\ndata:\n\n") == [Event("message", "a\n")]


def test_only_one_space_is_stripped_and_tabs_are_kept():
    assert decode(b"data:   a \n\n") == [Event("message", "  a ")]
    assert decode(b"data:\ta\n\n") == [Event("message", "\ta")]


def test_id_persists_across_events():
    events = decode(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "7"), ("b", "7"), ("c", "8")]


def test_id_with_nul_is_ignored():
    decoder = EventStreamDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]
    assert decoder.last_event_id == "1"


def test_id_of_an_unfinished_block_is_not_committed():
    decoder = EventStreamDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    decoder.end()
    assert decoder.last_event_id == "1"


def test_id_block_without_data_sets_the_last_event_id():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"id: 5\n\n") == []
    assert decoder.last_event_id == "5"


def test_id_and_retry_persist_across_streams():
    decoder = EventStreamDecoder(last_event_id="3")
    decoder.feed(b"retry: 50\ndata: a\n\n")
    decoder.end()
    # The new stream starts with the last event ID and the reconnection time kept.
    assert decoder.feed(b"data: b\n\n") == [Event("message", "b", "3")]
    assert decoder.retry == 50


def test_a_new_stream_strips_its_bom_again_and_forgets_partial_state():
    decoder = EventStreamDecoder()
    decoder.feed(b"event: x\ndata: partial\r")
    decoder.end()
    assert decoder.feed(b"\xef\xbb\xbf\ndata: a\n\n") == [Event("message", "a")]


@pytest.mark.parametrize(
    ("line", "retry"),
    [
        (b"retry: 1500", 1500), (b"retry:0", 0), (b"retry: 007", 7),
        (b"retry: " + b"9" * 5000, 10**18),  # too many digits for int(): clamped
    ],
)
def test_retry_with_digits_sets_the_reconnection_time(line, retry):
    decoder = EventStreamDecoder()
    assert decoder.feed(line + b"\n\n") == []  # no data: no event, but the time is set
    assert decoder.retry == retry


@pytest.mark.parametrize(
    "value", [b"", b" ", b"1.5", b"-1", b"+1", b"1e3", b"12a", b" 1 ", "\u0661".encode(), b"\xb2"]
)
def test_retry_other_than_ascii_digits_is_ignored(value):
    decoder = EventStreamDecoder()
    decoder.feed(b"retry: 10\n\nretry: " + value + b"\n\n")
    assert decoder.retry == 10


def test_retry_applies_at_once_and_travels_with_its_event():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"retry: 20\n") == []
    assert decoder.retry == 20  # before the block ends
    assert decoder.feed(b"data: a\n\ndata: b\n\n") == [
        Event("message", "a", "", 20), Event("message", "b", "", None),
    ]


def test_end_discards_an_unfinished_event():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [Event("message", "a")]
    decoder.end()
    assert decoder.feed(b"\n") == []  # the next stream does not finish it


# The bound on buffered lines


def test_max_line_size_default_is_one_mib():
    assert EventStreamDecoder().max_line_size == MAX_LINE_SIZE == 1024 * 1024


def test_a_line_at_the_limit_is_fine():
    assert decode(b"data:" + b"x" * 5 + b"\n\n", max_line_size=10) == [Event("message", "x" * 5)]


def test_an_unended_line_over_the_limit_raises_as_it_comes():
    decoder = EventStreamDecoder(max_line_size=10)
    decoder.feed(b"data: 1234")
    with pytest.raises(EventStreamError, match="longer than 10"):
        decoder.feed(b"5")


def test_a_long_line_in_one_chunk_raises():
    with pytest.raises(EventStreamError, match="longer than 10"):
        decode(b"data: 12345678\n\n", max_line_size=10)


def test_a_long_comment_raises_too():
    with pytest.raises(EventStreamError):
        decode(b":" + b"x" * 11, max_line_size=10)


def test_event_data_is_bounded_across_lines():
    decoder = EventStreamDecoder(max_line_size=12)
    assert decoder.feed(b"data: 12345\ndata: 123456\n\n") == [Event("message", "12345\n123456")]
    with pytest.raises(EventStreamError, match="data is longer than 12"):
        decoder.feed(b"data: 12345\ndata: 12345\ndata: 1\n")


def test_no_limit():
    big = b"x" * (MAX_LINE_SIZE + 1)
    assert decode(b"data:" + big + b"\n\n", max_line_size=None) == [Event("message", big.decode())]


def test_a_nul_last_event_id_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        EventStreamDecoder(last_event_id="a\x00")


# Chunk boundaries


@pytest.mark.parametrize("stream", EXAMPLES)
def test_every_single_split_gives_the_same_events(stream):
    whole = decode(stream)
    for cut in range(len(stream) + 1):
        assert decode_in_pieces(stream, [cut]) == whole, cut


@pytest.mark.parametrize("stream", EXAMPLES)
def test_byte_by_byte(stream):
    assert decode_in_pieces(stream, list(range(len(stream)))) == decode(stream)


STREAM = st.lists(
    st.sampled_from(
        [b"data", b"data:", b"data: ", b"event: x", b"id: 1", b"id", b"retry: 5", b":c",
         b"\r", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xc3\xa9", b"\xff", b"\x00", b" ", b"a"]
    ),
    max_size=40,
).map(b"".join)


@given(stream=STREAM, data=st.data())
def test_any_chunking_gives_the_same_events(stream, data):
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert decode_in_pieces(stream, cuts) == decode(stream)


# Round trip with the encoder

EVENT_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@given(
    data=EVENT_TEXT,
    event=st.none() | EVENT_TEXT.filter(lambda t: "\r" not in t and "\n" not in t and t),
    id=st.none() | EVENT_TEXT.filter(lambda t: not {"\r", "\n", "\x00"} & set(t)),
    retry=st.none() | st.integers(0, 10**9),
)
def test_encode_event_round_trips(data, event, id, retry):
    # BOM at the start of a stream would be stripped: put a heartbeat first.
    stream = encode_comment() + encode_event(data, event=event, id=id, retry=retry)
    normalized = data.replace("\r\n", "\n").replace("\r", "\n")
    assert decode(stream) == [Event(event or "message", normalized, id or "", retry)]
