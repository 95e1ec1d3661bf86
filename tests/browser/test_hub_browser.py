"""LongwireHub (hub.js) in headless Chromium against a real ``longwire.hub.Hub``.

Each transport forced one at a time: subscribe, publications from the server
and from the page, RPC both ways, direct messages, server-side subscriptions,
presence between two pages, recovery after the hub drops every connection,
a gap mended by resubscribing, and a failed recovery reported as a reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from browser_testing import BrowserThread, console_errors
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from longwire import App, Response
from longwire.aio import Server, ServerConfig
from longwire.hub import Hub, HubClient
from longwire.jsonrpc import RPCError

pytestmark = pytest.mark.browser

CONFIG = ServerConfig(access_log=False)
TRANSPORTS = ["websocket", "sse", "streaming", "polling"]
WAIT_MS = 10_000  # for one expected event in the page

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><link rel="icon" href="data:,">
<title>longwire hub</title>
<script src="/rt/longwire.js"></script>
<script>
"use strict";
window.ev = [];
window.connectHub = (transport) => new Promise((resolve) => {
  const hub = window.hub = new LongwireHub("/rt", {
    transports: [transport], timeout: 5000, connectTimeout: 3000,
    minReconnectDelay: 20, maxReconnectDelay: 200,
    methods: {
      add: (a, b) => a + b,
      greet: (params) => "hello " + params.name,
      fail: () => { throw {code: 42, message: "nope", data: {why: "test"}}; },
      crash: () => { throw new Error("boom"); },
      later: async () => { await new Promise((r) => setTimeout(r, 20)); return "done"; },
    },
  });
  hub.onconnect = (info) => {
    ev.push(["connect", info.transport, info.client]);
    resolve(hub.client);
  };
  hub.ondisconnect = () => ev.push(["disconnect"]);
  hub.onmessage = (data) => ev.push(["message", data]);
  hub.onerror = (error) => ev.push(["error", String(error)]);
  hub.onsubscribe = (sub) => { ev.push(["server-subscribe", sub.channel]); watch(sub); };
});
window.watch = (sub) => {
  const ch = sub.channel;
  sub.onpublication = (data, pos) => ev.push(["pub", ch, data, pos.offset]);
  sub.onjoin = (m) => ev.push(["join", ch, m.client, m.user]);
  sub.onleave = (m) => ev.push(["leave", ch, m.client]);
  sub.onsubscribed = (s) => ev.push(["subscribed", ch, s.recovered, s.offset]);
  sub.onreset = (r) => ev.push(["reset", ch, r.offset]);
  sub.onunsubscribed = (r) => ev.push(["unsubscribed", ch]);
  sub.onerror = (e) => ev.push(["sub-error", ch, e.code]);
  return sub;
};
window.subscribe = (ch, options) => new Promise((resolve) => {
  const sub = watch(hub.subscribe(ch, options));
  const first = sub.onsubscribed;
  sub.onsubscribed = (s) => { first(s); resolve(s); };
  sub.onerror = (e) => { ev.push(["sub-error", ch, e.code]); resolve({error: e.code}); };
});
window.pubs = (ch) => ev.filter((e) => e[0] === "pub" && e[1] === ch).map((e) => e[2]);
window.count = (kind) => ev.filter((e) => e[0] === kind).length;
window.settle = async (error) => error ? {name: error.name, code: error.code, data: error.data,
                                              message: error.message} : null;
</script>
</html>
"""


def hub_app() -> tuple[App, Hub]:
    hub = Hub(heartbeat=0.5, poll_timeout=1.0, presence_ttl=1.0)
    hub.channel("room:*", history_size=50, presence=True, publish=True)
    hub.channel("tiny:*", history_size=2, publish=True)
    hub.channel("secret:*", subscribe=False, history_size=10)

    @hub.method("echo")
    async def echo(client: HubClient, *params: Any) -> dict[str, Any]:
        return {"client": client.id, "params": list(params)}

    @hub.method("refuse")
    def refuse(client: HubClient) -> None:
        raise RPCError(4000, "refused", {"because": "test"})

    app = App()

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE)

    app.mount("/rt", hub)
    return app, hub


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


