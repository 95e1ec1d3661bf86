"""docs/http.md: its example app runs and answers as the page says."""

from __future__ import annotations

import asyncio

import aiohttp
from http_testing import python_block, run_block

from longwire.aio import Server, ServerConfig


def example_app():
    code = python_block("http.md", "# files_app.py")
    return run_block(code, "files_app.py", name="files_app")["app"]


def test_the_example_answers_as_documented():
    async def main() -> None:
        config = ServerConfig(access_log=False)
        async with Server(example_app(), port=0, config=config) as server:
            base = f"http://127.0.0.1:{server.port}"
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{base}/notes/1") as first:
                    assert first.status == 200
                    assert await first.text() == "buy milk\n"
                    etag = first.headers["ETag"]
                headers = {"If-None-Match": etag}
                async with session.get(f"{base}/notes/1", headers=headers) as cached:
                    assert cached.status == 304
                    assert await cached.read() == b""
                stale = {"If-Match": '"stale"'}
                async with session.put(f"{base}/notes/1", data="x", headers=stale) as lost:
                    assert lost.status == 412
                fresh = {"If-Match": etag}
                async with session.put(f"{base}/notes/1", data="call mum\n", headers=fresh) as put:
                    assert put.status == 204
                async with session.get(f"{base}/notes/1", headers=headers) as changed:
                    assert changed.status == 200  # the old tag no longer matches
                    assert await changed.text() == "call mum\n"
                async with session.put(f"{base}/notes/1", data="x", headers=fresh) as late:
                    assert late.status == 412  # someone changed it since that tag
                for accept, expected in [
                    ("text/html", "<p>Hello!</p>\n"),
                    ("text/plain", "Hello!\n"),
                    ("*/*", "<p>Hello!</p>\n"),
                ]:
                    async with session.get(f"{base}/greeting", headers={"Accept": accept}) as hi:
                        assert (await hi.text(), hi.headers["Vary"]) == (expected, "Accept")
                async with session.get(f"{base}/greeting", headers={"Accept": "image/png"}) as no:
                    assert no.status == 406
                ranged = {"Range": "bytes=0-8"}
                async with session.get(f"{base}/index.html", headers=ranged) as part:
                    assert part.status == 206
                    assert await part.read() == b"<!doctype"
                async with session.get(f"{base}/report") as report:
                    assert report.headers["Content-Disposition"] == (
                        'attachment; filename="report.html"'
                    )
                async with session.get(f"{base}/notes/1/", allow_redirects=False) as slash:
                    assert slash.status == 308
                    assert slash.headers["Location"] == "/notes/1"

    asyncio.run(main())
