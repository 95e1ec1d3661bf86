"""permessage-deflate's per-message transform (RFC 7692 §7.2), byte for byte."""

import random
import time
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate as TheirDeflate
from websockets.frames import Frame, Opcode

from longwire import RemoteProtocolError, Role
from longwire.websocket._deflate import DeflateParameters, PerMessageDeflateRuntime

HELLO = b"Hello"
MiB = 1 << 20


def runtime(role: Role = Role.CLIENT, **agreed: Any) -> PerMessageDeflateRuntime:
    return PerMessageDeflateRuntime(role, DeflateParameters(**agreed))


def pair(**agreed: Any) -> tuple[PerMessageDeflateRuntime, PerMessageDeflateRuntime]:
    """A (server, client) pair that agreed on ``agreed``."""
    return runtime(Role.SERVER, **agreed), runtime(Role.CLIENT, **agreed)


def inflate(rt: PerMessageDeflateRuntime, *frames: bytes, max_size: int | None = None) -> bytes:
    """Feed one compressed message, split into ``frames``, and join the output.

    ``max_size`` bounds the whole message, as the protocol core does: each frame
    gets what is left of it.
    """
    out = b""
    for i, frame in enumerate(frames):
        room = None if max_size is None else max_size - len(out)
        out += rt.decompress(frame, fin=i == len(frames) - 1, max_size=room)
    return out


def deflate(rt: PerMessageDeflateRuntime, message: bytes) -> bytes:
    """Compress a message that must come out compressed."""
    payload = rt.compress(message)
    assert payload is not None
    return payload


def varied_data(size: int, seed: int = 0) -> bytes:
    """Compressible data with repeats at every distance up to 32 KiB, plus noise."""
    rng = random.Random(seed)
    out = bytearray(rng.randbytes(64))
    while len(out) < size:
        if rng.random() < 0.3:
            out += rng.randbytes(rng.randrange(1, 40))
        else:
            length = rng.randrange(3, 200)
            start = max(0, len(out) - rng.randrange(length, 33_000))
            out += out[start : start + length]
    return bytes(out[:size])


# RFC 7692 §7.2.3: the examples.


def test_rfc_7_2_3_1_a_message_compressed_in_one_block():
    server, client = pair()
    assert server.compress(HELLO) == bytes.fromhex("f2 48 cd c9 c9 07 00")
    assert inflate(client, bytes.fromhex("f2 48 cd c9 c9 07 00")) == HELLO


def test_rfc_7_2_3_1_the_same_message_fragmented():
    _, client = pair()
    assert inflate(client, bytes.fromhex("f2 48 cd"), bytes.fromhex("c9 c9 07 00")) == HELLO


def test_rfc_7_2_3_2_sharing_the_sliding_window():
    server, client = pair()
    first, second = server.compress(HELLO), server.compress(HELLO)
    assert first == bytes.fromhex("f2 48 cd c9 c9 07 00")
    assert second == bytes.fromhex("f2 00 11 00 00")
    assert inflate(client, first) == HELLO
    assert inflate(client, second) == HELLO


def test_rfc_7_2_3_3_a_block_with_no_compression():
    _, client = pair()
    payload = bytes.fromhex("00 05 00 fa ff 48 65 6c 6c 6f 00")
    assert inflate(client, payload) == HELLO
    assert inflate(client, payload) == HELLO  # the window is intact for the next message


def test_rfc_7_2_3_4_a_block_with_bfinal_set():
    _, client = pair()
    assert inflate(client, bytes.fromhex("f3 48 cd c9 c9 07 00 00")) == HELLO
    # The stream ended; the next message must still decode, not vanish into unused data.
    assert inflate(client, bytes.fromhex("f2 48 cd c9 c9 07 00")) == HELLO
    assert inflate(client, bytes.fromhex("f2 00 11 00 00")) == HELLO


