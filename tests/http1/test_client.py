"""The client side: serializing requests, parsing responses, and a wired client/server pair."""

import pytest

from longwire import LocalProtocolError, RemoteProtocolError, Role
from longwire.http1 import (
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    Limits,
    Request,
    Response,
    State,
)

HOST = [("Host", "example.com")]
IDLE, SEND_BODY, DONE, MUST_CLOSE = State.IDLE, State.SEND_BODY, State.DONE, State.MUST_CLOSE


def client_after(*requests: Request) -> Connection:
    """A client that has sent ``requests`` (each with its EndOfMessage)."""
    conn = Connection(Role.CLIENT)
    for request in requests:
        conn.send(request)
        conn.send(EndOfMessage())
    return conn


def get(target: str = "/", method: str = "GET", **extra: str) -> Request:
    return Request(method=method, target=target, headers=[*HOST, *extra.items()])


# Serializing requests


def test_request_bytes_are_exact():
    conn = Connection(Role.CLIENT)
    out = conn.send(Request(method="GET", target="/a?b=1", headers=[*HOST, ("Accept", "*/*")]))
    assert out == b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    assert conn.send(EndOfMessage()) == b""
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)


def test_http10_request_needs_no_host():
    conn = Connection(Role.CLIENT)
    assert (
        conn.send(Request(method="GET", target="/", http_version="1.0"))
        == b"GET / HTTP/1.0\r\n\r\n"
    )
    conn.send(EndOfMessage())
    assert conn.our_state is DONE  # HTTP/1.0 without keep-alive: the only request


def test_host_is_required_once():
    with pytest.raises(LocalProtocolError, match="Host"):
        Connection(Role.CLIENT).send(Request(method="GET", target="/"))
    with pytest.raises(LocalProtocolError, match="more than one Host"):
        Connection(Role.CLIENT).send(Request(method="GET", target="/", headers=HOST * 2))


@pytest.mark.parametrize("method", ["G ET", "GET\r\n", "", "GÉT"])
def test_method_must_be_a_token(method):
    with pytest.raises(LocalProtocolError, match="method"):
        Connection(Role.CLIENT).send(Request(method=method, target="/", headers=HOST))


@pytest.mark.parametrize("target", ["/a b", "", "/\r\nHost: evil", "/caf\xe9"])
def test_target_must_be_visible_ascii(target):
    with pytest.raises(LocalProtocolError, match="target"):
        Connection(Role.CLIENT).send(Request(method="GET", target=target, headers=HOST))


def test_body_needs_framing_headers():
    conn = Connection(Role.CLIENT)
    conn.send(Request(method="POST", target="/", headers=HOST))
    with pytest.raises(LocalProtocolError, match="Content-Length or Transfer-Encoding: chunked"):
        conn.send(Data(data=b"body"))


def test_request_body_with_content_length():
    conn = Connection(Role.CLIENT)
    out = conn.send(Request(method="POST", target="/", headers=[*HOST, ("Content-Length", "4")]))
    assert out.endswith(b"Content-Length: 4\r\n\r\n")
    assert conn.send(Data(data=b"ab")) + conn.send(Data(data=b"cd")) == b"abcd"
    assert conn.send(EndOfMessage()) == b""


def test_chunked_request_body_with_trailers():
    conn = Connection(Role.CLIENT)
    conn.send(Request(method="POST", target="/", headers=[*HOST, ("Transfer-Encoding", "chunked")]))
    assert conn.send(Data(data=b"hello world")) == b"b\r\nhello world\r\n"
    assert conn.send(EndOfMessage(trailers=[("Digest", "x")])) == b"0\r\nDigest: x\r\n\r\n"


def test_only_plain_chunked_can_be_sent():
    conn = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match="exactly 'chunked'"):
        conn.send(
            Request(
                method="POST", target="/", headers=[*HOST, ("Transfer-Encoding", "gzip, chunked")]
            )
        )


def test_transfer_encoding_and_content_length_together_are_refused():
    conn = Connection(Role.CLIENT)
    headers = [*HOST, ("Transfer-Encoding", "chunked"), ("Content-Length", "3")]
    with pytest.raises(LocalProtocolError, match="both"):
        conn.send(Request(method="POST", target="/", headers=headers))


def test_client_cannot_send_responses():
    with pytest.raises(LocalProtocolError):
        Connection(Role.CLIENT).send(Response(status_code=200))


# Parsing responses


def test_response_with_content_length():
    conn = client_after(get())
    events = conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello")
    assert events == [
        Response(status_code=200, reason="OK", headers=[("Content-Length", "5"), ("Server", "x")]),
        Data(data=b"hello"),
        EndOfMessage(),
    ]
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)


