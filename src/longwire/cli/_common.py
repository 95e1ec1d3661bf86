"""What every ``longwire`` command shares: error lines, logging, argument types."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from .._errors import LongwireError

__all__ = [
    "LOG_LEVELS",
    "JSONFormatter",
    "UsageError",
    "add_listen_options",
    "add_metrics_option",
    "browser_url",
    "common_options",
    "configure_logging",
    "fail",
    "port",
]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Wildcard addresses are not where a browser should go: show loopback instead.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}

# The attributes every LogRecord has; the others came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class UsageError(LongwireError):
    """A mistake on the command line found after parsing (APP, for instance)."""


def fail(command: str, message: object) -> int:
    """Print ``longwire COMMAND: error: MESSAGE`` on stderr; return exit status 1."""
    print(f"longwire {command}: error: {message}", file=sys.stderr)
    return 1


def port(text: str) -> int:
    """An argparse type: a TCP port number, 0 to 65535."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, not {number}")
    return number


def add_listen_options(parser: argparse.ArgumentParser | Any, *, schemes: str) -> None:
    """Where and how a server listens: ``--host``, ``--port``, ``--tls-cert``,
    ``--tls-key``, ``--uvloop`` and ``--metrics`` (``schemes``: what TLS serves,
    for the help text, e.g. "https:// and wss://").
    """
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port,
        default=8000,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--tls-cert", metavar="FILE", help=f"PEM certificate chain: serve {schemes}"
    )
    parser.add_argument(
        "--tls-key", metavar="FILE", help="PEM private key (default: the key in --tls-cert's file)"
    )
    parser.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use uvloop as the event loop; --no-uvloop: never (default: when installed)",
    )
    add_metrics_option(parser)
    parser.add_argument(
        "--server-header",
        default="longwire",
        metavar="TEXT|none",
        help="the Server field of every HTTP response; none sends none (default: %(default)s)",
    )


def add_metrics_option(parser: argparse.ArgumentParser | Any) -> None:
    """``--metrics [PATH]``: the server's Prometheus endpoint (``ServerConfig.metrics_path``)."""
    parser.add_argument(
        "--metrics",
        nargs="?",
        const="/metrics",
        type=_metrics_path,
        metavar="PATH",
        help="answer GET PATH (default /metrics) with the server's metrics in the "
        "Prometheus text format (default: no such endpoint)",
    )


def _metrics_path(text: str) -> str:
    """An argparse type: the path of the metrics endpoint."""
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(
            f"expected a path such as /metrics, not {text!r} (give it after the other "
            "arguments, or as --metrics=PATH)"
        )
    return text


def common_options() -> argparse.ArgumentParser:
    """The options every command takes (a parent parser): ``--log-level``, ``--json-logs``."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("logging")
    group.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="log level (default: %(default)s)"
    )
    group.add_argument(
        "--json-logs",
        action="store_true",
        help="log one JSON object per line on stderr (time, level, logger, message, "
        "and structured fields such as an access log line's status)",
    )
    return parent


class JSONFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (RFC 3339, UTC), ``level``, ``logger``,
    ``message``, ``exception`` when there is one, and the fields given as ``extra=``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def _rfc3339(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str, json_logs: bool = False) -> None:
    """Log to stderr at ``level``: one line per record, text or JSON."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(_LOG_FORMAT, _LOG_DATE_FORMAT))
    root = logging.getLogger()
    for previous in root.handlers[:]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())


def browser_url(scheme: str, host: str, port: int) -> str:
    """The URL a browser on this machine should open for a server on ``host:port``."""
    host = _ANY_ADDRESS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"