def test_rfc_7_2_3_5_two_blocks_in_one_message():
    _, client = pair()
    assert inflate(client, bytes.fromhex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")) == HELLO


def test_rfc_7_2_3_6_an_empty_final_fragment():
    # A sender that learns the message ended only after flushing sends 0x00 last.
    _, client = pair()
    flushed = bytes.fromhex("f2 48 cd c9 c9 07 00 00 00 ff ff")
    assert inflate(client, flushed, b"\x00") == HELLO
    assert inflate(client, b"\x00") == b""  # an empty message, the same way
    assert inflate(client, bytes.fromhex("f2 00 11 00 00")) == HELLO


# RFC 7692 §7.2.1: streams may end (BFINAL) and go on within a message.


def finished_stream(data: bytes) -> bytes:
    encoder = zlib.compressobj(6, zlib.DEFLATED, -15)
    return encoder.compress(data) + encoder.flush(zlib.Z_FINISH)


def sync_flushed(data: bytes) -> bytes:
    encoder = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_a_new_stream_after_a_bfinal_block_in_one_message():
    _, client = pair()
    payload = finished_stream(b"Hello") + sync_flushed(b"World")
    assert inflate(client, payload) == b"HelloWorld"


def test_a_new_stream_after_a_bfinal_block_in_the_next_fragment():
    _, client = pair()
    assert inflate(client, finished_stream(b"Hello"), sync_flushed(b"World")) == b"HelloWorld"


def test_a_message_ending_exactly_at_a_bfinal_block_leaves_the_next_intact():
    _, client = pair()
    assert inflate(client, finished_stream(b"Hello")) == HELLO
    assert inflate(client, sync_flushed(b"World")) == b"World"


def test_an_empty_payload_is_an_empty_message_and_leaves_the_window_alone():
    _, client = pair()
    assert inflate(client, bytes.fromhex("f2 48 cd c9 c9 07 00")) == HELLO
    assert inflate(client, b"") == b""
    assert inflate(client, b"", b"") == b""
    assert inflate(client, bytes.fromhex("f2 00 11 00 00")) == HELLO


def test_too_many_streams_in_one_frame_fail_with_1008():
    _, client = pair()
    empty_final_block = b"\x03\x00"  # BFINAL, fixed Huffman, end of block
    with pytest.raises(RemoteProtocolError) as caught:
        inflate(client, empty_final_block * 100)
    assert caught.value.close_code == 1008
    assert client.live_contexts == 0


# Context takeover (RFC 7692 §7.1.1) on each side.


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_context_takeover_of_our_compressor(role, no_context_takeover):
    side = "server" if role is Role.SERVER else "client"
    sender = runtime(role, **{f"{side}_no_context_takeover": no_context_takeover})
    message = b"a message compressed twice " * 3
    first, second = deflate(sender, message), deflate(sender, message)
    if no_context_takeover:
        assert second == first
    else:
        assert len(second) < len(first)
    peer = runtime(Role.CLIENT if role is Role.SERVER else Role.SERVER)
    assert inflate(peer, first) == message
    assert inflate(peer, second) == message


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
def test_the_peers_no_context_takeover_lets_our_decompressor_forget(role):
    peer_side = "client" if role is Role.SERVER else "server"
    receiver = runtime(role, **{f"{peer_side}_no_context_takeover": True})
    assert inflate(receiver, bytes.fromhex("f2 48 cd c9 c9 07 00")) == HELLO
    assert receiver.live_contexts == 0
    # This message refers back to the previous one, which the peer promised not to do.
    with pytest.raises(RemoteProtocolError) as caught:
        inflate(receiver, bytes.fromhex("f2 00 11 00 00"))
    assert caught.value.close_code == 1007


def test_each_side_follows_its_own_parameters():
    server, client = pair(server_no_context_takeover=True)
    message = b"which side resets? " * 4
    assert server.compress(message) == server.compress(message)
    first, second = deflate(client, message), deflate(client, message)
    assert len(second) < len(first)
    assert inflate(server, first) == message
    assert inflate(server, second) == message


# Window sizes (RFC 7692 §7.1.2).


@pytest.mark.parametrize("bits", range(9, 16))
def test_every_window_from_9_to_15_round_trips(bits):
    data = varied_data(100_000, seed=bits)
    for sender_role, side in [(Role.SERVER, "server"), (Role.CLIENT, "client")]:
        sender = runtime(sender_role, **{f"{side}_max_window_bits": bits})
        receiver = runtime(
            Role.CLIENT if sender_role is Role.SERVER else Role.SERVER,
            **{f"{side}_max_window_bits": bits},
        )
        # The sender keeps to the agreed window: a decoder with exactly that window copes.
        strict = zlib.decompressobj(-bits)
        for _ in range(3):
            payload = deflate(sender, data)
            assert len(payload) < len(data)
            assert inflate(receiver, payload) == data
            assert strict.decompress(payload + b"\x00\x00\xff\xff") == data


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
def test_an_8_bit_window_for_our_messages_means_sending_them_uncompressed(role):
    side = "server" if role is Role.SERVER else "client"
    sender = runtime(role, **{f"{side}_max_window_bits": 8})
    assert sender.compress(b"x" * 1000) is None
    assert sender.live_contexts == 0


def test_an_8_bit_window_for_the_peers_messages_decompresses():
    data = varied_data(300, seed=8) * 20  # repeats 300 bytes apart: beyond an 8-bit window
    short_range = bytes(range(200)) * 50  # repeats 200 bytes apart: within it
    _, client = pair(server_max_window_bits=8)
    for message in (short_range, data):
        # What a peer whose zlib turns 8 into 9 (as Node.js does) sends; and the
        # short-range message is exactly what a true 8-bit compressor could send.
        encoder = zlib.compressobj(6, zlib.DEFLATED, -9)
        payload = (encoder.compress(message) + encoder.flush(zlib.Z_SYNC_FLUSH))[:-4]
        assert inflate(client, payload) == message


# Limits: zip bombs and corrupt data.


def zeros_bomb(size: int) -> bytes:
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    parts = [encoder.compress(chunk) for _ in range(size // MiB)]
    parts.append(encoder.flush(zlib.Z_SYNC_FLUSH)[:-4])
    return b"".join(parts)


def test_a_zip_bomb_stops_at_max_size_without_inflating_it():
    bomb = zeros_bomb(100 * MiB)
    assert len(bomb) < 200_000
    _, client = pair()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(RemoteProtocolError) as caught:
            client.decompress(bomb, fin=True, max_size=MiB)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.close_code == 1009
    assert peak < 4 * MiB
    assert elapsed < 2  # inflating 100 MiB would be the slow part
    assert client.live_contexts == 0  # the unread rest of the bomb is let go


def test_a_zip_bomb_over_many_frames_stops_at_the_remaining_budget():
    bomb = zeros_bomb(100 * MiB)
    _, client = pair()
    budget = MiB
    with pytest.raises(RemoteProtocolError) as caught:  # noqa: PT012
        for start in range(0, len(bomb), 4096):
            budget -= len(client.decompress(bomb[start : start + 4096], fin=False, max_size=budget))
    assert caught.value.close_code == 1009


@pytest.mark.parametrize("fragments", [1, 3])
def test_max_size_is_inclusive(fragments):
    message = varied_data(10_000)
    payload = deflate(runtime(Role.SERVER), message)
    cut = len(payload) // fragments
    frames = [payload[i * cut : (i + 1) * cut] for i in range(fragments - 1)]
    frames.append(payload[(fragments - 1) * cut :])
    assert inflate(runtime(), *frames, max_size=len(message)) == message
    with pytest.raises(RemoteProtocolError) as caught:
        inflate(runtime(), *frames, max_size=len(message) - 1)
    assert caught.value.close_code == 1009


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # reserved block type 11
        bytes.fromhex("00 05 00 00 00 48 65 6c 6c 6f 00"),  # stored block, LEN != ~NLEN
        bytes.fromhex("f2 00 11 00 00"),  # a reference back into an empty window
    ],
    ids=["reserved-block-type", "stored-length-mismatch", "distance-too-far-back"],
)
def test_corrupt_data_fails_with_1007(payload):
    client = runtime()
    with pytest.raises(RemoteProtocolError) as caught:
        inflate(client, payload)
    assert caught.value.close_code == 1007
    assert client.live_contexts == 0


# Lazy allocation and release of zlib objects.


def test_a_fresh_runtime_holds_no_zlib_object():
    server, client = pair()
    assert server.live_contexts == client.live_contexts == 0


def test_objects_are_created_on_first_use_and_kept_with_context_takeover():
    server, client = pair()
    payload = deflate(server, b"first message")
    assert server.live_contexts == 1
    inflate(client, payload)
    assert client.live_contexts == 1
    client.compress(b"answer")
    assert client.live_contexts == 2


def test_no_context_takeover_frees_objects_after_each_message():
    server, client = pair(server_no_context_takeover=True, client_no_context_takeover=True)
    payload = deflate(server, b"first message")
    assert server.live_contexts == 0
    head = client.decompress(payload[:3], fin=False, max_size=None)
    assert client.live_contexts == 1  # mid-message
    assert head + client.decompress(payload[3:], fin=True, max_size=None) == b"first message"
    assert client.live_contexts == 0
    client.compress(b"answer")
    assert client.live_contexts == 0


def test_short_and_empty_messages_go_uncompressed_without_allocating():
    sender = PerMessageDeflateRuntime(Role.SERVER, DeflateParameters(), min_size=10)
    assert sender.compress(b"") is None
    assert sender.compress(b"123456789") is None
    assert sender.live_contexts == 0
    assert sender.compress(b"1234567890") is not None
    assert runtime(Role.SERVER).compress(b"") is None


# Any chop of a compressed message into frames decodes the same.


@given(
    message=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=6),
)
def test_any_fragmentation_decodes_the_same(message, cuts):
    server, client = pair()
    for _ in range(2):  # the second message exercises the shared window
        payload = deflate(server, message + b"!")
        points = sorted({min(cut, len(payload)) for cut in cuts})
        frames = [payload[a:b] for a, b in zip([0, *points], [*points, len(payload)], strict=True)]
        assert inflate(client, *frames) == message + b"!"


