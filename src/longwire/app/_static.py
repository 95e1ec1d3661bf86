"""``StaticFiles``: serve the files under one directory (GET and HEAD).

::

    static = StaticFiles("public")
    app.get("/")(static)                 # public/index.html
    app.get("/{path:path}")(static)      # public/<path>

The handler serves ``request.path_params["path"]`` when the route has a ``path``
parameter (so it can sit under any prefix: ``/assets/{path:path}``), else the
whole request path.

What it guarantees:

- nothing outside the directory is ever read: a path with a ``..`` or ``.``
  segment (``%2e%2e`` decodes to one), a NUL, or a separator other than ``/`` is
  404; so is a symlink whose target lies outside the directory (links inside it
  are followed);
- only regular files are served (a FIFO or a device would block or never end);
- a directory serves its ``index.html``; asked for without its trailing slash, it
  answers 301 to the path with one, so relative links in the page resolve;
- ``Content-Type`` comes from :mod:`mimetypes` (``application/octet-stream`` when
  unknown; ``text/*`` and JavaScript get ``charset=utf-8``), with ``Content-Length``;
- other methods get 405 with ``Allow: GET, HEAD``.

Files up to ``READ_AT_ONCE`` bytes are read in one call; bigger ones are
streamed in ``CHUNK_SIZE`` pieces with their ``Content-Length``. Reads happen on
the event loop (local files, usually in the page cache). No caching headers,
ranges or sendfile yet.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterator

from ._errors import HTTPError
from ._request import Request
from ._response import Response, StreamingResponse

__all__ = ["CHUNK_SIZE", "READ_AT_ONCE", "StaticFiles"]

READ_AT_ONCE = 256 * 1024
"""Files up to this size (bytes) are read whole and sent as one body."""

CHUNK_SIZE = 64 * 1024
"""Bigger files are streamed in pieces of this size (bytes)."""

_ALLOW = [("Allow", "GET, HEAD")]
# Separators other than "/" that the platform's paths honour (none on POSIX).
_OTHER_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep and sep != "/")


class StaticFiles:
    """A handler serving the files under ``directory`` (see the module documentation).

    Args:
        directory: the directory to serve; symlinks in its own path are resolved
            once, here.
        index: the file a directory serves; ``None`` makes directories 404.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        NotADirectoryError: ``directory`` is not a directory.
    """

    __slots__ = ("directory", "index")

    def __init__(self, directory: str | os.PathLike[str], *, index: str | None = "index.html"):
        root = os.path.realpath(directory)
        if not os.path.exists(root):
            raise FileNotFoundError(f"directory not found: {os.fspath(directory)}")
        if not os.path.isdir(root):
            raise NotADirectoryError(f"not a directory: {os.fspath(directory)}")
        if index is not None and ("/" in index or index in ("", ".", "..")):
            raise ValueError(f"index must be a file name, not {index!r}")
        self.directory = root
        self.index = index

    def __repr__(self) -> str:
        return f"StaticFiles({self.directory!r})"

    async def __call__(self, request: Request) -> Response:
        """Answer ``request`` with a file, a redirect, 404 or 405.

        Raises:
            HTTPError: 404 (no such file, or a path that is refused), 403 (the
                file is not readable), 405 (a method other than GET and HEAD).
        """
        if request.method not in ("GET", "HEAD"):
            raise HTTPError(405, headers=_ALLOW)
        relative = request.path_params.get("path")
        if not isinstance(relative, str):
            relative = request.path
        found = self._resolve(relative)
        if found is None:
            raise HTTPError(404)
        path, info = found
        if stat.S_ISDIR(info.st_mode):
            if not request.path.endswith("/"):
                query = request.query_string
                location = request.raw_path + "/" + (f"?{query}" if query else "")
                return Response.redirect(location, 301)
            if self.index is None:
                raise HTTPError(404)
            found = self._inside(os.path.join(path, self.index))
            if found is None:
                raise HTTPError(404)
            path, info = found
        elif relative.endswith("/"):
            raise HTTPError(404)  # "file.txt/": a file is not a directory
        if not stat.S_ISREG(info.st_mode):
            raise HTTPError(404)
        return _file_response(path, info, head=request.method == "HEAD")

    def _resolve(self, relative: str) -> tuple[str, os.stat_result] | None:
        """The real path and status of ``relative`` (a decoded URL path), or ``None``."""
        if "\x00" in relative:
            return None
        segments = []
        for segment in relative.split("/"):
            if not segment:
                continue  # "//" and the leading "/": joining "/etc" would make it absolute
            if segment in (".", "..") or any(sep in segment for sep in _OTHER_SEPARATORS):
                return None
            segments.append(segment)
        return self._inside(os.path.join(self.directory, *segments))

    def _inside(self, candidate: str) -> tuple[str, os.stat_result] | None:
        # realpath follows every symlink: what it returns must still be under the root.
        real = os.path.realpath(candidate)
        root = self.directory
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            return None
        try:
            return real, os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HTTPError(403) from exc


def _content_type(path: str) -> str:
    kind, _ = mimetypes.guess_type(path, strict=False)
    if kind is None:
        return "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("/javascript"):
        return f"{kind}; charset=utf-8"
    return kind


def _file_response(path: str, info: os.stat_result, *, head: bool) -> Response:
    """The response for the regular file at ``path`` (``info`` is its status)."""
    content_type = _content_type(path)
    size = info.st_size
    if head or size > READ_AT_ONCE:
        # A stream with its length: the server frames the body by Content-Length,
        # and for HEAD sends the head alone without running the stream.
        if not head and not os.access(path, os.R_OK):
            raise HTTPError(403)
        headers = [("Content-Length", str(size))]
        # Opened on the first read: a response the server never runs opens nothing.
        content: Iterator[bytes] = iter(()) if head else _chunks(path, size)
        return StreamingResponse(content, headers=headers, content_type=content_type)
    try:
        with open(path, "rb") as file:
            body = file.read()
    except OSError as exc:
        raise HTTPError(403 if isinstance(exc, PermissionError) else 404) from exc
    return Response(body, content_type=content_type)


def _chunks(path: str, size: int) -> Iterator[bytes]:
    """At most ``size`` bytes of the file; fewer (a file that shrank) makes the
    server drop the connection, the only honest signal once the head is out."""
    with open(path, "rb") as file:
        while size > 0:
            chunk = file.read(min(CHUNK_SIZE, size))
            if not chunk:
                return
            size -= len(chunk)
            yield chunk
