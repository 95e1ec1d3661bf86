"""REDbot, the HTTP linter (https://redbot.org, ``pip install redbot``), against a URL on loopback.

``await redbot(url)`` runs REDbot's command line (``python -m redbot.cli -o har
URL``) in a subprocess, bounded by a timeout, and returns a ``Report``: the
response's status and header fields, and REDbot's notes, each with its level
(``"good"``, ``"info"``, ``"warning"`` or ``"bad"``)::

    async with Server(app, port=0, config=ServerConfig(access_log=False)) as server:
        report = await redbot(f"http://127.0.0.1:{server.port}/static/app.css")
    assert not report.at_level("bad"), report.describe()

What REDbot does with a URL: one GET, then its active checks, each a request of
its own to the same URL: ``Accept-Encoding: gzip`` (content negotiation), a
``Range`` (when the response has ``Accept-Ranges: bytes``), ``If-None-Match``
(when it has an ``ETag``) and ``If-Modified-Since`` (when it has a
``Last-Modified``). Notes from the checks land on the main response. It follows
no link (no ``--assets``) and needs no network beyond the target: its command
line enables access to loopback and private addresses (its web UI refuses them),
and ``DATE_CORRECT`` compares ``Date`` with the local clock.

Why a subprocess: REDbot runs on thor, its own event loop, whose ``run()``
blocks and whose HTTP client is a process-wide singleton; the longwire server
under test runs on the test's asyncio loop, which must keep serving meanwhile.
The HAR output (``-o har``) is REDbot's machine-readable one: its entries carry
``_red_messages``, the notes with their class name (``note_id``), ``level``,
``category``, ``subject``, ``summary`` and ``subnotes``. A note's long
explanation is only in the text and HTML outputs (``-o text_verbose``).

A run takes about 0.7 s (mostly importing REDbot). Only loopback URLs are
accepted: the tests lint their own servers, nothing else.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LEVELS", "REDBOT_TIMEOUT", "Note", "RedbotError", "Report", "parse_har", "redbot"]

REDBOT_TIMEOUT = 30.0
"""Seconds one REDbot run may take before it is killed (it takes about 0.7 s)."""

LEVELS = ("good", "info", "warning", "bad")
"""REDbot's note levels (httplint's ``levels`` values), from best to worst."""

# The HAR output names a level by its enum member's name.
_LEVEL_NAMES = {"GOOD": "good", "INFO": "info", "WARN": "warning", "BAD": "bad"}


class RedbotError(Exception):
    """REDbot did not produce a report (no response, a crash, a timeout)."""


@dataclass(frozen=True)
class Note:
    """One of REDbot's observations.

    Attributes:
        id: the note's class name in REDbot or httplint, e.g. ``"FRESHNESS_HEURISTIC"``:
            stable, so allow-lists use it (``grep -r "class FRESHNESS_HEURISTIC"``
            in the installed ``redbot`` or ``httplint`` package for its long text).
        level: ``"good"``, ``"info"``, ``"warning"`` or ``"bad"``.
        category: e.g. ``"GENERAL"``, ``"CACHING"``, ``"VALIDATION"``, ``"RANGE"``.
        subject: what it is about, e.g. ``"field-cache-control"``.
        summary: one sentence of English.
        subnotes: details, notes of their own.
    """

    id: str
    level: str
    category: str
    subject: str
    summary: str
    subnotes: tuple[Note, ...] = ()

    def __str__(self) -> str:
        return f"[{self.level}] {self.summary} ({self.id})"


@dataclass(frozen=True)
class Report:
    """What REDbot found about one URL.

    Attributes:
        url: the URL checked.
        status: the status code of REDbot's first GET.
        headers: that response's header fields, as (name, value) in order.
        notes: REDbot's notes, in its order (subnotes inside their parents).
    """

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    notes: tuple[Note, ...]

    def all_notes(self) -> Iterator[Note]:
        """Every note, subnotes included (each after its parent)."""

        def walk(notes: tuple[Note, ...]) -> Iterator[Note]:
            for note in notes:
                yield note
                yield from walk(note.subnotes)

        return walk(self.notes)

    def at_level(self, *levels: str) -> list[Note]:
        """The notes (subnotes included) of the given levels."""
        unknown = set(levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown levels {sorted(unknown)}: use {LEVELS}")
        return [note for note in self.all_notes() if note.level in levels]

    def ids(self) -> set[str]:
        """The ids of all the notes (subnotes included)."""
        return {note.id for note in self.all_notes()}

    def describe(self) -> str:
        """The response head and every note, one a line: for assertion messages."""
        lines = [f"REDbot on {self.url}: {self.status}"]
        lines += [f"  {name}: {value}" for name, value in self.headers]

        def add(notes: tuple[Note, ...], indent: str) -> None:
            for note in notes:
                lines.append(f"{indent}{note}")
                add(note.subnotes, indent + "  ")

        add(self.notes, "  - ")
        return "\n".join(lines)


def _check_loopback(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"not an HTTP URL: {url!r}")
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"REDbot only checks loopback servers here, not {url!r}")


def _note(message: dict[str, Any]) -> Note:
    level = _LEVEL_NAMES.get(message["level"])
    if level is None:
        raise RedbotError(f"unknown REDbot note level {message['level']!r} in {message}")
    return Note(
        id=message["note_id"],
        level=level,
        category=message["category"],
        subject=message["subject"],
        # REDbot escapes summaries for HTML (its web UI shows them as they are).
        summary=html.unescape(message["summary"]),
        subnotes=tuple(_note(sub) for sub in message.get("subnotes", ())),
    )


def parse_har(url: str, har: dict[str, Any]) -> Report:
    """The ``Report`` in REDbot's HAR output (``-o har``) for ``url``.

    Raises:
        RedbotError: REDbot reported an error, or got no complete response.
    """
    log = har["log"]
    if "_red_error" in log:
        raise RedbotError(f"REDbot on {url}: {log['_red_error']}")
    if not log["entries"]:
        raise RedbotError(f"REDbot on {url}: no complete response")
    entry = log["entries"][0]  # the URL itself; the others would be linked assets
    response = entry["response"]
    return Report(
        url=url,
        status=response["status"],
        # HAR keeps each value as sent after the colon, with its leading space.
        headers=tuple((h["name"], h["value"].strip()) for h in response["headers"]),
        notes=tuple(_note(message) for message in entry["_red_messages"]),
    )


async def redbot(url: str, *, timeout: float = REDBOT_TIMEOUT) -> Report:
    """Run REDbot on ``url`` (loopback only) and return its ``Report``.

    The server must be serving on the running loop meanwhile. REDbot is killed
    after ``timeout`` seconds (``TimeoutError``).

    Raises:
        ValueError: ``url`` is not an HTTP URL on a loopback address.
        RedbotError: REDbot failed (its stderr and stdout are in the
            message), or fetched no complete response.
        TimeoutError: REDbot took more than ``timeout`` seconds.
    """
    _check_loopback(url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "redbot.cli",
        "--output-format",
        "har",
        url,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    output = f"stderr:\n{err.decode('utf-8', 'replace')}\nstdout:\n{out[:4000]!r}"
    if process.returncode != 0:
        raise RedbotError(f"REDbot on {url} exited with {process.returncode}\n{output}")
    try:
        har = json.loads(out)
    except ValueError as exc:
        raise RedbotError(f"REDbot on {url} printed no HAR ({exc})\n{output}") from None
    try:
        return parse_har(url, har)
    except RedbotError as exc:
        # The HAR output leaves out why a fetch failed (refused, reset, a parse
        # error): `python -m redbot.cli URL` prints it.
        raise RedbotError(f"{exc} (run `python -m redbot.cli {url}` for the error)") from None
