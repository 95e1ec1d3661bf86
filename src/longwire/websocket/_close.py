"""Close codes and the Close frame payload (RFC 6455 §5.5.1, §7.4; the IANA registry).

A Close payload is empty, or a 2-byte big-endian status code followed by a UTF-8
reason. The whole payload is a control frame's, so at most 125 bytes, which
leaves 123 for the reason.
"""

from __future__ import annotations

import enum

from .._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_REASON_SIZE",
    "CloseCode",
    "is_valid_wire_code",
    "parse_close_payload",
    "serialize_close_payload",
]

MAX_REASON_SIZE = 123
"""RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or
less"; two of them are the status code."""


class CloseCode(enum.IntEnum):
    """The registered close codes (RFC 6455 §7.4.1, IANA "WebSocket Close Code Number Registry").

    ``NO_STATUS_RCVD`` (1005), ``ABNORMAL_CLOSURE`` (1006) and ``TLS_HANDSHAKE``
    (1015) only ever describe a closure locally: they are never sent on the wire.
    1004 is reserved and has no name.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


def is_valid_wire_code(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame.

    RFC 6455 §7.4.2: 0-999 "are not used"; 1000-2999 are "reserved for
    definition by this protocol" (so only the registered ones are valid, and
    1004, 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
    control frame by an endpoint"); 3000-3999 are registered with IANA for
    libraries and frameworks, 4000-4999 are for private use.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """The ``(code, reason)`` a received Close frame carries.

    Returns:
        ``(1005, "")`` for an empty payload (RFC 6455 §7.1.5: "If this Close
        control frame contains no status code, _The WebSocket Connection Close
        Code_ is considered to be 1005").

    Raises:
        RemoteProtocolError: ``close_code`` 1002 for a 1-byte payload or a code not
            valid on the wire, 1007 for a reason that is not UTF-8.
    """
    if not payload:
        return 1005, ""
    # RFC 6455 §5.5.1: "If there is a body, the first two bytes of the body MUST
    # be a 2-byte unsigned integer (in network byte order) representing a status
    # code".
    if len(payload) < 2:
        raise RemoteProtocolError(
            "close frame payload of 1 byte", close_code=CloseCode.PROTOCOL_ERROR
        )
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_wire_code(code):
        raise RemoteProtocolError(f"invalid close code {code}", close_code=CloseCode.PROTOCOL_ERROR)
    # RFC 6455 §5.5.1: "Following the 2-byte integer, the body MAY contain
    # UTF-8-encoded data with value /reason/".
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(
            "close reason is not valid UTF-8", close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA
        ) from None
    return code, reason


def serialize_close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a Close frame we send.

    Raises:
        LocalProtocolError: ``code`` is not valid on the wire, or ``reason`` is
            longer than 123 bytes once encoded.
    """
    if not is_valid_wire_code(code):
        raise LocalProtocolError(f"close code {code} cannot be sent (RFC 6455 §7.4)")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_REASON_SIZE:
        raise LocalProtocolError(
            f"close reason is {len(encoded)} bytes in UTF-8, more than {MAX_REASON_SIZE}"
        )
    return code.to_bytes(2, "big") + encoded
