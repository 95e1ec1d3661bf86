"""Headers: the collection itself, and how header fields travel through the core."""

import pytest

from longwire import LocalProtocolError, Role
from longwire.http1 import Connection, EndOfMessage, Headers, Request, Response

# The collection


def test_lookup_ignores_case_and_keeps_order_and_repeats():
    headers = Headers([("Accept", "a"), ("X-Multi", "1"), ("accept", "b"), ("x-multi", "2")])
    assert headers["ACCEPT"] == "a"
    assert headers.get_all("accept") == ["a", "b"]
    assert list(headers) == [("Accept", "a"), ("X-Multi", "1"), ("accept", "b"), ("x-multi", "2")]
    assert len(headers) == 4
    assert "x-MULTI" in headers
    assert 42 not in headers
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        headers["missing"]


def test_get_list_and_has_token():
    headers = Headers([("Connection", "keep-alive, Upgrade"), ("connection", " ,close , ")])
    assert headers.get_list("Connection") == ["keep-alive", "Upgrade", "close"]
    assert headers.has_token("connection", "UPGRADE")
    assert not headers.has_token("connection", "up")


def test_writing():
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    headers.set("A", "x")
    assert headers.items() == [("B", "2"), ("A", "x")]
    assert headers.setdefault("b", "ignored") == "2"
    assert headers.setdefault("C", "3") == "3"
    copy = headers.copy()
    headers.remove("b")
    assert headers.items() == [("A", "x"), ("C", "3")]
    assert copy.items() == [("B", "2"), ("A", "x"), ("C", "3")]


def test_equality_ignores_name_case_but_not_order():
    assert Headers([("A", "1"), ("B", "2")]) == Headers([("a", "1"), ("b", "2")])
    assert Headers([("A", "1"), ("B", "2")]) != Headers([("B", "2"), ("A", "1")])
    assert Headers([("A", "1")]) != Headers([("A", "2")])
    assert Headers.coerce([("A", "1")]) == Headers([("A", "1")])


def test_events_coerce_pairs_to_headers():
    request = Request(method="GET", target="/", headers=[("Host", "a")])
    assert isinstance(request.headers, Headers)
    assert EndOfMessage(trailers=[("T", "1")]).trailers["t"] == "1"


# Fields through the parser


def parse(fields: bytes) -> Headers:
    conn = Connection(Role.SERVER)
    return conn.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n")[0].headers


def test_parsed_fields_keep_wire_case_order_and_repeats():
    headers = parse(b"x-LOWER: 1\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n")
    assert headers.items() == [
        ("Host", "h"),
        ("x-LOWER", "1"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]


def test_parsed_values_strip_only_sp_and_htab():
    headers = parse(b"A:  \t v a l \t \r\nB:\r\nC: \xa0x\xa0\r\nD:x:y: z\r\n")
    assert headers["a"] == "v a l"
    assert headers["b"] == ""
    assert headers["c"] == "\xa0x\xa0"  # NBSP is obs-text, not whitespace, in HTTP
    assert headers["d"] == "x:y: z"


def test_every_tchar_is_a_valid_name():
    name = b"!#$%&'*+-.^_`|~09azAZ"
    assert parse(name + b": v\r\n")[name.decode()] == "v"


def test_many_distinct_names_do_not_break_parsing():
    # The name cache is bounded; names beyond it are validated the slow way.
    for batch in range(4):
        fields = b"".join(b"X-%d-%d: v\r\n" % (batch, i) for i in range(99))
        assert len(parse(fields)) == 100


# Fields through the serializer


def test_sent_fields_keep_order_case_and_repeats():
    conn = Connection(Role.CLIENT)
    headers = [("host", "h"), ("X-A", "1"), ("x-a", "2"), ("Cookie", "a=1; b=2")]
    assert conn.send(Request(method="GET", target="/", headers=headers)) == (
        b"GET / HTTP/1.1\r\nhost: h\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=1; b=2\r\n\r\n"
    )


def test_sent_values_may_hold_htab_inside_and_obs_text():
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    out = conn.send(Response(status_code=204, headers=[("X-A", "a\tb caf\xe9"), ("X-Empty", "")]))
    assert out == b"HTTP/1.1 204 No Content\r\nX-A: a\tb caf\xe9\r\nX-Empty: \r\n\r\n"


def test_a_headers_object_is_not_modified_by_sending():
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    headers = Headers([("X-A", "1")])
    out = conn.send(Response(status_code=200, headers=headers))
    assert (
        out
        == b"HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    assert headers.items() == [("X-A", "1")]


@pytest.mark.parametrize("name", ["Bad Name", "Bad:Name", "", "Ünïcode", "X\x00"])
def test_sent_names_must_be_tokens(name):
    conn = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match="invalid header name"):
        conn.send(Request(method="GET", target="/", headers=[("Host", "h"), (name, "v")]))


def test_trailer_fields_are_validated_too():
    conn = Connection(Role.CLIENT)
    conn.send(
        Request(
            method="POST", target="/", headers=[("Host", "h"), ("Transfer-Encoding", "chunked")]
        )
    )
    with pytest.raises(LocalProtocolError, match="invalid header value"):
        conn.send(EndOfMessage(trailers=[("X", "a\r\nInjected: 1")]))
