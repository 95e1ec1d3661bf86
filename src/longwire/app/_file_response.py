"""``FileResponse`` and the finishing of responses that carry validators.

A ``FileResponse`` is a file's content with ``Content-Length``, ``Last-Modified``,
a strong ``ETag`` and ``Accept-Ranges: bytes``. The application answers it
conditionally before it is sent (``finish_response``): 304 or 412 from the
request's preconditions (RFC 9110 §13), then 206 (one range, or several as
``multipart/byteranges``) or 416 from its ``Range`` (RFC 9110 §14). The server
sends its ``sections`` with ``loop.sendfile`` where the event loop and the
transport allow it (plain TCP on the default loop), else through ``stream``,
which reads the same bytes in ``CHUNK_SIZE`` pieces.

A response of any other type with an ``ETag`` or ``Last-Modified`` field gets
the same 304/412 treatment when it answers a GET or HEAD with a 200.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import stat
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

from ..http1._headers import Headers, HeadersLike
from ._conditional import (
    Outcome,
    evaluate_preconditions,
    file_etag,
    format_http_date,
    last_modified_seconds,
    not_modified_headers,
    parse_http_date,
)
from ._errors import HTTPError
from ._ranges import MultipartByteranges, select_ranges
from ._response import Response, StreamingResponse

if TYPE_CHECKING:
    from ._request import Request

__all__ = [
    "CHUNK_SIZE",
    "FileResponse",
    "Section",
    "check_preconditions",
    "content_type_for",
    "finish_response",
    "read_sections",
]

CHUNK_SIZE = 256 * 1024
"""Bytes read per step when a file is streamed rather than sent with ``sendfile``."""


class Section(NamedTuple):
    """A piece of a file response's body: ``prefix`` bytes, then ``size`` bytes of
    the file from ``offset``."""

    prefix: bytes
    offset: int
    size: int


def content_type_for(path: str) -> str:
    """The ``Content-Type`` of a file, from its name (:mod:`mimetypes`).

    ``application/octet-stream`` when unknown; ``text/*`` and JavaScript get
    ``charset=utf-8``.
    """
    return _content_type_of_name(os.path.basename(path))


@functools.lru_cache(maxsize=1024)
def _content_type_of_name(name: str) -> str:
    # Cached: guess_type costs several microseconds, and a site has few names.
    kind, encoding = mimetypes.guess_type(name, strict=False)
    if kind is None or encoding is not None:
        # "x.tar.gz" guesses as application/x-tar coded gzip: sent as is, it is
        # a gzip file, not a tar to decode.
        return "application/gzip" if encoding == "gzip" else "application/octet-stream"
    if kind.startswith("text/") or kind.endswith(("/javascript", "+xml", "/json")):
        if kind.endswith("/json"):
            return kind  # RFC 8259 §11: no charset parameter for JSON
        return f"{kind}; charset=utf-8"
    return kind


def _disposition(filename: str) -> str:
    """``Content-Disposition: attachment`` with ``filename`` (RFC 6266).

    An ASCII ``filename`` for old clients (non-ASCII and quoting characters
    replaced), and ``filename*`` (RFC 8187) with the exact name in UTF-8.
    """
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class FileResponse(StreamingResponse):
    """A response with the content of a regular file.

    Args:
        path: the file.
        status: the status code (200 unless you know better).
        headers: more header fields (``Content-Length`` is set from the file).
        content_type: the ``Content-Type``; guessed from the name when ``None``.
        filename: send ``Content-Disposition: attachment`` with this name (the
            browser downloads rather than displays).
        cache_control: a ``Cache-Control`` value, such as ``"no-cache"`` or
            ``"public, max-age=3600"``; ``None`` sends none.
        stat_result: the file's ``os.stat``, if you have it already.

    Raises:
        FileNotFoundError, PermissionError, IsADirectoryError: the file cannot
            be served (raised here, before anything is sent).

    The file is opened when the body is sent; a file that shrinks meanwhile
    makes the server drop the connection (the only honest signal once the
    head is out), one that grows is cut at the length announced.

    Attributes:
        path: the file's path.
        size: its length when the response was made.
        mtime: its modification time (seconds since the epoch).
        sections: what to send: ``Section`` pieces, in order.
    """

    __slots__ = ("mtime", "path", "sections", "size")

    path: str
    size: int
    mtime: float
    sections: tuple[Section, ...]

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersLike | None = None,
        content_type: str | None = None,
        *,
        filename: str | None = None,
        cache_control: str | None = None,
        stat_result: os.stat_result | None = None,
    ) -> None:
        path = os.fspath(path)
        info = os.stat(path) if stat_result is None else stat_result
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(f"not a regular file: {path}")
        if not os.access(path, os.R_OK):
            raise PermissionError(f"cannot read {path}")
        # Response's own initialiser: StreamingResponse's would wrap an iterable
        # we do not have; the stream is set below from the sections.
        Response.__init__(self, b"", status, headers, content_type or content_type_for(path))
        now = time.time()
        # Fields of the caller's are replaced; without any, adding is enough.
        put = self.headers.add if headers is None else self.headers.set
        put("Content-Length", str(info.st_size))
        put("Last-Modified", format_http_date(last_modified_seconds(info.st_mtime, now)))
        put("ETag", str(file_etag(info.st_mtime_ns, info.st_size, now=now)))
        put("Accept-Ranges", "bytes")
        if cache_control is not None:
            put("Cache-Control", cache_control)
        if filename is not None:
            put("Content-Disposition", _disposition(filename))
        self.path = path
        self.size = info.st_size
        self.mtime = info.st_mtime
        self._set_sections((Section(b"", 0, info.st_size),))

    def _set_sections(self, sections: Sequence[Section]) -> None:
        self.sections = tuple(sections)
        self.stream = read_sections(self.path, self.sections)

    def __repr__(self) -> str:
        return f"<FileResponse {self.status}, {self.path!r}>"


async def read_sections(path: str, sections: tuple[Section, ...]) -> AsyncIterator[bytes]:
    """The body of ``sections`` read from the file, for transports without sendfile.

    Reads happen on the event loop: local files, usually in the page cache.
    Stops short (the server then drops the connection) if the file shrank.
    """
    with open(path, "rb") as file:
        for prefix, offset, size in sections:
            if prefix:
                yield prefix
            file.seek(offset)
            left = size
            while left > 0:
                chunk = file.read(min(CHUNK_SIZE, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


# Finishing: preconditions and ranges


def _validators(headers: Headers) -> tuple[str | None, str | None]:
    etag = last_modified = None
    for lower, _, value in headers._fields:
        if lower == "etag":
            etag = value
        elif lower == "last-modified":
            last_modified = value
    return etag, last_modified


def finish_response(request: Request, response: Response) -> Response:
    """``response`` answered conditionally: 304, 412, 206 or 416 where the request asks.

    Only a 200 answering GET or HEAD is touched (RFC 9110 §13.2.1: conditions
    are ignored when the response would be other than 2xx; for other methods
    the handler must check them before acting: ``check_preconditions``).
    Ranges apply to ``FileResponse`` only.
    """
    etag, last_modified = _validators(response.headers)
    if etag is None and last_modified is None:
        return response
    now = time.time()
    modified: float | None = None
    if type(response) is FileResponse:
        modified = response.mtime
    elif last_modified is not None:
        modified = parse_http_date(last_modified)
    try:
        outcome = evaluate_preconditions(
            request.method, request.headers, etag=etag, last_modified=modified, now=now
        )
    except ValueError:  # the application's ETag is not an entity-tag: no validator
        outcome = evaluate_preconditions(
            request.method, request.headers, last_modified=modified, now=now
        )
    if outcome is Outcome.NOT_MODIFIED:
        return Response(b"", 304, not_modified_headers(response.headers))
    if outcome is Outcome.PRECONDITION_FAILED:
        return HTTPError(412).response(request)
    if type(response) is FileResponse and request.method == "GET":
        range_header = request.headers.get("range") if outcome.honour_range else None
        if range_header is not None:
            return _ranged(request, response, range_header)
    return response


def _ranged(request: Request, response: FileResponse, range_header: str) -> Response:
    selection = select_ranges(range_header, response.size)
    if selection.status == 200:
        return response
    if selection.status == 416:
        content_range = selection.content_range
        assert content_range is not None
        return HTTPError(416, headers=[("Content-Range", content_range)]).response(request)
    headers = response.headers
    response.status = 206
    if not selection.multipart:
        [(start, end)] = selection.ranges
        content_range = selection.content_range
        assert content_range is not None
        headers.set("Content-Range", content_range)
        headers.set("Content-Length", str(end - start + 1))
        response._set_sections((Section(b"", start, end - start + 1),))
        return response
    body = MultipartByteranges(
        ranges=selection.ranges, length=response.size, content_type=headers.get("content-type")
    )
    headers.set("Content-Type", body.media_type)
    headers.set("Content-Length", str(body.content_length))
    response._set_sections(
        [
            Section(head, 0, 0)
            if byte_range is None
            else Section(head, byte_range.start, byte_range.size)
            for head, byte_range in body.pieces()
        ]
    )
    return response


def check_preconditions(
    request: Request,
    *,
    etag: str | None = None,
    last_modified: float | None = None,
    exists: bool = True,
) -> None:
    """Evaluate ``If-Match``, ``If-Unmodified-Since`` (and the rest) before acting.

    For a state-changing request (PUT, PATCH, DELETE, POST) on a resource whose
    current validators you know: call it before changing anything. For GET and
    HEAD the application does it for you when the response carries ``ETag`` or
    ``Last-Modified``.

    Args:
        request: the request.
        etag: the resource's current ``ETag`` value (quotes included), if any.
        last_modified: its modification time, seconds since the epoch, if known.
        exists: whether it exists now (``If-None-Match: *`` on a PUT that must
            create, ``If-Match: *`` on one that must replace).

    Raises:
        HTTPError: 412 Precondition Failed, or 304 Not Modified for a GET/HEAD.
        ValueError: ``etag`` is not an entity-tag.
    """
    outcome = evaluate_preconditions(
        request.method,
        request.headers,
        etag=etag,
        last_modified=last_modified,
        exists=exists,
        now=time.time(),
    )
    if outcome is Outcome.PRECONDITION_FAILED:
        raise HTTPError(412)
    if outcome is Outcome.NOT_MODIFIED:
        fields = [("ETag", etag)] if etag is not None else []
        raise HTTPError(304, headers=fields)
