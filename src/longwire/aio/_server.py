"""The server's lifetime: listen, track connections, shut down gracefully, pick the loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import LongwireError
from ..metrics import Metrics, write_snapshot
from ._config import ServerConfig, WebSocketOptions
from ._http_server import HTTPServerProtocol
from ._tls import server_ssl_context

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Server", "ServerState", "make_config", "run", "serve"]

logger = logging.getLogger("longwire.server")

# With ServerConfig.metrics_dir, how often (at most) a server writes its snapshot
# there: often enough for a scrape answered by another process, yet a negligible
# cost (one small file).
METRICS_WRITE_INTERVAL = 1.0


class _Connection(Protocol):
    def _going_away(self) -> None: ...
    def _abort(self) -> None: ...


class ServerState:
    """What every connection of one server shares."""

    __slots__ = (
        "access_log",
        "app",
        "asgi",
        "config",
        "connections",
        "handshakes",
        "loop",
        "metrics",
        "tasks",
    )

    def __init__(
        self,
        app: App,
        config: ServerConfig,
        loop: asyncio.AbstractEventLoop,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        # An ASGI app's requests take the fast path (HTTPServerProtocol._dispatch).
        # Unless longwire.asgi is loaded, the app cannot be one: a native server
        # does not load that layer (which imports this package).
        adapter = sys.modules.get("longwire.asgi._adapter")
        self.asgi = app if adapter is not None and isinstance(app, adapter.ASGIApp) else None
        self.config = config
        self.loop = loop
        # Incremented in place by the connections (see longwire.metrics).
        self.metrics = metrics if metrics is not None else Metrics()
        self.access_log = config.access_log and logging.getLogger("longwire.access").isEnabledFor(
            logging.INFO
        )
        self.connections: set[Any] = set()
        # WebSockets whose handler has yet to accept or reject the handshake (their
        # connection is counted in ``connections``): shutdown answers them 503.
        self.handshakes: set[Any] = set()
        # Handler tasks (those that had to wait), cancelled if still running when
        # shutdown's grace period ends.
        self.tasks: set[asyncio.Task[Any]] = set()

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` until it ends, for shutdown to cancel."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class Server:
    """A longwire server for ``app``: ``async with Server(app, port=0) as server: ...``.

    Args:
        app: the ``App`` to serve.
        host: address to listen on. Default ``127.0.0.1``.
        port: port to listen on; 0 picks a free one (see ``port``).
        config: settings (``ServerConfig``).
        sock: an already listening socket to use instead of ``host``/``port``.
        metrics: the counters to increment (see ``metrics``); default a new
            ``longwire.metrics.Metrics()``.
    """

    def __init__(
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        config: ServerConfig | None = None,
        sock: socket.socket | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.config = config or ServerConfig()
        self._port = port
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._state: ServerState | None = None
        self._metrics = metrics if metrics is not None else Metrics()
        self._metrics_timer: asyncio.TimerHandle | None = None
        self._forced = False
        self._metrics_written: object = None  # the last snapshot written to metrics_dir
        self._metrics_write_failed = False

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        """How many connections (HTTP and WebSocket) are open."""
        return len(self._state.connections) if self._state else 0

    @property
    def metrics(self) -> Metrics:
        """This server's counters, live (``metrics.snapshot()`` for a consistent copy)."""
        return self._metrics

    async def start(self) -> None:
        """Run the app's startup hooks, then listen.

        Raises:
            LongwireError: the address is in use or cannot be bound.
        """
        loop = asyncio.get_running_loop()
        state = self._state = ServerState(self.app, self.config, loop, self._metrics)
        directory = self.config.metrics_dir
        if directory is not None:
            try:
                os.makedirs(directory, exist_ok=True)
                write_snapshot(directory, self._metrics)
            except OSError as exc:
                raise LongwireError(f"cannot write metrics to {directory}: {exc}") from exc
        await self.app.startup()
        try:
            if self._sock is not None:
                server = await loop.create_server(
                    lambda: HTTPServerProtocol(state),
                    sock=self._sock,
                    ssl=self.config.ssl,
                    backlog=self.config.backlog,
                )
            else:
                server = await loop.create_server(
                    lambda: HTTPServerProtocol(state),
                    self.host,
                    self._port,
                    ssl=self.config.ssl,
                    backlog=self.config.backlog,
                    reuse_address=True,
                )
        except OSError as exc:
            await self.app.shutdown()
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise LongwireError(
                f"cannot listen on {_address(self.host, self._port)}: {reason}"
            ) from exc
        self._server = server
        if directory is not None:
            self._metrics_timer = loop.call_later(METRICS_WRITE_INTERVAL, self._write_metrics)
        scheme = "https" if self.config.ssl is not None else "http"
        logger.info("listening on %s://%s", scheme, _address(self.host, self.port))

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop gracefully: stop accepting, close WebSockets with 1001 Going Away,
        let in-flight requests finish, then drop what is left after ``timeout``
        (default ``config.shutdown_timeout``) and run the app's shutdown hooks.
        """
        if self._server is None or self._state is None:
            return
        server, self._server = self._server, None
        server.close()
        connections = self._state.connections
        for connection in [*connections, *self._state.handshakes]:
            connection._going_away()
        limit = self.config.shutdown_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while connections and loop.time() < deadline and not self._forced:
            await asyncio.sleep(0.01)
        if connections:
            logger.warning(
                "dropping %d connections still open after %.1fs",
                len(connections),
                limit if not self._forced else loop.time() - deadline + limit,
            )
            for connection in list(connections):
                connection._abort()
            await asyncio.sleep(0)
        tasks = self._state.tasks
        if tasks:
            logger.warning("cancelling %d handler tasks still running", len(tasks))
            for task in list(tasks):
                task.cancel()
            await asyncio.wait(list(tasks), timeout=1.0)
        if self._metrics_timer is not None:
            self._metrics_timer.cancel()
            self._metrics_timer = None
            self._write_metrics(final=True)
        await self.app.shutdown()

    def force_shutdown(self) -> None:
        """Cut a graceful shutdown short: drop the connections still open now
        (a second Ctrl+C), instead of at the end of the grace period.
        """
        self._forced = True

    def _write_metrics(self, *, final: bool = False) -> None:
        """Write this process's snapshot to ``metrics_dir`` if it changed; then again later."""
        directory = self.config.metrics_dir
        if directory is None:
            return
        snapshot = self._metrics.snapshot()
        if snapshot != self._metrics_written:
            try:
                write_snapshot(directory, self._metrics, snapshot)
            except OSError as exc:
                if not self._metrics_write_failed:  # say it once, not every second
                    logger.warning("cannot write metrics to %s: %s", directory, exc)
                self._metrics_write_failed = True
            else:
                self._metrics_written = snapshot
                self._metrics_write_failed = False
        if not final:
            self._metrics_timer = asyncio.get_running_loop().call_later(
                METRICS_WRITE_INTERVAL, self._write_metrics
            )

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_config(
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    config: ServerConfig | None = None,
    **options: Any,
) -> ServerConfig:
    """Build a ``ServerConfig`` from keyword options.

    ``options`` are ``ServerConfig`` fields, or ``WebSocketOptions`` fields (which
    go into ``websocket``). ``tls_cert``/``tls_key`` are PEM files for https/wss.

    Raises:
        TypeError: an unknown option.
        LongwireError: a certificate or key cannot be loaded.
    """
    server_names = {f.name for f in fields(ServerConfig)}
    ws_names = {f.name for f in fields(WebSocketOptions)}
    server_options = {k: v for k, v in options.items() if k in server_names}
    ws_options = {k: v for k, v in options.items() if k in ws_names}
    unknown = set(options) - server_names - ws_names
    if unknown:
        raise TypeError(f"unknown server option(s): {', '.join(sorted(unknown))}")
    base = config or ServerConfig()
    if ws_options:
        server_options["websocket"] = replace(
            server_options.get("websocket", base.websocket), **ws_options
        )
    if tls_cert is not None or tls_key is not None:
        server_options["ssl"] = server_ssl_context(tls_cert, tls_key)
    return replace(base, **server_options)


