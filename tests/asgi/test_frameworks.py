"""Real ASGI frameworks served by longwire and by uvicorn: the same tests, the same answers.

Every test runs once per server (``asgi_server_kind``: longwire, then uvicorn,
the reference) and, for the routes both apps have, once per framework
(Starlette, FastAPI). The apps are in tests/asgi/apps. What is compared is
what a client or the app can observe: status, the headers that carry meaning
(content type, framing, cookies, custom fields), bodies, streamed chunks as
they arrive, WebSocket messages and their types, the negotiated subprotocol,
close codes and reasons, handshake rejections, and what the app sees of the
request (scope, client address, scheme, root path, lifespan state). Fields
where servers may legitimately differ (``server``, ``date``) are not compared.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection

import httpx
import pytest
from asgi_support import ASGI_HOST, AsgiServer, asgi_running
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

TIMEOUT = 8.0
FRAMEWORKS = {"starlette": "apps.starlette_app:app", "fastapi": "apps.fastapi_app:app"}


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def framework_server(asgi_server_kind: str, framework: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, FRAMEWORKS[framework]) as server:
        yield server


@pytest.fixture
def http(framework_server: AsgiServer) -> Iterator[httpx.Client]:
    with client_for(framework_server) as client:
        yield client


def client_for(server: AsgiServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=TIMEOUT, trust_env=False)


def ws(server: AsgiServer, path: str, **options: object) -> ClientConnection:
    return ws_connect(server.ws_url + path, open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                      proxy=None, **options)  # type: ignore[arg-type]


def fields(response: httpx.Response) -> list[tuple[str, str]]:
    """The response's header fields, sorted, without those servers fill their own way."""
    return sorted(
        (name.lower(), value) for name, value in response.headers.multi_items()
        if name.lower() not in {"date", "server"}
    )


def json_fields(body: bytes) -> list[tuple[str, str]]:
    return [("content-length", str(len(body))), ("content-type", "application/json")]


# -- HTTP --------------------------------------------------------------------------------


def test_get_json(http: httpx.Client, framework: str) -> None:
    response = http.get("/json")
    assert response.status_code == 200
    assert response.json() == {"framework": framework, "hello": "world"}
    assert fields(response) == json_fields(response.content)


def test_head_has_the_fields_of_get_and_no_body(http: httpx.Client, framework: str) -> None:
    if framework == "fastapi":
        pytest.skip("FastAPI's @app.get routes answer HEAD with 405")
    response = http.head("/json")
    assert response.status_code == 200
    assert response.content == b""
    assert fields(response) == json_fields(http.get("/json").content)


def test_post_json(http: httpx.Client) -> None:
    response = http.post("/json", json={"name": "héllo", "count": 41})
    assert response.status_code == 200
    assert response.json() == {"name": "héllo", "count": 42}
    assert fields(response) == json_fields(response.content)


def test_path_and_query_parameters(http: httpx.Client) -> None:
    response = http.get("/items/42", params=[("q", "a b&c=d"), ("tag", "x"), ("tag", "ü")])
    assert response.status_code == 200
    assert response.json() == {"item_id": 42, "q": "a b&c=d", "tags": ["x", "ü"]}
    # The path is percent-decoded before routing: /items/4%32 is /items/42.
    assert http.get("/items/4%32").json() == {"item_id": 42, "q": None, "tags": []}


def test_path_parameter_of_the_wrong_type(http: httpx.Client, framework: str) -> None:
    response = http.get("/items/forty-two")
    if framework == "fastapi":
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["path", "item_id"]
    else:  # the int convertor does not match: no route
        assert response.status_code == 404
        assert response.text == "Not Found"


def test_not_found_and_method_not_allowed(http: httpx.Client, framework: str) -> None:
    missing = http.get("/no/such/route")
    assert missing.status_code == 404
    not_allowed = http.delete("/headers")
    assert not_allowed.status_code == 405
    allowed = {"GET"} if framework == "fastapi" else {"GET", "HEAD"}
    assert set(not_allowed.headers["allow"].split(", ")) == allowed
    if framework == "fastapi":
        assert missing.json() == {"detail": "Not Found"}
        assert not_allowed.json() == {"detail": "Method Not Allowed"}
    else:
        assert missing.text == "Not Found"
        assert missing.headers["content-type"] == "text/plain; charset=utf-8"
        assert not_allowed.text == "Method Not Allowed"


