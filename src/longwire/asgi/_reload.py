"""``longwire serve --reload``: rerun the server in a fresh process whenever the code changes.

For development. This process serves nothing: it runs the same command line
without ``--reload`` as a child, polls the modification times of the ``*.py``
files under the watched directories (stdlib only: ``os.scandir`` every
``POLL_INTERVAL``), and on a change stops the child (SIGTERM, so it shuts down
gracefully) and starts a new one. A child that fails to start (a syntax error)
is simply started again at the next change. Ctrl+C or SIGTERM stops both.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from types import FrameType

__all__ = ["POLL_INTERVAL", "run_reloader", "snapshot"]

logger = logging.getLogger("longwire.reload")

POLL_INTERVAL = 0.5
"""Seconds between two scans of the watched files."""
STOP_TIMEOUT = 15.0
"""Seconds a child has to exit after SIGTERM before it is killed (above the
default shutdown_timeout of 10)."""
_SKIPPED_DIRECTORIES = frozenset({"__pycache__", "node_modules", "site-packages"})


def snapshot(directories: Iterable[str]) -> dict[str, int]:
    """``{path: mtime_ns}`` of every ``*.py`` file under ``directories``.

    Hidden directories (``.git``, ``.venv``), ``__pycache__``, ``node_modules`` and
    ``site-packages`` are skipped: they hold no code of the app's own.
    """
    found: dict[str, int] = {}
    pending = [os.path.abspath(directory) for directory in directories]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith(".") and name not in _SKIPPED_DIRECTORIES:
                        pending.append(entry.path)
                elif name.endswith(".py"):
                    found[entry.path] = entry.stat().st_mtime_ns
            except OSError:  # gone between the listing and the stat
                continue
    return found


def _changed(before: dict[str, int], after: dict[str, int]) -> list[str]:
    changed = [path for path, mtime in after.items() if before.get(path) != mtime]
    return changed + [path for path in before if path not in after]


def child_command(argv: Sequence[str]) -> list[str]:
    """The command of the child: ``argv`` (after ``longwire``) without ``--reload``."""
    return [sys.executable, "-m", "longwire", *(arg for arg in argv if arg != "--reload")]


def run_reloader(argv: Sequence[str], directories: Sequence[str] | None) -> int:
    """Run ``longwire argv`` (minus ``--reload``) and restart it on changes; the exit status."""
    watched = list(directories or [os.getcwd()])
    command = child_command(argv)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"longwire serve: watching {', '.join(watched)} for changes (--reload)", flush=True)
    files = snapshot(watched)
    child = subprocess.Popen(command)
    try:
        while not stopping:
            time.sleep(POLL_INTERVAL)
            current = snapshot(watched)
            changed = _changed(files, current)
            if not changed:
                continue
            files = current
            shown = os.path.relpath(changed[0])
            more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
            print(f"longwire serve: {shown}{more} changed: restarting", flush=True)
            _stop(child)
            if not stopping:
                child = subprocess.Popen(command)
    finally:
        _stop(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.warning("the server did not stop within %gs: killing it", STOP_TIMEOUT)
        child.kill()
        child.wait()
