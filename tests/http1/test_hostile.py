"""Hostile and malformed input: each case is rejected with the status a server answers."""

from collections.abc import Iterable

import pytest

from longwire import RemoteProtocolError, Role
from longwire.http1 import Connection, Limits, Request, State

H = b"Host: a\r\n"


def feed_pieces(conn: Connection, pieces: Iterable[bytes], fed: list[int]) -> None:
    """Feed ``pieces`` one call each, appending each piece's size to ``fed`` first."""
    for piece in pieces:
        fed.append(len(piece))
        conn.receive_data(piece)


def reject(
    raw: bytes, status: int, match: str, limits: Limits | None = None
) -> RemoteProtocolError:
    """Feed ``raw`` to a server in one call: it must raise with ``status`` and ``match``."""
    conn = Connection(Role.SERVER, limits=limits)
    with pytest.raises(RemoteProtocolError, match=match) as info:
        conn.receive_data(raw)
    assert info.value.status_hint == status
    assert conn.their_state is State.ERROR
    return info.value


# Sizes and counts


def test_request_line_too_long_414():
    reject(b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, "request line too long")


def test_incomplete_request_line_too_long_414():
    reject(b"GET /" + b"a" * 9000, 414, "request line too long")


def test_request_line_at_the_limit_is_fine():
    limits = Limits(max_request_line_size=20)
    line = b"GET /" + b"a" * 6 + b" HTTP/1.1"
    assert len(line) == 20
    conn = Connection(Role.SERVER, limits=limits)
    assert len(conn.receive_data(line + b"\r\n" + H + b"\r\n")) == 2
    reject(b"GET /" + b"a" * 7 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, "too long", limits)
    reject(b"GET /" + b"a" * 7 + b" HTTP/1.1\r\n", 414, "too long", limits)


def test_header_section_too_large_431():
    big = b"X-Big: " + b"b" * 70000 + b"\r\n"
    reject(b"GET / HTTP/1.1\r\n" + H + big + b"\r\n", 431, "header section too large")


def test_header_section_at_the_limit_is_fine():
    raw = b"GET / HTTP/1.1\r\n" + H + b"\r\n"
    conn = Connection(Role.SERVER, limits=Limits(max_header_size=len(raw)))
    assert len(conn.receive_data(raw)) == 2
    reject(raw, 431, "too large", Limits(max_header_size=len(raw) - 1))


def test_too_many_header_fields_431():
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(100))
    reject(b"GET / HTTP/1.1\r\n" + H + fields + b"\r\n", 431, "too many header fields")


def test_declared_body_too_large_413_before_the_body():
    head = b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 17\r\n\r\n"
    error = reject(head, 413, "larger than the limit of 16 bytes", Limits(max_body_size=16))
    assert "16" in error.message


