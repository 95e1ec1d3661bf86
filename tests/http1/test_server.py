"""The server side: parsing requests, answering them byte for byte, connection reuse."""

import pytest

from longwire import LocalProtocolError, RemoteProtocolError, Role
from longwire.http1 import (
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Headers,
    InformationalResponse,
    Limits,
    Request,
    Response,
    State,
)

GET = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
IDLE, SEND_BODY, DONE, MUST_CLOSE = State.IDLE, State.SEND_BODY, State.DONE, State.MUST_CLOSE


def server() -> Connection:
    return Connection(Role.SERVER)


def answer(conn: Connection, body: bytes = b"", **headers: str) -> bytes:
    """Send a 200 with Content-Length and ``body``; return all the bytes."""
    fields = [("Content-Length", str(len(body))), *headers.items()]
    out = conn.send(Response(status_code=200, headers=fields))
    return out + conn.send(Data(data=body)) + conn.send(EndOfMessage())


# Parsing requests


def test_simple_get_gives_request_and_end_of_message():
    conn = server()
    assert conn.receive_data(GET) == [
        Request(method="GET", target="/index.html", headers=[("Host", "example.com")]),
        EndOfMessage(),
    ]
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)
    assert conn.keep_alive


def test_field_names_keep_their_case_and_values_lose_surrounding_whitespace():
    conn = server()
    raw = b"GET / HTTP/1.1\r\nhOsT:example.com\r\nX-Pad: \t a b \t\r\nEmpty:\r\n\r\n"
    request = conn.receive_data(raw)[0]
    assert request.headers.items() == [("hOsT", "example.com"), ("X-Pad", "a b"), ("Empty", "")]
    assert request.headers["host"] == "example.com"


def test_request_with_content_length_body_split_across_calls():
    conn = server()
    head = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
    events = conn.receive_data(head + b"0123")
    assert events[1:] == [Data(data=b"0123")]
    assert conn.their_state is SEND_BODY
    assert conn.receive_data(b"456789GET") == [Data(data=b"456789"), EndOfMessage()]
    # The rest is the start of the next (pipelined) request.
    assert conn.receive_data(b" / HTTP/1.1\r\nHost: a\r\n\r\n")[0].method == "GET"


def test_content_length_zero_has_no_data_event():
    conn = server()
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
    assert conn.receive_data(raw)[1:] == [EndOfMessage()]


def test_identical_content_length_values_are_accepted():
    conn = server()
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc"
    assert conn.receive_data(raw)[1:] == [Data(data=b"abc"), EndOfMessage()]


def test_chunked_body_with_extensions_and_trailers():
    conn = server()
    raw = b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip-not, chunked\r\n\r\n"
    with pytest.raises(RemoteProtocolError):  # only chunked alone is supported
        conn.receive_data(raw)
    conn = server()
    raw = (
        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"5;name=value;flag\r\nhello\r\n"
        b'6 ; ext="quoted"\r\n world\r\n'
        b"0;last\r\n"
        b"Expires: never\r\nX-Checksum:  abc \r\n"
        b"\r\n"
    )
    events = conn.receive_data(raw)
    assert events[1:] == [
        Data(data=b"hello"),
        Data(data=b" world"),
        EndOfMessage(trailers=[("Expires", "never"), ("X-Checksum", "abc")]),
    ]
    assert conn.their_state is IDLE


def test_chunked_body_without_trailers_and_uppercase_hex():
    conn = server()
    raw = b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"A\r\n0123456789\r\n0\r\n\r\n"
    assert conn.receive_data(raw)[1:] == [Data(data=b"0123456789"), EndOfMessage()]


def test_empty_lines_before_a_request_line_are_ignored():
    conn = server()
    assert conn.receive_data(b"\r\n\r\n") == []
    assert conn.receive_data(b"\r\n" + GET)[0].target == "/index.html"


def test_http10_request_may_omit_host():
    conn = server()
    [request, end] = conn.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    assert request == Request(method="GET", target="/", http_version="1.0")
    assert end == EndOfMessage()
    assert not conn.keep_alive


