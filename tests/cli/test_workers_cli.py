"""``longwire serve --workers N``, end to end: a supervisor and its workers as real processes.

Each supervisor runs in a session of its own, so its process group holds it and
all its workers: the ``finally`` of every test kills that whole group, and
checks on ``/proc`` tell whether any process (or zombie) is left.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import EXIT_TIMEOUT, STARTUP_TIMEOUT, run_cli
from prometheus_client.parser import text_string_to_metric_families

from longwire.aio._workers import reuse_port_available

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; SO_REUSEPORT balancing is Linux's"
)

APP_MODULE = '''\
import asyncio
import os
import pathlib

import longwire
from longwire import App

app = App()


@app.get("/pid")
async def pid(request):
    return str(os.getpid())


@app.post("/created")
async def created(request):
    return longwire.Response(b"", status=201)


@app.get("/slow")
async def slow(request):
    pathlib.Path("slow-started").touch()  # in the current directory: the test's tmp_path
    await asyncio.sleep(1)
    return f"slow {os.getpid()}"
'''

MODES = [
    pytest.param(
        "--reuse-port",
        id="reuse-port",
        marks=pytest.mark.skipif(not reuse_port_available(), reason="no SO_REUSEPORT"),
    ),
    pytest.param("--no-reuse-port", id="inherited-socket"),
]

BANNER = re.compile(
    r"^serving workers_app:app at https?://127\.0\.0\.1:(\d+)/ \(Ctrl\+C to stop\)$"
)


class Supervisor:
    """``longwire serve --workers ...`` in a new session, its output read by threads."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "longwire", "serve", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # process group id == self.proc.pid
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(["stdout:", *self.stdout, "stderr:", *self.stderr])

    def lines(self, text: str) -> list[str]:
        return [line for line in self.stdout + self.stderr if text in line]

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT, count: int = 1) -> str:
        """The ``count``-th output line containing ``text``; fails on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.lines(text)
            if len(found) >= count:
                return found[count - 1]
            if self.proc.poll() is not None:
                self.wait()
                pytest.fail(f"exited ({self.proc.returncode}) before {text!r}: {self.output}")
            time.sleep(0.02)
        pytest.fail(f"no {text!r} (x{count}) within {timeout} s: {self.output}")

    def ready_pids(self) -> list[int]:
        """The pids of the workers the supervisor logged as ready, in order."""
        pattern = re.compile(r"longwire\.workers: worker (\d+) ready")
        return [int(match[1]) for line in self.stderr if (match := pattern.search(line))]

    def wait_for_ready(self, exclude: set[int], count: int = 1) -> list[int]:
        """The first ``count`` workers ready that are not in ``exclude``."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            new = [pid for pid in self.ready_pids() if pid not in exclude]
            if len(new) >= count:
                return new[:count]
            time.sleep(0.02)
        pytest.fail(f"no {count} new workers ready within {STARTUP_TIMEOUT} s: {self.output}")

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        status = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return status

    def workers(self) -> set[int]:
        """The pids of the supervisor's live (not zombie) children."""
        return {
            pid
            for pid, (ppid, _, state) in processes().items()
            if ppid == self.proc.pid and state != "Z"
        }

    def kill(self) -> None:
        """SIGKILL the supervisor and every worker (its process group), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def supervisor(tmp_path: Path, *args: str) -> Iterator[tuple[Supervisor, int]]:
    """Serve the test app with ``args``; yield the supervisor and its port once ready."""
    (tmp_path / "workers_app.py").write_text(APP_MODULE)
    process = Supervisor("workers_app:app", "--port", "0", *args, cwd=tmp_path)
    try:
        banner = process.wait_for("serving workers_app:app")
        match = BANNER.match(banner)
        assert match, banner
        yield process, int(match[1])
    finally:
        process.kill()


def processes() -> dict[int, tuple[int, int, str]]:
    """``{pid: (ppid, process group, state)}`` of every process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (command) state ppid pgrp ...": the command may hold spaces and parentheses.
        state, ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        found[int(entry)] = (int(ppid), int(pgrp), state)
    return found