async def serve(
    app: App,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    config: ServerConfig | None = None,
    sock: socket.socket | None = None,
    ready: Callable[[Server], Awaitable[None] | None] | None = None,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    server = Server(app, host=host, port=port, config=config, sock=sock)

    received: set[int] = set()

    def stop_requested(signum: int) -> None:
        # The same signal twice (Ctrl+C, Ctrl+C) forces; two different ones do not:
        # a worker gets SIGINT from the terminal and SIGTERM from its supervisor
        # for one Ctrl+C.
        if signum in received and not server._forced:
            logger.warning("second signal: dropping the connections still open")
            server.force_shutdown()
        received.add(signum)
        stop.set()

    installed: dict[int, Any] = {}  # signal: the disposition it had before
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, stop_requested, signum)
            installed[signum] = previous
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        await server.start()
        if ready is not None:
            result = ready(server)
            if asyncio.iscoroutine(result):
                await result
        await stop.wait()
        logger.info(
            "shutting down (grace period %.1fs; a second Ctrl+C drops connections at once)",
            server.config.shutdown_timeout,
        )
        await server.shutdown()
    finally:
        _restore_signals(loop, installed)


def _restore_signals(loop: asyncio.AbstractEventLoop, installed: dict[int, Any]) -> None:
    """Give each signal back the disposition it had before ``serve``.

    The loop's ``remove_signal_handler`` resets to the default first: with the
    signals blocked meanwhile, one arriving then (a worker's supervisor sending
    SIGTERM just after a Ctrl+C) meets the restored disposition, not the default.
    """
    if not installed:
        return
    block = hasattr(signal, "pthread_sigmask")
    if block:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, installed)
    try:
        for signum, previous in installed.items():
            loop.remove_signal_handler(signum)
            if previous is not None:
                signal.signal(signum, previous)
    finally:
        if block:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def run(
    app: App,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    uvloop: bool | None = None,
    ready: Callable[[Server], Awaitable[None] | None] | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` in a new event loop until SIGINT/SIGTERM (blocking).

    Args:
        uvloop: use uvloop (True: required; None: if installed; False: never).
        ready: called with the ``Server`` once it listens.
        options: ``make_config`` options (``ServerConfig`` and ``WebSocketOptions``
            fields, ``tls_cert``, ``tls_key``).

    Raises:
        LongwireError: bad settings, unusable certificate, address in use.
    """
    config = make_config(**options)
    loop_factory = _loop_factory(uvloop)
    coro = serve(app, host, port, config=config, ready=ready)
    if loop_factory is None:
        logger.info("event loop: asyncio (default)")
        asyncio.run(coro)
    else:
        logger.info("event loop: uvloop")
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(coro)


def _loop_factory(use_uvloop: bool | None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if use_uvloop is False:
        return None
    try:
        import uvloop  # noqa: PLC0415
    except ImportError as exc:
        if use_uvloop:
            raise LongwireError("uvloop is not installed: pip install 'longwire[speed]'") from exc
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
