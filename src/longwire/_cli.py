"""The ``longwire`` command line (also ``python -m longwire``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__

__all__ = ["main"]

_EXAMPLES = """\
examples:
  longwire --version
  longwire demo        # a WebSocket handshake and messages over loopback, annotated
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longwire",
        description="Real-time web communication: HTTP/1.1 and WebSocket protocol cores.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"longwire {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "demo",
        help="show the protocol cores at work over a loopback socket",
        description="Run a WebSocket client core against a server core over 127.0.0.1 "
        "and print every byte exchanged, annotated.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the command; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo  # noqa: PLC0415 - loaded only when asked for

        try:
            return run_demo()
        except OSError as exc:
            print(f"longwire demo: {exc}", file=sys.stderr)
            return 1
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
