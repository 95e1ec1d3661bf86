"""longwire's HTTP/1.1 server against curl (and a raw socket for pipelining), over loopback.

Keep-alive (two URLs, one connection), a chunked upload echoed back, HTTPS with
a private CA, and pipelined requests answered in order. curl runs as a
subprocess with a bounded ``--max-time``; ``make test`` installs curl.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from lw_peers import Certificates, run

from longwire import App, Response
from longwire.aio import Server, make_config

pytestmark = pytest.mark.interop

# `make test` installs curl (scripts/system-deps.sh): its absence is a failure, not a skip.
assert shutil.which("curl"), "curl is not installed: run scripts/system-deps.sh"

CURL_TIMEOUT = 10  # seconds, for curl's --max-time and for waiting on it


def http_app() -> App:
    app = App()

    @app.get("/")
    def index(request: Any) -> str:
        return "hello\n"

    @app.post("/upload")
    async def upload(request: Any) -> Response:
        body = await request.body()
        return Response(body, headers=[("Content-Type", "application/octet-stream")])

    @app.get("/slow/{ms:int}")
    async def slow(request: Any) -> str:
        ms = request.path_params["ms"]
        await asyncio.sleep(ms / 1000)
        return f"slept {ms}\n"

    return app


def server(certs: Certificates | None = None) -> Server:
    options: dict[str, Any] = {}
    if certs is not None:
        options.update(tls_cert=str(certs.cert_file), tls_key=str(certs.key_file))
    return Server(http_app(), port=0, config=make_config(access_log=False, **options))


async def curl(*args: str) -> tuple[int, bytes, str]:
    """(exit status, stdout, stderr) of curl with ``args``."""
    process = await asyncio.create_subprocess_exec(
        "curl",
        "--max-time",
        str(CURL_TIMEOUT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(CURL_TIMEOUT + 5):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out, err.decode("utf-8", "replace")


def test_curl_reuses_the_connection() -> None:
    async def main() -> None:
        async with server() as srv:
            url = f"http://127.0.0.1:{srv.port}/"
            status, out, err = await curl("-sv", url, url)
            assert status == 0, err
            assert out == b"hello\nhello\n"
            # curl 7.x says "Re-using existing connection #0", 8.x "Re-using
            # existing connection with host" or "Reusing existing ... connection".
            assert re.search(r"Re-?using existing .*connection", err), err
            assert err.count("Connected to") == 1, err

    run(main())


def test_curl_chunked_upload_is_echoed(tmp_path: Path) -> None:
    data = os.urandom(300 * 1024)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(data)

    async def main() -> None:
        async with server() as srv:
            url = f"http://127.0.0.1:{srv.port}/upload"
            status, out, err = await curl(
                "-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{upload}", url
            )
            assert status == 0, err
            assert out == data

    run(main())


def test_curl_https_with_cacert(tmp_path: Path) -> None:
    certs = Certificates(tmp_path)

    async def main() -> None:
        async with server(certs) as srv:
            url = f"https://127.0.0.1:{srv.port}/"
            status, out, err = await curl("-sS", "--cacert", str(certs.ca_file), url)
            assert (status, out) == (0, b"hello\n"), err
            # Without the CA, curl refuses the certificate (exit 60: peer
            # certificate cannot be authenticated).
            status, out, err = await curl("-sS", url)
            assert status == 60, err

    run(main())


def parse_responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each response in ``data`` (Content-Length bodies only)."""
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        length = int(headers[b"Content-Length"])
        responses.append((status, rest[:length]))
        data = rest[length:]
    return responses


def test_pipelined_requests_are_answered_in_order() -> None:
    async def main() -> None:
        async with server() as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            try:
                # The first handler is the slowest: its answer must still come first.
                requests = [
                    b"GET /slow/50 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                    b"GET /slow/10 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                ]
                writer.write(b"".join(requests))
                data = await reader.read()  # until the server closes, after the last
            finally:
                writer.close()
                await writer.wait_closed()
            assert parse_responses(data) == [
                (200, b"slept 50\n"),
                (200, b"hello\n"),
                (200, b"hello"),
                (200, b"slept 10\n"),
                (200, b"hello\n"),
            ]

    run(main())


def test_pipelined_requests_then_half_close_are_all_answered() -> None:
    """A client that pipelines and shuts down its sending side (``nc -N``) still
    gets every answer; only the last one says ``Connection: close``."""

    async def main() -> None:
        async with server() as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            try:
                writer.write(
                    b"GET /slow/20 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2
                )
                writer.write_eof()
                data = await reader.read()
            finally:
                writer.close()
                await writer.wait_closed()
            assert parse_responses(data) == [
                (200, b"slept 20\n"),
                (200, b"hello\n"),
                (200, b"hello\n"),
            ]
            heads = [part.partition(b"\r\n\r\n")[0] for part in data.split(b"HTTP/1.1 ")[1:]]
            assert [b"Connection: close" in head for head in heads] == [False, False, True]

    run(main())
