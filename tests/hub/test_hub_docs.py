"""docs/hub.md's example runs and does what the page says."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import websockets
from hub_testing import CONFIG, WsClient

from longwire.aio import Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "hub.md"


def example() -> dict:
    [code] = [
        block
        for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
        if block.startswith("# chat_hub.py")
    ]
    namespace: dict = {"__name__": "chat_hub"}
    exec(compile(code, "docs/hub.md", "exec"), namespace)
    return namespace


def test_the_chat_hub_example_serves_its_page_script_and_method():
    namespace = example()
    app, hub = namespace["app"], namespace["hub"]

    async def main() -> None:
        async with Server(app, port=0, config=CONFIG) as server:
            base = f"127.0.0.1:{server.port}"
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /rt/longwire.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            script = await reader.read()
            writer.close()
            assert b"200 OK" in script.split(b"\r\n")[0]
            assert b"LongwireHub" in script
            async with websockets.connect(f"ws://{base}/rt/ws", subprotocols=["jsonrpc"]) as ws:
                client = WsClient(ws)
                await client.call("connect")
                await client.call("subscribe", {"ch": "room:lobby"})
                offset = await client.call("shout", ["room:lobby", "hi"])
                pub = (await client.note("pub"))["params"]
                assert pub["o"] == offset
                assert pub["d"]["text"] == "HI"
                await client.stop_reading()
            await hub.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_the_generic_json_rpc_client_is_a_python_hub_client():
    from longwire.jsonrpc import Methods, connect

    namespace = example()
    app, hub = namespace["app"], namespace["hub"]

    async def main() -> None:
        received: asyncio.Queue = asyncio.Queue()
        methods = Methods()

        @methods.method()
        def pub(ch, e, o, d):
            received.put_nowait((ch, o, d))

        @methods.method()
        def join(**member):
            pass

        async with Server(app, port=0, config=CONFIG) as server:
            url = f"ws://127.0.0.1:{server.port}/rt/ws"
            async with connect(url, methods=methods) as client:
                me = (await client.call("connect"))["client"]
                await client.call("subscribe", {"ch": "room:lobby"})
                await hub.publish("room:lobby", {"text": "from the server"})
                assert await asyncio.wait_for(received.get(), 5) == (
                    "room:lobby",
                    1,
                    {"text": "from the server"},
                )
                assert await client.call("shout", ["room:lobby", "py"]) == 2
                assert (await asyncio.wait_for(received.get(), 5))[2]["from"] == me
            await hub.close()

    asyncio.run(asyncio.wait_for(main(), 20))
