"""Request bodies over real sockets: forms, uploads, JSON, text, Content-Encoding, limits.

The server runs in the test's event loop on 127.0.0.1; the clients are curl and
aiohttp, so the bytes on the wire are what real clients send.
"""

import ast
import asyncio
import gzip
import hashlib
import json
import os
import re
import zlib
from pathlib import Path

import aiohttp
import brotli
import pytest
from http_testing import base_url, curl, make_request, post, run, serve

from longwire import App, Response
from longwire.app import HTTPError
from longwire.app._coding import (
    MAX_DECODED_SIZE,
    DecodedContentTooLarge,
    UnsupportedContentCoding,
    supported_codings,
)
from longwire.app._forms import FormError, FormTooLargeError, UnsupportedFormTypeError
from longwire.app._multipart import DEFAULT_SPOOL_THRESHOLD, FormLimits, UploadFile
from longwire.http1 import Limits

DOCS = Path(__file__).resolve().parents[2] / "docs" / "requests.md"


def describe(value: object) -> object:
    """A form value as JSON: a str as is, an upload as its attributes and content."""
    if not isinstance(value, UploadFile):
        return value
    data = value.read()
    value.seek(0)
    return {
        "filename": value.filename,
        "safe_filename": value.safe_filename,
        "content_type": value.content_type,
        "size": value.size,
        "in_memory": value.in_memory,
        "data": data.decode("latin-1"),
    }


def make_app(limits: FormLimits | None = None, spool_threshold: int = 1024 * 1024) -> App:
    app = App()

    @app.post("/form")
    async def form(request):
        try:
            fields = await request.form(limits=limits, spool_threshold=spool_threshold)
        except FormTooLargeError as exc:  # tell the test which limit tripped
            return Response.text(f"{exc.limit}: {exc.detail}", exc.status)
        return {name: [describe(value) for value in fields.getall(name)] for name in fields}

    @app.post("/json")
    async def json_body(request):
        return {"got": await request.json()}

    @app.post("/text")
    async def text(request):
        return await request.text()

    @app.post("/raw")
    async def raw(request):
        body = await request.body()
        return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}

    return app


def digest(data: bytes) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# application/x-www-form-urlencoded


def test_urlencoded_form_from_curl():
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await curl(
                "--data-urlencode", "name=Ada Lovelace",
                "--data-urlencode", "q=café & co=1",
                "-d", "sub[]=1&sub[]=2&empty=",
                f"{base}/form",
            )
        assert answer.status == 200
        assert json.loads(answer.body) == {
            "name": ["Ada Lovelace"],
            "q": ["café & co=1"],
            "sub": ["1", "2"],  # sub[] kept as a list under "sub"
            "empty": [""],
        }

    run(main, timeout=10)


def test_urlencoded_form_from_aiohttp():
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await post(f"{base}/form", data={"a": "1", "b": "x+y z/é"})
        assert answer.status == 200
        assert json.loads(answer.body) == {"a": ["1"], "b": ["x+y z/é"]}

    run(main, timeout=10)


def test_urlencoded_form_is_parsed_as_it_arrives():
    # The field limit trips on the first chunk: later chunks are never read.
    chunks = [b"a=1&b=2&c=3&", b"d=4", b"&e=5"]
    request = make_request("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")],
                           chunks)
    receive = request._receive
    with pytest.raises(FormTooLargeError) as info:
        asyncio.run(request.form(limits=FormLimits(max_fields=2)))
    assert (info.value.status, info.value.limit) == (413, "max_fields")
    assert receive.chunks == [b"d=4", b"&e=5", b""]

    request = make_request("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")],
                           [b"na", b"me=a%20", b"b&x=", b"1"])
    form = asyncio.run(request.form())
    assert form.items() == [("name", "a b"), ("x", "1")]


# multipart/form-data