def assert_all_gone(process: Supervisor, pids: set[int]) -> None:
    """Nothing is left of the supervisor's group, and none of ``pids`` is alive or a zombie."""
    deadline = time.monotonic() + EXIT_TIMEOUT
    while time.monotonic() < deadline:
        table = processes()
        left = {pid for pid, (_, pgrp, _) in table.items() if pgrp == process.proc.pid}
        left |= pids & set(table)
        if not left:
            return
        time.sleep(0.05)
    table = processes()
    pytest.fail(f"left over: {[(pid, table.get(pid)) for pid in left]}\n{process.output}")


def get(port: int, path: str = "/pid", timeout: float = 10) -> str:
    """The body of ``GET path`` over a new connection (closed after the response)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 200, (response.status, body)
        return body
    finally:
        connection.close()


def pids_answering(port: int, expected: set[int], attempts: int = 200) -> set[int]:
    """The worker pids seen over up to ``attempts`` new connections, stopping once
    every pid in ``expected`` has answered.
    """
    seen: set[int] = set()
    for _ in range(attempts):
        seen.add(int(get(port)))
        if expected <= seen:
            break
    return seen


class Load:
    """A client in a thread: ``GET /pid`` on a new connection, again and again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: collections.Counter[int] = collections.Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.answers[int(get(self.port))] += 1
            except Exception as exc:
                self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_for_answers(self, count: int, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        target = self.answers.total() + count
        while self.answers.total() < target and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.answers.total() >= target, (self.answers, self.failures)


class SlowRequest:
    """``GET /slow`` in a thread: in flight (the handler has started) inside ``with``."""

    def __init__(self, port: int, directory: Path) -> None:
        self.answer = ""
        self._marker = directory / "slow-started"
        self._thread = threading.Thread(target=self._run, args=(port,), daemon=True)

    def _run(self, port: int) -> None:
        self.answer = get(port, "/slow", timeout=30)

    def __enter__(self) -> SlowRequest:
        self._marker.unlink(missing_ok=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self._marker.exists(), "GET /slow never started"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(timeout=30)


def test_two_workers_share_the_port_and_both_answer(tmp_path):
    with supervisor(tmp_path, "--workers", "2") as (process, port):
        workers = process.workers()
        assert len(workers) == 2, process.output
        assert pids_answering(port, workers) == workers  # the kernel spreads connections
        process.wait_for("all 2 workers ready")
        assert len(process.lines("serving workers_app:app")) == 1  # the banner, once
        assert process.stdout[0].startswith("serving workers_app:app at")
        assert len(process.lines("longwire.server: listening on")) == 2
        assert "SO_REUSEPORT" in process.wait_for("longwire.workers: supervisor")


@pytest.mark.parametrize("mode", MODES)
def test_a_killed_worker_is_replaced_while_the_others_answer(tmp_path, mode):
    with supervisor(tmp_path, "--workers", "2", mode) as (process, port):
        first = process.workers()
        victim, survivor = sorted(first)
        with Load(port) as load:
            load.wait_for_answers(5)
            os.kill(victim, signal.SIGKILL)
            process.wait_for(f"worker {victim} died (killed by SIGKILL)")
            process.wait_for("started (restart)")
            [new] = process.wait_for_ready(exclude=first)
            load.wait_for_answers(5)
            assert pids_answering(port, {new, survivor}) >= {new, survivor}
        assert process.workers() == {new, survivor}
        assert victim not in processes()  # reaped: not even a zombie
        # Only a request the killed worker was in the middle of can fail.
        assert len(load.failures) <= 1, load.failures
        assert load.answers[survivor] > 0


def created_total(port: int) -> float:
    """``longwire_http_requests_total{status="201"}`` as one worker answers it."""
    body = get(port, "/metrics")
    families = {family.name: family for family in text_string_to_metric_families(body)}
    samples = families["longwire_http_requests"].samples
    return sum(sample.value for sample in samples if sample.labels == {"status": "201"})


def post_created(port: int, count: int) -> None:
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", "/created", headers={"Connection": "close"})
            assert connection.getresponse().status == 201
        finally:
            connection.close()


def wait_for_total(port: int, expected: float) -> float:
    """Scrape until the total reaches ``expected``: other workers' snapshots are
    written at most once a second, so a scrape may be that much behind them.
    """
    deadline = time.monotonic() + 15
    total = created_total(port)
    while total < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        total = created_total(port)
    return total


@pytest.mark.parametrize("mode", MODES)
def test_metrics_add_up_over_workers_and_survive_a_killed_one(tmp_path, mode):
    with supervisor(tmp_path, "--workers", "2", mode, "--metrics") as (process, port):
        workers = process.workers()
        assert pids_answering(port, workers) == workers
        post_created(port, 40)
        assert wait_for_total(port, 40) == 40  # whichever worker answers: the sum of both
        assert {created_total(port) for _ in range(6)} == {40}
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        process.wait_for(f"worker {victim} died (killed by SIGKILL)")
        [new] = process.wait_for_ready(exclude=workers)
        # The dead worker's counts were folded into the retired totals: no drop.
        assert {created_total(port) for _ in range(6)} == {40}
        post_created(port, 10)
        assert wait_for_total(port, 50) == 50
        line = process.wait_for("workers share their metrics through")
        directory = Path(line.rpartition(" through ")[2])
        assert {path.name for path in directory.iterdir()} >= {f"{new}.json", "retired.json"}
        process.proc.send_signal(signal.SIGTERM)
        assert process.wait() == 0, process.output
        assert not directory.exists()  # removed by the supervisor on its way out


@pytest.mark.parametrize(
    "how", ["SIGTERM to the supervisor", "SIGINT to the process group (Ctrl+C)"]
)
def test_stop_drains_an_in_flight_request_then_every_process_exits(tmp_path, how):
    with supervisor(tmp_path, "--workers", "2") as (process, port):
        workers = process.workers()
        with SlowRequest(port, tmp_path) as slow:
            if how.startswith("SIGTERM"):
                process.proc.send_signal(signal.SIGTERM)
            else:
                os.killpg(process.proc.pid, signal.SIGINT)
        assert process.wait() == 0, process.output
        assert slow.answer.startswith("slow ")
        assert int(slow.answer.split()[1]) in workers
        assert_all_gone(process, workers)
        assert "Traceback" not in process.output
        assert len(process.lines("stopping 2 workers")) == 1, process.output
        assert len(process.lines("longwire.server: shutting down")) == 2, process.output
        for pid in workers:
            process.wait_for(f"worker {pid} exited (exit status 0)")


@pytest.mark.parametrize("mode", MODES)
def test_sighup_replaces_every_worker_one_by_one(tmp_path, mode):
    with supervisor(tmp_path, "--workers", "2", mode) as (process, port):
        old = process.workers()
        slow = SlowRequest(port, tmp_path)
        with Load(port) as load, slow:
            load.wait_for_answers(5)
            process.proc.send_signal(signal.SIGHUP)
            process.wait_for("rolling restart done")
            load.wait_for_answers(5)
        assert int(slow.answer.split()[1]) in old  # an old worker finished it first
        new = process.workers()
        assert len(new) == 2
        assert not new & old, process.output
        assert pids_answering(port, new) == new
        # Each old worker was stopped only once its replacement was ready.
        assert len(process.lines("ready, stopping worker")) == 2
        assert not old & set(processes())
        assert "Traceback" not in process.output
        # The listening sockets stayed open throughout: no connection was refused,
        # none waited in a queue that nobody served.
        print(f"{mode}: {load.answers.total()} requests during the roll, failures: {load.failures}")
        assert not [f for f in load.failures if "Refused" in f or "timed out" in f]
        # A connection an old worker accepted just before its SIGTERM, request
        # still on the wire, is answered too (the shutdown's grace for new
        # connections): the roll loses nothing.
        assert load.failures == []


def test_a_broken_deploy_stops_the_rolling_restart_and_the_old_workers_keep_serving(tmp_path):
    with supervisor(tmp_path, "--workers", "2") as (process, port):
        old = process.workers()
        (tmp_path / "workers_app.py").write_text("raise RuntimeError('half-written file')\n")
        process.proc.send_signal(signal.SIGHUP)
        line = process.wait_for("rolling restart stopped")
        assert "RuntimeError: half-written file" in process.output
        assert "the running workers keep serving" in line
        assert pids_answering(port, old) == old
        assert process.workers() == old


def test_workers_stop_by_themselves_when_the_supervisor_is_killed(tmp_path):
    with supervisor(tmp_path, "--workers", "2") as (process, _):
        workers = process.workers()
        process.proc.kill()
        process.wait()
        deadline = time.monotonic() + EXIT_TIMEOUT
        alive = workers
        while alive and time.monotonic() < deadline:
            table = processes()
            alive = {pid for pid in workers if pid in table and table[pid][2] != "Z"}
            time.sleep(0.05)
        assert not alive, process.output
        assert len(process.lines("the supervisor is gone: shutting down")) == 2


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("nosuchmodule:app", "cannot import 'nosuchmodule': no module named 'nosuchmodule'"),
        ("workers_app:missing", "module 'workers_app' has no attribute 'missing'"),
    ],
)
def test_an_app_that_cannot_load_is_one_error_line_and_exit_1(tmp_path, app, expected):
    (tmp_path / "workers_app.py").write_text(APP_MODULE)
    process = Supervisor(app, "--workers", "2", "--port", "0", cwd=tmp_path)
    try:
        assert process.wait() == 1, process.output
        assert "Traceback" not in process.output
        errors = [line for line in process.stderr if "error" in line.lower()]
        assert len(errors) == 1, process.output
        assert errors[0].startswith(f"longwire serve: error: {expected}")
        assert not process.lines("serving")
        assert_all_gone(process, set())
    finally:
        process.kill()


