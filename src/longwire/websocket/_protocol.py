"""The WebSocket protocol core (RFC 6455 §5-§8), sans I/O, after the opening handshake.

Feed it the bytes that arrive, get events back; call its send methods, write
what ``data_to_send`` returns::

    ws = Connection(Role.SERVER, trailing_data=http.trailing_data)
    for event in ws.receive_data(data):       # Message, Ping, Pong, CloseReceived,
        ...                                   # ConnectionFailed (always last)
    ws.send_message("hello")
    transport.write(ws.data_to_send())
    if ws.should_close_transport: transport.close()

States (``State``), and every transition::

    OPEN     --close()----------------------------> CLOSING   our Close frame is queued
    OPEN     --Close frame received---------------> CLOSED    we echo it
    CLOSING  --Close frame received---------------> CLOSED    closing handshake done
    any      --protocol violation, receive_eof()--> CLOSED

A protocol violation by the peer fails the connection (RFC 6455 §7.1.7): a Close
frame with the matching code is queued (unless ours was already sent), the state
becomes CLOSED, ``ConnectionFailed`` is the last event, and nothing more is parsed.
"""

from __future__ import annotations

import codecs
import enum
import os
import struct
from collections.abc import Iterator
from typing import Any, Protocol

from .._errors import LocalProtocolError, RemoteProtocolError
from .._role import Role
from ._close import MAX_REASON_SIZE, CloseCode, parse_close_payload, serialize_close_payload
from ._events import (
    CloseReceived,
    ConnectionFailed,
    Event,
    Message,
    Ping,
    Pong,
    _message,
    _new_object,
    _set_message_data,
)
from ._frames import FIN, RSV1, RSV2, RSV3, Opcode, frame_header
from ._masking import apply_mask, join_and_unmask

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "Connection", "PreparedMessage", "State"]

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""1 MiB: a message (after decompression) beyond this fails the connection with 1009.
Big enough for any chat or RPC payload; small enough that a few thousand
connections each holding a message in progress fit in memory. ``None`` disables."""

_MAX_CONTROL_PAYLOAD = 125
_MAX_LENGTH = (1 << 63) - 1  # RFC 6455 §5.2: "the most significant bit MUST be 0"
_MASK_POOL_SIZE = 4096  # 1024 masking keys per os.urandom call
# A masked payload at least this big is unmasked straight from a memoryview of the
# receive buffer instead of a slice, saving a copy; below it a slice is cheaper.
_MEMORYVIEW_THRESHOLD = 64 * 1024

_unpack_16 = struct.Struct("!H").unpack_from
_unpack_64 = struct.Struct("!Q").unpack_from
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

_TEXT = Opcode.TEXT.value
_BINARY = Opcode.BINARY.value
_CLOSE = Opcode.CLOSE.value
_PING = Opcode.PING.value
_PONG = Opcode.PONG.value
# First header bytes of an unfragmented, uncompressed text or binary message.
_FIN_TEXT = FIN | _TEXT
_FIN_BINARY = FIN | _BINARY
# Headers of unmasked single-frame messages of 0 to 125 bytes, built once.
_SMALL_TEXT_HEADERS = [frame_header(_FIN_TEXT, n, masked=False) for n in range(126)]
_SMALL_BINARY_HEADERS = [frame_header(_FIN_BINARY, n, masked=False) for n in range(126)]
_FAST_FIRST_BYTES = (_FIN_TEXT, _FIN_BINARY)


class State(enum.Enum):
    """Where the closing handshake stands (the opening handshake is already done)."""

    OPEN = "open"
    """Messages flow both ways."""
    CLOSING = "closing"
    """We sent a Close frame and wait for the peer's; we still receive messages."""
    CLOSED = "closed"
    """Close frames exchanged, connection failed, or TCP closed: nothing more happens."""


