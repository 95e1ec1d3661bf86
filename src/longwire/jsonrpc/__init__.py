"""JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over WebSocket, both ways.

::

    Layer                      What it is
    ─────────────────────────  ─────────────────────────────────────────────────
    parse / encode / ...       the wire format, sans I/O (``_codec``)
    Methods                    the methods one end serves, and how a call runs
    Peer                       one end of a connection over any ``send``/``feed``
    App.jsonrpc → JsonRpcEndpoint, JsonRpcConnection      the server's route
    connect → JsonRpcClient                               the client

Errors: ``RPCError`` (an error object, raised by methods and by calls) is a
``LongwireError``; a call on a closed connection raises ``ConnectionClosed``,
one without an answer in time ``TimeoutError``. See docs/jsonrpc.md.
"""

from ._client import JsonRpcClient, connect
from ._codec import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERLOADED,
    PARSE_ERROR,
    ErrorResponse,
    Id,
    InvalidMessage,
    Message,
    Notification,
    Params,
    Request,
    Response,
    RPCError,
    encode,
    notification,
    parse,
    request,
)
from ._link import SUBPROTOCOL
from ._methods import Methods
from ._peer import DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, DEFAULT_TIMEOUT, Peer, Send
from ._route import JsonRpcConnection, JsonRpcEndpoint, OnConnect

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "OVERLOADED",
    "PARSE_ERROR",
    "SUBPROTOCOL",
    "ErrorResponse",
    "Id",
    "InvalidMessage",
    "JsonRpcClient",
    "JsonRpcConnection",
    "JsonRpcEndpoint",
    "Message",
    "Methods",
    "Notification",
    "OnConnect",
    "Params",
    "Peer",
    "RPCError",
    "Request",
    "Response",
    "Send",
    "connect",
    "encode",
    "notification",
    "parse",
    "request",
]
