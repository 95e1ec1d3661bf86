"""The WebSocket core (RFC 6455): receiving, each violation and its close code, sending, closing."""

import dataclasses
import os
import time

import pytest
from ws_testing import (
    MASK,
    FakeDeflate,
    WireFrame,
    client_frame,
    close_frame,
    deflated,
    raw_frame,
    read_frames,
)

from longwire import LocalProtocolError, RemoteProtocolError, Role
from longwire.websocket._events import (
    CloseReceived,
    ConnectionFailed,
    Message,
    Ping,
    Pong,
    _message,
)
from longwire.websocket._protocol import DEFAULT_MAX_MESSAGE_SIZE, Connection, State

MiB = 1024 * 1024


def server(**options):
    return Connection(Role.SERVER, **options)


def client(**options):
    return Connection(Role.CLIENT, **options)


def assert_failed(connection, events, code, reason):
    """The connection failed with ``code``: last event, exact Close frame, CLOSED."""
    assert isinstance(events[-1], ConnectionFailed)
    assert events[-1].code == code
    assert events[-1].reason == reason
    assert connection.state is State.CLOSED
    assert connection.close_sent == (code, reason)
    sent = connection.data_to_send()
    if connection.role is Role.SERVER:
        assert sent == close_frame(code, reason)
    else:
        [frame] = read_frames(sent)
        assert frame.mask is not None
        assert (frame.first, frame.payload) == (0x88, code.to_bytes(2, "big") + reason.encode())
    # Nothing more is parsed.
    assert connection.receive_data(client_frame(0x81, b"more")) == []
    assert connection.data_to_send() == b""


class Pair:
    """A client and a server wired together in memory."""

    def __init__(self, **options):
        self.client = client(**options)
        self.server = server(**options)

    def to_server(self):
        return self.server.receive_data(self.client.data_to_send())

    def to_client(self):
        return self.client.receive_data(self.server.data_to_send())


# Receiving.


class TestReceive:
    def test_text_and_binary(self):
        events = server().receive_data(
            client_frame(0x81, "héllo ✓".encode()) + client_frame(0x82, b"\x00\xff")
        )
        assert events == [Message(data="héllo ✓"), Message(data=b"\x00\xff")]
        assert type(events[1].data) is bytes

    def test_empty_messages(self):
        events = server().receive_data(client_frame(0x81) + client_frame(0x82))
        assert events == [Message(data=""), Message(data=b"")]

    def test_many_frames_in_one_buffer(self):
        wire = b"".join(client_frame(0x81, f"m{i}".encode()) for i in range(1000))
        assert server().receive_data(wire) == [Message(data=f"m{i}") for i in range(1000)]

    def test_accepts_bytearray_and_memoryview(self):
        events = server().receive_data(bytearray(client_frame(0x82, b"ab")))
        assert events == [Message(data=b"ab")]
        assert type(events[0].data) is bytes
        assert server().receive_data(memoryview(client_frame(0x82, b"ab"))) == events

    def test_incomplete_header_and_payload_wait_for_more(self):
        wire = client_frame(0x82, bytes(300))
        connection = server()
        for cut in (1, 3, 7, 100):
            assert connection.receive_data(wire[:cut]) == []
            wire = wire[cut:]
        assert connection.receive_data(wire) == [Message(data=bytes(300))]

    def test_frame_completed_with_more_frames_after_it(self):
        wire = client_frame(0x82, bytes(200)) + client_frame(0x81, b"next")
        connection = server()
        assert connection.receive_data(wire[:50]) == []
        assert connection.receive_data(wire[50:]) == [
            Message(data=bytes(200)),
            Message(data="next"),
        ]

    def test_trailing_data_is_parsed_first(self):
        connection = server(trailing_data=client_frame(0x81, b"early") + client_frame(0x01, b"fr"))
        assert connection.receive_data(b"") == [Message(data="early")]
        assert connection.receive_data(client_frame(0x80, b"ag")) == [Message(data="frag")]

    def test_trailing_data_with_the_next_read(self):
        wire = client_frame(0x81, b"split")
        connection = server(trailing_data=wire[:4])
        assert connection.receive_data(wire[4:]) == [Message(data="split")]

    def test_big_payload_in_chunks(self):
        payload = os.urandom(16 * MiB)
        wire = client_frame(0x82, payload)
        connection = server(max_message_size=None)
        started = time.perf_counter()
        events = []
        for start in range(0, len(wire), 65536):
            events += connection.receive_data(wire[start : start + 65536])
        # Copying the buffer on every read would take minutes, not a second.
        assert time.perf_counter() - started < 10
        assert events == [Message(data=payload)]

    def test_big_unmasked_payload_in_one_read(self):
        payload = os.urandom(2 * MiB)
        assert client(max_message_size=None).receive_data(raw_frame(0x82, payload)) == [
            Message(data=payload)
        ]

    def test_big_payload_split_near_the_end(self):
        payload = os.urandom(MiB)
        wire = client_frame(0x82, payload) + client_frame(0x81, b"after")
        connection = server()
        cut = len(wire) - 20
        assert connection.receive_data(wire[:cut]) == []
        assert connection.receive_data(wire[cut:]) == [Message(data=payload), Message(data="after")]