def test_chunked_body_too_large_413_cumulative():
    conn = Connection(Role.SERVER, limits=Limits(max_body_size=10))
    conn.receive_data(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n")
    assert len(conn.receive_data(b"6\r\nabcdef\r\n")) == 1
    # The next chunk's size line alone breaks the limit: nothing of it is read.
    with pytest.raises(RemoteProtocolError, match="larger than the limit") as info:
        conn.receive_data(b"5\r\n")
    assert info.value.status_hint == 413


def test_zero_body_limit_allows_only_empty_bodies():
    limits = Limits(max_body_size=0)
    conn = Connection(Role.SERVER, limits=limits)
    assert len(conn.receive_data(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n")) == 2
    reject(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\n\r\n", 413, "limit", limits)


def test_chunk_size_line_too_long_400():
    head = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
    reject(head + b"1;" + b"x" * 5000, 400, "chunk size line too long")


def test_trailer_section_too_large_431():
    head = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n"
    reject(head + b"X: " + b"y" * 100, 431, "trailer section too large", Limits(max_header_size=64))


def test_too_many_trailers_431():
    head = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n"
    trailers = b"".join(b"T-%d: v\r\n" % i for i in range(5))
    reject(head + trailers + b"\r\n", 431, "too many", Limits(max_header_count=4))


def test_limits_can_be_disabled():
    limits = Limits(
        max_request_line_size=None,
        max_header_size=None,
        max_header_count=None,
        max_body_size=None,
        max_chunk_line_size=None,
        max_pipelined_requests=None,
    )
    conn = Connection(Role.SERVER, limits=limits)
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(300))
    raw = b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H + fields + b"\r\n"
    assert len(conn.receive_data(raw * 40)) == 80


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "8"])
def test_limits_are_validated(value):
    with pytest.raises(ValueError, match="max_header_size"):
        Limits(max_header_size=value)


# Never unbounded


def test_endless_head_fed_in_pieces_fails_once_past_the_limit():
    conn = Connection(Role.SERVER)
    piece = b"X-Filler: " + b"f" * 4084 + b"\r\n"  # 4 KiB, no blank line ever
    assert len(piece) == 4096
    conn.receive_data(b"GET / HTTP/1.1\r\n")
    fed = [16]
    with pytest.raises(RemoteProtocolError, match="header section too large") as info:
        feed_pieces(conn, [piece] * 256, fed)  # 1 MiB in total, if we let it
    assert info.value.status_hint == 431
    assert 65536 <= sum(fed) < 65536 + 4096  # failed on the first piece past the limit


def test_endless_head_in_one_mebibyte_buffer_fails_at_once():
    reject(b"GET / HTTP/1.1\r\n" + b"X: " + b"f" * (1 << 20), 431, "header section too large")


def test_endless_request_line_fed_in_pieces():
    conn = Connection(Role.SERVER)
    fed: list[int] = []
    with pytest.raises(RemoteProtocolError, match="request line too long") as info:
        feed_pieces(conn, [b"a" * 4096] * 256, fed)
    assert info.value.status_hint == 414
    assert 8192 < sum(fed) <= 8192 + 4096


def test_endless_chunk_extension_fed_in_pieces():
    conn = Connection(Role.SERVER)
    conn.receive_data(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n1;")
    fed: list[int] = []
    with pytest.raises(RemoteProtocolError, match="chunk size line too long"):
        feed_pieces(conn, [b"e" * 1024] * 256, fed)
    assert sum(fed) <= 4096 + 1024


def test_head_search_resumes_instead_of_rescanning():
    # Feeding a head byte by byte must stay linear: the search resumes where it
    # stopped. 60 KiB in 1-byte pieces takes well under a second if it does.
    conn = Connection(Role.SERVER)
    raw = b"GET / HTTP/1.1\r\n" + H + b"X: " + b"x" * 60000 + b"\r\n\r\n"
    events = []
    for i in range(len(raw)):
        events += conn.receive_data(raw[i : i + 1])
    assert len(events) == 2


# Request line


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"G@T / HTTP/1.1", "invalid method"),
        (b"GE(T / HTTP/1.1", "invalid method"),
        (b"GET  / HTTP/1.1", "malformed request line"),
        (b"GET / HTTP/1.1 ", "malformed request line"),
        (b" GET / HTTP/1.1", "malformed request line"),
        (b"GET\t/ HTTP/1.1", "malformed request line"),
        (b"GET /caf\xe9 HTTP/1.1", "invalid request target"),
        (b"GET /a\x7fb HTTP/1.1", "control character"),
        (b"GET / HTTP/1", "malformed HTTP version"),
        (b"GET / http/1.1", "malformed HTTP version"),
        (b"GET / HTTP/1.10", "malformed HTTP version"),
        (b"GET /", "malformed request line"),
    ],
)
def test_malformed_request_lines_400(raw, match):
    reject(raw + b"\r\n" + H + b"\r\n", 400, match)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0", b"HTTP/2.1"])
def test_unsupported_http_version_505(version):
    reject(b"GET / " + version + b"\r\n" + H + b"\r\n", 505, "unsupported HTTP version")


