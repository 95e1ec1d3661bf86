"""``longwire serve``: the choice between a native App and an ASGI app, from the options.

The options themselves are declared in ``cli._options.add_asgi_options`` (the
parser must not import the server); docs/asgi.md has the table mapping them
from uvicorn's.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, cast

from ._proxy import DEFAULT_FORWARDED_ALLOW_IPS, TrustedProxies

if TYPE_CHECKING:
    from ..app import App
    from ._scope import ASGIApplication

__all__ = ["app_from_target"]

_ASGI_ONLY = ("root_path", "proxy_headers", "lifespan")


def app_from_target(target: object, spec: str, args: argparse.Namespace) -> App:
    """The App to serve for ``target``, the object ``spec`` names, per ``args``.

    Raises:
        ValueError: the options do not fit the application (the message says why).
    """
    from ..app import App  # noqa: PLC0415 - loaded on demand, as the CLI does
    from ._adapter import ASGIApp, check_asgi3  # noqa: PLC0415

    if args.factory:
        if not callable(target):
            raise ValueError(f"--factory: {spec} is {type(target).__name__!r}, not callable")
        target = target()
    interface = args.interface
    if interface == "auto":
        # Not callable: neither; the message of a native App's is the more helpful.
        interface = "asgi" if callable(target) and not isinstance(target, App) else "native"
    if interface == "native":
        if not isinstance(target, App):
            raise ValueError(
                f"{spec} is {type(target).__name__!r}, not a longwire App "
                "(make one with app = longwire.App(), or serve an ASGI app with --interface asgi)"
            )
        given = [name for name in _ASGI_ONLY if getattr(args, name, None) is not None]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags}: only for ASGI applications; {spec} is a longwire App")
        return target
    if isinstance(target, App):
        raise ValueError(f"{spec} is a longwire App, not an ASGI application: --interface native")
    try:
        check_asgi3(target)
    except TypeError as exc:
        raise ValueError(f"{spec}: {exc}") from None
    if getattr(args, "static", None) is not None:
        raise ValueError("--static serves files for a longwire App, not for an ASGI application")
    root_path = (args.root_path or "").rstrip("/")
    if root_path and not root_path.startswith("/"):
        raise ValueError(f"--root-path must start with '/', not {args.root_path!r}")
    proxies = None
    if args.proxy_headers:
        hosts = args.forwarded_allow_ips or os.environ.get(
            "FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS
        )
        try:
            proxies = TrustedProxies(hosts)
        except ValueError as exc:
            raise ValueError(f"--forwarded-allow-ips: {exc}") from None
    lifespan: Any = args.lifespan or "auto"
    application = cast("ASGIApplication", target)
    return ASGIApp(application, root_path=root_path, lifespan=lifespan, proxy_headers=proxies)