# Interoperability with the websockets library's own implementation (zlib level).


def their_extension(role: Role, agreed: DeflateParameters) -> TheirDeflate:
    """websockets' extension object for the peer of a runtime in ``role``."""
    server = (agreed.server_no_context_takeover, agreed.server_max_window_bits or 15)
    client = (agreed.client_no_context_takeover, agreed.client_max_window_bits or 15)
    local, remote = (client, server) if role is Role.SERVER else (server, client)
    return TheirDeflate(remote[0], local[0], remote[1], local[1], {"memLevel": 5})


INTEROP_AGREEMENTS = [
    DeflateParameters(),
    DeflateParameters(server_no_context_takeover=True),
    DeflateParameters(client_no_context_takeover=True),
    DeflateParameters(server_no_context_takeover=True, client_no_context_takeover=True),
    DeflateParameters(server_max_window_bits=10, client_max_window_bits=12),
]
INTEROP_MESSAGES = [HELLO, HELLO, varied_data(50_000, seed=1), varied_data(50_000, seed=1), b"x"]


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
@pytest.mark.parametrize("agreed", INTEROP_AGREEMENTS, ids=repr)
def test_interop_with_websockets(role, agreed):
    ours = PerMessageDeflateRuntime(role, agreed)
    theirs = their_extension(role, agreed)
    for message in INTEROP_MESSAGES:
        # Ours to theirs, in one frame and in three.
        payload = deflate(ours, message)
        decoded = theirs.decode(Frame(Opcode.BINARY, payload, rsv1=True))
        assert decoded.data == message
        payload = deflate(ours, message)
        third = len(payload) // 3
        frames = [
            Frame(Opcode.BINARY, payload[:third], fin=False, rsv1=True),
            Frame(Opcode.CONT, payload[third : 2 * third], fin=False),
            Frame(Opcode.CONT, payload[2 * third :]),
        ]
        assert b"".join(theirs.decode(frame).data for frame in frames) == message

        # Theirs to ours, in one frame and in three (each frame flushed by them).
        encoded = theirs.encode(Frame(Opcode.BINARY, message))
        assert encoded.rsv1
        assert inflate(ours, encoded.data) == message
        third = len(message) // 3
        frames = [
            Frame(Opcode.BINARY, message[:third], fin=False),
            Frame(Opcode.CONT, message[third : 2 * third], fin=False),
            Frame(Opcode.CONT, message[2 * third :]),
        ]
        assert inflate(ours, *(theirs.encode(frame).data for frame in frames)) == message


