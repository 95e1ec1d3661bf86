"""A hub on a real server, and a minimal JSON-RPC client of it (WebSocket and HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import websockets

from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.hub import Hub

CONFIG = ServerConfig(access_log=False)


@contextlib.asynccontextmanager
async def serving(
    configure: Callable[[Hub], None] | None = None, **options: Any
) -> AsyncIterator[tuple[str, Hub]]:
    """A hub at /rt on a server on a free port: ``(base URL without scheme, hub)``."""
    app = App()
    hub = Hub(**options)
    if configure is not None:
        configure(hub)
    else:
        hub.channel("room:*", history_size=10, presence=True, publish=True)
    hub.longwire_mount(app, "/rt")
    async with Server(app, port=0, config=CONFIG) as server:
        try:
            yield f"127.0.0.1:{server.port}/rt", hub
        finally:
            await hub.close()


class WsClient:
    """The hub protocol over ``websockets``: calls, and notifications kept in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers: dict[int, asyncio.Future[Any]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())
        self.connected: dict[str, Any] = {}

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self.ws:
                message = json.loads(text)
                if "id" in message and "method" not in message:
                    self.answers.pop(message["id"]).set_result(message)
                else:
                    await self.notes.put(message)

    async def raw(self, method: str, params: Any = None) -> dict[str, Any]:
        """The whole response object."""
        call_id = next(self.ids)
        future = self.answers[call_id] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, 5)

    async def call(self, method: str, params: Any = None) -> Any:
        answer = await self.raw(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    async def note(self, method: str | None = None, timeout: float = 5) -> dict[str, Any]:
        """The next notification (of ``method``, skipping others)."""
        while True:
            message = await asyncio.wait_for(self.notes.get(), timeout)
            if method is None or message["method"] == method:
                return message

    async def stop_reading(self) -> None:
        """Stop the reader task: the test reads ``ws`` itself."""
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


@contextlib.asynccontextmanager
async def ws_client(base: str, *, connect: bool = True, **params: Any) -> AsyncIterator[WsClient]:
    """A WebSocket client of the hub, connected (``connect`` called with ``params``)."""
    async with websockets.connect(f"ws://{base}/ws", subprotocols=["jsonrpc"]) as ws:
        client = WsClient(ws)
        try:
            if connect:
                client.connected = await client.call("connect", params)
            yield client
        finally:
            client.reader.cancel()


class HttpClient:
    """The hub protocol over HTTP: POST /rpc up, poll/stream/sse down."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = f"http://{base}"
        self.http = http
        self.ids = itertools.count(1)
        self.session = ""
        self.positions: dict[str, tuple[str, int]] = {}

    async def raw(self, method: str, params: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self.ids), "method": method}
        if params is not None:
            message["params"] = params
        query = {"s": self.session} if self.session else {}
        async with self.http.post(f"{self.base}/rpc", params=query, json=message) as response:
            assert response.status == 200, await response.text()
            return await response.json()  # type: ignore[no-any-return]

    async def call(self, method: str, params: Any = None) -> Any:
        answer = await self.raw(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    async def connect(self, **params: Any) -> dict[str, Any]:
        result = await self.call("connect", params)
        self.session = result["session"]
        personal = result["personal"]
        self.positions[personal["ch"]] = (personal["e"], personal["o"])
        return result  # type: ignore[no-any-return]

    async def subscribe(self, channel: str) -> dict[str, Any]:
        result = await self.call("subscribe", {"ch": channel})
        self.positions[channel] = (result["e"], result["o"])
        return result  # type: ignore[no-any-return]

    def query(self) -> list[tuple[str, str]]:
        return [("s", self.session)] + [
            ("ch", f"{offset}.{epoch}.{channel}")
            for channel, (epoch, offset) in self.positions.items()
        ]

    def take(self, message: dict[str, Any]) -> None:
        if message["method"] == "pub":
            params = message["params"]
            self.positions[params["ch"]] = (params["e"], params["o"])

    async def poll(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.base}/poll", params=self.query()) as response:
            assert response.status == 200, await response.text()
            messages = await response.json()
        for message in messages:
            self.take(message)
        return messages  # type: ignore[no-any-return]

    async def stream(self, kind: str, want: int) -> list[dict[str, Any]]:
        """``want`` messages (other than open and hb) from an SSE or ndjson downstream."""
        path = "sse" if kind == "sse" else "stream"
        got: list[dict[str, Any]] = []
        async with self.http.get(f"{self.base}/{path}", params=self.query()) as response:
            assert response.status == 200
            async for raw in response.content:
                line = raw.decode().strip()
                if kind == "sse":
                    if not line.startswith("data: "):
                        continue
                    line = line[len("data: ") :]
                if not line:
                    continue
                message = json.loads(line)
                if message["method"] in ("open", "hb"):
                    continue
                self.take(message)
                got.append(message)
                if len(got) >= want:
                    break
        return got
