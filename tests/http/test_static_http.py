"""``app.static`` / ``StaticFiles`` over real sockets: fields, index files, redirects,
listings, refused paths, HEAD and other methods, prefixes.

Clients: raw sockets (exact bytes: the target is sent as written, ``..`` and
all) and aiohttp.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import os
import re
import time
from pathlib import Path

import pytest
from http_testing import (
    IMF_FIXDATE,
    OLD,
    OLD_HTTP_DATE,
    exchange,
    fetch,
    get,
    open_raw,
    read_response,
    request,
    run,
    serve,
    url,
    write,
)

from longwire.app import App
from longwire.app._static import StaticFiles

HELLO = b"hello world\n"
BIG = os.urandom(200_000)  # over SMALL_FILE: sent with sendfile, not read inline
ODD_NAME = 'a<b>&"c".txt'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory to serve, with files, links in and out of it, and things outside it."""
    write(tmp_path / "secret.txt", "top secret\n")
    write(tmp_path / "outside" / "secret2.txt", "top secret too\n")
    root = tmp_path / "site"
    write(root / "hello.txt", HELLO)
    write(root / "index.html", "<h1>home</h1>\n")
    write(root / "big.bin", BIG)
    write(root / "style.css", "body { color: red }\n")
    write(root / "app.js", "console.log(1);\n")
    write(root / "data.json", '{"a": 1}\n')
    write(root / "logo.png", b"\x89PNG\r\n\x1a\n")
    write(root / "pic.svg", "<svg/>")
    write(root / "notes.weird", b"\x00\x01")
    write(root / "archive.tar.gz", b"\x1f\x8b")
    write(root / "café.txt", "crème\n")
    write(root / "docs" / "index.html", "<p>docs</p>\n")
    write(root / "sub" / ODD_NAME, "odd\n")
    write(root / "sub" / "with space.txt", "spaced\n")
    write(root / "sub" / ".hidden", "hidden\n")
    (root / "sub" / "inner").mkdir()
    (root / "sub" / ".hidden-dir").mkdir()
    (root / "empty").mkdir()
    (root / "<x>").mkdir()
    os.symlink("hello.txt", root / "link.txt")
    os.symlink("sub", root / "linkdir")
    os.symlink("../secret.txt", root / "escape.txt")
    os.symlink(tmp_path / "outside", root / "outdir")
    os.symlink("/etc/passwd", root / "passwd")
    return root


def static_app(root: Path, **options: object) -> App:
    app = App()
    app.static("/", root, **options)  # type: ignore[arg-type]
    return app


# The fields of a file


def test_file_fields_and_body(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            reply = await fetch("GET", url(server, "/hello.txt"))
            assert reply.status == 200
            assert reply.body == HELLO
            assert reply.header("content-type") == "text/plain; charset=utf-8"
            assert reply.header_all("content-length") == ["12"]
            assert reply.header("last-modified") == OLD_HTTP_DATE
            etag = reply.header("etag")
            assert etag is not None
            assert re.fullmatch(r'"[!#-~]+"', etag), etag  # strong: no W/
            assert reply.header("accept-ranges") == "bytes"
            assert reply.header("cache-control") == "no-cache"
            assert reply.header("server") == "longwire"
            date = reply.header("date")
            assert date is not None
            assert IMF_FIXDATE.fullmatch(date)
            sent = email.utils.parsedate_to_datetime(date).timestamp()
            assert abs(sent - time.time()) < 5
            assert reply.header("transfer-encoding") is None

            # The same file, unchanged: the same tag; a new version: a new one.
            again = await fetch("GET", url(server, "/hello.txt"))
            assert again.header("etag") == etag
            write(site / "hello.txt", b"hello again\n")
            os.utime(site / "hello.txt", (OLD + 60, OLD + 60))
            changed = await fetch("GET", url(server, "/hello.txt"))
            assert changed.body == b"hello again\n"
            assert changed.header("etag") not in (None, etag)
            assert changed.header("last-modified") == "Sun, 13 Sep 2020 12:27:40 GMT"

    run(main)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json"),  # RFC 8259: no charset
        ("/logo.png", "image/png"),
        ("/pic.svg", "image/svg+xml; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/notes.weird", "application/octet-stream"),
        ("/archive.tar.gz", "application/gzip"),  # not a tar to decode
        ("/caf%C3%A9.txt", "text/plain; charset=utf-8"),
    ],
)
def test_content_type_from_the_name(site: Path, path: str, content_type: str) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            response = await get(server.port, path)
            assert response.status == 200, response
            assert response.header("content-type") == content_type
            name = path.rsplit("/", 1)[1].replace("caf%C3%A9", "café")
            assert response.body == (site / name).read_bytes()

    run(main)


