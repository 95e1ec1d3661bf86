"""``longwire connect``, run as a user runs it: subprocesses against real servers on 127.0.0.1.

The servers are the longwire demo (``longwire serve``, whose /echo echoes) and
``websockets`` servers in threads of this process. Nothing here depends on
timing: piped sessions are fed through a pipe the test holds, and stdin ends
only once the replies were seen; interactive sessions run on a pseudo-terminal
read with a deadline. Every subprocess is killed in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_support import free_port, run_cli, running
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as websockets_serve

from longwire.aio import WebSocketOptions

TIMEOUT = 30  # seconds: generous, for a loaded 2-core machine


# Helpers.


class Piped:
    """``longwire connect ARGS`` with stdin, stdout and stderr on pipes (bytes)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "longwire", "connect", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout = bytearray()
        self.stderr = bytearray()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into: bytearray) -> None:
        while chunk := stream.read1(65536):
            into += chunk

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def end_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait_for_stdout(self, done: Callable[[bytes], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done(bytes(self.stdout)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"stdout never got there: {self.output}")
            time.sleep(0.02)

    def wait(self) -> int:
        status = self.proc.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=5)
        return status

    @property
    def output(self) -> str:
        return f"stdout: {bytes(self.stdout)[:2000]!r}\nstderr: {self.stderr.decode()}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def piped(*args: str) -> Iterator[Piped]:
    client = Piped(*args)
    try:
        yield client
    finally:
        client.kill()


class Terminal:
    """``longwire connect ARGS`` on a pseudo-terminal: stdin, stdout and stderr."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "longwire", "connect", *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
            )
        finally:
            os.close(slave)
        self.output = b""
        self._seen = 0  # expect() looks after the previous match

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at the end of output."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the process exited and closed the terminal
            return False
        self.output += data
        return bool(data)

    def expect(self, pattern: str) -> re.Match[bytes]:
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + TIMEOUT
        while (match := regex.search(self.output, self._seen)) is None:
            if time.monotonic() > deadline or not self._read(0.1):
                pytest.fail(f"no {pattern!r} in {self.output.decode(errors='replace')}")
        self._seen = match.end()
        return match

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self) -> int:
        status = self.proc.wait(timeout=TIMEOUT)
        while self._read(0.5):
            pass
        return status

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        os.close(self.master)


@contextlib.contextmanager
def terminal(*args: str) -> Iterator[Terminal]:
    term = Terminal(*args)
    try:
        yield term
    finally:
        term.close()


@contextlib.contextmanager
def websockets_server(
    handler: Callable[[ServerConnection], None], *, scheme: str = "ws", **kwargs
) -> Iterator[str]:
    """A ``websockets`` server in a thread; its base URL."""
    server = websockets_serve(handler, "127.0.0.1", 0, **kwargs)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit status 1 and one line on stderr, ``longwire connect: error: ...``."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("longwire connect: error: "), line
    for text in expected:
        assert text in line


def connect(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("connect", *args, input=input)


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    """The longwire demo server: ws://127.0.0.1:PORT (its /echo echoes)."""
    port = free_port()
    with running("serve", "--port", str(port), "--no-access-log"):
        yield f"ws://127.0.0.1:{port}"


# Piped: stdin lines become messages, messages go to stdout.


def test_piped_lines_are_sent_and_replies_printed_in_order(demo):
    with piped(f"{demo}/echo", "--wait", "0") as client:
        client.send(b"first\n")
        # Printed while stdin is still open: stdout is flushed per message.
        client.wait_for_stdout(lambda out: out == b"first\n")
        client.send("second\n\nh\u00e9llo \u2713\r\nlast\n".encode())
        client.wait_for_stdout(lambda out: out.endswith(b"last\n"))
        client.end_input()  # with --wait 0: close at once
        assert client.wait() == 0, client.output
    assert bytes(client.stdout).decode() == "first\nsecond\n\nh\u00e9llo \u2713\nlast\n"
    stderr = client.stderr.decode().splitlines()
    assert stderr[0].startswith(f"connected to {demo}/echo"), stderr
    assert stderr[-1] == "closed: code 1000 (normal closure)", stderr


def test_wait_keeps_receiving_after_stdin_ends(demo):
    # All of stdin at once, then EOF: replies to everything sent still come in.
    lines = [f"message {n}" for n in range(20)]
    # The last line has no newline: it is a message all the same.
    result = connect(f"{demo}/echo", "--wait", "3", input="\n".join(lines))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == lines


def test_large_text_message(demo):
    line = "x" * 300_000 + "\u00e9" * 1000
    with piped(f"{demo}/echo", "--wait", "0") as client:
        client.send(line.encode() + b"\n")
        client.wait_for_stdout(lambda out: out.endswith(b"\n"))
        client.end_input()
        assert client.wait() == 0, client.output
    assert bytes(client.stdout).decode() == line + "\n"


def test_binary_stdin_is_sent_and_received_as_is(demo):
    data = os.urandom(150_000) + b"\n\x00\r\n" + bytes(range(256))
    with piped(f"{demo}/echo", "--binary", "--wait", "0") as client:
        client.send(data)
        client.wait_for_stdout(lambda out: len(out) >= len(data))
        client.end_input()
        assert client.wait() == 0, client.output
    assert bytes(client.stdout) == data


def test_stdin_that_is_not_utf8_text_is_an_error(demo):
    with piped(f"{demo}/echo", "--wait", "0") as client:
        client.send(b"fine\n\xff\xfe\n")
        assert client.wait() == 1, client.output
    assert "longwire connect: error: line 2 of stdin is not UTF-8 text" in client.stderr.decode()


def test_received_binary_is_a_line_of_hex_without_binary():
    def handler(ws: ServerConnection) -> None:
        ws.send(b"\x00\x01\xff")
        ws.send("text")

    with websockets_server(handler) as url:
        result = connect(url, "--wait", "none")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0001ff\ntext\n"


# Against a websockets server: handshake options, close codes.


def test_subprotocol_headers_and_origin_reach_the_server():
    def handler(ws: ServerConnection) -> None:
        headers = ws.request.headers
        ws.send(json.dumps({
            "offered": headers["Sec-WebSocket-Protocol"],
            "chosen": ws.subprotocol,
            "token": headers.get_all("X-Token"),
            "trace": headers["X-Trace"],
            "origin": headers["Origin"],
        }))

    with websockets_server(handler, subprotocols=["jsonrpc"]) as url:
        result = connect(
            url, "--subprotocol", "chat", "--subprotocol", "jsonrpc",
            "-H", "X-Token: abc", "--header", "X-Token:  two words ", "-H", "x-trace:1",
            "--origin", "https://example.test", "--wait", "none",
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "offered": "chat, jsonrpc",
        "chosen": "jsonrpc",
        "token": ["abc", "two words"],
        "trace": "1",
        "origin": "https://example.test",
    }
    assert "(subprotocol: jsonrpc" in result.stderr.splitlines()[0]


def test_server_closing_with_another_code_exits_3_and_json_logs_parse():
    def handler(ws: ServerConnection) -> None:
        ws.send("bye soon")
        ws.close(4000, "custom reason")

    with websockets_server(handler) as url:
        result = connect(url, "--wait", "none", "--json-logs")
    assert result.returncode == 3, result.stderr
    assert result.stdout == "bye soon\n"
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records[0]["message"].startswith(f"connected to {url}")
    assert records[-1]["close_code"] == 4000
    assert records[-1]["close_reason"] == "custom reason"
    assert records[-1]["exit_status"] == 3
    assert records[-1]["level"] == "warning"


def test_dropped_connection_exits_4():
    def handler(ws: ServerConnection) -> None:
        ws.send("about to vanish")
        ws.recv()  # the client's first message: then drop TCP, no Close frame
        ws.socket.shutdown(socket.SHUT_RDWR)

    with websockets_server(handler) as url, piped(url, "--wait", "none") as client:
        client.wait_for_stdout(lambda out: out == b"about to vanish\n")
        client.send(b"go\n")
        assert client.wait() == 4, client.output
    assert "connection lost: code 1006" in client.stderr.decode()


# Interactive: a pseudo-terminal on stdin and stdout.


def test_interactive_messages_ping_and_close_with_a_code(demo):
    with terminal(f"{demo}/echo") as term:
        term.expect(r"connected to ")
        term.expect(r"> ")
        term.type("hello there\r")
        term.expect(r"< hello there")
        term.type("/ping\r")
        term.expect(r"pong in \d+\.\d+ ms")
        term.type("//not a command\r")
        term.expect(r"< /not a command")
        term.type("/nope\r")
        term.expect(r"unknown command '/nope'")
        term.type("/close 1005\r")
        term.expect(r"error: close code 1005 cannot be sent")
        term.type("/close 4001 see you\r")
        term.expect(r"closed: code 4001, reason 'see you'")
        assert term.wait() == 3


def test_interactive_binary_and_ctrl_d(demo):
    with terminal(f"{demo}/echo", "--binary") as term:
        term.expect(r"> ")
        term.type("hi\r")
        term.expect(re.escape("< [binary 2 bytes] 6869"))
        term.type("\x04")  # Ctrl+D at the start of a line: end of input
        term.expect(r"closed: code 1000 \(normal closure\)")
        assert term.wait() == 0


def test_interactive_interrupt_closes_cleanly(demo):
    with terminal(f"{demo}/echo") as term:
        term.expect(r"> ")
        # What Ctrl+C sends to the terminal's foreground process group.
        term.proc.send_signal(signal.SIGINT)
        term.expect(r"closed: code 1000")
        assert term.wait() == 0
    assert b"Traceback" not in term.output


# Errors: one line on stderr, status 1 (2 for argparse's usage errors).


def test_connection_refused():
    port = free_port()
    result = connect(f"ws://127.0.0.1:{port}/")
    assert_one_line_error(result, f"cannot connect to ws://127.0.0.1:{port}/: connection refused")


def test_not_a_websocket_url():
    result = connect("http://127.0.0.1/")
    assert_one_line_error(result, "not a WebSocket URL (ws:// or wss://): 'http://127.0.0.1/'")


def test_handshake_refused_with_404_shows_the_status(demo):
    result = connect(f"{demo}/missing")
    assert_one_line_error(result, "server refused the WebSocket handshake: 404")


def test_handshake_refused_with_403_shows_the_status():
    def forbid(connection, request):
        return connection.respond(403, "Forbidden\nno entry\n")

    with websockets_server(lambda ws: None, process_request=forbid) as url:
        result = connect(url)
    assert_one_line_error(result, "server refused the WebSocket handshake: 403", "no entry")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("no colon", "expected 'Name: value', not 'no colon'"),
        ("Bad Name: x", "'Bad Name' is not a valid header name"),
        ("Sec-WebSocket-Key: x", "cannot set Sec-WebSocket-Key"),
    ],
)
def test_bad_header_is_a_usage_error(header, message):
    result = connect("ws://127.0.0.1:9/", "-H", header)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"longwire connect: error: argument -H/--header: {message}" in result.stderr