class TestFragmentation:
    def test_rfc_example_with_an_interleaved_ping(self):
        # RFC 6455 §5.4: "Control frames (see Section 5.5) MAY be injected in the
        # middle of a fragmented message."
        connection = server()
        events = connection.receive_data(
            client_frame(0x01, b"Hel") + client_frame(0x89, b"ping") + client_frame(0x80, b"lo")
        )
        assert events == [Ping(payload=b"ping"), Message(data="Hello")]
        assert connection.data_to_send() == raw_frame(0x8A, b"ping")

    def test_binary_with_empty_fragments(self):
        wire = (
            client_frame(0x02, b"")
            + client_frame(0x00, b"ab")
            + client_frame(0x8A, b"pong")
            + client_frame(0x00, b"")
            + client_frame(0x80, b"c")
        )
        assert server().receive_data(wire) == [Pong(payload=b"pong"), Message(data=b"abc")]

    def test_utf8_split_across_fragments(self):
        # RFC 6455 §5.6: "a particular text frame might include a partial UTF-8
        # sequence; however, the whole message MUST contain valid UTF-8."
        text = "é🎉✓"
        encoded = text.encode()  # c3 a9 | f0 9f 8e 89 | e2 9c 93
        wire = (
            client_frame(0x01, encoded[:1])
            + client_frame(0x00, encoded[1:3])
            + client_frame(0x00, encoded[3:4])
            + client_frame(0x00, encoded[4:5])
            + client_frame(0x00, encoded[5:8])
            + client_frame(0x80, encoded[8:])
        )
        assert server().receive_data(wire) == [Message(data=text)]

    @pytest.mark.parametrize(
        "bad",
        [
            b"\xff",
            b"ok\xc0\xaf",
            b"\xf4\x90\x80\x80",
            b"\xe0\x80",
            b"\xed\xa0",  # a UTF-16 surrogate's start: CPython's decoder alone waits here
            b"\xed\xbf",
        ],
    )
    def test_invalid_utf8_fails_at_the_first_fragment(self, bad):
        # RFC 6455 §8.1: fail as soon as the byte stream cannot be UTF-8: the
        # first of three fragments is enough, before the rest arrives.
        connection = server()
        events = connection.receive_data(client_frame(0x01, b"fine " + bad))
        assert_failed(connection, events, 1007, "invalid UTF-8 in a text message")

    def test_the_last_valid_code_point_before_the_surrogates_is_held_not_failed(self):
        connection = server()
        assert connection.receive_data(client_frame(0x01, b"\xed\x9f")) == []
        assert connection.receive_data(client_frame(0x80, b"\xbf")) == [Message(data="\ud7ff")]

    def test_invalid_utf8_in_a_middle_fragment(self):
        connection = server()
        assert connection.receive_data(client_frame(0x01, b"caf\xc3")) == []
        events = connection.receive_data(client_frame(0x00, b"\xc3"))
        assert_failed(connection, events, 1007, "invalid UTF-8 in a text message")

    def test_incomplete_sequence_at_the_end_of_the_message(self):
        connection = server()
        events = connection.receive_data(client_frame(0x01, b"caf\xc3") + client_frame(0x80))
        assert_failed(connection, events, 1007, "invalid UTF-8 in a text message")

    def test_close_abandons_a_message_in_progress(self):
        connection = server()
        wire = client_frame(0x01, b"part") + client_frame(0x88, b"\x03\xe8")
        events = connection.receive_data(wire)
        assert events == [CloseReceived(code=1000, reason="")]


# Violations: each fails the connection with its close code and an exact Close frame.

RESERVED_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF]


