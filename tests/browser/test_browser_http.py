"""Headless Chromium against longwire's HTTP features that only a browser enforces or
produces: the CORS protocol between two origins, and HTML form submissions
(multipart with a file upload, and urlencoded).

Chromium is the system's (``scripts/system-deps.sh``), driven through Playwright's
async API on the same event loop as the servers (see ``browser_testing``).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_testing import BrowserThread, console_errors
from playwright.async_api import BrowserContext

from longwire import App, Response
from longwire.aio import Server, ServerConfig
from longwire.app import CORS, Request, UploadFile

pytestmark = pytest.mark.browser

CONFIG = ServerConfig(access_log=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


# --------------------------------------------------------------------------- CORS


@dataclass(frozen=True)
class Exchange:
    """One request a server received and what it answered (names lowercased)."""

    method: str
    path: str
    request_headers: dict[str, str]
    status: int
    response_headers: dict[str, str]


def _fields(pairs: Any) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields


def recorder(
    log: list[Exchange],
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """A middleware recording every exchange; registered before ``CORS``, it sees
    preflights and the CORS fields that ``CORS`` adds."""

    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        log.append(
            Exchange(
                request.method,
                request.path,
                _fields(request.headers),
                response.status,
                _fields(response.headers),
            )
        )
        return response

    return record


CORS_PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>longwire CORS page</title>
<p>the page's origin</p>
</html>
"""


def page_app() -> App:
    app = App()

    @app.get("/")
    def index(request: Request) -> Response:
        return Response.html(CORS_PAGE)

    return app


def data_routes(app: App, log_prefix: str) -> None:
    @app.get("/data")
    def get_data(request: Request) -> Response:
        return Response.json(
            {"from": log_prefix, "method": "GET", "note": "café ☕"},
            headers=[("X-Request-Id", "req-42"), ("X-Internal", "secret")],
        )

    @app.put("/data")
    async def put_data(request: Request) -> Response:
        body = await request.json()
        return Response.json(
            {
                "from": log_prefix,
                "method": "PUT",
                "token": request.headers.get("x-token"),
                "body": body,
            },
            headers=[("X-Request-Id", "req-43"), ("X-Internal", "secret")],
        )


def api_app(page_origin: str, log: list[Exchange]) -> App:
    """The API: CORS allows the page's origin, PUT, X-Token and credentials."""
    app = App()
    app.middleware(recorder(log))
    app.middleware(
        CORS(
            [page_origin],
            allow_methods=["GET", "PUT"],
            allow_headers=["X-Token"],
            expose_headers=["X-Request-Id"],
            allow_credentials=True,
            max_age=600,
        )
    )
    data_routes(app, "api")
    return app


def other_app(log: list[Exchange]) -> App:
    """Another API whose policy allows localhost pages only, not 127.0.0.1 ones."""
    app = App()
    app.middleware(recorder(log))
    app.middleware(
        CORS(["http://localhost:*"], allow_methods=["GET", "PUT"], allow_headers=["X-Token"])
    )
    data_routes(app, "other")
    return app


# Runs in the page: (a) a simple GET, (b) a PUT with a custom header and
# credentials (preflighted), (c) a simple GET and a PUT to a server whose CORS
# policy does not allow this origin.
CORS_SCRIPT = """async ({api, other}) => {
  const attempt = async (url, init) => {
    try {
      const r = await fetch(url, init);
      return {ok: true, status: r.status, text: await r.text()};
    } catch (e) {
      return {ok: false, name: e.name, message: e.message};
    }
  };

  const r = await fetch(api + "/data");
  const simple = {
    status: r.status,
    type: r.type,
    contentType: r.headers.get("content-type"),
    exposed: r.headers.get("x-request-id"),
    hidden: r.headers.get("x-internal"),
    headerNames: [...r.headers.keys()].sort(),
    body: await r.json(),
  };

  const p = await fetch(api + "/data", {
    method: "PUT",
    credentials: "include",
    headers: {"X-Token": "t0ken", "Content-Type": "application/json"},
    body: JSON.stringify({text: "héllo ✓"}),
  });
  const put = {
    status: p.status,
    type: p.type,
    exposed: p.headers.get("x-request-id"),
    hidden: p.headers.get("x-internal"),
    body: await p.json(),
  };

  const refusedGet = await attempt(other + "/data");
  const refusedPut = await attempt(other + "/data", {
    method: "PUT",
    headers: {"X-Token": "t0ken", "Content-Type": "application/json"},
    body: "{}",
  });
  return {simple, put, refusedGet, refusedPut};
}"""


