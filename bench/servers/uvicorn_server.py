"""uvicorn benchmark server: a raw ASGI 3 app, no framework.

uvicorn's benchmark configuration: ``http="httptools"``, ``loop="uvloop"``
(always, whatever ``--uvloop`` says), ``ws="websockets-sansio"`` (what its
``ws="auto"`` picks), ``access_log=False``, ``log_level="warning"``,
``lifespan="off"``, ``ws_max_size`` raised to 32 MiB,
``ws_per_message_deflate=False`` (uvicorn's default ``True`` with
``--compression``). ASGI has no broadcast primitive, so no ``/broadcast``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from _common import HELLO, MAX_MESSAGE_SIZE, parse_args, run, serve_uvicorn

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
BODY = {"type": "http.response.body", "body": HELLO}
ACCEPT = {"type": "websocket.accept"}


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(BODY)
    elif scope["type"] == "websocket":
        if scope["path"] != "/echo":
            await send({"type": "websocket.close"})
            return
        await receive()  # websocket.connect
        await send(ACCEPT)
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return  # websocket.disconnect
            text = event.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": event["bytes"]})


async def main(host: str, port: int, compression: bool) -> None:
    config = uvicorn.Config(
        app, host=host, port=port,
        http="httptools", loop="uvloop", ws="websockets-sansio",
        lifespan="off", access_log=False, log_level="warning",
        ws_max_size=MAX_MESSAGE_SIZE, ws_per_message_deflate=compression,
    )
    await serve_uvicorn(config, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port, args.compression), use_uvloop=True)
