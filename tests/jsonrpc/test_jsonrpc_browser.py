"""jsonrpc.js in a real browser: headless Chromium loads it, calls an ``App.jsonrpc``
route's methods, and answers the server's calls, over a browser WebSocket.

Chromium is the system's, driven through Playwright's async API on the same event
loop as the server (see tests/browser/browser_testing.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext

import longwire.realtime
from longwire import App, Response
from longwire.aio import Server, ServerConfig
from longwire.jsonrpc import JsonRpcConnection, RPCError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from browser_testing import BrowserThread, console_errors

pytestmark = pytest.mark.browser

JSONRPC_JS = Path(longwire.realtime.__file__).parent / "static" / "jsonrpc.js"

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><link rel="icon" href="data:,">
<title>longwire JSON-RPC</title>
<script src="/jsonrpc.js"></script>
</html>
"""

# Runs in the page: connects, answers the server's calls from `methods`, calls
# the server's methods (one by one, concurrently, failing), then closes.
SCRIPT = """async () => {
  const ws = new WebSocket(`ws://${location.host}/rpc`, "jsonrpc");
  const served = [];
  const rpc = new Longwire.JsonRpc(ws, {
    timeout: 5000,
    methods: {
      "client.greet": async (name) => { served.push(name); return `hi ${name} from the page`; },
      "client.refuse": () => { throw {code: 4000, message: "refused", data: {why: "test"}}; },
      "client.note": (params) => { served.push(params.note); },
    },
  });
  // Called while the socket is still connecting: queued until it opens.
  const sum = await rpc.call("add", [2, 3]);
  const named = await rpc.call("add", {a: 10, b: 5});
  const many = await Promise.all([1, 2, 3, 4, 5].map((n) => rpc.call("add", [n, n])));
  let failed = null;
  try { await rpc.call("divide", [1, 0]); } catch (e) {
    failed = {isRPCError: e instanceof Longwire.RPCError, code: e.code, message: e.message,
              data: e.data === undefined ? null : e.data};
  }
  let missing = null;
  try { await rpc.call("nope"); } catch (e) { missing = e.code; }
  rpc.notify("remember", ["from the page"]);
  const serverSide = await rpc.call("ask_the_page");
  const subprotocol = ws.protocol;
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  ws.close(1000);
  const pendingAfter = rpc.pending;
  return {sum, named, many, failed, missing, served, serverSide, subprotocol,
          closeCode: await closed, pendingAfter};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


def rpc_app(remembered: list[Any]) -> App:
    app = App()

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE)

    @app.get("/jsonrpc.js")
    def script(request: Any) -> Response:
        return Response(JSONRPC_JS.read_bytes(), content_type="text/javascript")

    rpc = app.jsonrpc("/rpc")

    @rpc.method()
    def add(a: int, b: int) -> int:
        return a + b

    @rpc.method()
    def divide(a: int, b: int) -> float:
        if b == 0:
            raise RPCError(-32001, "division by zero", {"a": a})
        return a / b

    @rpc.method()
    def remember(text: str) -> None:
        remembered.append(text)

    @rpc.method(context=True)
    async def ask_the_page(conn: JsonRpcConnection) -> list[Any]:
        # Server-to-client calls while the page awaits this one.
        greeting = await conn.call("client.greet", ["server"])
        try:
            await conn.call("client.refuse")
        except RPCError as exc:
            refused: Any = [exc.code, exc.message, exc.data]
        try:
            await conn.call("client.absent")
        except RPCError as exc:
            absent = exc.code
        await conn.notify("client.note", {"note": "noted"})
        return [greeting, refused, absent]

    return app


def test_page_calls_server_and_answers_its_calls(browser: BrowserThread) -> None:
    remembered: list[Any] = []

    async def main(context: BrowserContext) -> dict[str, Any]:
        config = ServerConfig(access_log=False)
        async with Server(rpc_app(remembered), port=0, config=config) as server:
            page = await context.new_page()
            errors = console_errors(page)
            await page.goto(f"http://127.0.0.1:{server.port}/")
            result: dict[str, Any] = await page.evaluate(SCRIPT)
            assert errors == []
            return result

    result = browser.run(main)
    assert result["sum"] == 5
    assert result["named"] == 15
    assert result["many"] == [2, 4, 6, 8, 10]
    assert result["failed"] == {
        "isRPCError": True, "code": -32001, "message": "division by zero", "data": {"a": 1},
    }
    assert result["missing"] == -32601
    assert result["serverSide"] == [
        "hi server from the page", [4000, "refused", {"why": "test"}], -32601,
    ]
    # The notification came before the answer to ask_the_page, so it was handled first.
    assert result["served"] == ["server", "noted"]
    assert result["subprotocol"] == "jsonrpc"
    assert result["closeCode"] == 1000
    assert result["pendingAfter"] == 0
    assert remembered == ["from the page"]


def test_page_answers_a_raw_batch_from_the_server(browser: BrowserThread) -> None:
    """The server sends a batch (through the peer's transport directly): one array back."""
    app = App()
    answers: list[Any] = []

    @app.get("/")
    def index(request: Any) -> Response:
        return Response.html(PAGE)

    @app.get("/jsonrpc.js")
    def script(request: Any) -> Response:
        return Response(JSONRPC_JS.read_bytes(), content_type="text/javascript")

    @app.websocket("/raw", subprotocols=["jsonrpc"])
    async def raw(ws: Any) -> None:
        await ws.send(
            '[{"jsonrpc":"2.0","method":"double","params":[21],"id":1},'
            '{"jsonrpc":"2.0","method":"double","params":[1]},'
            '{"jsonrpc":"2.0","method":"missing","id":"m"},{"x":1}]'
        )
        answers.append(await ws.recv())
        await ws.send("[]")
        answers.append(await ws.recv())
        await ws.send("not json")
        answers.append(await ws.recv())
        await ws.close()

    async def main(context: BrowserContext) -> None:
        config = ServerConfig(access_log=False)
        async with Server(app, port=0, config=config) as server:
            page = await context.new_page()
            errors = console_errors(page)
            await page.goto(f"http://127.0.0.1:{server.port}/")
            await page.evaluate("""() => new Promise((resolve) => {
              const ws = new WebSocket(`ws://${location.host}/raw`, "jsonrpc");
              new Longwire.JsonRpc(ws, {methods: {double: (x) => 2 * x}});
              ws.addEventListener("close", resolve);
            })""")
            assert errors == []

    browser.run(main)
    assert answers == [
        '[{"jsonrpc":"2.0","result":42,"id":1},'
        '{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"m"},'
        '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}]',
        '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}',
        '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}',
    ]
