"""Content codings (RFC 9110 §8.4): compressing responses, decoding request bodies.

Nothing here does I/O: encoders and decoders take bytes and return bytes.

Responses:

- ``should_compress``: whether a response is worth compressing at all (status,
  method, media type, size, ``Content-Encoding``, ``Cache-Control: no-transform``).
- ``choose_coding``: the coding the request's ``Accept-Encoding`` allows, among
  those longwire can produce, in the server's order (``br``, ``gzip``, ``deflate``).
- ``make_encoder`` / ``Encoder``: incremental compression, with a sync flush per
  chunk for streamed bodies (server-sent events) so nothing is held back;
  ``encode_body`` for a body held in memory.
- ``apply_content_coding``: the header changes that go with a coded body
  (``Content-Encoding``, ``Vary``, a weakened ``ETag``, no ``Content-Length`` or
  ``Accept-Ranges``).

::

    headers = response.headers
    if should_compress(response.status, headers, method=method, body_size=len(body)):
        add_vary(headers, "Accept-Encoding")  # the choice depends on it, whatever it is
        coding = choose_coding(field_value(request.headers, "Accept-Encoding"))
        if coding is not None and coding != "identity":
            body = encode_body(body, coding)
            apply_content_coding(headers, coding)

Requests:

- ``Decoder``: undoes the codings of ``Content-Encoding`` incrementally, with a
  limit on the decoded size (``MAX_DECODED_SIZE``) checked as it inflates, so a
  zip bomb never takes more memory than the limit; ``decode_body`` in one call.

Errors while decoding are ``HTTPError`` subclasses carrying the status to answer
with, so a handler can let them propagate::

    HTTPError
    └── ContentCodingError           400: corrupt or truncated coded content
        ├── DecodedContentTooLarge   413: the decoded content exceeds the limit
        └── UnsupportedContentCoding 415: a coding we cannot undo (§15.5.16),
                                     with the Accept-Encoding we can

``zlib.error`` and ``brotli.error`` never escape: they become
``ContentCodingError``.

The codings:

- ``gzip`` (RFC 1952, §8.4.1.3): sent with zlib's gzip header and CRC-32/size
  trailer; on decoding, several members one after the other are one stream (RFC
  1952 §2.2), as ``gzip.decompress`` has it; ``x-gzip`` is ``gzip``.
- ``deflate`` (§8.4.1.2): "a "zlib" data format (RFC 1950) containing a
  "deflate" compressed data stream (RFC 1951)". That is what we send. Some
  implementations sent raw deflate (no zlib header) under this name, so on
  decoding, a stream whose first two bytes are not a zlib header is taken as raw
  deflate.
- ``br`` (RFC 7932), only with the optional ``brotli`` package, version 1.2 or
  later (``pip install 'longwire[brotli]'``): earlier versions cannot bound the
  output of one decompression call (CVE-2025-6176). Without it, ``br`` is simply
  never chosen, and a ``br`` request body is a 415.

Defaults, measured on a 100 KiB JSON document and a 100 KiB HTML page (fresh
compressor per body, CPython 3.11, x86-64; ratio is input/output size)::

                 JSON ratio  JSON ms   HTML ratio  HTML ms
    gzip 1          3.16      0.91       4.72       0.61
    gzip 4          3.55      2.11       5.22       1.14
    gzip 5          3.73      2.72       5.53       1.73   <- GZIP_LEVEL
    gzip 6          3.79      3.52       5.83       2.85   (zlib's default)
    gzip 9          3.87      5.25       5.87       3.65
    br 1            3.56      0.77       5.06       0.29
    br 4            3.82      1.85       5.31       1.10   <- BROTLI_QUALITY
    br 5            3.99      2.37       5.76       1.70
    br 6            4.07      2.75       5.94       1.99
    br 11           4.61    172          6.85     199

Compression runs on the event loop's thread, per response: gzip 5 keeps 95-98 %
of zlib's default ratio for 60-75 % of its time; brotli 4 matches gzip 6's ratio
on JSON for the time of gzip 4. Memory per live encoder (what a long-lived
stream keeps): about 256 KiB for gzip and deflate, 1.2 MiB for brotli 4 (2 MiB
at 5): with many thousands of concurrent streams, prefer gzip for them
(``choose_coding(..., available=("gzip",))``).
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import Iterable, Sequence
from typing import Final, Protocol, cast

from ..http1._abnf import TOKEN
from ..http1._headers import Headers, HeadersLike
from ._conditional import ETag, parse_etag
from ._errors import HTTPError
from ._negotiation import add_vary, best_encoding

__all__ = [
    "BROTLI_QUALITY",
    "COMPRESSIBLE_SUFFIXES",
    "COMPRESSIBLE_TYPES",
    "DEFAULT_PREFERENCE",
    "GZIP_LEVEL",
    "MAX_CODINGS",
    "MAX_DECODED_SIZE",
    "MIN_COMPRESS_SIZE",
    "ContentCodingError",
    "DecodedContentTooLarge",
    "Decoder",
    "Encoder",
    "UnsupportedContentCoding",
    "apply_content_coding",
    "brotli_available",
    "choose_coding",
    "decode_body",
    "encode_body",
    "is_compressible",
    "make_encoder",
    "parse_content_encoding",
    "should_compress",
    "supported_codings",
]

# Defaults and limits

# The server's order among codings the client accepts equally: brotli gives the
# smallest output for the same CPU time (see the table above), gzip is what every
# client decodes, deflate comes last for the clients that still mishandle it.
DEFAULT_PREFERENCE: Final = ("br", "gzip", "deflate")

# See the table in the module docstring.
GZIP_LEVEL: Final = 5
BROTLI_QUALITY: Final = 4

# 1 KiB: below it compression buys next to nothing. A response head is about
# 150-250 bytes, so a head and a body under ~1.2 KB fit in one TCP segment (1460
# bytes of a 1500-byte MTU) compressed or not: no packet, no round trip saved,
# only a few hundred bytes, for 15-30 us of CPU and a 256 KiB (gzip) to 1 MiB
# (brotli) transient allocation per response. Measured on JSON/HTML: 500 bytes
# compress to 63-65 %, 200 bytes to 85 %, and under ~150 bytes the output is
# larger than the input (18 bytes of gzip framing). Akamai uses 860 bytes,
# for the same reason.
MIN_COMPRESS_SIZE: Final = 1024

# 16 MiB: the most a request body may inflate to by default. Far above any JSON
# or form body an API expects, and far below what hurts a server: 1 GiB of zeros
# gzips to about 1 MiB, so without a limit a 1 MiB upload could take 1 GiB of
# memory (a zip bomb). Decoding stops as soon as the output passes the limit.
# ``None`` turns it off.
MAX_DECODED_SIZE: Final = 16 * 1024 * 1024

# 2 codings: RFC 9110 §8.4 allows a list ("gzip, br"), but no client sends more
# than one, and each extra stage is one more place for a decompression bomb to
# hide (a bomb inside a bomb). ``gzip, gzip`` still works. ``None``: no limit.
MAX_CODINGS: Final = 2

# Media types worth compressing: text, and the structured formats that are text
# in all but name. Images (but SVG), audio, video, archives and WOFF fonts are
# compressed already; compressing them again costs CPU and gains nothing.
# text/* includes text/event-stream: stream it with ``flush_each_chunk=True``.
# WebAssembly modules shrink by half or more and are large, so they are in.
COMPRESSIBLE_TYPES: Final = frozenset(
    {
        "application/ecmascript",
        "application/javascript",
        "application/json",
        "application/wasm",
        "application/x-javascript",
        "application/x-ndjson",
        "application/xml",
        "font/otf",
        "font/ttf",
        "image/svg+xml",
    }
)
# RFC 6839 structured syntax suffixes: application/ld+json, application/problem+json,
# application/atom+xml, application/xhtml+xml, ...
COMPRESSIBLE_SUFFIXES: Final = ("+json", "+xml")

_IDENTITY: Final = "identity"
_CODING_ALIASES: Final = {"x-gzip": "gzip"}
_ZLIB_CODINGS: Final = ("gzip", "deflate")

# Decoders produce output in steps of this size (brotli's own granularity adds up
# to 32 KiB), and the size limit is checked after each: a bomb is stopped at most
# one step past the limit. zlib is given input in slices of _INPUT_STEP, so that
# the unconsumed input it copies back after each step stays small.
_STEP: Final = 64 * 1024
_INPUT_STEP: Final = 16 * 1024


# The optional brotli package


class _BrotliCompressor(Protocol):
    def process(self, data: bytes | bytearray | memoryview, /) -> bytes: ...
    def flush(self) -> bytes: ...
    def finish(self) -> bytes: ...


class _BrotliDecompressor(Protocol):
    def process(
        self, data: bytes | bytearray | memoryview, /, output_buffer_limit: int = ...
    ) -> bytes: ...
    def is_finished(self) -> bool: ...
    def can_accept_more_data(self) -> bool: ...


class _BrotliModule(Protocol):
    # The module's classes, seen as factories (the module ships no type hints).
    error: type[Exception]

    def Compressor(self, *, quality: int = ...) -> _BrotliCompressor: ...
    def Decompressor(self) -> _BrotliDecompressor: ...


_BROTLI_MISSING: Final = (
    "the br content coding needs the brotli package, version 1.2 or later: "
    "pip install 'longwire[brotli]'"
)


@functools.cache
def _load_brotli() -> _BrotliModule | None:
    """The ``brotli`` module, imported on first use; ``None`` if absent or too old."""
    try:
        module = importlib.import_module("brotli")
    except ImportError:
        return None
    # brotli 1.2 added output_buffer_limit and can_accept_more_data: without them
    # one call can inflate a whole meta-block, however large (CVE-2025-6176).
    if not hasattr(module.Decompressor, "can_accept_more_data"):
        return None
    return cast("_BrotliModule", module)


def _require_brotli() -> _BrotliModule:
    brotli = _load_brotli()
    if brotli is None:
        raise RuntimeError(_BROTLI_MISSING)
    return brotli


def brotli_available() -> bool:
    """Whether the ``br`` coding can be used: ``brotli`` 1.2 or later is installed.

    Returns:
        ``True`` when ``pip install 'longwire[brotli]'`` has been done.
    """
    return _load_brotli() is not None


def supported_codings() -> tuple[str, ...]:
    """The content codings longwire can apply and undo, in ``DEFAULT_PREFERENCE`` order.

    Returns:
        ``("br", "gzip", "deflate")``, or ``("gzip", "deflate")`` without brotli.
    """
    if brotli_available():
        return DEFAULT_PREFERENCE
    return tuple(coding for coding in DEFAULT_PREFERENCE if coding != "br")


# Errors


class ContentCodingError(HTTPError):
    """A request's coded content cannot be decoded: corrupt, truncated, or trailing data.

    An ``HTTPError``: raised from a handler, it answers ``status`` (400 here).

    Args:
        detail: what went wrong, sent as the plain-text body.
        status: the status to answer with.
        headers: header fields to send with the answer.
    """

    def __init__(
        self, detail: str, *, status: int = 400, headers: HeadersLike | None = None
    ) -> None:
        super().__init__(status, detail, headers)


class DecodedContentTooLarge(ContentCodingError):
    """The decoded content would exceed the limit: answer 413 (RFC 9110 §15.5.14).

    Attributes:
        limit: the limit in bytes that was exceeded.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"decoded content larger than {limit} bytes", status=413)
        self.limit = limit


