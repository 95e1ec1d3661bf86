"""The code in the README and the docs runs and does what they say; the docs cover every setting."""

import ast
import asyncio
import dataclasses
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

import longwire
from longwire import cli
from longwire._demo_app import app as demo_app
from longwire.aio import ServerConfig, WebSocketOptions

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def python_block(text: str, first_line: str) -> str:
    """The one ```python block whose first line is ``first_line`` (such as ``# app.py``)."""
    [code] = [block for block in python_blocks(text) if block.splitlines()[0] == first_line]
    return code


def run_block(code: str, filename: str, name: str = "readme") -> dict:
    namespace: dict = {"__name__": name}
    exec(compile(code, filename, "exec"), namespace)
    return namespace


def http_get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


# README.md


def test_readme_python_blocks_are_all_tested():
    firsts = [block.splitlines()[0] for block in python_blocks(README.read_text())]
    assert firsts == ["# app.py", "# client.py"]


def test_readme_app_runs_as_a_script(capsys):
    """``python app.py``: its main() starts a Server, checks the echo, and stops."""
    code = python_block(README.read_text(), "# app.py")
    run_block(code, "app.py", name="__main__")
    assert capsys.readouterr().out == "the echo works\n"


def test_readme_app_routes_answer_over_http():
    namespace = run_block(python_block(README.read_text(), "# app.py"), "app.py")
    app = namespace["app"]
    assert isinstance(app, longwire.App)

    async def check() -> None:
        async with longwire.Server(app, port=0) as server:
            base = f"http://127.0.0.1:{server.port}"
            assert await asyncio.to_thread(http_get, f"{base}/") == (
                200, "text/plain; charset=utf-8", "Hello from longwire!\n",
            )
            assert await asyncio.to_thread(http_get, f"{base}/items/42") == (
                200, "application/json", '{"id":42}',
            )

    asyncio.run(asyncio.wait_for(check(), 30))


def test_readme_client_talks_to_the_demo_server(capsys):
    """client.py's main() against the server `make demo` starts (on a free port here)."""
    namespace = run_block(python_block(README.read_text(), "# client.py"), "client.py")
    assert capsys.readouterr().out == ""  # importing it runs nothing

    async def check() -> None:
        async with longwire.Server(demo_app, port=0) as server:
            await namespace["main"](f"ws://127.0.0.1:{server.port}/echo")

    asyncio.run(asyncio.wait_for(check(), 30))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "received: Hello, server!"
    assert re.fullmatch(r"ping: \d+\.\d ms", out[1])
    assert out[2] == "closed with 1000"


def test_readme_quick_start_is_two_commands():
    text = README.read_text()
    [quick_start] = re.findall(r"## Quick start\n.*?```sh\n(.*?)```", text, re.DOTALL)
    commands = [line.split("#")[0].strip() for line in quick_start.splitlines()]
    assert commands == ["make demo", "make test"]
    assert "http://127.0.0.1:8000/" in quick_start


def test_readme_and_docs_links_exist():
    for path in (README, *DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)\)", path.read_text()):
            if not target.startswith("http"):
                assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


# docs/protocol-cores.md


def test_cores_echo_server_serves_the_websockets_client():
    [code] = python_blocks((DOCS / "protocol-cores.md").read_text())
    namespace = run_block(code, "protocol-cores.md")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_one() -> None:
        sock, _ = listener.accept()
        namespace["serve_one"](sock)

    server = threading.Thread(target=accept_one, daemon=True)
    server.start()
    started = time.monotonic()
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=5) as ws:
        ws.send("hello from the docs")
        text = ws.recv(timeout=5)
        ws.send(b"\x00\x01binary")
        data = ws.recv(timeout=5)
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
    server.join(timeout=5)
    elapsed = time.monotonic() - started
    listener.close()
    assert not server.is_alive(), "serve_one did not return after the close handshake"
    assert text == "hello from the docs"
    assert data == b"\x00\x01binary"
    assert extensions is not None
    assert extensions.startswith("permessage-deflate")
    # The server closes TCP right after the closing handshake (RFC 6455 §7.1.1):
    # a client waiting out its close timeout would mean the loop blocks on recv.
    assert elapsed < 2, f"the exchange took {elapsed:.1f} s"


# docs/server.md and docs/cli.md cover every setting, so they cannot drift.


def config_table(cls: type) -> dict[str, str]:
    """``{field: default column}`` of the table under ``### `cls` `` in docs/server.md."""
    text = (DOCS / "server.md").read_text()
    heading = rf"^### `{cls.__name__}`\n(.*?)(?=^#|\Z)"
    [section] = re.findall(heading, text, re.DOTALL | re.MULTILINE)
    return dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.MULTILINE))


def test_server_docs_have_a_row_for_every_config_field():
    for cls in (ServerConfig, WebSocketOptions):
        table = config_table(cls)
        names = [field.name for field in dataclasses.fields(cls)]
        assert list(table) == names, f"docs/server.md's {cls.__name__} table"


def test_server_docs_state_the_real_defaults():
    """A number's default column starts with the dataclass default as Python writes it."""
    for cls in (ServerConfig, WebSocketOptions):
        table = config_table(cls)
        defaults = cls()
        for field in dataclasses.fields(cls):
            value = getattr(defaults, field.name)
            if isinstance(value, (int, float)):
                written = re.match(r"`([^`]+)`", table[field.name])
                assert written, f"{cls.__name__}.{field.name}: no `default`"
                assert ast.literal_eval(written[1]) == value, f"{cls.__name__}.{field.name}"


def test_cli_docs_list_every_derived_option():
    text = (DOCS / "cli.md").read_text()
    for option in cli.server_options():
        assert option.flag in text, f"docs/cli.md lacks {option.flag}"
