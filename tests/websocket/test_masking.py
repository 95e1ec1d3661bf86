"""Masking (RFC 6455 §5.3): the C and pure-Python implementations, and the switch between them."""

import importlib
import os
import random
import subprocess
import sys

import pytest
from ws_testing import C_APPLY_MASK, MASK, xor

from longwire.websocket import _masking


def test_rfc_example(apply_mask):
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    assert apply_mask(b"Hello", MASK) == bytes.fromhex("7f9f4d5158")
    assert apply_mask(bytes.fromhex("7f9f4d5158"), MASK) == b"Hello"


def test_random_lengths_and_offsets_match_the_reference(apply_mask):
    rng = random.Random(6455)
    block = rng.randbytes(1100)
    for length in range(1001):
        offset = rng.randrange(8)  # unaligned starts exercise the word loop's edges
        data = memoryview(block)[offset : offset + length]
        mask = rng.randbytes(4)
        expected = xor(bytes(data), mask)
        assert apply_mask(data, mask) == expected
        assert apply_mask(bytes(data), mask) == expected


def test_16_mib_matches_and_round_trips(apply_mask):
    data = os.urandom(16 * 1024 * 1024 + 3)
    mask = os.urandom(4)
    masked = apply_mask(data, mask)
    # Spot-check against the reference at the start, the end, and in between.
    for start in (0, 8 * 1024 * 1024 + 1, len(data) - 1000):
        assert masked[start : start + 1000] == xor(data[start : start + 1000], _rotate(mask, start))
    assert apply_mask(masked, mask) == data


def _rotate(mask: bytes, start: int) -> bytes:
    shift = start % 4
    return mask[shift:] + mask[:shift]


def test_both_implementations_agree_on_16_mib():
    if C_APPLY_MASK is None:
        pytest.skip("longwire._speedups is not built")
    data = os.urandom(16 * 1024 * 1024 + 5)
    assert C_APPLY_MASK(data, b"\x01\x02\x03\x04") == _masking.apply_mask_python(
        data, b"\x01\x02\x03\x04"
    )


def test_accepts_any_buffer(apply_mask):
    expected = xor(b"abcdefghij", MASK)
    assert apply_mask(bytearray(b"abcdefghij"), MASK) == expected
    assert apply_mask(memoryview(b"abcdefghij"), bytearray(MASK)) == expected
    assert type(apply_mask(bytearray(b"ab"), MASK)) is bytes


def test_empty_payload(apply_mask):
    assert apply_mask(b"", MASK) == b""


@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde", b"\x00" * 8])
def test_mask_must_be_4_bytes(apply_mask, mask):
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask(b"data", mask)
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask(b"", mask)


def test_c_rejects_bad_arguments():
    if C_APPLY_MASK is None:
        pytest.skip("longwire._speedups is not built")
    with pytest.raises(TypeError):
        C_APPLY_MASK("text", MASK)
    with pytest.raises(TypeError):
        C_APPLY_MASK(b"data")
    with pytest.raises(TypeError):
        C_APPLY_MASK(b"data", MASK, MASK)


def test_speedups_required_when_asked():
    """CI sets LONGWIRE_REQUIRE_SPEEDUPS=1 where the extension must have been built."""
    if os.environ.get("LONGWIRE_REQUIRE_SPEEDUPS") == "1":
        assert C_APPLY_MASK is not None, "longwire._speedups failed to build or import"
        assert _masking.SPEEDUPS or os.environ.get("LONGWIRE_NO_SPEEDUPS") == "1"


def test_module_uses_c_when_built():
    assert _masking.SPEEDUPS is (_masking.apply_mask is not _masking.apply_mask_python)
    if C_APPLY_MASK is not None and os.environ.get("LONGWIRE_NO_SPEEDUPS") != "1":
        assert _masking.SPEEDUPS
        assert _masking.apply_mask is C_APPLY_MASK


def test_environment_forces_pure_python():
    code = (
        "from longwire.websocket import _masking as m; "
        "print(m.SPEEDUPS, m.apply_mask is m.apply_mask_python)"
    )
    env = {**os.environ, "LONGWIRE_NO_SPEEDUPS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]


@pytest.fixture(params=["python", "c"])
def join_and_unmask(request):
    """Each implementation in turn; the C one is skipped only if it was not built."""
    if request.param == "python":
        return _masking.join_and_unmask_python
    if C_APPLY_MASK is None:
        pytest.skip("longwire._speedups is not built (python setup.py build_ext --inplace)")
    return importlib.import_module("longwire._speedups").join_and_unmask


def test_join_and_unmask_equals_join_then_unmask(join_and_unmask):
    # Chunks split anywhere, including at offsets that are not multiples of 4, so
    # the mask must continue from where the previous chunk stopped.
    rng = random.Random(7692)
    for _ in range(300):
        sizes = [rng.randrange(0, 40) for _ in range(rng.randrange(1, 8))]
        chunks = [rng.randbytes(size) for size in sizes]
        mask = rng.randbytes(4)
        pieces = [memoryview(c) if rng.random() < 0.5 else c for c in chunks]
        assert join_and_unmask(pieces, mask) == xor(b"".join(chunks), mask)
    with pytest.raises(ValueError, match="4 bytes"):
        join_and_unmask([b"abc"], b"12")
