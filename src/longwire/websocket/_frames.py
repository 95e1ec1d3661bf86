"""WebSocket frames (RFC 6455 §5.2): the opcode set, the ``Frame`` value, the wire format.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               |Masking-key, if MASK set to 1  |
    +-------------------------------+-------------------------------+
    | Masking-key (continued)       |          Payload Data         |
    +-------------------------------- - - - - - - - - - - - - - - - +

``frame_header`` is the one encoder of this layout: ``serialize_frame`` and the
connection's send path both use it. The receive side parses it inline in
``Connection.receive_data``, which is the hot path.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ._masking import apply_mask

__all__ = [
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "FIN",
    "RSV1",
    "RSV2",
    "RSV3",
    "Frame",
    "Opcode",
    "frame_header",
    "serialize_frame",
]

# Bits of the first header byte.
FIN = 0x80
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10


class Opcode(enum.IntEnum):
    """Frame opcodes defined by RFC 6455 §5.2; every other value is reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset({Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One frame, payload already unmasked."""

    opcode: Opcode
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    @property
    def first_byte(self) -> int:
        """FIN, RSV1-3 and the opcode, as the first byte of the header."""
        return (
            (FIN if self.fin else 0)
            | (RSV1 if self.rsv1 else 0)
            | (RSV2 if self.rsv2 else 0)
            | (RSV3 if self.rsv3 else 0)
            | self.opcode
        )


_pack_short = struct.Struct("!BB").pack
_pack_medium = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def frame_header(first_byte: int, length: int, *, masked: bool) -> bytes:
    """The header of a frame, up to (not including) the masking key.

    Args:
        first_byte: FIN, RSV1-3 and the opcode (see ``Frame.first_byte``).
        length: the payload length.
        masked: whether a masking key follows (sets the MASK bit).

    Returns:
        2, 4 or 10 bytes.
    """
    mask_bit = 0x80 if masked else 0
    # RFC 6455 §5.2: "in all cases, the minimal number of bytes MUST be used to
    # encode the length": 7 bits up to 125, then 126 and 16 bits, then 127 and 64.
    if length < 126:
        return _pack_short(first_byte, mask_bit | length)
    if length < 65536:
        return _pack_medium(first_byte, mask_bit | 126, length)
    # RFC 6455 §5.2: "the most significant bit MUST be 0"; no payload comes close.
    return _pack_long(first_byte, mask_bit | 127, length)


def serialize_frame(frame: Frame, *, mask: bytes | None) -> bytes:
    """The bytes of ``frame`` on the wire.

    Args:
        frame: the frame; its payload is the unmasked application data.
        mask: the 4-byte masking key (a client sends every frame masked), or
            ``None`` for an unmasked frame (a server never masks).

    Returns:
        Header, masking key if any, and (masked) payload.

    Raises:
        ValueError: ``mask`` is not 4 bytes long.
    """
    header = frame_header(frame.first_byte, len(frame.payload), masked=mask is not None)
    if mask is None:
        return header + frame.payload
    return header + mask + apply_mask(frame.payload, mask)