@pytest.mark.parametrize("version", [b"HTTP/1.2", b"HTTP/1.9"])
def test_higher_minor_version_is_processed_as_http_1_1(version):
    # RFC 9112 §2.3: process it as the highest minor version we conform to.
    conn = Connection(Role.SERVER)
    events = conn.receive_data(b"GET / " + version + b"\r\n" + H + b"\r\n")
    assert isinstance(events[0], Request)
    assert events[0].http_version == "1.1"
    assert conn.keep_alive


# Header fields


def test_whitespace_between_field_name_and_colon_400():
    reject(
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace between header field name and colon"
    )
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n", 400, "whitespace between")


def test_obs_fold_in_a_request_400():
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n", 400, "obs-fold")
    reject(b"GET / HTTP/1.1\r\n\tX-A: b\r\n" + H + b"\r\n", 400, "obs-fold")


def test_bare_cr_400():
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-A: b\rc\r\n\r\n", 400, "bare CR in header section")
    reject(b"GET / HTTP/1.1\r" + H + b"\r\n", 400, "bare CR")


def test_bare_lf_400():
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-A: b\nX-B: c\r\n\r\n", 400, "bare LF in header section")


def test_bare_lf_line_endings_fail_early_400():
    # An LF-only head never contains CRLFCRLF: it fails at the blank line, not at
    # the size limit.
    reject(b"GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF")


def test_nul_in_a_field_value_400():
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-A: b\x00c\r\n\r\n", 400, "NUL in header field value")


@pytest.mark.parametrize("char", [b"\x01", b"\x0b", b"\x0c", b"\x1f", b"\x7f"])
def test_other_control_characters_in_a_value_400(char):
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-A: b" + char + b"c\r\n\r\n", 400, "control character")


def test_htab_in_a_value_is_fine():
    conn = Connection(Role.SERVER)
    request = conn.receive_data(b"GET / HTTP/1.1\r\n" + H + b"X-A: b\tc\r\n\r\n")[0]
    assert request.headers["X-A"] == "b\tc"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"X-A b", "without a colon"),
        (b": b", "empty header field name"),
        (b"X(A): b", "invalid header field name"),
        (b"X-\xe9: b", "invalid header field name"),
    ],
)
def test_invalid_field_lines_400(line, match):
    reject(b"GET / HTTP/1.1\r\n" + H + line + b"\r\n\r\n", 400, match)


def test_a_known_name_without_colon_is_still_invalid():
    # Field names are cached once validated; a line equal to a cached name but
    # without a colon must not slip through the cache.
    Connection(Role.SERVER).receive_data(b"GET / HTTP/1.1\r\n" + H + b"X-Cached: 1\r\n\r\n")
    reject(b"GET / HTTP/1.1\r\n" + H + b"X-Cached\r\n\r\n", 400, "without a colon")


def test_missing_host_400():
    reject(b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "missing Host header in HTTP/1.1 request")


def test_two_hosts_400():
    reject(b"GET / HTTP/1.1\r\n" + H + b"host: b\r\n\r\n", 400, "more than one Host")
    reject(b"GET / HTTP/1.0\r\n" + H + H + b"\r\n", 400, "more than one Host")


# Framing


@pytest.mark.parametrize(
    "value", [b"abc", b"-1", b"+5", b"1 2", b"0x10", b"", b"1" * 19, b"1,,1", b"\xb2"]
)
def test_invalid_content_length_400(value):
    reject(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: " + value + b"\r\n\r\n",
        400,
        "invalid Content-Length",
    )


def test_conflicting_content_length_400():
    reject(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\n",
        400,
        "conflicting Content-Length values",
    )
    raw = b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
    reject(raw, 400, "conflicting Content-Length values")


def test_content_length_and_transfer_encoding_400():
    raw = b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    reject(raw, 400, "Content-Length and Transfer-Encoding both present")


