"""The ``longwire`` command line (also ``python -m longwire``).

One module per command, each with ``register(commands, common)`` adding its
subparser (whose ``run`` default is the function that runs it and returns the
exit status). Command modules import only ``argparse`` and this package at the
top, so ``longwire --version`` does not load asyncio.

Errors a user can fix (address in use, bad APP, missing certificate, bad value,
command not found) are one line on stderr and a non-zero exit status, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._version import __version__
from . import connect, exec_cmd, serve
from ._common import common_options, fail
from ._options import config_options, derive_options, server_options
from .serve import load_app

__all__ = [
    "build_parser",
    "config_options",
    "derive_options",
    "load_app",
    "main",
    "server_options",
]

_EXAMPLES = """\
examples:
  longwire --version
  longwire serve                 # the demo server: open http://127.0.0.1:8000/
  longwire serve myapp:app       # serve the App named app in ./myapp.py
  longwire exec -- ./count.sh    # websocketd mode: each WebSocket connection runs count.sh
  longwire connect ws://127.0.0.1:8000/echo   # an interactive WebSocket client
  longwire demo                  # a WebSocket handshake and messages over loopback, annotated

Every command has --help with examples, and takes --log-level and --json-logs.
"""


def _run_demo(args: argparse.Namespace) -> int:
    from .._demo import run_demo  # noqa: PLC0415 - loaded only when asked for

    try:
        return run_demo()
    except OSError as exc:
        return fail("demo", exc)


def build_parser(serve_options: bool = True) -> argparse.ArgumentParser:
    """The parser; without ``serve_options``, ``serve`` and ``exec`` lack the derived
    options, which import the server (asyncio and all), so ``--version`` and ``demo``
    stay quick.
    """
    parser = argparse.ArgumentParser(
        prog="longwire",
        description="Real-time web communication: HTTP/1.1 and WebSocket server and client.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"longwire {__version__}")
    commands = parser.add_subparsers(dest="longwire_command", metavar="COMMAND")
    common = common_options()
    serve.register(commands, common, derived_options=serve_options)
    exec_cmd.register(commands, common, derived_options=serve_options)
    connect.register(commands, common)
    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="show the protocol cores at work over a loopback socket",
        description="Run a WebSocket client core against a server core over 127.0.0.1 "
        "and print every byte exchanged, annotated.",
    )
    demo.set_defaults(run=_run_demo)
    return parser


def _command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the command; return the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    # The command is the first argument (the only options before it exit at once).
    parser = build_parser(serve_options=arguments[:1] in (["serve"], ["exec"]))
    args, unknown = parser.parse_known_args(arguments)
    if unknown:
        # Reported by the command's own parser: "longwire exec: error: ...", with
        # that command's usage line, not the top-level one.
        command_parser = _command_parsers(parser).get(args.longwire_command, parser)
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        status: int = run(args)
    except KeyboardInterrupt:  # Ctrl+C before the command took SIGINT over (or after)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
