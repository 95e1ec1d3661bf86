"""A real browser against longwire: headless Chromium loads a page, fetch()es JSON
and talks to an echo WebSocket, all over loopback.

Chromium is the system's (``scripts/system-deps.sh``), driven through Playwright's
async API on the same event loop as the server (see ``browser_testing``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_testing import BrowserThread, console_errors
from playwright.async_api import BrowserContext

from longwire import App, ConnectionClosed, Response
from longwire.aio import Server, ServerConfig

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>longwire browser smoke</title>
<p id="status">loaded</p>
</html>
"""

# Runs in the page: one fetch() and one WebSocket session (text, binary, close).
SCRIPT = """async () => {
  const response = await fetch("/api/greeting?name=" + encodeURIComponent("wörld"));
  const fetched = {
    status: response.status,
    contentType: response.headers.get("content-type"),
    body: await response.json(),
  };

  const ws = new WebSocket(`ws://${location.host}/echo`);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let wake = null;
  ws.onmessage = (event) => { inbox.push(event.data); if (wake) wake(); };
  const next = async () => {
    while (!inbox.length) await new Promise((resolve) => { wake = resolve; });
    return inbox.shift();
  };
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => resolve({code: e.code, reason: e.reason, clean: e.wasClean});
  });
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });

  ws.send("héllo ✓");
  const text = await next();
  ws.send(new Uint8Array([0, 1, 2, 254, 255]));
  const binary = Array.from(new Uint8Array(await next()));
  ws.close(1000, "bye");
  return {fetched, extensions: ws.extensions, text, binary, close: await closed};
}"""


def smoke_app(ended: list[tuple[int | None, str | None]]) -> App:
    app = App()

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE)

    @app.get("/api/greeting")
    def greeting(request: Any) -> dict[str, Any]:
        return {
            "greeting": f"hello, {request.query['name']}",
            "userAgent": request.headers.get("user-agent"),
        }

    @app.websocket("/echo")
    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        ended.append((ws.close_code, ws.close_reason))

    return app


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


def test_page_fetch_and_websocket(browser: BrowserThread) -> None:
    ended: list[tuple[int | None, str | None]] = []

    async def main(context: BrowserContext) -> tuple[str, str, list[str], dict[str, Any]]:
        config = ServerConfig(access_log=False)
        async with Server(smoke_app(ended), port=0, config=config) as server:
            page = await context.new_page()
            errors = console_errors(page)
            response = await page.goto(f"http://127.0.0.1:{server.port}/")
            assert response is not None
            assert response.status == 200
            results = await page.evaluate(SCRIPT)
            title = await page.title()
            status = await page.inner_text("#status")
            await page.close()
        return title, status, errors, results

    title, status, errors, results = browser.run(main)

    assert (title, status, errors) == ("longwire browser smoke", "loaded", [])
    fetched = results["fetched"]
    assert fetched["status"] == 200
    assert fetched["contentType"].startswith("application/json")
    assert fetched["body"]["greeting"] == "hello, wörld"
    assert "HeadlessChrome" in fetched["body"]["userAgent"]
    # Chromium offers permessage-deflate and longwire's routes accept it by default.
    assert results["extensions"].startswith("permessage-deflate")
    assert results["text"] == "héllo ✓"
    assert results["binary"] == [0, 1, 2, 254, 255]
    assert results["close"] == {"code": 1000, "reason": "bye", "clean": True}
    assert ended == [(1000, "bye")]
