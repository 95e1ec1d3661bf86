"""``longwire.sse``: byte-exact encodings, and what a WHATWG parser makes of them.

The reference parser below follows WHATWG HTML §9.2.6 ("Interpreting an event
stream") line by line; it is written here, from the specification, so the
encoder is checked against a second reading of it rather than against itself.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import longwire.sse
from longwire.sse import CONTENT_TYPE, HEARTBEAT, encode_comment, encode_event


def parse(stream: bytes) -> list[dict[str, str]]:
    """Events dispatched by a WHATWG parser: ``{"type", "data", "last_event_id"}`` each."""
    text = stream.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    events = []
    data, event_type, last_event_id = "", "", ""
    # §9.2.5: lines end at CRLF, LF or CR.
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # what follows the last line break is an incomplete line
    for line in lines:
        if line == "":  # dispatch
            if data == "":
                event_type = ""
                continue
            events.append(
                {
                    "type": event_type or "message",
                    "data": data[:-1] if data.endswith("\n") else data,
                    "last_event_id": last_event_id,
                }
            )
            data, event_type = "", ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id" and "\x00" not in value:
            last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            pass  # the reconnection time: not part of an event
    return events


# Byte-exact encodings.


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"data": "hello"}, b"data: hello\n\n"),
        ({"data": ""}, b"data:\n\n"),
        ({"data": "a\nb"}, b"data: a\ndata: b\n\n"),
        ({"data": "a\r\nb\rc\n"}, b"data: a\ndata: b\ndata: c\ndata:\n\n"),
        ({"data": "\n"}, b"data:\ndata:\n\n"),
        ({"data": " leading"}, b"data:  leading\n\n"),
        ({"data": "x", "event": "tick"}, b"event: tick\ndata: x\n\n"),
        ({"data": "x", "id": "42"}, b"id: 42\ndata: x\n\n"),
        ({"data": "x", "id": ""}, b"id:\ndata: x\n\n"),
        ({"data": "x", "retry": 3000}, b"retry: 3000\ndata: x\n\n"),
        (
            {"data": "a\nb", "event": "tick", "id": "7", "retry": 0},
            b"event: tick\nid: 7\nretry: 0\ndata: a\ndata: b\n\n",
        ),
        ({"data": "é ✓ \U0001f600"}, "data: é ✓ \U0001f600\n\n".encode()),
        ({"data": "a\u2028b\x0cc\x85d"}, "data: a\u2028b\x0cc\x85d\n\n".encode()),
        ({"data": "nul\x00inside"}, b"data: nul\x00inside\n\n"),
    ],
)
def test_encode_event_bytes(kwargs, expected):
    assert encode_event(**kwargs) == expected


def test_comments_and_the_heartbeat():
    assert encode_comment() == b":\n"
    assert HEARTBEAT == b":\n"
    assert encode_comment("ping") == b": ping\n"
    assert encode_comment("a\r\nb") == b": a\n: b\n"
    assert encode_comment("a\n") == b": a\n:\n"
    assert CONTENT_TYPE == "text/event-stream"


@pytest.mark.parametrize("event", ["a\nb", "a\rb", "x\r\n"])
def test_event_types_with_line_breaks_are_refused(event):
    with pytest.raises(ValueError, match="event type"):
        encode_event("x", event=event)


@pytest.mark.parametrize("id_", ["a\nb", "a\rb", "nul\x00"])
def test_ids_with_line_breaks_or_nul_are_refused(id_):
    with pytest.raises(ValueError, match="event id"):
        encode_event("x", id=id_)


@pytest.mark.parametrize("retry", [-1, 1.5, "10", True])
def test_bad_retry_values_are_refused(retry):
    with pytest.raises(ValueError, match="retry"):
        encode_event("x", retry=retry)


def test_lone_surrogates_are_refused():
    with pytest.raises(UnicodeEncodeError):
        encode_event("\ud800")
    with pytest.raises(UnicodeEncodeError):
        encode_comment("\udfff")


# What a parser reads back.

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
names = texts.filter(lambda s: "\r" not in s and "\n" not in s)
ids = names.filter(lambda s: "\x00" not in s)


@given(data=texts, event=st.none() | names, id_=st.none() | ids)
def test_a_parser_reads_back_what_was_encoded(data, event, id_):
    [parsed] = parse(encode_event(data or "x", event=event, id=id_)) or [None]
    expected_data = re.sub(r"\r\n|\r", "\n", data or "x")
    assert parsed["data"] == expected_data
    assert parsed["type"] == (event or "message")
    assert parsed["last_event_id"] == (id_ or "")


@given(st.lists(texts.filter(bool), min_size=1, max_size=5), st.lists(texts, max_size=3))
def test_events_and_comments_in_a_row_stay_apart(payloads, comments):
    stream = b"".join(encode_event(p, id=str(i)) for i, p in enumerate(payloads))
    stream = b"".join(encode_comment(c) for c in comments) + stream + HEARTBEAT
    parsed = parse(stream)
    assert [e["data"] for e in parsed] == [re.sub(r"\r\n|\r", "\n", p) for p in payloads]
    assert [e["last_event_id"] for e in parsed] == [str(i) for i in range(len(payloads))]


def test_the_module_is_sans_io():
    code = (
        "import sys; before = set(sys.modules); import longwire.sse; "
        "added = set(sys.modules) - before; "
        "print(sorted({'asyncio', 'socket', 'selectors', 'threading'} & added))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_exports():
    encoder = {"CONTENT_TYPE", "HEARTBEAT", "encode_comment", "encode_event"}
    assert set(longwire.sse.__all__) >= encoder  # the decoder's names come with it
    for name in longwire.sse.__all__:
        assert hasattr(longwire.sse, name)
    assert encode_event.__doc__
    assert encode_comment.__doc__
