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
from ._auth import AuthResult, BasicAuth, DigestAuth, MultiAuth, StaticUsers, hash_password
from ._auth_guard import Authenticate, require_auth
from ._coding import ContentCodingError, DecodedContentTooLarge, UnsupportedContentCoding
from ._compression import Compression
from ._conditional import content_etag
from ._cookies import InvalidCookieError
from ._cors import CORSPolicy
from ._cors_middleware import CORS
from ._errors import HTTPError
from ._file_response import FileResponse, check_preconditions
from ._forms import (
    FormData,
    FormError,
    FormTooLargeError,
    MalformedFormError,
    UnsupportedFormTypeError,
)
from ._multipart import FormLimits, UploadFile
from ._negotiation import add_vary, best_charset, best_language, best_media_type
from ._request import Request
from ._response import Response, StreamingResponse
from ._routing import UNSET, Route, Router, WebSocketRoute
from ._sse import EventStream, SSEEndpoint
from ._static import StaticFiles

__all__ = [
    "CORS",
    "UNSET",
    "App",
    "AuthResult",
    "Authenticate",
    "BasicAuth",
    "CORSPolicy",
    "Compression",
    "ContentCodingError",
    "DecodedContentTooLarge",
    "DigestAuth",
    "EventStream",
    "FileResponse",
    "FormData",
    "FormError",
    "FormLimits",
    "FormTooLargeError",
    "HTTPError",
    "InvalidCookieError",
    "MalformedFormError",
    "MultiAuth",
    "Request",
    "Response",
    "Route",
    "Router",
    "SSEEndpoint",
    "StaticFiles",
    "StaticUsers",
    "StreamingResponse",
    "UnsupportedContentCoding",
    "UnsupportedFormTypeError",
    "UploadFile",
    "WebSocketRoute",
    "add_vary",
    "best_charset",
    "best_language",
    "best_media_type",
    "check_preconditions",
    "content_etag",
    "hash_password",
    "require_auth",
]
