"""The code in the README runs, and does what the README says."""

import re
import socket
import threading
import time
from pathlib import Path

from websockets.sync.client import connect

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_readme_echo_server_serves_the_websockets_client():
    [code] = python_blocks(README.read_text())
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_one() -> None:
        sock, _ = listener.accept()
        namespace["serve_one"](sock)

    server = threading.Thread(target=accept_one, daemon=True)
    server.start()
    started = time.monotonic()
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=5) as ws:
        ws.send("hello from the README")
        text = ws.recv(timeout=5)
        ws.send(b"\x00\x01binary")
        data = ws.recv(timeout=5)
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
    server.join(timeout=5)
    elapsed = time.monotonic() - started
    listener.close()
    assert not server.is_alive(), "serve_one did not return after the close handshake"
    assert text == "hello from the README"
    assert data == b"\x00\x01binary"
    assert extensions is not None
    assert extensions.startswith("permessage-deflate")
    # The server closes TCP right after the closing handshake (RFC 6455 §7.1.1):
    # a client waiting out its close timeout would mean the loop blocks on recv.
    assert elapsed < 2, f"the exchange took {elapsed:.1f} s"