def test_cors_between_two_origins(browser: BrowserThread) -> None:
    api_log: list[Exchange] = []
    other_log: list[Exchange] = []

    async def main(context: BrowserContext) -> tuple[str, str, dict[str, Any], list[str]]:
        async with AsyncExitStack() as stack:
            pages = await stack.enter_async_context(Server(page_app(), port=0, config=CONFIG))
            origin = f"http://127.0.0.1:{pages.port}"
            api = await stack.enter_async_context(
                Server(api_app(origin, api_log), port=0, config=CONFIG)
            )
            other = await stack.enter_async_context(
                Server(other_app(other_log), port=0, config=CONFIG)
            )
            api_url = f"http://127.0.0.1:{api.port}"
            other_url = f"http://127.0.0.1:{other.port}"
            assert len({origin, api_url, other_url}) == 3

            page = await context.new_page()
            errors = console_errors(page)
            response = await page.goto(f"{origin}/")
            assert response is not None
            assert response.status == 200
            results = await page.evaluate(CORS_SCRIPT, {"api": api_url, "other": other_url})
            await page.close()
        return origin, other_url, results, errors

    origin, other_url, results, errors = browser.run(main)

    # (a) A simple GET: no preflight; the body and the exposed header are
    # readable, the other header is filtered out by the browser.
    simple = results["simple"]
    assert simple["status"] == 200
    assert simple["type"] == "cors"
    assert simple["contentType"] == "application/json"
    assert simple["body"] == {"from": "api", "method": "GET", "note": "café ☕"}
    assert simple["exposed"] == "req-42"
    assert simple["hidden"] is None
    assert "x-internal" not in simple["headerNames"]

    # (b) The PUT with X-Token and credentials went through a preflight.
    put = results["put"]
    assert put["status"] == 200
    assert put["type"] == "cors"
    assert put["body"] == {
        "from": "api",
        "method": "PUT",
        "token": "t0ken",
        "body": {"text": "héllo ✓"},
    }
    assert put["exposed"] == "req-43"
    assert put["hidden"] is None

    assert [(e.method, e.path) for e in api_log] == [
        ("GET", "/data"),
        ("OPTIONS", "/data"),
        ("PUT", "/data"),
    ]
    get, preflight, actual = api_log
    assert get.request_headers["origin"] == origin
    assert get.response_headers["access-control-allow-origin"] == origin
    assert get.response_headers["access-control-expose-headers"] == "X-Request-Id"

    assert preflight.request_headers["origin"] == origin
    assert preflight.request_headers["access-control-request-method"] == "PUT"
    requested = preflight.request_headers["access-control-request-headers"]
    assert sorted(requested.split(",")) == ["content-type", "x-token"]
    assert "cookie" not in preflight.request_headers  # never credentials on a preflight
    assert preflight.status == 204
    assert preflight.response_headers["access-control-allow-origin"] == origin
    assert preflight.response_headers["access-control-allow-credentials"] == "true"
    assert "PUT" in preflight.response_headers["access-control-allow-methods"]
    allowed = preflight.response_headers["access-control-allow-headers"].lower()
    assert "x-token" in allowed

    assert actual.request_headers["origin"] == origin
    assert actual.request_headers["x-token"] == "t0ken"
    # credentials: "include" is only readable with these two, exactly so.
    assert actual.response_headers["access-control-allow-origin"] == origin
    assert actual.response_headers["access-control-allow-credentials"] == "true"
    assert "Origin" in actual.response_headers["vary"]

    # (c) The other server does not allow this origin: the browser rejects both
    # fetches. The simple GET still reached the handler (CORS protects reading,
    # not sending); the PUT stopped at its refused preflight.
    for refused in (results["refusedGet"], results["refusedPut"]):
        assert refused == {"ok": False, "name": "TypeError", "message": "Failed to fetch"}
    assert [(e.method, e.path, e.status) for e in other_log] == [
        ("GET", "/data", 200),
        ("OPTIONS", "/data", 403),
    ]
    seen_get, refused_preflight = other_log
    assert seen_get.request_headers["origin"] == origin
    assert "access-control-allow-origin" not in seen_get.response_headers
    assert refused_preflight.request_headers["access-control-request-method"] == "PUT"
    assert not any(k.startswith("access-control-") for k in refused_preflight.response_headers)

    # Chromium explains both refusals in the console, and nothing else went wrong.
    blocked = [e for e in errors if "blocked by CORS policy" in e]
    assert len(blocked) == 2, errors
    assert all(f"'{other_url}/data' from origin '{origin}'" in e for e in blocked)
    assert "preflight" not in blocked[0]
    assert "Response to preflight request doesn't pass access control check" in blocked[1]
    assert all(e in blocked or "net::ERR_FAILED" in e for e in errors), errors


# --------------------------------------------------------------------------- forms

TEXT = "café ☕ & 1+1=2"
FILENAME = "résumé 2026.pdf"
FILE_SIZE = 300 * 1024 + 7

FORM_PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>longwire forms</title>
<form id="multipart" method="post" action="/upload" enctype="multipart/form-data">
  <input id="m-text" name="text">
  <label><input type="checkbox" name="tags[]" value="red" id="tag-red"> red</label>
  <label><input type="checkbox" name="tags[]" value="green" id="tag-green"> green</label>
  <label><input type="checkbox" name="tags[]" value="thé" id="tag-the"> thé</label>
  <input type="file" name="file" id="file">
  <button id="m-send" type="submit">Upload</button>
