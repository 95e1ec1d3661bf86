"""The command line, run as a user would run it: a subprocess."""

import subprocess
import sys

import longwire


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "longwire", *args], capture_output=True, text=True, timeout=60,
        check=False,
    )


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"longwire {longwire.__version__}"


def test_help_shows_commands_and_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout
    assert "examples:" in result.stdout


def test_demo_round_trips_over_loopback():
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "HTTP/1.1 101 Switching Protocols" in out
    assert "Sec-WebSocket-Accept:" in out
    assert "Sec-WebSocket-Extensions: permessage-deflate" in out
    assert "close echoed: 1000 'demo done'" in out
    assert "all round-tripped" in out


def test_unknown_command_is_one_error_line_and_exit_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr
