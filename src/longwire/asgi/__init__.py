"""Serve ASGI 3 applications (Starlette, FastAPI, Django, ...) with longwire's server.

``longwire serve module:app`` detects an ASGI app and wraps it in ``ASGIApp``;
in code, ``Server(ASGIApp(app))``. HTTP requests are answered from the http1
core's events on a fast path (``_http``), WebSockets through the server's own
``ServerWebSocket`` (``_websocket``), and the lifespan protocol runs around
the server's startup and shutdown (``_lifespan``). A native ``App`` can also
mount an ASGI app under a path: ``app.mount("/legacy", asgi_app)``.

See docs/asgi.md for what is supported, and how to migrate from uvicorn.
"""

from ._adapter import ASGIApp, check_asgi3
from ._http import ClientDisconnected
from ._proxy import DEFAULT_FORWARDED_ALLOW_IPS, TrustedProxies

__all__ = [
    "DEFAULT_FORWARDED_ALLOW_IPS",
    "ASGIApp",
    "ClientDisconnected",
    "TrustedProxies",
    "check_asgi3",
]
