"""App: handlers and their return values, errors, middleware, hooks, WebSocket routes."""

import asyncio
import logging
import re
import sys
import types
import uuid

import pytest

import longwire.app
from longwire.app import UNSET, App, HTTPError, Response, StreamingResponse, WebSocketRoute

TEXT = "text/plain; charset=utf-8"


def summary(response):
    return response.status, response.headers.get("Content-Type"), response.body


def assert_internal_error(response):
    """A 500 whose body and X-Request-Id name the same request id (the log has it too)."""
    status, content_type, body = summary(response)
    assert (status, content_type) == (500, TEXT)
    found = re.fullmatch(rb"Internal Server Error \(request id ([0-9a-f]{12})\)\n", body)
    assert found is not None, body
    assert response.headers["X-Request-Id"] == found[1].decode()


# Handlers and return values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("héllo", (200, TEXT, "héllo".encode())),
        (b"\x00raw", (200, None, b"\x00raw")),
        ({"a": 1}, (200, "application/json", b'{"a":1}')),
        ([1, "é"], (200, "application/json", '[1,"é"]'.encode())),
        (None, (204, None, b"")),
        (Response(b"as is", 418), (418, None, b"as is")),
    ],
)
def test_return_values_are_converted(serve, value, expected):
    app = App()

    @app.get("/")
    async def index(request):
        return value

    assert summary(serve(app)) == expected


def test_a_response_is_returned_as_is(serve):
    app = App()
    response = StreamingResponse([b"x"])

    @app.get("/")
    async def index(request):
        return response

    assert serve(app) is response


@pytest.mark.parametrize("value", [42, 1.5, (1, 2), bytearray(b"x"), object()])
def test_unsupported_return_value_is_a_logged_500(serve, caplog, value):
    app = App()

    @app.get("/bad")
    async def bad(request):
        return value

    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        response = serve(app, "GET", "/bad")
    assert_internal_error(response)
    [record] = caplog.records
    assert record.name == "longwire.app"
    assert "GET /bad" in record.getMessage()
    assert record.exc_info[0] is TypeError
    assert type(value).__name__ in str(record.exc_info[1])


def test_plain_functions_are_handlers_too(serve):
    app = App()

    @app.get("/sync")
    def sync(request):
        return {"path": request.path}

    async def later():
        return "awaited"

    @app.get("/awaitable")
    def returns_awaitable(request):
        return later()

    assert serve(app, "GET", "/sync").body == b'{"path":"/sync"}'
    assert serve(app, "GET", "/awaitable").body == b"awaited"


def test_decorators_return_the_function_unchanged_and_route_their_method(serve):
    app = App()

    async def handler(request):
        return request.method

    decorators = [app.get, app.post, app.put, app.patch, app.delete]
    assert all(decorator(f"/{i}")(handler) is handler for i, decorator in enumerate(decorators))
    assert app.route("/multi", ["GET", "POST"])(handler) is handler
    assert app.websocket("/ws")(handler) is handler
    for i, method in enumerate(["GET", "POST", "PUT", "PATCH", "DELETE"]):
        assert serve(app, method, f"/{i}").body == method.encode()
        assert serve(app, "TRACE", f"/{i}").status == 405
    assert serve(app, "POST", "/multi").body == b"POST"
    assert [route.path for route in app.router.routes] == [
        "/0",
        "/1",
        "/2",
        "/3",
        "/4",
        "/multi",
    ]


def test_path_params_reach_the_handler_decoded_and_converted(serve):
    app = App()
    seen = []

    @app.get("/users/{name}/items/{item:uuid}")
    async def item(request):
        seen.append(request.path_params)
        return "ok"

    item_id = uuid.uuid4()
    assert serve(app, "GET", f"/users/j%C3%B6rg%20b/items/{item_id}?x=1").status == 200
    assert seen == [{"name": "jörg b", "item": item_id}]


