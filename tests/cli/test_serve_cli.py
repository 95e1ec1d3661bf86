"""``longwire serve``, run as a user runs it: a real subprocess on a real port.

Every server is started through ``cli_support.running``, which waits for the
"listening on" log line with a timeout and always kills the process in ``finally``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_support import free_port, run_cli, running
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

import longwire

STARTUP_TIMEOUT = 30  # seconds: importing and binding on a loaded CI machine
EXIT_TIMEOUT = 30

APP_MODULE = '''\
from longwire import App

app = App()
not_an_app = "a string"


@app.get("/")
async def index(request):
    return "hello from tests_app_module\\n"


@app.websocket("/shout")
async def shout(ws):
    async for message in ws:
        await ws.send(message.upper())
'''


def served(*args: str, cwd: Path | None = None):
    """Start ``longwire serve ARGS``, wait until it listens, and kill it whatever happens."""
    return running("serve", *args, cwd=cwd)


def run_serve(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``longwire serve`` expecting it to fail before serving."""
    return run_cli("serve", *args, cwd=cwd)



def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit status 1 and exactly one error line (log lines aside), no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    [error] = errors
    assert error.startswith("longwire serve: error: ")
    for text in expected:
        assert text in error


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


# The demo.


def test_demo_page_and_echo_over_the_network():
    port = free_port()
    with served("--port", str(port)) as server:
        banner = server.wait_for("longwire demo at")
        assert banner == f"longwire demo at http://127.0.0.1:{port}/ (Ctrl+C to stop)"
        assert server.stdout[0] == banner  # the first line a user sees
        assert server.wait_for("listening on").endswith(f"listening on http://127.0.0.1:{port}")
        server.wait_for("event loop:")

        # The chat on the hub at /rt, and the echo page at /echo.html.
        status, content_type, html = get(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert content_type.startswith("text/html")
        assert "new LongwireHub(" in html
        assert longwire.__version__ in html
        # No external assets: every src/href is inline data or this server's.
        links = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", html)
        assert all(link.startswith(("data:", "/")) for link in links), links
        assert set(links) >= {"/rt/longwire.js", "/echo.html"}
        assert "@import" not in html
        assert "url(" not in html
        status, content_type, script = get(f"http://127.0.0.1:{port}/rt/longwire.js")
        assert (status, "class LongwireHub" in script) == (200, True)

        status, content_type, html = get(f"http://127.0.0.1:{port}/echo.html")
        assert status == 200
        assert content_type.startswith("text/html")
        assert "new WebSocket(" in html
        assert '"/echo"' in html
        assert 'location.protocol === "https:" ? "wss://" : "ws://"' in html
        assert longwire.__version__ in html
        links = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", html)
        assert all(link.startswith("data:") for link in links), links
        assert "@import" not in html
        assert "url(" not in html

        with ws_connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            ws.send("Hello, longwire!")
            assert ws.recv(timeout=10) == "Hello, longwire!"
            ws.send(b"\x00\x01\xfe\xff binary")
            assert ws.recv(timeout=10) == b"\x00\x01\xfe\xff binary"
            big = "compressible " * 1000
            ws.send(big)
            assert ws.recv(timeout=10) == big
        assert extensions.startswith("permessage-deflate")
        # The access log has a line for the page and one for the WebSocket session.
        server.wait_for('"GET / HTTP/1.1" 200')
        server.wait_for('"WS /echo" 101')


def test_demo_echo_with_longwires_own_client():
    port = free_port()

    async def exchange() -> tuple[str | bytes, str | bytes, int | None]:
        async with longwire.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            await ws.send("text")
            text = await ws.recv()
            await ws.send(b"bytes")
            data = await ws.recv()
        return text, data, ws.close_code

    with served("--port", str(port), "--no-uvloop") as server:
        assert "event loop: asyncio" in server.wait_for("event loop:")
        assert asyncio.run(asyncio.wait_for(exchange(), 20)) == ("text", b"bytes", 1000)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_websockets_with_1001_and_exits_0(signum):
    port = free_port()
    with served("--port", str(port)) as server, ws_connect(
        f"ws://127.0.0.1:{port}/echo", open_timeout=10, close_timeout=10
    ) as ws:
        ws.send("before shutdown")
        assert ws.recv(timeout=10) == "before shutdown"
        server.proc.send_signal(signum)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert server.wait() == 0, server.output
        assert "shutting down" in server.output
        assert "Traceback" not in server.output


SLOW_APP = """\
import asyncio

from longwire import App

app = App()


@app.get("/slow")
async def slow(request):
    await asyncio.sleep(60)
    return "late"
"""


def test_a_second_signal_drops_the_connections_at_once(tmp_path):
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    port = free_port()
    options = "--port", str(port), "--shutdown-timeout", "60"
    with served("slow_app:app", *options, cwd=tmp_path) as server:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.5)  # the request is in the handler (nothing logs it before it ends)
            server.proc.send_signal(signal.SIGINT)
            server.wait_for("shutting down")
            started = time.monotonic()
            server.proc.send_signal(signal.SIGINT)
            assert server.wait() == 0, server.output
            assert time.monotonic() - started < 10  # not the 60 s grace period
            assert client.recv(100) == b""  # dropped, without an answer
        assert "second signal: dropping the connections still open" in server.output
        assert "Traceback" not in server.output