def test_obs_text_in_values_round_trips_as_latin1():
    conn = server()
    request = conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9 \xa0x\xa0\r\n\r\n")[
        0
    ]
    assert request.headers["x-name"] == "caf\xe9 \xa0x\xa0"


def test_absolute_and_authority_and_asterisk_form_targets():
    for target in (b"http://example.com/a?b=c", b"*"):
        conn = server()
        raw = b"OPTIONS " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n"
        assert conn.receive_data(raw)[0].target == target.decode()


# Serializing responses


def test_response_bytes_are_exact():
    conn = server()
    conn.receive_data(GET)
    out = conn.send(
        Response(status_code=200, headers=[("Content-Type", "text/plain"), ("content-length", "5")])
    )
    assert out == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\n"
    assert conn.send(Data(data=b"hello")) == b"hello"
    assert conn.send(EndOfMessage()) == b""
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)


def test_reason_phrase_defaults_custom_and_unknown():
    conn = server()
    conn.receive_data(GET * 3)
    head = [("Content-Length", "0")]
    assert conn.send(Response(status_code=404, headers=head)).startswith(
        b"HTTP/1.1 404 Not Found\r\n"
    )
    conn.send(EndOfMessage())
    out = conn.send(Response(status_code=200, headers=head, reason="Fine Thanks"))
    assert out.startswith(b"HTTP/1.1 200 Fine Thanks\r\n")
    conn.send(EndOfMessage())
    assert conn.send(Response(status_code=599, headers=head)).startswith(
        b"HTTP/1.1 599 Unknown\r\n"
    )


def test_reason_phrase_with_crlf_is_refused():
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(LocalProtocolError):
        conn.send(Response(status_code=200, reason="OK\r\nSet-Cookie: x=1"))
    assert conn.our_state is State.ERROR


def test_http11_response_without_length_is_chunked():
    conn = server()
    conn.receive_data(GET)
    assert conn.send(Response(status_code=200, headers=[("X-A", "1")])) == (
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert conn.send(Data(data=b"hello")) == b"5\r\nhello\r\n"
    assert conn.send(Data(data=b"")) == b""
    assert conn.send(Data(data=b"x" * 26)) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert conn.send(EndOfMessage(trailers=[("X-Sum", "7")])) == b"0\r\nX-Sum: 7\r\n\r\n"
    assert conn.our_state is IDLE


def test_app_supplied_chunked_is_kept_as_given():
    conn = server()
    conn.receive_data(GET)
    out = conn.send(Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
    assert out == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    assert conn.send(EndOfMessage()) == b"0\r\n\r\n"


def test_trailers_need_chunked():
    conn = server()
    conn.receive_data(GET)
    conn.send(Response(status_code=200, headers=[("Content-Length", "0")]))
    with pytest.raises(LocalProtocolError, match="chunked"):
        conn.send(EndOfMessage(trailers=[("X", "y")]))


def test_content_length_mismatch_too_many_bytes():
    conn = server()
    conn.receive_data(GET)
    conn.send(Response(status_code=200, headers=[("Content-Length", "3")]))
    with pytest.raises(LocalProtocolError, match="more than"):
        conn.send(Data(data=b"abcd"))
    assert conn.our_state is State.ERROR
    with pytest.raises(LocalProtocolError):
        conn.send(EndOfMessage())


def test_content_length_mismatch_too_few_bytes():
    conn = server()
    conn.receive_data(GET)
    conn.send(Response(status_code=200, headers=[("Content-Length", "3")]))
    conn.send(Data(data=b"ab"))
    with pytest.raises(LocalProtocolError, match="1 bytes"):
        conn.send(EndOfMessage())


def test_invalid_content_length_to_send():
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        conn.send(Response(status_code=200, headers=[("Content-Length", "-1")]))


def test_answering_with_no_request_pending():
    conn = server()
    with pytest.raises(LocalProtocolError, match="no request"):
        conn.send(Response(status_code=200))


def test_data_before_a_head_is_refused():
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(LocalProtocolError, match="our_state is IDLE"):
        conn.send(Data(data=b"x"))


def test_client_events_cannot_be_sent_by_a_server():
    conn = server()
    with pytest.raises(LocalProtocolError):
        conn.send(Request(method="GET", target="/", headers=[("Host", "a")]))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Evil", "a\r\nSet-Cookie: x=1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "a\x00b"),
        ("X-Evil", "a\x7fb"),
        ("X-Evil", " leading"),
        ("X-Evil", "trailing\t"),
        ("X-Evil", "snow \u2603"),
        ("X Evil", "a"),
        ("X-Evil:", "a"),
        ("", "a"),
        ("X-Evil\r\nInjected", "a"),
    ],
)
def test_header_injection_is_refused(name, value):
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(LocalProtocolError, match="invalid header"):
        conn.send(Response(status_code=200, headers=[(name, value)]))


