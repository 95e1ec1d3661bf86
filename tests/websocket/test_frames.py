"""The frame wire format (RFC 6455 §5.2), serializing and parsing, from the §5.7 examples."""

import pytest
from ws_testing import MASK, raw_frame

from longwire import Role
from longwire.websocket._events import Message, Ping, Pong
from longwire.websocket._frames import Frame, Opcode, frame_header, serialize_frame
from longwire.websocket._protocol import Connection

# RFC 6455 §5.7, verbatim.
HELLO_UNMASKED = bytes.fromhex("81 05 48 65 6c 6c 6f")
HELLO_MASKED = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
HELLO_FRAGMENTS = (bytes.fromhex("01 03 48 65 6c"), bytes.fromhex("80 02 6c 6f"))
PING_UNMASKED = bytes.fromhex("89 05 48 65 6c 6c 6f")
PONG_MASKED = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
BINARY_256_HEADER = bytes.fromhex("82 7e 01 00")
BINARY_64K_HEADER = bytes.fromhex("82 7f 00 00 00 00 00 01 00 00")


class TestSerialize:
    def test_single_frame_unmasked_text(self):
        assert serialize_frame(Frame(opcode=Opcode.TEXT, payload=b"Hello"), mask=None) == (
            HELLO_UNMASKED
        )

    def test_single_frame_masked_text(self):
        frame = Frame(opcode=Opcode.TEXT, payload=b"Hello")
        assert serialize_frame(frame, mask=MASK) == HELLO_MASKED

    def test_fragmented_unmasked_text(self):
        first = Frame(opcode=Opcode.TEXT, payload=b"Hel", fin=False)
        last = Frame(opcode=Opcode.CONTINUATION, payload=b"lo")
        assert (serialize_frame(first, mask=None), serialize_frame(last, mask=None)) == (
            HELLO_FRAGMENTS
        )

    def test_unmasked_ping(self):
        assert serialize_frame(Frame(opcode=Opcode.PING, payload=b"Hello"), mask=None) == (
            PING_UNMASKED
        )

    def test_masked_pong(self):
        frame = Frame(opcode=Opcode.PONG, payload=b"Hello")
        assert serialize_frame(frame, mask=MASK) == PONG_MASKED

    def test_256_bytes_binary(self):
        payload = bytes(range(256))
        wire = serialize_frame(Frame(opcode=Opcode.BINARY, payload=payload), mask=None)
        assert wire == BINARY_256_HEADER + payload

    def test_64_kib_binary(self):
        payload = bytes(65536)
        wire = serialize_frame(Frame(opcode=Opcode.BINARY, payload=payload), mask=None)
        assert wire == BINARY_64K_HEADER + payload

    @pytest.mark.parametrize(
        ("length", "header"),
        [
            (0, "8200"),
            (125, "827d"),
            (126, "827e007e"),
            (65535, "827effff"),
            (65536, "827f0000000000010000"),
            (2**32, "827f0000000100000000"),
        ],
    )
    def test_minimal_length_encoding(self, length, header):
        # RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length"
        assert frame_header(0x82, length, masked=False).hex() == header

    def test_mask_bit(self):
        assert frame_header(0x81, 5, masked=True) == b"\x81\x85"
        assert frame_header(0x81, 126, masked=True) == b"\x81\xfe\x00\x7e"
        assert frame_header(0x81, 65536, masked=True)[:2] == b"\x81\xff"

    def test_first_byte_bits(self):
        assert Frame(opcode=Opcode.TEXT, fin=False).first_byte == 0x01
        assert Frame(opcode=Opcode.TEXT, rsv1=True).first_byte == 0xC1
        assert Frame(opcode=Opcode.BINARY, rsv2=True, rsv3=True).first_byte == 0xB2
        assert Frame(opcode=Opcode.CLOSE).first_byte == 0x88

    def test_matches_the_hand_built_frame(self):
        for length in (0, 1, 125, 126, 127, 65535, 65536, 70000):
            payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
            frame = Frame(opcode=Opcode.BINARY, payload=payload)
            assert serialize_frame(frame, mask=None) == raw_frame(0x82, payload)
            assert serialize_frame(frame, mask=MASK) == raw_frame(0x82, payload, mask=MASK)

    def test_mask_must_be_4_bytes(self):
        with pytest.raises(ValueError, match="4 bytes"):
            serialize_frame(Frame(opcode=Opcode.TEXT, payload=b"x"), mask=b"abc")


class TestParse:
    """The same examples, parsed by the connection (masked ones by a server)."""

    def test_single_frame_unmasked_text(self):
        assert Connection(Role.CLIENT).receive_data(HELLO_UNMASKED) == [Message(data="Hello")]

    def test_single_frame_masked_text(self):
        assert Connection(Role.SERVER).receive_data(HELLO_MASKED) == [Message(data="Hello")]

    def test_fragmented_unmasked_text(self):
        client = Connection(Role.CLIENT)
        assert client.receive_data(HELLO_FRAGMENTS[0]) == []
        assert client.receive_data(HELLO_FRAGMENTS[1]) == [Message(data="Hello")]

    def test_unmasked_ping(self):
        client = Connection(Role.CLIENT)
        assert client.receive_data(PING_UNMASKED) == [Ping(payload=b"Hello")]

    def test_masked_pong(self):
        assert Connection(Role.SERVER).receive_data(PONG_MASKED) == [Pong(payload=b"Hello")]

    def test_256_bytes_binary(self):
        payload = bytes(range(256))
        client = Connection(Role.CLIENT)
        assert client.receive_data(BINARY_256_HEADER + payload) == [Message(data=payload)]

    def test_64_kib_binary(self):
        payload = bytes(65536)
        client = Connection(Role.CLIENT)
        assert client.receive_data(BINARY_64K_HEADER + payload) == [Message(data=payload)]

    @pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
    def test_length_boundaries(self, length):
        payload = bytes(length)
        assert Connection(Role.SERVER).receive_data(raw_frame(0x82, payload, mask=MASK)) == [
            Message(data=payload)
        ]

    def test_non_minimal_length_encoding_is_accepted(self):
        # The "minimal number of bytes" rule binds senders; being liberal costs nothing.
        wire = b"\x81\x7e\x00\x05Hello"
        assert Connection(Role.CLIENT).receive_data(wire) == [Message(data="Hello")]
        wire = b"\x81\x7f" + (5).to_bytes(8, "big") + b"Hello"
        assert Connection(Role.CLIENT).receive_data(wire) == [Message(data="Hello")]
