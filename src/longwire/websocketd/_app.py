"""``exec_app``: the ``App`` behind ``longwire exec``, servable like any other."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from typing import Any

from ..aio import WebSocket
from ..app import App, Request, Response, StaticFiles, StreamingResponse
from ..sse import CONTENT_TYPE as EVENT_STREAM
from ._bridge import event_stream, run_websocket
from ._broadcast import BroadcastHub
from ._env import base_environ, request_environ
from ._options import ExecOptions
from ._process import Processes

__all__ = ["exec_app", "resolve_command"]

logger = logging.getLogger("longwire.exec")

# Sent with every event stream: not to be cached, nor buffered by nginx.
_STREAM_HEADERS = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
# The shutdown hook's wait for programs, beyond their two grace periods (reaping
# after SIGKILL is quick; this only bounds a process stuck in the kernel).
_REAP_MARGIN = 5.0


def resolve_command(command: Sequence[str]) -> list[str]:
    """``command`` with its program found: on ``PATH``, or as a path (made absolute).

    Raises:
        ValueError: ``command`` is empty.
        FileNotFoundError: no such program.
        PermissionError: the file exists but is not executable (or is a directory).
    """
    if not command:
        raise ValueError("no command given")
    name = command[0]
    found = shutil.which(name)
    if found is None:
        if os.sep not in name:
            raise FileNotFoundError(f"command not found: {name!r} (not on PATH)")
        if not os.path.exists(name):
            raise FileNotFoundError(f"command not found: {name!r}")
        what = "a directory" if os.path.isdir(name) else "not executable"
        raise PermissionError(f"{name!r} is {what}")
    if os.sep in found:
        found = os.path.abspath(found)
    return [found, *command[1:]]


def _refuse_busy(limit: int | None) -> Response:
    return Response.text(
        f"too many programs running (max {limit}); try again shortly\n",
        503,
        headers=[("Retry-After", "1")],
    )


def exec_app(command: Sequence[str], options: ExecOptions | None = None, **overrides: Any) -> App:
    """An ``App`` that runs ``command`` for its clients, as websocketd does.

    Each WebSocket connection to ``options.path`` starts the program with a
    CGI-like environment; its stdout lines become messages to the client, the
    client's messages become lines on its stdin; its exit closes the connection
    (1000 for status 0, else 1011), the client's departure ends it (EOF,
    SIGTERM, SIGKILL). With ``broadcast``, one program is shared; with ``sse``
    its output is an event stream too; with ``staticdir``, files are served.
    See ``docs/cli.md`` (``longwire exec``) for every detail.

    Args:
        command: the program and its arguments.
        options: the settings; ``overrides`` replace some of its fields (or of
            the defaults): ``exec_app(["cat"], binary=True)``.

    Raises:
        ValueError: an empty command or a bad option value.
        TypeError: an unknown option.
        FileNotFoundError: the program, or ``staticdir``, does not exist.
        NotADirectoryError: ``staticdir`` is not a directory.
        PermissionError: the program is not executable.
    """
    options = dataclasses.replace(options or ExecOptions(), **overrides)
    argv = resolve_command(command)
    static = StaticFiles(options.staticdir) if options.staticdir is not None else None
    base = base_environ(options.passenv)
    processes = Processes(None if options.broadcast else options.max_processes)
    hub = BroadcastHub(argv, options, base) if options.broadcast else None
    script_name = options.path.rstrip("/")
    app = App()

    async def websocket(ws: WebSocket) -> None:
        if hub is not None:
            await hub.serve_websocket(ws)
            return
        if not processes.reserve():
            if processes.closing:
                await ws.reject(503, "server shutting down\n")
                return
            client = ws.remote_address
            logger.warning(
                "refusing %s: %d programs running (max_processes)",
                f"{client[0]}:{client[1]}" if client else "a client",
                processes.limit,
            )
            busy = _refuse_busy(processes.limit)
            await ws.reject(busy.status, busy.body, headers=busy.headers)
            return
        assert ws.request is not None
        env = request_environ(ws.request, base, script_name=script_name)
        await run_websocket(ws, argv, options, processes, env)

    # The endpoint and everything below it: /ws and /ws/room/1 (PATH_INFO=/room/1).
    app.websocket(options.path, compression=options.compression)(websocket)
    app.websocket(f"{script_name}/{{path_info:path}}", compression=options.compression)(websocket)

    event_path = options.event_path
    if options.sse:

        async def events(request: Request) -> Response:
            accept = (request.headers.get("accept") or "").lower()
            if static is not None and EVENT_STREAM not in accept:
                return await static(request)  # a page beside its stream, on the same path
            if request.method == "HEAD":
                return StreamingResponse((), headers=_STREAM_HEADERS, content_type=EVENT_STREAM)
            if hub is not None:
                since = hub.last_event_id(request.headers.get("last-event-id"))
                stream = hub.events(since)
            else:
                limit = processes.limit
                if processes.closing or (limit is not None and len(processes) >= limit):
                    return _refuse_busy(limit)
                env = request_environ(request, base, script_name=event_path.rstrip("/"))
                stream = event_stream(argv, options, processes, env, request.client)
            return StreamingResponse(stream, headers=_STREAM_HEADERS, content_type=EVENT_STREAM)

        app.get(event_path)(events)

    if static is not None:
        if not (options.sse and event_path == "/"):
            app.get("/")(static)
        app.get("/{path:path}")(static)

    def open_processes() -> None:
        processes.closing = False  # the App may be served again after a shutdown

    async def end_programs() -> None:
        await processes.aclose(2 * options.kill_grace + _REAP_MARGIN)

    app.on_startup(open_processes)
    app.on_shutdown(end_programs)
    if hub is not None:
        app.on_startup(hub.start)
        app.on_shutdown(hub.aclose)
    return app