def test_a_file_changed_within_the_last_second_gets_a_weak_etag(site: Path) -> None:
    async def main() -> None:
        path = site / "fresh.txt"
        path.write_text("just written\n")
        # Stamped ahead of the clock (as a write racing the request, or a skewed
        # clock): no second has passed since, whatever the load on this machine.
        os.utime(path, (time.time() + 30, time.time() + 30))
        async with serve(static_app(site)) as server:
            fresh = await get(server.port, "/fresh.txt")
            assert fresh.status == 200
            assert (fresh.header("etag") or "").startswith('W/"')
            # RFC 9110 §8.8.2.1: Last-Modified is never later than Date.
            modified = email.utils.parsedate_to_datetime(fresh.header("last-modified") or "")
            date = email.utils.parsedate_to_datetime(fresh.header("date") or "")
            assert modified <= date
            os.utime(path, (OLD, OLD))
            aged = await get(server.port, "/fresh.txt")
            assert (aged.header("etag") or "").startswith('"')

    run(main)


def test_cache_control_custom_and_none(site: Path) -> None:
    async def main() -> None:
        app = App()
        app.static("/cached", site, cache_control="public, max-age=3600")
        app.static("/bare", site, cache_control=None)
        async with serve(app) as server:
            cached = await get(server.port, "/cached/hello.txt")
            assert cached.status == 200
            assert cached.header_all("cache-control") == ["public, max-age=3600"]
            bare = await get(server.port, "/bare/hello.txt")
            assert bare.status == 200
            assert bare.body == HELLO
            assert "cache-control" not in bare.names()

    run(main)


# Directories


def test_a_directory_serves_its_index_file(site: Path) -> None:
    async def main() -> None:
        app = App()
        # "/" first: the longer mounts still win for the paths under them.
        app.static("/", site)
        app.static("/noindex", site, index=None)
        app.static("/custom", site, index="hello.txt")
        async with serve(app) as server:
            home = await get(server.port, "/")
            assert (home.status, home.body) == (200, b"<h1>home</h1>\n")
            assert home.header("content-type") == "text/html; charset=utf-8"
            assert home.header("etag") is not None
            docs = await get(server.port, "/docs/")
            assert (docs.status, docs.body) == (200, b"<p>docs</p>\n")
            assert (await get(server.port, "/noindex/docs/")).status == 404
            assert (await get(server.port, "/noindex/docs/index.html")).status == 200
            custom = await get(server.port, "/custom/")
            assert (custom.status, custom.body) == (200, HELLO)
            # index.html names a directory here: not a file to serve.
            (site / "empty" / "index.html").mkdir()
            assert (await get(server.port, "/empty/")).status == 404

    run(main)


def test_a_directory_without_its_slash_redirects_301_keeping_the_query(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site, listing=True)) as server:
            for target, location in [
                ("/docs", "/docs/"),
                ("/docs?x=1&y=a%20b", "/docs/?x=1&y=a%20b"),
                ("/sub/inner", "/sub/inner/"),
                ("/empty", "/empty/"),
                ("/caf%C3%A9", None),  # no such directory
            ]:
                response = await get(server.port, target)
                if location is None:
                    assert response.status == 404
                    continue
                assert response.status == 301, (target, response)
                assert response.header_all("location") == [location]
                assert response.header("content-length") == "0"
            head = await exchange(server.port, request("HEAD", "/docs"), head_only=True)
            assert (head.status, head.header("location")) == (301, "/docs/")

    run(main)


def test_a_directory_redirect_never_leaves_the_site(site: Path) -> None:
    # "//docs" resolves to the directory docs (empty segments are skipped), but the
    # redirect must not be "//docs/": a browser reads that as http://docs/.
    (site / "evil.example").mkdir()

    async def main() -> None:
        async with serve(static_app(site)) as server:
            for target, location in [
                ("//docs", "/docs/"),
                ("///docs", "/docs/"),
                ("//evil.example", "/evil.example/"),
                ("//evil.example?q=1", "/evil.example/?q=1"),
                ("http://test//docs", "/docs/"),  # absolute-form
                ("/sub//inner", "/sub//inner/"),  # not at the start: harmless
            ]:
                response = await get(server.port, target)
                assert response.status == 301, (target, response)
                assert response.header_all("location") == [location], target

    run(main)


