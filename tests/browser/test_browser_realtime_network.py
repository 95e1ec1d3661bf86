"""longwire.js in headless Chromium across hostile networks and origins.

- Dead-connection detection, per transport: an asyncio TCP proxy between
  Chromium and the server *freezes* its current connections (nothing forwarded
  either way, no socket closed: a silent dead network, not a drop) while new
  connections still go through. The client must take the connection for dead
  within the documented bound, reconnect through the proxy and resume the same
  session, every message arriving exactly once and in order both ways.
- Cross-origin sessions with cookies: the page on one server, ``Sessions`` on
  another behind ``CORS`` with credentials; the cookie reaches the session's
  opening request on every transport, and a page from an origin not allowed
  cannot open a WebSocket session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from browser_testing import BrowserThread, console_errors
from playwright.async_api import BrowserContext

from longwire import App, Response
from longwire.aio import Server, ServerConfig
from longwire.app import CORS
from longwire.realtime import Session, Sessions

pytestmark = pytest.mark.browser

CONFIG = ServerConfig(access_log=False)
TRANSPORT_NAMES = ["websocket", "sse", "streaming", "polling"]

HEARTBEAT = 0.2  # s, the client's and the server's
POLL_TIMEOUT = 0.4  # s
# The client's documented silence bounds (s) before it takes a connection for dead.
DEAD_AFTER = {
    "websocket": 2 * HEARTBEAT + 1,
    "sse": 2 * HEARTBEAT + 1,
    "streaming": 2 * HEARTBEAT + 1,
    "polling": POLL_TIMEOUT + HEARTBEAT + 1,
}
MARGIN = 0.6  # s: the watchdog's period (heartbeat / 4), scheduling, a loaded machine

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><link rel="icon" href="data:,">
<title>longwire realtime network</title>
<script src="{script}"></script>
</html>
"""

# Both ways, a message every 40 ms until the server says "end"; then "end" back.
# `lwLost` (exposed by the test) hears every connection the client gives up on.
STEADY = """async ({transports, heartbeat}) => {
  const sock = new LongwireSocket("/rt", {transports, heartbeat, connectTimeout: 3000,
                                          reconnect: {minDelay: 20, maxDelay: 100}});
  const lost = sock._lost;
  sock._lost = function (conn, status) {
    if (conn === this._conn) window.lwLost(conn.name, status);
    return lost.call(this, conn, status);
  };
  const got = [];
  let done = null;
  const finished = new Promise((r) => { done = r; });
  sock.onmessage = (e) => { got.push(e.data); if (e.data === "end") done(); };
  await new Promise((r, j) => { sock.onopen = r; sock.onclose = j; });
  const id = sock.id;
  sock.send("go");
  let i = 0;
  const timer = setInterval(() => sock.send("c" + i++), 40);
  await finished;
  clearInterval(timer);
  sock.send("end");
  while (sock.bufferedAmount) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 150));  // any duplicate would show up now
  const result = {got, id, sent: i, transport: sock.transport, state: sock.readyState};
  sock.close(1000, "done");
  return result;
}"""


