"""Connection.send_response is send(Response) + send(Data) + send(EndOfMessage), in one call."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longwire import LocalProtocolError, Role
from longwire.http1 import Connection, Data, EndOfMessage, Response, State

METHODS = st.sampled_from(["GET", "HEAD", "POST", "OPTIONS"])
VERSIONS = st.sampled_from(["1.1", "1.0"])
STATUSES = st.sampled_from([200, 201, 204, 301, 304, 404, 500])
EXTRA_HEADERS = st.lists(
    st.sampled_from(
        [("Content-Type", "text/plain"), ("Connection", "close"), ("X-A", "1"),
         ("Connection", "keep-alive"), ("Cache-Control", "no-store")]
    ),
    max_size=3,
)


def _server_with_request(method, version, request_headers):
    conn = Connection(Role.SERVER)
    head = f"{method} / HTTP/{version}\r\nHost: x\r\n{request_headers}\r\n".encode()
    conn.receive_data(head)
    return conn


CASES = st.tuples(
    METHODS, VERSIONS, STATUSES, EXTRA_HEADERS, st.binary(max_size=40),
    st.sampled_from(["", "Connection: close\r\n", "Connection: keep-alive\r\n"]),
    st.booleans(),
)


@given(CASES)
def test_same_bytes_and_states_as_three_sends(case):
    method, version, status, extra, body, request_headers, chunked = case
    body_to_send = b"" if status in (204, 304) or method == "HEAD" else body
    headers = list(extra)
    if status != 204:
        if chunked and version == "1.1":
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(body_to_send))))
    one = _server_with_request(method, version, request_headers)
    three = _server_with_request(method, version, request_headers)

    def outcome(send):
        try:
            return send(), None
        except LocalProtocolError as exc:
            return None, str(exc)

    def three_sends():
        data = three.send(Response(status_code=status, headers=headers))
        if body_to_send:
            data += three.send(Data(data=body_to_send))
        return data + three.send(EndOfMessage())

    expected = outcome(three_sends)
    got = outcome(lambda: one.send_response(Response(status_code=status, headers=headers),
                                            body_to_send))
    assert got == expected
    assert (one.our_state, one.their_state, one.keep_alive) == (
        three.our_state, three.their_state, three.keep_alive)


def test_answers_pipelined_requests_in_turn():
    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(2):
        head = Response(status_code=200, headers=[("Content-Length", "2")])
        out = conn.send_response(head, b"ok")
        assert out.endswith(b"\r\n\r\nok")
    with pytest.raises(LocalProtocolError):
        conn.send_response(Response(status_code=200, headers=[("Content-Length", "0")]))


def test_body_that_does_not_match_content_length_is_refused():
    conn = _server_with_request("GET", "1.1", "")
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        conn.send_response(Response(status_code=200, headers=[("Content-Length", "5")]), b"abc")
    assert conn.our_state.name == "ERROR"


def test_connect_goes_the_long_way():
    conn = Connection(Role.SERVER)
    conn.receive_data(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send_response(Response(status_code=200), b"")


# send_external_data: body bytes written outside the core (sendfile)


def _answering(method: str = "GET") -> Connection:
    server = Connection(Role.SERVER)
    server.receive_data(f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return server


def test_external_data_counts_against_content_length():
    server = _answering()
    server.send(Response(status_code=200, headers=[("Content-Length", "10")]))
    server.send_external_data(6)
    assert server.send(Data(data=b"abcd")) == b"abcd"
    assert server.send(EndOfMessage()) == b""
    assert server.our_state is State.IDLE  # keep-alive: ready for the next request


def test_external_data_over_content_length_is_refused():
    server = _answering()
    server.send(Response(status_code=200, headers=[("Content-Length", "4")]))
    with pytest.raises(LocalProtocolError, match="more than the 4 bytes"):
        server.send_external_data(5)
    assert server.our_state is State.ERROR


def test_external_data_short_of_content_length_cannot_end():
    server = _answering()
    server.send(Response(status_code=200, headers=[("Content-Length", "4")]))
    server.send_external_data(3)
    with pytest.raises(LocalProtocolError, match="1 bytes of Content-Length not sent"):
        server.send(EndOfMessage())


def test_external_data_needs_content_length_framing():
    server = _answering()
    server.send(Response(status_code=200, headers=[("Transfer-Encoding", "chunked")]))
    with pytest.raises(LocalProtocolError, match="chunked"):
        server.send_external_data(1)


def test_external_data_refused_on_a_head_response():
    server = _answering("HEAD")
    server.send(Response(status_code=200, headers=[("Content-Length", "4")]))
    with pytest.raises(LocalProtocolError, match="no body"):
        server.send_external_data(4)


def test_external_data_refused_before_the_head():
    server = _answering()
    with pytest.raises(LocalProtocolError, match="cannot send Data when our_state is IDLE"):
        server.send_external_data(1)