def test_interop_an_empty_message_from_websockets():
    ours = runtime(Role.SERVER)
    theirs = their_extension(Role.SERVER, DeflateParameters())
    encoded = theirs.encode(Frame(Opcode.TEXT, b""))
    assert encoded.data == b"\x00"  # RFC 7692 §7.2.3.6
    assert inflate(ours, encoded.data) == b""
    assert inflate(ours, theirs.encode(Frame(Opcode.TEXT, HELLO)).data) == HELLO


@given(frames=st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_arbitrary_input_decodes_within_bounds_or_fails_cleanly(frames):
    out, close_code = b"", None
    try:
        out = inflate(runtime(), *frames, max_size=1000)
    except RemoteProtocolError as exc:
        close_code = exc.close_code
    assert close_code in (None, 1007, 1008, 1009)
    assert len(out) <= 1000


def test_limit_applies_to_the_decompressed_size_not_the_wire_size():
    # An incompressible message grows a little when deflated: one of exactly
    # max_message_size bytes must still pass; one byte more must not.
    import os

    from longwire.websocket import ClientHandshake, Message, PerMessageDeflate, ServerHandshake

    handshake = ClientHandshake("example.com", deflate=PerMessageDeflate())
    offer = ServerHandshake.from_request(handshake.request)
    response, server = offer.accept(deflate=PerMessageDeflate(), max_message_size=1000)
    client = handshake.receive_response(response)
    payload = os.urandom(1000)
    client.send_message(payload)
    wire = client.data_to_send()
    assert len(wire) > 1000 + 6  # deflate made it bigger on the wire
    assert server.receive_data(wire) == [Message(data=payload)]
    client.send_message(os.urandom(1001))
    (failure,) = server.receive_data(client.data_to_send())
    assert failure.code == 1009
