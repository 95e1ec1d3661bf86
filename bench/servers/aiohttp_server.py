"""aiohttp.web benchmark server.

``GET /`` returns ``web.Response`` (text/plain, keep-alive); ``/echo`` is a
``web.WebSocketResponse`` echoing text as text and binary as binary;
``/broadcast`` relays each message to every ``/broadcast`` connection (the
sender included) with ``await send_str/send_bytes`` in a loop, aiohttp having no
broadcast helper. Settings: defaults (``autoping=True``, no heartbeat) except
``compress=False`` (``True``, aiohttp's default, with ``--compression``),
``max_msg_size`` raised to 32 MiB, and the access log off.
"""

from __future__ import annotations

from _common import HELLO, MAX_MESSAGE_SIZE, parse_args, run, serve_aiohttp
from aiohttp import WSMsgType, web

COMPRESSION = False
BROADCAST_GROUP: set[web.WebSocketResponse] = set()


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=HELLO, content_type="text/plain")


async def open_websocket(request: web.Request) -> web.WebSocketResponse:
    websocket = web.WebSocketResponse(compress=COMPRESSION, max_msg_size=MAX_MESSAGE_SIZE)
    await websocket.prepare(request)
    return websocket


async def echo(request: web.Request) -> web.WebSocketResponse:
    websocket = await open_websocket(request)
    async for message in websocket:
        if message.type is WSMsgType.TEXT:
            await websocket.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await websocket.send_bytes(message.data)
    return websocket


async def relay(request: web.Request) -> web.WebSocketResponse:
    websocket = await open_websocket(request)
    BROADCAST_GROUP.add(websocket)
    try:
        async for message in websocket:
            if message.type is WSMsgType.TEXT:
                for member in list(BROADCAST_GROUP):
                    await member.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                for member in list(BROADCAST_GROUP):
                    await member.send_bytes(message.data)
    finally:
        BROADCAST_GROUP.discard(websocket)
    return websocket


async def main(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/echo", echo)
    app.router.add_get("/broadcast", relay)
    await serve_aiohttp(app, host, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    COMPRESSION = args.compression
    run(main(args.host, args.port), args.uvloop)