def test_multipart_upload_from_curl(tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n--not-a-boundary\r\n")

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await curl(
                "-F", "title=Résumé",
                "-F", f"doc=@{path};type=text/csv;filename=../../etc/passwd",
                "-F", "tags[]=x", "-F", "tags[]=y",
                f"{base}/form",
            )
        assert answer.status == 200, answer.text
        assert json.loads(answer.body) == {
            "title": ["Résumé"],
            "doc": [
                {
                    "filename": "../../etc/passwd",  # as sent
                    "safe_filename": "passwd",  # what to use on a disk
                    "content_type": "text/csv",
                    "size": 28,
                    "in_memory": True,
                    "data": "a,b\r\n1,2\r\n--not-a-boundary\r\n",
                }
            ],
            "tags": ["x", "y"],
        }

    run(main, timeout=10)


def test_multipart_upload_from_aiohttp_spools_big_files_to_disk():
    big = os.urandom(300 * 1024)

    async def main():
        data = aiohttp.FormData()
        data.add_field("files", b"small one", filename="a.txt", content_type="text/plain")
        data.add_field("files", big, filename="b.bin", content_type="application/octet-stream")
        data.add_field("note", "ünïcode")
        async with serve(make_app(spool_threshold=64 * 1024)) as server:
            base = base_url(server)
            answer = await post(f"{base}/form", data=data)
        assert answer.status == 200, answer.text
        form = json.loads(answer.body)
        small, large = form["files"]
        assert (small["filename"], small["data"]) == ("a.txt", "small one")
        assert small["in_memory"]
        assert (large["filename"], large["size"]) == ("b.bin", len(big))
        assert not large["in_memory"]
        assert large["data"].encode("latin-1") == big
        assert form["note"] == ["ünïcode"]

    run(main, timeout=10)


def test_form_is_parsed_once_and_cached():
    body = b"--b\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\nabc\r\n--b--\r\n"
    request = make_request("POST", "/", [("Content-Type", "multipart/form-data; boundary=b")],
                           [body[:7], body[7:30], body[30:]])

    async def main():
        form = await request.form()
        assert await request.form(limits=FormLimits(max_size=1)) is form
        upload = form["f"]
        assert isinstance(upload, UploadFile)
        assert upload.read() == b"abc"
        with pytest.raises(RuntimeError, match="already consumed"):
            await request.body()
        request.close()
        assert upload.closed
        request.close()  # twice is fine

    asyncio.run(main())


def test_close_without_a_form_or_with_an_urlencoded_one_does_nothing():
    request = make_request("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")],
                           b"a=1")
    request.close()
    assert asyncio.run(request.form()).to_dict() == {"a": "1"}
    request.close()


def test_uploaded_files_are_closed_once_the_request_is_done():
    files = []

    app = App()

    @app.post("/upload")
    async def upload(request):
        form = await request.form(spool_threshold=0)  # on disk at once
        upload = form["file"]
        files.append(upload)  # kept alive: only the server's close() can close it
        assert not upload.file.closed
        return str(upload.size)

    async def main():
        data = aiohttp.FormData()
        data.add_field("file", b"x" * 1000, filename="x.bin")
        async with serve(app) as server:
            base = base_url(server)
            answer = await post(f"{base}/upload", data=data)
        assert (answer.status, answer.text) == (200, "1000")
        [upload] = files
        assert upload.closed
        assert upload.file.closed

    run(main, timeout=10)


def test_a_failed_upload_closes_the_files_it_started():
    part = b"--b\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n" + b"x" * 5000

    class Disconnect:
        def __init__(self):
            self.chunks = [part]

        async def __call__(self):
            if self.chunks:
                return self.chunks.pop()
            raise ConnectionResetError("client gone")

    request = make_request("POST", "/", [("Content-Type", "multipart/form-data; boundary=b")])
    request._receive = Disconnect()
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(ConnectionResetError):
        asyncio.run(request.form(spool_threshold=0))  # the temporary file was on disk
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_256_mib_upload_keeps_server_memory_flat(tmp_path):
    size = 256 * 1024 * 1024
    path = tmp_path / "big.bin"
    with path.open("wb") as file:  # sparse: instant, no disk used; a few marks inside
        file.truncate(size)
        for offset in (0, 12345, size // 2, size - 4):
            file.seek(offset)
            file.write(b"mark")
    expected = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            expected.update(chunk)

    app = App()

    @app.post("/upload")
    async def upload(request):
        form = await request.form(limits=FormLimits(max_size=None), temp_dir=str(tmp_path))
        upload = form["file"]
        sha = hashlib.sha256()
        while chunk := upload.read(1 << 20):
            sha.update(chunk)
        return {"size": upload.size, "in_memory": upload.in_memory, "sha256": sha.hexdigest()}

    def peak_rss() -> int:
        with open("/proc/self/status") as status:
            [line] = [line for line in status if line.startswith("VmHWM:")]
        return int(line.split()[1]) * 1024

    async def main():
        async with serve(app, http_limits=Limits(max_body_size=None)) as server:
            base = base_url(server)
            try:  # reset the peak RSS to the current RSS (Linux 4.0+)
                with open("/proc/self/clear_refs", "w") as clear_refs:
                    clear_refs.write("5")
            except OSError as exc:
                pytest.skip(f"cannot reset the peak RSS: {exc}")
            start = peak_rss()
            answer = await curl("-F", f"file=@{path}", f"{base}/upload", timeout=30)
            growth = peak_rss() - start
        assert answer.status == 200, answer.text
        assert json.loads(answer.body) == {
            "size": size, "in_memory": False, "sha256": expected.hexdigest(),
        }
        assert growth < 32 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.0f} MiB"

    run(main, timeout=30)


