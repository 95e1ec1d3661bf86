"""websocketd mode in process: ``exec_app`` served by ``Server``, real programs, real sockets.

Per-connection mode: lines both ways, binary mode, the environment, the exit
status as the close code, the client leaving (EOF, SIGTERM, SIGKILL, the whole
process group), no zombies, the process limit, stderr in the log, long lines,
flow control both ways with nothing lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from exec_support import (
    PY,
    alive,
    any_loop,
    collect_until_closed,
    connect,
    python,
    recv,
    run,
    served,
    wait_for,
    wait_gone,
    zombie_children,
)

import longwire
from longwire import ConnectionClosed, HandshakeError
from longwire.websocketd import SERVER_SOFTWARE, exec_app

# Every scenario on both event loops (see exec_support.any_loop).
pytestmark = pytest.mark.usefixtures(any_loop.__name__)

CAT = ["cat"]


# Lines both ways.


def test_cat_echoes_each_message_as_a_line():
    async def scenario() -> None:
        async with served(CAT) as server, connect(server) as ws:
            for text in ("hello", "wörld ✓", "", "  spaced  "):
                await ws.send(text)
                assert await recv(ws) == text
            await ws.send(b"binary in line mode")  # written as a line too
            assert await recv(ws) == "binary in line mode"

    run(scenario)


def test_each_stdout_line_is_a_text_message_and_exit_0_closes_1000():
    command = ["sh", "-c", r"printf 'one\ntwo\r\n\nthree'"]  # CRLF, an empty line, no last LF

    async def scenario() -> None:
        async with served(command) as server, connect(server) as ws:
            assert await collect_until_closed(ws) == ["one", "two", "", "three"]
            assert (ws.close_code, ws.close_reason) == (1000, "exit status 0")

    run(scenario)


def test_a_line_that_is_not_utf8_gets_replacement_characters():
    command = ["sh", "-c", r"printf '\377ok\n'"]

    async def scenario() -> None:
        async with served(command) as server, connect(server) as ws:
            assert await collect_until_closed(ws) == ["\ufffdok"]

    run(scenario)


def test_a_message_with_newlines_becomes_several_lines():
    code = "import sys\nfor line in sys.stdin: print(repr(line))"

    async def scenario() -> None:
        async with served(python(code)) as server, connect(server) as ws:
            await ws.send("a\nb")
            assert await recv(ws) == repr("a\n")
            assert await recv(ws) == repr("b\n")

    run(scenario)


def test_exit_status_closes_1011_after_every_line():
    command = ["sh", "-c", "echo first; echo last; exit 3"]

    async def scenario() -> None:
        async with served(command) as server, connect(server) as ws:
            assert await collect_until_closed(ws) == ["first", "last"]
            assert (ws.close_code, ws.close_reason) == (1011, "exit status 3")

    run(scenario)


def test_killed_by_a_signal_closes_1011_with_its_name():
    command = ["sh", "-c", "echo dying; kill -KILL $$"]

    async def scenario() -> None:
        async with served(command) as server, connect(server) as ws:
            assert await collect_until_closed(ws) == ["dying"]
            assert (ws.close_code, ws.close_reason) == (1011, "killed by SIGKILL")

    run(scenario)


def test_a_program_that_closes_stdout_keeps_the_connection_until_it_exits():
    code = (
        "import os, sys\n"
        "print('bye stdout', flush=True)\n"
        "os.close(1)\n"
        "sys.stdin.readline()\n"  # still reads its stdin
        "sys.exit(4)"
    )

    async def scenario() -> None:
        async with served(python(code)) as server, connect(server) as ws:
            assert await recv(ws) == "bye stdout"
            await ws.send("go")
            assert await collect_until_closed(ws) == []
            assert (ws.close_code, ws.close_reason) == (1011, "exit status 4")

    run(scenario)


# Binary mode.


def test_binary_mode_sends_bytes_and_writes_messages_raw():
    async def scenario() -> None:
        async with served(CAT, binary=True) as server, connect(server) as ws:
            payload = bytes(range(256))
            await ws.send(payload)
            received = b""
            while len(received) < len(payload):
                chunk = await recv(ws)
                assert isinstance(chunk, bytes)
                received += chunk
            assert received == payload
            await ws.send("text, no newline")  # raw: UTF-8, nothing appended
            echoed = b""
            while len(echoed) < len("text, no newline"):
                echoed += await recv(ws)  # type: ignore[operator]
            assert echoed == b"text, no newline"

    run(scenario)


def test_binary_mode_passes_newlines_through():
    command = ["sh", "-c", r"printf 'a\nb\r\n\377'"]

    async def scenario() -> None:
        async with served(command, binary=True) as server, connect(server) as ws:
            messages = await collect_until_closed(ws)
            assert all(isinstance(m, bytes) for m in messages)
            assert b"".join(messages) == b"a\nb\r\n\xff"  # type: ignore[arg-type]
            assert ws.close_code == 1000

    run(scenario)


# The environment.

ENV_DUMP = "import json, os\nprint(json.dumps(dict(os.environ)))"


def test_cgi_environment(monkeypatch):
    monkeypatch.setenv("LONGWIRE_TEST_PASSED", "yes")
    monkeypatch.setenv("LONGWIRE_TEST_HIDDEN", "secret")

    async def scenario() -> None:
        async with served(
            python(ENV_DUMP), path="/ws", passenv=("PATH", "LONGWIRE_TEST_PASSED")
        ) as server:
            port = server.port
            headers = [("X-Custom", "one"), ("X-Custom", "two"), ("Proxy", "http://evil")]
            async with connect(server, "/ws/room/42?user=ada&x=%20", headers=headers) as ws:
                env = json.loads(await recv(ws))
            async with connect(server, "/ws") as ws:
                env2 = json.loads(await recv(ws))
        assert env["REMOTE_ADDR"] == env["REMOTE_HOST"] == "127.0.0.1"
        assert env["REMOTE_PORT"].isdigit()
        assert env["SERVER_NAME"] == "127.0.0.1"
        assert env["SERVER_PORT"] == str(port)
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert env["SERVER_SOFTWARE"] == SERVER_SOFTWARE
        assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
        assert env["REQUEST_METHOD"] == "GET"
        assert env["SCRIPT_NAME"] == "/ws"
        assert env["PATH_INFO"] == "/room/42"
        assert env["QUERY_STRING"] == "user=ada&x=%20"
        assert env["REQUEST_URI"] == "/ws/room/42?user=ada&x=%20"
        assert env["HTTP_X_CUSTOM"] == "one, two"
        assert env["HTTP_UPGRADE"] == "websocket"
        assert env["HTTP_HOST"] == f"127.0.0.1:{port}"
        assert "HTTP_PROXY" not in env  # httpoxy
        assert "HTTPS" not in env
        assert env["LONGWIRE_TEST_PASSED"] == "yes"
        assert "LONGWIRE_TEST_HIDDEN" not in env
        assert env["PATH"] == os.environ["PATH"]
        assert env2["PATH_INFO"] == ""
        assert env2["QUERY_STRING"] == ""
        assert env["UNIQUE_ID"] != env2["UNIQUE_ID"]

    run(scenario)


def test_endpoint_at_the_root_serves_every_path():
    async def scenario() -> None:
        async with served(python(ENV_DUMP)) as server, connect(server, "/any/where") as ws:
            env = json.loads(await recv(ws))
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/any/where")

    run(scenario)


def test_paths_outside_the_endpoint_are_404():
    async def scenario() -> None:
        async with served(CAT, path="/ws") as server:
            for path in ("/", "/wsx", "/other/ws"):
                with pytest.raises(HandshakeError) as caught:
                    async with connect(server, path):
                        pass
                assert caught.value.status == 404

    run(scenario)


# The client leaves: EOF, then SIGTERM, then SIGKILL; always reaped.

EOF_THEN_MARK = (
    "import os, sys\nprint(os.getpid())\nsys.stdin.read()\nopen(sys.argv[1], 'w').write('eof')\n"
)


def test_client_leaving_closes_stdin_and_the_program_is_reaped(tmp_path: Path):
    mark = tmp_path / "mark"

    async def scenario() -> None:
        async with served([PY, "-u", "-c", EOF_THEN_MARK, str(mark)]) as server:
            async with connect(server) as ws:
                pid = int(await recv(ws))
                assert alive(pid)
            await wait_gone(pid)
            assert mark.read_text() == "eof"
            assert pid not in zombie_children()

    run(scenario)


def test_a_program_ignoring_eof_gets_sigterm(tmp_path: Path):
    mark = tmp_path / "mark"
    code = (
        "import os, signal, sys, time\n"
        "def on_term(*_):\n"
        "    open(sys.argv[1], 'w').write('term')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "print(os.getpid())\n"
        "while True: time.sleep(0.05)\n"
    )

    async def scenario() -> None:
        async with served([PY, "-u", "-c", code, str(mark)], kill_grace=0.2) as server:
            async with connect(server) as ws:
                pid = int(await recv(ws))
            await wait_gone(pid)
            assert mark.read_text() == "term"

    run(scenario)


def test_a_program_ignoring_sigterm_gets_sigkill(caplog):
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print(os.getpid())\n"
        "while True: time.sleep(0.05)\n"
    )

    async def scenario() -> None:
        async with served(python(code), kill_grace=0.2) as server:
            async with connect(server) as ws:
                pid = int(await recv(ws))
            await wait_gone(pid)

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario)
    assert "did not exit" in caplog.text
    assert "killing it" in caplog.text


def test_the_whole_process_group_is_ended():
    # sh waits for its background child and ignores its stdin: only a signal to
    # the group ends the sleep too.
    command = ["sh", "-c", "sleep 600 & echo $!; wait"]

    async def scenario() -> None:
        async with served(command, kill_grace=0.2) as server:
            async with connect(server) as ws:
                sleeper = int(await recv(ws))
                assert alive(sleeper)
            await wait_gone(sleeper)

    run(scenario)


def test_many_connections_leave_no_process_and_no_zombie():
    pid_then_cat = ["sh", "-c", "echo $$; exec cat"]

    async def one(server: longwire.Server, index: int) -> int:
        async with connect(server) as ws:
            pid = int(await recv(ws))
            await ws.send(f"line {index}")
            assert await recv(ws) == f"line {index}"
            return pid

    async def scenario() -> None:
        async with served(pid_then_cat) as server:
            pids = await asyncio.gather(*(one(server, i) for i in range(20)))
            assert len(set(pids)) == 20
            for pid in pids:
                await wait_gone(pid)
        assert zombie_children() == []

    run(scenario)


def test_server_shutdown_ends_the_programs(tmp_path: Path):
    mark = tmp_path / "mark"

    async def scenario() -> None:
        ws = None
        async with served([PY, "-u", "-c", EOF_THEN_MARK, str(mark)]) as server:
            ws = await connect(server)
            pid = int(await recv(ws))
        # Leaving `served` shut the server down: 1001 to the client, EOF to the program.
        assert await collect_until_closed(ws) == []
        assert ws.close_code == 1001
        assert not alive(pid)  # the shutdown hook waited for it
        assert mark.read_text() == "eof"

    run(scenario)


# The process limit.


def test_connections_over_max_processes_are_refused_503(caplog):
    async def scenario() -> None:
        async with served(["sh", "-c", "echo $$; exec cat"], max_processes=2) as server:
            first = await connect(server)
            second = await connect(server)
            pids = [int(await recv(first)), int(await recv(second))]
            with pytest.raises(HandshakeError) as caught:
                async with connect(server):
                    pass
            assert caught.value.status == 503
            assert b"max 2" in caught.value.body
            await second.close()
            await first.close()
            for pid in pids:
                await wait_gone(pid)
            async with connect(server) as third:  # places are free again
                assert (await recv(third)).isdigit()  # type: ignore[union-attr]

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario)
    assert "max_processes" in caplog.text


def test_a_program_that_cannot_start_answers_500(tmp_path: Path, caplog):
    script = tmp_path / "vanishing.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)

    async def scenario() -> None:
        async with served([str(script)]) as server:
            script.unlink()  # checked at startup, gone by the time a client comes
            with pytest.raises(HandshakeError) as caught:
                async with connect(server):
                    pass
            assert caught.value.status == 500

    with caplog.at_level(logging.ERROR, logger="longwire.exec"):
        run(scenario)
    assert "cannot start" in caplog.text


def test_exec_app_checks_the_command_and_options(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="command not found"):
        exec_app(["no-such-program-longwire"])
    with pytest.raises(FileNotFoundError, match="command not found"):
        exec_app([str(tmp_path / "missing")])
    (tmp_path / "plain").write_text("not executable")
    with pytest.raises(PermissionError, match="not executable"):
        exec_app([str(tmp_path / "plain")])
    with pytest.raises(ValueError, match="no command"):
        exec_app([])
    with pytest.raises(TypeError):
        exec_app(CAT, no_such_option=1)
    with pytest.raises(FileNotFoundError):
        exec_app(CAT, staticdir=str(tmp_path / "nope"))


# stderr and long lines.


def test_stderr_lines_are_logged_with_the_pid(caplog):
    command = ["sh", "-c", "echo out; echo 'oops: it broke' >&2; echo $$ >&2"]

    async def scenario() -> None:
        async with served(command) as server, connect(server) as ws:
            assert await collect_until_closed(ws) == ["out"]

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario)
    records = [r for r in caplog.records if r.name == "longwire.exec"]
    messages = [r.getMessage() for r in records]
    pid = next(r.pid for r in records if "oops" in r.getMessage())  # type: ignore[attr-defined]
    assert f"pid {pid}: oops: it broke" in messages
    assert f"pid {pid}: {pid}" in messages


def test_a_line_over_max_line_size_is_sent_in_pieces(caplog):
    command = ["sh", "-c", "printf '%025d\\n' 7; printf 'éééééé\\n'"]

    async def scenario() -> None:
        async with served(command, max_line_size=10) as server, connect(server) as ws:
            messages = await collect_until_closed(ws)
        assert messages[:3] == ["0" * 10, "0" * 10, "00007"]
        # 12 bytes of two-byte characters in pieces of at most 10: never split in two.
        assert messages[3:] == ["ééééé", "é"]

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario)
    assert "over 10 bytes" in caplog.text


# Flow control, both ways, nothing lost.

COUNTER = (
    "import os, sys\n"
    "progress = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\n"
    "pad = 'x' * 16000\n"
    "for i in range(int(sys.argv[2])):\n"
    "    sys.stdout.write(f'{i} {pad}\\n')\n"
    "    sys.stdout.flush()\n"
    "    os.pwrite(progress, f'{i + 1:>10}'.encode(), 0)\n"
)


async def wait_until_still(read: Callable[[], int], quiet: float = 0.5) -> int:
    """Poll ``read()`` until it has not changed for ``quiet`` seconds; its last value."""
    last = read()
    still_since = asyncio.get_running_loop().time()
    async with asyncio.timeout(30):
        while asyncio.get_running_loop().time() - still_since < quiet:
            await asyncio.sleep(0.05)
            value = read()
            if value != last:
                last, still_since = value, asyncio.get_running_loop().time()
    return int(last)


def test_a_slow_client_pauses_the_program_and_loses_nothing(tmp_path: Path):
    progress = tmp_path / "progress"
    total = 5000  # lines of 16 KB: 80 MB, far beyond every buffer on the way

    def written() -> int:
        text = progress.read_text().strip() if progress.exists() else ""
        return int(text or 0)

    async def scenario() -> None:
        command = [PY, "-u", "-c", COUNTER, str(progress), str(total)]
        # The client reads nothing at first: its queue fills, it stops reading its
        # socket, the server's write buffer fills, the program's stdout is paused.
        # compression=False: the repetitive lines would shrink to nothing on the wire.
        served_ = served(command, compression=False)
        async with served_ as server, connect(server, max_queue=1) as ws:
            await wait_for(lambda: written() > 0)
            stalled_at = await wait_until_still(written)
            assert stalled_at < total, "the program was never paused"
            for expected in range(total):
                message = await recv(ws)
                assert isinstance(message, str)
                assert message.split(" ", 1)[0] == str(expected)
            assert await collect_until_closed(ws) == []
            assert ws.close_code == 1000

    run(scenario, timeout=120)


def test_a_slow_program_pauses_the_client_and_loses_nothing(tmp_path: Path):
    go = tmp_path / "go"
    count = 4000
    code = (
        "import hashlib, os, sys, time\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
        "digest = hashlib.sha256()\n"
        "lines = 0\n"
        "for line in sys.stdin.buffer:\n"
        "    digest.update(line)\n"
        "    lines += 1\n"
        "    if lines == int(sys.argv[2]): break\n"
        "print(lines, digest.hexdigest())\n"
    )
    messages = [f"{i:06d} ".encode() + bytes([65 + i % 26]) * 4000 for i in range(count)]
    expected = __import__("hashlib").sha256(b"".join(m + b"\n" for m in messages)).hexdigest()

    async def scenario() -> None:
        command = [PY, "-u", "-c", code, str(go), str(count)]
        served_ = served(command, compression=False, config={"max_queue": 4})
        async with served_ as server, connect(server) as ws:
            sent = 0

            async def send_all() -> None:
                nonlocal sent
                for message in messages:
                    await ws.send(message)
                    sent += 1

            sender = asyncio.create_task(send_all())
            stalled_at = await wait_until_still(lambda: sent)
            assert stalled_at < count, "the client was never held back"
            go.write_text("go")
            await asyncio.wait_for(sender, 60)
            answer = await recv(ws, timeout=60)
            assert answer == f"{count} {expected}"
            assert await collect_until_closed(ws) == []
            assert ws.close_code == 1000

    run(scenario, timeout=120)


@pytest.mark.skipif(sys.platform != "linux", reason="the pidfd spawner is Linux-only")
def test_the_fallback_spawner_behaves_the_same(monkeypatch):
    from longwire.websocketd import _spawn

    monkeypatch.setitem(_spawn._support, "fast", False)
    command = ["sh", "-c", "echo $$; exec cat"]

    async def scenario() -> None:
        async with served(command) as server:
            async with connect(server) as ws:
                pid = int(await recv(ws))
                await ws.send("via subprocess_exec")
                assert await recv(ws) == "via subprocess_exec"
            await wait_gone(pid)
            async with served(["sh", "-c", "echo x; exit 2"]) as other, connect(other) as ws:
                assert await collect_until_closed(ws) == ["x"]
                assert ws.close_code == 1011

    run(scenario)
    assert zombie_children() == []


def test_the_handshake_failing_midway_ends_the_program(tmp_path: Path):
    # The client sends its handshake and leaves before the answer.
    code = "import os, sys\nopen(sys.argv[1], 'w').write(str(os.getpid()))\nsys.stdin.read()\n"

    async def scenario() -> None:
        pidfile = tmp_path / "pid"
        async with served([PY, "-c", code, str(pidfile)]) as server:
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            writer.close()
            await writer.wait_closed()
            await wait_for(pidfile.exists)
            await wait_for(lambda: pidfile.read_text().isdigit())
            await wait_gone(int(pidfile.read_text()))

    run(scenario)


def test_no_exception_escapes_when_the_client_sends_after_the_program_exits():
    command = ["sh", "-c", "echo bye"]

    async def scenario() -> None:
        async with served(command) as server, connect(server) as ws:
            assert await recv(ws) == "bye"
            for _ in range(20):
                try:
                    await ws.send("late")
                except ConnectionClosed:
                    break
            assert await collect_until_closed(ws) == []
            assert ws.close_code == 1000

    run(scenario)


def test_an_exec_app_can_be_served_again_after_a_shutdown():
    app = exec_app(["cat"])
    broadcast = exec_app(["cat"], broadcast=True)

    async def scenario() -> None:
        for _ in range(2):
            for each in (app, broadcast):
                async with longwire.Server(each, port=0) as server, connect(server) as ws:
                    await ws.send("again")
                    assert await recv(ws) == "again"

    run(scenario)