Scenario = Callable[[Callable[[], Awaitable[Page]], Hub], Awaitable[Any]]


def run_hub(browser: BrowserThread, scenario: Scenario, timeout: float = 40) -> Any:
    """Serve a hub app, and run ``scenario(new_page, hub)``; pages must stay error-free."""

    async def main(context: BrowserContext) -> Any:
        app, hub = hub_app()
        errors: list[str] = []
        async with Server(app, port=0, config=CONFIG) as server:
            pages: list[tuple[Page, list[str]]] = []

            async def new_page() -> Page:
                page = await context.new_page()
                pages.append((page, console_errors(page)))
                await page.goto(f"http://127.0.0.1:{server.port}/")
                return page

            try:
                result = await scenario(new_page, hub)
            finally:
                for page, _ in pages:
                    await page.evaluate("window.hub && window.hub.close()")
                    await page.close()
                await hub.close()
            for _, page_errors in pages:
                # Dropped connections show on the console as failed loads; no
                # script error may.
                errors.extend(e for e in page_errors if e.startswith("uncaught"))
        assert errors == []
        return result

    return browser.run(main, timeout=timeout)


async def until(page: Page, expression: str, arg: Any = None) -> None:
    """Wait for ``expression`` to be true in ``page``; on a timeout, show its events."""
    try:
        await page.wait_for_function(expression, arg=arg, timeout=WAIT_MS)
    except PlaywrightError as exc:
        state = await page.evaluate("[window.hub && hub.state, window.hub && hub.transport, ev]")
        raise AssertionError(f"{expression} never held: {state}") from exc


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_publications_rpc_and_messages(browser: BrowserThread, transport: str) -> None:
    async def scenario(new_page: Callable[[], Awaitable[Page]], hub: Hub) -> None:
        page = await new_page()
        client = await page.evaluate("(t) => connectHub(t)", transport)
        assert await page.evaluate("[hub.transport, hub.state, hub.client]") == [
            transport,
            "connected",
            client,
        ]
        subscribed = await page.evaluate("subscribe('room:a')")
        assert subscribed == {"recovered": True, "epoch": subscribed["epoch"], "offset": 0}

        # From the server, then from the page: in order, each once.
        await hub.publish("room:a", {"n": 1})
        await hub.publish("room:a", {"n": 2})
        await until(page, "pubs('room:a').length >= 2")
        published = await page.evaluate("hub.subscriptions.get('room:a').publish({n: 3})")
        assert published == {"epoch": subscribed["epoch"], "offset": 3}
        await until(page, "pubs('room:a').length >= 3")
        assert await page.evaluate("pubs('room:a')") == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert await page.evaluate("hub.subscriptions.get('room:a').position") == {
            "epoch": subscribed["epoch"],
            "offset": 3,
        }
        history = await page.evaluate("hub.subscriptions.get('room:a').history({limit: 2})")
        assert [p["data"] for p in history["publications"]] == [{"n": 2}, {"n": 3}]
        assert (history["offset"], history["epoch"]) == (3, subscribed["epoch"])

        # Client to server calls: a result, the application's error, unknown, refused.
        assert await page.evaluate("hub.call('echo', [1, 'two'])") == {
            "client": client,
            "params": [1, "two"],
        }
        refused = await page.evaluate("hub.call('refuse').then(() => null, settle)")
        assert (refused["code"], refused["data"]) == (4000, {"because": "test"})
        unknown = await page.evaluate("hub.call('nothing').then(() => null, settle)")
        assert unknown["code"] == -32601
        forbidden = await page.evaluate("subscribe('secret:x')")
        assert forbidden == {"error": -32003}
        no_publish = await page.evaluate(
            "hub.call('publish', {ch: 'secret:x', data: 1}).then(() => null, settle)"
        )
        assert no_publish["code"] == -32003

        # Server to client: a direct message, calls answered from `methods`.
        await hub.send(client, {"hello": "you"})
        await until(page, "count('message') >= 1")
        events = await page.evaluate("ev")
        assert ["message", {"hello": "you"}] in events
        assert [e for e in events if e[0] in ("connect", "disconnect", "error")] == [
            ["connect", transport, client],
        ]
        assert await hub.call(client, "add", [2, 3], timeout=5) == 5
        assert await hub.call(client, "greet", {"name": "Ada"}, timeout=5) == "hello Ada"
        assert await hub.call(client, "later", timeout=5) == "done"
        with pytest.raises(RPCError) as failed:
            await hub.call(client, "fail", timeout=5)
        assert (failed.value.code, failed.value.message, failed.value.data) == (
            42,
            "nope",
            {"why": "test"},
        )
        with pytest.raises(RPCError) as crashed:
            await hub.call(client, "crash", timeout=5)
        assert crashed.value.code == -32603
        with pytest.raises(RPCError) as missing:
            await hub.call(client, "missing", timeout=5)
        assert missing.value.code == -32601

        # A server-side subscription to a channel the page may not choose itself
        # (over HTTP each downstream request carries its grant).
        await hub.subscribe(client, "secret:x")
        await until(page, "ev.some((e) => e[0] === 'subscribed' && e[1] === 'secret:x')")
        await hub.publish("secret:x", "classified")
        await until(page, "pubs('secret:x').length >= 1")
        await hub.unsubscribe(client, "secret:x")
        await until(page, "count('unsubscribed') >= 1")
        assert await page.evaluate("hub.subscriptions.has('secret:x')") is False

        assert ["server-subscribe", "secret:x"] in await page.evaluate("ev")

    run_hub(browser, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_presence_between_two_pages(browser: BrowserThread, transport: str) -> None:
    async def scenario(new_page: Callable[[], Awaitable[Page]], hub: Hub) -> None:
        ada, bob = await new_page(), await new_page()
        ada_id = await ada.evaluate("(t) => connectHub(t)", transport)
        await ada.evaluate("subscribe('room:p')")
        bob_id = await bob.evaluate("(t) => connectHub(t)", transport)
        await bob.evaluate("subscribe('room:p')")
        await until(ada, "(id) => ev.some((e) => e[0] === 'join' && e[2] === id)", bob_id)
        members = await bob.evaluate("hub.subscriptions.get('room:p').presence()")
        assert set(members) == {ada_id, bob_id}
        assert members[ada_id] == {"user": None, "info": None}
        await bob.evaluate("hub.subscriptions.get('room:p').unsubscribe()")
        await until(ada, "(id) => ev.some((e) => e[0] === 'leave' && e[2] === id)", bob_id)
        assert set(await hub.presence("room:p")) == {ada_id}

    run_hub(browser, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_recovery_after_the_hub_drops_connections(browser: BrowserThread, transport: str) -> None:
    async def scenario(new_page: Callable[[], Awaitable[Page]], hub: Hub) -> None:
        page = await new_page()
        client = await page.evaluate("(t) => connectHub(t)", transport)
        await page.evaluate("subscribe('room:r')")
        sent = 0
        for cycle in range(3):
            for _ in range(5):
                sent += 1
                await hub.publish("room:r", sent)
            await until(page, "(n) => pubs('room:r').length >= n", sent)
            # Ends every connection (WebSocket: closed; HTTP: the response ends);
            # the broker keeps the history, so the page recovers what it missed.
            await hub.close()
            for _ in range(5):
                sent += 1
                await hub.publish("room:r", sent)
            await hub.send(client, f"direct {sent}")
            if transport != "polling":  # polling just polls again: no disconnection
                await until(page, "(n) => count('connect') >= n", cycle + 2)
            await asyncio.sleep(0.05)
        await until(page, "(n) => pubs('room:r').length >= n", sent)
        await until(page, "count('message') >= 3")
        await asyncio.sleep(0.3)  # a duplicate would show up now
        assert await page.evaluate("pubs('room:r')") == list(range(1, sent + 1))
        events = await page.evaluate("ev")
        directs = [e[1] for e in events if e[0] == "message"]
        assert directs == ["direct 10", "direct 20", "direct 30"]
        assert not [e for e in events if e[0] in ("reset", "error", "sub-error")]
        assert await page.evaluate("hub.client") == client  # the same client throughout
        if transport != "polling":
            assert await page.evaluate("[count('disconnect'), count('connect')]") == [3, 4]
        assert await page.evaluate("[hub.state, hub.transport]") == ["connected", transport]

    run_hub(browser, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gap_and_reset(browser: BrowserThread, transport: str) -> None:
    async def scenario(new_page: Callable[[], Awaitable[Page]], hub: Hub) -> None:
        page = await new_page()
        await page.evaluate("(t) => connectHub(t)", transport)
        await page.evaluate("subscribe('room:g')")
        # Lose publication 2 on its way in: 3 shows a gap, the page asks again.
        await page.evaluate("""() => {
          const sub = hub.subscriptions.get('room:g');
          const take = sub._take.bind(sub);
          let lost = false;
          sub._take = (pub) => { if (pub.o === 2 && !lost) { lost = true; return; } take(pub); };
        }""")
        for n in (1, 2, 3):
            await hub.publish("room:g", n)
        await until(page, "pubs('room:g').length >= 3")
        await hub.publish("room:g", 4)
        await until(page, "pubs('room:g').length >= 4")
        assert await page.evaluate("pubs('room:g')") == [1, 2, 3, 4]
        recovered = [
            e for e in await page.evaluate("ev") if e[0] == "subscribed" and e[1] == "room:g"
        ]
        assert recovered == [["subscribed", "room:g", True, 0], ["subscribed", "room:g", True, 3]]

        # A position the hub no longer has (another epoch): a reset, then live again.
        for n in range(5):
            await hub.publish("tiny:t", n)
        answer = await page.evaluate("subscribe('tiny:t', {since: {epoch: 'gone', offset: 1}})")
        assert answer == {"recovered": False, "epoch": answer["epoch"], "offset": 5}
        assert ["reset", "tiny:t", 5] in await page.evaluate("ev")
        await hub.publish("tiny:t", "after")
        await until(page, "pubs('tiny:t').length >= 1")
        assert await page.evaluate("pubs('tiny:t')") == ["after"]

    run_hub(browser, scenario)


def test_fallback_when_websocket_fails(browser: BrowserThread) -> None:
    async def scenario(new_page: Callable[[], Awaitable[Page]], hub: Hub) -> None:
        page = await new_page()
        # A server without the WebSocket route: the page falls back to SSE.
        await page.evaluate("""() => {
          const RealWebSocket = window.WebSocket;
          window.WebSocket = function (url, protocols) {
            return new RealWebSocket(url.replace('/rt/ws', '/nowhere'), protocols);
          };
        }""")
        await page.evaluate("() => { connectHub('websocket'); }")  # only websocket: never connects
        await asyncio.sleep(0.3)
        assert await page.evaluate("[hub.state, count('connect')]") == ["connecting", 0]
        await page.evaluate("hub.close()")
        await page.evaluate("""() => new Promise((resolve) => {
          const hub = window.hub = new LongwireHub('/rt', {connectTimeout: 3000});
          hub.onconnect = () => resolve();
        })""")
        assert await page.evaluate("hub.transport") == "sse"
        assert await page.evaluate("hub.call('ping')") == "pong"

    run_hub(browser, scenario)
