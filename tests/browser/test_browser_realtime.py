"""longwire.js in headless Chromium against ``longwire.realtime.Sessions``.

Each transport forced one at a time (echo, binary, order, heartbeat, close),
the fallback when the WebSocket upgrade is refused, and 1,000 messages each way
across connections the server keeps dropping: exactly once, in order.
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
from longwire.realtime import Session, Sessions

pytestmark = pytest.mark.browser

CONFIG = ServerConfig(access_log=False)
COUNT = 1000

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><link rel="icon" href="data:,">
<title>longwire realtime</title>
<script src="/rt/longwire.js"></script>
</html>
"""

# Echo over one transport: text, binary, order, then a clean close.
ECHO = """async ({prefix, transports, wait}) => {
  const sock = new LongwireSocket(prefix, {transports, heartbeat: 200,
                                           reconnect: {minDelay: 20, maxDelay: 200}});
  sock.binaryType = "arraybuffer";
  const inbox = [];
  let wake = null;
  sock.onmessage = (e) => {
    inbox.push(typeof e.data === "string" ? e.data : Array.from(new Uint8Array(e.data)));
    if (wake) wake();
  };
  const next = async () => {
    while (!inbox.length) await new Promise((r) => { wake = r; });
    return inbox.shift();
  };
  const closed = new Promise((r) => {
    sock.addEventListener("close", (e) => r({code: e.code, reason: e.reason, clean: e.wasClean}));
  });
  await new Promise((r, j) => { sock.onopen = r; sock.onclose = j; });
  const opened = {readyState: sock.readyState, transport: sock.transport};
  for (const word of ["one", "two", "three", "héllo ✓"]) sock.send(word);
  sock.send(new Uint8Array([0, 1, 2, 254, 255]));
  sock.send(new Blob([new Uint8Array([7, 8])]));
  sock.send("after blob");
  const got = [];
  for (let i = 0; i < 7; i++) got.push(await next());
  await new Promise((r) => setTimeout(r, wait));  // idle: heartbeats only
  sock.close(1000, "bye");
  return {opened, got, close: await closed, state: sock.readyState};
}"""

# 1,000 messages each way while the server drops the connection now and then.
FLOOD = """async ({prefix, transports, count}) => {
  const sock = new LongwireSocket(prefix, {transports, heartbeat: 1000,
                                           reconnect: {minDelay: 10, maxDelay: 100}});
  const got = [];
  let done = null;
  const finished = new Promise((r) => { done = r; });
  sock.onmessage = (e) => { got.push(e.data); if (got.length >= count) done(); };
  await new Promise((r, j) => { sock.onopen = r; sock.onclose = j; });
  sock.send("go");
  for (let i = 0; i < count; i++) {
    sock.send("c" + i);
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 5));
  }
  await finished;
  await new Promise((r) => setTimeout(r, 100));  // any duplicate would show up now
  const transport = sock.transport;
  sock.close(1000, "done");
  return {got, transport};
}"""


def realtime_app(received: list[str | bytes]) -> tuple[App, Sessions, Sessions]:
    app = App()

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE)

    async def handler(session: Session) -> None:
        async for message in session:
            if message == "go":  # the flood test: COUNT messages, spread out
                asyncio.get_running_loop().create_task(flood(session))
                continue
            received.append(message)
            if not (isinstance(message, str) and message.startswith("c")):
                await session.send(message)

    async def flood(session: Session) -> None:
        for i in range(COUNT):
            await session.send(f"s{i}")
            if i % 25 == 24:
                await asyncio.sleep(0.005)

    sessions = Sessions(app, "/rt", handler, heartbeat=0.5, poll_timeout=2.0)
    no_ws = Sessions(app, "/nows", handler, transports=("sse", "streaming", "polling"))
    return app, sessions, no_ws


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


def run_page(
    browser: BrowserThread, script: str, args: dict[str, Any], *, drops: bool = False
) -> tuple[Any, list[str | bytes], list[Session], list[str]]:
    received: list[str | bytes] = []
    seen: list[Session] = []

    async def main(context: BrowserContext) -> tuple[Any, list[str]]:
        app, sessions, no_ws = realtime_app(received)

        async def dropper() -> None:
            while True:
                await asyncio.sleep(0.06)
                for session in sessions:
                    session.drop_connection()

        async with Server(app, port=0, config=CONFIG) as server:
            page = await context.new_page()
            errors = console_errors(page)
            await page.goto(f"http://127.0.0.1:{server.port}/")
            task = asyncio.get_running_loop().create_task(dropper()) if drops else None
            watch = asyncio.get_running_loop().create_task(_collect(seen, sessions, no_ws))
            try:
                result = await page.evaluate(script, args)
            finally:
                if task is not None:
                    task.cancel()
                watch.cancel()
            await asyncio.sleep(0.1)
            await page.close()
            await sessions.close()
            await no_ws.close()
        return result, errors

    result, errors = browser.run(main, timeout=30)
    return result, received, seen, errors


async def _collect(seen: list[Session], *registries: Sessions) -> None:
    while True:
        for registry in registries:
            for session in registry:
                if session not in seen:
                    seen.append(session)
        await asyncio.sleep(0.01)


TRANSPORT_NAMES = ["websocket", "sse", "streaming", "polling"]


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_echo_over_each_transport(browser: BrowserThread, transport: str) -> None:
    args = {"prefix": "/rt", "transports": [transport], "wait": 700}
    result, received, seen, errors = run_page(browser, ECHO, args)
    assert errors == []
    assert result["opened"] == {"readyState": 1, "transport": transport}
    assert result["got"] == [
        "one", "two", "three", "héllo ✓", [0, 1, 2, 254, 255], [7, 8], "after blob",
    ]
    assert result["close"] == {"code": 1000, "reason": "bye", "clean": True}
    assert result["state"] == 3
    assert received[:4] == ["one", "two", "three", "héllo ✓"]
    assert received[4:6] == [bytes([0, 1, 2, 254, 255]), bytes([7, 8])]
    [session] = seen
    # heartbeat 200 ms and 700 ms idle: the client pinged, the server answered.
    assert session.pings >= 2
    assert (session.close_code, session.close_reason) == (1000, "bye")


def test_fallback_when_websocket_is_refused(browser: BrowserThread) -> None:
    args = {"prefix": "/nows", "transports": TRANSPORT_NAMES, "wait": 0}
    result, _received, _seen, errors = run_page(browser, ECHO, args)
    # Chromium reports the refused handshake on the console; nothing else may fail.
    assert [e for e in errors if "websocket" not in e.lower()] == []
    assert result["opened"] == {"readyState": 1, "transport": "sse"}
    assert result["got"][:3] == ["one", "two", "three"]
    assert result["close"]["code"] == 1000


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_thousand_messages_both_ways_across_drops(browser: BrowserThread, transport: str) -> None:
    args = {"prefix": "/rt", "transports": [transport], "count": COUNT}
    result, received, seen, errors = run_page(browser, FLOOD, args, drops=True)
    # Dropped connections show on the console as failed loads; no script error may.
    assert [e for e in errors if e.startswith("uncaught")] == []
    assert result["got"] == [f"s{i}" for i in range(COUNT)]
    assert received == [f"c{i}" for i in range(COUNT)]
    [session] = seen
    assert session._attached > 2, "the server never dropped a connection"