# Bodies that must not exist


def test_head_response_has_no_body_even_with_content_length():
    conn = server()
    conn.receive_data(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    out = conn.send(Response(status_code=200, headers=[("Content-Length", "1234")]))
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    assert conn.send(Data(data=b"")) == b""
    with pytest.raises(LocalProtocolError, match="no body"):
        conn.send(Data(data=b"x"))


def test_head_response_without_length_gets_no_transfer_encoding():
    conn = server()
    conn.receive_data(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert conn.send(Response(status_code=200)) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert conn.send(EndOfMessage()) == b""
    assert conn.our_state is IDLE


def test_204_has_no_body_and_no_framing_headers():
    conn = server()
    conn.receive_data(GET * 2)
    assert conn.send(Response(status_code=204)) == b"HTTP/1.1 204 No Content\r\n\r\n"
    conn.send(EndOfMessage())
    with pytest.raises(LocalProtocolError, match="204"):
        conn.send(Response(status_code=204, headers=[("Content-Length", "0")]))


def test_304_may_carry_content_length_but_no_body():
    conn = server()
    conn.receive_data(GET)
    out = conn.send(Response(status_code=304, headers=[("Content-Length", "10")]))
    assert out == b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send(Data(data=b"0123456789"))


def test_1xx_cannot_carry_content_length():
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(LocalProtocolError, match="1xx"):
        conn.send(InformationalResponse(status_code=103, headers=[("Content-Length", "0")]))


def test_103_early_hints_then_final_response():
    conn = server()
    conn.receive_data(GET)
    out = conn.send(InformationalResponse(status_code=103, headers=[("Link", "</a.css>")]))
    assert out == b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    assert conn.our_state is IDLE
    assert answer(conn).startswith(b"HTTP/1.1 200 OK\r\n")


# Connection reuse


def test_keep_alive_over_several_cycles():
    conn = server()
    for _ in range(3):
        assert len(conn.receive_data(GET)) == 2
        answer(conn, b"ok")
        assert (conn.our_state, conn.their_state) == (IDLE, IDLE)
        assert conn.keep_alive


def test_request_with_connection_close():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert conn.their_state is DONE
    assert not conn.keep_alive
    out = answer(conn, b"bye")
    assert out == (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye")
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, MUST_CLOSE)
    # Further bytes are ignored: the peer promised to send nothing more.
    assert conn.receive_data(GET) == []
    assert conn.receive_eof() == [ConnectionClosed()]
    assert conn.their_state is State.CLOSED
    assert conn.send(ConnectionClosed()) == b""
    assert conn.our_state is State.CLOSED


def test_server_chooses_to_close():
    conn = server()
    conn.receive_data(GET)
    assert conn.keep_alive
    conn.send(Response(status_code=200, headers=[("Content-Length", "0"), ("Connection", "close")]))
    assert not conn.keep_alive
    conn.send(EndOfMessage())
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, MUST_CLOSE)
    with pytest.raises(LocalProtocolError):
        conn.send(Response(status_code=200))


def test_close_replaces_a_keep_alive_option_and_keeps_others():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    out = conn.send(
        Response(
            status_code=200, headers=[("Connection", "Keep-Alive, X-Hop"), ("Content-Length", "0")]
        )
    )
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: X-Hop, close\r\n\r\n"


def test_http10_without_keep_alive_is_close_delimited():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    assert conn.send(Response(status_code=200)) == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    assert conn.send(Data(data=b"raw bytes")) == b"raw bytes"
    assert conn.send(EndOfMessage()) == b""
    assert conn.our_state is MUST_CLOSE


def test_http10_keep_alive_with_length_stays_open():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert conn.keep_alive
    out = answer(conn, b"hi")
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi"
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)