@pytest.mark.parametrize(
    ("role", "options", "wire", "code", "reason"),
    [
        pytest.param(
            Role.SERVER,
            {},
            raw_frame(0x81, b"hi"),
            1002,
            "unmasked frame from the client",
            id="unmasked-to-server",
        ),
        pytest.param(
            Role.CLIENT,
            {},
            raw_frame(0x81, b"hi", mask=MASK),
            1002,
            "masked frame from the server",
            id="masked-to-client",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0xA1, b"hi"),
            1002,
            "reserved bit RSV2 or RSV3 set",
            id="rsv2",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x91, b"hi"),
            1002,
            "reserved bit RSV2 or RSV3 set",
            id="rsv3",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0xC1, b"hi"),
            1002,
            "reserved bit RSV1 set without permessage-deflate",
            id="rsv1-without-deflate",
        ),
        pytest.param(
            Role.SERVER,
            {"deflate": FakeDeflate()},
            client_frame(0x41, deflated(b"hel")) + client_frame(0xC0, b""),
            1002,
            "reserved bit RSV1 set on a continuation frame",
            id="rsv1-on-continuation",
        ),
        pytest.param(
            Role.SERVER,
            {"deflate": FakeDeflate()},
            client_frame(0xC9, b""),
            1002,
            "reserved bit RSV1 set on a control frame",
            id="rsv1-on-control",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x89, bytes(126)),
            1002,
            "control frame payload over 125 bytes",
            id="control-over-125",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x09, b"ping"),
            1002,
            "fragmented control frame",
            id="control-without-fin",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x08, b""),
            1002,
            "fragmented control frame",
            id="close-without-fin",
        ),
        pytest.param(
            Role.SERVER,
            {},
            b"\x82\xff" + (1 << 63).to_bytes(8, "big") + MASK,
            1002,
            "payload length with the most significant bit set",
            id="64-bit-length-msb",
        ),
        pytest.param(
            Role.SERVER,
            {"max_message_size": None},
            b"\x82\xff" + (2**64 - 1).to_bytes(8, "big") + MASK,
            1002,
            "payload length with the most significant bit set",
            id="64-bit-length-msb-no-limit",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x80, b"x"),
            1002,
            "continuation frame without a message to continue",
            id="orphan-continuation",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x00, b"x"),
            1002,
            "continuation frame without a message to continue",
            id="orphan-continuation-no-fin",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x01, b"a") + client_frame(0x81, b"b"),
            1002,
            "new message before the previous one was complete",
            id="text-during-text",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x01, b"a") + client_frame(0x02, b"b"),
            1002,
            "new message before the previous one was complete",
            id="binary-during-text",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x81, b"\xff"),
            1007,
            "invalid UTF-8 in a text message",
            id="invalid-utf8",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x81, b"caf\xc3"),
            1007,
            "invalid UTF-8 in a text message",
            id="truncated-utf8",
        ),
        pytest.param(
            Role.CLIENT,
            {},
            raw_frame(0x81, b"\xed\xa0\x80"),
            1007,
            "invalid UTF-8 in a text message",
            id="surrogate-utf8-to-client",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x88, b"\x03"),
            1002,
            "close frame payload of 1 byte",
            id="close-1-byte",
        ),
        pytest.param(
            Role.SERVER,
            {},
            client_frame(0x88, b"\x03\xe8\xff"),
            1007,
            "close reason is not valid UTF-8",
            id="close-reason-not-utf8",
        ),
        pytest.param(
            Role.SERVER,
            {"max_frame_size": 10},
            client_frame(0x82, bytes(11))[:6],
            1009,
            "frame of 11 bytes exceeds the limit of 10",
            id="max-frame-size",
        ),
        pytest.param(
            Role.SERVER,
            {"max_frame_size": 10},
            client_frame(0x02, bytes(5)) + client_frame(0x80, bytes(11))[:6],
            1009,
            "frame of 11 bytes exceeds the limit of 10",
            id="max-frame-size-continuation",
        ),
        pytest.param(
            Role.SERVER,
            {},
            b"\x82\xff" + (2 * 1024**3).to_bytes(8, "big") + MASK,
            1009,
            "message of 2147483648+ bytes exceeds the limit of 1048576",
            id="2-gib-header",
        ),
        pytest.param(
            Role.SERVER,
            {"max_message_size": 10},
            client_frame(0x02, bytes(6)) + client_frame(0x80, bytes(5))[:6],
            1009,
            "message of 11+ bytes exceeds the limit of 10",
            id="max-message-size-fragments",
        ),
        pytest.param(
            Role.SERVER,
            {"deflate": FakeDeflate(), "max_message_size": 100},
            client_frame(0xC1, deflated(bytes(101))),
            1009,
            "too big once inflated",
            id="decompressed-too-big",
        ),
        pytest.param(
            Role.SERVER,
            {"deflate": FakeDeflate()},
            client_frame(0xC2, b"\xff\xff\xff\xff"),
            1007,
            "corrupt",
            id="corrupt-deflate",
        ),
        *(
            pytest.param(
                Role.SERVER,
                {},
                client_frame(0x80 | opcode, b""),
                1002,
                f"reserved opcode {opcode:#x}",
                id=f"opcode-{opcode:#x}",
            )
            for opcode in RESERVED_OPCODES
        ),
        *(
            pytest.param(
                Role.SERVER,
                {},
                client_frame(0x88, code.to_bytes(2, "big")),
                1002,
                f"invalid close code {code}",
                id=f"close-code-{code}",
            )
            for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]
        ),
    ],
)
def test_violation(role, options, wire, code, reason):
    connection = Connection(role, **options)
    events = connection.receive_data(wire)
    assert len(events) == 1
    assert_failed(connection, events, code, reason)
    assert connection.should_close_transport


