"""The CGI-like environment a program gets for one request (RFC 3875 §4.1, as websocketd)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .._version import __version__

if TYPE_CHECKING:
    from ..app import Request

__all__ = ["SERVER_SOFTWARE", "base_environ", "request_environ"]

SERVER_SOFTWARE = f"longwire/{__version__}"

# "Proxy" would become HTTP_PROXY, which many HTTP clients read as their proxy
# setting: a client could route the program's own requests (httpoxy, CVE-2016-5385).
_SKIPPED_HEADERS = frozenset({"proxy"})
# A unique id per request (Apache's mod_unique_id, which websocketd imitates):
# the server's start time and pid, then a counter.
_ID_PREFIX = f"{int(time.time()):x}{os.getpid():x}"
_counter = itertools.count(1)


def base_environ(passenv: Iterable[str], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables every program gets: those named in ``passenv`` that ``environ``
    has, and ``SERVER_SOFTWARE``."""
    env = {name: environ[name] for name in passenv if name in environ}
    env["SERVER_SOFTWARE"] = SERVER_SOFTWARE
    return env


def _host_and_port(host: str | None, scheme: str) -> tuple[str, str]:
    default = "443" if scheme == "https" else "80"
    if not host:
        return "", default
    if host.startswith("["):  # an IPv6 literal: "[::1]:8080"
        address, _, rest = host[1:].partition("]")
        return address, rest[1:] if rest.startswith(":") and rest[1:] else default
    name, colon, port = host.rpartition(":")
    if not colon:
        return host, default
    return name, port or default


def _clean(value: str) -> str:
    # NUL cannot be in an environment variable at all (a decoded path may hold one).
    return value.replace("\x00", "")


def request_environ(
    request: Request, base: Mapping[str, str], *, script_name: str
) -> dict[str, str]:
    """The environment for a program started for ``request``.

    Args:
        request: the request (the WebSocket upgrade, or the GET of an event stream).
        base: from ``base_environ``; copied, not changed.
        script_name: the endpoint's path without its trailing ``/`` (``""`` for
            ``/``): ``SCRIPT_NAME``, with the rest of the path in ``PATH_INFO``.
    """
    env = dict(base)
    client = request.client
    address, port = (client[0], str(client[1])) if client else ("", "")
    server_name, server_port = _host_and_port(request.headers.get("host"), request.scheme)
    path = request.path
    env.update(
        REMOTE_ADDR=address,
        REMOTE_HOST=address,  # no reverse lookups: they would stall every connection
        REMOTE_PORT=port,
        SERVER_NAME=server_name,
        SERVER_PORT=server_port,
        SERVER_PROTOCOL=f"HTTP/{request.http_version}",
        GATEWAY_INTERFACE="CGI/1.1",
        REQUEST_METHOD=request.method,
        SCRIPT_NAME=script_name,
        PATH_INFO=_clean(path[len(script_name) :] if path.startswith(script_name) else path),
        QUERY_STRING=request.query_string,
        REQUEST_URI=request.target,
        UNIQUE_ID=f"{_ID_PREFIX}-{next(_counter)}",
    )
    if request.scheme == "https":
        env["HTTPS"] = "on"
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower() not in _SKIPPED_HEADERS:
            key = "HTTP_" + name.upper().replace("-", "_")
            headers.setdefault(key, []).append(_clean(value).strip())
    for key, values in headers.items():
        env[key] = ", ".join(values)
    return env