def test_headers_and_cookies_echo(http: httpx.Client) -> None:
    sent = {"X-Test": "value 1", "Cookie": "session=s1; theme=light"}
    response = http.get("/headers", headers=sent)
    assert response.status_code == 200
    assert response.json() == {"x_test": "value 1", "cookies": {"session": "s1", "theme": "light"}}
    assert response.headers["x-echo"] == "value 1"
    # Two Set-Cookie fields, neither folded into the other.
    assert response.headers.get_list("set-cookie") == [
        "session=abc; HttpOnly; Path=/; SameSite=lax",
        "theme=dark; Path=/; SameSite=lax",
    ]
    assert response.cookies["session"] == "abc"
    assert response.cookies["theme"] == "dark"


def test_streaming_response_arrives_as_it_is_produced(
    http: httpx.Client, framework_server: AsgiServer,
) -> None:
    key = uuid.uuid4().hex
    with http.stream("GET", "/stream", params={"id": key}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        received = b""
        while not received.endswith(b"\n"):
            received += next(chunks)
        # The app is still waiting for the release: the server sent chunk 0 as it came.
        assert received == b"chunk 0\n"
        with client_for(framework_server) as other:
            assert other.post(f"/release/{key}").json() == {"released": True}
        received += b"".join(chunks)
    assert received == b"chunk 0\nchunk 1\nchunk 2\n"


def test_multipart_file_upload(http: httpx.Client) -> None:
    data = os.urandom(200_000) + b"\r\n--not-a-boundary\r\n"
    response = http.post(
        "/upload", data={"note": "a note ✓"},
        files={"file": ("report.bin", data, "application/octet-stream")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "note": "a note ✓", "filename": "report.bin", "content_type": "application/octet-stream",
        "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
    }


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_body_read_as_a_stream(http: httpx.Client, framing: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    if framing == "chunked":
        pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        response = http.post("/size", content=iter(pieces))
    else:
        response = http.post("/size", content=data)
    assert response.status_code == 200
    assert response.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_background_task_runs_after_the_response(http: httpx.Client) -> None:
    key = uuid.uuid4().hex
    response = http.post(f"/background/{key}")
    assert response.status_code == 200
    assert response.json() == {"scheduled": key}
    deadline = time.monotonic() + 3
    state = None
    while time.monotonic() < deadline:
        state = http.get(f"/background/{key}").json()["state"]
        if state == "done":
            break
        time.sleep(0.02)
    assert state == "done"


def test_exception_in_a_route_is_a_500(
    http: httpx.Client, framework_server: AsgiServer,
) -> None:
    response = http.get("/error")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "21"
    # The server goes on serving (uvicorn closes that connection: ask on another).
    with client_for(framework_server) as other:
        assert other.get("/json").status_code == 200


def test_scope_fields(http: httpx.Client) -> None:
    response = http.get("/scope?a=1&b=%20x", headers={"X-One": "1", "X-Two": "two"})
    assert response.status_code == 200
    assert response.json() == {
        "type": "http", "asgi_version": "3.0", "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/scope", "raw_path": "/scope", "query_string": "a=1&b=%20x",
        "root_path": "", "server_port_is_int": True, "client_host": ASGI_HOST,
        "headers": [["x-one", "1"], ["x-two", "two"]], "headers_are_lowercase": True,
    }


def test_urls_without_root_path(http: httpx.Client, framework_server: AsgiServer) -> None:
    assert http.get("/root").json() == {
        "root_path": "", "path": "/root", "url": f"{framework_server.base_url}/root",
        "url_for": f"{framework_server.base_url}/root",
    }


def test_keep_alive(framework_server: AsgiServer) -> None:
    connection = HTTPConnection(ASGI_HOST, framework_server.port, timeout=TIMEOUT)
    try:
        sockets = []
        for path in ["/json", "/items/1", "/no/such/route", "/json"]:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert not response.will_close, path
            sockets.append(connection.sock)
        assert all(s is sockets[0] for s in sockets)
    finally:
        connection.close()


# -- WebSocket ---------------------------------------------------------------------------


def test_websocket_echo_keeps_text_and_bytes_apart(framework_server: AsgiServer) -> None:
    messages: list[str | bytes] = [
        "hello", "héllo ✓ 🎉", "", b"\x00\x01\xfe\xff", b"", "x" * 70_000, os.urandom(300_000),
    ]
    with ws(framework_server, "/ws/echo") as connection:
        assert connection.subprotocol is None
        for message in messages:
            connection.send(message)
            assert connection.recv(timeout=TIMEOUT) == message
        # The server answers a ping with a pong on its own.
        assert connection.ping(b"are you there").wait(TIMEOUT)
        connection.close()
    assert connection.close_code == 1000


def test_websocket_close_code_and_reason_reach_the_app(
    framework_server: AsgiServer, http: httpx.Client,
) -> None:
    key = uuid.uuid4().hex
    with ws(framework_server, f"/ws/record/{key}") as connection:
        connection.send("something")
        connection.close(code=4000, reason="client bye")
    deadline = time.monotonic() + 3
    seen = None
    while time.monotonic() < deadline and seen is None:
        seen = http.get(f"/ws-closed/{key}").json()
        time.sleep(0.02)
    assert seen == {"code": 4000, "reason": "client bye"}


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["other", "chat.v2", "chat.v1"], "chat.v2"), (["chat.v1"], "chat.v1"), ([], None),
     (["unknown"], None)],
)
def test_websocket_subprotocol_selection(
    framework_server: AsgiServer, offered: list[str], chosen: str | None,
) -> None:
    with ws(framework_server, "/ws/subprotocol", subprotocols=offered or None) as connection:
        assert connection.subprotocol == chosen
        assert connection.response is not None
        assert connection.response.headers.get("sec-websocket-protocol") == chosen
        assert json.loads(connection.recv(timeout=TIMEOUT)) == {"offered": offered,
                                                                "chosen": chosen}


