"""The ``longwire`` command line (also ``python -m longwire``).

``longwire serve`` takes its server options from the fields of ``ServerConfig``
and ``WebSocketOptions``: every field of a scalar type (``int``, ``float``,
``bool``, ``int | None``, ``float | None``) becomes an option named after it
(``ping_interval`` → ``--ping-interval``), with its help from the dataclass
docstring's ``Attributes:`` section (or ``metadata["help"]``) and its default
from the dataclass, so a new setting reaches the command line without being
declared again here.

Errors a user can fix (address in use, bad APP, missing certificate, bad value)
are one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import inspect
import logging
import math
import os
import re
import sys
import traceback
import types
import typing
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import LongwireError
from ._version import __version__

if TYPE_CHECKING:
    from .aio import Server
    from .app import App

__all__ = ["main"]

_EXAMPLES = """\
examples:
  longwire --version
  longwire serve                 # the demo server: open http://127.0.0.1:8000/
  longwire serve myapp:app       # serve the App named app in ./myapp.py
  longwire demo                  # a WebSocket handshake and messages over loopback, annotated
"""

_SERVE_EXAMPLES = """\
examples:
  longwire serve                                  # the demo: http://127.0.0.1:8000/
  longwire serve myapp:app --port 8080            # the App `app` in ./myapp.py
  longwire serve myapp:app --host 0.0.0.0 --max-connections none
  longwire serve myapp:app --ping-interval 30 --max-message-size 4194304
  longwire serve myapp:app --tls-cert cert.pem --tls-key key.pem   # https:// and wss://

