"""Handlers run inside a Task from their first step: asyncio.timeout() works at once."""

from __future__ import annotations

import asyncio

import websockets

from longwire import App
from longwire.aio import Server, ServerConfig


def test_http_and_websocket_handlers_may_start_with_asyncio_timeout():
    app = App()

    @app.get("/")
    async def index(request):
        async with asyncio.timeout(1):
            assert asyncio.current_task() is not None
            return "timed\n"

    @app.get("/waits")
    async def waits(request):
        async with asyncio.timeout(1):
            await asyncio.sleep(0.01)
        return "waited\n"

    @app.websocket("/ws")
    async def ws(websocket):
        async with asyncio.timeout(5):
            await websocket.send(await websocket.recv())

    async def main() -> None:
        async with Server(app, port=0, config=ServerConfig(access_log=False)) as server:
            for path, body in (("/", b"timed\n"), ("/waits", b"waited\n")):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                writer.write(head.encode())
                answer = await reader.read()
                writer.close()
                assert answer.startswith(b"HTTP/1.1 200 "), answer
                assert answer.endswith(body)
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as client:
                await client.send("echo")
                assert await client.recv() == "echo"

    asyncio.run(asyncio.wait_for(main(), 20))