def test_limit_is_checked_before_the_payload_is_buffered():
    # Only the 14 header bytes of a 2 GiB frame arrive: that is enough to fail.
    connection = server(max_message_size=MiB)
    header = b"\x82\xff" + (2 * 1024**3).to_bytes(8, "big") + MASK
    assert len(header) == 14
    [failed] = connection.receive_data(header)
    assert failed.code == 1009


def test_limits_at_the_edge():
    connection = server(max_message_size=10, max_frame_size=6)
    events = connection.receive_data(
        client_frame(0x82, bytes(6))
        + client_frame(0x02, bytes(6))
        + client_frame(0x80, bytes(4))
        + client_frame(0x89, b"control frames do not count")
    )
    assert events == [
        Message(data=bytes(6)),
        Message(data=bytes(10)),
        Ping(payload=b"control frames do not count"),
    ]


def test_default_limit():
    assert DEFAULT_MAX_MESSAGE_SIZE == 2**20
    connection = server()
    assert connection.receive_data(client_frame(0x82, bytes(MiB))) == [Message(data=bytes(MiB))]
    [failed] = connection.receive_data(client_frame(0x82, bytes(MiB + 1)))
    assert failed.code == 1009


def test_limits_can_be_disabled_and_changed():
    connection = server(max_message_size=None)
    assert connection.receive_data(client_frame(0x82, bytes(2 * MiB))) == [
        Message(data=bytes(2 * MiB))
    ]
    connection.max_message_size = 5
    [failed] = connection.receive_data(client_frame(0x82, bytes(6)))
    assert failed.code == 1009


def test_events_before_the_violation_are_returned():
    connection = server()
    events = connection.receive_data(
        client_frame(0x81, b"one") + client_frame(0x89, b"p") + client_frame(0xA1, b"bad")
    )
    assert events[:2] == [Message(data="one"), Ping(payload=b"p")]
    assert isinstance(events[2], ConnectionFailed)
    # The automatic Pong went out before the Close frame.
    assert read_frames(connection.data_to_send()) == [
        WireFrame(0x8A, b"p", None),
        WireFrame(0x88, b"\x03\xeareserved bit RSV2 or RSV3 set", None),
    ]


def test_violation_after_our_close_sends_no_second_close():
    connection = server()
    connection.close(1001, "going")
    sent = connection.data_to_send()
    [failed] = connection.receive_data(client_frame(0xA1))
    assert failed.code == 1002
    assert connection.data_to_send() == b""
    assert connection.close_sent == (1001, "going")
    assert sent == close_frame(1001, "going")


def test_connection_failed_event():
    error = RemoteProtocolError("bad thing", close_code=1007)
    event = ConnectionFailed(error=error)
    assert (event.code, event.reason) == (1007, "bad thing")
    assert ConnectionFailed(error=RemoteProtocolError("no code")).code == 1002


def test_long_error_messages_are_cut_to_fit_the_close_frame():
    class Corrupt(FakeDeflate):
        def decompress(self, data, *, fin, max_size):
            raise RemoteProtocolError("é" * 100, close_code=1007)

    connection = server(deflate=Corrupt())
    connection.receive_data(client_frame(0xC1, b"x"))
    [frame] = read_frames(connection.data_to_send())
    assert frame.payload == b"\x03\xef" + "é".encode() * 61  # 122 bytes: no half character


# Control frames.