def test_static_route_leaves_path_params_empty(serve):
    app = App()

    @app.get("/static")
    async def static(request):
        return {"params": request.path_params}

    assert serve(app, "GET", "/static").body == b'{"params":{}}'


def test_head_is_answered_by_the_get_handler(serve):
    app = App()

    @app.get("/page")
    async def page(request):
        return Response.text("body")

    # The server drops the body of a HEAD answer; the app answers like GET.
    assert summary(serve(app, "HEAD", "/page")) == (200, TEXT, b"body")


def test_request_body_reaches_the_handler(serve):
    app = App()

    @app.post("/echo")
    async def echo(request):
        return await request.json()

    json_type = [("Content-Type", "application/json")]
    assert serve(app, "POST", "/echo", json_type, body=[b'{"a":', b"[1]}"]).body == b'{"a":[1]}'
    response = serve(app, "POST", "/echo", json_type, body=b"{nope")
    assert response.status == 400
    assert response.body.startswith(b"invalid JSON body: ")


# Errors


def test_404_and_405(serve):
    app = App()

    @app.route("/items", ["GET", "POST"])
    async def items(request):
        return "items"

    assert summary(serve(app, "GET", "/nope")) == (404, TEXT, b"Not Found\n")
    response = serve(app, "DELETE", "/items")
    assert summary(response) == (405, TEXT, b"Method Not Allowed\n")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_http_error_becomes_its_response(serve, caplog):
    app = App()

    @app.get("/secret")
    async def secret(request):
        raise HTTPError(403, "no entry", [("X-Reason", "policy")])

    with caplog.at_level(logging.DEBUG, logger="longwire.app"):
        response = serve(app, "GET", "/secret")
    assert summary(response) == (403, TEXT, b"no entry\n")
    assert response.headers["X-Reason"] == "policy"
    assert caplog.records == []


def test_exception_is_logged_and_answered_500(serve, caplog):
    app = App()

    @app.get("/boom")
    def boom(request):
        raise ZeroDivisionError("kaboom")

    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        response = serve(app, "GET", "/boom?x=1")
    assert_internal_error(response)
    [record] = caplog.records
    assert (record.name, record.levelno) == ("longwire.app", logging.ERROR)
    assert "GET /boom?x=1" in record.getMessage()
    assert isinstance(record.exc_info[1], ZeroDivisionError)
    assert b"kaboom" not in response.body  # no details leak to the client


def test_cancellation_propagates(make_request):
    app = App()

    @app.get("/")
    async def index(request):
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(app.handle(make_request()))


def test_handle_drives_to_completion_without_a_loop_when_nothing_waits(make_request):
    # The server starts handle() eagerly: with no await that suspends, one
    # send(None) finishes it.
    app = App()

    @app.get("/")
    async def index(request):
        return Response(b"hi")

    coro = app.handle(make_request())
    with pytest.raises(StopIteration) as info:
        coro.send(None)
    assert info.value.value.body == b"hi"


# Middleware


def test_middleware_runs_outermost_first_in_registration_order(serve):
    app = App()
    calls = []

    @app.middleware
    async def outer(request, call_next):
        calls.append("outer in")
        response = await call_next(request)
        calls.append("outer out")
        response.headers.add("X-Trace", "outer")
        return response

    @app.middleware
    async def inner(request, call_next):
        calls.append("inner in")
        request.state.user = "ada"
        response = await call_next(request)
        calls.append("inner out")
        response.headers.add("X-Trace", "inner")
        return response

    @app.get("/")
    async def index(request):
        calls.append("handler")
        return request.state.user

    response = serve(app)
    assert response.body == b"ada"
    assert calls == ["outer in", "inner in", "handler", "inner out", "outer out"]
    assert response.headers.get_all("X-Trace") == ["inner", "outer"]
    assert outer.__name__ == "outer"  # returned unchanged


