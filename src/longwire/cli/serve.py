"""``longwire serve``: serve an App (or the demo) until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

from .._errors import LongwireError
from ._common import UsageError, add_listen_options, browser_url, configure_logging, fail
from ._options import add_asgi_options, add_server_options, server_config

if TYPE_CHECKING:
    from ..aio import Server, ServerConfig
    from ..app import App

__all__ = ["load_app", "load_object", "register"]

_EXAMPLES = """\
examples:
  longwire serve                                  # the demo: http://127.0.0.1:8000/
  longwire serve --broker redis://127.0.0.1:6379 --port 8001   # the demo as one node of several
  longwire serve myapp:app --port 8080            # the App `app` in ./myapp.py
  longwire serve myapp:app --host 0.0.0.0 --max-connections none
  longwire serve myapp:app --ping-interval 30 --max-message-size 4194304
  longwire serve myapp:app --tls-cert cert.pem --tls-key key.pem   # https:// and wss://
  longwire serve --static ./public                # the files of ./public at /
  longwire serve myapp:app --static ./assets --static-prefix /assets --listing

The server and WebSocket options are the fields of longwire.aio.ServerConfig and
WebSocketOptions (docs/server.md); "none" turns off a limit that accepts it.
Exit status: 0 after a graceful shutdown (Ctrl+C or SIGTERM), 1 on an error,
2 on a usage error.
"""


def register(
    commands: Any, common: argparse.ArgumentParser, *, derived_options: bool = True
) -> None:
    """Add ``serve`` to the subcommands; ``derived_options`` imports the server
    to list the config options, so it is off unless ``serve`` was asked for.
    """
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="serve an App (or, with no APP, the built-in demo) until Ctrl+C",
        description="Serve a longwire App over HTTP/1.1 and WebSocket until SIGINT (Ctrl+C)\n"
        "or SIGTERM, then shut down gracefully. With no APP, serve the demo: a chat\n"
        "at / on the real-time hub (rooms, presence, history, typing indicators), and\n"
        "the WebSocket echo endpoint /echo.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.set_defaults(run=run)
    serve.add_argument(
        "app",
        nargs="?",
        metavar="APP",
        help="the App to serve, as module:attribute (imported from the current directory); "
        "default: the demo",
    )
    add_listen_options(serve, schemes="https:// and wss://")
    serve.add_argument(
        "--broker",
        metavar="URL",
        help="the demo's hub broker: memory:// (default, this process) or "
        "redis://HOST:PORT, to run the demo on several nodes (not with an APP: "
        "an app chooses its Hub's broker itself)",
    )
    static = serve.add_argument_group("static files")
    static.add_argument(
        "--static",
        metavar="DIR",
        help="serve the files under DIR (GET and HEAD, with ETag, ranges and sendfile); "
        "with an APP, its routes come first",
    )
    static.add_argument(
        "--static-prefix",
        default="/",
        metavar="PATH",
        help="the URL path DIR is served at (default: %(default)s)",
    )
    static.add_argument(
        "--listing",
        action="store_true",
        help="list the entries of a directory that has no index.html (default: 404)",
    )
    static.add_argument(
        "--cache-control",
        default="no-cache",
        metavar="VALUE",
        help="the Cache-Control of every file, such as 'public, max-age=3600'; "
        "'none' sends none (default: %(default)s: cached, revalidated each time)",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="serve with N processes sharing the port, under a supervisor that restarts "
        "them (SIGHUP: one by one); 1: a single process (default: %(default)s)",
    )
    serve.add_argument(
        "--reuse-port",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --workers: one SO_REUSEPORT socket per worker, balanced by the kernel; "
        "--no-reuse-port: one socket all workers accept on (default: SO_REUSEPORT on Linux)",
    )
    add_asgi_options(serve)  # longwire.asgi: --interface, --factory, --reload...
    if derived_options:
        add_server_options(serve)


def _workers(text: str) -> int:
    """An argparse type: a number of worker processes."""
    from ..aio._workers import MAX_WORKERS  # noqa: PLC0415 - the server loads on demand

    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of workers, not {text!r}") from None
    if not 1 <= number <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_WORKERS} workers, not {number}")
    return number


def load_app(spec: str) -> App:
    """The ``App`` named by ``module:attribute``, imported from the current directory.

    Raises:
        LongwireError: ``spec`` is malformed, the module is not found, the attribute
            is missing, or it is not an ``App``. Exceptions raised by the module's
            own code while it is imported propagate unchanged.
    """
    from ..app import App  # noqa: PLC0415 - the app layer loads on demand

    target = load_object(spec)
    if not isinstance(target, App):
        raise UsageError(
            f"{spec} is {type(target).__name__!r}, not a longwire App "
            "(make one with app = longwire.App())"
        )
    return target


def load_object(spec: str) -> object:
    """The object named by ``module:attribute`` (an App, or an ASGI application),
    imported from the current directory.

    Raises:
        LongwireError: ``spec`` is malformed, the module is not found or the
            attribute is missing. Exceptions raised by the module's own code
            while it is imported propagate unchanged.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"APP must be module:attribute, such as myapp:app, not {spec!r}")
    # Like `python -m`: modules in the current directory win (uvicorn does the same).
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise UsageError(
                f"cannot import {module_name!r}: no module named {missing!r} in {cwd} "
                "or on sys.path"
            ) from None
        raise  # the module itself imports something missing: its traceback says where
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return target