class TestPingPong:
    def test_ping_is_answered_with_an_identical_pong(self):
        # RFC 6455 §5.5.2/§5.5.3.
        connection = server()
        assert connection.receive_data(client_frame(0x89, b"Hello")) == [Ping(payload=b"Hello")]
        assert connection.data_to_send() == bytes.fromhex("8a 05 48 65 6c 6c 6f")

    def test_client_pong_is_masked(self):
        connection = client()
        assert connection.receive_data(raw_frame(0x89, b"Hello")) == [Ping(payload=b"Hello")]
        [frame] = read_frames(connection.data_to_send())
        assert (frame.first, frame.payload) == (0x8A, b"Hello")
        assert frame.mask is not None

    def test_empty_and_125_byte_pings(self):
        connection = server()
        events = connection.receive_data(client_frame(0x89) + client_frame(0x89, bytes(125)))
        assert events == [Ping(payload=b""), Ping(payload=bytes(125))]
        assert connection.data_to_send() == raw_frame(0x8A) + raw_frame(0x8A, bytes(125))

    def test_pong_is_an_event_only(self):
        connection = server()
        assert connection.receive_data(client_frame(0x8A, b"hb")) == [Pong(payload=b"hb")]
        assert connection.data_to_send() == b""

    def test_ping_while_closing_is_still_answered(self):
        # RFC 6455 §5.5.2: a Pong is due "unless it already received a Close frame".
        connection = server()
        connection.close()
        connection.data_to_send()
        assert connection.receive_data(client_frame(0x89, b"p")) == [Ping(payload=b"p")]
        assert connection.data_to_send() == raw_frame(0x8A, b"p")

    def test_send_ping_and_pong(self):
        connection = server()
        connection.send_ping(b"Hello")
        connection.send_pong()
        connection.send_ping(bytearray(125))
        assert connection.data_to_send() == (
            bytes.fromhex("89 05 48 65 6c 6c 6f") + b"\x8a\x00" + raw_frame(0x89, bytes(125))
        )

    @pytest.mark.parametrize("method", ["send_ping", "send_pong"])
    def test_control_payload_over_125_bytes(self, method):
        connection = server()
        with pytest.raises(LocalProtocolError, match="126 bytes"):
            getattr(connection, method)(bytes(126))
        assert connection.data_to_send() == b""


# Sending.


class TestSend:
    def test_server_text_is_unmasked(self):
        connection = server()
        connection.send_message("Hello")
        assert connection.data_to_send() == bytes.fromhex("81 05 48 65 6c 6c 6f")

    def test_server_binary_boundaries(self):
        connection = server()
        for length in (0, 125, 126, 65535, 65536):
            connection.send_message(bytes(length))
            assert connection.data_to_send() == raw_frame(0x82, bytes(length))

    def test_client_masks_every_frame_with_a_fresh_key(self):
        connection = client()
        for i in range(2000):  # more keys than one os.urandom batch holds
            connection.send_message(f"message {i}")
        frames = read_frames(connection.data_to_send())
        assert [frame.payload for frame in frames] == [f"message {i}".encode() for i in range(2000)]
        assert all(frame.first == 0x81 for frame in frames)
        keys = [frame.mask for frame in frames]
        assert len(set(keys)) > 1990  # 2000 random 32-bit keys: collisions are rare

    def test_bytes_like_messages_are_binary_and_copied(self):
        connection = server()
        buffer = bytearray(b"abc")
        connection.send_message(buffer)
        connection.send_message(memoryview(b"def"))
        buffer[0] = 0
        assert connection.data_to_send() == raw_frame(0x82, b"abc") + raw_frame(0x82, b"def")

    def test_other_types_are_refused(self):
        with pytest.raises(TypeError):
            server().send_message(42)

    def test_fragmented_like_the_rfc_example(self):
        connection = server()
        connection.send_message("Hello", fragment_size=3)
        assert connection.data_to_send() == bytes.fromhex("01 03 48 65 6c 80 02 6c 6f")

    def test_fragment_sizes(self):
        connection = server()
        connection.send_message(b"abcde", fragment_size=1)
        assert [(f.first, f.payload) for f in read_frames(connection.data_to_send())] == [
            (0x02, b"a"),
            (0x00, b"b"),
            (0x00, b"c"),
            (0x00, b"d"),
            (0x80, b"e"),
        ]
        connection.send_message(b"abcd", fragment_size=2)
        assert connection.data_to_send() == raw_frame(0x02, b"ab") + raw_frame(0x80, b"cd")
        connection.send_message(b"abcd", fragment_size=4)
        connection.send_message(b"", fragment_size=4)
        assert connection.data_to_send() == raw_frame(0x82, b"abcd") + raw_frame(0x82)

    def test_fragment_size_must_be_positive(self):
        connection = server()
        with pytest.raises(ValueError, match="at least 1"):
            connection.send_message("x", fragment_size=0)
        assert connection.data_to_send() == b""

    def test_text_fragments_may_split_characters(self):
        pair = Pair()
        pair.client.send_message("é🎉✓" * 10, fragment_size=3)
        assert pair.to_server() == [Message(data="é🎉✓" * 10)]

    def test_data_to_send_drains(self):
        connection = server()
        assert connection.data_to_send() == b""
        connection.send_message("a")
        connection.send_message("b")
        assert connection.data_to_send() == raw_frame(0x81, b"a") + raw_frame(0x81, b"b")
        assert connection.data_to_send() == b""

    def test_big_message_round_trip(self):
        payload = os.urandom(16 * MiB)
        pair = Pair(max_message_size=None)
        pair.client.send_message(payload)
        assert pair.to_server() == [Message(data=payload)]
        pair.server.send_message(payload, fragment_size=MiB)
        assert pair.to_client() == [Message(data=payload)]