def test_no_access_log_and_log_level():
    port = free_port()
    with served("--port", str(port), "--no-access-log", "--log-level", "debug") as server:
        get(f"http://127.0.0.1:{port}/")
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0
        assert "DEBUG" in server.output or "INFO" in server.output
        assert '"GET / HTTP/1.1"' not in server.output


def test_json_logs_are_one_object_per_line_with_access_fields():
    port = free_port()
    with served("--port", str(port), "--json-logs") as server:
        page = get(f"http://127.0.0.1:{port}/")[2].encode()
        with ws_connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10) as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "hi"
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    records = [json.loads(line) for line in server.stderr if line.strip()]
    assert records, server.output
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    access = [r for r in records if r["logger"] == "longwire.access"]
    http = next(r for r in access if r["method"] == "GET")
    assert (http["target"], http["status"], http["size"]) == ("/", 200, len(page))
    assert http["message"].startswith("127.0.0.1:")
    session = next(r for r in access if r["method"] == "WS")
    assert (session["target"], session["status"], session["close_code"]) == ("/echo", 101, 1000)
    assert session["bytes_in"] > 0
    assert session["bytes_out"] > 0


def test_derived_options_reach_the_server():
    """--max-message-size (a WebSocketOptions field) is enforced: 1009 Message Too Big."""
    port = free_port()
    # Compressible messages: the limit applies after decompression.
    limit = "--max-message-size", "1000"
    with served("--port", str(port), *limit, "--ping-interval", "none"):
        with ws_connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10) as ws:
            ws.send("a" * 1000)
            assert ws.recv(timeout=10) == "a" * 1000
            ws.send("a" * 1001)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


# An application module.


def test_serves_an_app_module_from_the_current_directory(tmp_path):
    (tmp_path / "tests_app_module.py").write_text(APP_MODULE)
    port = free_port()
    with served("tests_app_module:app", "--port", str(port), cwd=tmp_path) as server:
        line = server.wait_for("serving")
        assert line == f"serving tests_app_module:app at http://127.0.0.1:{port}/ (Ctrl+C to stop)"
        assert get(f"http://127.0.0.1:{port}/")[2] == "hello from tests_app_module\n"
        with ws_connect(f"ws://127.0.0.1:{port}/shout", open_timeout=10) as ws:
            ws.send("quiet")
            assert ws.recv(timeout=10) == "QUIET"
        with pytest.raises(urllib.error.HTTPError) as missing:
            get(f"http://127.0.0.1:{port}/echo")  # the demo's routes are not there
        assert missing.value.code == 404


# Errors: one line, non-zero status, no traceback.


def test_port_in_use():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_serve("--port", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "in use")


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("nosuchmodule:app", "cannot import 'nosuchmodule': no module named 'nosuchmodule'"),
        ("tests_app_module:missing", "module 'tests_app_module' has no attribute 'missing'"),
        ("tests_app_module:not_an_app", "tests_app_module:not_an_app is 'str', not a longwire App"),
        ("tests_app_module", "APP must be module:attribute"),
    ],
)
def test_bad_app(tmp_path, app, expected):
    (tmp_path / "tests_app_module.py").write_text(APP_MODULE)
    result = run_serve(app, "--port", "0", cwd=tmp_path)
    assert_one_line_error(result, expected)


