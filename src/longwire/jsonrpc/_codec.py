"""The JSON-RPC 2.0 wire format, sans I/O: text in, messages out, and back.

``parse`` never raises: what breaks the specification becomes an
``InvalidMessage`` (an ``ErrorResponse`` to send back), exactly as the
specification's section 7 examples answer. ``encode`` and the two fast helpers
``request`` and ``notification`` write compact JSON, members in the
specification's order (``jsonrpc``, ``method``, ``params``, ``id``;
``jsonrpc``, ``result`` or ``error``, ``id``).

Specification: https://www.jsonrpc.org/specification (cited as "§n").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from .._errors import LongwireError

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "OVERLOADED",
    "PARSE_ERROR",
    "ErrorResponse",
    "Id",
    "InvalidMessage",
    "Message",
    "Notification",
    "Params",
    "RPCError",
    "Request",
    "Response",
    "encode",
    "notification",
    "parse",
    "request",
]

# §5.1: the pre-defined error codes, with the messages the specification gives them.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# §5.1: -32000 to -32099 are "reserved for implementation-defined server-errors".
# longwire answers this one when a peer has too many requests in progress.
OVERLOADED = -32000

_MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    OVERLOADED: "Overloaded",
}

Id: TypeAlias = str | int | float | None
"""A request id: §4 "a String, Number, or NULL value"."""

Params: TypeAlias = list[Any] | dict[str, Any] | None
"""§4: "a Structured value" (array: by position; object: by name); ``None``: omitted."""


class RPCError(LongwireError):
    """A JSON-RPC error object (§5.1), raised by methods and by ``Peer.call``.

    Raise it from a method to answer with this error; ``Peer.call`` raises it
    when the other end answered with an error object. Two are equal when their
    code, message and data are.

    Args:
        code: the error code (an integer; see the class constants).
        message: a short description; by default the specification's words
            for the pre-defined codes.
        data: extra information (any JSON value); ``None`` leaves the member out.
    """

    PARSE_ERROR = PARSE_ERROR
    INVALID_REQUEST = INVALID_REQUEST
    METHOD_NOT_FOUND = METHOD_NOT_FOUND
    INVALID_PARAMS = INVALID_PARAMS
    INTERNAL_ERROR = INTERNAL_ERROR
    OVERLOADED = OVERLOADED

    def __init__(self, code: int, message: str | None = None, data: Any = None) -> None:
        if message is None:
            message = _MESSAGES.get(code, "Server error")
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        data = "" if self.data is None else f", {self.data!r}"
        return f"RPCError({self.code}, {self.message!r}{data})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RPCError):
            return NotImplemented
        return (self.code, self.message, self.data) == (other.code, other.message, other.data)

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def to_json(self) -> dict[str, Any]:
        """The error object, as a ``dict`` ready for ``json.dumps``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True, slots=True)
class Request:
    """A call that expects an answer (§4): ``method``, ``params``, ``id``."""

    method: str
    params: Params = None
    id: Id = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A call that gets no answer (§4.1): a request without ``id``."""

    method: str
    params: Params = None


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer (§5): ``result`` for the request with this ``id``."""

    id: Id
    result: Any


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """An answer with an error object (§5.1) for the request with this ``id``."""

    id: Id
    error: RPCError


@dataclass(frozen=True, slots=True)
class InvalidMessage(ErrorResponse):
    """What ``parse`` makes of input that breaks the specification: the answer to send.

    It is an ``ErrorResponse`` (``PARSE_ERROR`` or ``INVALID_REQUEST``) that the
    *receiver* must send back, unlike an ``ErrorResponse`` received from the
    other end; test for it before testing for ``ErrorResponse``.
    """


Message: TypeAlias = Request | Notification | Response | ErrorResponse
"""One parsed message (``InvalidMessage`` is an ``ErrorResponse``)."""


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN, Infinity and -Infinity; RFC 8259 JSON does not.
    raise ValueError(f"{name} is not JSON")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_dumps = _ENCODER.encode


def _invalid(code: int, id: Id = None) -> InvalidMessage:
    return InvalidMessage(id, RPCError(code))


def _is_id(value: object) -> bool:
    # §4: "a String, Number, or NULL value"; JSON true and false are no numbers.
    return value is None or (type(value) in (str, int, float))


