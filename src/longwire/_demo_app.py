"""The built-in demo app that ``longwire serve`` runs when given no APP.

- ``GET /``: an HTML page (``static/demo.html``, inline CSS and JavaScript, no
  external assets) that opens a WebSocket to ``/echo`` on the same host, ``ws://``
  or ``wss://`` as the page came, and logs the messages both ways.
- ``/echo``: a WebSocket endpoint that sends every message back as it came,
  text as text and binary as binary, with the server's default compression
  (permessage-deflate).

It is also importable: ``longwire serve longwire._demo_app:app``.
"""

from __future__ import annotations

from importlib.resources import files

from ._version import __version__
from .aio import WebSocket
from .app import App, Request, Response

__all__ = ["app", "page"]


def page() -> str:
    """The demo page's HTML, with the running longwire version filled in."""
    html = files("longwire").joinpath("static", "demo.html").read_text(encoding="utf-8")
    return html.replace("__LONGWIRE_VERSION__", __version__)


app = App()

_PAGE = page()


@app.get("/")
async def index(request: Request) -> Response:
    """The page that talks to ``/echo``."""
    return Response.html(_PAGE, headers=[("Cache-Control", "no-cache")])


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    """Send each message back, text as text, binary as binary, until the client closes."""
    async for message in ws:
        await ws.send(message)