class UnsupportedContentCoding(ContentCodingError):
    """A content coding we cannot undo: answer 415 (RFC 9110 §15.5.16).

    §15.5.16: "If the problem was caused by an unsupported content coding, the
    Accept-Encoding response header field (Section 12.5.3) ought to be used to
    indicate which (if any) content codings would have been accepted in the
    request": the answer carries one (RFC 7694 §3).

    Attributes:
        coding: the coding refused (lowercased), or the whole list when there
            are too many codings.
    """

    def __init__(self, coding: str, detail: str | None = None) -> None:
        accepted = ", ".join(supported_codings())
        super().__init__(
            detail or f"unsupported content coding {coding!r}",
            status=415,
            headers=[("Accept-Encoding", accepted)],
        )
        self.coding = coding


# Choosing


def choose_coding(
    accept_encoding: str | None, *, available: Iterable[str] | None = None
) -> str | None:
    """Choose a response's content coding from the request's ``Accept-Encoding``.

    Args:
        accept_encoding: the ``Accept-Encoding`` field value (lines joined, see
            ``field_value``), or ``None`` when the request has none.
        available: the codings to consider, in the server's order of
            preference; ``None`` for ``DEFAULT_PREFERENCE``. ``br`` is left out
            when brotli is not installed.

    Returns:
        ``"br"``, ``"gzip"`` or ``"deflate"`` (compress), ``"identity"`` (send
        as is), or ``None``: identity refused and no available coding
        acceptable (answer 406, or, as most servers do, send identity anyway).
        Highest qvalue first, ties to the server's order; identity only when the
        field prefers it or nothing else is acceptable. Without the field (or
        with a wholly malformed one), ``"identity"``: see
        ``longwire.app._negotiation.best_encoding``.

    Raises:
        ValueError: ``available`` names a coding longwire cannot produce.
    """
    if available is None:
        offers: Sequence[str] = supported_codings()
    else:
        offers = []
        has_brotli = brotli_available()
        for coding in available:
            name = coding.lower()
            name = _CODING_ALIASES.get(name, name)
            if name not in DEFAULT_PREFERENCE:
                raise ValueError(f"cannot produce content coding {coding!r}")
            if name != "br" or has_brotli:
                offers.append(name)
    return best_encoding(offers, accept_encoding)


