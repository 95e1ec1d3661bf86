"""Frame masking (RFC 6455 §5.3): XOR with a 4-byte key, in C when available.

``apply_mask`` is ``longwire._speedups.apply_mask`` when the extension was built,
and ``apply_mask_python`` otherwise; ``LONGWIRE_NO_SPEEDUPS=1`` in the environment
forces the pure-Python one. ``SPEEDUPS`` says which is in use.
"""

from __future__ import annotations

import os

__all__ = [
    "SPEEDUPS",
    "apply_mask",
    "apply_mask_python",
    "join_and_unmask",
    "join_and_unmask_python",
]


def apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes, /) -> bytes:
    """XOR ``data`` with ``mask`` repeated (RFC 6455 §5.3); (un)masking are the same operation.

    The whole payload is XORed as one big integer, so the work happens in C
    inside ``int`` arithmetic, with no Python-level loop over the bytes.

    Args:
        data: the payload, any bytes-like object.
        mask: the 4-byte masking key.

    Returns:
        The transformed payload.

    Raises:
        ValueError: ``mask`` is not exactly 4 bytes long.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    length = len(data)
    if not length:
        return b""
    # RFC 6455 §5.3: "octet i of the transformed data ("transformed-octet-i") is
    # the XOR of octet i of the original data ("original-octet-i") with octet at
    # index i modulo 4 of the masking key ("masking-key-octet-j")".
    repeated = (bytes(mask) * ((length + 3) // 4))[:length]
    # XOR works byte for byte, so any byte order does as long as both sides agree;
    # CPython's int.to_bytes is several times faster little-endian than big.
    masked = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
    return masked.to_bytes(length, "little")


def join_and_unmask_python(chunks: list[bytes | memoryview], mask: bytes, /) -> bytes:
    """``apply_mask(b"".join(chunks), mask)``: a payload that arrived in pieces, unmasked.

    The C version does it in one pass and one allocation.
    """
    return apply_mask_python(b"".join(chunks), mask)


try:
    if os.environ.get("LONGWIRE_NO_SPEEDUPS") == "1":
        raise ImportError("LONGWIRE_NO_SPEEDUPS=1 forces pure Python")
    from .._speedups import apply_mask, join_and_unmask
except ImportError:
    apply_mask = apply_mask_python
    join_and_unmask = join_and_unmask_python

SPEEDUPS: bool = apply_mask is not apply_mask_python
"""True when ``apply_mask`` is the C implementation."""
