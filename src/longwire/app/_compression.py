"""``Compression``: a middleware that codes responses with gzip, deflate or br.

::

    app = App()
    app.middleware(Compression())

The decisions are those of ``longwire.app._coding``: ``should_compress`` (never
1xx/204/206/304, HEAD, an already coded body, ``Cache-Control: no-transform``,
an incompressible media type, a body shorter than ``minimum_size``), then the
request's ``Accept-Encoding`` (``best_encoding``: qvalues first, ties to the
server's order). A fixed body is coded in one go; a streamed body chunk by
chunk, each chunk flushed so that the client can decode it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Final

from ._app import CallNext
from ._coding import (
    DEFAULT_PREFERENCE,
    MIN_COMPRESS_SIZE,
    Encoder,
    apply_content_coding,
    encode_body,
    make_encoder,
    should_compress,
    supported_codings,
)
from ._negotiation import best_encoding
from ._request import Request
from ._response import Response, StreamingResponse
from ._response_edit import merge_vary

__all__ = ["OFFLOAD_SIZE", "STREAM_CODINGS", "Compression"]

# 256 KiB: the body (or streamed chunk) size from which compression runs in a
# worker thread (zlib and brotli release the GIL while they work). Below it the
# event loop does it: gzip 5 codes 256 KiB of JSON or HTML in 2-4 ms, and a
# round trip through asyncio.to_thread costs about 0.1 ms, worth it only for
# work that would stall every other connection noticeably.
OFFLOAD_SIZE: Final = 256 * 1024

# Streams keep their encoder alive as long as they last: about 256 KiB for
# gzip/deflate, 1.2 MiB for brotli 4. With thousands of open event streams
# brotli would take gigabytes, so streams get gzip or deflate by default.
STREAM_CODINGS: Final = ("gzip", "deflate")


def _offers(codings: Iterable[str] | None, what: str) -> tuple[str, ...]:
    """The codings to offer, validated, in order; ``br`` dropped without brotli."""
    if codings is None:
        return supported_codings()
    if isinstance(codings, str):
        raise TypeError(f"{what} must be an iterable of codings, not a str: wrap it in a tuple")
    available = supported_codings()
    offers: list[str] = []
    for coding in codings:
        name = coding.lower()
        name = "gzip" if name == "x-gzip" else name
        if name not in DEFAULT_PREFERENCE:
            raise ValueError(f"{what}: cannot produce content coding {coding!r}")
        if name in available and name not in offers:
            offers.append(name)
    return tuple(offers)


class Compression:
    """Middleware: compress responses the client accepts coded (RFC 9110 §8.4, §12.5.3).

    Register it with ``app.middleware(Compression())``. For each response it:

    - leaves it alone unless ``should_compress`` says it is a candidate
      (status 200-599 except 204/206/304, not HEAD, no ``Content-Encoding``,
      no ``Cache-Control: no-transform``, a compressible ``Content-Type``,
      at least ``minimum_size`` bytes when the size is known);
    - adds ``Vary: Accept-Encoding`` to every candidate, coded or not (to a
      HEAD answer too), since a cache must key on that field;
    - picks the coding from ``Accept-Encoding`` among ``codings``; without
      the field, or when identity wins, it sends the body as is;
    - codes a fixed body in one go, and sends it as is if coding did not make
      it smaller; replaces a stream by one coded chunk by chunk, each chunk
      flushed (a sync flush: server-sent events are not held back);
    - sets ``Content-Encoding``, weakens a strong ``ETag``, drops
      ``Content-Length`` and ``Accept-Ranges`` (``apply_content_coding``).

    The response a handler returned is never changed when its body is coded:
    a new ``Response`` (or ``StreamingResponse``) carries the coded body, so a
    handler may return the same object many times. A ``StreamingResponse``
    subclass (a file sent with ``sendfile``) becomes a plain
    ``StreamingResponse``, so the server sends the coded stream, not the file.

    Args:
        minimum_size: the smallest body worth coding, in bytes
            (``MIN_COMPRESS_SIZE``, 1024). Streams are coded whatever their size
            unless they declare a smaller ``Content-Length``.
        level: the gzip/deflate level, 0-9; ``None`` for ``GZIP_LEVEL`` (5).
        brotli_quality: the br quality, 0-11; ``None`` for ``BROTLI_QUALITY`` (4).
        codings: the codings offered for fixed bodies, in the server's order of
            preference among codings the client accepts equally; ``None`` for
            ``("br", "gzip", "deflate")``. ``br`` is left out when the brotli
            package (1.2 or later) is missing.
        stream_codings: the same for streamed bodies (``STREAM_CODINGS``: gzip
            and deflate, whose encoders take 5 times less memory than brotli's
            for as long as a stream lasts).
        offload_size: from this size (``OFFLOAD_SIZE``, 256 KiB), a body or a
            streamed chunk is coded in a worker thread rather than on the
            event loop; ``None`` to always code on the event loop.

    Raises:
        ValueError: a level out of range, a coding longwire cannot produce, a
            negative size.
        TypeError: ``codings`` or ``stream_codings`` is a ``str``.
    """

    __slots__ = (
        "_brotli_quality",
        "_level",
        "_offers",
        "_stream_offers",
        "minimum_size",
        "offload_size",
    )

    def __init__(
        self,
        *,
        minimum_size: int = MIN_COMPRESS_SIZE,
        level: int | None = None,
        brotli_quality: int | None = None,
        codings: Iterable[str] | None = None,
        stream_codings: Iterable[str] | None = STREAM_CODINGS,
        offload_size: int | None = OFFLOAD_SIZE,
    ) -> None:
        if minimum_size < 0:
            raise ValueError(f"minimum_size must be >= 0, not {minimum_size}")
        if offload_size is not None and offload_size < 0:
            raise ValueError(f"offload_size must be >= 0 or None, not {offload_size}")
        if level is not None and not 0 <= level <= 9:
            raise ValueError(f"level must be from 0 to 9 (gzip, deflate), not {level}")
        if brotli_quality is not None and not 0 <= brotli_quality <= 11:
            raise ValueError(f"brotli_quality must be from 0 to 11, not {brotli_quality}")
        self.minimum_size = minimum_size
        self.offload_size = offload_size
        self._level = level
        self._brotli_quality = brotli_quality
        self._offers = _offers(codings, "codings")
        self._stream_offers = _offers(stream_codings, "stream_codings")

    def __repr__(self) -> str:
        return (
            f"Compression(codings={self._offers!r}, stream_codings={self._stream_offers!r}, "
            f"minimum_size={self.minimum_size})"
        )

    def _encoder_level(self, coding: str) -> int | None:
        return self._brotli_quality if coding == "br" else self._level

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Run the rest of the chain, then code its response if it should be.

        Args:
            request: the request.
            call_next: the rest of the middleware chain and the handler.

        Returns:
            The response, coded or as it was (with ``Vary`` when it matters).
        """
        response = await call_next(request)
        stream = response.stream
        body_size = None
        if stream is None:
            body_size = len(response.body)
            if body_size < self.minimum_size:  # most responses: decided here
                return response
        method = request.method
        head = method == "HEAD"
        if not should_compress(
            response.status,
            response.headers,
            # A HEAD answer gets the Vary its GET would get; it is never coded.
            method="GET" if head else method,
            body_size=body_size,
            min_size=self.minimum_size,
        ):
            return response
        coding = None
        if not head:
            # Accept-Encoding lines joined (RFC 9110 §5.3); usually there is one.
            # Without the field: identity (see best_encoding).
            accepted = request.headers.get_all("accept-encoding")
            if accepted:
                offers = self._offers if stream is None else self._stream_offers
                coding = best_encoding(offers, ", ".join(accepted))
        if coding is None or coding == "identity":
            # Not coded, but chosen with Accept-Encoding (in place: idempotent).
            merge_vary(response.headers, "Accept-Encoding")
            return response
        if stream is None:
            return await self._encode_body(response, coding)
        return self._encode_stream(response, stream, coding)

    async def _encode_body(self, response: Response, coding: str) -> Response:
        body = response.body
        level = self._encoder_level(coding)
        if self.offload_size is not None and len(body) >= self.offload_size:
            coded = await asyncio.to_thread(encode_body, body, coding, level=level)
        else:
            coded = encode_body(body, coding, level=level)
        if len(coded) >= len(body):  # mislabelled binary, already compressed data
            merge_vary(response.headers, "Accept-Encoding")
            return response
        new = Response(coded, response.status, response.headers)  # copies the headers
        apply_content_coding(new.headers, coding)
        return new

    def _encode_stream(
        self, response: Response, stream: AsyncIterator[bytes], coding: str
    ) -> Response:
        encoder = make_encoder(coding, level=self._encoder_level(coding), flush_each_chunk=True)
        coded = _coded_chunks(stream, encoder, self.offload_size)
        if type(response) is StreamingResponse:
            # A stream is good for one pass: no one else can send this object.
            new = response
        else:
            # A subclass may be sent another way (sendfile): only a plain
            # StreamingResponse is sure to be sent from its stream.
            new = StreamingResponse((), response.status, response.headers)
        new.stream = coded
        apply_content_coding(new.headers, coding)
        return new


async def _coded_chunks(
    stream: AsyncIterator[bytes], encoder: Encoder, offload_size: int | None
) -> AsyncIterator[bytes]:
    """``stream`` through ``encoder``: one coded, flushed piece per non-empty chunk."""
    try:
        async for chunk in stream:
            if offload_size is not None and len(chunk) >= offload_size:
                piece = await asyncio.to_thread(encoder.compress, chunk)
            else:
                piece = encoder.compress(chunk)
            if piece:
                yield piece
        yield encoder.finish()
    finally:
        # Closed early (the client went away): close the source too, so its
        # own cleanup runs now rather than when it is garbage-collected.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