# Content-Encoding


def make_coded(data: bytes, coding: str) -> bytes:
    for element in coding.split(","):
        name = element.strip()
        if name in ("gzip", "x-gzip"):
            data = gzip.compress(data)
        elif name == "deflate":
            data = zlib.compress(data)
        elif name == "br":
            data = brotli.compress(data, quality=5)
    return data


@pytest.mark.parametrize(
    "coding", ["gzip", "x-gzip", "GZIP", "deflate", "br", "gzip, br", "identity", "identity, gzip"]
)
def test_coded_bodies_are_decoded(coding):
    data = b"".join(b"line %d of a body that compresses well\n" % i for i in range(20000))

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await post(
                f"{base}/raw",
                data=make_coded(data, coding.lower()),
                headers={"Content-Encoding": coding},
            )
        assert answer.status == 200, answer.text
        assert json.loads(answer.body) == digest(data)

    run(main, timeout=10)


def test_raw_deflate_is_accepted_as_deflate():
    data = b"raw deflate, as some old clients send it " * 100
    compressor = zlib.compressobj(wbits=-15)
    coded = compressor.compress(data) + compressor.flush()

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await post(f"{base}/raw", data=coded, headers={"Content-Encoding": "deflate"})
        assert json.loads(answer.body) == digest(data)

    run(main, timeout=10)


def test_gzip_json_from_curl(tmp_path):
    path = tmp_path / "body.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"user": "ada", "ids": [1, 2, 3]}).encode()))

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await curl(
                "-H", "Content-Type: application/json", "-H", "Content-Encoding: gzip",
                "--data-binary", f"@{path}", f"{base}/json",
            )
        assert answer.status == 200, answer.text
        assert json.loads(answer.body) == {"got": {"user": "ada", "ids": [1, 2, 3]}}

    run(main, timeout=10)


def test_gzip_multipart_upload():
    body = (
        b"--b\r\nContent-Disposition: form-data; name=f; filename=a.txt\r\n\r\n"
        + b"hello " * 10000
        + b"\r\n--b--\r\n"
    )

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await post(
                f"{base}/form",
                data=gzip.compress(body),
                headers={
                    "Content-Type": "multipart/form-data; boundary=b",
                    "Content-Encoding": "gzip",
                },
            )
        assert answer.status == 200, answer.text
        assert json.loads(answer.body)["f"][0]["size"] == 60000

    run(main, timeout=10)


def test_unknown_coding_is_415_with_accept_encoding():
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            unknown = await post(f"{base}/raw", data=b"x", headers={"Content-Encoding": "zstd"})
            three = await post(
                f"{base}/raw", data=b"x", headers={"Content-Encoding": "gzip, gzip, gzip"}
            )
        assert unknown.status == 415
        assert unknown.text == "unsupported content coding 'zstd'\n"
        # RFC 9110 §15.5.16: the codings that would have been accepted.
        assert unknown.header("accept-encoding") == "br, gzip, deflate" == ", ".join(
            supported_codings()
        )
        assert three.status == 415
        assert three.text.startswith("more than 2 content codings")
        assert three.header("accept-encoding") == "br, gzip, deflate"

    run(main, timeout=10)