@pytest.mark.parametrize("codings", [b"gzip", b"chunked, gzip", b"identity", b" , "])
def test_transfer_encoding_not_ending_in_chunked_400(codings):
    raw = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: " + codings + b"\r\n\r\n"
    reject(raw, 400, "Transfer-Encoding must end in chunked")


def test_chunked_twice_400():
    raw = (
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    reject(raw, 400, "more than once")
    reject(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, chunked\r\n\r\n",
        400,
        "more than once",
    )


def test_gzip_then_chunked_501():
    raw = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
    reject(raw, 501, "unsupported transfer coding 'gzip'")


def test_transfer_encoding_in_http10_400():
    raw = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
    reject(raw, 400, "Transfer-Encoding in an HTTP/1.0 message")


CHUNKED = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("size", [b"0x10", b"-1", b"zz", b"1" * 17, b"", b" 5", b"5 x", b"+5"])
def test_invalid_chunk_size_400(size):
    reject(CHUNKED + size + b"\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size")


def test_sixteen_hex_digits_are_allowed_until_the_body_limit():
    reject(CHUNKED + b"f" * 16 + b"\r\n", 413, "larger than the limit")


def test_missing_crlf_after_chunk_data_400():
    reject(CHUNKED + b"5\r\nhelloX\r\n0\r\n\r\n", 400, "missing CRLF after chunk data")
    reject(CHUNKED + b"5\r\nhello\rX0\r\n\r\n", 400, "missing CRLF after chunk data")
    reject(CHUNKED + b"5\r\nhelloX", 400, "missing CRLF after chunk data")


def test_bare_lf_in_chunk_size_line_400():
    reject(CHUNKED + b"5\nhello", 400, "bare LF in chunk size line")


def test_bad_trailer_400():
    reject(CHUNKED + b"0\r\nBad Trailer: x\r\n\r\n", 400, "invalid header field name")
    reject(CHUNKED + b"0\r\nX: a\x00b\r\n\r\n", 400, "NUL")


# Error behaviour


def test_errors_are_sticky():
    conn = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    for call in (lambda: conn.receive_data(b"GET / HTTP/1.1\r\n" + H + b"\r\n"), conn.receive_eof):
        with pytest.raises(RemoteProtocolError, match="missing Host") as info:
            call()
        assert info.value.status_hint == 400


def test_events_before_the_error_in_the_same_call_are_discarded():
    conn = Connection(Role.SERVER)
    good = b"GET /good HTTP/1.1\r\n" + H + b"\r\n"
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(good + b"GET /bad HTTP/1.1\r\n\r\n")
    # ...but the good request still needs its answer, before the error response.
    conn2 = Connection(Role.SERVER)
    assert isinstance(conn2.receive_data(good)[0], Request)


def test_client_errors_carry_no_status_hint():
    conn = Connection(Role.CLIENT)
    conn.send(Request(method="GET", target="/", headers=[("Host", "a")]))
    with pytest.raises(RemoteProtocolError, match="Content-Length and Transfer-Encoding") as info:
        conn.receive_data(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
    assert info.value.status_hint is None
    conn = Connection(Role.CLIENT)
    conn.send(Request(method="GET", target="/", headers=[("Host", "a")]))
    with pytest.raises(RemoteProtocolError, match="status line too long") as info:
        conn.receive_data(b"HTTP/1.1 200 " + b"O" * 9000)
    assert info.value.status_hint is None


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\nHost: a\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rd\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\n\r\n",
        b"\nGET / HTTP/1.1\r\n",
    ],
)
def test_a_bare_lf_fails_before_the_head_is_complete(raw):
    for cuts in ((), range(1, len(raw))):
        conn = Connection(Role.SERVER)
        with pytest.raises(RemoteProtocolError, match="bare LF") as info:
            feed_pieces(
                conn, [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)], []
            )
        assert info.value.status_hint == 400


def test_a_bare_lf_in_trailers_fails_early():
    conn = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError, match="bare LF in trailer section"):
        conn.receive_data(CHUNKED + b"0\r\nT: v\n")