def test_unknown_option_is_a_usage_error():
    result = connect("ws://127.0.0.1:9/", "--frobnicate")
    assert result.returncode == 2
    # argparse reports extra arguments from the top-level parser: "longwire: error: ..."
    assert "error: unrecognized arguments: --frobnicate" in result.stderr


def test_missing_cafile():
    result = connect("wss://127.0.0.1:9/", "--cafile", "no-such-ca.pem")
    assert_one_line_error(result, "CA file not found: no-such-ca.pem")


def test_cafile_with_a_ws_url():
    result = connect("ws://127.0.0.1:9/", "--insecure")
    assert_one_line_error(result, "--insecure is for wss:// URLs")


def test_wss_with_cafile_without_it_and_insecure(tmp_path: Path):
    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    with websockets_server(lambda ws: ws.send("secure"), scheme="wss", ssl=server_context) as url:
        trusted = connect(url, "--cafile", str(ca_file), "--wait", "none")
        untrusted = connect(url, "--wait", "none")
        insecure = connect(url, "--insecure", "--wait", "none")
    assert (trusted.returncode, trusted.stdout) == (0, "secure\n"), trusted.stderr
    assert_one_line_error(untrusted, "TLS certificate verification failed", "--cafile")
    assert (insecure.returncode, insecure.stdout) == (0, "secure\n"), insecure.stderr


def test_help_shows_examples_and_exit_statuses():
    result = connect("--help")
    assert result.returncode == 0
    for text in (
        "examples:", "echo hello | longwire connect", "--subprotocol", "--header", "--wait",
        "--binary", "--cafile", "--insecure", "exit status:", "/close [CODE [REASON]]",
    ):
        assert text in result.stdout, text
    assert re.search(r"^  3 +closed with another code", result.stdout, re.MULTILINE)
    # The client defaults the help states are longwire.connect's.
    defaults = WebSocketOptions()
    assert f"(default: {defaults.ping_interval:g}, as longwire.connect)" in result.stdout
    assert f"(default: {defaults.max_message_size}, as longwire.connect)" in result.stdout