def test_a_gzip_bomb_is_413_at_the_decoded_limit():
    bomb = gzip.compress(b"\0" * (MAX_DECODED_SIZE + 1024 * 1024), compresslevel=9)
    assert len(bomb) < 64 * 1024

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            raw = await post(f"{base}/raw", data=bomb, headers={"Content-Encoding": "gzip"})
            form = await post(
                f"{base}/form",
                data=bomb,
                headers={
                    "Content-Encoding": "gzip",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
        assert raw.status == 413
        assert raw.text == f"decoded content larger than {MAX_DECODED_SIZE} bytes\n"
        # A form's own size limit is the decoded limit: 2 MiB for urlencoded.
        assert form.status == 413
        assert form.text == f"decoded content larger than {2 * 1024 * 1024} bytes\n"

    run(main, timeout=10)


def test_max_decoded_size_is_per_call():
    data = b"\0" * 1000
    coded = gzip.compress(data)
    headers = [("Content-Encoding", "gzip")]

    def body(limit):
        return asyncio.run(make_request("POST", "/", headers, coded).body(max_decoded_size=limit))

    with pytest.raises(DecodedContentTooLarge) as info:
        body(999)
    assert info.value.status == 413
    assert body(1000) == data
    assert body(None) == data


@pytest.mark.parametrize(
    ("coded", "detail"),
    [
        (gzip.compress(b"hello world")[:-6], "truncated gzip content"),
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "corrupt gzip content"),
        (gzip.compress(b"a") + b"trailing junk", "corrupt gzip content"),
    ],
)
def test_corrupt_coded_content_is_400(coded, detail):
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await post(f"{base}/raw", data=coded, headers={"Content-Encoding": "gzip"})
        assert answer.status == 400
        assert answer.text.startswith(detail)

    run(main, timeout=10)


def test_stream_yields_decoded_chunks_as_they_arrive():
    data = os.urandom(200_000).hex().encode()  # 400 kB that gzip halves
    coded = gzip.compress(data)
    chunks = [coded[i : i + 4096] for i in range(0, len(coded), 4096)]
    request = make_request("POST", "/", [("Content-Encoding", "gzip")], chunks)

    async def collect():
        return [chunk async for chunk in request.stream()]

    decoded = asyncio.run(collect())
    assert b"".join(decoded) == data
    assert len(decoded) > 10  # piece by piece, not all at the end
    assert all(decoded)


def test_content_encoding_is_checked_before_reading_the_body():
    request = make_request("POST", "/", [("Content-Encoding", "compress")], [b"x"])
    with pytest.raises(UnsupportedContentCoding):
        asyncio.run(request.body())
    assert request._receive.chunks == [b"x", b""]  # nothing read


# JSON


def test_json_needs_a_json_content_type():
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            # curl -d sends application/x-www-form-urlencoded.
            form = await curl("-d", '{"a": 1}', f"{base}/json")
            # -H "Content-Type:" removes the field.
            missing = await curl("-H", "Content-Type:", "-d", '{"a": 1}', f"{base}/json")
            text = await post(f"{base}/json", data=b"{}", headers={"Content-Type": "text/plain"})
        assert form.status == 415
        assert form.text == (
            "Content-Type is 'application/x-www-form-urlencoded', expected application/json\n"
        )
        assert missing.status == 415
        assert missing.text == "no Content-Type: expected application/json\n"
        assert (text.status, text.text) == (
            415, "Content-Type is 'text/plain', expected application/json\n",
        )

    run(main, timeout=10)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/problem+json",
     "application/vnd.api+json"],
)
def test_json_and_plus_json_types_are_parsed(content_type):
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await curl("-H", f"Content-Type: {content_type}", "-d", '{"a": [1, "é"]}',
                                f"{base}/json")
        assert answer.status == 200
        assert json.loads(answer.body) == {"got": {"a": [1, "é"]}}

    run(main, timeout=10)


def test_invalid_json_is_400():
    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            answer = await curl(
                "-H", "Content-Type: application/json", "-d", "{nope", f"{base}/json"
            )
        assert answer.status == 400
        assert answer.text.startswith("invalid JSON body: ")

    run(main, timeout=10)


# XML and other text


def test_xml_body_is_text_in_the_content_type_charset():
    xml = '<?xml version="1.0" encoding="iso-8859-1"?><note>café</note>'

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            latin = await post(
                f"{base}/text",
                data=xml.encode("latin-1"),
                headers={"Content-Type": "application/xml; charset=iso-8859-1"},
            )
            utf8 = await post(
                f"{base}/text", data="<a>é</a>".encode(), headers={"Content-Type": "text/xml"}
            )
        assert (latin.status, latin.text) == (200, xml)
        assert (utf8.status, utf8.text) == (200, "<a>é</a>")

    run(main, timeout=10)


# Limits


def multipart(*parts: tuple[str, bytes, str | None]) -> bytes:
    """A multipart body of ``(name, content, filename)`` parts, boundary ``b``."""
    body = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + b"--b--\r\n"


URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=b"


