"""``Methods``: the registry of what the other end may call, and how a call is run."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ._codec import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    ErrorResponse,
    Notification,
    Params,
    Request,
    Response,
    RPCError,
)

__all__ = ["Methods"]

logger = logging.getLogger("longwire.jsonrpc")

_F = TypeVar("_F", bound=Callable[..., Any])


class _Method:
    """A registered handler, with what is needed to check a call's params cheaply."""

    __slots__ = ("context", "function", "signature")

    def __init__(self, function: Callable[..., Any], context: bool) -> None:
        self.function = function
        self.context = context
        try:
            self.signature: inspect.Signature | None = inspect.signature(function)
        except (TypeError, ValueError):  # some builtins have none: let the call decide
            self.signature = None


class Methods:
    """The methods one end of a JSON-RPC connection serves, by name.

    ::

        methods = Methods()

        @methods.method()            # named after the function: "add"
        def add(a, b):
            return a + b

        @methods.method("user.get")  # an explicit name
        async def get_user(id):
            ...

        methods.add("ping", lambda: "pong")

    Handlers may be plain functions (run on the event loop: they must not
    block) or ``async def``. Params given as an array are passed by position,
    as an object by name, and no params means no arguments.

    With ``context=True`` (for the registry, or for one method), the handler
    gets the connection's context object first: ``handler(ctx, *args,
    **kwargs)``. What the context is depends on the transport: the
    ``JsonRpcConnection`` on an ``App.jsonrpc`` route, the ``JsonRpcClient``
    in ``longwire.jsonrpc.connect``, whatever was given to ``Peer(context=...)``.

    Errors: a call whose params do not bind to the handler's signature is
    answered ``INVALID_PARAMS`` (checked before the call, so a ``TypeError``
    raised inside the handler is not mistaken for one); an ``RPCError``
    raised by the handler is the error answered; any other exception is
    logged (with its traceback, to the ``longwire.jsonrpc`` logger) and
    answered ``INTERNAL_ERROR``, without its message.

    Args:
        context: whether handlers take the context as first argument, by default.
    """

    def __init__(self, *, context: bool = False) -> None:
        self.context = context
        self._methods: dict[str, _Method] = {}

    def method(
        self, name: str | None = None, *, context: bool | None = None
    ) -> Callable[[_F], _F]:
        """Decorator: register the function as method ``name`` (default: its ``__name__``).

        Args:
            name: the method name.
            context: whether this handler takes the context first (default: the
                registry's setting).

        Raises:
            ValueError: (when decorating) as for ``add``.
        """

        def register(function: _F) -> _F:
            self.add(name or function.__name__, function, context=context)
            return function

        return register

    def add(self, name: str, function: Callable[..., Any], *, context: bool | None = None) -> None:
        """Register ``function`` as method ``name``.

        Raises:
            TypeError: ``function`` is not callable.
            ValueError: ``name`` is empty, already registered, or starts with
                ``rpc.`` (reserved for extensions by the specification, §4).
        """
        if not callable(function):
            raise TypeError(f"a JSON-RPC method must be callable, not {function!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a method name must be a non-empty str, not {name!r}")
        if name.startswith("rpc."):
            raise ValueError(f"method names starting with 'rpc.' are reserved: {name!r}")
        if name in self._methods:
            raise ValueError(f"method {name!r} is already registered")
        self._methods[name] = _Method(function, self.context if context is None else context)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[str]:
        """The method names, in registration order."""
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)

    async def call(self, name: str, params: Params = None, context: Any = None) -> Any:
        """Run method ``name`` with ``params``; its result (awaited if need be).

        Raises:
            RPCError: ``METHOD_NOT_FOUND``, ``INVALID_PARAMS``, the handler's own
                ``RPCError``, or ``INTERNAL_ERROR`` for any other exception
                (logged).
        """
        method = self._methods.get(name)
        if method is None:
            raise RPCError(METHOD_NOT_FOUND)
        args: list[Any] | tuple[Any, ...]
        kwargs: dict[str, Any]
        if params is None:
            args, kwargs = (), {}
        elif isinstance(params, list):
            args, kwargs = params, {}
        else:
            args, kwargs = (), params
        if method.context:
            args = [context, *args]
        if method.signature is not None:
            try:
                method.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise RPCError(INVALID_PARAMS, data=str(exc)) from None
        try:
            result = method.function(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except RPCError:
            raise
        except Exception:
            logger.exception("JSON-RPC method %r failed", name)
            raise RPCError(INTERNAL_ERROR) from None
        return result

    async def respond(
        self, message: Request | Notification, context: Any = None
    ) -> Response | ErrorResponse | None:
        """Run a request or notification; the answer to send (``None`` for a notification).

        Never raises (``CancelledError`` aside).
        """
        try:
            result = await self.call(message.method, message.params, context)
        except RPCError as exc:
            error: RPCError | None = exc
        else:
            error = None
        if isinstance(message, Notification):
            return None  # §4.1: "The Server MUST NOT reply to a Notification"
        if error is not None:
            return ErrorResponse(message.id, error)
        return Response(message.id, result)
