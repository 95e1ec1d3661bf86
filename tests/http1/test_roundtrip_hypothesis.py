"""Property tests: what one side sends, the other parses back, however the bytes are chopped."""

from http import HTTPStatus

from hypothesis import given, settings
from hypothesis import strategies as st

from longwire import Role
from longwire.http1 import Connection, Data, EndOfMessage, Request, Response

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# field-vchar (VCHAR and obs-text, as latin-1 code points), plus SP and HTAB inside.
FIELD_VCHAR = "".join(map(chr, [*range(0x21, 0x7F), *range(0x80, 0x100)]))
# Fields whose meaning the core acts on: the tests add the framing ones themselves.
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"}

names = st.text(TCHAR, min_size=1, max_size=16).filter(lambda name: name.lower() not in RESERVED)
values = st.text(FIELD_VCHAR + " \t", max_size=40).map(lambda value: value.strip(" \t"))
fields = st.lists(st.tuples(names, values), max_size=8)
methods = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    st.text(TCHAR, min_size=1, max_size=10).filter(lambda m: m not in ("CONNECT", "HEAD")),
)
targets = st.text("".join(map(chr, range(0x21, 0x7F))), min_size=1, max_size=60).map(
    lambda target: "/" + target
)
bodies = st.binary(max_size=3000)
cut_points = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=12)


@st.composite
def bodies_in_pieces(draw) -> tuple[bytes, list[bytes]]:
    """A body and the Data pieces it is sent in (empty pieces included)."""
    body = draw(bodies)
    splits = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
    pieces = [body[a:b] for a, b in zip([0, *splits], [*splits, len(body)], strict=True)]
    return body, pieces


@st.composite
def requests(draw) -> tuple[Request, list[bytes], EndOfMessage, bytes]:
    """A request with Content-Length or chunked framing, its body pieces and its end."""
    body, pieces = draw(bodies_in_pieces())
    headers = [("Host", "example.com"), *draw(fields)]
    trailers = []
    if draw(st.booleans()):
        headers.append(("Transfer-Encoding", "chunked"))
        trailers = draw(fields)
    else:
        headers.append(("Content-Length", str(len(body))))
    request = Request(method=draw(methods), target=draw(targets), headers=headers)
    return request, pieces, EndOfMessage(trailers=trailers), body


@st.composite
def responses(draw) -> tuple[Response, list[bytes], EndOfMessage, Response, bytes]:
    """A response to send (framing by Content-Length, by the app's chunked, or left to
    the core), its body pieces, its end, and the response the client should parse."""
    status = draw(st.integers(200, 599).filter(lambda status: status not in (204, 304)))
    reason = draw(st.one_of(st.just(""), st.text(FIELD_VCHAR + " \t", max_size=20)))
    body, pieces = draw(bodies_in_pieces())
    headers = draw(fields)
    framing = draw(st.sampled_from(["length", "chunked", "auto"]))
    trailers = [] if framing == "length" else draw(fields)
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    received = [*headers, ("Transfer-Encoding", "chunked")] if framing == "auto" else headers
    try:
        default_reason = HTTPStatus(status).phrase
    except ValueError:
        default_reason = "Unknown"
    return (
        Response(status_code=status, reason=reason, headers=headers),
        pieces,
        EndOfMessage(trailers=trailers),
        Response(status_code=status, reason=reason or default_reason, headers=received),
        body,
    )


def chopped(conn: Connection, wire: bytes, cuts: list[int], feed) -> list:
    return feed(conn, wire, [cut % (len(wire) + 1) for cut in cuts])


@settings(deadline=None, max_examples=150)
@given(messages=st.lists(requests(), min_size=1, max_size=4), cuts=cut_points)
def test_requests_round_trip(messages, cuts, feed, merge_data):
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    wire = b""
    expected = []
    for request, pieces, end, body in messages:
        wire += client.send(request)
        for piece in pieces:
            wire += client.send(Data(data=piece))
        wire += client.send(end)
        expected += [request, Data(data=body), end]
    events = chopped(server, wire, cuts, feed)
    assert merge_data(events) == merge_data(expected)
    assert server.their_state is client.our_state


@settings(deadline=None, max_examples=150)
@given(messages=st.lists(responses(), min_size=1, max_size=3), cuts=cut_points)
def test_responses_round_trip(messages, cuts, feed, merge_data):
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    get = Request(method="GET", target="/", headers=[("Host", "h")])
    for _ in messages:
        server.receive_data(client.send(get) + client.send(EndOfMessage()))
    wire = b""
    expected = []
    for response, pieces, end, received, body in messages:
        wire += server.send(response)
        for piece in pieces:
            wire += server.send(Data(data=piece))
        wire += server.send(end)
        expected += [received, Data(data=body), end]
    events = chopped(client, wire, cuts, feed)
    assert merge_data(events) == merge_data(expected)
    assert client.our_state is client.their_state is server.our_state