@functools.lru_cache(maxsize=128)
def is_compressible(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` names a media type worth compressing.

    Args:
        content_type: the field value (parameters are ignored), or ``None``.

    Returns:
        ``True`` for ``text/*``, the types in ``COMPRESSIBLE_TYPES`` and those
        ending in ``+json`` or ``+xml``; ``False`` otherwise, and without a type.
    """
    if content_type is None:
        return False
    # RFC 9110 §8.3.1: type and subtype are case-insensitive.
    media_type = content_type.partition(";")[0].strip(" \t").lower()
    kind, slash, subtype = media_type.partition("/")
    if not slash or not kind or not subtype:
        return False
    return (
        kind == "text"
        or media_type in COMPRESSIBLE_TYPES
        or media_type.endswith(COMPRESSIBLE_SUFFIXES)
    )


def should_compress(
    status: int,
    headers: HeadersLike,
    *,
    method: str = "GET",
    body_size: int | None = None,
    min_size: int = MIN_COMPRESS_SIZE,
) -> bool:
    """Whether a response is a candidate for compression (before ``Accept-Encoding``).

    No when:

    - the status has no body (1xx, 204, 304: the 304's fields describe the
      200 the client has, coding included), or is 206 (the ranges are of the
      identity representation: RFC 9110 §14.1, §15.3.7);
    - the method is HEAD (no body to code; as nginx does);
    - the response already has a ``Content-Encoding`` (the application coded
      it, or it is a ``.gz`` file served as such);
    - ``Cache-Control`` has ``no-transform`` (§7.7, RFC 9111 §5.2.2.6): the
      application asked that the content reach the client unchanged;
    - the ``Content-Type`` is not compressible (``is_compressible``);
    - the body is known to be shorter than ``min_size``.

    A body of unknown size (streamed) is a candidate: stream it through an
    encoder made with ``flush_each_chunk=True`` if its chunks must not wait.

    Args:
        status: the response status.
        headers: the response's header fields.
        method: the request method.
        body_size: the body's length, or ``None`` when unknown (a
            ``Content-Length`` field is used then, if there is one).
        min_size: the smallest body worth compressing (``MIN_COMPRESS_SIZE``).

    Returns:
        ``True`` if the response may be compressed.
    """
    if status < 200 or status in (204, 206, 304) or method == "HEAD":
        return False
    if not isinstance(headers, Headers):
        headers = Headers.coerce(headers)
    content_type = length = None
    # One pass over the fields (_fields holds (lowercased name, name, value)):
    # this runs for every response.
    for lower, _, value in headers._fields:
        if lower == "content-encoding":
            return False
        if lower == "cache-control":
            if any(d.strip(" \t").lower() == "no-transform" for d in value.split(",")):
                return False
        elif lower == "content-type":
            content_type = content_type or value
        elif lower == "content-length":
            length = length or value
    if not is_compressible(content_type):
        return False
    # RFC 9110 §8.6: Content-Length = 1*DIGIT (isdigit alone takes "²", which
    # int() refuses); an invalid one tells us nothing.
    if body_size is None and length and length.isascii() and length.isdigit():
        body_size = int(length[:19])
    return body_size is None or body_size >= min_size


def apply_content_coding(headers: Headers, coding: str) -> None:
    """Make a response's header fields describe its body coded with ``coding``, in place.

    - ``Content-Encoding: coding`` (§8.4);
    - ``Vary`` gets ``Accept-Encoding`` (§12.5.5);
    - a strong ``ETag`` becomes weak: the coded body is a different sequence of
      bytes, so it cannot share a strong validator with the identity one
      (§8.8.3), while ``If-None-Match`` (weak comparison) still gives 304s;
    - ``Content-Length`` is removed (it counted the identity body: set the new
      one, or let the server frame the body);
    - ``Accept-Ranges`` is removed: ranges apply to the identity representation,
      and a client resuming a coded download by offsets would splice the wrong
      bytes.

    Args:
        headers: the response's header fields (modified).
        coding: the coding applied; ``"identity"`` changes nothing.

    Raises:
        ValueError: ``coding`` is not one longwire produces.
    """
    name = _CODING_ALIASES.get(coding.lower(), coding.lower())
    if name == _IDENTITY:
        return
    if name not in DEFAULT_PREFERENCE:
        raise ValueError(f"unknown content coding {coding!r}")
    headers.set("Content-Encoding", name)
    add_vary(headers, "Accept-Encoding")
    etag_value = headers.get("etag")
    if etag_value is not None:
        etag = parse_etag(etag_value)
        if etag is not None and not etag.weak:
            headers.set("ETag", str(ETag(etag.opaque, weak=True)))
    headers.remove("content-length")
    headers.remove("accept-ranges")


# Encoding

_Buffer = bytes | bytearray | memoryview


class Encoder:
    """Incremental compression of one body with one content coding.

    Made by ``make_encoder``. Feed the body to ``compress`` in any chunks, then
    call ``finish`` once; the concatenation of everything returned is the coded
    body. ``flush`` makes everything fed so far decodable by the client now
    (a sync flush), at a cost of a few bytes.

    Attributes:
        coding: the content coding (``"gzip"``, ``"deflate"``, ``"br"`` or
            ``"identity"``), for ``Content-Encoding``.
        flush_each_chunk: whether ``compress`` flushes after every non-empty
            chunk, for streamed bodies whose chunks must not wait (server-sent
            events, progress updates).
    """

    __slots__ = ("_finished", "_pending", "coding", "flush_each_chunk")

    def __init__(self, coding: str, *, flush_each_chunk: bool = False) -> None:
        self.coding = coding
        self.flush_each_chunk = flush_each_chunk
        self._finished = False
        self._pending = False  # data fed since the last flush

    @property
    def finished(self) -> bool:
        """Whether ``finish`` has been called."""
        return self._finished

    def compress(self, data: _Buffer) -> bytes:
        """Compress a chunk of the body.

        Args:
            data: the next bytes of the body (any bytes-like object).

        Returns:
            Coded bytes to send; possibly empty, as the compressor may hold data
            back to compress it better (unless ``flush_each_chunk``).

        Raises:
            ValueError: the encoder is finished.
        """
        if self._finished:
            raise ValueError(f"{self.coding} encoder used after finish()")
        if not data:
            return b""
        out = self._compress(data)
        self._pending = True
        if self.flush_each_chunk:
            return out + self.flush()
        return out

    def flush(self) -> bytes:
        """Emit everything compressed so far, so the client can decode it now.

        A sync flush: the stream goes on afterwards. Nothing is emitted when no
        data came since the last flush.

        Returns:
            Coded bytes to send.

        Raises:
            ValueError: the encoder is finished.
        """
        if self._finished:
            raise ValueError(f"{self.coding} encoder used after finish()")
        if not self._pending:
            return b""
        self._pending = False
        return self._flush()

    def finish(self) -> bytes:
        """End the body: the last coded bytes (for gzip, the CRC-32 and size trailer).

        Returns:
            Coded bytes to send.

        Raises:
            ValueError: ``finish`` was called already.
        """
        if self._finished:
            raise ValueError(f"{self.coding} encoder finished twice")
        self._finished = True
        return self._finish()

    # What each coding implements.

    def _compress(self, data: _Buffer) -> bytes:
        return bytes(data)

    def _flush(self) -> bytes:
        return b""

    def _finish(self) -> bytes:
        return b""


class _ZlibEncoder(Encoder):
    __slots__ = ("_compressor",)

    def __init__(self, coding: str, wbits: int, level: int, *, flush_each_chunk: bool) -> None:
        super().__init__(coding, flush_each_chunk=flush_each_chunk)
        # wbits 31 (16 + 15): gzip header and trailer, 32 KiB window (RFC 1952);
        # wbits 15: zlib header and Adler-32 trailer (RFC 1950), what "deflate"
        # means in HTTP (RFC 9110 §8.4.1.2). zlib writes a gzip header with no
        # name and MTIME 0 ("no time stamp is available", RFC 1952 §2.3.1).
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)

    def _compress(self, data: _Buffer) -> bytes:
        return self._compressor.compress(data)

    def _flush(self) -> bytes:
        # Z_SYNC_FLUSH: byte-aligns the output with an empty stored block, so
        # the client's inflater can emit everything up to here.
        return self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def _finish(self) -> bytes:
        return self._compressor.flush(zlib.Z_FINISH)


class _BrotliEncoder(Encoder):
    __slots__ = ("_compressor",)

    def __init__(self, brotli: _BrotliModule, quality: int, *, flush_each_chunk: bool) -> None:
        super().__init__("br", flush_each_chunk=flush_each_chunk)
        self._compressor = brotli.Compressor(quality=quality)

    def _compress(self, data: _Buffer) -> bytes:
        return self._compressor.process(data)

    def _flush(self) -> bytes:
        return self._compressor.flush()

    def _finish(self) -> bytes:
        return self._compressor.finish()


def make_encoder(
    coding: str, *, level: int | None = None, flush_each_chunk: bool = False
) -> Encoder:
    """An encoder for one body.

    Args:
        coding: ``"gzip"`` (or ``"x-gzip"``), ``"deflate"``, ``"br"`` or
            ``"identity"`` (passes the data through).
        level: the compression level: 0-9 for gzip and deflate (default
            ``GZIP_LEVEL``), 0-11 for br (default ``BROTLI_QUALITY``).
        flush_each_chunk: flush after every chunk (see ``Encoder``).

    Returns:
        The ``Encoder``.

    Raises:
        ValueError: unknown coding, or level out of range.
        RuntimeError: ``"br"`` without the brotli package.
    """
    name = _CODING_ALIASES.get(coding.lower(), coding.lower())
    if name == _IDENTITY:
        return Encoder(_IDENTITY, flush_each_chunk=flush_each_chunk)
    if name in _ZLIB_CODINGS:
        level = GZIP_LEVEL if level is None else level
        if not 0 <= level <= 9:
            raise ValueError(f"{name} level must be from 0 to 9, not {level}")
        wbits = 31 if name == "gzip" else 15
        return _ZlibEncoder(name, wbits, level, flush_each_chunk=flush_each_chunk)
    if name == "br":
        level = BROTLI_QUALITY if level is None else level
        if not 0 <= level <= 11:
            raise ValueError(f"br quality must be from 0 to 11, not {level}")
        return _BrotliEncoder(_require_brotli(), level, flush_each_chunk=flush_each_chunk)
    raise ValueError(f"cannot produce content coding {coding!r}")


def encode_body(data: _Buffer, coding: str, *, level: int | None = None) -> bytes:
    """A whole body, coded in one call.

    Args:
        data: the body.
        coding: as for ``make_encoder``.
        level: as for ``make_encoder``.

    Returns:
        The coded body.

    Raises:
        ValueError: unknown coding, or level out of range.
        RuntimeError: ``"br"`` without the brotli package.
    """
    encoder = make_encoder(coding, level=level)
    return encoder.compress(data) + encoder.finish()


# Decoding


@functools.lru_cache(maxsize=64)
def parse_content_encoding(value: str) -> tuple[str, ...]:
    """The codings of a ``Content-Encoding`` field value, in the order applied (§8.4).

    Args:
        value: the field value (several lines joined with ``", "``).

    Returns:
        The codings, lowercased (§8.4.1: "All content-coding values are
        case-insensitive"), ``x-gzip`` as ``gzip``, without empty elements and
        without ``identity``, which means no coding (RFC 9110 §12.5.3 reserves it
        for Accept-Encoding, but some senders put it here).

    Raises:
        UnsupportedContentCoding: an element is not a token.
    """
    codings = []
    for element in value.split(","):
        name = element.strip(" \t").lower()
        if not name or name == _IDENTITY:
            continue
        if TOKEN.fullmatch(name) is None:
            raise UnsupportedContentCoding(name, f"invalid content coding {name!r}")
        codings.append(_CODING_ALIASES.get(name, name))
    return tuple(codings)


class _Stage:
    """Undoes one coding; its output counted against the limit."""

    __slots__ = ("_limit", "_seen", "_size")

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._size = 0  # bytes output so far
        self._seen = False  # any input at all

    def _count(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._limit is not None and self._size > self._limit:
            raise DecodedContentTooLarge(self._limit)

    def _budget(self) -> int:
        """``max_length`` for the next zlib call: one byte past the limit, or 0 (none)."""
        return 0 if self._limit is None else self._limit - self._size + 1

    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def end(self) -> bytes:
        raise NotImplementedError


class _Inflater(Protocol):
    """What we use of a ``zlib.decompressobj``."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes | memoryview, /, max_length: int = ...) -> bytes: ...


class _InflateStage(_Stage):
    __slots__ = ("_gzip", "_held", "_inflater")

    def __init__(self, coding: str, limit: int | None) -> None:
        super().__init__(limit)
        self._gzip = coding == "gzip"
        # For deflate, the wrapping (zlib or raw) is known once two bytes came.
        self._inflater: _Inflater | None = zlib.decompressobj(31) if self._gzip else None
        self._held = b""

    def _start_deflate(self, data: bytes) -> tuple[bytes, _Inflater] | None:
        """Pick zlib or raw deflate from the first two bytes; ``None`` until there are two."""
        data = self._held + data
        if len(data) < 2:
            self._held = data
            return None
        self._held = b""
        # RFC 1950 §2.2: CMF (CM = 8: deflate, CINFO <= 7: window <= 32 KiB) and
        # FLG, with CMF * 256 + FLG a multiple of 31. A raw deflate stream that
        # starts with such a pair is possible (a stored block with odd padding
        # bits) but no encoder writes one.
        cmf, flg = data[0], data[1]
        zlib_wrapped = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
        inflater: _Inflater = zlib.decompressobj(15 if zlib_wrapped else -15)
        self._inflater = inflater
        return data, inflater

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._seen = True
        inflater = self._inflater
        if inflater is None:
            started = self._start_deflate(data)
            if started is None:
                return b""
            data, inflater = started
        pieces: list[bytes] = []
        # The input goes in slices, so that what zlib copies back as unconsumed
        # input after each step of output stays small, whatever the chunk size.
        view = memoryview(data)
        for start in range(0, len(view), _INPUT_STEP):
            inflater = self._inflate(inflater, view[start : start + _INPUT_STEP], pieces)
        return b"".join(pieces)

    def _inflate(
        self, inflater: _Inflater, data: bytes | memoryview, pieces: list[bytes]
    ) -> _Inflater:
        """Inflate ``data`` into ``pieces``, ``_STEP`` bytes of output at a time.

        Returns the inflater in use at the end (a new one per gzip member).
        """
        while True:
            if inflater.eof:
                # RFC 1952 §2.2: "A gzip file consists of a series of "members""; a
                # zlib stream has nothing after its trailer.
                if not self._gzip:
                    raise ContentCodingError("data after the end of the deflate stream")
                inflater = zlib.decompressobj(31)
                self._inflater = inflater
            try:
                # Output in steps, each counted before the next is made: a bomb
                # stops within one step past the limit, and the memory it takes is
                # the limit's, not the bomb's.
                piece = inflater.decompress(data, _STEP)
            except zlib.error as exc:
                raise ContentCodingError(f"corrupt {self._name} content: {exc}") from None
            self._count(piece)
            pieces.append(piece)
            if inflater.eof:
                data = inflater.unused_data  # the next member's, if any
                if not data:
                    return inflater
                continue
            data = inflater.unconsumed_tail
            # A full step may leave output pending in zlib (the rest of a match)
            # even with all input consumed: ask again until a step comes out short.
            if not data and len(piece) < _STEP:
                return inflater

    @property
    def _name(self) -> str:
        return "gzip" if self._gzip else "deflate"

    def end(self) -> bytes:
        if not self._seen:
            return b""  # an empty body: nothing was coded
        if self._inflater is None or not self._inflater.eof:
            raise ContentCodingError(f"truncated {self._name} content")
        return b""


class _BrotliStage(_Stage):
    __slots__ = ("_brotli", "_decompressor")

    def __init__(self, brotli: _BrotliModule, limit: int | None) -> None:
        super().__init__(limit)
        self._brotli = brotli
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._seen = True
        decompressor = self._decompressor
        if decompressor.is_finished():
            raise ContentCodingError("data after the end of the br stream")
        pieces = []
        empty = 0
        try:
            # output_buffer_limit bounds each call's output (to a step plus
            # brotli's own 32 KiB granularity); the rest waits in the decoder and
            # comes out of calls with no input, until one returns nothing.
            piece = decompressor.process(data, output_buffer_limit=_STEP)
            while True:
                self._count(piece)
                pieces.append(piece)
                if decompressor.is_finished():
                    break
                if not piece:
                    if decompressor.can_accept_more_data():
                        break
                    empty += 1
                    if empty > 1:  # wants to be drained, yet gives nothing
                        raise ContentCodingError("corrupt br content")
                piece = decompressor.process(b"", output_buffer_limit=_STEP)
        except self._brotli.error:
            # brotli's messages say nothing more ("decoder failed").
            raise ContentCodingError("corrupt br content") from None
        return b"".join(pieces)

    def end(self) -> bytes:
        if self._seen and not self._decompressor.is_finished():
            raise ContentCodingError("truncated br content")
        return b""


class Decoder:
    """Undoes a request body's content codings incrementally, with a size limit.

    ``Decoder(request.headers.get("content-encoding"))``; feed the body to
    ``decode`` in any chunks, then call ``finish`` once. The decoded body is the
    concatenation of everything returned.

    Codings are undone in the reverse of the order listed (§8.4: they are
    listed "in the order in which they were applied"). The limit applies to the
    decoded size, checked as data inflates: however well the input compresses,
    no call returns or holds much more than ``max_size`` bytes, and past it,
    ``DecodedContentTooLarge`` is raised. With several codings, each stage's
    output is held to the limit. With no coding (``None``, empty, ``identity``)
    the data passes through unchanged and unlimited: bounding a plain body is
    the job of the body size limit.

    An empty body is accepted whatever the codings say (there is nothing to
    decode); any other content must be whole: a stream cut short is an error at
    ``finish``.

    Args:
        content_encoding: the ``Content-Encoding`` field value, or the codings
            as a sequence in the order applied, or ``None``.
        max_size: the most decoded bytes accepted (``MAX_DECODED_SIZE``);
            ``None`` for no limit.
        max_codings: the most codings accepted (``MAX_CODINGS``); ``None`` for
            no limit.

    Attributes:
        codings: the codings, in the order they were applied (lowercased).
        size: decoded bytes returned so far.

    Raises:
        UnsupportedContentCoding: a coding is unknown (or ``br`` without brotli),
            or there are more than ``max_codings``.
        ValueError: ``max_size`` or ``max_codings`` is negative.
    """

    __slots__ = ("_done", "_stages", "codings", "size")

    def __init__(
        self,
        content_encoding: str | Sequence[str] | None,
        *,
        max_size: int | None = MAX_DECODED_SIZE,
        max_codings: int | None = MAX_CODINGS,
    ) -> None:
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 or None, not {max_size}")
        if max_codings is not None and max_codings < 0:
            raise ValueError(f"max_codings must be >= 0 or None, not {max_codings}")
        if content_encoding is None:
            codings: tuple[str, ...] = ()
        elif isinstance(content_encoding, str):
            codings = parse_content_encoding(content_encoding)
        else:
            codings = parse_content_encoding(", ".join(content_encoding))
        if max_codings is not None and len(codings) > max_codings:
            listed = ", ".join(codings)
            raise UnsupportedContentCoding(
                listed, f"more than {max_codings} content codings: {listed!r}"
            )
        stages: list[_Stage] = []
        for coding in reversed(codings):
            if coding in _ZLIB_CODINGS:
                stages.append(_InflateStage(coding, max_size))
            elif coding == "br" and (brotli := _load_brotli()) is not None:
                stages.append(_BrotliStage(brotli, max_size))
            else:
                raise UnsupportedContentCoding(coding)
        self.codings = codings
        self.size = 0
        self._stages = stages
        self._done = False

    def decode(self, data: _Buffer) -> bytes:
        """Decode the next chunk of the body.

        Args:
            data: the next bytes as received (any bytes-like object).

        Returns:
            The decoded bytes this chunk completes (possibly empty).

        Raises:
            DecodedContentTooLarge: the decoded body passed ``max_size``.
            ContentCodingError: the content is corrupt, or continues after the
                end of its coded stream.
            ValueError: the decoder is finished or failed.
        """
        if self._done:
            raise ValueError("decoder used after finish() or an error")
        out = bytes(data)
        try:
            for stage in self._stages:
                out = stage.feed(out)
        except BaseException:
            self._done = True
            raise
        self.size += len(out)
        return out

    def finish(self) -> bytes:
        """End the body, checking that every coded stream was complete.

        Returns:
            The last decoded bytes (usually empty).

        Raises:
            ContentCodingError: a stream was truncated.
            DecodedContentTooLarge: the decoded body passed ``max_size``.
            ValueError: the decoder is finished or failed.
        """
        if self._done:
            raise ValueError("decoder used after finish() or an error")
        self._done = True
        out = b""
        for stage in self._stages:
            out = stage.feed(out) + stage.end()
        self.size += len(out)
        return out


def decode_body(
    data: _Buffer,
    content_encoding: str | Sequence[str] | None,
    *,
    max_size: int | None = MAX_DECODED_SIZE,
    max_codings: int | None = MAX_CODINGS,
) -> bytes:
    """A whole request body, decoded in one call (see ``Decoder``).

    Args:
        data: the body as received.
        content_encoding: the ``Content-Encoding`` field value or codings, or ``None``.
        max_size: the most decoded bytes accepted; ``None`` for no limit.
        max_codings: the most codings accepted; ``None`` for no limit.

    Returns:
        The decoded body.

    Raises:
        UnsupportedContentCoding: an unknown coding, or too many (415).
        DecodedContentTooLarge: the decoded body passed ``max_size`` (413).
        ContentCodingError: corrupt or truncated content (400).
    """
    decoder = Decoder(content_encoding, max_size=max_size, max_codings=max_codings)
    return decoder.decode(data) + decoder.finish()
