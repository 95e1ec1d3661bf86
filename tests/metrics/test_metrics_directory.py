"""Several processes, one directory: snapshots written atomically, summed, and retired."""

import json
import os
import subprocess
import sys

import pytest

from longwire.metrics import (
    RETIRED_FILE,
    Metrics,
    collect,
    read_directory,
    retire,
    write_snapshot,
)

OPEN = "longwire_connections_open"
REQUESTS = "longwire_http_requests_total"
CONNECTIONS = "longwire_connections_total"


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=60)
    return process.pid


def busy(pid: int, *, requests: int, open_http: int) -> Metrics:
    metrics = Metrics(pid=pid)
    metrics.http_responses[200] += requests
    metrics.http_connections += requests
    metrics.http_open += open_http
    return metrics


def files(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_live_processes_add_up(tmp_path):
    # Two live pids: this process and its parent.
    one = busy(os.getpid(), requests=3, open_http=1)
    two = busy(os.getppid(), requests=4, open_http=2)
    write_snapshot(str(tmp_path), one)
    write_snapshot(str(tmp_path), two)
    total = read_directory(str(tmp_path))
    assert total[REQUESTS] == {("200",): 7}
    assert total[OPEN] == {("http",): 3, ("websocket",): 0}
    assert files(tmp_path) == sorted([f"{os.getpid()}.json", f"{os.getppid()}.json"])


def test_a_dead_process_keeps_its_counters_not_its_gauges(tmp_path):
    write_snapshot(str(tmp_path), busy(os.getpid(), requests=3, open_http=1))
    write_snapshot(str(tmp_path), busy(dead_pid(), requests=4, open_http=2))
    total = read_directory(str(tmp_path))
    assert total[REQUESTS] == {("200",): 7}
    assert total[OPEN] == {("http",): 1, ("websocket",): 0}


def test_retire_keeps_counters_monotonic(tmp_path):
    directory = str(tmp_path)
    live = busy(os.getpid(), requests=3, open_http=1)
    gone_pid = dead_pid()
    write_snapshot(directory, live)
    write_snapshot(directory, busy(gone_pid, requests=4, open_http=2))
    before = read_directory(directory)

    retire(directory, gone_pid)
    assert files(tmp_path) == sorted([f"{os.getpid()}.json", RETIRED_FILE])
    after = read_directory(directory)
    assert after[REQUESTS] == before[REQUESTS] == {("200",): 7}
    assert after[CONNECTIONS][("http",)] == 7
    assert after[OPEN] == {("http",): 1, ("websocket",): 0}
    assert OPEN not in json.loads((tmp_path / RETIRED_FILE).read_text())["metrics"]

    retire(directory, gone_pid)  # twice: nothing left to fold
    retire(directory, 999_999_999)  # never wrote a snapshot
    assert read_directory(directory) == after

    # A second generation: the pid comes back (reused) with new counters.
    write_snapshot(directory, busy(gone_pid, requests=10, open_http=0))
    assert read_directory(directory)[REQUESTS] == {("200",): 17}
    retire(directory, gone_pid)
    assert read_directory(directory)[REQUESTS] == {("200",): 17}
    # Keys of snapshots gone from the directory are not kept forever.
    assert len(json.loads((tmp_path / RETIRED_FILE).read_text())["retired"]) == 1


def test_a_retire_interrupted_before_its_unlink_counts_once(tmp_path):
    directory = str(tmp_path)
    gone_pid = dead_pid()
    write_snapshot(directory, busy(gone_pid, requests=4, open_http=0))
    snapshot = (tmp_path / f"{gone_pid}.json").read_bytes()
    retire(directory, gone_pid)
    # Put the snapshot back, as if retire() had died between its two steps.
    (tmp_path / f"{gone_pid}.json").write_bytes(snapshot)
    assert read_directory(directory)[REQUESTS] == {("200",): 4}
    retire(directory, gone_pid)  # the supervisor tries again: not folded twice
    assert read_directory(directory)[REQUESTS] == {("200",): 4}
    assert files(tmp_path) == [RETIRED_FILE]


def test_other_files_are_ignored(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "123.json").write_text("{not json")
    (tmp_path / "124.json").write_text("[1, 2]")
    (tmp_path / "125.json").write_text('{"metrics": {"x": [[["a"], "NaN?"]]}}')
    write_snapshot(str(tmp_path), busy(os.getpid(), requests=2, open_http=0))
    assert read_directory(str(tmp_path))[REQUESTS] == {("200",): 2}


def test_writes_are_atomic_and_leave_no_temporary_file(tmp_path):
    metrics = busy(os.getpid(), requests=1, open_http=0)
    for _ in range(3):
        write_snapshot(str(tmp_path), metrics)
    assert files(tmp_path) == [f"{os.getpid()}.json"]
    data = json.loads((tmp_path / f"{os.getpid()}.json").read_text())
    assert data["pid"] == os.getpid()
    assert data["instance"] == metrics.instance


def test_collect(tmp_path):
    metrics = busy(os.getpid(), requests=2, open_http=1)
    assert collect(metrics) == metrics.snapshot()
    write_snapshot(str(tmp_path), busy(os.getppid(), requests=5, open_http=0))
    assert collect(metrics, str(tmp_path))[REQUESTS] == {("200",): 7}
    assert f"{os.getpid()}.json" in files(tmp_path)


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_directory(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        write_snapshot(str(tmp_path / "missing"), Metrics())