class TestCompression:
    def test_compressed_message_sets_rsv1_on_the_first_frame_only(self):
        deflate = FakeDeflate()
        connection = server(deflate=deflate)
        connection.send_message("Hello " * 100, fragment_size=10)
        frames = read_frames(connection.data_to_send())
        assert frames[0].first == 0x41
        assert all(frame.first == 0x00 for frame in frames[1:-1])
        assert frames[-1].first == 0x80
        receiver = client(deflate=FakeDeflate())
        assert receiver.receive_data(b"".join(raw_frame(f.first, f.payload) for f in frames)) == [
            Message(data="Hello " * 100)
        ]

    def test_binary_is_compressed_too(self):
        connection = client(deflate=FakeDeflate())
        connection.send_message(bytes(1000))
        [frame] = read_frames(connection.data_to_send())
        assert frame.first == 0xC2
        assert frame.payload == deflated(bytes(1000))

    def test_compress_false_and_declined_messages_go_uncompressed(self):
        deflate = FakeDeflate(min_size=10)
        connection = server(deflate=deflate)
        connection.send_message("Hello", compress=False)
        connection.send_message("short")
        assert connection.data_to_send() == raw_frame(0x81, b"Hello") + raw_frame(0x81, b"short")
        assert deflate.calls == [("compress", 5, True, None)]

    def test_uncompressed_messages_with_deflate_negotiated(self):
        connection = server(deflate=FakeDeflate())
        assert connection.receive_data(client_frame(0x81, b"plain")) == [Message(data="plain")]

    def test_decompress_is_fed_frame_by_frame(self):
        deflate = FakeDeflate()
        connection = server(deflate=deflate, max_message_size=1000)
        compressed = deflated(b"x" * 300)
        events = connection.receive_data(
            client_frame(0x41, compressed[:3])
            + client_frame(0x89, b"p")
            + client_frame(0x00, compressed[3:5])
            + client_frame(0x80, compressed[5:])
        )
        assert events == [Ping(payload=b"p"), Message(data="x" * 300)]
        calls = [call for call in deflate.calls if call[0] == "decompress"]
        assert [(fin, size) for _, size, fin, _ in calls] == [
            (False, 3),
            (False, 2),
            (True, len(compressed) - 5),
        ]
        # max_size is what remains of the limit after the earlier pieces.
        assert calls[0][3] == 1000
        decoded_so_far = 1000 - calls[-1][3]
        assert 0 <= decoded_so_far <= 300

    def test_with_the_real_runtime(self):
        from longwire.websocket._deflate import PerMessageDeflate

        settings = PerMessageDeflate()
        params, server_runtime = settings.server_accept([settings.client_offer()])
        client_runtime = settings.client_accept(params)
        pair = Pair.__new__(Pair)
        pair.client = client(deflate=client_runtime)
        pair.server = server(deflate=server_runtime)
        for text in ("Hello " * 1000, "again " * 1000, "", "x"):
            pair.client.send_message(text, fragment_size=100)
            assert pair.to_server() == [Message(data=text)]
            pair.server.send_message(text.encode())
            assert pair.to_client() == [Message(data=text.encode())]


# The closing handshake.


