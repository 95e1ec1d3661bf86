"""Content codings: choosing, compressing responses, decoding request bodies (RFC 9110 §8.4)."""

import gzip
import random
import struct
import sys
import tracemalloc
import types
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longwire.app import HTTPError, _coding
from longwire.app._coding import (
    BROTLI_QUALITY,
    GZIP_LEVEL,
    MAX_DECODED_SIZE,
    MIN_COMPRESS_SIZE,
    ContentCodingError,
    DecodedContentTooLarge,
    Decoder,
    Encoder,
    UnsupportedContentCoding,
    apply_content_coding,
    brotli_available,
    choose_coding,
    decode_body,
    encode_body,
    is_compressible,
    make_encoder,
    parse_content_encoding,
    should_compress,
    supported_codings,
)
from longwire.http1 import Headers

try:
    import brotli
except ImportError:  # the absent case is covered by the no_brotli fixture
    brotli = None

needs_brotli = pytest.mark.skipif(
    not brotli_available(), reason="pip install 'longwire[brotli]' (brotli >= 1.2)"
)
ZLIB_CODINGS = ["gzip", "deflate"]
ALL_CODINGS = ["gzip", "deflate", pytest.param("br", marks=needs_brotli)]


@pytest.fixture
def no_brotli(monkeypatch):
    """longwire as it is without the brotli package."""
    monkeypatch.setattr(_coding, "_load_brotli", lambda: None)


def sample(size=20_000, seed=0):
    """Compressible bytes: words from a small vocabulary, some random bytes."""
    rng = random.Random(seed)
    words = [b"event", b"data", b"id", b"retry", b"{", b"}", b'"x":', b"12", b"\n", b"\x00\xff"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) if rng.random() < 0.9 else rng.randbytes(3)
    return bytes(out[:size])


def stdlib_decode(data, coding):
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "deflate":
        return zlib.decompress(data)
    return brotli.decompress(data)


# Availability


def test_brotli_availability(no_brotli):
    assert not brotli_available()
    assert supported_codings() == ("gzip", "deflate")
    with pytest.raises(RuntimeError, match=r"pip install 'longwire\[brotli\]'"):
        make_encoder("br")


@needs_brotli
def test_brotli_present():
    assert brotli_available()
    assert supported_codings() == ("br", "gzip", "deflate")


def test_brotli_missing_or_too_old(monkeypatch):
    load = _coding._load_brotli.__wrapped__  # without the cache
    monkeypatch.setitem(sys.modules, "brotli", None)  # import brotli raises ImportError
    assert load() is None
    old = types.ModuleType("brotli")
    old.Decompressor = type("Decompressor", (), {"process": lambda self, data: b""})
    monkeypatch.setitem(sys.modules, "brotli", old)  # brotli < 1.2: no output limit
    assert load() is None


# Choosing a coding


@pytest.mark.parametrize(
    ("header", "with_brotli", "without_brotli"),
    [
        ("gzip, deflate, br, zstd", "br", "gzip"),  # what browsers send
        ("gzip, deflate", "gzip", "gzip"),
        ("deflate", "deflate", "deflate"),
        ("br", "br", "identity"),
        ("br;q=0, *", "gzip", "gzip"),
        ("*", "br", "gzip"),
        ("br;q=1, gzip;q=0.9", "br", "gzip"),
        ("br;q=0.5, gzip", "gzip", "gzip"),
        ("x-gzip", "gzip", "gzip"),
        (None, "identity", "identity"),
        ("", "identity", "identity"),
        ("identity", "identity", "identity"),
        ("br, identity;q=0", "br", None),
        ("*;q=0", None, None),
    ],
)
def test_choose_coding(header, with_brotli, without_brotli, monkeypatch):
    if brotli_available():
        assert choose_coding(header) == with_brotli
    monkeypatch.setattr(_coding, "_load_brotli", lambda: None)
    assert choose_coding(header) == without_brotli


def test_choose_coding_available():
    header = "gzip, deflate"
    assert choose_coding(header, available=["deflate", "gzip"]) == "deflate"
    assert choose_coding(header, available=["gzip"]) == "gzip"
    assert choose_coding(header, available=["X-GZIP"]) == "gzip"
    assert choose_coding(header, available=[]) == "identity"
    assert choose_coding("br", available=["gzip"]) == "identity"
    with pytest.raises(ValueError, match="zstd"):
        choose_coding(header, available=["zstd"])


