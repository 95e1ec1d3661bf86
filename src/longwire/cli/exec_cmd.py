"""``longwire exec``: websocketd mode, a program behind every WebSocket connection.

(The module is not named ``exec`` so as not to shadow the builtin.)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
from typing import TYPE_CHECKING, Any

from .._errors import LongwireError
from ._common import add_listen_options, browser_url, configure_logging, fail
from ._options import (
    DerivedOption,
    add_derived_option,
    add_server_options,
    as_flags,
    derive_options,
    server_config,
)

if TYPE_CHECKING:
    from ..aio import Server

__all__ = ["exec_options", "register"]

_EXAMPLES = """\
examples:
  longwire exec -- ./count.sh                     # each connection to ws://127.0.0.1:8000/ runs it
  longwire exec --port 8080 --staticdir web -- python3 chat.py   # a page in web/ beside it
  longwire exec --path /ws --max-processes 50 -- ./session.sh    # ws://.../ws, 50 at most at once
  longwire exec --broadcast --sse -- tail -F /var/log/app.log    # one program for all; SSE too
  longwire exec --binary -- ./frames                # raw bytes both ways, no lines
  longwire exec --tls-cert cert.pem --tls-key key.pem -- cat      # wss:// and https://

Each connection starts COMMAND with a CGI-like environment (REMOTE_ADDR,
QUERY_STRING, HTTP_* headers...). Each line it writes to stdout is a message to
the client; each message from the client is a line on its stdin. When it exits
the connection closes (1000 for exit status 0, else 1011); when the client
leaves, its stdin is closed, then it gets SIGTERM, then SIGKILL. Its stderr is
logged. Options go before COMMAND; `--` ends them. Exit status: 0 after a
graceful shutdown (Ctrl+C or SIGTERM), 1 on an error, 2 on a usage error.
"""

# The ExecOptions fields given their own options (not derived): strings and lists.
_PLAIN_FIELDS = ("path", "sse_path", "staticdir", "passenv")


def register(
    commands: Any, common: argparse.ArgumentParser, *, derived_options: bool = True
) -> None:
    """Add ``exec`` to the subcommands; ``derived_options`` imports the server and
    ``longwire.websocketd`` to list their settings, so it is off unless asked for.
    """
    parser = commands.add_parser(
        "exec",
        parents=[common],
        help="run a program for each WebSocket connection (websocketd mode)",
        usage="longwire exec [options] [--] COMMAND [ARGS ...]",
        description="Serve COMMAND over WebSocket, as websocketd does: every connection\n"
        "starts it; its stdout lines go to the client, the client's messages to its stdin.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND [ARGS ...]",
        help="the program to run and its arguments",
    )
    listen = parser.add_argument_group("listening")
    add_listen_options(listen, schemes="wss:// and https://")
    program = parser.add_argument_group("the program (longwire.websocketd.ExecOptions)")
    program.add_argument(
        "--path",
        default="/",
        help="the WebSocket endpoint; PATH/... is served too, the rest being the "
        "program's PATH_INFO (default: %(default)s)",
    )
    program.add_argument(
        "--sse-path", metavar="PATH", help="where --sse serves the event stream (default: --path)"
    )
    program.add_argument(
        "--staticdir", metavar="DIR", help="serve the files in DIR over HTTP (GET and HEAD)"
    )
    passenv = program.add_argument(
        "--passenv",
        metavar="VAR,...",
        help="the server's environment variables the program inherits",
    )
    if derived_options:
        from ..websocketd import DEFAULT_PASSENV  # noqa: PLC0415 - loaded only for `exec`

        passenv.help = f"{passenv.help} (default: {','.join(DEFAULT_PASSENV)})"
        _add_exec_options(program)
        add_server_options(parser)


def exec_options() -> list[DerivedOption]:
    """The ``longwire exec`` options derived from ``ExecOptions`` (its scalar fields)."""
    from ..websocketd import ExecOptions  # noqa: PLC0415 - loaded only for `exec`

    return [o for o in derive_options([(ExecOptions, "exec")]) if o.name not in _PLAIN_FIELDS]


def _add_exec_options(group: argparse._ArgumentGroup) -> None:
    for option in exec_options():
        add_derived_option(group, option)


def run(args: argparse.Namespace) -> int:
    """``longwire exec``: check everything, then serve until a signal; the exit status."""
    from ..aio import run as run_server  # noqa: PLC0415
    from ..websocketd import ExecOptions, exec_app  # noqa: PLC0415

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        return fail("exec", "no COMMAND given: longwire exec [options] -- COMMAND [ARGS ...]")
    try:
        config = server_config(args)
    except LongwireError as exc:
        return fail("exec", exc)
    given = vars(args)
    fields: dict[str, Any] = {o.name: given[o.dest] for o in exec_options() if o.dest in given}
    fields.update(path=args.path, sse_path=args.sse_path, staticdir=args.staticdir)
    if args.passenv is not None:
        fields["passenv"] = tuple(name.strip() for name in args.passenv.split(",") if name.strip())
    try:
        options = ExecOptions(**fields)
    except (ValueError, TypeError) as exc:
        return fail("exec", as_flags(str(exc), [f.name for f in dataclasses.fields(ExecOptions)]))
    if options.staticdir is not None and not os.path.isdir(options.staticdir):
        missing = not os.path.exists(options.staticdir)
        what = "not found" if missing else "not a directory"
        return fail("exec", f"--staticdir {options.staticdir}: {what}")
    try:
        app = exec_app(command, options)
    except (OSError, ValueError) as exc:
        return fail("exec", exc)
    configure_logging(args.log_level, args.json_logs)
    shown = shlex.join(command)

    def ready(server: Server) -> None:
        secure = server.config.ssl is not None
        where = browser_url("wss" if secure else "ws", server.host, server.port)
        http = browser_url("https" if secure else "http", server.host, server.port)
        parts = [f"{where}{options.path[1:]}"]
        if options.sse:
            parts.append(f"events at {http}{options.event_path[1:]}")
        if options.staticdir is not None:
            parts.append(f"files at {http}")
        print(f"exec {shown} at {', '.join(parts)} (Ctrl+C to stop)", flush=True)

    try:
        run_server(app, args.host, args.port, uvloop=args.uvloop, ready=ready, config=config)
    except LongwireError as exc:
        return fail("exec", exc)
    except OSError as exc:  # the broadcast program could not start
        return fail("exec", f"cannot start {command[0]}: {exc}")
    return 0