class _DeflateRuntime(Protocol):
    """What the connection needs from a negotiated permessage-deflate (RFC 7692).

    ``_deflate.PerMessageDeflateRuntime`` is the real one; tests may pass a fake.
    """

    def compress(self, data: bytes) -> bytes | None:
        """The compressed payload (trailing 00 00 ff ff removed), or None to send as is."""

    def decompress(self, data: bytes, *, fin: bool, max_size: int | None) -> bytes:
        """Inflate one frame's payload of a compressed message (``fin`` on the last)."""


def _violation(message: str, code: int = CloseCode.PROTOCOL_ERROR) -> RemoteProtocolError:
    return RemoteProtocolError(message, close_code=code)


class Connection:
    """One WebSocket connection, from either end, once the opening handshake is done.

    Args:
        role: which end we are; a client masks what it sends, a server requires masking.
        deflate: the negotiated permessage-deflate runtime, or None.
        max_message_size: largest message accepted, in bytes after decompression;
            bigger fails the connection with 1009. None disables the limit.
        max_frame_size: largest data frame payload accepted, in bytes (bigger fails
            with 1009); None disables the limit. Control frames carry at most 125.
        trailing_data: bytes that arrived after the handshake; they are parsed
            first, by the next ``receive_data`` call (``receive_data(b"")`` will do).

    Attributes:
        role: as given.
        state: a ``State``.
        close_sent: ``(code, reason)`` of the Close frame we sent, or None. Our
            answer to the peer's Close frame echoes its payload; an empty one
            (no code) is recorded as ``(1005, "")``.
        close_received: ``(code, reason)`` of the peer's Close frame, or None;
            ``code`` is 1005 when the frame carried none.
        max_message_size, max_frame_size: the limits; they may be changed at any time.
    """

    __slots__ = (
        "_buffer",
        "_chunks",
        "_chunks_size",
        "_client",
        "_decoder",
        "_deflate",
        "_eof",
        "_failure",
        "_fast_limit",
        "_frame",
        "_masking_keys",
        "_max_frame_size",
        "_max_message_size",
        "_msg_compressed",
        "_msg_decoded",
        "_msg_opcode",
        "_msg_parts",
        "_msg_size",
        "_out",
        "_out_size",
        "close_received",
        "close_sent",
        "role",
        "state",
    )

    def __init__(
        self,
        role: Role,
        *,
        deflate: _DeflateRuntime | None = None,
        # Limits
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        # Handover from the HTTP/1.1 core
        trailing_data: bytes = b"",
    ) -> None:
        self.role = role
        self.state = State.OPEN
        self.close_sent: tuple[int, str] | None = None
        self.close_received: tuple[int, str] | None = None
        self._max_message_size = max_message_size
        self._max_frame_size = max_frame_size
        self._fast_limit = _fast_limit(max_message_size, max_frame_size)
        self._client = role is Role.CLIENT
        self._deflate = deflate
        self._failure: RemoteProtocolError | None = None
        self._eof = False
        # Receiving. Between calls, either _buffer holds an incomplete frame header
        # (at most 13 bytes), or _frame holds a complete header whose payload is
        # still arriving into _chunks, so a big payload is joined exactly once.
        self._buffer = bytes(trailing_data)
        self._frame: tuple[int, bytes | None, int] | None = None  # first byte, mask, length
        self._chunks: list[bytes | memoryview] = []
        self._chunks_size = 0
        # The data message being received: _msg_opcode is 0 between messages.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0  # bytes on the wire so far
        self._msg_decoded = 0  # bytes after decompression so far
        self._msg_parts: list[Any] = []  # str pieces of a text message, bytes of a binary one
        self._decoder: codecs.IncrementalDecoder | None = None
        # Sending.
        self._out: list[bytes | memoryview] = []
        self._out_size = 0  # bytes in _out: buffered_amount asks per message
        self._masking_keys = _masking_keys() if self._client else None

    def __repr__(self) -> str:
        return f"<Connection {self.role.name} {self.state.name}>"

    @property
    def max_message_size(self) -> int | None:
        """The message size limit (see the class docstring); may be changed at any time."""
        return self._max_message_size

    @max_message_size.setter
    def max_message_size(self, size: int | None) -> None:
        self._max_message_size = size
        self._fast_limit = _fast_limit(size, self._max_frame_size)

    @property
    def max_frame_size(self) -> int | None:
        """The frame size limit (see the class docstring); may be changed at any time."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, size: int | None) -> None:
        self._max_frame_size = size
        self._fast_limit = _fast_limit(self._max_message_size, size)

    # Receiving.

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse the bytes that arrived; return the events they complete.

        Every complete frame in the buffer is processed. A protocol violation
        ends the list with ``ConnectionFailed`` (the events before it stand) and
        queues the matching Close frame.

        Returns:
            The events, possibly none. Always none once the state is CLOSED.
        """
        if self.state is State.CLOSED:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        events: list[Event] = []
        try:
            if self._frame is not None:
                start = self._receive_payload(data, events)
                if start < 0:
                    return events
                self._buffer = self._parse(data, start, events)
            elif self._buffer:
                self._buffer = self._parse(self._buffer + data, 0, events)
            else:
                self._buffer = self._parse(data, 0, events)
        except RemoteProtocolError as error:
            self._fail(error, events)
        return events

    def receive_eof(self) -> list[Event]:
        """The peer closed TCP: the connection is CLOSED.

        A truncated frame still buffered is dropped. If no Close frame arrived,
        ``close_received`` stays None (the I/O layer reports 1006).

        Returns:
            No events (the list is for symmetry with ``receive_data``).
        """
        self._eof = True
        self._enter_closed()
        return []

    def _parse(self, buf: bytes, offset: int, events: list[Event]) -> bytes:
        """Process every complete frame of ``buf`` from ``offset``; return the leftover.

        The leftover is an incomplete header; a frame whose header is complete but
        whose payload is not is moved to ``_frame``/``_chunks`` instead.
        """
        end = len(buf)
        append = events.append
        expected_mask_bit = 0 if self._client else 0x80
        # Module globals as locals, for the hot loop.
        fast_first_bytes = _FAST_FIRST_BYTES
        fin_binary = _FIN_BINARY
        new_object = _new_object
        set_message_data = _set_message_data
        # The largest single-frame message the fast path may accept unchecked.
        fast_limit = self._fast_limit

        while offset + 2 <= end:
            first = buf[offset]
            second = buf[offset + 1]
            payload_start = offset + 2
            length = second & 0x7F
            if length == 126:
                payload_start += 2
                if payload_start > end:
                    break
                (length,) = _unpack_16(buf, offset + 2)
            elif length == 127:
                payload_start += 8
                if payload_start > end:
                    break
                (length,) = _unpack_64(buf, offset + 2)
            mask: bytes | None = None
            if second & 0x80:
                mask = buf[payload_start : payload_start + 4]
                payload_start += 4
                if payload_start > end:
                    break

            # The header is complete: check it before waiting for the payload, so
            # a frame the limits refuse is never buffered.
            fast = (
                first in fast_first_bytes
                and second & 0x80 == expected_mask_bit
                and length <= fast_limit
                and not self._msg_opcode
            )
            if not fast:
                self._check_header(first, second & 0x80, length)

            payload_end = payload_start + length
            if payload_end > end:
                # Wait for the rest of the payload, collecting pieces to join once.
                # A big piece is kept as a view of buf rather than copied.
                self._frame = (first, mask, length)
                self._chunks = [
                    buf[payload_start:]
                    if end - payload_start < _MEMORYVIEW_THRESHOLD
                    else memoryview(buf)[payload_start:]
                ]
                self._chunks_size = end - payload_start
                return b""
            if mask is None:
                payload = buf[payload_start:payload_end]
            elif length < _MEMORYVIEW_THRESHOLD:
                payload = apply_mask(buf[payload_start:payload_end], mask)
            else:
                payload = apply_mask(memoryview(buf)[payload_start:payload_end], mask)
            offset = payload_end

            if not fast:
                self._handle_frame(first, payload, events)
                if self.state is State.CLOSED:
                    return b""  # a Close frame: whatever follows is ignored
            else:
                # An unfragmented, uncompressed message: built here without the
                # general machinery (see _events._message), a text one decoded at
                # once (RFC 6455 §8.1, see _handle_frame).
                message: Message = new_object(Message)
                if first == fin_binary:
                    set_message_data(message, payload)
                else:
                    try:
                        set_message_data(message, payload.decode())
                    except UnicodeDecodeError:
                        raise _invalid_utf8() from None
                append(message)

        return buf[offset:]

    def _receive_payload(self, data: bytes, events: list[Event]) -> int:
        """Add ``data`` to the payload of ``_frame``; process the frame once complete.

        Returns:
            The offset in ``data`` where the next frame starts, or -1 if there is
            nothing more to parse: the payload is incomplete, or was a Close frame.
        """
        assert self._frame is not None
        first, mask, length = self._frame
        needed = length - self._chunks_size
        if len(data) < needed:
            self._chunks.append(data)
            self._chunks_size += len(data)
            return -1
        chunks = self._chunks
        chunks.append(memoryview(data)[:needed] if needed < len(data) else data)
        self._frame = None
        self._chunks = []
        self._chunks_size = 0
        payload = b"".join(chunks) if mask is None else join_and_unmask(chunks, mask)
        self._handle_frame(first, payload, events)
        return -1 if self.state is State.CLOSED else needed

    def _check_header(self, first: int, mask_bit: int, length: int) -> None:
        """Enforce every rule a frame header can break.

        Raises:
            RemoteProtocolError: with the close code to fail the connection with.
        """
        if self._client:
            # RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the
            # client. A client MUST close a connection if it detects a masked frame."
            if mask_bit:
                raise _violation("masked frame from the server")
        elif not mask_bit:
            # RFC 6455 §5.1: "The server MUST close the connection upon receiving a
            # frame that is not masked."
            raise _violation("unmasked frame from the client")
        # RFC 6455 §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that
        # defines meanings for non-zero values. If a nonzero value is received and
        # none of the negotiated extensions defines the meaning of such a nonzero
        # value, the receiving endpoint MUST _Fail the WebSocket Connection_."
        # permessage-deflate defines RSV1 only (RFC 7692 §6).
        if first & (RSV2 | RSV3):
            raise _violation("reserved bit RSV2 or RSV3 set")
        opcode = first & 0x0F
        if opcode >= _CLOSE:
            # RFC 6455 §5.2: "If an unknown opcode is received, the receiving
            # endpoint MUST _Fail the WebSocket Connection_."
            if opcode > _PONG:
                raise _violation(f"reserved opcode {opcode:#x}")
            # RFC 6455 §5.5: "All control frames MUST have a payload length of 125
            # bytes or less and MUST NOT be fragmented."
            if not first & FIN:
                raise _violation("fragmented control frame")
            if length > _MAX_CONTROL_PAYLOAD:
                raise _violation("control frame payload over 125 bytes")
            # RFC 7692 §6: "An endpoint MUST NOT set the "Per-Message Compressed"
            # bit of control frames"
            if first & RSV1:
                raise _violation("reserved bit RSV1 set on a control frame")
            return  # 125 bytes at most: the limits below are for data frames
        if opcode == Opcode.CONTINUATION:
            # RFC 6455 §5.4: "A fragmented message consists of a single frame with
            # the FIN bit clear and an opcode other than 0, followed by zero or more
            # frames with the FIN bit clear and the opcode set to 0"
            if not self._msg_opcode:
                raise _violation("continuation frame without a message to continue")
            # RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message Compressed"
            # bit of [...] non-first fragments of a data message."
            if first & RSV1:
                raise _violation("reserved bit RSV1 set on a continuation frame")
        elif opcode <= _BINARY:
            # RFC 6455 §5.4: "The fragments of one message MUST NOT be interleaved
            # between the fragments of another message unless an extension has been
            # negotiated that can interpret the interleaving."
            if self._msg_opcode:
                raise _violation("new message before the previous one was complete")
            if first & RSV1 and self._deflate is None:
                raise _violation("reserved bit RSV1 set without permessage-deflate")
        else:
            raise _violation(f"reserved opcode {opcode:#x}")
        if length > _MAX_LENGTH:
            raise _violation("payload length with the most significant bit set")
        if self.max_frame_size is not None and length > self.max_frame_size:
            raise _violation(
                f"frame of {length} bytes exceeds the limit of {self.max_frame_size}",
                CloseCode.MESSAGE_TOO_BIG,
            )
        if self.max_message_size is not None:
            size = length + self._msg_size if opcode == Opcode.CONTINUATION else length
            limit = self.max_message_size
            if first & RSV1 if opcode != Opcode.CONTINUATION else self._msg_compressed:
                # The limit is on the decompressed size (checked while inflating);
                # on the wire, allow what deflate adds to incompressible data
                # (5 bytes per stored block of up to 64 KiB, plus a few).
                limit += (limit >> 8) + 64
            if size > limit:
                raise _violation(
                    f"message of {size}+ bytes exceeds the limit of {self.max_message_size}",
                    CloseCode.MESSAGE_TOO_BIG,
                )

    def _handle_frame(self, first: int, payload: bytes, events: list[Event]) -> None:
        """Act on a complete frame whose header ``_check_header`` accepted."""
        opcode = first & 0x0F
        if opcode >= _CLOSE:
            self._handle_control(opcode, payload, events)
            return
        fin = bool(first & FIN)
        if opcode:
            # The first frame of a message.
            self._msg_opcode = opcode
            self._msg_compressed = bool(first & RSV1)
            self._msg_size = self._msg_decoded = 0
            self._msg_parts = []
            self._decoder = None if fin or opcode == _BINARY else _Utf8Decoder()
        self._msg_size += len(payload)
        if self._msg_compressed:
            assert self._deflate is not None
            limit = self.max_message_size
            if limit is not None:
                limit -= self._msg_decoded
            payload = self._deflate.decompress(payload, fin=fin, max_size=limit)
            self._msg_decoded += len(payload)

        data: str | bytes = payload
        if self._msg_opcode == _TEXT:
            # RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8
            # but finds that the byte stream is not, in fact, a valid UTF-8 stream,
            # that endpoint MUST _Fail the WebSocket Connection_." The incremental
            # decoder fails at the first fragment that cannot be UTF-8; §5.6: "a
            # particular text frame might include a partial UTF-8 sequence; however,
            # the whole message MUST contain valid UTF-8", hence final=fin.
            try:
                if self._decoder is None:
                    data = payload.decode()
                else:
                    data = self._decoder.decode(payload, final=fin)
                    if not fin and _is_surrogate_start(self._decoder.getstate()[0]):
                        raise _invalid_utf8()
            except UnicodeDecodeError:
                raise _invalid_utf8() from None
        if not fin:
            self._msg_parts.append(data)
            return
        if self._msg_parts:
            self._msg_parts.append(data)
            data = data[:0].join(self._msg_parts)
        events.append(_message(data))
        self._end_message()

    def _handle_control(self, opcode: int, payload: bytes, events: list[Event]) -> None:
        if opcode == _PING:
            events.append(Ping(payload=payload))
            # RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
            # Pong frame in response, unless it already received a Close frame."
            # That holds while CLOSING too: only a received Close frame (which makes
            # us CLOSED) ends it. §5.5.3: "A Pong frame sent in response to a Ping
            # frame must have identical "Application data" as found in the message
            # body of the Ping frame being replied to."
            self._send_frame(FIN | _PONG, payload)
        elif opcode == _PONG:
            # RFC 6455 §5.5.3: "A response to an unsolicited Pong frame is not expected."
            events.append(Pong(payload=payload))
        else:
            code, reason = parse_close_payload(payload)
            self.close_received = (code, reason)
            events.append(CloseReceived(code=code, reason=reason))
            if self.close_sent is None:
                # RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
                # previously send a Close frame, the endpoint MUST send a Close frame
                # in response. (When sending a Close frame in response, the endpoint
                # typically echos the status code it received.)" The payload is echoed
                # whole, reason included (as websockets does), and so a frame without
                # a code is echoed empty: §7.4.1, 1005 "MUST NOT be set as a status
                # code in a Close control frame by an endpoint."
                self._send_frame(FIN | _CLOSE, payload)
                self.close_sent = (code, reason)
            # RFC 6455 §1.4: "after receiving a control frame indicating the
            # connection should be closed, a peer discards any further data
            # received." A message in progress is abandoned.
            self._enter_closed()

    def _end_message(self) -> None:
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = self._msg_decoded = 0
        self._msg_parts = []
        self._decoder = None

    def _fail(self, error: RemoteProtocolError, events: list[Event]) -> None:
        # RFC 6455 §7.1.7: "If the WebSocket Connection is established prior to the
        # point where the endpoint is required to _Fail the WebSocket Connection_,
        # the endpoint SHOULD send a Close frame with an appropriate status code
        # (Section 7.4) before proceeding to _Close the WebSocket Connection_."
        # Only one Close frame is ever sent.
        if self.close_sent is None:
            code = error.close_code or CloseCode.PROTOCOL_ERROR
            encoded = error.message.encode("utf-8")[:MAX_REASON_SIZE]
            reason = encoded.decode("utf-8", "ignore")  # a cut character is dropped
            self._send_frame(FIN | _CLOSE, serialize_close_payload(code, reason))
            self.close_sent = (code, reason)
        # RFC 6455 §7.1.7: "An endpoint MUST NOT continue to attempt to process data
        # (including a responding Close frame) from the remote endpoint after being
        # instructed to _Fail the WebSocket Connection_."
        self._failure = error
        self._enter_closed()
        events.append(ConnectionFailed(error=error))

    def _enter_closed(self) -> None:
        self.state = State.CLOSED
        self._buffer = b""
        self._frame = None
        self._chunks = []
        self._end_message()

    # Sending.

    def send_message(
        self,
        data: str | bytes | bytearray | memoryview,
        *,
        compress: bool = True,
        fragment_size: int | None = None,
    ) -> None:
        """Queue a message: ``str`` as text, bytes-like as binary.

        Args:
            data: the message.
            compress: with permessage-deflate negotiated, compress the message
                (unless the extension declines, e.g. below its minimum size).
            fragment_size: split the (compressed) payload into frames of at most
                this many bytes; None sends a single frame.

        Raises:
            LocalProtocolError: our Close frame was already sent, or the
                connection is CLOSED.
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``fragment_size`` is less than 1.
        """
        if (
            self._masking_keys is None
            and (self._deflate is None or not compress)
            and fragment_size is None
            and self.state is State.OPEN
        ):
            # The server's common case, made short: one small unmasked frame.
            kind = type(data)
            if kind is str and len(data) < 126:
                payload = data.encode()  # type: ignore[union-attr]
                if len(payload) < 126:  # else (non-ASCII) the general path below
                    self._out += (_SMALL_TEXT_HEADERS[len(payload)], payload)
                    self._out_size += 2 + len(payload)
                    return
            elif kind is bytes and len(data) < 126:
                self._out += (_SMALL_BINARY_HEADERS[len(data)], data)  # type: ignore[arg-type]
                self._out_size += 2 + len(data)
                return
        if self.state is not State.OPEN:
            # RFC 6455 §5.5.1: "The application MUST NOT send any more data frames
            # after sending a Close frame."
            raise LocalProtocolError(f"cannot send a message: the connection is {self.state.value}")
        if isinstance(data, str):
            first = _FIN_TEXT
            payload = data.encode()
        elif isinstance(data, bytes):
            first = _FIN_BINARY
            payload = data
        elif isinstance(data, bytearray | memoryview):
            first = _FIN_BINARY
            payload = bytes(data)  # the caller may mutate it once we return
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(data).__name__}")
        if fragment_size is not None and fragment_size < 1:
            raise ValueError("fragment_size must be at least 1")

        if compress and self._deflate is not None:
            compressed = self._deflate.compress(payload)
            if compressed is not None:
                # RFC 7692 §6: the "Per-Message Compressed" bit is RSV1 of the first frame.
                payload = compressed
                first |= RSV1

        if fragment_size is None or len(payload) <= fragment_size:
            self._send_frame(first, payload)
            return
        # RFC 6455 §5.4: "a single frame with the FIN bit clear and an opcode other
        # than 0, followed by zero or more frames with the FIN bit clear and the
        # opcode set to 0, and terminated by a single frame with the FIN bit set and
        # an opcode of 0." RFC 7692 §6.1: RSV1 is set on the first frame only.
        view = memoryview(payload)
        pieces = [view[i : i + fragment_size] for i in range(0, len(payload), fragment_size)]
        self._send_frame(first & ~FIN, pieces[0])
        for piece in pieces[1:-1]:
            self._send_frame(Opcode.CONTINUATION, piece)
        self._send_frame(FIN | Opcode.CONTINUATION, pieces[-1])

    def send_prepared(self, message: PreparedMessage) -> None:
        """Queue a message framed once by ``PreparedMessage`` for many connections.

        A server sends it as it is; permessage-deflate, when negotiated, is
        skipped for it (RFC 7692 §6: a message without RSV1 is uncompressed, and
        the compression context is left as it was). A client, which must mask
        every frame, sends the message normally.

        Raises:
            LocalProtocolError: our Close frame was already sent, or the
                connection is CLOSED.
        """
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot send a message: the connection is {self.state.value}")
        if self._masking_keys is None:
            self._out += message.pieces
            self._out_size += message.size
        else:
            self.send_message(message.data, compress=False)

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a Ping frame (allowed while CLOSING, for keepalives).

        Raises:
            LocalProtocolError: ``payload`` is over 125 bytes, or the connection is CLOSED.
        """
        self._send_control(FIN | _PING, payload)

    def send_pong(self, payload: bytes = b"") -> None:
        """Queue an unsolicited Pong frame (RFC 6455 §5.5.3, a one-way heartbeat).

        Raises:
            LocalProtocolError: ``payload`` is over 125 bytes, or the connection is CLOSED.
        """
        self._send_control(FIN | _PONG, payload)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake: queue a Close frame; the state becomes CLOSING.

        A call once a Close frame was sent, or once CLOSED, does nothing.

        Raises:
            LocalProtocolError: ``code`` cannot be sent (RFC 6455 §7.4), or
                ``reason`` is over 123 bytes in UTF-8.
        """
        payload = serialize_close_payload(code, reason)
        if self.close_sent is not None or self.state is State.CLOSED:
            return
        self._send_frame(FIN | _CLOSE, payload)
        self.close_sent = (code, reason)
        self.state = State.CLOSING

    def data_to_send(self) -> bytes:
        """Everything queued to send since the last call, as one bytes object."""
        out = self._out
        if not out:
            return b""
        self._out = []
        self._out_size = 0
        return b"".join(out)

    def data_to_send_list(self) -> list[bytes | memoryview]:
        """Everything queued to send since the last call, as the pieces it was queued in.

        The same bytes as ``data_to_send()``, without joining them: a big payload
        stays one piece, to write with ``transport.writelines`` without a copy.
        """
        out = self._out
        self._out = []
        self._out_size = 0
        return out

    @property
    def bytes_to_send(self) -> int:
        """How many bytes ``data_to_send()`` would return now."""
        return self._out_size

    @property
    def should_close_transport(self) -> bool:
        """Whether the I/O layer should now close TCP (after writing ``data_to_send()``).

        RFC 6455 §7.1.1: "The underlying TCP connection, in most normal cases,
        SHOULD be closed first by the server, so that it holds the TIME_WAIT state
        and not the client". So a server closes once CLOSED; a client only after a
        failure or the peer's EOF, and otherwise waits (with a timeout, in the I/O
        layer) for the server to close.
        """
        if self.state is not State.CLOSED:
            return False
        return not self._client or self._failure is not None or self._eof

    def _send_control(self, first: int, payload: bytes) -> None:
        if self.state is State.CLOSED:
            raise LocalProtocolError("cannot send a control frame: the connection is closed")
        payload = bytes(payload)
        # RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes
        # or less"
        if len(payload) > _MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError(f"control frame payload of {len(payload)} bytes, over 125")
        self._send_frame(first, payload)

    def _send_frame(self, first: int, payload: bytes | memoryview) -> None:
        # The header, key and payload go out as separate pieces: data_to_send
        # joins them once, so a big payload is copied once (after masking).
        if self._masking_keys is None:
            # RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the
            # client."
            header = frame_header(first, len(payload), masked=False)
            self._out += (header, payload)
        else:
            mask = next(self._masking_keys)
            header = frame_header(first, len(payload), masked=True)
            self._out += (header, mask, apply_mask(payload, mask))
            self._out_size += 4
        self._out_size += len(header) + len(payload)