def test_choose_coding_leaves_br_out_when_missing(no_brotli):
    assert choose_coding("br, gzip;q=0.5", available=["br", "gzip"]) == "gzip"


# Whether to compress


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=utf-8", True),
        ("text/plain", True),
        ("TEXT/CSS", True),
        ("text/event-stream", True),
        ("application/json", True),
        ("application/problem+json", True),
        ("application/ld+json; profile=x", True),
        ("application/javascript", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("image/svg+xml", True),
        ("application/wasm", True),
        ("font/ttf", True),
        ("image/png", False),
        ("image/jpeg", False),
        ("application/octet-stream", False),
        ("application/zip", False),
        ("application/gzip", False),
        ("font/woff2", False),
        ("video/mp4", False),
        ("text", False),
        ("/json", False),
        ("", False),
        (None, False),
    ],
)
def test_is_compressible(content_type, expected):
    assert is_compressible(content_type) is expected


JSON = [("Content-Type", "application/json")]


@pytest.mark.parametrize(
    ("status", "headers", "kwargs", "expected"),
    [
        (200, JSON, {"body_size": 5000}, True),
        (404, JSON, {"body_size": 5000}, True),
        (200, JSON, {}, True),  # size unknown: a stream
        (200, JSON, {"body_size": MIN_COMPRESS_SIZE}, True),
        (200, JSON, {"body_size": MIN_COMPRESS_SIZE - 1}, False),
        (200, JSON, {"body_size": 10, "min_size": 0}, True),
        (200, [*JSON, ("Content-Length", "100")], {}, False),
        (200, [*JSON, ("Content-Length", "100000")], {}, True),
        (200, [*JSON, ("Content-Length", "junk")], {}, True),
        (200, [*JSON, ("Content-Length", "\u00b2")], {}, True),  # a digit, but not DIGIT
        (200, [*JSON, ("Content-Length", "9" * 40)], {}, True),
        (200, [*JSON, ("Content-Length", "100")], {"body_size": 5000}, True),
        (206, JSON, {"body_size": 5000}, False),
        (304, JSON, {"body_size": 5000}, False),
        (204, JSON, {"body_size": 5000}, False),
        (101, JSON, {"body_size": 5000}, False),
        (200, JSON, {"body_size": 5000, "method": "HEAD"}, False),
        (200, [*JSON, ("Content-Encoding", "gzip")], {"body_size": 5000}, False),
        (200, [*JSON, ("Content-Encoding", "identity")], {"body_size": 5000}, False),
        (200, [*JSON, ("Cache-Control", "public, No-Transform")], {"body_size": 5000}, False),
        (200, [*JSON, ("Cache-Control", "max-age=60")], {"body_size": 5000}, True),
        (200, [("Content-Type", "image/png")], {"body_size": 5000}, False),
        (200, [], {"body_size": 5000}, False),
    ],
)
def test_should_compress(status, headers, kwargs, expected):
    assert should_compress(status, Headers(headers), **kwargs) is expected
    assert should_compress(status, headers, **kwargs) is expected  # pairs work too


def test_apply_content_coding():
    headers = Headers(
        [
            ("Content-Type", "text/html"),
            ("Content-Length", "12345"),
            ("ETag", '"abc"'),
            ("Accept-Ranges", "bytes"),
            ("Vary", "Origin"),
        ]
    )
    apply_content_coding(headers, "gzip")
    assert headers.get("content-encoding") == "gzip"
    assert headers.get("etag") == 'W/"abc"'
    assert headers.get("vary") == "Origin, Accept-Encoding"
    assert "content-length" not in headers
    assert "accept-ranges" not in headers
    assert headers.get("content-type") == "text/html"

    headers = Headers([("ETag", 'W/"abc"'), ("Vary", "*")])
    apply_content_coding(headers, "X-GZIP")
    assert headers.items() == [("ETag", 'W/"abc"'), ("Vary", "*"), ("Content-Encoding", "gzip")]

    headers = Headers([("ETag", "not-quoted")])
    apply_content_coding(headers, "deflate")
    assert headers.get("etag") == "not-quoted"  # not an entity-tag: left alone

    headers = Headers([("Content-Length", "5")])
    apply_content_coding(headers, "identity")
    assert headers.items() == [("Content-Length", "5")]
    with pytest.raises(ValueError, match="zstd"):
        apply_content_coding(headers, "zstd")