def test_listing_is_off_by_default(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            for target in ("/sub/", "/empty/", "/sub/inner/", "/linkdir/"):
                response = await get(server.port, target)
                assert response.status == 404, target
                assert b"with space" not in response.body

    run(main)


def test_listing_escapes_names_and_leaves_hidden_entries_out(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site, listing=True)) as server:
            page = await get(server.port, "/sub/")
            assert page.status == 200
            assert page.header("content-type") == "text/html; charset=utf-8"
            text = page.body.decode()
            entries = re.findall(r'<li><a href="([^"]*)">([^<]*)</a></li>', text)
            assert entries == [
                ("a%3Cb%3E%26%22c%22.txt", "a&lt;b&gt;&amp;&quot;c&quot;.txt"),
                ("inner/", "inner/"),
                ("with%20space.txt", "with space.txt"),
            ]
            assert ODD_NAME not in text
            assert ".hidden" not in text
            assert "<title>Index of /sub/</title>" in text

            # The title is escaped too; an empty directory is an empty list.
            odd = await get(server.port, "/%3Cx%3E/")
            assert odd.status == 200
            assert "Index of /&lt;x&gt;/" in odd.body.decode()
            assert "<x>" not in odd.body.decode()
            empty = await get(server.port, "/empty/")
            assert empty.status == 200
            assert "<li>" not in empty.body.decode()
            # A directory with an index file still serves it.
            docs = await get(server.port, "/docs/")
            assert docs.body == b"<p>docs</p>\n"
            # The links resolve: each entry is served at its href.
            [href] = [h for h, _ in entries if h.endswith("c%22.txt")]
            linked = await get(server.port, "/sub/" + html.unescape(href))
            assert (linked.status, linked.body) == (200, b"odd\n")

    run(main)


# Paths that must not be served


REFUSED = [
    "/../secret.txt",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/..%2Fsecret.txt",
    "/%2F..%2Fsecret.txt",
    "/sub%2F..%2F..%2Fsecret.txt",
    "/./hello.txt",  # a "." segment is refused too
    "/sub/%2e/with%20space.txt",
    "//etc/passwd",  # absolute: joined, it would be /etc/passwd
    "/%2Fetc%2Fpasswd",
    "/%2F%2Fetc%2Fpasswd",
    "/hello.txt%00",
    "/hello.txt%00.png",
    "/%00",
    "/escape.txt",  # a link to ../secret.txt
    "/outdir/secret2.txt",  # a link to a directory outside
    "/outdir/",
    "/passwd",  # a link to /etc/passwd
    "/hello.txt/",  # a file is not a directory
    "/nothing-here.txt",
    "/linkdir/../../secret.txt",
]


def test_paths_outside_the_directory_are_404(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site, listing=True)) as server:
            for target in REFUSED:
                response = await get(server.port, target)
                assert response.status == 404, (target, response)
                assert b"secret" not in response.body, target
                assert b"root:" not in response.body, target
            # The server is fine: a plain file still comes.
            assert (await get(server.port, "/hello.txt")).body == HELLO

    run(main)


def test_symlinks_inside_the_directory_are_followed(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site, listing=True)) as server:
            link = await get(server.port, "/link.txt")
            assert (link.status, link.body) == (200, HELLO)
            through = await get(server.port, "/linkdir/with%20space.txt")
            assert (through.status, through.body) == (200, b"spaced\n")
            listing = await get(server.port, "/linkdir/")
            assert listing.status == 200
            assert b"with space.txt" in listing.body

    run(main)


def test_hidden_names_are_404_unless_asked_for_but_well_known_is_served(site: Path) -> None:
    write(site / ".env", "SECRET=1\n")
    write(site / ".git" / "config", "[core]\n")
    write(site / ".well-known" / "security.txt", "Contact: x\n")

    async def main() -> None:
        async with serve(static_app(site)) as server:
            for path in ["/.env", "/.git/config", "/sub/.hidden", "/%2eenv", "/sub/.hidden-dir/"]:
                assert (await get(server.port, path)).status == 404, path
            known = await get(server.port, "/.well-known/security.txt")
            assert (known.status, known.body) == (200, b"Contact: x\n")
        async with serve(static_app(site, hidden=True)) as server:
            shown = await get(server.port, "/.env")
            assert (shown.status, shown.body) == (200, b"SECRET=1\n")

    run(main)


