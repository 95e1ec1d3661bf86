"""``Compression`` over real sockets: curl and aiohttp as clients, bodies decoded here."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import zlib
from pathlib import Path

import aiohttp
import brotli
import pytest
from http_testing import base_url, curl, python_block, run, run_block, serve

from longwire.app import App, Compression, Response, StreamingResponse
from longwire.app._file_response import FileResponse

TEXT = ("The quick brown fox jumps over the lazy dog. " * 200).encode()  # 9 KB
DOC = [{"id": n, "name": f"user {n}", "tags": ["a", "b"]} for n in range(300)]

DECODE = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,  # RFC 9110 §8.4.1.2: the zlib format
    "br": brotli.decompress,
}


def text_app(**options: object) -> App:
    app = App()
    app.middleware(Compression(**options))  # type: ignore[arg-type]

    @app.get("/text")
    async def text(request):
        return Response(TEXT, content_type="text/plain; charset=utf-8")

    @app.get("/json")
    async def doc(request):
        return DOC

    return app


# Fixed bodies


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_fixed_body_is_coded_as_asked(coding: str) -> None:
    async def main() -> None:
        async with serve(text_app()) as server:
            base = base_url(server)
            reply = await curl("-H", f"Accept-Encoding: {coding}", f"{base}/text")
        assert reply.status == 200
        assert reply.header("content-encoding") == coding
        assert reply.header("vary") == "Accept-Encoding"
        assert reply.header("content-length") == str(len(reply.body))
        assert len(reply.body) < len(TEXT) // 10
        assert DECODE[coding](reply.body) == TEXT

    run(main)


def test_curl_compressed_gets_br_and_decodes_it() -> None:
    async def main() -> None:
        async with serve(text_app()) as server:
            base = base_url(server)
            reply = await curl("--compressed", f"{base}/json")
        # curl built with brotli offers "deflate, gzip, br, zstd": all at q=1,
        # so the server's order (br first) decides.
        assert reply.header("content-encoding") == "br"
        assert json.loads(reply.body) == DOC

    run(main)


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        ("gzip;q=0.5, br;q=1.0", "br"),
        ("br;q=0.2, gzip;q=0.9, deflate;q=0.5", "gzip"),
        ("br;q=0, *", "gzip"),  # * covers gzip, br refused
        ("deflate", "deflate"),
        ("x-gzip", "gzip"),
        ("identity", None),
        ("gzip;q=0, identity;q=0.5", None),
        ("compress, zstd", None),  # nothing we produce: identity
        ("", None),  # an empty field: no coding wanted
        ("GZIP", "gzip"),  # codings are case-insensitive
        ("br;q=0.001", "br"),  # any qvalue above 0 beats an unmentioned identity
        ("gzip;q=x, ,;", None),  # malformed: as if absent
        ("gzip;q=2", None),  # a qvalue above 1 is malformed too
    ],
)
def test_accept_encoding_qvalues(accept_encoding: str, coding: str | None) -> None:
    async def main() -> None:
        async with serve(text_app()) as server:
            base = base_url(server)
            reply = await curl("-H", f"Accept-Encoding: {accept_encoding}", f"{base}/text")
        assert reply.header("content-encoding") == coding
        # Coded or not, the choice depended on Accept-Encoding.
        assert reply.header("vary") == "Accept-Encoding"
        body = reply.body if coding is None else DECODE[coding](reply.body)
        assert body == TEXT

    run(main)


def test_without_accept_encoding_the_body_goes_as_is_with_vary() -> None:
    async def main() -> None:
        async with serve(text_app()) as server:
            base = base_url(server)
            reply = await curl(f"{base}/text")  # curl sends no Accept-Encoding by itself
        assert reply.header("content-encoding") is None
        assert reply.header("vary") == "Accept-Encoding"
        assert reply.body == TEXT

    run(main)


def test_codings_and_levels_are_the_servers_choice() -> None:
    async def main() -> None:
        async with serve(text_app(codings=["deflate"], level=9)) as server:
            base = base_url(server)
            reply = await curl("-H", "Accept-Encoding: br, gzip, deflate", f"{base}/text")
        assert reply.header("content-encoding") == "deflate"
        assert reply.body[:2] == b"\x78\xda"  # zlib header of level 9 ("best compression")
        assert zlib.decompress(reply.body) == TEXT

    run(main)


def test_responses_that_must_not_be_coded() -> None:
    app = App()
    app.middleware(Compression())
    png = os.urandom(4096)
    noise = os.urandom(8192)

    @app.get("/small")
    async def small(request):
        return "short text"

    @app.get("/png")
    async def image(request):
        return Response(png, content_type="image/png")

    @app.get("/coded")
    async def coded(request):
        fields = [("Content-Encoding", "gzip")]
        return Response(gzip.compress(TEXT), headers=fields, content_type="text/plain")

    @app.get("/no-transform")
    async def no_transform(request):
        fields = [("Cache-Control", "public, no-transform")]
        return Response(TEXT, headers=fields, content_type="text/plain")

    @app.get("/random-text")
    async def random_text(request):  # labelled text, but incompressible
        return Response(noise, content_type="text/plain")

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            replies = {
                path: await curl("-H", "Accept-Encoding: gzip, br", f"{base}{path}")
                for path in ("/small", "/png", "/coded", "/no-transform", "/random-text")
            }
        for path, reply in replies.items():
            assert reply.status == 200, path
            if path != "/coded":
                assert reply.header("content-encoding") is None, path
        assert replies["/small"].body == b"short text"
        assert replies["/png"].body == png
        assert replies["/coded"].header("content-encoding") == "gzip"
        assert gzip.decompress(replies["/coded"].body) == TEXT  # not coded twice
        assert replies["/no-transform"].body == TEXT
        assert replies["/random-text"].body == noise
        # No Vary where Accept-Encoding played no part...
        for path in ("/small", "/png", "/coded", "/no-transform"):
            assert replies[path].header("vary") is None, path
        # ...but it did for the random text: a shorter coding would have been used.
        assert replies["/random-text"].header("vary") == "Accept-Encoding"

    run(main)


def test_head_gets_vary_and_the_identity_length() -> None:
    async def main() -> None:
        async with serve(text_app()) as server:
            base = base_url(server)
            reply = await curl("-I", "-H", "Accept-Encoding: gzip", f"{base}/text")
        assert reply.status == 200
        assert reply.header("content-encoding") is None
        assert reply.header("vary") == "Accept-Encoding"
        assert reply.header("content-length") == str(len(TEXT))

    run(main)


def test_strong_etag_is_weakened_and_still_revalidates() -> None:
    app = App()
    app.middleware(Compression())

    @app.get("/tagged")
    async def tagged(request):
        return Response(TEXT, headers=[("ETag", '"v1"')], content_type="text/plain")

    async def main() -> None:
        async with serve(app) as server, aiohttp.ClientSession() as session:
            base = base_url(server)
            async with session.get(f"{base}/tagged", headers={"Accept-Encoding": "gzip"}) as r:
                assert r.headers["Content-Encoding"] == "gzip"
                etag = r.headers["ETag"]
                assert await r.read() == TEXT  # aiohttp decodes by itself
            assert etag == 'W/"v1"'
            headers = {"Accept-Encoding": "gzip", "If-None-Match": etag}
            async with session.get(f"{base}/tagged", headers=headers) as r:
                assert r.status == 304
                assert "Content-Encoding" not in r.headers
                assert await r.read() == b""

    run(main)


def test_a_reused_response_object_is_never_coded_twice() -> None:
    app = App()
    app.middleware(Compression())
    shared = Response(TEXT, content_type="text/plain")

    @app.get("/shared")
    async def handler(request):
        return shared

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            first = await curl("-H", "Accept-Encoding: gzip", f"{base}/shared")
            plain = await curl(f"{base}/shared")
            again = await curl("-H", "Accept-Encoding: br", f"{base}/shared")
        assert gzip.decompress(first.body) == TEXT
        assert plain.header("content-encoding") is None
        assert plain.body == TEXT
        assert brotli.decompress(again.body) == TEXT
        assert shared.body == TEXT
        assert "content-encoding" not in shared.headers

    run(main)


def test_offloaded_bodies_and_chunks_are_coded_the_same() -> None:
    app = text_app(offload_size=0)  # everything goes through a worker thread

    @app.get("/stream")
    async def stream(request):
        return StreamingResponse([TEXT[:4000], TEXT[4000:]], content_type="text/plain")

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            fixed = await curl("-H", "Accept-Encoding: gzip", f"{base}/text")
            streamed = await curl("-H", "Accept-Encoding: gzip", f"{base}/stream")
        assert gzip.decompress(fixed.body) == TEXT
        assert streamed.header("content-encoding") == "gzip"
        assert gzip.decompress(streamed.body) == TEXT

    run(main)


# Streamed bodies


def sse_app(step: asyncio.Event, sent: list[str], *, length: int | None = None) -> App:
    """/events: one event, then waits for ``step`` (the client decoded it), then another."""
    app = App()
    app.middleware(Compression())
    first, second = "data: first\n\n" * 50, "data: second\n\n" * 50

    @app.get("/events")
    async def events(request):
        async def chunks():
            sent.append("first")
            yield first
            await asyncio.wait_for(step.wait(), 5)
            sent.append("second")
            yield second

        fields = [] if length is None else [("Content-Length", str(length))]
        return StreamingResponse(chunks(), headers=fields, content_type="text/event-stream")

    return app


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_stream_is_coded_chunk_by_chunk(coding: str) -> None:
    """The first event decodes before the second exists: nothing is held back."""
    step = asyncio.Event()
    sent: list[str] = []
    body_length = len("data: first\n\n" * 50 + "data: second\n\n" * 50)

    async def main() -> None:
        app = sse_app(step, sent, length=body_length)
        async with serve(app) as server, aiohttp.ClientSession(auto_decompress=False) as session:
            base = base_url(server)
            headers = {"Accept-Encoding": coding}
            async with session.get(f"{base}/events", headers=headers) as response:
                assert response.headers["Content-Encoding"] == coding
                # The stream's Content-Length counted the identity bytes.
                assert "Content-Length" not in response.headers
                assert response.headers["Transfer-Encoding"] == "chunked"
                inflater = zlib.decompressobj(31 if coding == "gzip" else 15)
                decoded = b""
                async for piece in response.content.iter_any():
                    decoded += inflater.decompress(piece)
                    if not step.is_set() and decoded.endswith(b"data: first\n\n" * 50):
                        assert sent == ["first"]  # decoded before the second was made
                        step.set()
                decoded += inflater.flush()
        assert inflater.eof
        assert decoded == b"data: first\n\n" * 50 + b"data: second\n\n" * 50
        assert sent == ["first", "second"]

    run(main)


def test_curl_reads_a_coded_event_stream_as_it_comes() -> None:
    step = asyncio.Event()
    sent: list[str] = []

    async def main() -> None:
        async with serve(sse_app(step, sent)) as server:
            base = base_url(server)
            process = await asyncio.create_subprocess_exec(
                "curl", "-sSN", "--max-time", "10", "--compressed", f"{base}/events",
                stdout=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None
            seen = b""
            while not seen.endswith(b"data: first\n\n" * 50):
                seen += await asyncio.wait_for(process.stdout.read(4096), 5)
            assert sent == ["first"]
            step.set()
            seen += await process.stdout.read()
            assert await process.wait() == 0
        assert seen == b"data: first\n\n" * 50 + b"data: second\n\n" * 50

    run(main)


def test_streams_are_not_coded_with_brotli_by_default() -> None:
    step = asyncio.Event()
    step.set()

    async def main() -> None:
        async with serve(sse_app(step, [])) as server:
            base = base_url(server)
            reply = await curl("-H", "Accept-Encoding: br, gzip;q=0.5", f"{base}/events")
        assert reply.header("content-encoding") == "gzip"

    run(main)


def test_a_client_leaving_a_coded_stream_closes_the_source() -> None:
    closed = asyncio.Event()
    app = App()
    app.middleware(Compression())

    @app.get("/forever")
    async def forever(request):
        async def chunks():
            try:
                while True:
                    yield "data: tick\n\n" * 10
                    await asyncio.sleep(0.01)
            finally:
                closed.set()

        return StreamingResponse(chunks(), content_type="text/event-stream")

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            async with aiohttp.ClientSession() as session, session.get(f"{base}/forever") as r:
                assert r.headers["Content-Encoding"] == "gzip"
                assert (await r.content.readline()).startswith(b"data: tick")
            await asyncio.wait_for(closed.wait(), 5)

    run(main)


# FileResponse: sent by the server with sendfile, unless coded


def test_file_response_is_streamed_coded_not_sent_raw(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"<p>" + TEXT + b"</p>\n")
    app = App()
    app.middleware(Compression())

    @app.get("/page.html")
    async def serve_page(request):
        return FileResponse(page)

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            coded = await curl("-H", "Accept-Encoding: gzip", f"{base}/page.html")
            plain = await curl(f"{base}/page.html")
            ranged = await curl("-H", "Accept-Encoding: gzip", "-r", "3-12", f"{base}/page.html")
        assert coded.header("content-encoding") == "gzip"
        assert coded.header("content-length") is None
        assert coded.header("accept-ranges") is None
        assert coded.header("etag").startswith('W/"')
        assert gzip.decompress(coded.body) == page.read_bytes()
        # Uncoded: the file as is, its length announced (sendfile where possible).
        assert plain.header("content-length") == str(page.stat().st_size)
        assert plain.body == page.read_bytes()
        # A range is of the identity body: never coded.
        assert ranged.status == 206
        assert ranged.header("content-encoding") is None
        assert ranged.body == TEXT[:10]

    run(main)


# Construction


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        Compression(level=10)
    with pytest.raises(ValueError, match="brotli_quality"):
        Compression(brotli_quality=12)
    with pytest.raises(ValueError, match="compress"):
        Compression(codings=["gzip", "compress"])
    with pytest.raises(TypeError, match="str"):
        Compression(codings="gzip")
    with pytest.raises(ValueError, match="minimum_size"):
        Compression(minimum_size=-1)


# docs/compression.md


def test_docs_example_compresses_json_and_streams_events() -> None:
    code = python_block("compression.md", "# compression_app.py")
    app = run_block(code, "compression_app.py")["app"]
    assert isinstance(app, App)

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            users = await curl("--compressed", f"{base}/users")
            ticks = await curl("-H", "Accept-Encoding: gzip", f"{base}/ticks")
        assert users.header("content-encoding") == "br"
        assert len(json.loads(users.body)) == 200
        assert ticks.header("content-encoding") == "gzip"
        assert gzip.decompress(ticks.body).count(b"data: tick") == 3

    run(main)
