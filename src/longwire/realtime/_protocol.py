"""The session protocol's framing and bookkeeping, sans-I/O.

Every transport carries *packets*: a packet is one JSON array of *frames*, and a
frame is a JSON object whose ``"t"`` names its type (docs/realtime.md lists
them). ``msg`` and ``close`` frames are *sequenced*: each direction numbers them
1, 2, 3... (``"s"``), the receiver acknowledges the highest number it has
received in order (``ack`` frames, or the ``ack`` query parameter), and the
sender keeps every frame until it is acknowledged so that it can send it again
after a reconnect. ``Outbox`` is the sending side of that, ``Inbox`` the
receiving side (it drops the duplicates a resend brings).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CLOSE_QUEUE_OVERFLOW",
    "CLOSE_SESSION_UNKNOWN",
    "Frame",
    "Inbox",
    "Outbox",
    "ProtocolViolation",
    "QueueOverflow",
    "close_frame",
    "decode_packet",
    "encode_packet",
    "message_data",
    "message_frame",
]

Frame = dict[str, Any]
"""One frame: a JSON object with a ``"t"`` (type) member."""

CLOSE_QUEUE_OVERFLOW = 1013
"""Close code of a session whose queue (either direction) went over its limit."""

CLOSE_SESSION_UNKNOWN = 4004
"""Close code the client reports when the server no longer knows its session."""

_SEQUENCED = frozenset({"msg", "close"})
_KNOWN = frozenset({"msg", "close", "ack", "ping", "pong", "hb", "open", "hello"})

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ProtocolViolation(ValueError):
    """A packet or frame that breaks the session protocol."""


class QueueOverflow(Exception):
    """More unacknowledged frames than the queue's limit."""


def message_frame(seq: int, data: str | bytes) -> Frame:
    """The ``msg`` frame number ``seq`` carrying ``data`` (binary as base64, ``"b"``)."""
    if isinstance(data, str):
        return {"t": "msg", "s": seq, "d": data}
    return {"t": "msg", "s": seq, "d": base64.b64encode(data).decode("ascii"), "b": 1}


def close_frame(seq: int, code: int, reason: str) -> Frame:
    """The ``close`` frame number ``seq``."""
    return {"t": "close", "s": seq, "code": code, "reason": reason}


def message_data(frame: Frame) -> str | bytes:
    """What a ``msg`` frame carries: ``str``, or ``bytes`` when flagged binary.

    Raises:
        ProtocolViolation: the data is not a string, or not valid base64.
    """
    data = frame.get("d")
    if not isinstance(data, str):
        raise ProtocolViolation("a msg frame needs a string 'd'")
    if frame.get("b"):
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise ProtocolViolation(f"invalid base64 in a binary msg frame: {exc}") from None
    return data


def encode_packet(frames: Iterable[Frame]) -> str:
    """A packet: the frames as one compact JSON array."""
    return _encode(list(frames))


def _check(frame: object) -> Frame:
    if not isinstance(frame, dict):
        raise ProtocolViolation("a frame must be a JSON object")
    kind = frame.get("t")
    if kind not in _KNOWN:
        raise ProtocolViolation(f"unknown frame type {kind!r}")
    if kind in _SEQUENCED:
        seq = frame.get("s")
        if type(seq) is not int or seq < 1:
            raise ProtocolViolation(f"a {kind} frame needs a positive integer 's'")
    if kind == "ack":
        ack = frame.get("a")
        if type(ack) is not int or ack < 0:
            raise ProtocolViolation("an ack frame needs a non-negative integer 'a'")
    if kind == "close":
        code = frame.get("code", 1000)
        if type(code) is not int or not 1000 <= code <= 4999:
            raise ProtocolViolation(f"invalid close code {code!r}")
        if not isinstance(frame.get("reason", ""), str):
            raise ProtocolViolation("a close reason must be a string")
    return frame


def decode_packet(data: str | bytes) -> list[Frame]:
    """The frames of a packet, each checked.

    Raises:
        ProtocolViolation: not JSON, not an array of frames, or a malformed frame.
    """
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolViolation(f"a packet must be JSON: {exc}") from None
    if not isinstance(value, list):
        raise ProtocolViolation("a packet must be a JSON array")
    return [_check(frame) for frame in value]


class Outbox:
    """The sending side of one direction: numbers frames and keeps them until acked.

    Args:
        limit: how many unacknowledged frames it may hold; ``push`` beyond
            that raises ``QueueOverflow``.
    """

    __slots__ = ("_frames", "acked", "last", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[Frame] = deque()
        self.last = 0
        """The number of the last frame pushed."""
        self.acked = 0
        """The highest number the peer acknowledged."""

    def __len__(self) -> int:
        return len(self._frames)

    def push_message(self, data: str | bytes) -> Frame:
        """Number and keep a ``msg`` frame for ``data``; returns it.

        Raises:
            QueueOverflow: ``limit`` frames are already waiting for an ack.
        """
        if len(self._frames) >= self.limit:
            raise QueueOverflow(f"more than {self.limit} unacknowledged messages")
        self.last += 1
        frame = message_frame(self.last, data)
        self._frames.append(frame)
        return frame

    def push_close(self, code: int, reason: str) -> Frame:
        """Number and keep a ``close`` frame (never refused: it ends the stream)."""
        self.last += 1
        frame = close_frame(self.last, code, reason)
        self._frames.append(frame)
        return frame

    def ack(self, seq: int) -> None:
        """The peer has every frame up to ``seq``: forget them.

        An ack below an earlier one is stale and ignored; one beyond ``last``
        is clamped (the peer cannot have more than was sent).
        """
        seq = min(seq, self.last)
        if seq <= self.acked:
            return
        self.acked = seq
        frames = self._frames
        while frames and frames[0]["s"] <= seq:
            frames.popleft()

    def after(self, seq: int) -> list[Frame]:
        """The frames kept whose number is above ``seq``, in order: what to (re)send."""
        frames = self._frames
        if not frames or frames[-1]["s"] <= seq:
            return []
        start = max(0, seq - frames[0]["s"] + 1)
        return [frames[i] for i in range(start, len(frames))]


class Inbox:
    """The receiving side of one direction: takes frames in order, drops duplicates.

    ``last`` is the number of the last frame taken: what to acknowledge.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0

    def accept(self, frame: Frame) -> bool:
        """Whether ``frame`` (sequenced) is the next one, to deliver; counts it if so.

        A frame already taken (a resend) is a duplicate: ``False``. A frame
        beyond the next is ``False`` too: one before it was lost, and the
        sender resends from the last acknowledged one, so it comes again.
        """
        if frame["s"] != self.last + 1:
            return False
        self.last += 1
        return True
