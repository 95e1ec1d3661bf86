"""``longwire exec``, run as a user runs it: a subprocess on a real port.

Long-running servers go through ``cli_support.running`` (a bounded wait for the
"listening on" log line, killed in ``finally``); clients are the ``websockets``
library's and curl, so longwire is checked against other implementations.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from exec_support import PY, Running, run_cli, running
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

EXIT_TIMEOUT = 30
WS_TIMEOUT = 20

RELAY = "import sys\nfor line in sys.stdin: print('echo: ' + line.rstrip('\\n'))"


def exec_running(*args: str, ready: str = "listening on"):
    """``longwire exec --port 0 ARGS``, once it listens."""
    return running("exec", "--port", "0", *args, ready=ready)


def ws_url(process: Running, scheme: str = "ws") -> str:
    line = process.wait_for(f" at {scheme}://")
    match = re.search(rf"{scheme}://[^ ,]+", line)
    assert match, line
    return match[0]


def pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def wait_until(predicate, timeout: float = EXIT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.02)


def assert_one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    # Log lines aside (such as "event loop: uvloop" before a bind fails).
    log_line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO) ")
    lines = [line for line in result.stderr.splitlines() if not log_line.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("longwire exec: error: "), lines[0]
    for text in expected:
        assert text in lines[0]


# Help and usage errors.


def test_exec_help_has_examples_and_every_option():
    result = run_cli("exec", "--help")
    assert result.returncode == 0
    out = result.stdout
    assert "examples:" in out
    assert "longwire exec -- ./count.sh" in out
    for option in (
        "--host",
        "--port",
        "--path",
        "--tls-cert",
        "--tls-key",
        "--binary",
        "--broadcast",
        "--sse",
        "--sse-path",
        "--staticdir",
        "--max-processes",
        "--kill-grace",
        "--max-line-size",
        "--client-buffer",
        "--sse-heartbeat",
        "--sse-history",
        "--passenv",
        "--no-compression",
        "--log-level",
        "--json-logs",
        "--ping-interval",
        "--shutdown-timeout",
    ):
        assert option in out, option


def test_top_level_help_lists_exec():
    result = run_cli("--help")
    assert "exec" in result.stdout
    assert "longwire exec -- ./count.sh" in result.stdout


def test_version_loads_neither_asyncio_nor_websocketd():
    code = (
        "import sys\n"
        "from longwire.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({'asyncio', 'longwire.websocketd'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--", "no-such-program-longwire"], "command not found: 'no-such-program-longwire'"),
        ([], "no COMMAND given"),
        (["--"], "no COMMAND given"),
        (["--staticdir", "/no/such/dir", "--", "cat"], "--staticdir /no/such/dir: not found"),
        (["--tls-cert", "missing.pem", "--", "cat"], "TLS certificate file not found"),
        (["--tls-key", "key.pem", "--", "cat"], "without a certificate"),
        (["--max-processes", "0", "--", "cat"], "--max-processes must be at least 1 (or none"),
        (["--sse", "--binary", "--", "cat"], "--sse and --binary cannot be combined"),
        (["--path", "ws", "--", "cat"], "--path must start with '/'"),
        (["--sse-path", "/{x}", "--", "cat"], "--sse-path cannot contain braces"),
        (["--kill-grace", "0", "--", "cat"], "--kill-grace must be positive"),
        (["--ping-interval", "0", "--", "cat"], "--ping-interval must be positive"),
        (["--passenv", "A=B", "--", "cat"], "not an environment variable name"),
    ],
)
def test_mistakes_are_one_error_line_and_status_1(args, expected):
    assert_one_error_line(run_cli("exec", *args), expected)


def test_a_file_as_staticdir_and_a_program_that_is_not_executable(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    assert_one_error_line(
        run_cli("exec", "--staticdir", str(tmp_path / "file"), "--", "cat"), "not a directory"
    )
    assert_one_error_line(run_cli("exec", "--", str(tmp_path / "file")), "not executable")
    assert_one_error_line(run_cli("exec", "--", str(tmp_path)), "is a directory")


def test_port_in_use_is_one_error_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("exec", "--port", str(port), "--", "cat")
    assert_one_error_line(result, f"cannot listen on 127.0.0.1:{port}")


def test_unknown_option_and_bad_value_are_usage_errors():
    result = run_cli("exec", "--bogus", "--", "cat")
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr
    result = run_cli("exec", "--max-processes", "lots", "--", "cat")
    assert result.returncode == 2
    assert "expected an integer or 'none', not 'lots'" in result.stderr
    assert "Traceback" not in result.stderr


# Serving.


def test_serves_a_program_per_connection_and_stops_on_sigterm():
    with exec_running("--", "sh", "-c", "echo $$; exec cat") as process:
        url = ws_url(process)
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/", url)
        with connect(url, open_timeout=WS_TIMEOUT) as ws:
            pid = int(ws.recv(timeout=WS_TIMEOUT))
            ws.send("hello from websockets")
            assert ws.recv(timeout=WS_TIMEOUT) == "hello from websockets"
        wait_until(lambda: not pid_alive(pid))
        process.proc.send_signal(signal.SIGTERM)
        assert process.wait() == 0
        assert any('"WS /" 101' in line for line in process.stderr)


def test_metrics_count_the_sessions_of_exec():
    with exec_running("--metrics", "--", "cat") as process:
        url = ws_url(process)
        with connect(url, open_timeout=WS_TIMEOUT) as ws:
            for line in ("one", "two", "three"):
                ws.send(line)
                assert ws.recv(timeout=WS_TIMEOUT) == line
        metrics_url = url.replace("ws://", "http://") + "metrics"
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(metrics_url, timeout=10) as response:
                text = response.read().decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            closes = families["longwire_websocket_closes"].samples
            if closes or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        messages = {
            sample.labels["direction"]: sample.value
            for sample in families["longwire_websocket_messages"].samples
        }
        assert messages == {"in": 3, "out": 3}
        assert [(s.labels["code"], s.value) for s in closes] == [("1000", 1)]


def test_sigterm_to_the_server_ends_programs_the_same_way(tmp_path: Path):
    mark = tmp_path / "mark"
    code = (
        "import os, signal, sys, time\n"
        "def on_term(*_):\n"
        "    open(sys.argv[1], 'w').write('term')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "print(os.getpid())\n"
        "while True: time.sleep(0.05)\n"  # ignores end of file on stdin
    )
    with exec_running("--kill-grace", "0.3", "--", PY, "-u", "-c", code, str(mark)) as process:
        url = ws_url(process)
        with connect(url, open_timeout=WS_TIMEOUT, close_timeout=WS_TIMEOUT) as ws:
            pid = int(ws.recv(timeout=WS_TIMEOUT))
            process.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WS_TIMEOUT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        assert process.wait() == 0
        assert mark.read_text() == "term"
        assert not pid_alive(pid)


def test_process_limit(tmp_path: Path):
    with exec_running("--max-processes", "1", "--", "cat") as process:
        url = ws_url(process)
        with connect(url, open_timeout=WS_TIMEOUT) as first:
            first.send("x")
            assert first.recv(timeout=WS_TIMEOUT) == "x"
            with pytest.raises(InvalidStatus) as refused:
                connect(url, open_timeout=WS_TIMEOUT)
            assert refused.value.response.status_code == 503
            assert refused.value.response.headers["Retry-After"] == "1"
        process.wait_for("refusing 127.0.0.1")


def test_arguments_after_the_command_are_its_own():
    command = ["sh", "-c", 'echo "$0 $1 $2"', "zero", "--port", "-x"]
    with exec_running("--", *command) as process, connect(ws_url(process)) as ws:
        assert ws.recv(timeout=WS_TIMEOUT) == "zero --port -x"


def test_sse_with_curl():
    with exec_running("--sse", "--", "sh", "-c", "echo first; echo second") as process:
        port = ws_url(process).rsplit(":", 1)[1].rstrip("/")
        assert "events at http://127.0.0.1:" in process.wait_for("events at")
        result = subprocess.run(
            ["curl", "-N", "-s", "--max-time", "20", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            timeout=40,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (b"data: first\n\ndata: second\n\nevent: exit\ndata: exit status 0\n\n")


def test_broadcast_with_several_clients():
    with exec_running("--broadcast", "--", PY, "-u", "-c", RELAY) as process:
        url = ws_url(process)
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(connect(url, open_timeout=WS_TIMEOUT)) for _ in range(3)]
            clients[1].send("to everyone")
            for ws in clients:
                assert ws.recv(timeout=WS_TIMEOUT) == "echo: to everyone"


def test_staticdir_serves_the_page_beside_the_endpoint(tmp_path: Path):
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    with exec_running("--staticdir", str(tmp_path), "--", "cat") as process:
        url = ws_url(process)
        assert "files at http://" in process.wait_for("files at")
        http = url.replace("ws://", "http://")
        with urllib.request.urlopen(http, timeout=WS_TIMEOUT) as response:
            assert response.read() == b"<h1>hi</h1>"
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        with connect(url, open_timeout=WS_TIMEOUT) as ws:
            ws.send("both on /")
            assert ws.recv(timeout=WS_TIMEOUT) == "both on /"


def test_json_logs_carry_the_pid_of_stderr_lines():
    command = ["sh", "-c", "echo 'something odd' >&2; echo done"]
    with exec_running("--json-logs", "--", *command) as process:
        with connect(ws_url(process), open_timeout=WS_TIMEOUT) as ws:
            assert ws.recv(timeout=WS_TIMEOUT) == "done"
        wait_until(lambda: any("something odd" in line for line in process.stderr))
        [line] = [line for line in process.stderr if "something odd" in line]
    entry = json.loads(line)
    assert entry["logger"] == "longwire.exec"
    assert entry["level"] == "warning"
    assert isinstance(entry["pid"], int)
    assert entry["message"] == f"pid {entry['pid']}: something odd"


def test_log_level_warning_hides_the_access_log():
    with exec_running("--log-level", "warning", "--", "cat", ready="exec cat at") as process:
        with connect(ws_url(process), open_timeout=WS_TIMEOUT) as ws:
            ws.send("quiet")
            assert ws.recv(timeout=WS_TIMEOUT) == "quiet"
        process.proc.send_signal(signal.SIGTERM)
        assert process.wait() == 0
    assert not any("longwire.access" in line for line in process.stderr)


def test_tls(tmp_path: Path):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert_file = tmp_path / "cert.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    context = ssl.create_default_context()
    authority.configure_trust(context)
    with exec_running("--tls-cert", str(cert_file), "--", "cat") as process:
        url = ws_url(process, "wss")
        with connect(url, ssl=context, open_timeout=WS_TIMEOUT) as ws:
            ws.send("secret")
            assert ws.recv(timeout=WS_TIMEOUT) == "secret"


def test_no_program_outlives_the_server(tmp_path: Path):
    pidfile = tmp_path / "pids"
    code = (
        "import os, sys\n"
        "open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
        "print('up')\n"
        "sys.stdin.read()"
    )
    with exec_running("--", PY, "-u", "-c", code, str(pidfile)) as process:
        url = ws_url(process)
        with contextlib.ExitStack() as stack:
            for _ in range(3):
                ws = stack.enter_context(connect(url, open_timeout=WS_TIMEOUT))
                assert ws.recv(timeout=WS_TIMEOUT) == "up"
            process.proc.send_signal(signal.SIGTERM)
            assert process.wait() == 0
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3
    assert not any(pid_alive(pid) for pid in pids)
    assert os.getpid() not in pids


def test_the_docs_section_covers_every_option():
    from longwire.cli.exec_cmd import exec_options

    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    flags = {option.flag for option in exec_options()}
    flags |= {"--path", "--sse-path", "--staticdir", "--passenv", "--tls-cert", "--no-compression"}
    for flag in sorted(flags):
        assert f"`{flag}" in docs, flag