class FreezingProxy:
    """A TCP proxy to ``127.0.0.1:target`` whose current connections can be frozen.

    Frozen connections forward nothing more in either direction (not even an
    end of stream) and close nothing: to both ends the network went silent.
    Connections accepted later work normally.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.accepted = 0
        self.frozen = 0
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    def freeze(self) -> None:
        for link in self._links:
            link.frozen = True
        self.frozen = len(self._links)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for link in list(self._links):
            link.close()
        tasks = [link.task for link in self._links if link.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer)
        link.task = asyncio.current_task()
        self._links.append(link)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            link.close()
            return
        link.writers.append(up_writer)
        try:
            await asyncio.gather(_pipe(link, reader, up_writer), _pipe(link, up_reader, writer))
        finally:
            link.close()


class _Link:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writers = [writer]
        self.frozen = False
        self.released = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None

    def close(self) -> None:
        self.released.set()
        for writer in self.writers:
            writer.close()


async def _pipe(link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if link.frozen:
                await link.released.wait()  # silence until the test closes the link
                return
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if not link.frozen:
            link.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


# Dead-connection detection.


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_frozen_connection_is_detected_and_session_resumes(
    browser: BrowserThread, transport: str
) -> None:
    received: list[str | bytes] = []
    handled: list[Session] = []
    stop = asyncio.Event()

    app = App()

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE.format(script="/rt/longwire.js"))

    async def steady(session: Session) -> None:
        i = 0
        while not stop.is_set():
            await session.send(f"s{i}")
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.04)
        await session.send("end")

    async def handler(session: Session) -> None:
        handled.append(session)
        sender: asyncio.Task[None] | None = None
        try:
            async for message in session:
                received.append(message)
                if message == "go":
                    sender = asyncio.get_running_loop().create_task(steady(session))
        finally:
            if sender is not None:
                sender.cancel()

    async def main(context: BrowserContext) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        sessions = Sessions(app, "/rt", handler, heartbeat=HEARTBEAT, poll_timeout=POLL_TIMEOUT)
        lost: list[tuple[float, str, int]] = []
        async with Server(app, port=0, config=CONFIG) as server:
            proxy = FreezingProxy(server.port)
            await proxy.start()
            page = await context.new_page()
            script: asyncio.Task[Any] | None = None
            try:
                await page.expose_function(
                    "lwLost", lambda name, status: lost.append((loop.time(), name, status))
                )
                await page.goto(f"http://127.0.0.1:{proxy.port}/")
                script = loop.create_task(
                    page.evaluate(
                        STEADY, {"transports": [transport], "heartbeat": int(HEARTBEAT * 1000)}
                    )
                )
                # Messages flow both ways, then the network goes silent.
                async with asyncio.timeout(5):
                    while len(received) < 6 or len(handled) != 1:
                        await asyncio.sleep(0.01)
                session = handled[0]
                await asyncio.sleep(0.1)
                attached = session._attached
                accepted = proxy.accepted
                frozen_at = loop.time()
                proxy.freeze()
                # A new downstream connection for the same session, through the proxy.
                async with asyncio.timeout(DEAD_AFTER[transport] + 4):
                    while session._attached == attached or session.transport is None:
                        await asyncio.sleep(0.01)
                resumed_at = loop.time()
                sent_before = len(received)
                await asyncio.sleep(0.5)  # messages after the reconnect, both ways
                assert len(received) > sent_before + 3
                stop.set()
                result = await asyncio.wait_for(script, 10)
                await asyncio.sleep(0.1)
            finally:
                if script is not None:
                    script.cancel()
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await script
                await page.close()
                await sessions.close()
                await proxy.close()
        return {
            "result": result,
            "lost": [(at - frozen_at, name, status) for at, name, status in lost],
            "resumed": resumed_at - frozen_at,
            "session": session,
            "new_connections": proxy.accepted - accepted,
            "frozen": proxy.frozen,
        }

    out = browser.run(main, timeout=25)
    result = out["result"]
    session: Session = out["session"]
    bound = DEAD_AFTER[transport]
    # The client gave up on the frozen connection in time: its downstream watchdog
    # (status -2) or, over HTTP, an upstream POST unanswered for 2 x heartbeat + 1 s
    # (status 0), whichever came first; not before any of them could.
    [(noticed, name, status)] = out["lost"][:1]
    assert name == transport, out["lost"]
    assert status in ((-2,) if transport == "websocket" else (-2, 0)), out["lost"]
    assert 2 * HEARTBEAT + 1 - 0.3 <= noticed <= bound + MARGIN, out["lost"]
    # ...and reconnected at once through a new connection, to the same session.
    assert out["resumed"] <= bound + MARGIN + 1.0, out
    assert out["frozen"] >= 1
    assert out["new_connections"] >= 1
    assert handled == [session]
    assert result["id"] == session.id
    assert result["transport"] == transport
    assert result["state"] == 1
    # Exactly once, in order, both ways: before, during and after the freeze.
    got = result["got"]
    assert got[-1] == "end"
    assert got[:-1] == [f"s{i}" for i in range(len(got) - 1)]
    assert len(got) > 30
    assert received[0] == "go"
    assert received[-1] == "end"
    assert received[1:-1] == [f"c{i}" for i in range(result["sent"])]
    assert session.close_code == 1000


# Cross-origin sessions with cookies.

OPEN_CROSS = """async ({base, transport, login}) => {
  if (login) {
    const answer = await fetch(base + "/login", {credentials: "include"});
    if (!answer.ok) throw new Error("login: " + answer.status);
  }
  const sock = new LongwireSocket(base + "/rt", {
    transports: [transport], withCredentials: true, heartbeat: 1000, connectTimeout: 3000,
    reconnect: {minDelay: 20, maxDelay: 50, maxAttempts: 0}});
  const events = [];
  sock.onerror = () => events.push("error");
  const closed = new Promise((r) => {
    sock.onclose = (e) => { events.push("close"); r({code: e.code, clean: e.wasClean}); };
  });
  const opened = await Promise.race([
    new Promise((r) => { sock.onopen = () => r(true); }), closed.then(() => false)]);
  if (!opened) return {opened, events, close: await closed};
  const got = [];
  let wake = null;
  sock.onmessage = (e) => { got.push(e.data); if (wake) wake(); };
  sock.send("hello");
  sock.send("wörld");
  while (got.length < 2) await new Promise((r) => { wake = r; });
  const transportUsed = sock.transport;
  sock.close(1000, "bye");
  return {opened, events, got, transport: transportUsed, close: await closed};
}"""


def cross_origin(
    browser: BrowserThread, transport: str, *, allowed: bool
) -> tuple[dict[str, Any], list[Session], list[str]]:
    handled: list[Session] = []

    async def echo(session: Session) -> None:
        handled.append(session)
        async for message in session:
            await session.send(message)

    async def main(context: BrowserContext) -> tuple[dict[str, Any], list[str]]:
        page_app = App()

        @page_app.get("/")
        def index(request: Any) -> Response:
            return Response.html(PAGE.format(script=request.query["script"]))

        async with Server(page_app, port=0, config=CONFIG) as page_server:
            page_origin = f"http://127.0.0.1:{page_server.port}"
            allow = page_origin if allowed else "http://127.0.0.1:1"
            api = App()
            api.middleware(CORS([allow], allow_methods=["GET", "POST"], allow_credentials=True))

            @api.get("/login")
            def login(request: Any) -> Response:
                return Response.json({"ok": True}).set_cookie("sid", "s3cr3t", samesite="Lax")

            sessions = Sessions(api, "/rt", echo, heartbeat=1.0, origins=[allow])
            async with Server(api, port=0, config=CONFIG) as api_server:
                base = f"http://127.0.0.1:{api_server.port}"
                page = await context.new_page()
                errors = console_errors(page)
                try:
                    await page.goto(f"{page_origin}/?script={base}/rt/longwire.js")
                    result = await page.evaluate(
                        OPEN_CROSS, {"base": base, "transport": transport, "login": allowed}
                    )
                    await asyncio.sleep(0.1)
                finally:
                    await page.close()
                    await sessions.close()
        return result, errors

    result, errors = browser.run(main, timeout=15)
    return result, handled, errors


@pytest.mark.parametrize("transport", TRANSPORT_NAMES)
def test_cross_origin_session_with_cookie(browser: BrowserThread, transport: str) -> None:
    result, handled, errors = cross_origin(browser, transport, allowed=True)
    assert errors == []
    assert result["opened"] is True
    assert result["transport"] == transport
    assert result["got"] == ["hello", "wörld"]
    assert result["close"] == {"code": 1000, "clean": True}
    [session] = handled
    assert session.request.cookies.get("sid") == "s3cr3t"
    assert (session.close_code, session.close_reason) == (1000, "bye")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_cross_origin_session_refused(browser: BrowserThread, transport: str) -> None:
    # Over HTTP too: CORS alone would let the page's POST /open start a session
    # (and the handler) that the page cannot read; origins= refuses it with 403.
    result, handled, _errors = cross_origin(browser, transport, allowed=False)
    assert result["opened"] is False
    assert result["events"] == ["error", "close"]
    assert result["close"] == {"code": 1006, "clean": False}
    assert handled == []