def test_middleware_can_short_circuit(serve):
    app = App()
    called = []

    @app.middleware
    async def gate(request, call_next):
        if "authorization" not in request.headers:
            return Response.text("denied\n", 401)
        return await call_next(request)

    @app.get("/")
    async def index(request):
        called.append(True)
        return "secret"

    assert summary(serve(app)) == (401, TEXT, b"denied\n")
    assert called == []
    assert serve(app, "GET", "/", [("Authorization", "x")]).body == b"secret"
    assert called == [True]


def test_middleware_sees_routing_errors_as_responses(serve):
    app = App()
    statuses = []

    @app.middleware
    async def record(request, call_next):
        response = await call_next(request)
        statuses.append(response.status)
        return response

    @app.get("/teapot")
    async def teapot(request):
        raise HTTPError(418)

    @app.get("/items/{n:int}")
    async def item(request):
        return request.path_params

    assert serve(app, "GET", "/nope").status == 404
    assert serve(app, "POST", "/teapot").status == 405
    assert serve(app, "GET", "/teapot").status == 418
    assert serve(app, "GET", "/items/5").body == b'{"n":5}'
    assert statuses == [404, 405, 418, 200]


def test_middleware_sees_handler_exceptions(serve, caplog):
    app = App()
    caught = []

    @app.middleware
    async def recover(request, call_next):
        try:
            return await call_next(request)
        except KeyError as exc:
            caught.append(exc)
            return Response.text("recovered\n", 503)

    @app.get("/")
    async def index(request):
        raise KeyError("missing")

    @app.get("/other")
    async def other(request):
        return 42  # not a valid return value: a TypeError passes through

    assert summary(serve(app)) == (503, TEXT, b"recovered\n")
    assert len(caught) == 1
    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        assert serve(app, "GET", "/other").status == 500
    assert isinstance(caplog.records[0].exc_info[1], TypeError)


def test_errors_raised_by_middleware(serve, caplog):
    app = App()

    @app.middleware
    async def guard(request, call_next):
        if request.path == "/http":
            raise HTTPError(429, headers=[("Retry-After", "1")])
        if request.path == "/bug":
            raise RuntimeError("middleware bug")
        if request.path == "/wrong":
            return "not a response"
        return await call_next(request)

    response = serve(app, "GET", "/http")
    assert (response.status, response.headers["Retry-After"]) == (429, "1")
    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        assert serve(app, "GET", "/bug").status == 500
        assert serve(app, "GET", "/wrong").status == 500
    errors = [type(record.exc_info[1]) for record in caplog.records]
    assert errors == [RuntimeError, TypeError]
    assert "str, not a Response" in str(caplog.records[1].exc_info[1])


def test_middleware_chain_is_built_once(serve):
    app = App()
    seen = []

    @app.middleware
    async def first(request, call_next):
        seen.append(call_next)
        return await call_next(request)

    @app.middleware
    async def second(request, call_next):
        return await call_next(request)

    @app.get("/")
    async def index(request):
        return "x"

    serve(app)
    serve(app)
    assert len(seen) == 2
    assert seen[0] is seen[1]


def test_routes_added_after_middleware_are_reached(serve):
    app = App()

    @app.middleware
    async def passthrough(request, call_next):
        return await call_next(request)

    assert serve(app, "GET", "/late").status == 404

    @app.get("/late")
    async def late(request):
        return "late"

    assert serve(app, "GET", "/late").body == b"late"


# Lifecycle hooks


def test_startup_and_shutdown_hooks_sync_and_async():
    app = App()
    calls = []

    @app.on_startup
    def sync_start():
        calls.append("sync start")

    @app.on_startup
    async def async_start():
        await asyncio.sleep(0)
        calls.append("async start")

    @app.on_shutdown
    async def async_stop():
        calls.append("async stop")

    @app.on_shutdown
    def sync_stop():
        calls.append("sync stop")

    asyncio.run(app.startup())
    assert calls == ["sync start", "async start"]
    asyncio.run(app.shutdown())
    assert calls == ["sync start", "async start", "async stop", "sync stop"]
    assert sync_start.__name__ == "sync_start"


