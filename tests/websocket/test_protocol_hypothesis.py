"""Property tests: any messages, fragmented and chopped any way, arrive exactly as sent."""

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from ws_testing import split_frames

from longwire import Role
from longwire.websocket._deflate import PerMessageDeflate
from longwire.websocket._events import ConnectionFailed, Message, Ping, Pong
from longwire.websocket._protocol import Connection

BOUNDARIES = [0, 1, 125, 126, 127, 65535, 65536, 70000]
ALPHABET = "aZ0 é✓🎉\u07ff\u0800\uffff\U00010000"  # 1- to 4-byte UTF-8 sequences


def make_message(kind: str, size: int, seed: int) -> str | bytes:
    rng = random.Random(seed)
    if kind == "binary":
        return rng.randbytes(size)
    # `size` characters; a quarter of the time ASCII only, which is `size` bytes exactly.
    alphabet = "abc" if seed % 4 == 0 else ALPHABET
    return "".join(rng.choices(alphabet, k=size))


messages = st.builds(
    make_message,
    st.sampled_from(["text", "binary"]),
    st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 70000)),
    st.integers(0, 2**32),
)


def deflate_pair() -> tuple:
    settings_ = PerMessageDeflate()
    params, server_runtime = settings_.server_accept([settings_.client_offer()])
    return settings_.client_accept(params), server_runtime


def chop(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(edges)]


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(messages, min_size=1, max_size=4),
    fragment_size=st.one_of(st.none(), st.integers(1, 70000), st.sampled_from([1, 125, 126])),
    from_client=st.booleans(),
    compress=st.booleans(),
    ping_slots=st.lists(st.integers(0, 10_000), max_size=4),
    cuts=st.lists(st.integers(0, 10**7), max_size=20),
)
def test_messages_round_trip(*, messages, fragment_size, from_client, compress, ping_slots, cuts):
    client_deflate, server_deflate = deflate_pair() if compress else (None, None)
    client = Connection(Role.CLIENT, deflate=client_deflate, max_message_size=None)
    server = Connection(Role.SERVER, deflate=server_deflate, max_message_size=None)
    sender, receiver = (client, server) if from_client else (server, client)

    for message in messages:
        sender.send_message(message, fragment_size=fragment_size)
    frames = split_frames(sender.data_to_send())

    # Pings go between any two frames, inside fragmented messages too (RFC 6455 §5.4).
    for i, slot in enumerate(ping_slots):
        payload = f"ping {i}".encode()
        sender.send_ping(payload)
        frames.insert(slot % (len(frames) + 1), sender.data_to_send())
    stream = b"".join(frames)
    ping_order = [frame for frame in split_frames(stream) if frame[0] == 0x89]
    expected_pings = [Ping(payload=_ping_payload(frame)) for frame in ping_order]

    events = []
    for piece in chop(stream, cuts):
        events += receiver.receive_data(piece)

    assert [e for e in events if isinstance(e, Message)] == [Message(data=m) for m in messages]
    assert [e for e in events if isinstance(e, Ping)] == expected_pings
    # Every Ping was answered with a Pong carrying the same payload.
    pongs = sender.receive_data(receiver.data_to_send())
    assert pongs == [Pong(payload=ping.payload) for ping in expected_pings]


def _ping_payload(frame: bytes) -> bytes:
    payload = frame[2:]
    if frame[1] & 0x80:
        mask, payload = payload[:4], payload[4:]
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return payload


@settings(max_examples=100, deadline=None)
@given(
    messages=st.lists(messages, min_size=1, max_size=3),
    fragment_size=st.one_of(st.none(), st.integers(1, 1000)),
    cuts=st.lists(st.integers(0, 10**7), max_size=30),
    close_code=st.one_of(st.none(), st.sampled_from([1000, 1001, 3000, 4999])),
)
def test_chop_invariance(messages, fragment_size, cuts, close_code):
    """However the stream is cut, the events and the answers are the same."""
    client = Connection(Role.CLIENT, max_message_size=None)
    for message in messages:
        client.send_message(message, fragment_size=fragment_size)
        client.send_ping(b"between")
    if close_code is not None:
        client.close(close_code, "bye")
        client.send_ping(b"ignored")
    # Ignored after a Close frame; without one, a violation (an unmasked frame).
    stream = client.data_to_send() + b"trailing garbage"

    whole = Connection(Role.SERVER, max_message_size=None)
    expected = whole.receive_data(stream)
    chopped = Connection(Role.SERVER, max_message_size=None)
    events = []
    for piece in chop(stream, cuts):
        events += chopped.receive_data(piece)

    assert comparable(events) == comparable(expected)
    assert chopped.data_to_send() == whole.data_to_send()
    assert (chopped.state, chopped.close_received) == (whole.state, whole.close_received)


def comparable(events: list) -> list:
    """The events, each ConnectionFailed (its exception compares by identity) as code and reason."""
    return [
        (event.code, event.reason) if isinstance(event, ConnectionFailed) else event
        for event in events
    ]
