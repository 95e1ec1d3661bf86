"""longwire.jsonrpc's wire format: the specification's own examples byte for byte,
every rule of §4-§6, and random input that must never make ``parse`` raise."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonrpc_spec import SPEC_INVALID

import longwire
from longwire.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorResponse,
    InvalidMessage,
    Notification,
    Request,
    Response,
    RPCError,
    encode,
    notification,
    parse,
    request,
)


def compact(text: str) -> str:
    """The specification's pretty-printed example as longwire writes it: no spaces."""
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


# §7, the examples whose messages longwire writes: requests, notifications, answers.
SPEC_MESSAGES = [
    (Request("subtract", [42, 23], 1),
     '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}'),
    (Response(1, 19), '{"jsonrpc": "2.0", "result": 19, "id": 1}'),
    (Request("subtract", {"subtrahend": 23, "minuend": 42}, 3),
     '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, '
     '"id": 3}'),
    (Notification("update", [1, 2, 3, 4, 5]),
     '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}'),
    (Notification("foobar"), '{"jsonrpc": "2.0", "method": "foobar"}'),
    (Request("foobar", None, "1"), '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}'),
    (ErrorResponse("1", RPCError(METHOD_NOT_FOUND)),
     '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}'),
    (Response("9", ["hello", 5]), '{"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}'),
]


@pytest.mark.parametrize(("message", "text"), SPEC_MESSAGES)
def test_spec_messages_encode_byte_for_byte(message, text):
    assert encode(message) == compact(text)


@pytest.mark.parametrize(("message", "text"), SPEC_MESSAGES)
def test_spec_messages_parse_back(message, text):
    assert parse(text) == message
    assert parse(text.encode()) == message
    assert type(parse(text)) is type(message)  # an ErrorResponse received is no InvalidMessage


def test_fast_helpers_write_what_encode_writes():
    assert request("subtract", [42, 23], 1) == encode(Request("subtract", [42, 23], 1))
    assert request("get_data", None, "9") == compact(
        '{"jsonrpc": "2.0", "method": "get_data", "id": "9"}'
    )
    assert request("x", {}, None) == '{"jsonrpc":"2.0","method":"x","params":{},"id":null}'
    assert notification("update", [1, 2, 3, 4, 5]) == compact(
        '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}'
    )
    assert notification("foobar") == '{"jsonrpc":"2.0","method":"foobar"}'
    assert notification("héllo", {"✓": "ü"}) == (
        '{"jsonrpc":"2.0","method":"héllo","params":{"✓":"ü"}}'
    )
    assert parse(notification("a.b", ["\u2028", None])) == Notification("a.b", ["\u2028", None])


def test_helpers_refuse_what_json_rpc_cannot_carry():
    with pytest.raises(TypeError):
        notification("x", "scalar")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        request("x", 5, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        notification("x", [object()])
    with pytest.raises(ValueError, match="Out of range float"):
        notification("x", [float("nan")])  # not JSON
    with pytest.raises(TypeError):
        encode("not a message")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "answer"), SPEC_INVALID)
def test_spec_invalid_input_yields_the_spec_answer(text, answer):
    parsed = parse(text)
    members = parsed if isinstance(parsed, list) else [parsed]
    assert all(type(member) is InvalidMessage for member in members)
    assert encode(parsed) == compact(answer)


def test_spec_batch_parses_member_by_member():
    text = """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"""
    assert parse(text) == [
        Request("sum", [1, 2, 4], "1"),
        Notification("notify_hello", [7]),
        Request("subtract", [42, 23], "2"),
        InvalidMessage(None, RPCError(INVALID_REQUEST)),
        Request("foo.get", {"name": "myself"}, "5"),
        Request("get_data", None, "9"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "nul", "{", '{"a":1,}', "[1,]", "NaN", '{"jsonrpc":"2.0","method":"x","id":NaN}',
        "Infinity", "-Infinity", "[" * 100_000, '"\\ud800', "\x00",
    ],
)
def test_not_json_is_a_parse_error(text):
    assert parse(text) == InvalidMessage(None, RPCError(PARSE_ERROR))


