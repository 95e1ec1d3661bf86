"""``longwire connect``: a WebSocket client for the terminal and for pipelines.

This module holds the command line (options, checks that need no network, exit
statuses); the session itself is in ``_connect_session`` and the terminal and
stdin plumbing in ``_connect_io``, both imported only when the command runs, so
``longwire --version`` stays free of asyncio.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, Any

from ._common import configure_logging, fail

if TYPE_CHECKING:
    import ssl

__all__ = [
    "EXIT_CLEAN",
    "EXIT_CLOSED",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_LOST",
    "EXIT_USAGE",
    "register",
]

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's own status
EXIT_CLOSED = 3
EXIT_LOST = 4
EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT

# The --help table; docs/cli.md has the same.
_EXIT_STATUSES = f"""\
exit status:
  {EXIT_CLEAN}    closed cleanly: 1000 (normal), 1001 (going away) or no code (1005)
  {EXIT_ERROR}    could not connect (refused, DNS, TLS, timeout, handshake refused: the
       HTTP status is shown), or bad input (URL, CA file, stdin not UTF-8 text)
  {EXIT_USAGE}    usage error: unknown option, malformed value
  {EXIT_CLOSED}    closed with another code (the server's, or the one given to /close)
  {EXIT_LOST}    connection lost without a closing handshake (1006, keepalive timeout)
  {EXIT_INTERRUPTED}  Ctrl+C twice: left without waiting for the closing handshake
"""

DEFAULT_WAIT = 1.0
DEFAULT_CONNECT_TIMEOUT = 10.0

# Headers the opening handshake writes itself: a second copy would break it.
_HANDSHAKE_HEADERS = {
    "host": "the Host header comes from the URL",
    "upgrade": "the handshake sets Upgrade",
    "connection": "the handshake sets Connection",
    "sec-websocket-key": "the handshake sets Sec-WebSocket-Key",
    "sec-websocket-version": "the handshake sets Sec-WebSocket-Version",
    "sec-websocket-extensions": "compression is negotiated by the client (see --no-compression)",
    "sec-websocket-protocol": "use --subprotocol",
    "origin": "use --origin",
}

_EXAMPLES = f"""\
examples:
  longwire connect ws://127.0.0.1:8000/echo      # interactive: type messages, /help for commands
  echo hello | longwire connect ws://127.0.0.1:8000/echo
  longwire connect ws://127.0.0.1:8000/echo < requests.txt > replies.txt
  longwire connect wss://example.com/feed --wait none > feed.log     # until the server closes
  longwire connect ws://localhost:8000/rpc --subprotocol jsonrpc -H 'Authorization: Bearer T'
  longwire connect --binary ws://127.0.0.1:8000/echo < photo.jpg > copy.jpg
  longwire connect wss://127.0.0.1:8443/echo --cafile ca.pem

With a terminal on stdin, each line typed is a message and received messages are
shown as "< message"; commands: /ping [PAYLOAD] (shows the round-trip time),
/close [CODE [REASON]], /help; "//text" sends "/text". Ctrl+D or Ctrl+C closes
with 1000. Otherwise (stdin from a pipe or a file) each line is sent as a text
message, each text message received is written to stdout with a newline, and at
the end of stdin the client waits --wait seconds of quiet, then closes with 1000.
Connection and close lines go to stderr, so stdout carries only messages.

{_EXIT_STATUSES}"""


# Argument types: a malformed value is argparse's usage error (status 2).


def _seconds(text: str, *, allow_none: bool = True, allow_zero: bool = True) -> float | None:
    if allow_none and text.strip().lower() == "none":
        return None
    expected = "a number of seconds" + (" or 'none'" if allow_none else "")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        qualifier = "zero or more" if allow_zero else "more than zero"
        raise argparse.ArgumentTypeError(f"expected {qualifier} seconds, not {text!r}")
    return value


def _positive_seconds(text: str) -> float | None:
    return _seconds(text, allow_zero=False)


def _size(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bytes or 'none', not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 byte, not {text!r}")
    return value


def _subprotocol(text: str) -> str:
    from ..http1._abnf import TOKEN  # noqa: PLC0415 - loaded only when the option is given

    if not TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"a subprotocol is a token (letters, digits, -._~ and the like), not {text!r}"
        )
    return text


def _header(text: str) -> tuple[str, str]:
    from ..http1._abnf import FIELD_VALUE, TOKEN  # noqa: PLC0415

    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not name:
        raise argparse.ArgumentTypeError(f"expected 'Name: value', not {text!r}")
    if not TOKEN.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{name!r} is not a valid header name")
    if not FIELD_VALUE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"the value of {name} has characters a header cannot hold "
            "(control characters, or beyond Latin-1)"
        )
    why = _HANDSHAKE_HEADERS.get(name.lower())
    if why is not None:
        raise argparse.ArgumentTypeError(f"cannot set {name}: {why}")
    return name, value


def _origin(text: str) -> str:
    from ..http1._abnf import FIELD_VALUE  # noqa: PLC0415

    if not text or not FIELD_VALUE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a valid Origin value: {text!r}")
    return text


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``connect`` to the subcommands."""
    parser = commands.add_parser(
        "connect",
        parents=[common],
        help="talk to a WebSocket server: interactively, or stdin to messages to stdout",
        description="Open a WebSocket connection to URL. Interactive when stdin is a\n"
        "terminal (like wscat); otherwise stdin lines become messages and the\n"
        "messages received go to stdout, one per line (like websocat).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    parser.add_argument("url", metavar="URL", help="ws://host[:port]/path or wss://...")
    handshake = parser.add_argument_group("handshake")
    handshake.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        type=_subprotocol,
        metavar="NAME",
        help="offer this subprotocol (repeatable: offered in order, most preferred "
        "first); the one the server chose is shown",
    )
    handshake.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="add a header to the handshake request (repeatable)",
    )
    handshake.add_argument("--origin", type=_origin, help="send this Origin header")
    handshake.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate compression",
    )
    handshake.add_argument(
        "--connect-timeout",
        type=_positive_seconds,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="SECONDS|none",
        help="time for TCP, TLS and the handshake together (default: %(default)g)",
    )
    tls = parser.add_argument_group("TLS (wss://)").add_mutually_exclusive_group()
    tls.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust the CA certificates in this PEM file instead of the system's",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the server's certificate (testing only: anyone on the path "
        "can read and change the traffic)",
    )
    messages = parser.add_argument_group("messages")
    messages.add_argument(
        "--binary",
        action="store_true",
        help="send binary messages: stdin as it comes, in blocks of up to 64 KiB "
        "(interactive: each line); binary messages received are written to stdout "
        "as they are (default: text messages, one per line; binary received as a "
        "line of hex)",
    )
    messages.add_argument(
        "--wait",
        type=_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS|none",
        help="at the end of stdin, keep receiving until no message came for this long, "
        "then close; 0: close at once; none: until the server closes "
        "(default: %(default)g)",
    )
    messages.add_argument(
        "--ping-interval",
        type=_positive_seconds,
        default=argparse.SUPPRESS,
        metavar="SECONDS|none",
        help="seconds between keepalive pings; none turns them off "
        "(default: 20, as longwire.connect)",
    )
    messages.add_argument(
        "--max-message-size",
        type=_size,
        default=argparse.SUPPRESS,
        metavar="BYTES|none",
        help="largest message accepted; bigger closes the connection with 1009 "
        "(default: 1048576, as longwire.connect)",
    )


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The context for ``--cafile`` / ``--insecure``, or None for the default.

    Raises:
        LongwireError: the CA file is missing or not a PEM certificate file.
    """
    import ssl  # noqa: PLC0415

    from .._errors import LongwireError  # noqa: PLC0415

    if args.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if args.cafile is None:
        return None
    if not os.path.isfile(args.cafile):
        raise LongwireError(f"CA file not found: {args.cafile}")
    try:
        return ssl.create_default_context(cafile=args.cafile)
    except (ssl.SSLError, OSError) as exc:
        raise LongwireError(f"cannot load CA file {args.cafile!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """``longwire connect``: check the options, connect, run the session; the exit status."""
    import asyncio  # noqa: PLC0415 - the client loads on demand

    from .._errors import LongwireError  # noqa: PLC0415
    from ..aio import connect  # noqa: PLC0415
    from ._connect_session import Session, open_connection  # noqa: PLC0415

    configure_logging(args.log_level, args.json_logs)
    secure = args.url.lower().startswith("wss:")
    if (args.cafile is not None or args.insecure) and not secure:
        option = "--cafile" if args.cafile is not None else "--insecure"
        return fail("connect", f"{option} is for wss:// URLs, not {args.url!r}")
    options: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("ping_interval", "max_message_size")
        if hasattr(args, name)
    }
    try:
        client = connect(
            args.url,
            subprotocols=args.subprotocol,
            headers=args.header,
            origin=args.origin,
            compression=not args.no_compression,
            open_timeout=args.connect_timeout,
            ssl=_ssl_context(args) if secure else None,
            **options,
        )
    except LongwireError as exc:  # InvalidURI, or the CA file
        return fail("connect", exc)

    async def main() -> int:
        ws = await open_connection(client, timeout=args.connect_timeout)
        if ws is None:
            return EXIT_ERROR
        session = Session(
            ws,
            url=args.url,
            binary=args.binary,
            wait=args.wait,
            offered=bool(args.subprotocol),
            json_logs=args.json_logs,
        )
        return await session.run()

    return asyncio.run(main())
