"""Sends of one loop turn are written together: one callback per turn for every
WebSocket of the loop (a broadcast schedules once, not once per connection),
and each connection's messages of the turn go out in one write."""

from __future__ import annotations

import asyncio

import websockets

from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.websocket import PreparedMessage

CLIENTS = 20


def test_a_broadcast_schedules_one_write_callback_and_every_client_gets_everything():
    app = App()
    connected: list = []
    everyone_in = asyncio.Event()

    @app.websocket("/ws")
    async def ws(websocket):
        await websocket.accept()
        connected.append(websocket)
        if len(connected) == CLIENTS:
            everyone_in.set()
        await websocket.wait_closed()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with Server(app, port=0, config=ServerConfig(access_log=False)) as server:
            url = f"ws://127.0.0.1:{server.port}/ws"
            clients = [await websockets.connect(url) for _ in range(CLIENTS)]
            await asyncio.wait_for(everyone_in.wait(), 5)
            for sock in connected:
                await sock.send("warm")  # each connection's first write out of the way
            for client in clients:
                assert await client.recv() == "warm"

            scheduled = 0
            call_soon = loop.call_soon

            def counting_call_soon(*args, **kwargs):
                nonlocal scheduled
                scheduled += 1
                return call_soon(*args, **kwargs)

            loop.call_soon = counting_call_soon  # type: ignore[method-assign]
            try:
                messages = [PreparedMessage(f"m{i}") for i in range(10)]
                for message in messages:
                    for sock in connected:
                        sock.send_prepared(message)
                assert scheduled == 1
                # A buffered_amount read per send is cheap and exact.
                assert all(sock.buffered_amount == 10 * 4 for sock in connected)
            finally:
                del loop.call_soon
            for client in clients:
                got = [await asyncio.wait_for(client.recv(), 5) for _ in range(10)]
                assert got == [f"m{i}" for i in range(10)]
            assert all(sock.buffered_amount == 0 for sock in connected)
            for client in clients:
                await client.close()

    asyncio.run(asyncio.wait_for(main(), 30))
