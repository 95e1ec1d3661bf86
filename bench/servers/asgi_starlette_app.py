"""The Starlette app bench/asgi_bench.py serves with every ASGI server.

``GET /`` answers ``Hello, world!`` (``PlainTextResponse``: text/plain with
Content-Length); ``/echo`` is a WebSocket echo through Starlette's
``WebSocket`` that sends each message back as it came, text as text, bytes as
bytes. Not a server script: the servers import it as
``asgi_starlette_app:app`` from bench/servers (their working directory).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, world!")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None:
            await websocket.send_text(text)
        else:
            await websocket.send_bytes(message["bytes"])


app = Starlette(routes=[Route("/", hello), WebSocketRoute("/echo", echo)])