def _message(obj: object) -> Message:
    """One member of a batch, or the whole message: a dict checked against §4 and §5."""
    if type(obj) is not dict or obj.get("jsonrpc") != "2.0":
        # §4: "jsonrpc ... MUST be exactly "2.0"".
        return _invalid(INVALID_REQUEST)
    if "method" in obj:
        id_ = obj.get("id")
        # Answer with the id when it is one, so the caller's request fails at once
        # (§5: the id is null only when it could not be detected).
        reply_id = id_ if _is_id(id_) else None
        method = obj["method"]
        if type(method) is not str:
            return _invalid(INVALID_REQUEST, reply_id)
        params = obj.get("params")
        if "params" in obj and type(params) not in (list, dict):
            # §4.2: "If present, parameters ... MUST be provided as a Structured value".
            return _invalid(INVALID_REQUEST, reply_id)
        if "id" not in obj:
            return Notification(method, params)
        if not _is_id(id_):
            return _invalid(INVALID_REQUEST)
        return Request(method, params, id_)
    # A response (§5): "id" is REQUIRED, and exactly one of "result" and "error".
    id_ = obj.get("id", False)
    if not _is_id(id_) or ("result" in obj) == ("error" in obj):
        return _invalid(INVALID_REQUEST)
    if "result" in obj:
        return Response(id_, obj["result"])
    error = obj["error"]
    if (
        type(error) is not dict
        or type(error.get("code")) is not int  # §5.1: "MUST be an integer"
        or type(error.get("message")) is not str
    ):
        return _invalid(INVALID_REQUEST)
    return ErrorResponse(id_, RPCError(error["code"], error["message"], error.get("data")))


def parse(text: str | bytes) -> list[Message] | Message:
    """The message (or batch of messages) in one WebSocket message; never raises.

    Input that breaks the specification yields ``InvalidMessage`` answers:

    - not JSON (or bytes not UTF-8): one ``PARSE_ERROR`` (id null);
    - an empty array: one ``INVALID_REQUEST``, not an array (§6);
    - not an object or an array, or an object that is no valid request,
      notification or response: ``INVALID_REQUEST``;
    - a batch: a list with one message per member, an invalid member being an
      ``InvalidMessage`` in its place.

    Returns:
        A list for a batch (a JSON array), else one message.
    """
    try:
        if not isinstance(text, str):
            text = bytes(text).decode("utf-8")
        data = _decode(text)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _invalid(PARSE_ERROR)
    if type(data) is list:
        if not data:
            return _invalid(INVALID_REQUEST)
        return [_message(member) for member in data]
    return _message(data)


def _to_json(message: Message) -> dict[str, Any]:
    if isinstance(message, Request):
        obj: dict[str, Any] = {"jsonrpc": "2.0", "method": message.method}
        if message.params is not None:
            obj["params"] = message.params
        obj["id"] = message.id
        return obj
    if isinstance(message, Notification):
        obj = {"jsonrpc": "2.0", "method": message.method}
        if message.params is not None:
            obj["params"] = message.params
        return obj
    if isinstance(message, Response):
        return {"jsonrpc": "2.0", "result": message.result, "id": message.id}
    if isinstance(message, ErrorResponse):
        return {"jsonrpc": "2.0", "error": message.error.to_json(), "id": message.id}
    raise TypeError(f"not a JSON-RPC message: {message!r}")


def encode(message: Message | Sequence[Message]) -> str:
    """The compact JSON text of a message, or of a batch (a list).

    Raises:
        TypeError: something in it is no message, or a value is not JSON
            serializable.
        ValueError: a float is NaN or infinite, or a container contains itself.
    """
    if isinstance(message, (Request, Notification, Response, ErrorResponse)):
        return _dumps(_to_json(message))
    return _dumps([_to_json(member) for member in message])


def _check_params(params: object) -> None:
    if params is not None and type(params) not in (list, dict):
        raise TypeError(f"params must be a list, a dict or None, not {type(params).__name__}")


def request(method: str, params: Params, id: Id) -> str:
    """The text of a request (``params`` ``None``: no ``params`` member).

    Raises:
        TypeError: ``params`` is neither a list, a dict nor ``None``, or holds
            values that are not JSON serializable.
        ValueError: as for ``encode``.
    """
    _check_params(params)
    head = '{"jsonrpc":"2.0","method":' + _dumps(method)
    if params is not None:
        head += ',"params":' + _dumps(params)
    return head + ',"id":' + _dumps(id) + "}"


def notification(method: str, params: Params = None) -> str:
    """The text of a notification: encode once, send to any number of peers.

    Raises:
        TypeError, ValueError: as for ``request``.
    """
    _check_params(params)
    if params is None:
        return '{"jsonrpc":"2.0","method":' + _dumps(method) + "}"
    return '{"jsonrpc":"2.0","method":' + _dumps(method) + ',"params":' + _dumps(params) + "}"
