"""``longwire serve`` options derived from the config dataclasses.

Every field of ``ServerConfig`` and ``WebSocketOptions`` of a scalar type
(``int``, ``float``, ``bool``, ``int | None``, ``float | None``) becomes an
option named after it (``ping_interval`` → ``--ping-interval``), with its help
from the dataclass docstring's ``Attributes:`` section (or ``metadata["help"]``)
and its default from the dataclass, so a new setting reaches the command line
without being declared again here.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import LongwireError

if TYPE_CHECKING:
    from ..aio import ServerConfig

__all__ = [
    "DerivedOption",
    "add_asgi_options",
    "add_derived_option",
    "add_server_options",
    "as_flags",
    "config_options",
    "derive_options",
    "server_config",
    "server_options",
]


@dataclasses.dataclass(frozen=True, slots=True)
class DerivedOption:
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


def derive_options(sources: Sequence[tuple[type, str]]) -> list[DerivedOption]:
    """Options for the scalar fields of each ``(dataclass, group)`` in ``sources``.

    A field name already seen (``write_limit`` is in both ``ServerConfig`` and
    ``WebSocketOptions``) stays one option, as ``make_config`` gives its value to
    both; its help joins the two descriptions.
    """
    options: dict[str, DerivedOption] = {}
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
                options[field.name] = DerivedOption(
                    field.name, kind, nullable, default, text, group
                )
    return list(options.values())


@functools.cache
def server_options() -> tuple[DerivedOption, ...]:
    """The ``longwire serve`` options derived from ``ServerConfig`` and ``WebSocketOptions``."""
    from ..aio import ServerConfig, WebSocketOptions  # noqa: PLC0415 - only for `serve`

    return tuple(derive_options([(ServerConfig, "server"), (WebSocketOptions, "websocket")]))


def _metavar(option: DerivedOption) -> str:
    if option.kind is float:
        seconds = ("_timeout", "_interval", "_grace", "_heartbeat")
        unit = "SECONDS" if option.name.endswith(seconds) else "NUMBER"
    else:
        unit = "BYTES" if option.name.endswith(("_size", "_limit", "_buffer")) else "N"
    return f"{unit}|none" if option.nullable else unit


def _converter(option: DerivedOption) -> Callable[[str], object]:
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


def add_derived_option(group: Any, option: DerivedOption) -> None:
    """Add ``option`` to ``group`` (a parser or an argument group): a boolean as a
    ``--x`` / ``--no-x`` pair, anything else with its type's converter. An option
    not given is absent from the namespace, so the dataclass default applies.
    """
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


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options derived from ``ServerConfig`` and ``WebSocketOptions``, in two groups."""
    groups = {
        "server": parser.add_argument_group("server options (longwire.aio.ServerConfig)"),
        "websocket": parser.add_argument_group("WebSocket options (longwire.aio.WebSocketOptions)"),
    }
    for option in server_options():
        add_derived_option(groups[option.group], option)


def as_flags(message: str, names: Iterable[str]) -> str:
    """``message`` with field names (``max_processes``) as their options
    (``--max-processes``), and ``None`` as it is typed (``none``)."""
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    # One pass, and no match inside a word or an option already written out.
    pattern = rf"(?<![\w-])({alternatives}|None)(?![\w-])"
    return re.sub(
        pattern,
        lambda m: "none" if m[1] == "None" else "--" + m[1].replace("_", "-"),
        message,
    )


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The ``ServerConfig`` of a server command: its listening options
    (``--tls-cert``, ``--tls-key``, ``--metrics``, ``--server-header``) and the
    derived ones.

    Raises:
        LongwireError: a certificate or key cannot be loaded, or a value is
            refused by the field's own check (the message names the option).
    """
    from ..aio import make_config  # noqa: PLC0415 - only for server commands

    try:
        server_header = args.server_header
        return make_config(
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            metrics_path=args.metrics,
            server_header=None if server_header.lower() == "none" else server_header,
            **config_options(args),
        )
    except ValueError as exc:  # a field's own validation: name the option, not the field
        names = [option.name for option in server_options()] + ["server_header"]
        raise LongwireError(as_flags(str(exc), names)) from None


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The derived options given on the command line, as ``make_config`` keywords."""
    given = vars(args)
    return {option.name: given[option.dest] for option in server_options() if option.dest in given}


def add_asgi_options(parser: argparse.ArgumentParser) -> None:
    """Add the "ASGI applications" option group to ``serve``'s parser (longwire.asgi).

    The flags are uvicorn's where uvicorn has one, so moving from uvicorn is
    mostly a rename of the command (docs/asgi.md).
    """
    group = parser.add_argument_group(
        "ASGI applications (Starlette, FastAPI, Django...: docs/asgi.md)"
    )
    group.add_argument(
        "--interface",
        choices=("auto", "asgi", "native"),
        default="auto",
        help="what APP is: auto (a longwire App is native, any other callable ASGI 3), "
        "asgi or native (default: %(default)s)",
    )
    group.add_argument(
        "--factory",
        action="store_true",
        help="APP is a function returning the application: call it (with no arguments)",
    )
    group.add_argument(
        "--lifespan",
        choices=("auto", "on", "off"),
        default=None,
        help="the ASGI lifespan protocol: auto runs it if the app supports it, on requires "
        "it, off skips it (default: auto)",
    )
    group.add_argument(
        "--root-path",
        default=None,
        metavar="PATH",
        help="the path prefix a proxy strips before forwarding (the scope's root_path)",
    )
    group.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take the client address and scheme from Forwarded / X-Forwarded-For / "
        "X-Forwarded-Proto, when the peer is in --forwarded-allow-ips (default: off)",
    )
    group.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="LIST",
        help="comma-separated addresses or networks (10.0.0.0/8) of trusted proxies, "
        "or '*' for any (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)",
    )
    group.add_argument(
        "--reload",
        action="store_true",
        help="development: restart the server when a *.py file under the current "
        "directory (or --reload-dir) changes",
    )
    group.add_argument(
        "--reload-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="with --reload: watch DIR instead of the current directory (repeatable)",
    )
