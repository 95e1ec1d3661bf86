"""websocketd mode: serve any program that reads stdin and writes stdout.

::

    from longwire.websocketd import exec_app

    app = exec_app(["./count.sh"], staticdir="public")   # an ordinary App
    app.run(port=8080)

Each WebSocket connection starts the program; each line it writes to stdout is
a message to the client, each message from the client a line on its stdin. Its
exit closes the connection (1000 for status 0, 1011 otherwise); the client's
departure ends it (stdin closed, then SIGTERM, then SIGKILL). ``broadcast=True``
shares one program among all clients; ``sse=True`` serves its output as
Server-Sent Events too. ``longwire exec`` is the command line for it.
"""

from ._app import exec_app, resolve_command
from ._broadcast import RESTART_INITIAL_DELAY, RESTART_MAX_DELAY, RESTART_RESET_AFTER
from ._env import SERVER_SOFTWARE
from ._options import (
    DEFAULT_CLIENT_BUFFER,
    DEFAULT_KILL_GRACE,
    DEFAULT_MAX_LINE_SIZE,
    DEFAULT_MAX_PROCESSES,
    DEFAULT_PASSENV,
    DEFAULT_SSE_HEARTBEAT,
    DEFAULT_SSE_HISTORY,
    ExecOptions,
)
from ._process import STDIN_HIGH_WATER, describe_exit

__all__ = [
    "DEFAULT_CLIENT_BUFFER",
    "DEFAULT_KILL_GRACE",
    "DEFAULT_MAX_LINE_SIZE",
    "DEFAULT_MAX_PROCESSES",
    "DEFAULT_PASSENV",
    "DEFAULT_SSE_HEARTBEAT",
    "DEFAULT_SSE_HISTORY",
    "RESTART_INITIAL_DELAY",
    "RESTART_MAX_DELAY",
    "RESTART_RESET_AFTER",
    "SERVER_SOFTWARE",
    "STDIN_HIGH_WATER",
    "ExecOptions",
    "describe_exit",
    "exec_app",
    "resolve_command",
]