def test_an_app_module_that_raises_shows_its_traceback_once(tmp_path):
    (tmp_path / "broken.py").write_text("import nosuchdependency\n")
    result = run_cli("serve", "broken:app", "--workers", "2", "--port", "0", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("longwire serve: error: importing 'broken:app' failed:") == 1
    assert result.stderr.count("No module named 'nosuchdependency'") == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "expected 1 to 256 workers, not 0"), ("lots", "expected a number of workers")],
)
def test_bad_workers_value_is_a_usage_error(value, expected):
    result = run_cli("serve", "--workers", value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"argument --workers: {expected}" in result.stderr


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "SO_REUSEPORT"])
def test_a_port_in_use_is_one_error_line_even_against_so_reuseport(tmp_path, reuse_port):
    """A server already there with SO_REUSEPORT would let ours join its group silently."""
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--workers", "2", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert error == (
        f"longwire serve: error: cannot listen on 127.0.0.1:{port}: address already in use"
    )


def test_tls_with_workers(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    both = tmp_path / "both.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(both))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    (tmp_path / "workers_app.py").write_text(APP_MODULE)
    process = Supervisor(
        "workers_app:app", "--workers", "2", "--port", "0", "--tls-cert", str(both), cwd=tmp_path
    )
    try:
        banner = process.wait_for("serving workers_app:app at https://127.0.0.1:")
        match = BANNER.match(banner)
        assert match, banner
        port = int(match[1])
        workers = process.workers()
        seen: set[int] = set()
        for _ in range(200):
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
            try:
                connection.request("GET", "/pid", headers={"Connection": "close"})
                seen.add(int(connection.getresponse().read()))
            finally:
                connection.close()
            if seen == workers:
                break
        assert seen == workers
    finally:
        process.kill()
