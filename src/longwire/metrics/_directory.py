"""Metrics shared by several processes through a directory of snapshot files.

Files in the directory:

- ``<pid>.json``: the latest snapshot of the live process ``pid``, replaced
  atomically (written to a temporary file, then ``os.replace``), so a reader
  sees a whole old or a whole new one;
- ``retired.json``: the counters of processes gone and retired, summed, with
  the ``pid:instance`` keys of the snapshots folded in.

A scrape sums every file: counters of all of them, gauges of live processes only.

``retire`` folds a snapshot into ``retired.json`` and only then removes it, so a
reader could see both: it skips a snapshot whose key ``retired.json`` lists, and
starts over if ``retired.json`` changed while it read. ``retire`` must have a
single caller (the supervisor); the processes themselves only write their own file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any

from ._counters import Metrics, Snapshot, counters_only, merge

__all__ = ["RETIRED_FILE", "collect", "read_directory", "retire", "write_snapshot"]

RETIRED_FILE = "retired.json"
"""The file holding the counters of retired processes."""

_SNAPSHOT_FILE = re.compile(r"([0-9]+)\.json")
# Rereading is needed only when a retire() lands during a read; retire runs once
# per worker restart, so two tries are plenty and five cannot loop for long.
_READ_ATTEMPTS = 5


def _encode(snapshot: Snapshot) -> dict[str, list[Any]]:
    return {
        name: [[list(labels), value] for labels, value in samples.items()]
        for name, samples in snapshot.items()
    }


def _decode(data: object) -> Snapshot:
    if not isinstance(data, dict):
        raise ValueError("metrics must be a JSON object")
    snapshot: Snapshot = {}
    for name, samples in data.items():
        family = snapshot[str(name)] = {}
        for labels, value in samples:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{name}: not a number: {value!r}")
            family[tuple(str(label) for label in labels)] = value
    return snapshot


def _write_json(directory: str, name: str, data: dict[str, Any]) -> None:
    """Write ``directory/name`` atomically: readers see the old file or the new one."""
    path = os.path.join(directory, name)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(data, file, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _read_json(path: str) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it is missing or not one (a foreign file)."""
    try:
        with open(path, "rb") as file:
            data = json.loads(file.read())
    except FileNotFoundError:
        return None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _key(data: dict[str, Any]) -> str:
    return f"{data.get('pid')}:{data.get('instance')}"


def _on_disk(directory: str, key: str) -> bool:
    """Whether the snapshot ``key`` (``pid:instance``) is still in ``directory``.

    Only such keys need keeping in ``retired.json`` (a retire interrupted before its
    unlink): a reader can no longer find the others, so the list stays short.
    """
    pid = key.partition(":")[0]
    if not pid.isdigit():
        return False
    return _key(_read_json(os.path.join(directory, f"{pid}.json")) or {}) == key


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) means something else on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    except OSError:
        return False
    return True


def write_snapshot(directory: str, metrics: Metrics, snapshot: Snapshot | None = None) -> None:
    """Replace ``directory/<metrics.pid>.json`` with ``snapshot`` (default: ``metrics.snapshot()``).

    Raises:
        OSError: the directory is missing or not writable.
    """
    if snapshot is None:
        snapshot = metrics.snapshot()
    data = {"pid": metrics.pid, "instance": metrics.instance, "metrics": _encode(snapshot)}
    _write_json(directory, f"{metrics.pid}.json", data)


def read_directory(directory: str) -> Snapshot:
    """The sum of the snapshots in ``directory``: counters of every process that
    wrote one (retired ones included), gauges of the processes still alive.

    Files that are not snapshots, or do not parse, are ignored.

    Raises:
        OSError: the directory cannot be listed.
    """
    retired_path = os.path.join(directory, RETIRED_FILE)
    total: Snapshot = {}
    for _ in range(_READ_ATTEMPTS):
        retired = _read_json(retired_path) or {}
        keys = set(retired.get("retired", ()))
        parts: list[Snapshot] = []
        with contextlib.suppress(TypeError, ValueError):
            parts.append(_decode(retired.get("metrics", {})))
        for name in sorted(os.listdir(directory)):
            match = _SNAPSHOT_FILE.fullmatch(name)
            if match is None:
                continue
            data = _read_json(os.path.join(directory, name))
            if data is None or _key(data) in keys:
                continue  # retired between the listing and now, or folded already
            try:
                snapshot = _decode(data.get("metrics", {}))
            except (TypeError, ValueError):
                continue
            if not _process_alive(int(match[1])):
                snapshot = counters_only(snapshot)
            parts.append(snapshot)
        total = merge(parts)
        if (_read_json(retired_path) or {}) == retired:
            break
    return total


def retire(directory: str, pid: int) -> None:
    """Fold the counters of the (reaped) process ``pid`` into ``retired.json``; drop its file.

    Its gauges are dropped: a process that is gone has no open connections. A
    pid with no snapshot file is ignored. Only one process (the supervisor) may
    call this for a given directory.

    Raises:
        OSError: the directory is not writable.
    """
    path = os.path.join(directory, f"{pid}.json")
    data = _read_json(path)
    if data is None:
        return
    retired = _read_json(os.path.join(directory, RETIRED_FILE)) or {}
    try:
        folded = _decode(retired.get("metrics", {}))
    except (TypeError, ValueError):
        folded = {}
    key = _key(data)
    keys = [old for old in retired.get("retired", ()) if old != key and _on_disk(directory, old)]
    if key not in retired.get("retired", ()):
        with contextlib.suppress(TypeError, ValueError):
            folded = merge([folded, counters_only(_decode(data.get("metrics", {})))])
    _write_json(directory, RETIRED_FILE, {"retired": [*keys, key], "metrics": _encode(folded)})
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def collect(metrics: Metrics, directory: str | None = None) -> Snapshot:
    """What a scrape answers: ``metrics.snapshot()``, or with ``directory``, the
    sum over the directory after writing this process's snapshot into it.

    Raises:
        OSError: ``directory`` cannot be written or listed.
    """
    if directory is None:
        return metrics.snapshot()
    write_snapshot(directory, metrics)
    return read_directory(directory)
