"""Helpers for the WebSocket core tests: frames built and read by hand, a fake deflate.

They are written independently of longwire's serializer and parser (plain
``int.to_bytes`` and a per-byte XOR), so the tests compare longwire with a
second implementation rather than with itself.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from longwire import RemoteProtocolError
from longwire.websocket._masking import apply_mask_python

MASK = bytes.fromhex("37fa213d")  # the RFC 6455 §5.7 examples' masking key


def _c_apply_mask() -> Callable[[bytes, bytes], bytes] | None:
    try:
        return importlib.import_module("longwire._speedups").apply_mask
    except ImportError:
        return None


C_APPLY_MASK = _c_apply_mask()
"""The C implementation, or None when the extension was not built."""


def xor(data: bytes, mask: bytes) -> bytes:
    """Reference masking, one byte at a time.

    Past 4 KiB, where that gets slow, apply_mask_python stands in (test_masking
    checks it against this loop).
    """
    if len(data) > 4096:
        return apply_mask_python(data, mask)
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def raw_frame(
    first: int, payload: bytes = b"", *, mask: bytes | None = None, length: int | None = None
) -> bytes:
    """A frame from its first byte and payload; ``length`` overrides the announced length."""
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if size < 126:
        header = bytes([first, mask_bit | size])
    elif size < 1 << 16:
        header = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + xor(payload, mask)


def client_frame(first: int, payload: bytes = b"") -> bytes:
    """A frame as a client sends it (masked with ``MASK``)."""
    return raw_frame(first, payload, mask=MASK)


@dataclass(frozen=True)
class WireFrame:
    first: int
    payload: bytes  # unmasked
    mask: bytes | None


def read_frames(data: bytes) -> list[WireFrame]:
    """Split a byte stream into frames; it must end on a frame boundary."""
    frames = []
    offset = 0
    while offset < len(data):
        first, second = data[offset], data[offset + 1]
        offset += 2
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(data[offset : offset + 2], "big")
            offset += 2
        elif size == 127:
            size = int.from_bytes(data[offset : offset + 8], "big")
            offset += 8
        mask = None
        if second & 0x80:
            mask = data[offset : offset + 4]
            offset += 4
        payload = data[offset : offset + size]
        assert len(payload) == size, "truncated frame"
        offset += size
        if mask is not None:
            payload = xor(payload, mask)
        frames.append(WireFrame(first, payload, mask))
    return frames


def close_frame(code: int, reason: str) -> bytes:
    """The unmasked Close frame a server sends."""
    return raw_frame(0x88, code.to_bytes(2, "big") + reason.encode())


@dataclass
class FakeDeflate:
    """A stand-in for the permessage-deflate runtime that records how it is called.

    Raw DEFLATE, no context takeover, ``min_size`` to decline small messages.
    """

    min_size: int = 0
    calls: list[tuple[str, int, bool, int | None]] = field(default_factory=list)
    _decoder: zlib._Decompress | None = None

    def compress(self, data: bytes) -> bytes | None:
        self.calls.append(("compress", len(data), True, None))
        if len(data) < self.min_size:
            return None
        encoder = zlib.compressobj(wbits=-15)
        out = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def decompress(self, data: bytes, *, fin: bool, max_size: int | None) -> bytes:
        self.calls.append(("decompress", len(data), fin, max_size))
        if self._decoder is None:
            self._decoder = zlib.decompressobj(wbits=-15)
        try:
            out = self._decoder.decompress(data + (b"\x00\x00\xff\xff" if fin else b""))
        except zlib.error as exc:
            raise RemoteProtocolError("corrupt", close_code=1007) from exc
        if fin:
            self._decoder = None
        if max_size is not None and len(out) > max_size:
            raise RemoteProtocolError("too big once inflated", close_code=1009)
        return out


def deflated(data: bytes) -> bytes:
    """``data`` compressed as a permessage-deflate payload (tail removed)."""
    encoder = zlib.compressobj(wbits=-15)
    return (encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH))[:-4]


def split_frames(data: bytes) -> list[bytes]:
    """The raw bytes of each frame of a stream that ends on a frame boundary."""
    pieces = []
    offset = 0
    while offset < len(data):
        second = data[offset + 1]
        size = second & 0x7F
        header = 2
        if size == 126:
            size = int.from_bytes(data[offset + 2 : offset + 4], "big")
            header += 2
        elif size == 127:
            size = int.from_bytes(data[offset + 2 : offset + 10], "big")
            header += 8
        if second & 0x80:
            header += 4
        pieces.append(data[offset : offset + header + size])
        offset += header + size
    return pieces