The server and WebSocket options are the fields of longwire.aio.ServerConfig and
WebSocketOptions (docs/server.md); "none" turns off a limit that accepts it.
Exit status: 0 after a graceful shutdown (Ctrl+C or SIGTERM), 1 on an error,
2 on a usage error.
"""

_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# Wildcard addresses are not where a browser should go: show loopback instead.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class _UsageError(LongwireError):
    """A mistake on the command line found after parsing (APP, for instance)."""


# Options derived from the config dataclasses.


@dataclasses.dataclass(frozen=True, slots=True)
class _Option:
    """One ``longwire serve`` option derived from a config dataclass field."""

    name: str  # the field name, and the make_config keyword
    kind: type  # int, float or bool
    nullable: bool  # the field is `X | None`: "none" is accepted
    default: object
    help: str
    group: str  # "server" or "websocket"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return "config_" + self.name


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{field: description}`` from the ``Attributes:`` section of ``cls``'s docstring."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    docs: dict[str, str] = {}
    inside = False
    current: str | None = None
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        if not line.strip():
            current = None
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:  # the next section
            break
        match = re.match(r"\s+(\w+): (.*)", line)
        if match and (current is None or indent <= 4):
            current = match[1]
            docs[current] = match[2].strip()
        elif current is not None:
            docs[current] += " " + line.strip()
    return docs


def _scalar_type(hint: object) -> tuple[type, bool] | None:
    """``(type, nullable)`` for the field types the command line handles, else None."""
    if hint in (int, float, bool):
        assert isinstance(hint, type)
        return hint, False
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        others = [arg for arg in args if arg is not type(None)]
        if len(args) == 2 and len(others) == 1 and others[0] in (int, float):
            return others[0], True
    return None


def _help_text(text: str) -> str:
    """A docstring description as help text: no reST markup, no stated default."""
    text = text.replace("``", "")
    # The default shown is the dataclass's own, so a stale sentence cannot mislead.
    text = re.sub(r"\s*Default [^.]*\.", "", text).strip().rstrip(".")
    text = re.sub(r"\bNone\b", "none", text)  # what to type on the command line
    return text.replace("%", "%%")  # argparse formats help with %


def _show_default(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def derive_options(sources: Sequence[tuple[type, str]]) -> list[_Option]:
    """Options for the scalar fields of each ``(dataclass, group)`` in ``sources``.

    A field name already seen (``write_limit`` is in both ``ServerConfig`` and
    ``WebSocketOptions``) stays one option, as ``make_config`` gives its value to
    both; its help joins the two descriptions.
    """
    options: dict[str, _Option] = {}
    for cls, group in sources:
        docs = _attribute_docs(cls)
        hints = typing.get_type_hints(cls)
        defaults = cls()
        for field in dataclasses.fields(cls):
            scalar = _scalar_type(hints[field.name])
            if scalar is None:
                continue
            kind, nullable = scalar
            default = getattr(defaults, field.name)
            text = _help_text(str(field.metadata.get("help") or docs.get(field.name, "")))
            previous = options.get(field.name)
            if previous is not None:
                text = f"{previous.help}; on WebSockets, {text}"
                options[field.name] = dataclasses.replace(previous, help=text)
            else:
                options[field.name] = _Option(field.name, kind, nullable, default, text, group)
    return list(options.values())


@functools.cache
def server_options() -> tuple[_Option, ...]:
    """The ``longwire serve`` options derived from ``ServerConfig`` and ``WebSocketOptions``."""
    from .aio import ServerConfig, WebSocketOptions  # noqa: PLC0415 - only for `serve`

    return tuple(derive_options([(ServerConfig, "server"), (WebSocketOptions, "websocket")]))


def _metavar(option: _Option) -> str:
    if option.kind is float:
        unit = "SECONDS" if option.name.endswith(("_timeout", "_interval")) else "NUMBER"
    else:
        unit = "BYTES" if option.name.endswith(("_size", "_limit")) else "N"
    return f"{unit}|none" if option.nullable else unit


def _converter(option: _Option) -> Callable[[str], object]:
    """Parse an option's value: a finite number of the field's type, or ``none``."""
    kind = option.kind
    expected = "an integer" if kind is int else "a number"
    if option.nullable:
        expected += " or 'none'"

    def convert(text: str) -> object:
        if option.nullable and text.strip().lower() == "none":
            return None
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}")
        return value

    convert.__name__ = kind.__name__
    return convert


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    groups = {
        "server": parser.add_argument_group("server options (longwire.aio.ServerConfig)"),
        "websocket": parser.add_argument_group("WebSocket options (longwire.aio.WebSocketOptions)"),
    }
    for option in server_options():
        group = groups[option.group]
        help_ = f"{option.help} (default: {_show_default(option.default)})".lstrip()
        if option.kind is bool:
            group.add_argument(
                option.flag,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_,
            )
        else:
            group.add_argument(
                option.flag,
                dest=option.dest,
                type=_converter(option),
                default=argparse.SUPPRESS,
                metavar=_metavar(option),
                help=help_,
            )


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The derived options given on the command line, as ``make_config`` keywords."""
    given = vars(args)
    return {option.name: given[option.dest] for option in server_options() if option.dest in given}


# The parser.


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {port}")
    return port