def test_startup_failure_propagates_and_stops_later_hooks():
    app = App()
    calls = []

    @app.on_startup
    async def broken():
        raise OSError("database unreachable")

    @app.on_startup
    def after():
        calls.append("after")

    with pytest.raises(OSError, match="database unreachable"):
        asyncio.run(app.startup())
    assert calls == []


def test_shutdown_failure_is_logged_and_the_rest_still_run(caplog):
    app = App()
    calls = []

    @app.on_shutdown
    def broken():
        raise RuntimeError("flush failed")

    @app.on_shutdown
    async def after():
        calls.append("after")

    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        asyncio.run(app.shutdown())
    assert calls == ["after"]
    [record] = caplog.records
    assert isinstance(record.exc_info[1], RuntimeError)
    assert "broken" in record.getMessage()


# WebSocket routes


def test_websocket_registration_and_match():
    app = App()

    @app.websocket(
        "/rooms/{room:int}",
        subprotocols=["chat.v2", "chat.v1"],
        origins=["https://a.example", "https://b.example"],
        compression=False,
        max_message_size=4096,
    )
    async def room(websocket):
        pass

    @app.websocket("/echo")
    async def echo(websocket):
        pass

    route, params = app.match_websocket("/rooms/12")
    assert params == {"room": 12}
    assert route == WebSocketRoute(
        path="/rooms/{room:int}",
        handler=room,
        subprotocols=("chat.v2", "chat.v1"),
        origins=frozenset({"https://a.example", "https://b.example"}),
        compression=False,
        max_message_size=4096,
    )
    route, params = app.match_websocket("/echo")
    assert (route.handler, params, route.origins, route.subprotocols) == (echo, {}, None, ())
    assert (route.compression, route.max_message_size) == (True, UNSET)
    assert app.match_websocket("/rooms/x") is None
    assert app.match_websocket("/nowhere") is None


def test_websocket_max_message_size_none_means_no_limit():
    app = App()
    app.websocket("/big", max_message_size=None)(lambda websocket: None)
    route, _ = app.match_websocket("/big")
    assert route.max_message_size is None


def test_websocket_options_are_checked():
    app = App()
    with pytest.raises(TypeError, match="subprotocols"):
        app.websocket("/ws", subprotocols="chat")
    with pytest.raises(TypeError, match="origins"):
        app.websocket("/ws", origins="https://a.example")
    with pytest.raises(ValueError, match="max_message_size"):
        app.websocket("/ws", max_message_size=-5)(lambda websocket: None)
    assert app.match_websocket("/ws") is None


def test_plain_request_on_a_websocket_path_gets_426(serve):
    app = App()
    app.websocket("/ws/{room}")(lambda websocket: None)
    response = serve(app, "GET", "/ws/lobby")
    assert summary(response) == (426, TEXT, b"Upgrade Required\n")
    assert response.headers["Upgrade"] == "websocket"
    assert serve(app, "GET", "/elsewhere").status == 404


# run() and exports


def test_run_forwards_to_the_asyncio_server(monkeypatch):
    calls = []
    fake = types.ModuleType("longwire.aio")
    fake.run = lambda app, **kwargs: calls.append((app, kwargs))
    monkeypatch.setitem(sys.modules, "longwire.aio", fake)
    app = App()
    app.run(port=9000, workers=2)
    assert calls == [(app, {"host": "127.0.0.1", "port": 9000, "workers": 2})]


def test_exports_exist_and_are_documented():
    assert longwire.app.__doc__
    for name in longwire.app.__all__:
        obj = getattr(longwire.app, name)
        assert not name.startswith("_")
        if isinstance(obj, type):
            assert obj.__doc__, f"longwire.app.{name} has no docstring"
    assert {"App", "Request", "Response", "StreamingResponse", "HTTPError"} <= set(
        longwire.app.__all__
    )
    assert {"WebSocketRoute", "Router"} <= set(longwire.app.__all__)
