"""The application layer: routes, requests, responses, middleware, WebSocket endpoints.

::

    from longwire.app import App, HTTPError

    app = App()

    @app.get("/")
    async def index(request):
        return "Hello, world!\\n"

    @app.get("/users/{user_id:int}")
    async def user(request):
        user_id = request.path_params["user_id"]
        if user_id != 1:
            raise HTTPError(404, f"no user {user_id}")
        return {"id": user_id, "name": "Ada"}

    @app.websocket("/chat")
    async def chat(websocket):
        ...

A handler returns a ``Response`` or a ``str``, ``bytes``, ``dict``/``list``
(JSON) or ``None`` (204). The server calls ``app.handle(request)``.
``StaticFiles(directory)`` is a handler serving a directory's files.
"""

from ._app import App
from ._errors import HTTPError
from ._request import Request
from ._response import Response, StreamingResponse
from ._routing import UNSET, Route, Router, WebSocketRoute
from ._static import StaticFiles

__all__ = [
    "UNSET",
    "App",
    "HTTPError",
    "Request",
    "Response",
    "Route",
    "Router",
    "StaticFiles",
    "StreamingResponse",
    "WebSocketRoute",
]