def test_only_regular_files_are_served(site: Path) -> None:
    os.mkfifo(site / "pipe")  # reading it would block until a writer comes

    async def main() -> None:
        async with serve(static_app(site)) as server:
            response = await asyncio.wait_for(get(server.port, "/pipe"), 5)
            assert response.status == 404

    run(main)


# Methods


def test_head_has_the_head_of_get_and_no_body(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server, open_raw(server.port) as (reader, writer):
            for target in ("/hello.txt", "/big.bin", "/docs/"):
                # Pipelined: any body bytes after the HEAD's head would be read as
                # the start of the GET's response.
                writer.write(request("HEAD", target) + request("GET", target))
                head = await read_response(reader, head_only=True)
                full = await read_response(reader)
                assert (head.status, full.status) == (200, 200)
                # The same fields (their order may differ), Date aside.
                without_date = sorted(field for field in full.headers if field[0] != "date")
                assert sorted(field for field in head.headers if field[0] != "date") == without_date
                assert head.header("content-length") == str(len(full.body))
                served = "docs/index.html" if target == "/docs/" else target.strip("/")
                assert full.body == (site / served).read_bytes()

    run(main)


def test_other_methods_get_405_with_allow(site: Path) -> None:
    async def main() -> None:
        app = static_app(site)
        # Routed by hand for POST too: StaticFiles answers 405 itself.
        app.route("/upload/{path:path}", ("GET", "POST"))(StaticFiles(site))
        async with serve(app) as server:
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                response = await exchange(server.port, request(method, "/hello.txt", body=b"x"))
                assert response.status == 405, method
                allowed = {m.strip() for m in (response.header("allow") or "").split(",")}
                assert {"GET", "HEAD"} <= allowed
                assert method not in allowed
                assert response.body != HELLO
            own = await exchange(server.port, request("POST", "/upload/hello.txt", body=b"x"))
            assert own.status == 405
            assert own.header("allow") == "GET, HEAD"
            fetched = await get(server.port, "/upload/hello.txt")
            assert fetched.body == HELLO

    run(main)


# Prefixes and routes


def test_a_prefix_mounts_the_directory_below_it(site: Path) -> None:
    async def main() -> None:
        app = App()
        app.static("/assets/", site)
        # Routed without a path parameter: the prefix comes off request.path.
        app.get("/pub/hello.txt")(StaticFiles(site, prefix="/pub"))
        async with serve(app) as server:
            port = server.port
            assert (await get(port, "/assets/hello.txt")).body == HELLO
            assert (await get(port, "/assets/docs/")).body == b"<p>docs</p>\n"
            assert (await get(port, "/assets/")).body == b"<h1>home</h1>\n"
            bare = await get(port, "/assets")
            assert (bare.status, bare.header("location")) == (301, "/assets/")
            query = await get(port, "/assets?v=2")
            assert (query.status, query.header("location")) == (301, "/assets/?v=2")
            docs = await get(port, "/assets/docs")
            assert (docs.status, docs.header("location")) == (301, "/assets/docs/")
            for target in ("/hello.txt", "/assetsx/hello.txt", "/assets/../secret.txt", "/"):
                assert (await get(port, target)).status == 404, target
            assert (await get(port, "/pub/hello.txt")).body == HELLO

    run(main)


def test_routes_win_over_the_files(site: Path) -> None:
    async def main() -> None:
        app = App()

        @app.get("/hello.txt")
        async def hello(request: object) -> str:
            return "from the route\n"

        @app.get("/api/{name}")
        async def api(request: object) -> dict[str, str]:
            return {"api": "yes"}

        app.static("/", site)

        @app.get("/style.css")  # registered after the mount: still first
        async def style(request: object) -> str:
            return "from a later route\n"

        async with serve(app) as server:
            routed = await get(server.port, "/hello.txt")
            assert routed.body == b"from the route\n"
            assert routed.header("etag") is None
            assert (await get(server.port, "/api/x")).body == b'{"api":"yes"}'
            assert (await get(server.port, "/style.css")).body == b"from a later route\n"
            assert (await get(server.port, "/app.js")).body == b"console.log(1);\n"
            assert (await get(server.port, "/")).body == b"<h1>home</h1>\n"

    run(main)