class TestClose:
    @pytest.mark.parametrize("initiator", [Role.SERVER, Role.CLIENT])
    def test_handshake(self, initiator):
        pair = Pair()
        first, second = (
            (pair.server, pair.client) if initiator is Role.SERVER else (pair.client, pair.server)
        )
        first.close(1001, "bye")
        assert (first.state, first.close_sent) == (State.CLOSING, (1001, "bye"))
        assert not first.should_close_transport
        assert second.receive_data(first.data_to_send()) == [CloseReceived(code=1001, reason="bye")]
        # RFC 6455 §5.5.1: the answer echoes the status code (and the reason).
        assert (second.state, second.close_received, second.close_sent) == (
            State.CLOSED,
            (1001, "bye"),
            (1001, "bye"),
        )
        assert first.receive_data(second.data_to_send()) == [CloseReceived(code=1001, reason="bye")]
        assert (first.state, first.close_received) == (State.CLOSED, (1001, "bye"))
        assert first.data_to_send() == second.data_to_send() == b""
        # RFC 6455 §7.1.1: the server closes TCP first; the client waits for it.
        assert pair.server.should_close_transport
        assert not pair.client.should_close_transport
        assert pair.client.receive_eof() == []
        assert pair.client.should_close_transport
        assert pair.client.close_received is not None

    def test_exact_close_frames(self):
        connection = server()
        connection.close(1000, "done")
        assert connection.data_to_send() == bytes.fromhex("88 06 03 e8") + b"done"
        assert connection.receive_data(client_frame(0x88, b"\x03\xe8")) == [
            CloseReceived(code=1000, reason="")
        ]
        assert connection.data_to_send() == b""

    def test_echo_of_a_close_without_code_is_empty(self):
        # RFC 6455 §7.4.1: 1005 "MUST NOT be set as a status code in a Close control frame".
        connection = server()
        assert connection.receive_data(client_frame(0x88)) == [CloseReceived(code=1005, reason="")]
        assert connection.data_to_send() == b"\x88\x00"
        assert connection.close_sent == (1005, "")

    def test_client_echo_is_masked(self):
        connection = client()
        assert connection.receive_data(raw_frame(0x88, b"\x0f\xa0hi")) == [
            CloseReceived(code=4000, reason="hi")
        ]
        [frame] = read_frames(connection.data_to_send())
        assert (frame.first, frame.payload) == (0x88, b"\x0f\xa0hi")
        assert frame.mask is not None

    def test_data_after_the_peer_close_is_ignored(self):
        connection = server()
        events = connection.receive_data(
            client_frame(0x88, b"\x03\xe8") + client_frame(0x81, b"late") + b"garbage"
        )
        assert events == [CloseReceived(code=1000, reason="")]
        assert connection.receive_data(client_frame(0x81, b"later")) == []
        assert connection.receive_eof() == []

    def test_messages_still_arrive_while_closing(self):
        connection = server()
        connection.close()
        events = connection.receive_data(client_frame(0x81, b"in flight") + client_frame(0x88))
        assert events == [Message(data="in flight"), CloseReceived(code=1005, reason="")]
        assert connection.state is State.CLOSED

    def test_every_valid_code_round_trips(self):
        for code in [*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)]:
            pair = Pair()
            pair.client.close(code, "reason ✓")
            assert pair.to_server() == [CloseReceived(code=code, reason="reason ✓")]
            assert pair.to_client() == [CloseReceived(code=code, reason="reason ✓")]

    def test_nothing_is_sent_after_close(self):
        connection = server()
        connection.close()
        connection.data_to_send()
        with pytest.raises(LocalProtocolError, match="closing"):
            connection.send_message("late")
        connection.close(1001)  # a second call is a no-op
        assert connection.data_to_send() == b""
        connection.send_ping(b"still allowed while closing")
        connection.data_to_send()
        connection.receive_data(client_frame(0x88, b"\x03\xe8"))
        for send in (connection.send_message, connection.send_ping, connection.send_pong):
            with pytest.raises(LocalProtocolError, match="closed"):
                send(b"x")
        connection.close()
        assert connection.data_to_send() == b""

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
    def test_invalid_codes_cannot_be_sent(self, code):
        connection = server()
        with pytest.raises(LocalProtocolError, match=str(code)):
            connection.close(code)
        assert connection.state is State.OPEN
        assert connection.data_to_send() == b""

    def test_reason_over_123_bytes_cannot_be_sent(self):
        connection = server()
        with pytest.raises(LocalProtocolError):
            connection.close(1000, "é" * 62)
        connection.close(1000, "x" * 123)
        assert len(connection.data_to_send()) == 2 + 125