def _build_parser(serve_options: bool = True) -> argparse.ArgumentParser:
    """The parser; without ``serve_options``, ``serve`` lacks the derived options,
    which import the server (asyncio and all), so ``--version`` and ``demo`` stay quick.
    """
    parser = argparse.ArgumentParser(
        prog="longwire",
        description="Real-time web communication: HTTP/1.1 and WebSocket server and client.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"longwire {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve an App (or, with no APP, the built-in demo) until Ctrl+C",
        description="Serve a longwire App over HTTP/1.1 and WebSocket until SIGINT (Ctrl+C)\n"
        "or SIGTERM, then shut down gracefully. With no APP, serve the demo: a page\n"
        "at / that talks to the WebSocket echo endpoint /echo.",
        epilog=_SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "app",
        nargs="?",
        metavar="APP",
        help="the App to serve, as module:attribute (imported from the current directory); "
        "default: the demo",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    serve.add_argument(
        "--tls-cert", metavar="FILE", help="PEM certificate chain: serve https:// and wss://"
    )
    serve.add_argument(
        "--tls-key", metavar="FILE", help="PEM private key (default: the key in --tls-cert's file)"
    )
    serve.add_argument(
        "--log-level", choices=_LOG_LEVELS, default="info", help="log level (default: %(default)s)"
    )
    serve.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use uvloop as the event loop; --no-uvloop: never (default: when installed)",
    )
    if serve_options:
        _add_server_options(serve)

    commands.add_parser(
        "demo",
        help="show the protocol cores at work over a loopback socket",
        description="Run a WebSocket client core against a server core over 127.0.0.1 "
        "and print every byte exchanged, annotated.",
    )
    return parser


# longwire serve


def load_app(spec: str) -> App:
    """The ``App`` named by ``module:attribute``, imported from the current directory.

    Raises:
        LongwireError: ``spec`` is malformed, the module is not found, the attribute
            is missing, or it is not an ``App``. Exceptions raised by the module's
            own code while it is imported propagate unchanged.
    """
    from .app import App  # noqa: PLC0415 - the app layer loads on demand

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise _UsageError(f"APP must be module:attribute, such as myapp:app, not {spec!r}")
    # Like `python -m`: modules in the current directory win (uvicorn does the same).
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise _UsageError(
                f"cannot import {module_name!r}: no module named {missing!r} in {cwd} "
                "or on sys.path"
            ) from None
        raise  # the module itself imports something missing: its traceback says where
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _UsageError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(target, App):
        raise _UsageError(
            f"{spec} is {type(target).__name__!r}, not a longwire App "
            "(make one with app = longwire.App())"
        )
    return target


def _configure_logging(level: str) -> None:
    """One line per record on stderr: time, level, logger, message."""
    logging.basicConfig(format=_LOG_FORMAT, datefmt=_LOG_DATE_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(level.upper())


def _browser_url(scheme: str, host: str, port: int) -> str:
    host = _ANY_ADDRESS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def _fail(message: object, command: str = "serve") -> int:
    print(f"longwire {command}: error: {message}", file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace) -> int:
    """``longwire serve``: configure, import the app, serve until a signal; the exit status."""
    from .aio import make_config, run  # noqa: PLC0415 - the server loads on demand

    try:
        config = make_config(tls_cert=args.tls_cert, tls_key=args.tls_key, **config_options(args))
    except LongwireError as exc:
        return _fail(exc)
    except ValueError as exc:  # a field's own validation: name the option, not the field
        message = str(exc)
        for option in server_options():
            message = re.sub(rf"\b{option.name}\b", option.flag, message)
        return _fail(message)
    _configure_logging(args.log_level)
    if args.app is None:
        from ._demo_app import app  # noqa: PLC0415
    else:
        try:
            app = load_app(args.app)
        except _UsageError as exc:
            return _fail(exc)
        except Exception:
            print(f"longwire serve: error: importing {args.app!r} failed:", file=sys.stderr)
            traceback.print_exc()
            return 1
    what = "longwire demo" if args.app is None else f"serving {args.app}"

    def ready(server: Server) -> None:
        scheme = "https" if server.config.ssl is not None else "http"
        url = _browser_url(scheme, server.host, server.port)
        print(f"{what} at {url} (Ctrl+C to stop)", flush=True)

    try:
        run(app, args.host, args.port, uvloop=args.uvloop, ready=ready, config=config)
    except LongwireError as exc:
        return _fail(exc)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the command; return the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    # The command is the first argument (the only options before it exit at once).
    parser = _build_parser(serve_options=arguments[:1] == ["serve"])
    args = parser.parse_args(arguments)
    if args.command == "serve":
        try:
            return _serve(args)
        except KeyboardInterrupt:  # Ctrl+C before the server took SIGINT over (or after)
            return 130
    if args.command == "demo":
        from ._demo import run_demo  # noqa: PLC0415 - loaded only when asked for

        try:
            return run_demo()
        except OSError as exc:
            return _fail(exc, "demo")
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
