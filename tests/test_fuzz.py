"""Hostile bytes never crash a core: they give events, or the documented error and code.

Inputs are random bytes and, more effectively, valid streams with random bytes
flipped, inserted or deleted, fed at random split points.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from longwire import RemoteProtocolError, Role, http1
from longwire.websocket import Connection, ConnectionFailed, PerMessageDeflate

HTTP_STATUSES = {400, 413, 414, 431, 501, 505}
CLOSE_CODES = {1002, 1007, 1008, 1009}

VALID_REQUESTS = (
    b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\n\r\n"
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
    b"PUT /x HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"
)
VALID_RESPONSES = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\nX-A: b\r\n c\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    b"HTTP/1.0 200 OK\r\n\r\nuntil close"
)


def valid_frames(role_of_sender: Role) -> bytes:
    """A stream with every frame kind, as a ``role_of_sender`` endpoint sends it."""
    sender = Connection(role_of_sender)
    sender.send_message("héllo", fragment_size=3)
    sender.send_ping(b"p")
    sender.send_message(bytes(300))
    sender.send_message(b"x" * 70000, fragment_size=65536)
    sender.close(1000, "bye")
    return sender.data_to_send()


CLIENT_FRAMES = valid_frames(Role.CLIENT)
SERVER_FRAMES = valid_frames(Role.SERVER)


@st.composite
def mutated(draw, valid: bytes):
    data = bytearray(draw(st.sampled_from([valid, b""])) or draw(st.binary(max_size=200)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        position = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["flip", "insert", "delete"]))
        if operation == "flip":
            data[position] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[position : position + draw(st.integers(1, 8))]
    return bytes(data)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


CUTS = st.lists(st.integers(0, 1 << 20), max_size=8)


def drive_http(role: Role, pieces: list[bytes]) -> None:
    conn = http1.Connection(role, limits=http1.Limits(max_body_size=50_000))
    if role is Role.CLIENT:
        for method in ("GET", "HEAD", "POST", "GET", "GET", "GET"):
            conn.send(http1.Request(method=method, target="/", headers=[("Host", "a")]))
            conn.send(http1.EndOfMessage())
            # The client core may be in a state where it cannot send another request.
            if conn.our_state is not http1.State.IDLE:
                break
    error = eof_error = None
    try:
        for piece in pieces:
            conn.receive_data(piece)
    except RemoteProtocolError as exc:
        error = exc
    if error is not None:
        # A server gets the status to answer with; a client has nobody to answer.
        expected = HTTP_STATUSES if role is Role.SERVER else {None}
        assert error.status_hint in expected, error
        assert error.message
        return
    try:
        conn.receive_eof()
    except RemoteProtocolError as exc:
        eof_error = exc
    if eof_error is not None:
        # Cut off mid-message: the peer is gone, there is nothing to answer.
        assert eof_error.status_hint is None, eof_error
        assert "in the middle of" in eof_error.message


@settings(max_examples=300)
@given(data=mutated(VALID_REQUESTS), cuts=CUTS)
def test_http_server_survives_mutated_requests(data, cuts):
    drive_http(Role.SERVER, split(data, cuts))


@settings(max_examples=300)
@given(data=mutated(VALID_RESPONSES), cuts=CUTS)
def test_http_client_survives_mutated_responses(data, cuts):
    drive_http(Role.CLIENT, split(data, cuts))


def drive_websocket(role: Role, pieces: list[bytes], deflate: bool) -> None:
    runtime = None
    if deflate:
        settings_ = PerMessageDeflate()
        params, server_runtime = settings_.server_accept([settings_.client_offer()])
        runtime = server_runtime if role is Role.SERVER else settings_.client_accept(params)
    conn = Connection(role, deflate=runtime, max_message_size=100_000)
    events = []
    for piece in pieces:
        events += conn.receive_data(piece)
    conn.receive_eof()
    failures = [event for event in events if isinstance(event, ConnectionFailed)]
    if failures:
        assert events[-1] is failures[0], "ConnectionFailed must be the last event"
        assert failures[0].code in CLOSE_CODES
        # The close frame for the failure was queued (unless ours was already sent).
        assert conn.close_sent is not None


@settings(max_examples=300)
@given(data=mutated(CLIENT_FRAMES), cuts=CUTS, deflate=st.booleans())
def test_websocket_server_survives_mutated_frames(data, cuts, deflate):
    drive_websocket(Role.SERVER, split(data, cuts), deflate)


@settings(max_examples=300)
@given(data=mutated(SERVER_FRAMES), cuts=CUTS, deflate=st.booleans())
def test_websocket_client_survives_mutated_frames(data, cuts, deflate):
    drive_websocket(Role.CLIENT, split(data, cuts), deflate)
