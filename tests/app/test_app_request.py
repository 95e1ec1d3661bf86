"""Request: the target's parts, the query, per-request data and the body."""

import asyncio

import pytest

from longwire.app import HTTPError, Request
from longwire.http1 import Headers


def run(coro):
    return asyncio.run(coro)


async def collect(request):
    return [chunk async for chunk in request.stream()]


# The target


def test_constructor_stores_what_the_server_passes():
    headers = Headers([("Host", "example.com")])
    request = Request(
        "POST", "/x", headers, client=("10.0.0.1", 5000), scheme="https", http_version="1.0"
    )
    assert (request.method, request.target, request.headers) == ("POST", "/x", headers)
    assert (request.client, request.scheme, request.http_version) == (
        ("10.0.0.1", 5000),
        "https",
        "1.0",
    )
    assert repr(request) == "<Request POST /x>"


def test_defaults():
    request = Request("GET", "/", Headers())
    assert (request.client, request.scheme, request.http_version) == (None, "http", "1.1")
    assert not hasattr(request, "__dict__")  # slotted


@pytest.mark.parametrize(
    ("target", "raw_path", "path", "query_string"),
    [
        ("/", "/", "/", ""),
        ("/a/b?x=1&y=2", "/a/b", "/a/b", "x=1&y=2"),
        ("/caf%C3%A9/a%20b?q=%C3%A9", "/caf%C3%A9/a%20b", "/café/a b", "q=%C3%A9"),
        ("/a%2Fb", "/a%2Fb", "/a/b", ""),
        ("/plus+sign", "/plus+sign", "/plus+sign", ""),  # "+" is a space only in queries
        ("/empty?", "/empty", "/empty", ""),
        ("/q?a=1?b", "/q", "/q", "a=1?b"),
        ("http://example.com/abs/p%21?z=9", "/abs/p%21", "/abs/p!", "z=9"),
        ("http://example.com", "/", "/", ""),
        ("*", "*", "*", ""),
        ("example.com:443", "example.com:443", "example.com:443", ""),
    ],
)
def test_path_and_query_string(make_request, target, raw_path, path, query_string):
    request = make_request("GET", target)
    assert request.path == path
    assert request.raw_path == raw_path
    assert request.query_string == query_string


def test_path_parts_in_any_order_and_cached(make_request):
    request = make_request("GET", "/a%20b?x=1")
    assert request.query_string == "x=1"
    first = request.path
    assert first == "/a b"
    assert request.path is first
    assert make_request("GET", "/c?y").raw_path == "/c"


def test_query_first_values_blanks_and_list(make_request):
    request = make_request("GET", "/?a=1&b=&a=2&c&d=x+y%21")
    assert dict(request.query) == {"a": "1", "b": "", "c": "", "d": "x y!"}
    assert request.query_list("a") == ["1", "2"]
    assert request.query_list("missing") == []
    assert request.query is request.query
    with pytest.raises(TypeError):
        request.query["a"] = "3"


def test_no_query(make_request):
    request = make_request("GET", "/path")
    assert dict(request.query) == {}
    assert request.query_list("a") == []


def test_path_params_default_and_settable(make_request):
    request = make_request()
    assert request.path_params == {}
    request.path_params["added"] = 1
    assert request.path_params == {"added": 1}
    request.path_params = {"id": 3}
    assert request.path_params == {"id": 3}


def test_state_is_one_namespace_per_request(make_request):
    request = make_request()
    request.state.user = "ada"
    assert request.state.user == "ada"
    assert not hasattr(make_request().state, "user")


# The body


def test_no_body(make_request):
    request = make_request()
    assert run(request.body()) == b""
    assert run(collect(make_request())) == []


def test_body_joins_chunks_and_is_cached(make_request):
    request = make_request("POST", "/", body=[b"ab", b"cd", b"e"])
    assert run(request.body()) == b"abcde"
    calls = request._receive.calls
    assert calls == 4  # three chunks, then b""
    assert run(request.body()) == b"abcde"
    assert request._receive.calls == calls


def test_stream_yields_chunks_as_they_come(make_request):
    request = make_request("POST", "/", body=[b"ab", b"cd"])
    assert run(collect(request)) == [b"ab", b"cd"]


def test_stream_after_body_yields_the_buffered_body(make_request):
    request = make_request("POST", "/", body=[b"ab", b"cd"])
    assert run(request.body()) == b"abcd"
    assert run(collect(request)) == [b"abcd"]
    assert run(collect(request)) == [b"abcd"]


def test_second_stream_after_partial_read_raises(make_request):
    request = make_request("POST", "/", body=[b"ab", b"cd"])

    async def partial_then_again():
        stream = request.stream()
        assert await anext(stream) == b"ab"
        await stream.aclose()
        with pytest.raises(RuntimeError, match="already consumed"):
            await collect(request)
        with pytest.raises(RuntimeError, match="already consumed"):
            await request.body()

    run(partial_then_again())


def test_second_stream_after_full_read_raises(make_request):
    request = make_request("POST", "/", body=b"data")
    assert run(collect(request)) == [b"data"]
    with pytest.raises(RuntimeError, match="call body\\(\\) first"):
        run(collect(request))


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        (None, "héllo".encode(), "héllo"),
        ("text/plain", "héllo".encode(), "héllo"),
        ("text/plain; charset=latin-1", "héllo".encode("latin-1"), "héllo"),
        ('text/plain;CHARSET="ISO-8859-1"', b"\xe9", "é"),
        ("text/plain; format=flowed; charset=utf-16", "hé".encode("utf-16"), "hé"),
        ("text/plain; charset=", b"ok", "ok"),
    ],
)
def test_text_uses_the_content_type_charset(make_request, content_type, body, text):
    headers = [] if content_type is None else [("Content-Type", content_type)]
    request = make_request("POST", "/", headers, body=body)
    assert run(request.text()) == text


@pytest.mark.parametrize(
    ("content_type", "body", "detail"),
    [
        ("text/plain; charset=klingon", b"x", "unknown charset 'klingon'"),
        ("text/plain; charset=hex", b"x", "unknown charset 'hex'"),  # not a text encoding
        ("text/plain", b"\xff\xfe\xfa", "body is not valid utf-8"),
    ],
)
def test_text_that_cannot_decode_is_400(make_request, content_type, body, detail):
    request = make_request("POST", "/", [("Content-Type", content_type)], body=body)
    with pytest.raises(HTTPError) as info:
        run(request.text())
    assert info.value.status == 400
    assert info.value.detail.startswith(detail)


JSON = [("Content-Type", "application/json")]


def test_json(make_request):
    request = make_request("POST", "/", JSON, body=[b'{"a": [1, ', b'"\xc3\xa9"]}'])
    assert run(request.json()) == {"a": [1, "é"]}
    assert run(request.json()) == {"a": [1, "é"]}  # the body is cached


@pytest.mark.parametrize("body", [b"{", b"", b"\xff", b"[1,]", None])
def test_invalid_json_is_400(make_request, body):
    request = make_request("POST", "/", JSON, body=body)
    with pytest.raises(HTTPError) as info:
        run(request.json())
    assert info.value.status == 400
    assert info.value.detail.startswith("invalid JSON body: ")
    assert info.value.response().body.startswith(b"invalid JSON body: ")