class TestEof:
    @pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
    def test_eof_without_close(self, role):
        connection = Connection(role)
        assert connection.receive_eof() == []
        assert connection.state is State.CLOSED
        assert connection.close_received is None  # the I/O layer reports 1006
        assert connection.should_close_transport
        assert connection.receive_data(client_frame(0x81, b"x")) == []
        with pytest.raises(LocalProtocolError):
            connection.send_message("x")
        connection.close()  # nothing to do
        assert connection.data_to_send() == b""

    def test_truncated_frame_is_dropped(self):
        connection = server()
        wire = client_frame(0x81, b"complete") + client_frame(0x82, bytes(50))[:20]
        assert connection.receive_data(wire) == [Message(data="complete")]
        assert connection.receive_eof() == []
        assert connection.close_received is None


class TestShouldCloseTransport:
    def test_open_and_closing(self):
        for connection in (server(), client()):
            assert not connection.should_close_transport
            connection.close()
            assert not connection.should_close_transport

    def test_after_a_failure_both_close(self):
        for connection, wire in ((server(), raw_frame(0x81)), (client(), client_frame(0x81))):
            connection.receive_data(wire)
            assert connection.should_close_transport


# Chop invariance: the events do not depend on how the stream is cut.


def test_one_byte_at_a_time():
    text = "héllo ✓ 🎉"
    wire = (
        client_frame(0x81, text.encode())
        + client_frame(0x01, text.encode()[:2])
        + client_frame(0x89, b"ping")
        + client_frame(0x80, text.encode()[2:])
        + client_frame(0x82, bytes(range(256)) * 300)
        + client_frame(0x8A, b"")
        + client_frame(0x82)
        + client_frame(0x88, b"\x03\xe8bye")
    )
    whole = server()
    expected = whole.receive_data(wire)
    assert len(expected) == 7
    chopped = server()
    events = []
    for i in range(len(wire)):
        events += chopped.receive_data(wire[i : i + 1])
    assert events == expected
    assert chopped.data_to_send() == whole.data_to_send()


# Events.


def test_events_are_frozen_slotted_keyword_only():
    for event in (
        Message(data="x"),
        Ping(payload=b""),
        Pong(payload=b""),
        CloseReceived(code=1000, reason=""),
        ConnectionFailed(error=RemoteProtocolError("x", close_code=1002)),
    ):
        assert not hasattr(event, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(event, dataclasses.fields(event)[0].name, None)
    with pytest.raises(TypeError):
        Message("x")  # type: ignore[misc]


def test_fast_message_constructor_builds_a_normal_message():
    fast = _message("x")
    assert fast == Message(data="x")
    assert hash(fast) == hash(Message(data="x"))
    assert repr(fast) == "Message(data='x')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.data = "y"  # type: ignore[misc]


def test_repr():
    connection = client()
    assert repr(connection) == "<Connection CLIENT OPEN>"
    connection.close()
    assert repr(connection) == "<Connection CLIENT CLOSING>"


def test_data_to_send_list_is_data_to_send_unjoined():
    from longwire import Role
    from longwire.websocket import Connection

    one, two = Connection(Role.SERVER), Connection(Role.SERVER)
    for conn in (one, two):
        conn.send_message("hello")
        conn.send_message(b"x" * 70000)
        conn.send_ping(b"p")
    pieces = one.data_to_send_list()
    assert b"".join(pieces) == two.data_to_send()
    assert any(len(piece) == 70000 for piece in pieces)  # the payload was not copied
    assert one.data_to_send_list() == []
    assert one.bytes_to_send == 0


@pytest.mark.parametrize("role", ["server", "client"])
def test_bytes_to_send_counts_every_queued_byte(role):
    """bytes_to_send is a running count (buffered_amount reads it per message):
    it must equal what data_to_send returns, whatever was queued."""
    from longwire.websocket import PreparedMessage

    conn = server() if role == "server" else client()
    steps = [
        lambda: conn.send_message("short"),
        lambda: conn.send_message("é" * 100),  # non-ASCII: the general path
        lambda: conn.send_message(b"b" * 10),
        lambda: conn.send_message(bytearray(b"z" * 300)),
        lambda: conn.send_message(b"x" * 70000),
        lambda: conn.send_message("f" * 1000, fragment_size=100),
        lambda: conn.send_prepared(PreparedMessage("prepared")),
        lambda: conn.send_ping(b"p"),
        conn.send_pong,
    ]
    for step in steps:
        before = conn.bytes_to_send
        step()
        assert conn.bytes_to_send > before
    expected = conn.bytes_to_send
    assert len(conn.data_to_send()) == expected
    assert conn.bytes_to_send == 0
    conn.send_message("again")
    conn.close(1000, "bye")
    size = conn.bytes_to_send
    assert sum(map(len, conn.data_to_send_list())) == size
    assert conn.bytes_to_send == 0