def run(args: argparse.Namespace) -> int:
    """``longwire serve``: configure, import the app, serve until a signal; the exit status."""
    from ..aio import run as run_server  # noqa: PLC0415 - the server loads on demand

    try:
        config = server_config(args)
    except LongwireError as exc:
        return fail("serve", exc)
    configure_logging(args.log_level, args.json_logs)
    if args.reload:
        return _reload(args)
    if args.workers > 1:
        return _supervise(args, config)
    try:
        app = _make_app(args)
    except UsageError as exc:
        return fail("serve", exc)
    except Exception:
        print(f"longwire serve: error: importing {args.app!r} failed:", file=sys.stderr)
        traceback.print_exc()
        return 1

    def ready(server: Server) -> None:
        _announce(args, server.config, server.host, server.port)

    try:
        run_server(app, args.host, args.port, uvloop=args.uvloop, ready=ready, config=config)
    except LongwireError as exc:
        return fail("serve", exc)
    return 0


def _make_app(args: argparse.Namespace) -> App:
    """The App to serve: APP, the demo, or an App for ``--static`` alone; with
    ``--static``, the directory mounted after APP's routes.

    Raises:
        UsageError: APP cannot be loaded, or ``--static``/``--static-prefix`` is wrong.
    """
    broker = getattr(args, "broker", None)
    if broker is not None and (args.app is not None or args.static is not None):
        raise UsageError("--broker applies to the demo only: pass broker= to your app's Hub")
    if args.app is None and args.static is None:
        from .._demo_app import app as demo  # noqa: PLC0415
        from .._demo_app import make_app  # noqa: PLC0415

        if broker is None:
            return demo
        try:
            return make_app(broker)
        except (ValueError, ImportError) as exc:
            raise UsageError(f"--broker: {exc}") from None
    if args.app is not None:
        from ..asgi._cli import app_from_target  # noqa: PLC0415

        try:
            app = app_from_target(load_object(args.app), args.app, args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        from ..app import App  # noqa: PLC0415

        app = App()
    if args.static is not None:
        cache_control = None if args.cache_control.lower() == "none" else args.cache_control
        try:
            app.static(
                args.static_prefix, args.static, cache_control=cache_control, listing=args.listing
            )
        except (OSError, ValueError) as exc:
            raise UsageError(f"--static {args.static}: {exc}") from None
    return app


def _reload(args: argparse.Namespace) -> int:
    """``--reload``: run this command line without it in a child, restarted on changes."""
    from ..asgi._reload import run_reloader  # noqa: PLC0415

    argv = sys.argv[1:]
    if args.workers > 1:
        return fail("serve", "--reload and --workers cannot be combined")
    if "serve" not in argv or "--reload" not in argv:
        return fail("serve", "--reload works only from the longwire command line")
    return run_reloader(argv, args.reload_dir)


def _announce(args: argparse.Namespace, config: ServerConfig, host: str, port: int) -> None:
    """Print the line that says where to go, once the server listens."""
    if args.app is None and args.static is not None:
        what = f"serving {args.static}"
    else:
        what = "longwire demo" if args.app is None else f"serving {args.app}"
    scheme = "https" if config.ssl is not None else "http"
    print(f"{what} at {browser_url(scheme, host, port)} (Ctrl+C to stop)", flush=True)


def _supervise(args: argparse.Namespace, config: ServerConfig) -> int:
    """``--workers N``: each worker imports the app itself; this process only supervises."""
    from ..aio._workers import supervise  # noqa: PLC0415

    def load() -> App:
        try:
            return _make_app(args)
        except UsageError:
            raise
        except Exception as exc:  # the module's own error: its traceback says where
            raise LongwireError(
                f"importing {args.app!r} failed:\n{traceback.format_exc().rstrip()}"
            ) from exc

    def ready(host: str, port: int) -> None:
        _announce(args, config, host, port)

    try:
        supervise(
            load,
            args.host,
            args.port,
            workers=args.workers,
            config=config,
            reuse_port=args.reuse_port,
            uvloop=args.uvloop,
            ready=ready,
        )
    except LongwireError as exc:
        return fail("serve", exc)
    return 0
