"""The built-in demo app that ``longwire serve`` runs when given no APP.

- ``GET /``: a chat (``static/chat.html``, inline CSS and JavaScript, no
  external assets) on the hub mounted at ``/rt``: rooms with history, who is
  online, typing indicators, over WebSocket or, where that fails, SSE,
  streaming or long polling (``/?transport=polling`` forces one).
- ``/rt/...``: the hub (docs/hub-protocol.md); the ``connect`` token is the
  display name, shown in presence (no accounts, no checks). Channels ``room:*`` keep their
  last 100 messages, have presence and take the clients' publications;
  ``typing:*`` take the clients' publications and keep nothing.
- ``GET /echo.html``: the WebSocket echo page (``static/demo.html``), which
  logs the messages both ways with ``/echo``.
- ``/echo``: a WebSocket endpoint that sends every message back as it came,
  text as text and binary as binary, with the server's default compression
  (permessage-deflate).

It is also importable: ``longwire serve longwire._demo_app:app``; and
``make_app(broker)`` builds it on another broker (``redis://...``: several
server processes share the chat).
"""

from __future__ import annotations

from importlib.resources import files

from ._version import __version__
from .aio import WebSocket
from .app import App, Request, Response
from .hub import Hub, Identity

__all__ = ["app", "chat_page", "make_app", "page"]

ROOM_HISTORY = 100
"""Messages a room keeps: what a newcomer sees, and what a client missing
longer than that no longer recovers."""
MAX_NAME = 32
"""Characters of a display name."""


def _static(name: str) -> str:
    html = files("longwire").joinpath("static", name).read_text(encoding="utf-8")
    return html.replace("__LONGWIRE_VERSION__", __version__)


def page() -> str:
    """The echo page's HTML, with the running longwire version filled in."""
    return _static("demo.html")


def chat_page() -> str:
    """The chat page's HTML, with the running longwire version filled in."""
    return _static("chat.html")


def _authenticate(request: object, token: str | None) -> Identity:
    """A demo has no accounts: the token is the display name the page chose."""
    name = " ".join((token or "").split())[:MAX_NAME]
    return Identity(user=name or None)


def make_app(broker: str = "memory://") -> App:
    """The demo app, its hub on ``broker`` (``memory://`` or ``redis://host:port``)."""
    hub = Hub(broker, authenticate=_authenticate)
    hub.channel("room:*", history_size=ROOM_HISTORY, presence=True, publish=True)
    hub.channel("typing:*", publish=True)  # ephemeral: no history
    demo = App()
    chat_html = chat_page()
    echo_html = page()

    @demo.get("/")
    async def index(request: Request) -> Response:
        """The chat."""
        return Response.html(chat_html, headers=[("Cache-Control", "no-cache")])

    @demo.get("/echo.html")
    async def echo_page(request: Request) -> Response:
        """The page that talks to ``/echo``."""
        return Response.html(echo_html, headers=[("Cache-Control", "no-cache")])

    @demo.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        """Send each message back, text as text, binary as binary, until the client closes."""
        async for message in ws:
            await ws.send(message)

    demo.mount("/rt", hub)
    return demo


app = make_app()