def test_websocket_closed_by_the_server_with_code_and_reason(framework_server: AsgiServer) -> None:
    with ws(framework_server, "/ws/close") as connection:
        assert connection.recv(timeout=TIMEOUT) == "bye"
        with pytest.raises(ConnectionClosed) as closed:
            connection.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "custom reason")


@pytest.mark.parametrize("path", ["/ws/reject", "/ws/no-such-route"])
def test_websocket_rejected_before_accept_is_a_403(framework_server: AsgiServer, path: str) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        ws(framework_server, path)
    assert rejected.value.response.status_code == 403


def test_websocket_sees_path_query_headers_and_client(framework_server: AsgiServer) -> None:
    with ws(framework_server, "/ws/room/lobby?token=t%201",
            additional_headers={"X-Test": "hey"}) as connection:
        assert json.loads(connection.recv(timeout=TIMEOUT)) == {
            "name": "lobby", "token": "t 1", "x_test": "hey", "scheme": "ws", "client": ASGI_HOST,
        }


def test_websocket_and_http_on_one_server_concurrently(framework_server: AsgiServer) -> None:
    with ws(framework_server, "/ws/echo") as first, ws(framework_server, "/ws/echo") as second, \
            client_for(framework_server) as client:
        first.send("one")
        second.send(b"two")
        assert client.get("/json").status_code == 200
        assert second.recv(timeout=TIMEOUT) == b"two"
        assert first.recv(timeout=TIMEOUT) == "one"


# -- Django ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def django_server(asgi_server_kind: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, "apps.django_app:app") as server:
        yield server


def test_django_view(django_server: AsgiServer) -> None:
    with client_for(django_server) as client:
        got = client.get("/hello/world", params={"q": "ü 1"}, headers={"X-Test": "dj"})
        posted = client.post("/hello/poster", content=b"posted body")
        missing = client.get("/nowhere")
        bad_host = client.get("/hello/world", headers={"Host": "evil.example"})
    assert got.status_code == 200
    assert got.json() == {
        "hello": "world", "method": "GET", "q": "ü 1", "body": "", "x_test": "dj",
        "scheme": "http", "path": "/hello/world", "path_info": "/hello/world", "script_name": "",
    }
    assert got.headers["x-framework"] == "django"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-length"] == str(len(got.content))
    assert posted.status_code == 200
    assert posted.json()["method"] == "POST"
    assert posted.json()["body"] == "posted body"
    assert missing.status_code == 404
    assert bad_host.status_code == 400


# -- lifespan, factory, root path, proxy headers, server-made errors -----------------------


@pytest.fixture(scope="module")
def lifespan_server(asgi_server_kind: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, "apps.lifespan_app:app") as server:
        yield server


def test_lifespan_state_reaches_the_routes(lifespan_server: AsgiServer) -> None:
    with client_for(lifespan_server) as client:
        response = client.get("/state")
    assert response.status_code == 200
    assert response.json() == {"token": "from-lifespan", "startups": 1}


