"""Response, StreamingResponse and HTTPError: what the server reads from them."""

import asyncio
from http import HTTPStatus

import pytest

from longwire import LongwireError
from longwire.app import HTTPError, Response, StreamingResponse
from longwire.http1 import Headers

_TEXT = "text/plain; charset=utf-8"


def drain(response):
    async def read():
        return [chunk async for chunk in response.stream]

    return asyncio.run(read())


# Response


def test_bytes_body_has_no_content_type():
    response = Response(b"\x00\x01")
    assert (response.status, response.body, response.stream) == (200, b"\x00\x01", None)
    assert response.headers == Headers()
    assert isinstance(response.headers, Headers)


def test_empty_default():
    response = Response()
    assert (response.status, response.body, len(response.headers)) == (200, b"", 0)


def test_str_body_is_utf8_text():
    response = Response("héllo", 201)
    assert response.body == "héllo".encode()
    assert response.status == 201
    assert response.headers.items() == [("Content-Type", "text/plain; charset=utf-8")]


def test_content_type_argument_wins():
    assert Response("<p>", content_type="text/html").headers["content-type"] == "text/html"
    response = Response(b"x", headers=[("Content-Type", "a/b")], content_type="c/d")
    assert response.headers.get_all("Content-Type") == ["c/d"]


def test_str_body_keeps_a_content_type_given_in_headers():
    response = Response("x", headers=[("content-type", "text/csv")])
    assert response.headers.items() == [("content-type", "text/csv")]
    generated = Response("x", headers=(pair for pair in [("X-A", "1")]))
    assert generated.headers.items() == [("X-A", "1"), ("Content-Type", _TEXT)]


def test_headers_given_as_headers_are_copied():
    shared = Headers([("X-Shared", "1")])
    response = Response("x", headers=shared)
    assert shared.items() == [("X-Shared", "1")]
    assert response.headers.items() == [("X-Shared", "1"), ("Content-Type", _TEXT)]
    response.headers.add("X-More", "2")
    assert "X-More" not in shared


@pytest.mark.parametrize("status", [99, 600, 0, -200, "200", 200.0, True, None])
def test_invalid_status_raises(status):
    with pytest.raises(ValueError, match="status must be an integer from 100 to 599"):
        Response(b"", status)


@pytest.mark.parametrize("status", [100, 101, 204, 599])
def test_status_bounds(status):
    assert Response(b"", status).status == status


def test_int_enum_status_becomes_a_plain_int():
    response = Response(b"", HTTPStatus.CREATED)
    assert response.status == 201
    assert type(response.status) is int


@pytest.mark.parametrize("body", [bytearray(b"x"), 1, None, ["a"]])
def test_invalid_body_type_raises(body):
    with pytest.raises(TypeError, match="body must be bytes or str"):
        Response(body)


def test_slotted():
    with pytest.raises(AttributeError):
        Response().cookies = {}


def test_text_html_json():
    text = Response.text("hé", 404, [("X-A", "1")])
    assert (text.status, text.body) == (404, "hé".encode())
    assert text.headers.items() == [("X-A", "1"), ("Content-Type", _TEXT)]
    html = Response.html("<b>é</b>")
    assert (html.body, html.headers["Content-Type"]) == (
        "<b>é</b>".encode(),
        "text/html; charset=utf-8",
    )
    payload = Response.json({"a": [1, 2.5, None, True], "é": "ü"}, status=201)
    assert payload.body == '{"a":[1,2.5,null,true],"é":"ü"}'.encode()
    assert (payload.status, payload.headers["Content-Type"]) == (201, "application/json")
    assert type(payload) is Response


def test_json_refuses_what_json_cannot_represent():
    with pytest.raises(ValueError, match="not JSON compliant"):
        Response.json({"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        Response.json({"x": object()})


def test_redirect():
    response = Response.redirect("/new place/é?q=a b&r=%20#frag")
    assert (response.status, response.body) == (307, b"")
    assert response.headers.items() == [("Location", "/new%20place/%C3%A9?q=a%20b&r=%20#frag")]
    assert Response.redirect("https://x.example/", 303).status == 303
    assert Response.redirect("/", headers=[("X-A", "1")]).headers["x-a"] == "1"


@pytest.mark.parametrize("status", [200, 404, 299, 400])
def test_redirect_needs_3xx(status):
    with pytest.raises(ValueError, match="3xx"):
        Response.redirect("/", status)


# StreamingResponse


def test_streaming_from_async_iterable():
    async def chunks():
        yield b"a"
        yield "é"

    response = StreamingResponse(chunks(), 202, [("X-A", "1")], content_type="text/plain")
    assert isinstance(response, Response)
    assert (response.status, response.body) == (202, b"")
    assert response.headers.items() == [("X-A", "1"), ("Content-Type", "text/plain")]
    assert drain(response) == [b"a", "é".encode()]


def test_streaming_from_sync_iterable_without_content_type():
    response = StreamingResponse(iter(["x", b"y", bytearray(b"z"), memoryview(b"w")]))
    assert len(response.headers) == 0
    assert drain(response) == [b"x", b"y", b"z", b"w"]
    assert all(type(chunk) is bytes for chunk in drain(StreamingResponse([bytearray(b"q")])))


def test_streaming_bad_chunk_raises_from_the_iterator():
    response = StreamingResponse([b"ok", 3])
    with pytest.raises(TypeError, match="a streamed chunk must be bytes or str, not int"):
        drain(response)


@pytest.mark.parametrize("content", ["text", b"bytes", 42, None])
def test_streaming_needs_an_iterable_of_chunks(content):
    with pytest.raises(TypeError, match="iterable"):
        StreamingResponse(content)


def test_streaming_validates_status():
    with pytest.raises(ValueError, match="status"):
        StreamingResponse([], 1000)


# HTTPError


def test_http_error_defaults_to_the_reason_phrase():
    error = HTTPError(404)
    assert isinstance(error, LongwireError)
    assert (error.status, error.detail, str(error)) == (404, "Not Found", "404 Not Found")
    response = error.response()
    assert (response.status, response.body) == (404, b"Not Found\n")
    assert response.headers["Content-Type"] == _TEXT


def test_http_error_detail_and_headers():
    error = HTTPError(401, "token expired", [("WWW-Authenticate", "Bearer")])
    assert error.headers == Headers([("WWW-Authenticate", "Bearer")])
    response = error.response()
    assert (response.status, response.body) == (401, b"token expired\n")
    assert response.headers["www-authenticate"] == "Bearer"
    # The response is built afresh: the error's headers are not changed.
    assert "Content-Type" not in error.headers
    assert error.response().headers.get_all("Content-Type") == [_TEXT]


def test_http_error_unregistered_status_and_bodyless_statuses():
    assert HTTPError(599).detail == "Status 599"
    for status in (204, 304, 101):
        response = HTTPError(status).response()
        assert (response.status, response.body, len(response.headers)) == (status, b"", 0)


@pytest.mark.parametrize("status", [42, 600, "404"])
def test_http_error_validates_status(status):
    with pytest.raises(ValueError, match="status"):
        HTTPError(status)
