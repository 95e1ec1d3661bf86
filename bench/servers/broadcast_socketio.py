"""python-socketio broadcast server: ``await sio.emit("m", payload(i))`` to all, per message.

``socketio.AsyncServer`` with its defaults (no message queue, ping interval 25
s, no logging), one event ``m`` emitted to all the clients of namespace ``/``
(``emit`` encodes the packet once and sends it to each participant). Served by
``--backend``:

- ``uvicorn``: ``socketio.ASGIApp`` on uvicorn with ``loop="uvloop"``,
  ``http="httptools"``, ``ws="websockets-sansio"`` (as ``uvicorn_server.py``),
  ``ws_per_message_deflate=False``, access log and lifespan off;
- ``aiohttp``: ``sio.attach(web.Application())`` on aiohttp's ``AppRunner``,
  access log off, the default asyncio loop (uvloop with ``--uvloop``).

Clients speak Engine.IO 4 / Socket.IO 5 over a WebSocket from the start
(``/socket.io/?EIO=4&transport=websocket``): receive ``0{…}``, send ``40``,
receive ``40{…}``, then ``42["m","…"]`` per message (and ``2`` pings, answered
``3``). ``COUNT``: the clients whose ``connect`` handler ran.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import socketio
from _common import raise_nofile_limit, serve_aiohttp, serve_uvicorn
from broadcast_common import parse_args, payload, serve_control

CONNECTED: set[str] = set()


def build_sio(async_mode: str) -> socketio.AsyncServer:
    sio = socketio.AsyncServer(async_mode=async_mode)

    @sio.event
    async def connect(sid: str, environ: Any) -> None:
        CONNECTED.add(sid)

    @sio.event
    async def disconnect(sid: str, *_: Any) -> None:
        CONNECTED.discard(sid)

    return sio


async def serve(args: Any) -> None:
    sio = build_sio("asgi" if args.backend == "uvicorn" else "aiohttp")

    async def publish(first: int, count: int) -> None:
        for index in range(first, first + count):
            await sio.emit("m", payload(index))

    await serve_control(args.host, args.control_port, publish, lambda: len(CONNECTED))
    if args.backend == "uvicorn":
        import uvicorn

        config = uvicorn.Config(
            socketio.ASGIApp(sio),
            host=args.host,
            port=args.port,
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            access_log=False,
            lifespan="off",
            log_level="warning",
        )
        await serve_uvicorn(config, args.port)
    else:
        from aiohttp import web

        app = web.Application()
        sio.attach(app)
        await serve_aiohttp(app, args.host, args.port)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    raise_nofile_limit()
    if args.backend == "uvicorn":
        import uvloop

        uvloop.run(serve(args))  # uvicorn's loop="uvloop": the same loop
    elif args.uvloop:
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