def test_lifespan_shutdown_runs_on_sigterm(asgi_server_kind: str, tmp_path) -> None:
    marker = tmp_path / "shutdown.txt"
    env = {"ASGI_TEST_SHUTDOWN_FILE": str(marker)}
    with asgi_running(asgi_server_kind, "apps.lifespan_app:app", env=env) as server:
        with client_for(server) as client:
            assert client.get("/state").status_code == 200
        status = server.stop()
        log = server.log_tail()
    # It ended by itself (None: it had to be killed); uvicorn re-raises the SIGTERM it
    # caught once shut down, so its status is -15; 0 is as good.
    assert status in {0, -15}, log
    assert marker.read_text() == "shutdown", log


def test_factory(asgi_server_kind: str) -> None:
    with asgi_running(asgi_server_kind, "apps.factory:create_app", factory=True) as server, \
            client_for(server) as client:
        response = client.get("/factory")
    assert response.status_code == 200
    assert response.json() == {"factory": True, "calls": 1}


@pytest.fixture(scope="module")
def root_path_server(asgi_server_kind: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, "apps.fastapi_app:app", root_path="/api") as server:
        yield server


def test_root_path(root_path_server: AsgiServer) -> None:
    base = root_path_server.base_url
    with client_for(root_path_server) as client:
        # Behind a proxy that strips the prefix, the request comes without it; the app
        # sees the prefix in root_path and in path (ASGI 2.4-era semantics, as uvicorn).
        stripped = client.get("/root")
        openapi = client.get("/openapi.json")
    expected = {"root_path": "/api", "path": "/api/root", "url": f"{base}/api/root",
                "url_for": f"{base}/api/root"}
    assert stripped.status_code == 200
    assert stripped.json() == expected
    assert openapi.json()["servers"] == [{"url": "/api"}]


@pytest.fixture(scope="module")
def trusting_proxy_server(asgi_server_kind: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, "apps.starlette_app:app",
                      forwarded_allow_ips=ASGI_HOST) as server:
        yield server


@pytest.fixture(scope="module")
def distrusting_proxy_server(asgi_server_kind: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, "apps.starlette_app:app",
                      forwarded_allow_ips="192.0.2.1") as server:
        yield server


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def test_proxy_headers_from_a_trusted_proxy(trusting_proxy_server: AsgiServer) -> None:
    with client_for(trusting_proxy_server) as client:
        response = client.get("/client", headers=FORWARDED)
        two_hops = client.get("/client", headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.2"})
        plain = client.get("/client")
    assert response.json() == {
        "host": "203.0.113.7", "scheme": "https",
        "url": f"https://{ASGI_HOST}:{trusting_proxy_server.port}/client",
    }
    # The nearest address not trusted is the client: the rest could be forged.
    assert two_hops.json()["host"] == "198.51.100.2"
    assert plain.json() == {"host": ASGI_HOST, "scheme": "http",
                            "url": f"{trusting_proxy_server.base_url}/client"}


def test_proxy_headers_on_a_websocket(trusting_proxy_server: AsgiServer) -> None:
    with ws(trusting_proxy_server, "/ws/room/r", additional_headers=FORWARDED) as connection:
        seen = json.loads(connection.recv(timeout=TIMEOUT))
    assert (seen["client"], seen["scheme"]) == ("203.0.113.7", "wss")


def test_proxy_headers_from_an_untrusted_peer_are_ignored(
    distrusting_proxy_server: AsgiServer,
) -> None:
    with client_for(distrusting_proxy_server) as client:
        response = client.get("/client", headers=FORWARDED)
    assert response.json() == {"host": ASGI_HOST, "scheme": "http",
                               "url": f"{distrusting_proxy_server.base_url}/client"}


@pytest.fixture(scope="module")
def raw_server(asgi_server_kind: str) -> Iterator[AsgiServer]:
    with asgi_running(asgi_server_kind, "apps.raw_app:app") as server:
        yield server


@pytest.mark.parametrize("path", ["/raise", "/silent"])
def test_server_answers_500_when_the_app_sends_no_response(raw_server: AsgiServer,
                                                           path: str) -> None:
    with client_for(raw_server) as client:
        response = client.get(path)
        assert response.status_code == 500
        assert client.get("/").text == "raw"


def test_app_failing_mid_body_does_not_look_complete(raw_server: AsgiServer) -> None:
    with client_for(raw_server) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/half")
        assert client.get("/").text == "raw"