# Encoding


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_round_trip_with_reference_decoders(coding):
    data = sample()
    coded = encode_body(data, coding)
    assert len(coded) < len(data) // 2
    assert stdlib_decode(coded, coding) == data
    assert decode_body(coded, coding) == data
    assert stdlib_decode(encode_body(b"", coding), coding) == b""


def test_gzip_framing():
    data = sample(3000)
    coded = encode_body(data, "gzip")
    # RFC 1952 §2.3: ID1 ID2 CM, then FLG (no name, no extra), MTIME 0.
    assert coded[:4] == b"\x1f\x8b\x08\x00"
    assert coded[4:8] == b"\x00\x00\x00\x00"
    # The trailer: CRC-32 and the size modulo 2**32, little-endian.
    assert struct.unpack("<II", coded[-8:]) == (zlib.crc32(data), len(data))


def test_deflate_is_zlib_wrapped():
    coded = encode_body(sample(3000), "deflate")
    # RFC 1950 §2.2: CM 8, a 32 KiB window, CMF * 256 + FLG a multiple of 31.
    assert coded[0] == 0x78
    assert (coded[0] << 8 | coded[1]) % 31 == 0


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_levels(coding):
    data = sample()
    top = 11 if coding == "br" else 9
    fast, best = encode_body(data, coding, level=0), encode_body(data, coding, level=top)
    assert len(best) < len(fast)
    assert stdlib_decode(fast, coding) == stdlib_decode(best, coding) == data
    for level in (-1, top + 1):
        with pytest.raises(ValueError, match="from 0 to"):
            make_encoder(coding, level=level)


def test_default_levels():
    assert (GZIP_LEVEL, BROTLI_QUALITY) == (5, 4)
    data = sample()
    assert encode_body(data, "gzip") == encode_body(data, "gzip", level=GZIP_LEVEL)


def test_unknown_encoders():
    for coding in ("zstd", "compress", "*", ""):
        with pytest.raises(ValueError, match="cannot produce"):
            make_encoder(coding)


def test_identity_encoder():
    encoder = make_encoder("identity", flush_each_chunk=True)
    assert isinstance(encoder, Encoder)
    assert encoder.coding == "identity"
    assert encoder.compress(bytearray(b"abc")) == b"abc"
    assert encoder.flush() == b""
    assert encoder.finish() == b""


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_encoder_lifecycle(coding):
    encoder = make_encoder(coding)
    assert encoder.coding == coding
    assert not encoder.finished
    assert encoder.compress(b"") == b""
    assert encoder.flush() == b""  # nothing pending: no empty block
    out = encoder.compress(memoryview(b"hello")) + encoder.flush()
    assert encoder.flush() == b""
    out += encoder.finish()
    assert encoder.finished
    assert stdlib_decode(out, coding) == b"hello"
    for call in (lambda: encoder.compress(b"x"), encoder.flush, encoder.finish):
        with pytest.raises(ValueError, match="finish"):
            call()


def streaming_decoder(coding):
    """A reference decoder that emits what it can as bytes arrive."""
    if coding == "br":
        decompressor = brotli.Decompressor()
        return decompressor.process
    decompressor = zlib.decompressobj(31 if coding == "gzip" else 15)
    return decompressor.decompress


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_flush_each_chunk_holds_nothing_back(coding):
    # Server-sent events: each event must be decodable as soon as it is sent.
    encoder = make_encoder(coding, flush_each_chunk=True)
    decode = streaming_decoder(coding)
    for number in range(20):
        event = f'id: {number}\ndata: {{"n": {number}}}\n\n'.encode()
        assert decode(encoder.compress(event)) == event
    tail = encoder.finish()
    assert decode(tail) == b""


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_explicit_flush_holds_nothing_back(coding):
    encoder = make_encoder(coding)
    decode = streaming_decoder(coding)
    received = decode(encoder.compress(b"first part "))
    received += decode(encoder.flush())
    assert received == b"first part "


chunkings = st.lists(st.integers(min_value=0, max_value=3000), max_size=12)