def test_app_module_that_fails_shows_its_traceback(tmp_path):
    """An exception in the user's own module is theirs to fix: the traceback says where."""
    (tmp_path / "broken.py").write_text("import nosuchdependency\n")
    result = run_serve("broken:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "longwire serve: error: importing 'broken:app' failed:" in result.stderr
    assert "No module named 'nosuchdependency'" in result.stderr


def test_missing_certificate_file(tmp_path):
    result = run_serve("--tls-cert", str(tmp_path / "nope.pem"))
    assert_one_line_error(result, "TLS certificate file not found", "nope.pem")


def test_missing_key_file(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("not really a certificate")
    result = run_serve("--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.pem"))
    assert_one_line_error(result, "TLS key file not found", "nope.pem")


def test_key_without_certificate(tmp_path):
    result = run_serve("--tls-key", str(tmp_path / "key.pem"))
    assert_one_line_error(result, "without a certificate (--tls-cert)")


def test_invalid_certificate(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("not really a certificate")
    result = run_serve("--tls-cert", str(cert))
    assert_one_line_error(result, "cannot load TLS certificate")


def test_bad_value_for_a_config_field_names_the_option():
    result = run_serve("--ping-interval", "0")
    assert_one_line_error(result, "--ping-interval must be positive")


def test_bad_option_value_is_argparses_error():
    result = run_serve("--max-connections", "lots")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "argument --max-connections: expected an integer or 'none', not 'lots'" in (
        result.stderr
    )


# TLS end to end.


def test_https_page_and_wss_echo(tmp_path):
    import trustme
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    port = free_port()
    with served("--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)) as server:
        assert server.wait_for("listening on").endswith(f"https://127.0.0.1:{port}")
        assert server.wait_for("longwire demo at").startswith(
            f"longwire demo at https://127.0.0.1:{port}/"
        )
        status, _, html = get(f"https://127.0.0.1:{port}/echo.html", client_context)
        assert status == 200
        assert "new WebSocket(" in html

        with ws_connect(f"wss://127.0.0.1:{port}/echo", ssl=client_context, open_timeout=10) as ws:
            ws.send("secret")
            assert ws.recv(timeout=10) == "secret"
            ws.send(b"\x00secret")
            assert ws.recv(timeout=10) == b"\x00secret"

        async def with_longwire() -> str | bytes:
            async with longwire.connect(f"wss://localhost:{port}/echo", ssl=client_context) as ws:
                await ws.send("over wss")
                return await ws.recv()

        assert asyncio.run(asyncio.wait_for(with_longwire(), 20)) == "over wss"

        # Without the CA trusted the client refuses the certificate.
        with pytest.raises(urllib.error.URLError):
            get(f"https://127.0.0.1:{port}/", ssl.create_default_context())


def test_certificate_and_key_in_one_file(tmp_path):
    import trustme
    ca = trustme.CA()
    both = tmp_path / "both.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(both))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    port = free_port()
    with served("--port", str(port), "--tls-cert", str(both)):
        assert get(f"https://127.0.0.1:{port}/", client_context)[0] == 200


# Help.


def test_help_lists_derived_options_and_examples():
    result = subprocess.run(
        [sys.executable, "-m", "longwire", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    out = result.stdout
    for option in (
        "--host", "--port", "--tls-cert", "--tls-key", "--log-level", "--no-access-log",
        "--uvloop", "--no-uvloop", "--ping-interval", "--header-timeout",
        "--keep-alive-timeout", "--max-connections", "--max-message-size", "--close-timeout",
    ):
        assert option in out, option
    assert "examples:" in out
    assert "longwire serve myapp:app" in out
    assert "slowloris" in out  # help text taken from the ServerConfig docstring


def test_the_openssl_command_in_docs_tls_makes_a_working_certificate(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "tls.md").read_text()
    [command] = [line for line in doc.splitlines() if line.startswith("openssl req ")]
    subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, timeout=60, check=True)
    context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))

    port = free_port()
    with served("--port", str(port), "--tls-cert", "cert.pem", "--tls-key", "key.pem",
                cwd=tmp_path):
        assert get(f"https://localhost:{port}/", context)[0] == 200
        with ws_connect(f"wss://127.0.0.1:{port}/echo", ssl=context, open_timeout=10) as ws:
            ws.send("self-signed")
            assert ws.recv(timeout=10) == "self-signed"


# The demo page's own script, run by Node.js against the server: a stand-in DOM,
# Node's real WebSocket client.

PAGE_HARNESS = r"""
const [page, host] = process.argv.slice(-2);
const script = require("fs").readFileSync(page, "utf8").match(/<script>([\s\S]*)<\/script>/)[1];

class Element {
  constructor() {
    Object.assign(this, { children: [], listeners: {}, textContent: "", className: "",
                          disabled: false, value: "", checked: false, scrollTop: 0,
                          scrollHeight: 0 });
  }
  append(...nodes) { this.children.push(...nodes); }
  replaceChildren() { this.children = []; }
  addEventListener(type, listener) { this.listeners[type] = listener; }
  focus() {}
  select() {}
  get text() {
    return this.children.length ? this.children.map((c) => c.text ?? c.textContent).join("")
                                : this.textContent;
  }
}
const elements = {};
globalThis.document = {
  getElementById: (id) => (elements[id] ??= new Element()),
  createElement: () => new Element(),
  createTextNode: (text) => ({ textContent: text }),
};
globalThis.location = { protocol: "http:", host };

const until = async (what, check) => {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("timed out waiting for " + what);
};
const received = () => elements.log.children.filter((li) => li.className === "received").length;

(async () => {
  document.getElementById("message").value = "Hello, longwire!";
  new Function(script)();
  await until("open", () => elements.state.textContent === "open");
  const submit = () => elements.form.listeners.submit({ preventDefault() {} });
  submit();
  await until("the text echo", () => received() === 1);
  elements.binary.checked = true;
  elements.message.value = "bin";
  submit();
  await until("the binary echo", () => received() === 2);
  elements.toggle.listeners.click();
  await until("closed", () => elements.state.textContent === "closed");
  console.log(JSON.stringify({
    url: elements.url.textContent,
    // Each entry without its first child, the time.
    log: elements.log.children.map(
      (li) => li.children.slice(1).map((c) => c.text ?? c.textContent).join("")),
    details: elements.details.textContent,
    send_disabled: elements.send.disabled,
  }));
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(1); });
"""


def node_with_websocket() -> list[str] | None:
    """The command running Node.js with a global WebSocket, or None."""
    node = shutil.which("node")
    if node is None:
        return None
    for command in ([node], [node, "--experimental-websocket"]):
        probe = subprocess.run(
            [*command, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
            capture_output=True, timeout=60, check=False,
        )
        if probe.returncode == 0:
            return command
    return None


def test_demo_page_script_talks_to_echo(tmp_path):
    node = node_with_websocket()
    if node is None:
        pytest.skip("no Node.js with a WebSocket client")
    port = free_port()
    with served("--port", str(port)):
        page = tmp_path / "demo.html"
        page.write_text(get(f"http://127.0.0.1:{port}/echo.html")[2])
        harness = tmp_path / "harness.js"
        harness.write_text(PAGE_HARNESS)
        result = subprocess.run(
            [*node, str(harness), str(page), f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["url"] == f"ws://127.0.0.1:{port}/echo"
    log = report["log"]
    assert log[0] == f"connecting to ws://127.0.0.1:{port}/echo"
    assert log[1].startswith("open")
    assert log[2:6] == [
        '→ text "Hello, longwire!"',
        '← text "Hello, longwire!"',
        "→ binary, 3 bytes: 62 69 6e",
        "← binary, 3 bytes: 62 69 6e",
    ]
    assert log[6] == 'closed: code 1000 "closed from the page"'
    assert report["details"] == 'close code 1000 "closed from the page"'
    assert report["send_disabled"] is True