@pytest.mark.parametrize(
    ("limits", "content_type", "body", "limit"),
    [
        (FormLimits(max_urlencoded_size=10), URLENCODED, b"a=" + b"x" * 20, "max_urlencoded_size"),
        (FormLimits(max_fields=2), URLENCODED, b"a=1&b=2&c=3", "max_fields"),
        (FormLimits(max_size=1000), MULTIPART, multipart(("f", b"x" * 2000, "f.bin")), "max_size"),
        (FormLimits(max_parts=2), MULTIPART, multipart(*[("a", b"1", None)] * 3), "max_parts"),
        (
            FormLimits(max_header_size=100),
            MULTIPART,
            multipart(("f", b"x", "n" * 200)),
            "max_header_size",
        ),
        (
            FormLimits(max_field_size=9),
            MULTIPART,
            multipart(("a", b"x" * 20, None)),
            "max_field_size",
        ),
        (FormLimits(max_file_size=9), MULTIPART, multipart(("f", b"x" * 20, "f")), "max_file_size"),
        (
            FormLimits(max_memory_size=100),
            MULTIPART,
            multipart(("a", b"x" * 60, None), ("b", b"x" * 60, None)),
            "max_memory_size",
        ),
    ],
)
def test_each_form_limit_answers_413(limits, content_type, body, limit):
    async def main():
        async with serve(make_app(limits)) as server:
            base = base_url(server)
            answer = await post(f"{base}/form", data=body, headers={"Content-Type": content_type})
        assert answer.status == 413
        assert answer.text.startswith(f"{limit}: ")

    run(main, timeout=10)


def test_the_same_bodies_pass_the_default_limits():
    bodies = [
        (URLENCODED, b"a=" + b"x" * 20 + b"&b=2&c=3"),
        (MULTIPART, multipart(("f", b"x" * 2000, "n" * 200), *[("a", b"x" * 60, None)] * 3)),
    ]

    async def main():
        async with serve(make_app()) as server:
            base = base_url(server)
            for content_type, body in bodies:
                headers = {"Content-Type": content_type}
                answer = await post(f"{base}/form", data=body, headers=headers)
                assert answer.status == 200, answer.text

    run(main, timeout=10)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "detail"),
    [
        ("text/plain", b"a=1", 415, "Content-Type is 'text/plain', expected "
         "application/x-www-form-urlencoded or multipart/form-data"),
        (None, b"a=1", 415, "no Content-Type: expected application/x-www-form-urlencoded"),
        ("multipart/form-data", b"--b--", 400, "multipart/form-data Content-Type has no boundary"),
        (MULTIPART, multipart(("a", b"1", None))[:-9], 400, "multipart body ended in a part"),
        (MULTIPART, b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", 400,
         "multipart part with no Content-Disposition"),
    ],
)
def test_wrong_or_malformed_form_bodies(content_type, body, status, detail):
    async def main():
        headers = {} if content_type is None else {"Content-Type": content_type}
        async with serve(make_app()) as server:
            base = base_url(server)
            if content_type is None:  # aiohttp would add application/octet-stream
                answer = await curl("-H", "Content-Type:", "--data-binary", "a=1", f"{base}/form")
            else:
                answer = await post(f"{base}/form", data=body, headers=headers)
        assert answer.status == status
        assert answer.text.startswith(detail)

    run(main, timeout=10)


def test_form_errors_are_http_errors():
    for error in (FormError, FormTooLargeError, UnsupportedFormTypeError, DecodedContentTooLarge):
        assert issubclass(error, HTTPError)


@pytest.mark.parametrize("value", [-1, 1.5, True, "10"])
def test_form_limits_are_checked(value):
    for name in ("max_urlencoded_size", "max_fields", "max_size", "max_memory_size"):
        with pytest.raises(ValueError, match=name):
            FormLimits(**{name: value})


def test_docs_state_the_real_limits():
    """docs/requests.md's limits table gives every FormLimits default, and the other limits."""
    text = DOCS.read_text()
    rows = dict(re.findall(r"^\| `([\w.()=]+)` \| `([^`]+)`", text, re.MULTILINE))
    defaults = FormLimits()
    for name in defaults.__dataclass_fields__:
        if name.startswith("_"):
            continue
        assert name in rows, f"docs/requests.md has no row for FormLimits.{name}"
        assert ast.literal_eval(rows[name]) == getattr(defaults, name), name
    assert ast.literal_eval(rows["max_decoded_size"]) == MAX_DECODED_SIZE
    assert ast.literal_eval(rows["spool_threshold"]) == DEFAULT_SPOOL_THRESHOLD
    assert ast.literal_eval(rows["http_limits.max_body_size"]) == Limits().max_body_size