def split(data, cuts):
    """``data`` cut at the given positions (sorted, clamped)."""
    points = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=6000),
    seed=st.integers(min_value=0, max_value=1000),
    encode_cuts=chunkings,
    decode_cuts=chunkings,
    flush_each_chunk=st.booleans(),
    coding=st.sampled_from(["gzip", "deflate", "br"] if brotli_available() else ZLIB_CODINGS),
)
def test_streaming_round_trip(*, size, seed, encode_cuts, decode_cuts, flush_each_chunk, coding):
    data = sample(size, seed)
    encoder = make_encoder(coding, flush_each_chunk=flush_each_chunk)
    coded = b"".join(encoder.compress(chunk) for chunk in split(data, encode_cuts))
    coded += encoder.finish()
    assert stdlib_decode(coded, coding) == data
    decoder = Decoder(coding)
    decoded = b"".join(decoder.decode(chunk) for chunk in split(coded, decode_cuts))
    decoded += decoder.finish()
    assert decoded == data
    assert decoder.size == len(data)


# Decoding


def test_parse_content_encoding():
    assert parse_content_encoding("gzip") == ("gzip",)
    assert parse_content_encoding(" GZIP , br ,, identity") == ("gzip", "br")
    assert parse_content_encoding("x-gzip") == ("gzip",)
    assert parse_content_encoding("") == ()
    with pytest.raises(UnsupportedContentCoding, match="invalid content coding"):
        parse_content_encoding("gzip, g zip")


@pytest.mark.parametrize("content_encoding", [None, "", "identity", " , ", []])
def test_no_coding_passes_through(content_encoding):
    decoder = Decoder(content_encoding, max_size=1)
    assert decoder.codings == ()
    assert decoder.decode(b"plain body") == b"plain body"
    assert decoder.finish() == b""


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_empty_body_is_accepted(coding):
    assert decode_body(b"", coding) == b""


def test_raw_deflate_is_accepted():
    data = sample()
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    coded = raw.compress(data) + raw.flush()
    assert decode_body(coded, "deflate") == data
    decoder = Decoder("deflate")  # one byte at a time: the choice waits for two
    assert b"".join(decoder.decode(coded[i : i + 1]) for i in range(len(coded))) == data
    assert decoder.finish() == b""


def test_case_and_aliases():
    data = sample(2000)
    assert decode_body(gzip.compress(data), "X-GZip") == data
    assert decode_body(zlib.compress(data), ["DEFLATE"]) == data


def test_concatenated_gzip_members():
    # RFC 1952 §2.2: a gzip file is a series of members; gzip.decompress agrees.
    coded = gzip.compress(b"one, ") + gzip.compress(b"") + gzip.compress(b"two")
    assert decode_body(coded, "gzip") == gzip.decompress(coded) == b"one, two"
    decoder = Decoder("gzip")
    assert b"".join(decoder.decode(coded[i : i + 3]) for i in range(0, len(coded), 3)) == (
        b"one, two"
    )
    decoder.finish()


def test_stacked_codings_are_undone_in_reverse():
    data = sample()
    coded = encode_body(encode_body(data, "deflate"), "gzip")  # deflate first, then gzip
    assert decode_body(coded, "deflate, gzip") == data
    assert decode_body(coded, ["deflate", "gzip"]) == data
    assert Decoder("deflate, gzip").codings == ("deflate", "gzip")
    with pytest.raises(ContentCodingError):
        decode_body(coded, "gzip, deflate")
    twice = gzip.compress(gzip.compress(data))
    assert decode_body(twice, "gzip, gzip") == data


@needs_brotli
def test_stacked_with_brotli():
    data = sample()
    coded = encode_body(encode_body(data, "gzip"), "br")
    assert decode_body(coded, "gzip, br") == data


def test_too_many_codings():
    with pytest.raises(UnsupportedContentCoding, match="more than 2 content codings") as info:
        Decoder("gzip, gzip, gzip")
    assert info.value.status == 415
    coded = gzip.compress(gzip.compress(gzip.compress(b"deep")))
    assert decode_body(coded, "gzip, gzip, gzip", max_codings=None) == b"deep"
    with pytest.raises(UnsupportedContentCoding):
        Decoder("gzip", max_codings=0)


@pytest.mark.parametrize("coding", ["compress", "zstd", "exi", "pack200-gzip", "*"])
def test_unknown_coding_is_415(coding):
    with pytest.raises(UnsupportedContentCoding) as info:
        Decoder(f"gzip, {coding}")
    error = info.value
    assert isinstance(error, HTTPError)
    assert error.status == 415
    assert error.coding == coding
    # RFC 9110 §15.5.16: say which codings would have been accepted.
    assert error.headers.get("accept-encoding") == ", ".join(supported_codings())
    response = error.response()
    assert response.status == 415
    assert response.headers.get("accept-encoding") is not None


