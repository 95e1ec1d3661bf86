"""Close codes (RFC 6455 §7.4 and the IANA registry) and the Close frame payload (§5.5.1)."""

import pytest

from longwire import LocalProtocolError, RemoteProtocolError
from longwire.websocket._close import (
    CloseCode,
    is_valid_wire_code,
    parse_close_payload,
    serialize_close_payload,
)

VALID_CODES = [*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def test_registered_codes():
    assert {code.name: code.value for code in CloseCode} == {
        "NORMAL_CLOSURE": 1000,
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "UNSUPPORTED_DATA": 1003,
        "NO_STATUS_RCVD": 1005,
        "ABNORMAL_CLOSURE": 1006,
        "INVALID_FRAME_PAYLOAD_DATA": 1007,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "MANDATORY_EXTENSION": 1010,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013,
        "BAD_GATEWAY": 1014,
        "TLS_HANDSHAKE": 1015,
    }


def test_wire_validity_over_the_whole_range():
    valid = set(VALID_CODES)
    for code in range(70000):
        assert is_valid_wire_code(code) is (code in valid), code


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_codes(code):
    assert not is_valid_wire_code(code)
    with pytest.raises(RemoteProtocolError) as info:
        parse_close_payload(code.to_bytes(2, "big"))
    assert info.value.close_code == 1002
    with pytest.raises(LocalProtocolError):
        serialize_close_payload(code)


def test_every_valid_code_round_trips():
    for code in VALID_CODES:
        payload = serialize_close_payload(code, "bye")
        assert payload == code.to_bytes(2, "big") + b"bye"
        assert parse_close_payload(payload) == (code, "bye")


def test_empty_payload_is_1005():
    # RFC 6455 §7.1.5: no status code in the Close frame means 1005.
    assert parse_close_payload(b"") == (1005, "")


def test_code_without_reason():
    assert parse_close_payload(b"\x03\xe8") == (1000, "")
    assert serialize_close_payload(1000) == b"\x03\xe8"


def test_one_byte_payload_is_a_protocol_error():
    with pytest.raises(RemoteProtocolError) as info:
        parse_close_payload(b"\x03")
    assert info.value.close_code == 1002


@pytest.mark.parametrize("reason", [b"\xff", b"caf\xc3", b"\xed\xa0\x80", b"ok\xc0\xaf"])
def test_invalid_utf8_reason(reason):
    with pytest.raises(RemoteProtocolError) as info:
        parse_close_payload(b"\x03\xe8" + reason)
    assert info.value.close_code == 1007


def test_utf8_reason():
    assert parse_close_payload(b"\x03\xe9" + "café ✓".encode()) == (1001, "café ✓")
    assert serialize_close_payload(1001, "café ✓") == b"\x03\xe9" + "café ✓".encode()


def test_reason_length_limit_counts_bytes():
    assert len(serialize_close_payload(1000, "x" * 123)) == 125
    with pytest.raises(LocalProtocolError, match="124 bytes"):
        serialize_close_payload(1000, "x" * 124)
    # 41 three-byte characters are 123 bytes; 42 are 126.
    assert len(serialize_close_payload(1000, "✓" * 41)) == 125
    with pytest.raises(LocalProtocolError):
        serialize_close_payload(1000, "✓" * 42)


def test_codes_are_ints():
    assert CloseCode.NORMAL_CLOSURE == 1000
    assert serialize_close_payload(CloseCode.GOING_AWAY) == b"\x03\xe9"
