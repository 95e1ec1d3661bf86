"""Range requests (RFC 9110 §14) and the ways a file body is sent, over real sockets.

Ranges: single, suffix, open-ended, several (``multipart/byteranges``, parsed
here byte by byte), unsatisfiable, invalid, ``If-Range``, HEAD; curl's
``-r`` and ``-C -`` (resume) as a client.

Sending: the same big file (random bytes) and ranges of it through each path
the server has: ``loop.sendfile`` on the default event loop, the streamed
fallback on uvloop (whose ``sendfile`` is not implemented) and on TLS, and the
inline read of a small file. A client that leaves mid-download, and a file
that shrinks or grows after the head is decided, on each path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import uvloop
from http_testing import (
    OLD_HTTP_DATE,
    Certificates,
    content_range,
    curl,
    exchange,
    fetch,
    get,
    open_raw,
    parse_byteranges,
    read_response,
    read_to_eof,
    request,
    run,
    serve,
    url,
    watch_sendfile,
    write,
)

from longwire.aio import _http_server
from longwire.aio._http_server import SMALL_FILE
from longwire.app import App, Request
from longwire.app._file_response import FileResponse

DATA = os.urandom(5 * 1024 * 1024)
LENGTH = len(DATA)
SMALL = os.urandom(10_000)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write(tmp_path / "big.bin", DATA)
    write(tmp_path / "small.bin", SMALL)
    write(tmp_path / "edge.bin", DATA[:SMALL_FILE])
    write(tmp_path / "over.bin", DATA[: SMALL_FILE + 1])
    return tmp_path


def static_app(root: Path) -> App:
    app = App()
    app.static("/", root)
    return app


def check_partial(status: int, headers: dict[str, str], body: bytes, data: bytes) -> list[bytes]:
    """Check a 206 against ``data``; the bytes of its ranges, in order."""
    assert status == 206
    assert headers["content-length"] == str(len(body))
    kind = headers.get("content-type", "")
    if kind.startswith("multipart/byteranges"):
        assert "content-range" not in headers
        parts = parse_byteranges(kind, body)
        assert len(parts) >= 2
        for part in parts:
            assert part.length == len(data)
            assert part.headers["content-type"] == "application/octet-stream"
            assert part.data == data[part.first : part.last + 1]
        return [part.data for part in parts]
    first, last, length = content_range(headers.get("content-range"))
    assert length == len(data)
    assert body == data[first : last + 1]
    return [body]


# Ranges


def test_one_range(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            address = url(server, "/big.bin")
            for spec, expected, first in [
                ("100-199", DATA[100:200], 100),
                ("-500", DATA[-500:], LENGTH - 500),  # suffix: the last 500 bytes
                ("1000-", DATA[1000:], 1000),  # open-ended: sent with sendfile
                ("0-0", DATA[:1], 0),
                ("0-", DATA, 0),
                (f"{LENGTH - 10}-{LENGTH * 2}", DATA[-10:], LENGTH - 10),  # clipped
                ("-99999999", DATA, 0),  # a suffix longer than the file: all of it
            ]:
                reply = await curl("-r", spec, address)
                assert reply.status == 206, spec
                last = first + len(expected) - 1
                assert reply.header("content-range") == f"bytes {first}-{last}/{LENGTH}"
                assert reply.header("content-length") == str(len(expected))
                assert reply.header("content-type") == "application/octet-stream"
                assert reply.header("etag") is not None
                assert reply.body == expected, spec

            raw = await get(server.port, "/big.bin", ("Range", "bytes=100-199"))
            assert (raw.status, raw.body) == (206, DATA[100:200])

    run(main)


def test_several_ranges_are_multipart_byteranges(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            address = url(server, "/big.bin")
            for spec, expected in [
                ("0-99,1000-1999,-100", [(0, 99), (1000, 1999), (LENGTH - 100, LENGTH - 1)]),
                # Asked out of order: sent in the order asked.
                ("-100,0-99", [(LENGTH - 100, LENGTH - 1), (0, 99)]),
                # Big parts, each through sendfile between the part heads.
                (
                    "0-99999,1000000-2999999,5000000-",
                    [(0, 99999), (1000000, 2999999), (5000000, LENGTH - 1)],
                ),
            ]:
                reply = await curl("-r", spec, address)
                headers = dict(reply.headers)
                assert "content-range" not in headers
                parts = parse_byteranges(reply.header("content-type"), reply.body)
                assert [(part.first, part.last) for part in parts] == expected, spec
                check_partial(reply.status, headers, reply.body, DATA)

            # Overlapping or nearly touching ranges are merged: one range, no multipart.
            merged = await curl("-r", "0-99,50-149,160-199", address)
            assert merged.header("content-range") == f"bytes 0-199/{LENGTH}"
            assert merged.body == DATA[:200]

            # The same with aiohttp; and a small file, whose parts are read inline.
            async with aiohttp.ClientSession() as session:
                for path, data in (("/big.bin", DATA), ("/small.bin", SMALL)):
                    headers_out = {"Range": "bytes=1-2,500-599,-3"}
                    async with session.get(url(server, path), headers=headers_out) as response:
                        body = await response.read()
                        received = {k.lower(): v for k, v in response.headers.items()}
                        chunks = check_partial(response.status, received, body, data)
                        assert chunks == [data[1:3], data[500:600], data[-3:]]

    run(main)


def test_unsatisfiable_range_is_416(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            for spec in (
                f"bytes={LENGTH}-",
                "bytes=99999999-",
                "bytes=-0",
                f"bytes={LENGTH}-{LENGTH + 5},-0",
            ):
                response = await get(server.port, "/big.bin", ("Range", spec))
                assert response.status == 416, spec
                assert response.header("content-range") == f"bytes */{LENGTH}"
                assert response.body == b"Requested Range Not Satisfiable\n"
            # One satisfiable range among others is enough.
            some = await get(server.port, "/big.bin", ("Range", "bytes=0-9,99999999-"))
            assert (some.status, some.body) == (206, DATA[:10])
            assert some.header("content-range") == f"bytes 0-9/{LENGTH}"

    run(main)


def test_an_invalid_range_is_ignored(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            for spec in (
                "bytes=abc",
                "items=0-5",
                "bytes=5-1",  # last before first
                "bytes 0-5",
                "bytes=",
                "bytes=" + ",".join(f"{n * 200}-{n * 200 + 9}" for n in range(17)),  # > 16
            ):
                response = await get(server.port, "/small.bin", ("Range", spec))
                assert response.status == 200, spec
                assert response.header("content-range") is None
                assert response.body == SMALL
            # Range is not a list: two field lines make it invalid.
            two = await get(
                server.port, "/small.bin", ("Range", "bytes=0-1"), ("Range", "bytes=2-3")
            )
            assert (two.status, two.body) == (200, SMALL)

    run(main)


def test_if_range(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            address = url(server, "/big.bin")
            etag = (await get(server.port, "/small.bin")).header("etag")
            big_etag = (
                await exchange(server.port, request("HEAD", "/big.bin"), head_only=True)
            ).header("etag")
            assert etag
            assert big_etag
            for if_range, status in [
                (big_etag, 206),
                (etag, 200),  # another file's tag: the file changed
                ('"nope"', 200),
                (f"W/{big_etag}", 200),  # §13.1.5: a weak tag never matches
                (OLD_HTTP_DATE, 206),  # exactly Last-Modified, which is strong (old)
                ("Sun, 13 Sep 2020 12:26:41 GMT", 200),
                ("not a date", 200),
            ]:
                reply = await curl("-r", "100-199", "-H", f"If-Range: {if_range}", address)
                assert reply.status == status, if_range
                assert reply.body == (DATA[100:200] if status == 206 else DATA)
                assert (reply.header("content-range") is None) == (status == 200)
            # Without a Range, If-Range is ignored.
            plain = await get(server.port, "/small.bin", ("If-Range", '"nope"'))
            assert (plain.status, plain.body) == (200, SMALL)

    run(main)


def test_range_on_head_is_ignored(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server, open_raw(server.port) as (reader, writer):
            for path, data in (("/big.bin", DATA), ("/small.bin", SMALL)):
                writer.write(
                    request("HEAD", path, [("Range", "bytes=0-9")])
                    + request("GET", path, [("Range", "bytes=0-9")])
                )
                head = await read_response(reader, head_only=True)
                assert head.status == 200
                assert head.header("content-length") == str(len(data))
                assert head.header("content-range") is None
                ranged = await read_response(reader)  # right after the head: no body
                assert (ranged.status, ranged.body) == (206, data[:10])

    run(main)


def test_curl_resumes_a_download(site: Path, tmp_path: Path) -> None:
    data = os.urandom(8 * 1024 * 1024)
    write(site / "large.bin", data)
    partial = tmp_path / "download.bin"
    partial.write_bytes(data[: 3 * 1024 * 1024 + 17])

    async def main() -> None:
        async with serve(static_app(site)) as server:
            reply = await curl("-C", "-", url(server, "/large.bin"), output=partial)
            assert reply.status == 206
            first = 3 * 1024 * 1024 + 17
            assert reply.header("content-range") == f"bytes {first}-{len(data) - 1}/{len(data)}"
            assert partial.read_bytes() == data

    run(main)


# How the body is sent


def _served_correctly_checks(
    server_port: int, ssl_context: ssl.SSLContext | None
) -> Callable[[], Awaitable[None]]:
    """Fetch the big file, ranges of it and small files; compare every byte."""

    async def check() -> None:
        async with open_raw(server_port, ssl_context=ssl_context) as (reader, writer):
            for target, fields, status, expected in [
                # Several big parts first: on uvloop the fallback starts mid-body.
                ("/big.bin", [("Range", "bytes=0-99999,1000000-2999999,-70000")], 206, None),
                ("/big.bin", [], 200, DATA),
                ("/big.bin", [("Range", "bytes=100000-3999999")], 206, DATA[100000:4000000]),
                ("/big.bin", [("Range", "bytes=100-199")], 206, DATA[100:200]),
                ("/small.bin", [], 200, SMALL),
                ("/edge.bin", [], 200, DATA[:SMALL_FILE]),
                ("/over.bin", [], 200, DATA[: SMALL_FILE + 1]),
            ]:
                writer.write(request("GET", target, fields))
                response = await read_response(reader)
                assert response.status == status, (target, fields)
                assert response.header("content-length") == str(len(response.body))
                if expected is None:
                    headers = dict(response.headers)
                    chunks = check_partial(response.status, headers, response.body, DATA)
                    assert chunks == [DATA[:100000], DATA[1000000:3000000], DATA[-70000:]]
                else:
                    assert response.body == expected, (target, fields)

    return check


def test_sendfile_on_the_default_loop(site: Path) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with serve(static_app(site)) as server:
            with watch_sendfile(loop) as calls:
                await _served_correctly_checks(server.port, None)()
            assert all(call.error is None for call in calls), calls
            assert type(loop) not in _http_server._NO_SENDFILE
            # One call per big section, each sending all it was asked; files and
            # ranges up to SMALL_FILE are read with the head instead.
            assert [(call.offset, call.count, call.result) for call in calls] == [
                (0, 100000, 100000),
                (1000000, 2000000, 2000000),
                (LENGTH - 70000, 70000, 70000),
                (0, LENGTH, LENGTH),
                (100000, 3900000, 3900000),
                (0, SMALL_FILE + 1, SMALL_FILE + 1),
            ]
            # Pipelined: the requests behind one sent with sendfile wait their turn.
            async with open_raw(server.port) as (reader, writer):
                writer.write(
                    request("GET", "/big.bin")
                    + request("GET", "/big.bin", [("Range", "bytes=-300000")])
                    + request("HEAD", "/big.bin")
                    + request("GET", "/small.bin")
                )
                assert (await read_response(reader)).body == DATA
                assert (await read_response(reader)).body == DATA[-300000:]
                head = await read_response(reader, head_only=True)
                assert head.header("content-length") == str(LENGTH)
                assert (await read_response(reader)).body == SMALL
            # The same with aiohttp as the client.
            with watch_sendfile(loop) as calls:
                reply = await fetch("GET", url(server, "/big.bin"))
                assert reply.body == DATA
            assert len(calls) == 1

    run(main)


def test_uvloop_streams_the_file(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh set: the first file response finds out that uvloop has no sendfile.
    monkeypatch.setattr(_http_server, "_NO_SENDFILE", set())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, uvloop.Loop)
        async with serve(static_app(site)) as server:
            with watch_sendfile(loop) as calls:
                await _served_correctly_checks(server.port, None)()
            # Asked once, refused (NotImplementedError), never asked again.
            assert len(calls) == 1
            assert isinstance(calls[0].error, NotImplementedError)
            assert type(loop) in _http_server._NO_SENDFILE
            reply = await fetch("GET", url(server, "/big.bin"))
            assert reply.body == DATA

    run(main, loop_factory=uvloop.new_event_loop)


def test_tls_streams_the_file(site: Path) -> None:
    certificates = Certificates()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        client = certificates.client_context()
        async with serve(static_app(site), ssl=certificates.server_context()) as server:
            with watch_sendfile(loop) as calls:
                await _served_correctly_checks(server.port, client)()
                async with aiohttp.ClientSession() as session:
                    headers = {"Range": "bytes=5-9"}
                    async with session.get(url(server, "/big.bin"), ssl=client) as response:
                        assert await response.read() == DATA
                    async with session.get(
                        url(server, "/big.bin"), ssl=client, headers=headers
                    ) as response:
                        assert (response.status, await response.read()) == (206, DATA[5:10])
            assert calls == []  # sendfile would bypass the encryption
            with certificates.ca_file() as ca:
                reply = await curl("--cacert", ca, "-r", "-1000", url(server, "/big.bin"))
            assert (reply.status, reply.body) == (206, DATA[-1000:])

    run(main)


# When things go wrong while sending

BACKENDS = ["sendfile", "uvloop", "tls"]


def backend_run(
    kind: str, main: Callable[[dict[str, object], ssl.SSLContext | None], Awaitable[None]]
) -> None:
    """Run ``main(server options, client TLS context)`` on the event loop ``kind`` needs."""
    options: dict[str, object] = {}
    client = None
    if kind == "tls":
        certificates = Certificates()
        options["ssl"] = certificates.server_context()
        client = certificates.client_context()

    async def call() -> None:
        await main(options, client)

    run(call, loop_factory=uvloop.new_event_loop if kind == "uvloop" else None)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_client_leaving_mid_download_is_no_error(
    site: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    write(site / "large.bin", DATA + DATA)  # 10 MiB: more than the socket buffers hold

    async def main(options: dict[str, object], client: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        async with serve(static_app(site), **options) as server:
            with watch_sendfile(loop) as calls:
                async with open_raw(server.port, ssl_context=client, rcvbuf=16384) as (
                    reader,
                    writer,
                ):
                    writer.write(request("GET", "/large.bin"))
                    head = await reader.readuntil(b"\r\n\r\n")
                    assert head.startswith(b"HTTP/1.1 200 ")
                    assert await reader.readexactly(200_000) == DATA[:200_000]
                    writer.transport.abort()  # a reset, in the middle of the body
                async with asyncio.timeout(5):
                    while server.connections:
                        await asyncio.sleep(0.01)
            if kind == "sendfile":
                # It left while sendfile was sending.
                assert len(calls) == 1
                assert isinstance(calls[0].error, OSError), calls
            # The server carries on.
            response = await exchange(server.port, request("GET", "/big.bin"), ssl_context=client)
            assert response.body == DATA

    with caplog.at_level(logging.DEBUG):
        backend_run(kind, main)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]


def changing_app(path: Path, change: Callable[[Path], None]) -> App:
    """An app: /file answers with ``path``, which ``change`` alters once the response is made."""
    app = App()

    @app.get("/file")
    async def file(request: Request) -> FileResponse:
        response = FileResponse(path)
        change(path)
        return response

    @app.get("/ok")
    async def ok(request: Request) -> str:
        return "ok\n"

    return app


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_file_that_shrinks_after_the_head_drops_the_connection(
    site: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(site / "shrinking.bin", DATA)

    def shrink(file: Path) -> None:
        os.truncate(file, LENGTH // 2)

    async def main(options: dict[str, object], client: ssl.SSLContext | None) -> None:
        async with (
            serve(changing_app(path, shrink), **options) as server,
            open_raw(server.port, ssl_context=client) as (reader, writer),
        ):
            writer.write(request("GET", "/file"))
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            assert head.header("content-length") == str(LENGTH)  # as it was
            async with asyncio.timeout(5):  # dropped, not left hanging
                body = await read_to_eof(reader)
            assert len(body) < LENGTH
            assert body == DATA[: len(body)]
            # The next client is served.
            ok = await exchange(server.port, request("GET", "/ok"), ssl_context=client)
            assert ok.body == b"ok\n"

    with caplog.at_level(logging.ERROR):
        backend_run(kind, main)
    logged = " ".join(
        record.getMessage() + str(record.exc_info and record.exc_info[1])
        for record in caplog.records
    )
    assert "shrank" in logged or "ended short" in logged, logged


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_file_that_grows_after_the_head_is_cut_at_its_length(site: Path, kind: str) -> None:
    path = write(site / "growing.bin", DATA)

    def grow(file: Path) -> None:
        with open(file, "ab") as out:
            out.write(b"more bytes that were not announced")

    async def main(options: dict[str, object], client: ssl.SSLContext | None) -> None:
        async with (
            serve(changing_app(path, grow), **options) as server,
            open_raw(server.port, ssl_context=client) as (reader, writer),
        ):
            writer.write(request("GET", "/file") + request("GET", "/ok"))
            response = await read_response(reader)
            assert (response.status, response.body) == (200, DATA)
            # The connection is still in step: the next response follows.
            after = await read_response(reader)
            assert after.body == b"ok\n"

    backend_run(kind, main)


def test_a_small_file_that_shrinks_before_its_head_is_sent_is_500(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(site / "tiny.bin", SMALL)

    async def main() -> None:
        app = changing_app(path, lambda file: os.truncate(file, 10))
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/file") + request("GET", "/ok"))
            response = await read_response(reader)
            assert response.status == 500
            assert SMALL[:10] not in response.body
            assert (await read_response(reader)).body == b"ok\n"

    with caplog.at_level(logging.ERROR):
        run(main)
    assert any("tiny.bin" in record.getMessage() for record in caplog.records)