@pytest.mark.parametrize("data", [b"\xff\xfe{}", b'{"jsonrpc":"2.0","method":"\xc3"}'])
def test_bytes_that_are_not_utf8_are_a_parse_error(data):
    assert parse(data) == InvalidMessage(None, RPCError(PARSE_ERROR))


INVALID_REQUEST_ANSWER = InvalidMessage(None, RPCError(INVALID_REQUEST))


@pytest.mark.parametrize(
    "obj",
    [
        1, "x", None, True, {},
        {"method": "x", "id": 1},  # no jsonrpc
        {"jsonrpc": "1.0", "method": "x", "id": 1},
        {"jsonrpc": 2.0, "method": "x", "id": 1},
        {"jsonrpc": "2.0", "method": "x", "id": True},  # a bool is no Number
        {"jsonrpc": "2.0", "method": "x", "id": [1]},
        {"jsonrpc": "2.0", "method": "x", "id": {}},
        {"jsonrpc": "2.0", "method": None},
        {"jsonrpc": "2.0", "method": 1},
        {"jsonrpc": "2.0", "method": "x", "params": None},  # params present must be structured
        {"jsonrpc": "2.0", "method": "x", "params": 3},
        {"jsonrpc": "2.0", "method": "x", "params": "a"},
        {"jsonrpc": "2.0", "result": 1},  # a response needs an id
        {"jsonrpc": "2.0", "id": 1},  # neither result nor error
        {"jsonrpc": "2.0", "result": 1, "error": {"code": 1, "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "error": "x", "id": 1},
        {"jsonrpc": "2.0", "error": {"code": "1", "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": 1.5, "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": True, "message": "x"}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": 1}, "id": 1},
        {"jsonrpc": "2.0", "error": {"code": 1, "message": 2}, "id": 1},
        {"jsonrpc": "2.0", "result": 1, "id": False},
    ],
)
def test_invalid_objects_are_invalid_requests(obj):
    assert parse(json.dumps(obj)) == INVALID_REQUEST_ANSWER
    # In a batch, the answer takes the member's place.
    batch = parse(json.dumps([obj, {"jsonrpc": "2.0", "method": "ok"}]))
    assert batch == [INVALID_REQUEST_ANSWER, Notification("ok")]


def test_an_invalid_request_with_a_valid_id_is_answered_with_that_id():
    # §5: the id is null only "if there was an error in detecting the id"; answering
    # with it lets the caller fail at once rather than time out.
    assert parse('{"jsonrpc":"2.0","method":"x","params":1,"id":7}') == InvalidMessage(
        7, RPCError(INVALID_REQUEST)
    )
    assert parse('{"jsonrpc":"2.0","method":2,"id":"a"}') == InvalidMessage(
        "a", RPCError(INVALID_REQUEST)
    )
    # Not for an object that is no request: the id would name one of our own calls.
    assert parse('{"jsonrpc":"2.0","id":7}') == INVALID_REQUEST_ANSWER


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"jsonrpc":"2.0","method":"x","id":null}', Request("x", None, None)),
        ('{"jsonrpc":"2.0","method":"x","id":1.5}', Request("x", None, 1.5)),
        ('{"jsonrpc":"2.0","method":"x","id":-12345678901234567890}',
         Request("x", None, -12345678901234567890)),
        ('{"jsonrpc":"2.0","method":"","params":[]}', Notification("", [])),
        ('{"jsonrpc":"2.0","method":"rpc.x","params":{}}', Notification("rpc.x", {})),
        ('{"jsonrpc":"2.0","method":"x","extra":1}', Notification("x")),  # extra members ignored
        ('{"jsonrpc":"2.0","result":null,"id":null}', Response(None, None)),
        ('{"jsonrpc":"2.0","error":{"code":-32000,"message":"m","data":{"a":[1]}},"id":"z"}',
         ErrorResponse("z", RPCError(-32000, "m", {"a": [1]}))),
        ('[{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","result":2,"id":2}]',
         [Response(1, 1), Response(2, 2)]),
    ],
)
def test_valid_messages(text, message):
    assert parse(text) == message


