"""Events of the WebSocket core: what ``Connection.receive_data`` returns.

Events are frozen, slotted, keyword-only dataclasses. A ``ConnectionFailed``
is always the last event a connection produces.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import RemoteProtocolError

__all__ = ["CloseReceived", "ConnectionFailed", "Event", "Message", "Ping", "Pong"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A complete message, reassembled from its frames and decompressed.

    Attributes:
        data: ``str`` for a text message, ``bytes`` for a binary one.
    """

    data: str | bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """A Ping frame arrived; the connection has already queued the matching Pong.

    Attributes:
        payload: the application data, 0 to 125 bytes.
    """

    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """A Pong frame arrived (an answer to our Ping, or an unsolicited heartbeat).

    Attributes:
        payload: the application data, 0 to 125 bytes.
    """

    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseReceived:
    """The peer's Close frame arrived.

    Attributes:
        code: the status code; 1005 when the frame carried none.
        reason: the reason, possibly empty.
    """

    code: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionFailed:
    """The peer broke the protocol; the connection is CLOSED and sends a Close frame.

    Attributes:
        error: what was wrong; ``error.close_code`` is the code sent.
    """

    error: RemoteProtocolError

    @property
    def code(self) -> int:
        """The close code the connection was failed with (1002, 1007, 1009...)."""
        return self.error.close_code or 1002

    @property
    def reason(self) -> str:
        """What the peer did wrong, in words."""
        return self.error.message


Event = Message | Ping | Pong | CloseReceived | ConnectionFailed
"""Any event ``Connection.receive_data`` returns."""

# A frozen dataclass's __init__ sets each field through object.__setattr__, which
# costs about three times writing the slot directly. Message is created once per
# message on the receive hot path, so the connection builds it from these two
# (as _message does); the result is indistinguishable from Message(data=...).
_new_object = object.__new__
_set_message_data = Message.__dict__["data"].__set__


def _message(data: str | bytes) -> Message:
    message: Message = _new_object(Message)
    _set_message_data(message, data)
    return message
