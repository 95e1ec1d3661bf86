"""``longwire serve --static`` run as a user runs it: a real subprocess on a real port.

Servers start through ``cli_support.running`` (tests/cli), which waits for the
"listening on" line with a timeout and always kills the process. Clients are
urllib and curl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_support import free_port, run_cli, running
from http_testing import CURL_TIMEOUT, OLD, write

BIG = os.urandom(300_000)  # over SMALL_FILE: streamed (uvloop) or sent with sendfile

APP_MODULE = """\
from longwire import App

app = App()


@app.get("/hello.txt")
async def hello(request):
    return "from the app\\n"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    write(root / "hello.txt", "hello world\n")
    write(root / "big.bin", BIG)
    write(root / "docs" / "index.html", "<p>docs</p>\n")
    write(root / "sub" / "entry.txt", "entry\n")
    write(root / "sub" / ".secret", "hidden\n")
    write(tmp_path / "outside.txt", "outside\n")
    os.utime(root, (OLD, OLD))
    return root


class Fetched:
    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(port: int, path: str, *fields: tuple[str, str]) -> Fetched:
    """GET ``path`` with urllib (redirects not followed); any status is an answer."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=dict(fields))
    try:
        with _opener.open(req, timeout=10) as response:
            return Fetched(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Fetched(error.code, error.headers, error.read())


def test_serve_static_serves_a_directory(site: Path, tmp_path: Path) -> None:
    port = free_port()
    with running("serve", "--static", str(site), "--port", str(port)) as server:
        announced = server.wait_for("serving ")
        assert announced == f"serving {site} at http://127.0.0.1:{port}/ (Ctrl+C to stop)"
        hello = fetch(port, "/hello.txt")
        assert (hello.status, hello.body) == (200, b"hello world\n")
        assert hello.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert hello.headers["Cache-Control"] == "no-cache"
        assert hello.headers["Accept-Ranges"] == "bytes"
        assert hello.headers["Server"] == "longwire"
        etag = hello.headers["ETag"]
        assert etag.startswith('"')
        assert fetch(port, "/hello.txt", ("If-None-Match", etag)).status == 304
        assert fetch(port, "/big.bin").body == BIG
        ranged = fetch(port, "/big.bin", ("Range", "bytes=1000-1999"))
        assert (ranged.status, ranged.body) == (206, BIG[1000:2000])
        docs = fetch(port, "/docs")
        assert (docs.status, docs.headers["Location"]) == (301, "/docs/")
        assert fetch(port, "/docs/").body == b"<p>docs</p>\n"
        assert fetch(port, "/sub/").status == 404  # no listing by default
        assert fetch(port, "/%2e%2e/outside.txt").status == 404

        # curl resumes a download.
        partial = tmp_path / "big.part"
        partial.write_bytes(BIG[:123_457])
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "--max-time",
                str(CURL_TIMEOUT),
                "-C",
                "-",
                "-o",
                str(partial),
                f"http://127.0.0.1:{port}/big.bin",
            ],
            capture_output=True,
            timeout=CURL_TIMEOUT + 5,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert partial.read_bytes() == BIG


def test_static_prefix_listing_and_no_cache_control(site: Path) -> None:
    port = free_port()
    options = ["--static-prefix", "/files", "--listing", "--cache-control", "none"]
    with running("serve", "--static", str(site), *options, "--port", str(port)):
        hello = fetch(port, "/files/hello.txt")
        assert (hello.status, hello.body) == (200, b"hello world\n")
        assert "Cache-Control" not in hello.headers
        assert hello.headers["ETag"] is not None
        assert fetch(port, "/hello.txt").status == 404
        bare = fetch(port, "/files")
        assert (bare.status, bare.headers["Location"]) == (301, "/files/")
        listing = fetch(port, "/files/sub/")
        assert listing.status == 200
        assert listing.headers["Content-Type"] == "text/html; charset=utf-8"
        assert b'<a href="entry.txt">entry.txt</a>' in listing.body
        assert b".secret" not in listing.body
        root = fetch(port, "/files/")
        assert b'<a href="docs/">docs/</a>' in root.body


def test_static_after_an_apps_routes(site: Path, tmp_path: Path) -> None:
    (tmp_path / "static_cli_app.py").write_text(APP_MODULE)
    port = free_port()
    args = [
        "serve",
        "static_cli_app:app",
        "--static",
        str(site),
        "--cache-control",
        "public, max-age=60",
        "--no-uvloop",  # the default loop: files go out with sendfile
        "--port",
        str(port),
    ]
    with running(*args, cwd=tmp_path):
        assert fetch(port, "/hello.txt").body == b"from the app\n"  # the route wins
        big = fetch(port, "/big.bin")
        assert big.body == BIG
        assert big.headers["Cache-Control"] == "public, max-age=60"
        ranged = fetch(port, "/big.bin", ("Range", "bytes=-100000"))
        assert (ranged.status, ranged.body) == (206, BIG[-100000:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--static", "{missing}"], "--static {missing}: directory not found"),
        (["--static", "{file}"], "--static {file}: not a directory"),
        (["--static", "{site}", "--static-prefix", "files"], "must start with '/'"),
    ],
)
def test_a_bad_static_option_is_one_error_line(
    site: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    names = {
        "missing": str(tmp_path / "missing"),
        "file": str(site / "hello.txt"),
        "site": str(site),
    }
    port = free_port()
    result = run_cli("serve", *[arg.format(**names) for arg in args], "--port", str(port))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr + result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("longwire serve: error: --static "), line
    assert message.format(**names) in line


def test_a_missing_static_directory_exits_with_status_1(tmp_path: Path) -> None:
    """Like every other mistake on the command line (a bad APP, a port in use): status 1."""
    result = run_cli("serve", "--static", str(tmp_path / "missing"), "--port", str(free_port()))
    assert result.returncode == 1
