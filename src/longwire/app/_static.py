"""``StaticFiles``: serve the files under one directory (GET and HEAD).

::

    app.static("/assets", "public")     # public/<path> at /assets/<path>

    static = StaticFiles("public")       # or route it yourself
    app.get("/{path:path}")(static)

The handler serves ``request.path_params["path"]`` when the route has a ``path``
parameter (so it can sit under any prefix: ``/assets/{path:path}``), else the
whole request path.

What it guarantees:

- nothing outside the directory is ever read: a path with a ``..`` or ``.``
  segment (``%2e%2e`` decodes to one), a NUL, or a separator other than ``/`` is
  404; so is a symlink whose target lies outside the directory (links inside it
  are followed);
- only regular files are served (a FIFO or a device would block or never end);
- names starting with "." (``.env``, ``.git/``) are 404 unless ``hidden=True``,
  except ``.well-known`` (RFC 8615);
- a directory serves its ``index.html``; asked for without its trailing slash, it
  answers 301 to the path with one, so relative links in the page resolve;
  without an index file it is 404, or an HTML listing with ``listing=True``;
- files go out as ``FileResponse``: ``Content-Type`` from :mod:`mimetypes`,
  ``Content-Length``, ``Last-Modified``, a strong ``ETag``, ``Accept-Ranges``,
  the ``Cache-Control`` given (``no-cache`` by default: caches keep the file but
  revalidate it, a cheap 304, so a new version shows at once), 304/412 for
  conditional requests, 206/416 for ranges, and ``sendfile`` where possible;
- other methods get 405 with ``Allow: GET, HEAD``.
"""

from __future__ import annotations

import os
import stat
from html import escape
from urllib.parse import quote

from ._errors import HTTPError
from ._file_response import FileResponse
from ._request import Request
from ._response import Response

__all__ = ["MAX_LISTING_ENTRIES", "StaticFiles"]

MAX_LISTING_ENTRIES = 10_000
"""A directory listing shows at most this many entries (a huge directory would
make a huge page for anyone who asks)."""

_ALLOW = [("Allow", "GET, HEAD")]
# Separators other than "/" that the platform's paths honour (none on POSIX).
_OTHER_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep and sep != "/")


class StaticFiles:
    """A handler serving the files under ``directory`` (see the module documentation).

    Args:
        directory: the directory to serve; symlinks in its own path are resolved
            once, here.
        index: the file a directory serves; ``None`` for none.
        cache_control: the ``Cache-Control`` of every file, or ``None`` for none.
        listing: answer a directory without an index file with an HTML list
            of its entries (hidden ones, starting with ".", left out).
        hidden: serve files and directories whose name starts with "."
            (``.env``, ``.git/``); by default they are 404, except
            ``.well-known`` (RFC 8615).
        prefix: the URL path the directory is mounted at, taken off
            ``request.path`` on routes without a ``path`` parameter.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        NotADirectoryError: ``directory`` is not a directory.
    """

    __slots__ = ("cache_control", "directory", "hidden", "index", "listing", "prefix")

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        index: str | None = "index.html",
        cache_control: str | None = "no-cache",
        listing: bool = False,
        hidden: bool = False,
        prefix: str = "",
    ) -> None:
        root = os.path.realpath(directory)
        if not os.path.exists(root):
            raise FileNotFoundError(f"directory not found: {os.fspath(directory)}")
        if not os.path.isdir(root):
            raise NotADirectoryError(f"not a directory: {os.fspath(directory)}")
        if index is not None and ("/" in index or index in ("", ".", "..")):
            raise ValueError(f"index must be a file name, not {index!r}")
        self.directory = root
        self.index = index
        self.cache_control = cache_control
        self.listing = listing
        self.hidden = hidden
        self.prefix = prefix.rstrip("/")

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
            if self.prefix and relative.startswith(self.prefix):
                relative = relative[len(self.prefix) :]
        found = self._resolve(relative)
        if found is None:
            raise HTTPError(404)
        path, info = found
        if stat.S_ISDIR(info.st_mode):
            if not request.path.endswith("/"):
                query = request.query_string
                location = request.raw_path + "/"
                if location.startswith("//"):
                    # "//docs" names the directory docs (empty segments are
                    # skipped), but "//docs/" would be another site: http://docs/.
                    location = "/" + location.lstrip("/")
                location += f"?{query}" if query else ""
                return Response.redirect(location, 301)
            found = None if self.index is None else self._walk(path, [self.index])
            if found is None or not stat.S_ISREG(found[1].st_mode):
                if self.listing:
                    return _listing(path, request.path)
                raise HTTPError(404)
            path, info = found
        elif relative.endswith("/"):
            raise HTTPError(404)  # "file.txt/": a file is not a directory
        if not stat.S_ISREG(info.st_mode):
            raise HTTPError(404)
        try:
            return FileResponse(path, stat_result=info, cache_control=self.cache_control)
        except PermissionError as exc:
            raise HTTPError(403) from exc

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
            if segment[0] == "." and not self.hidden and segment != ".well-known":
                return None
            segments.append(segment)
        return self._walk(self.directory, segments)

    def _walk(self, base: str, segments: list[str]) -> tuple[str, os.stat_result] | None:
        """``base`` (a real directory under the root) joined with ``segments``, one
        ``lstat`` per segment; a symlink on the way sends the rest through ``_inside``.

        Cheaper than ``realpath`` of the whole path, which ``lstat``s every
        component of the root as well, on every request.
        """
        path = base
        try:
            info = os.stat(base) if not segments else None
            for index, segment in enumerate(segments):
                path = os.path.join(path, segment)
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    return self._inside(os.path.join(path, *segments[index + 1 :]))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HTTPError(403) from exc
        assert info is not None
        return path, info

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


def _listing(directory: str, url_path: str) -> Response:
    """An HTML page linking to the entries of ``directory`` (at ``url_path``)."""
    try:
        with os.scandir(directory) as entries:
            names = []
            for entry in entries:
                if not entry.name.startswith("."):
                    names.append(entry.name + ("/" if entry.is_dir() else ""))
                if len(names) >= MAX_LISTING_ENTRIES:
                    break
    except OSError as exc:
        raise HTTPError(403) from exc
    title = escape(f"Index of {url_path}")
    items = "".join(
        f'<li><a href="{escape(quote(name))}">{escape(name)}</a></li>\n' for name in sorted(names)
    )
    return Response.html(
        f"<!doctype html>\n<title>{title}</title>\n<h1>{title}</h1>\n<ul>\n{items}</ul>\n"
    )