def test_http10_keep_alive_without_length_must_close():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert conn.send(Response(status_code=200)) == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    conn.send(Data(data=b"x"))
    conn.send(EndOfMessage())
    assert conn.our_state is MUST_CLOSE


def test_http10_client_gets_no_chunked_even_when_asked():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    out = conn.send(Response(status_code=200, headers=[("Transfer-Encoding", "chunked")]))
    assert out == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    assert conn.send(Data(data=b"abc")) == b"abc"


def test_1xx_cannot_go_to_an_http10_client():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    with pytest.raises(LocalProtocolError, match=r"HTTP/1\.0"):
        conn.send(InformationalResponse(status_code=100))


# Expect: 100-continue


EXPECT = b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"


def test_100_continue_then_body():
    conn = server()
    assert len(conn.receive_data(EXPECT)) == 1
    assert conn.client_is_waiting_for_100_continue
    assert conn.send(InformationalResponse(status_code=100)) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not conn.client_is_waiting_for_100_continue
    assert conn.receive_data(b"data") == [Data(data=b"data"), EndOfMessage()]
    assert answer(conn).startswith(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert conn.our_state is IDLE


def test_body_bytes_end_the_wait_for_100_continue():
    conn = server()
    conn.receive_data(EXPECT)
    conn.receive_data(b"da")
    assert not conn.client_is_waiting_for_100_continue


def test_expectation_needs_a_body_and_http11():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
    assert not conn.client_is_waiting_for_100_continue
    conn = server()
    conn.receive_data(b"PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
    assert not conn.client_is_waiting_for_100_continue


def test_final_response_instead_of_100_continue_closes():
    conn = server()
    conn.receive_data(EXPECT)
    out = conn.send(Response(status_code=417, headers=[("Content-Length", "0")]))
    assert (
        out == b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert not conn.client_is_waiting_for_100_continue
    assert not conn.keep_alive
    conn.send(EndOfMessage())
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, SEND_BODY)
    # If the body comes anyway, it is parsed to its end.
    assert conn.receive_data(b"data") == [Data(data=b"data"), EndOfMessage()]
    assert conn.their_state is MUST_CLOSE


# Protocol switches

WEBSOCKET_UPGRADE = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # masked "Hello" (RFC 6455 §5.7)
SWITCHING = InformationalResponse(
    status_code=101, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")]
)


def test_websocket_upgrade_hands_over_trailing_bytes():
    conn = server()
    events = conn.receive_data(WEBSOCKET_UPGRADE + FRAME)
    assert [type(e) for e in events] == [Request, EndOfMessage]
    assert conn.their_state is State.MIGHT_SWITCH_PROTOCOL
    assert conn.reading_paused
    assert conn.trailing_data == FRAME
    assert conn.receive_data(FRAME) == []  # nothing is parsed until we decide
    out = conn.send(SWITCHING)
    assert out == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    assert conn.our_state is conn.their_state is State.SWITCHED_PROTOCOL
    assert conn.trailing_data == FRAME + FRAME
    assert conn.receive_data(b"more") == []
    assert conn.trailing_data == FRAME + FRAME + b"more"
    with pytest.raises(LocalProtocolError):
        conn.send(Data(data=b"x"))


def test_declined_upgrade_resumes_http():
    conn = server()
    events = conn.receive_data(WEBSOCKET_UPGRADE + GET)
    assert len(events) == 2
    conn.send(Response(status_code=426, headers=[("Content-Length", "0")]))
    assert conn.their_state is IDLE
    assert not conn.reading_paused
    conn.send(EndOfMessage())
    [request, _] = conn.receive_data(b"")
    assert request.target == "/index.html"


def test_101_needs_an_upgrade_request():
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(LocalProtocolError, match="Upgrade"):
        conn.send(SWITCHING)


def test_101_needs_an_upgrade_header():
    conn = server()
    conn.receive_data(WEBSOCKET_UPGRADE)
    with pytest.raises(LocalProtocolError, match="Upgrade header"):
        conn.send(InformationalResponse(status_code=101))


def test_upgrade_is_ignored_in_http10():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n")
    assert conn.their_state is DONE
    assert not conn.reading_paused


def test_100_continue_before_switching():
    conn = server()
    raw = (
        b"POST / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nContent-Length: 2\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    conn.receive_data(raw)
    conn.send(InformationalResponse(status_code=100))
    with pytest.raises(LocalProtocolError, match="complete request"):
        conn.send(SWITCHING)


def test_connect_tunnel():
    conn = server()
    raw = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"
    [request, _] = conn.receive_data(raw)
    assert request.target == "example.com:443"
    assert conn.their_state is State.MIGHT_SWITCH_PROTOCOL
    assert conn.send(Response(status_code=200)) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert conn.our_state is conn.their_state is State.SWITCHED_PROTOCOL
    assert conn.trailing_data == b"\x16\x03\x01"


def test_connect_refused_is_an_ordinary_response():
    conn = server()
    conn.receive_data(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    conn.send(Response(status_code=407, headers=[("Content-Length", "0")]))
    conn.send(EndOfMessage())
    assert (conn.our_state, conn.their_state) == (IDLE, IDLE)


def test_connect_success_cannot_have_framing_headers():
    conn = server()
    conn.receive_data(b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n")
    with pytest.raises(LocalProtocolError, match="CONNECT"):
        conn.send(Response(status_code=200, headers=[("Content-Length", "0")]))


# Pipelining


def test_three_pipelined_requests_in_one_buffer():
    conn = server()
    raw = (
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = conn.receive_data(raw)
    assert [getattr(e, "target", type(e).__name__) for e in events] == [
        "/1",
        "EndOfMessage",
        "/2",
        "Data",
        "EndOfMessage",
        "/3",
        "EndOfMessage",
    ]
    # Responses go out in order, each answering the oldest request.
    for body in (b"one", b"two", b"three"):
        assert conn.keep_alive
        assert answer(conn, body).endswith(body)
    with pytest.raises(LocalProtocolError, match="no request"):
        conn.send(Response(status_code=200))


def test_pipelining_pauses_at_the_limit_and_resumes():
    conn = Connection(Role.SERVER, limits=Limits(max_pipelined_requests=2))
    events = conn.receive_data(GET * 3)
    assert len(events) == 4
    assert conn.reading_paused
    assert conn.receive_data(b"") == []
    answer(conn)
    assert not conn.reading_paused
    assert len(conn.receive_data(b"")) == 2
    assert conn.reading_paused


def test_eof_while_paused_comes_after_the_buffered_requests():
    conn = Connection(Role.SERVER, limits=Limits(max_pipelined_requests=1))
    assert len(conn.receive_data(GET * 2)) == 2
    assert conn.receive_eof() == []
    answer(conn)
    events = conn.receive_data(b"")
    assert [type(e) for e in events] == [Request, EndOfMessage, ConnectionClosed]


def test_pipelined_request_after_close_is_ignored():
    conn = server()
    events = conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + GET)
    assert len(events) == 2
    assert conn.their_state is DONE


def test_closing_response_drops_later_pipelined_requests():
    conn = server()
    assert len(conn.receive_data(GET * 3)) == 6
    conn.send(Response(status_code=503, headers=[("Content-Length", "0"), ("Connection", "close")]))
    conn.send(EndOfMessage())
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, MUST_CLOSE)


# End of file


def test_eof_between_requests():
    conn = server()
    conn.receive_data(GET)
    answer(conn)
    assert conn.receive_eof() == [ConnectionClosed()]
    assert conn.their_state is State.CLOSED
    assert conn.receive_eof() == []
    with pytest.raises(LocalProtocolError, match="after receive_eof"):
        conn.receive_data(b"x")


def test_eof_in_the_middle_of_a_head():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.1\r\nHo")
    with pytest.raises(RemoteProtocolError, match="middle of a message head") as info:
        conn.receive_eof()
    assert info.value.status_hint is None


def test_eof_in_the_middle_of_a_body():
    conn = server()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab")
    with pytest.raises(RemoteProtocolError, match="middle of a message body") as info:
        conn.receive_eof()
    assert info.value.status_hint is None
    assert conn.their_state is State.ERROR


def test_eof_while_a_request_is_answered_later():
    conn = server()
    conn.receive_data(GET)
    assert conn.receive_eof() == [ConnectionClosed()]
    # A half-closed client still gets its answer.
    answer(conn)
    assert conn.our_state is IDLE


# Answering a broken request


def test_error_response_after_a_remote_error():
    conn = server()
    with pytest.raises(RemoteProtocolError) as info:
        conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n")
    assert info.value.status_hint == 400
    assert conn.their_state is State.ERROR
    out = conn.send(Response(status_code=info.value.status_hint))
    assert out == b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
    conn.send(Data(data=b"bad request\n"))
    conn.send(EndOfMessage())
    assert conn.our_state is MUST_CLOSE


def test_error_response_in_order_after_good_pipelined_requests():
    conn = server()
    conn.receive_data(GET)
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(b"GET / HTTP/2.0\r\n\r\n")
    answer(conn, b"first")
    assert conn.our_state is IDLE
    out = conn.send(Response(status_code=505, headers=[("Content-Length", "0")]))
    assert out == (
        b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


def test_body_limit_can_be_raised_per_connection():
    conn = Connection(Role.SERVER, limits=Limits(max_body_size=4))
    conn.max_body_size = 10
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n12345678"
    assert conn.receive_data(raw)[1:] == [Data(data=b"12345678"), EndOfMessage()]


def test_body_limit_lowered_mid_body_applies():
    conn = server()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n1234")
    conn.max_body_size = 6
    with pytest.raises(RemoteProtocolError) as info:
        conn.receive_data(b"5678")
    assert info.value.status_hint == 413


def test_repr_and_headers_type():
    conn = server()
    request = conn.receive_data(GET)[0]
    assert isinstance(request.headers, Headers)
    assert repr(conn) == "<Connection server our_state=IDLE their_state=IDLE>"


def test_module_docstring_example_runs():
    import textwrap

    import longwire.http1

    example = longwire.http1.__doc__.split("::\n", 1)[1].split("\n\nErrors", 1)[0]
    code = textwrap.dedent(example)

    class FakeSocket:
        def __init__(self, chunks):
            self.chunks = list(chunks)
            self.sent = b""

        def recv(self, size):
            return self.chunks.pop(0) if self.chunks else b""

        def sendall(self, data):
            self.sent += data

        def close(self):
            pass

    sock = FakeSocket([GET[:10], GET[10:] + GET])
    exec(code, {"sock": sock})
    assert sock.sent == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n" * 2


def test_keep_alive_reports_the_current_cycle_with_a_closing_request_queued():
    conn = server()
    conn.receive_data(GET + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert conn.their_state is DONE
    assert conn.keep_alive  # the first cycle can be followed by the second...
    assert b"Connection" not in answer(conn)
    assert not conn.keep_alive  # ...which is the last
    assert answer(conn).endswith(b"Connection: close\r\n\r\n")
    assert (conn.our_state, conn.their_state) == (MUST_CLOSE, MUST_CLOSE)


def test_http10_keep_alive_request_answered_with_close():
    conn = server()
    conn.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    out = answer(conn, Connection="close")
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert conn.our_state is MUST_CLOSE