class PreparedMessage:
    """A message framed once, to be sent to many connections (``Connection.send_prepared``).

    It is the single, unmasked, uncompressed frame a server sends: a broadcast
    to thousands of connections encodes and frames the message once.
    """

    __slots__ = ("data", "pieces", "size")

    def __init__(self, data: str | bytes) -> None:
        if isinstance(data, str):
            first, payload = _FIN_TEXT, data.encode()
        elif isinstance(data, bytes):
            first, payload = _FIN_BINARY, data
        else:
            raise TypeError(f"message must be str or bytes, not {type(data).__name__}")
        self.data = data
        """The message as given."""
        self.pieces = (frame_header(first, len(payload), masked=False), payload)
        """The frame's header and payload."""
        self.size = len(self.pieces[0]) + len(payload)
        """The frame's length in bytes."""


def _fast_limit(max_message_size: int | None, max_frame_size: int | None) -> int:
    """The largest single-frame message the parser's fast path may accept unchecked."""
    limit = _MAX_LENGTH
    for size in (max_message_size, max_frame_size):
        if size is not None:
            limit = min(limit, size)
    return limit


def _masking_keys() -> Iterator[bytes]:
    """Fresh masking keys, drawn 1024 at a time from ``os.urandom``.

    RFC 6455 §5.3: "The masking key is a 32-bit value chosen at random by the
    client. When preparing a masked frame, the client MUST pick a fresh masking
    key from the set of allowed 32-bit values. The masking key needs to be
    unpredictable; thus, the masking key MUST be derived from a strong source of
    entropy". Batching the system call keeps that and makes a key cheap.
    """
    while True:
        pool = os.urandom(_MASK_POOL_SIZE)
        for start in range(0, _MASK_POOL_SIZE, 4):
            yield pool[start : start + 4]


def _is_surrogate_start(pending: bytes) -> bool:
    """Whether the decoder holds back ED A0..ED BF, a UTF-16 surrogate that UTF-8 forbids.

    CPython's incremental decoder rejects every other impossible prefix at once
    but waits for a third byte here; checking it keeps failure fast (RFC 6455 §8.1).
    """
    return len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0


def _invalid_utf8() -> RemoteProtocolError:
    return _violation("invalid UTF-8 in a text message", CloseCode.INVALID_FRAME_PAYLOAD_DATA)