def test_br_without_brotli_is_415(no_brotli):
    with pytest.raises(UnsupportedContentCoding) as info:
        Decoder("br")
    assert info.value.headers.get("accept-encoding") == "gzip, deflate"


def corrupt_cases():
    data = sample(5000)
    cases = [
        ("gzip", b"not gzip at all", "corrupt gzip"),
        ("gzip", gzip.compress(data)[:-4], "truncated gzip"),
        ("gzip", gzip.compress(data)[:10], "truncated gzip"),
        ("gzip", gzip.compress(data)[:-8] + b"\x00" * 8, "corrupt gzip"),  # bad CRC
        ("gzip", gzip.compress(data) + b"junk", "corrupt gzip"),  # not a member
        ("deflate", zlib.compress(data)[:-1], "truncated deflate"),
        ("deflate", zlib.compress(data) + b"x", "data after the end of the deflate"),
        ("deflate", b"x", "truncated deflate"),  # one byte: not even a header
        ("deflate", b"\x78\x9c\xff\xff\xff", "corrupt deflate"),
    ]
    if brotli_available():
        coded = encode_body(data, "br")
        cases += [
            ("br", b"\xff\xff\xff\xff\xff", "corrupt br"),
            ("br", coded[: len(coded) // 2], "truncated br"),
            ("br", coded + b"x", "corrupt br|data after the end"),
        ]
    return cases


@pytest.mark.parametrize(("coding", "coded", "message"), corrupt_cases())
def test_corrupt_content_is_400(coding, coded, message):
    with pytest.raises(ContentCodingError, match=message) as info:
        decode_body(coded, coding)
    assert type(info.value) is ContentCodingError
    assert info.value.status == 400
    assert info.value.response().status == 400


@needs_brotli
def test_br_data_after_the_end():
    decoder = Decoder("br")
    assert decoder.decode(encode_body(b"abc", "br")) == b"abc"
    with pytest.raises(ContentCodingError, match="after the end"):
        decoder.decode(b"more")


def test_decoder_refuses_reuse():
    decoder = Decoder("gzip")
    decoder.decode(gzip.compress(b"x"))
    decoder.finish()
    with pytest.raises(ValueError, match="finish"):
        decoder.decode(b"")
    with pytest.raises(ValueError, match="finish"):
        decoder.finish()
    decoder = Decoder("gzip")
    with pytest.raises(ContentCodingError):
        decoder.decode(b"garbage!!")
    with pytest.raises(ValueError, match="an error"):
        decoder.decode(b"")


def test_decoder_arguments():
    with pytest.raises(ValueError, match="max_size"):
        Decoder("gzip", max_size=-1)
    with pytest.raises(ValueError, match="max_codings"):
        Decoder("gzip", max_codings=-1)


@pytest.mark.parametrize("coding", ALL_CODINGS)
def test_limit_is_exact(coding):
    data = sample(100_000)
    coded = encode_body(data, coding)
    assert decode_body(coded, coding, max_size=len(data)) == data
    with pytest.raises(DecodedContentTooLarge) as info:
        decode_body(coded, coding, max_size=len(data) - 1)
    assert info.value.status == 413
    assert info.value.limit == len(data) - 1
    assert isinstance(info.value, ContentCodingError)
    assert decode_body(coded, coding, max_size=None) == data
    assert decode_body(encode_body(b"", coding), coding, max_size=0) == b""


def test_default_limit():
    assert MAX_DECODED_SIZE == 16 * 1024 * 1024
    assert Decoder("gzip")._stages[0]._limit == MAX_DECODED_SIZE


# Zip bombs


def crc32_of_zeros(count, chunk):
    """CRC-32 of ``count`` zero bytes (a multiple of ``chunk``) without making them.

    ``zlib.crc32(zeros, crc)`` is affine in ``crc`` over GF(2); that map raised to
    the power ``count // chunk`` by squaring gives the answer in a few steps.
    """
    zeros = bytes(chunk)
    constant = zlib.crc32(zeros, 0)
    columns = [zlib.crc32(zeros, 1 << bit) ^ constant for bit in range(32)]

    def apply(columns, constant, value):
        for bit in range(32):
            if value >> bit & 1:
                constant ^= columns[bit]
        return constant

    def compose(outer, inner):  # outer(inner(x))
        (oc, ok), (ic, ik) = outer, inner
        return [apply(oc, 0, column) for column in ic], apply(oc, ok, ik)

    result, power, times = ([1 << bit for bit in range(32)], 0), (columns, constant), count // chunk
    while times:
        if times & 1:
            result = compose(power, result)
        power = compose(power, power)
        times >>= 1
    return apply(*result, 0)


def zlib_bomb(total, *, wbits=31, chunk=1 << 20):
    """``total`` zero bytes as a gzip (``wbits`` 31) or zlib (15) stream, piece by piece.

    The stream is about 1/1000 of ``total``, and never held whole here: each
    ``chunk`` of zeros is compressed once, since after a full flush the
    compressor's state is back where it was, so every further chunk compresses
    to the same bytes.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    header_size = 10 if wbits == 31 else 2
    header, block = first[:header_size], first[header_size:]
    assert compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    yield header
    for _ in range(total // chunk):
        yield block
    yield b"\x03\x00"  # a final, empty, fixed-Huffman block
    if wbits == 31:  # RFC 1952 §2.3.1: CRC-32 and ISIZE, little-endian
        yield struct.pack("<II", crc32_of_zeros(total, chunk), total % 2**32)
    else:  # RFC 1950 §2.2: Adler-32, big-endian; for zeros, s1 = 1 and s2 = n
        yield struct.pack(">I", (total % 65521) << 16 | 1)


def test_the_bombs_are_valid_streams():
    assert gzip.decompress(b"".join(zlib_bomb(8 << 20))) == bytes(8 << 20)
    assert zlib.decompress(b"".join(zlib_bomb(8 << 20, wbits=15))) == bytes(8 << 20)


def feed_all(decoder, pieces):
    """Feed ``pieces`` to ``decoder``; how many bytes were fed when it raised."""
    fed = 0
    for piece in pieces:
        decoder.decode(piece)
        fed += len(piece)
    return fed


@pytest.mark.parametrize("feed", [4096, 1 << 20])
def test_gzip_bomb_stops_at_the_limit(feed):
    # 1 GiB of zeros, about 1 MiB compressed, fed in pieces of ``feed`` bytes.
    bomb = b"".join(zlib_bomb(1 << 30))
    assert len(bomb) < 1_100_000
    pieces = [bomb[start : start + feed] for start in range(0, len(bomb), feed)]
    decoder = Decoder("gzip")  # the default 16 MiB limit
    remaining = iter(pieces)
    tracemalloc.start()
    try:
        with pytest.raises(DecodedContentTooLarge) as info:
            feed_all(decoder, remaining)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.status == 413
    assert decoder.size < MAX_DECODED_SIZE
    # Stopped after about 16 KiB of input (1 KiB inflates to 1 MiB), not 1 MiB.
    assert (len(pieces) - len(list(remaining))) * feed <= 32 * 1024 + feed
    # At most the limit, plus a step of output and the input piece: never the bomb.
    assert peak < MAX_DECODED_SIZE + feed + 1024 * 1024


def test_nested_bomb_stops_at_the_limit():
    inner = b"".join(zlib_bomb(1 << 30))
    outer = gzip.compress(inner)
    tracemalloc.start()
    try:
        with pytest.raises(DecodedContentTooLarge):
            decode_body(outer, "gzip, gzip", max_size=4 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * (4 << 20)


def test_deflate_bomb_stops_at_the_limit():
    decoder = Decoder("deflate", max_size=1 << 20)
    with pytest.raises(DecodedContentTooLarge):
        feed_all(decoder, zlib_bomb(1 << 30, wbits=15))
    assert decoder.size == 1 << 20  # the first 1 MiB piece fits the limit exactly


@needs_brotli
def test_brotli_bomb_stops_at_the_limit():
    compressor = brotli.Compressor(quality=1)
    zeros = bytes(1 << 20)
    coded = b"".join(compressor.process(zeros) for _ in range(1024)) + compressor.finish()
    assert len(coded) < 1 << 20  # 1 GiB of zeros in far less than 1 MiB
    tracemalloc.start()
    try:
        with pytest.raises(DecodedContentTooLarge):
            decode_body(coded, "br", max_size=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * (1 << 20) + len(coded)