def test_chunked_response_with_trailers():
    conn = client_after(get())
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nX-Trailer: done\r\n\r\n"
    )
    assert conn.receive_data(raw)[1:] == [
        Data(data=b"abc"),
        Data(data=b"d"),
        EndOfMessage(trailers=[("X-Trailer", "done")]),
    ]


def test_close_delimited_response():
    conn = client_after(get())
    assert conn.receive_data(b"HTTP/1.1 200 OK\r\n\r\nsome") == [
        Response(status_code=200, reason="OK"),
        Data(data=b"some"),
    ]
    assert not conn.keep_alive
    assert conn.receive_data(b" bytes") == [Data(data=b" bytes")]
    assert conn.receive_eof() == [EndOfMessage(), ConnectionClosed()]
    assert conn.their_state is State.CLOSED
    assert conn.our_state is MUST_CLOSE


def test_transfer_encoding_not_ending_in_chunked_reads_until_close():
    conn = client_after(get())
    events = conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b")
    assert events[1:] == [Data(data=b"\x1f\x8b")]
    assert conn.receive_eof() == [EndOfMessage(), ConnectionClosed()]


def test_gzip_then_chunked_response_is_dechunked_only():
    conn = client_after(get())
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n\x1f\x8b\r\n0\r\n\r\n"
    assert conn.receive_data(raw)[1:] == [Data(data=b"\x1f\x8b"), EndOfMessage()]


def test_status_line_without_reason():
    conn = client_after(get(), get())
    events = conn.receive_data(
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"
    )
    assert [(e.status_code, e.reason) for e in events if isinstance(e, Response)] == [
        (200, ""),
        (404, ""),
    ]


def test_obs_fold_in_a_response_becomes_a_space():
    conn = client_after(get())
    raw = b"HTTP/1.1 200 OK\r\nX-Long: first\r\n  second\r\n\tthird\r\nContent-Length: 0\r\n\r\n"
    response = conn.receive_data(raw)[0]
    assert response.headers.items() == [("X-Long", "first second third"), ("Content-Length", "0")]


def test_response_to_head_has_no_body():
    conn = client_after(get(method="HEAD"), get())
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    events = conn.receive_data(raw)
    assert [type(e) for e in events] == [Response, EndOfMessage, Response, Data, EndOfMessage]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status):
    conn = client_after(get(), get())
    raw = (
        b"HTTP/1.1 %d X\r\nContent-Length: 7\r\n\r\n" % status
        + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    )
    assert [type(e) for e in conn.receive_data(raw)] == [Response, EndOfMessage] * 2


def test_response_with_no_request_outstanding():
    conn = Connection(Role.CLIENT)
    with pytest.raises(RemoteProtocolError, match="no request") as info:
        conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert info.value.status_hint is None
    conn = client_after(get())
    with pytest.raises(RemoteProtocolError, match="no request"):
        conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 2)


def test_response_connection_close():
    conn = client_after(get())
    events = conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert len(events) == 2
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, MUST_CLOSE)
    assert conn.receive_data(b"garbage after the last response") == []
    with pytest.raises(LocalProtocolError):
        conn.send(get())


def test_request_connection_close_waits_for_the_response():
    conn = client_after(get(Connection="close"))
    assert conn.our_state is DONE
    assert conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, MUST_CLOSE)


