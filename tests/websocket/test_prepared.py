"""``PreparedMessage``: one frame built once, sent to many connections."""

from __future__ import annotations

import pytest
from ws_testing import MASK, client_frame, raw_frame, read_frames

from longwire import LocalProtocolError
from longwire._role import Role
from longwire.websocket import Connection, PerMessageDeflate, PreparedMessage


def test_rfc_5_7_a_single_frame_unmasked_text_message():
    # RFC 6455 §5.7: "0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f (contains "Hello")".
    message = PreparedMessage("Hello")
    assert b"".join(message.pieces) == bytes.fromhex("810548656c6c6f")
    assert message.size == 7


@pytest.mark.parametrize(
    ("data", "first"),
    [("é" * 100, 0x81), (b"\x00" * 126, 0x82), ("x" * 70_000, 0x81), (b"", 0x82)],
    ids=["non-ascii-text", "binary-16-bit-length", "text-64-bit-length", "empty-binary"],
)
def test_the_frame_is_what_send_message_writes(data, first):
    prepared = PreparedMessage(data)
    payload = data.encode() if isinstance(data, str) else data
    assert b"".join(prepared.pieces) == raw_frame(first, payload)
    connection = Connection(Role.SERVER)
    connection.send_message(data)
    assert b"".join(prepared.pieces) == connection.data_to_send()


def test_many_connections_send_the_same_frame_objects():
    prepared = PreparedMessage("tick")
    connections = [Connection(Role.SERVER) for _ in range(3)]
    for connection in connections:
        connection.send_prepared(prepared)
        pieces = connection.data_to_send_list()
        assert pieces[1] is prepared.pieces[1]  # no copy of the payload per connection


def test_with_permessage_deflate_it_goes_uncompressed_and_the_context_is_kept():
    agreed = PerMessageDeflate().server_accept([{}])
    assert agreed is not None
    connection = Connection(Role.SERVER, deflate=agreed[1])
    connection.send_message("a" * 200)
    first = connection.data_to_send()
    connection.send_prepared(PreparedMessage("a" * 200))
    connection.send_message("a" * 200)
    frames = read_frames(connection.data_to_send())
    assert frames[0].first == 0x81
    assert frames[0].payload == b"a" * 200
    assert frames[1].first == 0xC1  # compressed, and smaller thanks to the shared window
    assert len(frames[1].payload) < len(read_frames(first)[0].payload)


def test_a_client_masks_it():
    connection = Connection(Role.CLIENT)
    connection.send_prepared(PreparedMessage("Hello"))
    (frame,) = read_frames(connection.data_to_send())
    assert frame.first == 0x81
    assert frame.mask is not None
    assert frame.payload == b"Hello"


def test_not_after_close():
    connection = Connection(Role.SERVER)
    connection.receive_data(client_frame(0x88, b"\x03\xe8"))
    connection.data_to_send()
    with pytest.raises(LocalProtocolError):
        connection.send_prepared(PreparedMessage("late"))


def test_only_str_or_bytes():
    with pytest.raises(TypeError):
        PreparedMessage(bytearray(b"x"))  # type: ignore[arg-type]
    assert MASK  # the shared helpers are the reference encoder here