def test_nested_batches_are_invalid_members():
    assert parse("[[]]") == [INVALID_REQUEST_ANSWER]
    assert parse('[[{"jsonrpc":"2.0","method":"x"}]]') == [INVALID_REQUEST_ANSWER]


def test_rpc_error():
    error = RPCError(INVALID_PARAMS)
    assert (error.code, error.message, error.data) == (-32602, "Invalid params", None)
    assert RPCError(INTERNAL_ERROR).message == "Internal error"
    assert RPCError(-32050).message == "Server error"
    assert RPCError(1, "mine", [1]).to_json() == {"code": 1, "message": "mine", "data": [1]}
    assert RPCError(1, "mine") == RPCError(1, "mine")
    assert RPCError(1, "mine") != RPCError(1, "mine", 0)
    assert hash(RPCError(1, "mine")) == hash(RPCError(1, "mine", {"unhashable": []}))
    assert isinstance(error, longwire.LongwireError)
    assert RPCError.PARSE_ERROR == PARSE_ERROR == -32700
    assert (RPCError.INVALID_REQUEST, RPCError.METHOD_NOT_FOUND) == (-32600, -32601)
    assert (RPCError.INVALID_PARAMS, RPCError.INTERNAL_ERROR) == (-32602, -32603)
    assert str(error) == "Invalid params (-32602)"
    assert repr(RPCError(1, "m", 2)) == "RPCError(1, 'm', 2)"


def test_messages_are_frozen_and_slotted():
    message = Request("x", [1], 1)
    with pytest.raises(AttributeError):
        message.method = "y"  # type: ignore[misc]
    assert not hasattr(message, "__dict__")
    assert isinstance(InvalidMessage(None, RPCError(PARSE_ERROR)), ErrorResponse)


def test_encode_a_batch():
    assert encode([Response(1, 2), ErrorResponse(2, RPCError(-1, "no"))]) == (
        '[{"jsonrpc":"2.0","result":2,"id":1},'
        '{"jsonrpc":"2.0","error":{"code":-1,"message":"no"},"id":2}]'
    )
    assert encode(Response(1, "ü\u2028")) == '{"jsonrpc":"2.0","result":"ü\u2028","id":1}'


ids = st.integers() | st.text()

# Random input: parse never raises, and what it returns can always be encoded.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # NaN and inf are no JSON
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
member_keys = st.sampled_from(["jsonrpc", "method", "params", "id", "result", "error"])
near_messages = st.dictionaries(
    member_keys,
    st.sampled_from(["2.0", "x", 1, None, [], {}]) | json_values
    | st.fixed_dictionaries({"code": st.integers() | json_values, "message": json_values}),
)


def check_parse(text: str | bytes) -> Any:
    parsed = parse(text)
    members = parsed if isinstance(parsed, list) else [parsed]
    assert members
    for member in members:
        assert isinstance(member, (Request, Notification, Response, ErrorResponse))
    encode(parsed)  # everything parsed can be written back
    return parsed


@given(json_values)
def test_any_json_value_parses(value):
    check_parse(json.dumps(value))


@given(st.one_of(near_messages, st.lists(near_messages, max_size=5)))
def test_near_messages_parse(value):
    parsed = check_parse(json.dumps(value))
    if isinstance(value, dict) and value.get("jsonrpc") != "2.0":
        assert parsed == INVALID_REQUEST_ANSWER


@given(st.text())
def test_any_text_parses(text):
    check_parse(text)


@given(st.binary())
def test_any_bytes_parse(data):
    check_parse(data)


@given(st.builds(Request, st.text(), st.none() | st.lists(st.integers()), ids))
def test_requests_round_trip(message):
    assert parse(encode(message)) == message


def test_exports():
    module = importlib.import_module("longwire.jsonrpc")
    assert module.__doc__
    for name in module.__all__:
        obj = getattr(module, name)
        assert not name.startswith("_")
        if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__code__")):
            assert obj.__doc__, f"longwire.jsonrpc.{name} has no docstring"
