"""The browser's own ``EventSource`` against ``@app.sse``: events, named events,
JSON, ``retry``, and the resumption with ``Last-Event-ID`` after the server ends
the stream.

Chromium is the system's (``scripts/system-deps.sh``), driven through Playwright's
async API on the same event loop as the server (see ``browser_testing``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from browser_testing import BrowserThread, console_errors
from playwright.async_api import BrowserContext

from longwire import App, Response
from longwire.aio import Server, ServerConfig
from longwire.app import EventStream

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><link rel="icon" href="data:,">
<title>longwire SSE</title></html>
"""

# Runs in the page: reads the stream until the event with id "5", through one
# reconnection, then closes it.
SCRIPT = """(target) => new Promise((resolve, reject) => {
  const source = new EventSource(target);
  const seen = [];
  let opens = 0;
  source.onopen = () => { opens += 1; };
  source.onmessage = (e) => {
    seen.push({type: e.type, data: e.data, id: e.lastEventId});
    if (e.lastEventId === "5") { source.close(); resolve({seen, opens}); }
  };
  source.addEventListener("tick", (e) => {
    seen.push({type: e.type, data: JSON.parse(e.data), id: e.lastEventId});
  });
  setTimeout(() => reject(new Error("timed out: " + JSON.stringify(seen))), 10000);
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


def sse_app(connections: list[str | None], ended: list[bool]) -> App:
    app = App()

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE)

    @app.sse("/events", retry=100, history=10, heartbeat=1.0)
    async def events(request: Any, events: EventStream) -> None:
        connections.append(events.last_event_id)
        try:
            if len(connections) == 1:
                feed.publish("one", id="1")
                feed.publish_json({"n": 2}, event="tick", id="2")
                feed.publish("three\nlines", id="3")
                events.close()  # the server ends the stream after these
                # Not for this (closed) stream: only kept in the history.
                feed.publish("four", id="4")
                feed.publish("five", id="5")
                return
            await events.wait_closed()
        finally:
            ended.append(events.closed)

    feed = events
    return app


def test_event_source_resumes_with_last_event_id(browser: BrowserThread) -> None:
    connections: list[str | None] = []
    ended: list[bool] = []

    async def main(context: BrowserContext) -> tuple[dict[str, Any], list[str]]:
        config = ServerConfig(access_log=False)
        async with Server(sse_app(connections, ended), port=0, config=config) as server:
            page = await context.new_page()
            errors = console_errors(page)
            await page.goto(f"http://127.0.0.1:{server.port}/")
            result = await page.evaluate(SCRIPT, "/events")
            await page.close()
            # The browser closed the stream: the handler ends at once.
            async with asyncio.timeout(2):
                while len(ended) < 2:
                    await asyncio.sleep(0.01)
        return result, errors

    result, errors = browser.run(main)

    assert result["seen"] == [
        {"type": "message", "data": "one", "id": "1"},
        {"type": "tick", "data": {"n": 2}, "id": "2"},
        {"type": "message", "data": "three\nlines", "id": "3"},
        {"type": "message", "data": "four", "id": "4"},
        {"type": "message", "data": "five", "id": "5"},
    ]
    assert result["opens"] == 2
    assert connections == [None, "3"]  # the browser sent Last-Event-ID when it came back
    assert ended == [True, True]
    # Chromium logs nothing for a stream the server ends (it just reconnects).
    assert errors == []


def test_event_source_query_fallback(browser: BrowserThread) -> None:
    """A client that cannot set headers passes ``lastEventId`` in the query."""
    connections: list[str | None] = []
    ended: list[bool] = []

    async def main(context: BrowserContext) -> dict[str, Any]:
        app = sse_app(connections, ended)
        config = ServerConfig(access_log=False)
        async with Server(app, port=0, config=config) as server:
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/")
            # The first connection publishes 1..5; the second resumes after 4.
            first = await page.evaluate(SCRIPT, "/events")
            second = await page.evaluate(
                """() => new Promise((resolve) => {
                  const source = new EventSource("/events?lastEventId=4");
                  source.onmessage = (e) => { source.close(); resolve([e.data, e.lastEventId]); };
                })"""
            )
            await page.close()
            async with asyncio.timeout(2):
                while len(ended) < 3:
                    await asyncio.sleep(0.01)
        return {"first": first, "second": second}

    result = browser.run(main)
    assert len(result["first"]["seen"]) == 5
    assert result["second"] == ["five", "5"]
    assert connections == [None, "3", "4"]