def test_http10_response_is_not_kept_alive():
    conn = client_after(get())
    conn.receive_data(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert conn.our_state is MUST_CLOSE
    conn = client_after(get())
    conn.receive_data(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
    assert conn.our_state is IDLE


def test_pipelined_requests_match_responses_in_order():
    conn = Connection(Role.CLIENT)
    out = b""
    for target in ("/1", "/2", "/3"):
        out += conn.send(get(target)) + conn.send(EndOfMessage())
    assert out.count(b"GET /") == 3
    raw = b"".join(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + body for body in (b"r1", b"r2", b"r3")
    )
    events = conn.receive_data(raw)
    assert [e.data for e in events if isinstance(e, Data)] == [b"r1", b"r2", b"r3"]
    assert conn.keep_alive


def test_response_body_limit_on_the_client():
    conn = Connection(Role.CLIENT, limits=Limits(max_body_size=3))
    conn.send(get())
    conn.send(EndOfMessage())
    with pytest.raises(RemoteProtocolError, match="larger than") as info:
        conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    assert info.value.status_hint is None


def test_unsupported_response_version():
    conn = client_after(get())
    with pytest.raises(RemoteProtocolError, match=r"HTTP/2\.0") as info:
        conn.receive_data(b"HTTP/2.0 200 OK\r\n\r\n")
    assert info.value.status_hint is None


@pytest.mark.parametrize(
    "status_line",
    [
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1  200 OK",
        b"http/1.1 200 OK",
        b"HTTP/1.1 099 X",
    ],
)
def test_malformed_status_lines(status_line):
    conn = client_after(get())
    with pytest.raises(RemoteProtocolError, match="status"):
        conn.receive_data(status_line + b"\r\n\r\n")


def test_eof_before_any_response_is_a_clean_close():
    conn = client_after(get())
    assert conn.receive_eof() == [ConnectionClosed()]


def test_eof_in_a_content_length_response():
    conn = client_after(get())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
    with pytest.raises(RemoteProtocolError, match="middle") as info:
        conn.receive_eof()
    assert info.value.status_hint is None


# Interim responses and protocol switches


def test_100_continue_flow():
    conn = Connection(Role.CLIENT)
    headers = [*HOST, ("Content-Length", "3"), ("Expect", "100-continue")]
    conn.send(Request(method="PUT", target="/f", headers=headers))
    assert conn.client_is_waiting_for_100_continue
    assert conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n") == [
        InformationalResponse(status_code=100, reason="Continue")
    ]
    assert not conn.client_is_waiting_for_100_continue
    assert conn.send(Data(data=b"abc")) == b"abc"
    conn.send(EndOfMessage())
    assert [
        type(e) for e in conn.receive_data(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    ] == [
        Response,
        EndOfMessage,
    ]


def test_sending_the_body_ends_the_wait_for_100_continue():
    conn = Connection(Role.CLIENT)
    headers = [*HOST, ("Content-Length", "3"), ("Expect", "100-continue")]
    conn.send(Request(method="PUT", target="/f", headers=headers))
    conn.send(Data(data=b"a"))
    assert not conn.client_is_waiting_for_100_continue


def test_101_hands_over_the_bytes_after_its_head():
    request = get("/chat", Upgrade="websocket", Connection="Upgrade")
    conn = client_after(request)
    assert conn.our_state is State.MIGHT_SWITCH_PROTOCOL
    with pytest.raises(LocalProtocolError):
        conn.send(get())  # nothing can be sent while the switch is undecided
    conn = client_after(request)
    raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    events = conn.receive_data(raw + b"\x81\x02hi")
    assert events == [
        InformationalResponse(
            status_code=101,
            reason="Switching Protocols",
            headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")],
        )
    ]
    assert conn.our_state is conn.their_state is State.SWITCHED_PROTOCOL
    assert conn.trailing_data == b"\x81\x02hi"


def test_101_without_an_upgrade_request():
    conn = client_after(get())
    with pytest.raises(RemoteProtocolError, match="did not ask to upgrade"):
        conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")


def test_declined_upgrade_continues_with_http():
    conn = client_after(get("/chat", Upgrade="websocket", Connection="Upgrade"))
    events = conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
    assert [type(e) for e in events] == [Response, Data, EndOfMessage]
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)


def test_connect_success_switches_after_the_head():
    conn = client_after(get("example.com:443", method="CONNECT"))
    events = conn.receive_data(b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03")
    assert events == [Response(status_code=200, reason="Connection Established")]
    assert conn.our_state is State.SWITCHED_PROTOCOL
    assert conn.trailing_data == b"\x16\x03"


# The wired pair


def test_pair_get_and_response(pair):
    pair.send(Role.CLIENT, [get("/x"), EndOfMessage()])
    assert pair.states() == {Role.CLIENT: ("IDLE", "IDLE"), Role.SERVER: ("IDLE", "IDLE")}
    pair.send(
        Role.SERVER,
        [
            Response(status_code=200, headers=[("Content-Length", "2")]),
            Data(data=b"ok"),
            EndOfMessage(),
        ],
        expect=[
            Response(status_code=200, reason="OK", headers=[("Content-Length", "2")]),
            Data(data=b"ok"),
            EndOfMessage(),
        ],
    )


def test_pair_chunked_both_ways(pair):
    request = Request(method="POST", target="/", headers=[*HOST, ("Transfer-Encoding", "chunked")])
    pair.send(
        Role.CLIENT,
        [
            request,
            Data(data=b"he"),
            Data(data=b""),
            Data(data=b"llo"),
            EndOfMessage(trailers=[("A", "b")]),
        ],
    )
    pair.send(
        Role.SERVER,
        [Response(status_code=200), Data(data=b"back"), EndOfMessage()],
        expect=[
            Response(status_code=200, reason="OK", headers=[("Transfer-Encoding", "chunked")]),
            Data(data=b"back"),
            EndOfMessage(),
        ],
    )
    assert pair.states() == {Role.CLIENT: ("IDLE", "IDLE"), Role.SERVER: ("IDLE", "IDLE")}


def test_pair_connection_close_then_both_close(pair):
    pair.send(Role.CLIENT, [get(Connection="close"), EndOfMessage()])
    assert pair.states() == {Role.CLIENT: ("DONE", "IDLE"), Role.SERVER: ("IDLE", "DONE")}
    pair.send(
        Role.SERVER,
        [Response(status_code=200, headers=[("Content-Length", "0")]), EndOfMessage()],
        expect=[
            Response(
                status_code=200,
                reason="OK",
                headers=[("Content-Length", "0"), ("Connection", "close")],
            ),
            EndOfMessage(),
        ],
    )
    assert pair.states() == {
        Role.CLIENT: ("MUST_CLOSE", "MUST_CLOSE"),
        Role.SERVER: ("MUST_CLOSE", "MUST_CLOSE"),
    }
    pair.server.send(ConnectionClosed())
    assert pair.client.receive_eof() == [ConnectionClosed()]
    assert pair.client.their_state is pair.server.our_state is State.CLOSED


def test_pair_http10_close_delimited(pair):
    pair.send(Role.CLIENT, [Request(method="GET", target="/", http_version="1.0"), EndOfMessage()])
    pair.send(
        Role.SERVER,
        [Response(status_code=200), Data(data=b"until close")],
        expect=[
            Response(status_code=200, reason="OK", headers=[("Connection", "close")]),
            Data(data=b"until close"),
        ],
    )
    assert pair.server.send(EndOfMessage()) == b""
    assert pair.client.receive_eof() == [EndOfMessage(), ConnectionClosed()]


def test_pair_websocket_upgrade(pair):
    request = get("/chat", Upgrade="websocket", Connection="Upgrade")
    pair.send(Role.CLIENT, [request, EndOfMessage()])
    assert pair.server.reading_paused
    switching = InformationalResponse(
        status_code=101, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")]
    )
    pair.send(
        Role.SERVER,
        switching,
        expect=[
            InformationalResponse(
                status_code=101, reason="Switching Protocols", headers=switching.headers
            )
        ],
    )
    for conn in (pair.client, pair.server):
        assert conn.our_state is conn.their_state is State.SWITCHED_PROTOCOL


def test_pair_100_continue(pair):
    headers = [*HOST, ("Content-Length", "2"), ("Expect", "100-continue")]
    pair.send(Role.CLIENT, Request(method="PUT", target="/", headers=headers))
    assert pair.server.client_is_waiting_for_100_continue
    assert pair.client.client_is_waiting_for_100_continue
    pair.send(
        Role.SERVER,
        InformationalResponse(status_code=100),
        expect=[InformationalResponse(status_code=100, reason="Continue")],
    )
    assert not pair.server.client_is_waiting_for_100_continue
    assert not pair.client.client_is_waiting_for_100_continue
    pair.send(Role.CLIENT, [Data(data=b"ok"), EndOfMessage()])


def test_pair_interoperates_with_http_client_parser():
    # The standard library's response parser reads our server's bytes.
    import http.client
    import io

    server = Connection(Role.SERVER)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    out = server.send(Response(status_code=200, headers=[("X-Test", "1")]))
    out += server.send(Data(data=b"hello ")) + server.send(Data(data=b"world"))
    out += server.send(EndOfMessage())

    class FakeSocket:
        def makefile(self, mode):
            return io.BytesIO(out)

    response = http.client.HTTPResponse(FakeSocket())
    response.begin()
    assert response.status == 200
    assert response.getheader("X-Test") == "1"
    assert response.read() == b"hello world"


def test_close_delimited_body_limit_on_the_client():
    conn = Connection(Role.CLIENT, limits=Limits(max_body_size=8))
    conn.send(get())
    conn.send(EndOfMessage())
    assert len(conn.receive_data(b"HTTP/1.1 200 OK\r\n\r\n12345678")) == 2
    with pytest.raises(RemoteProtocolError, match="larger than the limit of 8") as info:
        conn.receive_data(b"9")
    assert info.value.status_hint is None


def test_chunked_body_limit_on_the_client():
    conn = Connection(Role.CLIENT, limits=Limits(max_body_size=8))
    conn.send(get())
    conn.send(EndOfMessage())
    with pytest.raises(RemoteProtocolError, match="larger than the limit") as info:
        conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n")
    assert info.value.status_hint is None


def test_early_response_while_the_request_body_is_being_sent():
    conn = Connection(Role.CLIENT)
    conn.send(Request(method="POST", target="/", headers=[*HOST, ("Content-Length", "4")]))
    conn.send(Data(data=b"ab"))
    events = conn.receive_data(
        b"HTTP/1.1 413 Too Big\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert [type(e) for e in events] == [Response, EndOfMessage]
    assert (conn.our_state, conn.their_state) == (SEND_BODY, MUST_CLOSE)
    conn.send(Data(data=b"cd"))
    conn.send(EndOfMessage())
    assert conn.our_state is MUST_CLOSE
