"""Split anywhere: the same bytes give the same events however they are cut into reads."""

import random

import pytest

from longwire import RemoteProtocolError, Role
from longwire.http1 import Connection, EndOfMessage, Request

SERVER_STREAMS = {
    "pipelined-mixed": (
        b"\r\n"
        b"GET /one HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
        b"PUT /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
        b"0\r\nExpires: never\r\nX-Sum: 42\r\n\r\n"
        b"POST /four HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\n\r\r\n0\r\n\r\n"
        b"HEAD /five HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n"
    ),
    "http10-then-close": (
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /ignored HTTP/1.0\r\n\r\n"
    ),
    "upgrade-with-frames": (
        b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    ),
}

RESPONSES = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n10;x=y\r\n0123456789abcdef\r\n0\r\nTrailer-A: 1\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Fold: a\r\n  b\r\n\r\nhello"
    b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"  # answers HEAD: no body
    b"HTTP/1.1 204 No Content\r\n\r\n"
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end of the connection"
)
RESPONSE_METHODS = ["PUT", "GET", "HEAD", "GET", "GET", "GET"]


def new_server() -> Connection:
    return Connection(Role.SERVER)


def new_client() -> Connection:
    client = Connection(Role.CLIENT)
    for method in RESPONSE_METHODS:
        client.send(Request(method=method, target="/", headers=[("Host", "a")]))
        client.send(EndOfMessage())
    return client


def run(conn: Connection, data: bytes, cuts, feed, eof: bool) -> tuple[list, bytes]:
    events = feed(conn, data, cuts)
    if eof:
        events += conn.receive_eof()
    return events, conn.trailing_data


def check_all_splits(make, data, feed, merge_data, eof=False):
    whole = run(make(), data, (), feed, eof)
    assert whole[0], "the stream should produce events"
    every_byte = run(make(), data, range(1, len(data)), feed, eof)
    assert merge_data(every_byte[0]) == merge_data(whole[0])
    assert every_byte[1] == whole[1]
    rng = random.Random(len(data))
    for _ in range(60):
        cuts = rng.sample(range(1, len(data)), rng.randint(1, 12))
        events, trailing = run(make(), data, cuts, feed, eof)
        assert merge_data(events) == merge_data(whole[0]), cuts
        assert trailing == whole[1]
    return whole


@pytest.mark.parametrize("name", sorted(SERVER_STREAMS))
def test_server_streams(name, feed, merge_data):
    check_all_splits(new_server, SERVER_STREAMS[name], feed, merge_data)


def test_server_stream_contents(feed, merge_data):
    events, _ = run(new_server(), SERVER_STREAMS["pipelined-mixed"], (), feed, False)
    kinds = [type(e).__name__ for e in merge_data(events)]
    assert kinds == [
        "Request",
        "EndOfMessage",
        "Request",
        "Data",
        "EndOfMessage",
        "Request",
        "Data",
        "EndOfMessage",
        "Request",
        "Data",
        "EndOfMessage",
        "Request",
        "EndOfMessage",
    ]
    assert merge_data(events)[6].data == b"Wikipedia in\r\n\r\nchunks."
    assert merge_data(events)[7].trailers.items() == [("Expires", "never"), ("X-Sum", "42")]
    assert merge_data(events)[9].data == b"\r"


def test_upgrade_stream_keeps_the_frame_bytes(feed):
    data = SERVER_STREAMS["upgrade-with-frames"]
    for cuts in ((), range(1, len(data))):
        conn = new_server()
        feed(conn, data, cuts)
        assert conn.trailing_data == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"


def test_client_stream(feed, merge_data):
    events, _ = check_all_splits(new_client, RESPONSES, feed, merge_data, eof=True)
    kinds = [type(e).__name__ for e in merge_data(events)]
    assert kinds == [
        "InformationalResponse",
        "Response",
        "Data",
        "EndOfMessage",
        "Response",
        "Data",
        "EndOfMessage",
        "Response",
        "EndOfMessage",
        "Response",
        "EndOfMessage",
        "Response",
        "EndOfMessage",
        "Response",
        "Data",
        "EndOfMessage",
        "ConnectionClosed",
    ]
    assert merge_data(events)[-3].data == b"until the end of the connection"


HOSTILE = [
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\nc\r\n\r\n", 400, "bare LF"),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace between"),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "unsupported HTTP version"),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX",
        400,
        "missing CRLF",
    ),
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1" + b"0" * 16 + b"\r\n",
        400,
        "invalid chunk size",
    ),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400, "conflicting"),
]


@pytest.mark.parametrize(("data", "status", "match"), HOSTILE)
def test_errors_do_not_depend_on_how_bytes_arrive(data, status, match, feed):
    for cuts in ((), range(1, len(data))):
        conn = new_server()
        with pytest.raises(RemoteProtocolError, match=match) as info:
            feed(conn, data, cuts)
        assert info.value.status_hint == status
