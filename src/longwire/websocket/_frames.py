"""WebSocket frames (RFC 6455 §5.2): the opcode set and the ``Frame`` value."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CONTROL_OPCODES", "DATA_OPCODES", "Frame", "Opcode"]


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
