"""``StaticFiles``: files from one directory, never anything outside it.

Served by a real ``Server`` and asked with raw HTTP/1.1 bytes, so that paths
arrive exactly as an attacker would send them (a client library would
normalise ``..`` away before sending).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from exec_support import read_http_head, run

from longwire import App
from longwire.aio import Server, make_config
from longwire.app import StaticFiles

INDEX = b"<!doctype html><title>home</title>\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.html").write_bytes(INDEX)
    (root / "hello.txt").write_text("hello, world\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "data.bin").write_bytes(bytes(range(256)))
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "no-extension").write_bytes(b"raw")
    (root / "docs" / "index.html").write_bytes(b"docs index\n")
    (root / "docs" / "a b.txt").write_text("spaced\n")
    (tmp_path / "secret.txt").write_text("top secret\n")
    return root


def static_app(root: Path, prefix: str = "") -> App:
    app = App()
    static = StaticFiles(root)
    if prefix:
        app.get(prefix + "/{path:path}")(static)
    else:
        app.get("/")(static)
        app.get("/{path:path}")(static)
    return app


async def ask(port: int, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, headers, body (read to the close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        status, headers = await read_http_head(reader)
        body = b"" if method == "HEAD" else await asyncio.wait_for(reader.read(), 20)
        if headers.get("transfer-encoding") == "chunked":
            raise AssertionError("a file response is sent with its Content-Length")
        return status, headers, body
    finally:
        writer.close()
        await writer.wait_closed()


def check(app: App, *requests: tuple[str, str]) -> list[tuple[int, dict[str, str], bytes]]:
    answers = []

    async def scenario() -> None:
        async with Server(app, port=0, config=make_config(access_log=False)) as server:
            for method, target in requests:
                answers.append(await ask(server.port, target, method))

    run(scenario)
    return answers


def test_files_with_type_and_length(site: Path):
    answers = check(
        static_app(site),
        ("GET", "/hello.txt"),
        ("GET", "/app.js"),
        ("GET", "/data.bin"),
        ("GET", "/logo.png"),
        ("GET", "/no-extension"),
        ("GET", "/docs/a%20b.txt"),
    )
    [text, js, binary, png, raw, spaced] = answers
    assert text[0] == 200
    assert text[1]["content-type"] == "text/plain; charset=utf-8"
    assert text[1]["content-length"] == "13"
    assert text[2] == b"hello, world\n"
    assert js[1]["content-type"].endswith("javascript; charset=utf-8")
    assert binary[1]["content-type"] == "application/octet-stream"
    assert binary[2] == bytes(range(256))
    assert png[1]["content-type"] == "image/png"
    assert raw[1]["content-type"] == "application/octet-stream"
    assert spaced[2] == b"spaced\n"


def test_head_is_the_head_of_get(site: Path):
    [get, head] = check(static_app(site), ("GET", "/hello.txt"), ("HEAD", "/hello.txt"))
    assert head[0] == 200
    assert head[1]["content-length"] == get[1]["content-length"] == "13"
    assert head[1]["content-type"] == get[1]["content-type"]
    assert head[2] == b""


def test_directories_serve_their_index(site: Path):
    [root, docs, redirect, query, empty] = check(
        static_app(site),
        ("GET", "/"),
        ("GET", "/docs/"),
        ("GET", "/docs"),
        ("GET", "/docs?x=1"),
        ("GET", "/empty/"),
    )
    assert (root[0], root[1]["content-type"], root[2]) == (200, "text/html; charset=utf-8", INDEX)
    assert docs[2] == b"docs index\n"
    assert redirect[0] == 301
    assert redirect[1]["location"] == "/docs/"
    assert query[1]["location"] == "/docs/?x=1"
    assert empty[0] == 404  # no index, and no listing


def test_index_can_be_turned_off(site: Path):
    app = App()
    app.get("/{path:path}")(StaticFiles(site, index=None))
    [docs] = check(app, ("GET", "/docs/"))
    assert docs[0] == 404


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/docs/../../secret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/docs/..%2F..%2Fsecret.txt",
        "/./hello.txt",
        "/docs/./index.html",
        "/hello.txt%00.png",
        "/missing.txt",
        "/hello.txt/",
        "/hello.txt/more",
    ],
)
def test_traversal_and_odd_paths_are_404(site: Path, target: str):
    [answer] = check(static_app(site), ("GET", target))
    assert answer[0] == 404, answer
    assert b"secret" not in answer[2]


def test_an_absolute_path_stays_inside(site: Path):
    # "//etc/passwd" decodes to a path whose segments are joined under the root.
    [answer] = check(static_app(site), ("GET", "//etc/passwd"))
    assert answer[0] == 404
    [inside] = check(static_app(site), ("GET", "//hello.txt"))
    assert inside[2] == b"hello, world\n"


def test_symlinks_inside_are_followed_and_escaping_ones_refused(site: Path):
    (site / "inside-link.txt").symlink_to(site / "hello.txt")
    (site / "escape-link.txt").symlink_to(site.parent / "secret.txt")
    (site / "escape-dir").symlink_to(site.parent)
    answers = check(
        static_app(site),
        ("GET", "/inside-link.txt"),
        ("GET", "/escape-link.txt"),
        ("GET", "/escape-dir/secret.txt"),
        ("GET", "/escape-dir/"),
    )
    assert answers[0][2] == b"hello, world\n"
    assert [a[0] for a in answers[1:]] == [404, 404, 404]


def test_only_regular_files_are_served(site: Path):
    os.mkfifo(site / "pipe")  # opening it would block the event loop
    [answer] = check(static_app(site), ("GET", "/pipe"))
    assert answer[0] == 404


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_403(site: Path):
    (site / "locked.txt").write_text("no")
    (site / "locked.txt").chmod(0)
    [answer] = check(static_app(site), ("GET", "/locked.txt"))
    assert answer[0] == 403


def test_other_methods_are_405_with_allow(site: Path):
    app = static_app(site)
    [post, delete] = check(app, ("POST", "/hello.txt"), ("DELETE", "/"))
    assert post[0] == delete[0] == 405
    assert post[1]["allow"] == "GET, HEAD, OPTIONS"

    # Called directly (routed for more methods), the handler says the same.
    direct = App()
    direct.route("/{path:path}", methods=("GET", "POST"))(StaticFiles(site))
    [answer] = check(direct, ("POST", "/hello.txt"))
    assert (answer[0], answer[1]["allow"]) == (405, "GET, HEAD")


def test_big_files_are_streamed_with_their_length(site: Path):
    data = os.urandom(3 * 1024 * 1024 + 12345)  # past any read-at-once size
    (site / "big.bin").write_bytes(data)
    [get, head] = check(static_app(site), ("GET", "/big.bin"), ("HEAD", "/big.bin"))
    assert get[1]["content-length"] == head[1]["content-length"] == str(len(data))
    assert get[2] == data
    assert head[2] == b""


def test_under_a_prefix(site: Path):
    [file, outside] = check(
        static_app(site, prefix="/assets"), ("GET", "/assets/hello.txt"), ("GET", "/hello.txt")
    )
    assert file[2] == b"hello, world\n"
    assert outside[0] == 404


def test_the_directory_must_exist(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="directory not found"):
        StaticFiles(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        StaticFiles(tmp_path / "file")
    with pytest.raises(ValueError, match="file name"):
        StaticFiles(tmp_path, index="../x")


def test_exported_from_longwire_app():
    import longwire.app

    assert "StaticFiles" in longwire.app.__all__
    assert longwire.app.StaticFiles is StaticFiles
    assert StaticFiles.__doc__