</form>
<form id="urlencoded" method="post" action="/urlencoded">
  <input id="u-text" name="text">
  <label><input type="checkbox" name="tags[]" value="red" id="u-tag-red"> red</label>
  <label><input type="checkbox" name="tags[]" value="thé" id="u-tag-the"> thé</label>
  <button id="u-send" type="submit">Send</button>
</form>
</html>
"""


def result_page(values: dict[str, str]) -> str:
    items = "\n".join(
        f'<dt>{name}</dt><dd id="{name}">{html.escape(value)}</dd>'
        for name, value in values.items()
    )
    return (
        '<!doctype html>\n<html lang="en">\n<meta charset="utf-8">\n'
        '<link rel="icon" href="data:,">\n<title>received</title>\n'
        f"<dl>\n{items}\n</dl>\n</html>\n"
    )


def form_app() -> App:
    app = App()

    @app.get("/")
    def index(request: Request) -> Response:
        return Response.html(FORM_PAGE)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        form = await request.form()
        file = form.get("file")
        values = {
            "content-type": request.headers.get("content-type", ""),
            "names": json.dumps(sorted(form)),
            "text": repr(form.get("text")),
            "tags": json.dumps(form.getall("tags")),
            "file-class": type(file).__name__,
        }
        if isinstance(file, UploadFile):
            content = file.read()
            values |= {
                "filename": file.filename,
                "safe-filename": str(file.safe_filename),
                "file-type": str(file.content_type),
                "size": str(file.size),
                "read-size": str(len(content)),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        return Response.html(result_page(values))

    @app.post("/urlencoded")
    async def urlencoded(request: Request) -> Response:
        form = await request.form()
        return Response.html(
            result_page(
                {
                    "content-type": request.headers.get("content-type", ""),
                    "names": json.dumps(sorted(form)),
                    "text": repr(form.get("text")),
                    "tags": json.dumps(form.getall("tags")),
                }
            )
        )

    return app


def test_form_submissions(browser: BrowserThread, tmp_path: Path) -> None:
    content = os.urandom(FILE_SIZE)
    upload = tmp_path / FILENAME
    upload.write_bytes(content)
    fields = (
        "content-type",
        "names",
        "text",
        "tags",
        "file-class",
        "filename",
        "safe-filename",
        "file-type",
        "size",
        "read-size",
        "sha256",
    )

    async def main(context: BrowserContext) -> tuple[dict[str, str], dict[str, str], list[str]]:
        async with Server(form_app(), port=0, config=CONFIG) as server:
            base = f"http://127.0.0.1:{server.port}"
            page = await context.new_page()
            errors = console_errors(page)

            # multipart/form-data: a text field, two of three checkboxes, a file.
            await page.goto(f"{base}/")
            await page.fill("#m-text", TEXT)
            await page.check("#tag-red")
            await page.check("#tag-the")
            await page.set_input_files("#file", upload)
            async with page.expect_navigation() as navigation:
                await page.click("#m-send")
            response = await navigation.value
            assert response is not None
            assert response.status == 200
            assert page.url == f"{base}/upload"
            multipart = {f: await page.text_content(f"#{f}") or "" for f in fields}

            # application/x-www-form-urlencoded (the default enctype).
            await page.goto(f"{base}/")
            await page.fill("#u-text", TEXT)
            await page.check("#u-tag-red")
            await page.check("#u-tag-the")
            async with page.expect_navigation() as navigation:
                await page.click("#u-send")
            response = await navigation.value
            assert response is not None
            assert response.status == 200
            assert page.url == f"{base}/urlencoded"
            urlencoded = {f: await page.text_content(f"#{f}") or "" for f in fields[:4]}
            await page.close()
        return multipart, urlencoded, errors

    multipart, urlencoded, errors = browser.run(main)

    assert errors == []
    assert multipart["content-type"].startswith("multipart/form-data; boundary=")
    assert json.loads(multipart["names"]) == ["file", "tags", "text"]
    assert multipart["text"] == repr(TEXT)
    assert json.loads(multipart["tags"]) == ["red", "thé"]
    assert multipart["file-class"] == "UploadFile"
    assert multipart["filename"] == FILENAME
    assert multipart["safe-filename"] == FILENAME
    assert multipart["file-type"] == "application/pdf"
    assert multipart["size"] == multipart["read-size"] == str(FILE_SIZE)
    assert multipart["sha256"] == hashlib.sha256(content).hexdigest()

    assert urlencoded == {
        "content-type": "application/x-www-form-urlencoded",
        "names": json.dumps(["tags", "text"]),
        "text": repr(TEXT),
        "tags": json.dumps(["red", "thé"]),
    }
