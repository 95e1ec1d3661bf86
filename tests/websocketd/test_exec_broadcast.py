"""``--broadcast``: one program for every client; and ``--sse``, its output as an event stream.

In process, as in ``test_exec_bridge``: ``exec_app`` under a real ``Server``.
Event streams are read with raw HTTP (chunk by chunk), WebSockets with
``longwire.connect``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from exec_support import (
    PY,
    alive,
    any_loop,
    collect_until_closed,
    connect,
    python,
    read_chunk,
    read_http_head,
    recv,
    run,
    served,
    wait_for,
    wait_gone,
)

from longwire.aio import Server
from longwire.websocketd import RESTART_INITIAL_DELAY, exec_app

# Every scenario on both event loops (see exec_support.any_loop).
pytestmark = pytest.mark.usefixtures(any_loop.__name__)

# A broadcast program: echoes each stdin line to stdout with a prefix; "burst N"
# writes N lines at once; "quit" exits (to test the restart); its pid first.
RELAY = (
    "import os, sys\n"
    "runs = sys.argv[1]\n"
    "n = int(open(runs).read()) + 1 if os.path.exists(runs) else 1\n"
    "open(runs, 'w').write(str(n))\n"
    "print(f'started {n} {os.getpid()}')\n"
    "for line in sys.stdin:\n"
    "    line = line.rstrip('\\n')\n"
    "    if line == 'quit': sys.exit(5)\n"
    "    if line.startswith('burst '):\n"
    "        for i in range(int(line.split()[1])): print(f'{i:08d} ' + 'y' * 1000)\n"
    "        print('burst done')\n"
    "    else: print(f'echo: {line}')\n"
)


def relay(tmp_path: Path) -> list[str]:
    return [PY, "-u", "-c", RELAY, str(tmp_path / "runs")]


async def until(ws, predicate, timeout: float = 30) -> list[str | bytes]:
    """Messages up to and including the first one ``predicate`` accepts."""
    seen: list[str | bytes] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            seen.append(message)
            if predicate(message):
                return seen


def test_each_line_goes_to_every_client_and_every_message_to_stdin(tmp_path: Path):
    async def scenario() -> None:
        async with served(relay(tmp_path), broadcast=True) as server:
            clients = [await connect(server) for _ in range(3)]
            try:
                await clients[0].send("hi")
                for ws in clients:  # the program's "started" line may come first
                    assert (await until(ws, lambda m: m == "echo: hi"))[-1] == "echo: hi"
                await clients[2].send(b"there")
                await clients[1].send("again")
                for ws in clients:
                    assert [await recv(ws), await recv(ws)] == ["echo: there", "echo: again"]
            finally:
                for ws in clients:
                    await ws.close()

    run(scenario)


def test_the_program_starts_with_the_server_and_ends_with_it(tmp_path: Path):
    async def scenario() -> None:
        async with served(relay(tmp_path), broadcast=True) as server:
            await wait_for((tmp_path / "runs").exists)
            async with connect(server) as ws:
                await ws.send("ping")
                assert (await until(ws, lambda m: m == "echo: ping"))[-1] == "echo: ping"
            ws = await connect(server)
            await ws.send("pid?")
            assert await recv(ws) == "echo: pid?"
        assert await collect_until_closed(ws) == []
        assert ws.close_code == 1001
        assert (tmp_path / "runs").read_text() == "1"  # one program for all clients

    run(scenario)


def test_the_program_is_restarted_and_clients_stay_connected(tmp_path: Path, caplog):
    async def scenario() -> None:
        served_ = served(relay(tmp_path), broadcast=True)
        async with served_ as server, connect(server) as watcher, connect(server) as quitter:
            await wait_for((tmp_path / "runs").exists)
            await quitter.send("quit")
            seen = await until(watcher, lambda m: str(m).startswith("started 2 "))
            first_pid = next(int(str(m).split()[2]) for m in [*seen] if "started 1" in str(m))
            await wait_gone(first_pid)
            await quitter.send("still here")
            for ws in (watcher, quitter):
                assert (await until(ws, lambda m: m == "echo: still here"))[-1]

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario)
    assert f"exit status 5: restarting it in {RESTART_INITIAL_DELAY:.1f}s" in caplog.text


def test_a_slow_client_is_closed_1013_and_the_others_get_everything(tmp_path: Path, caplog):
    lines = 20000  # 20 MB: more than the kernel buffers a client that reads nothing

    async def scenario() -> None:
        async with served(
            relay(tmp_path),
            broadcast=True,
            client_buffer=256 * 1024,
            compression=False,
            config={"close_timeout": 60},
        ) as server:
            slow = await connect(server, max_queue=1)
            async with connect(server) as fast:
                await fast.send(f"burst {lines}")
                received = await until(fast, lambda m: m == "burst done", timeout=60)
                received = [m for m in received if not str(m).startswith("started ")]
                assert len(received) == lines + 1
                assert [str(m)[:8] for m in received[:-1]] == [f"{i:08d}" for i in range(lines)]
                # The slow one reads at last: what was buffered for it, then 1013.
                await collect_until_closed(slow, timeout=60)
                assert (slow.close_code, slow.close_reason) == (1013, "client too slow")
                await fast.send("after")
                assert (await until(fast, lambda m: m == "echo: after"))[-1]

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario, timeout=120)
    assert "closing a client" in caplog.text


def test_a_broadcast_program_that_cannot_start_stops_the_server_start(tmp_path: Path):
    script = tmp_path / "prog.sh"
    script.write_text("#!/bin/sh\ncat\n")
    script.chmod(0o755)
    app = exec_app([str(script)], broadcast=True)
    script.unlink()

    async def scenario() -> None:
        with pytest.raises(FileNotFoundError):
            async with Server(app, port=0):
                pass

    run(scenario)


def test_binary_broadcast(tmp_path: Path):
    async def scenario() -> None:
        served_ = served(["cat"], broadcast=True, binary=True)
        async with served_ as server, connect(server) as one, connect(server) as two:
            await one.send(b"\x00\xffraw")
            for ws in (one, two):
                data = b""
                while len(data) < 5:
                    data += await recv(ws)  # type: ignore[operator]
                assert data == b"\x00\xffraw"

    run(scenario)


def test_the_broadcast_program_is_not_counted_by_max_processes(tmp_path: Path):
    async def scenario() -> None:
        served_ = served(relay(tmp_path), broadcast=True, max_processes=1)
        async with served_ as server, connect(server) as one, connect(server) as two:
            await one.send("both")
            assert (await until(two, lambda m: m == "echo: both"))[-1]

    run(scenario)


def test_programs_pid_is_gone_after_shutdown(tmp_path: Path):
    pids: list[int] = []

    async def scenario() -> None:
        # A short heartbeat: the server notices the stream's client left when it
        # writes one, and does not wait for it at shutdown.
        served_ = served(relay(tmp_path), broadcast=True, sse=True, sse_heartbeat=0.2)
        async with served_ as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 0\r\n\r\n")
            status, _ = await read_http_head(reader)
            assert status == 200
            first = await read_chunk(reader)
            assert first.startswith(b"id: 1\ndata: started 1 ")
            pids.append(int(first.split()[-1]))
            assert alive(pids[0])
            writer.close()
            await writer.wait_closed()
        await wait_gone(pids[0])

    run(scenario)


def test_the_line_program_python_helper_works():
    # python() gives unbuffered output: a line arrives before the program exits.
    async def scenario() -> None:
        code = "import sys\nprint('first')\nsys.stdin.readline()\nprint('second')"
        async with served(python(code)) as server, connect(server) as ws:
            assert await recv(ws) == "first"
            await ws.send("go")
            assert await recv(ws) == "second"

    run(scenario)
