"""``ExecOptions``: how ``longwire exec`` runs its program, with every default named.

The ``longwire exec`` command line derives its options from these fields, the
same way ``longwire serve`` derives its own from ``ServerConfig``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CLIENT_BUFFER",
    "DEFAULT_KILL_GRACE",
    "DEFAULT_MAX_LINE_SIZE",
    "DEFAULT_MAX_PROCESSES",
    "DEFAULT_PASSENV",
    "DEFAULT_SSE_HEARTBEAT",
    "DEFAULT_SSE_HISTORY",
    "ExecOptions",
]

DEFAULT_MAX_PROCESSES = 128
"""Programs running at once (per-connection mode). Each holds three pipes and a
pidfd, so with its socket five file descriptors: 128 fits the usual ``ulimit -n``
of 1024 with room left for other connections."""

DEFAULT_KILL_GRACE = 1.0
"""Seconds a program gets after its stdin is closed, then again after SIGTERM,
before the next step (SIGTERM, then SIGKILL)."""

DEFAULT_MAX_LINE_SIZE = 1024 * 1024
"""Longest stdout line (bytes) sent as one message: the default ``max_message_size``
of longwire's own client and server, so a line never outgrows what a peer accepts."""

DEFAULT_CLIENT_BUFFER = 1024 * 1024
"""Bytes a slow client may have waiting (``--broadcast``, and SSE subscribers of a
broadcast) before it is disconnected, so that it cannot hold the others back."""

DEFAULT_SSE_HEARTBEAT = 15.0
"""Seconds between comment lines on an idle event stream: proxies commonly close a
connection idle for 30 to 60 seconds."""

DEFAULT_SSE_HISTORY = 100
"""Lines a broadcast keeps for SSE clients that reconnect with ``Last-Event-ID``."""

DEFAULT_PASSENV = ("PATH", "LD_LIBRARY_PATH", "HOME", "TZ", "TMPDIR")
"""Variables of the server's environment that programs inherit: websocketd's PATH and
LD_LIBRARY_PATH, and three that cost nothing. Not the locale (LANG, LC_*): with one
set, a C program loads locale files at every start (``cat``: about a third more CPU
time per start); pass it with ``passenv`` for programs that need it."""

_ENV_NAME = re.compile(r"[^=\x00]+")


def _route_path(name: str, path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"{name} must start with '/', not {path!r}")
    if "{" in path or "}" in path or "?" in path or "#" in path:
        raise ValueError(f"{name} cannot contain braces, '?' or '#': {path!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecOptions:
    """How ``longwire exec`` serves a program.

    Attributes:
        path: the WebSocket endpoint: connections to it (or below it,
            ``path/...``, which the program sees as ``PATH_INFO``) run the program.
        binary: binary mode: stdout is sent as binary messages as it is read,
            messages are written to stdin as they are, without newlines.
        broadcast: run one program for all clients: each stdout line goes to every
            client, each client message goes to its stdin.
        sse: also serve the program's output as Server-Sent Events (a GET without
            Upgrade on the SSE path).
        sse_path: where the event stream is; None: ``path``.
        staticdir: a directory whose files are served over HTTP (GET and HEAD).
        max_processes: programs running at once; a connection over it is refused
            with 503. None: no limit. Per-connection mode only. Default 128.
        kill_grace: seconds a program has to exit once its stdin is closed
            before it gets SIGTERM, and as long again before SIGKILL. Default 1.
        max_line_size: longest stdout line, in bytes, sent as one message; a
            longer one is sent in pieces of this size. Default 1 MiB.
        client_buffer: bytes a slow client may have pending in broadcast mode
            before it is disconnected (1013 for a WebSocket). Default 1 MiB.
        sse_heartbeat: seconds between heartbeat comments on an idle event
            stream. Default 15.
        sse_history: lines kept for SSE clients reconnecting with
            Last-Event-ID (broadcast). Default 100.
        passenv: names of the server's environment variables programs inherit.
        compression: negotiate permessage-deflate with clients.
    """

    path: str = "/"
    binary: bool = False
    broadcast: bool = False
    sse: bool = False
    sse_path: str | None = None
    staticdir: str | None = None
    max_processes: int | None = DEFAULT_MAX_PROCESSES
    kill_grace: float = DEFAULT_KILL_GRACE
    max_line_size: int = DEFAULT_MAX_LINE_SIZE
    client_buffer: int = DEFAULT_CLIENT_BUFFER
    sse_heartbeat: float = DEFAULT_SSE_HEARTBEAT
    sse_history: int = DEFAULT_SSE_HISTORY
    passenv: tuple[str, ...] = DEFAULT_PASSENV
    compression: bool = True

    def __post_init__(self) -> None:
        _route_path("path", self.path)
        if self.sse_path is not None:
            _route_path("sse_path", self.sse_path)
        if self.sse and self.binary:
            raise ValueError("sse and binary cannot be combined: an event stream carries text")
        if self.max_processes is not None and self.max_processes < 1:
            raise ValueError("max_processes must be at least 1 (or None for no limit)")
        for name in ("kill_grace", "sse_heartbeat"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_line_size", "client_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.sse_history < 0:
            raise ValueError("sse_history must be at least 0")
        if isinstance(self.passenv, str):
            raise TypeError("passenv must be a tuple of names, not a str")
        for name in self.passenv:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"not an environment variable name: {name!r}")

    @property
    def event_path(self) -> str:
        """Where the event stream is served (``sse_path``, else ``path``)."""
        return self.path if self.sse_path is None else self.sse_path
