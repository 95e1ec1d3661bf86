"""Router: patterns, converters, precedence, 404/405, WebSocket routes."""

import uuid

import pytest

from longwire.app import UNSET, HTTPError, Router, WebSocketRoute


def handler(request):
    return "ok"


def other(request):
    return "other"


def status_of(router, method, path):
    with pytest.raises(HTTPError) as info:
        router.match(method, path)
    return info.value


# Converters

UUID = "12345678-9abc-def0-1234-56789ABCDEF0"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/users/{name}", "/users/ada", {"name": "ada"}),
        ("/users/{name:str}", "/users/ada lovelace", {"name": "ada lovelace"}),
        ("/items/{item_id:int}", "/items/0042", {"item_id": 42}),
        ("/prices/{amount:float}", "/prices/3.25", {"amount": 3.25}),
        ("/prices/{amount:float}", "/prices/7", {"amount": 7.0}),
        ("/orders/{order:uuid}", f"/orders/{UUID}", {"order": uuid.UUID(UUID)}),
        ("/files/{rest:path}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("/files/{rest:path}", "/files/line\nbreak/\x00", {"rest": "line\nbreak/\x00"}),
        ("/users/{name}", "/users/line\nbreak", {"name": "line\nbreak"}),
        ("/files/{name}.{ext}", "/files/archive.tar.gz", {"name": "archive.tar", "ext": "gz"}),
        ("/u/{user}/posts/{post:int}", "/u/bob/posts/7", {"user": "bob", "post": 7}),
    ],
)
def test_converters_match_and_convert(pattern, path, expected):
    router = Router()
    route = router.add(pattern, handler)
    matched, params = router.match("GET", path)
    assert matched is route
    assert params == expected
    assert [type(v) for v in params.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("/users/{name}", "/users/"),  # str needs at least one character
        ("/users/{name}", "/users/a/b"),  # ... and no "/"
        ("/items/{item_id:int}", "/items/-1"),
        ("/items/{item_id:int}", "/items/4x"),
        ("/items/{item_id:int}", "/items/\u0663"),  # ARABIC-INDIC DIGIT THREE: not ASCII
        ("/prices/{amount:float}", "/prices/nan"),
        ("/prices/{amount:float}", "/prices/1e5"),
        ("/prices/{amount:float}", "/prices/1."),
        ("/orders/{order:uuid}", "/orders/12345678-9abc-def0-1234-56789abcdefg"),
        ("/orders/{order:uuid}", "/orders/123456789abcdef0123456789abcdef0"),
        ("/files/{rest:path}", "/files/"),  # path needs at least one character too
    ],
)
def test_converters_reject(pattern, path):
    router = Router()
    router.add(pattern, handler)
    assert status_of(router, "GET", path).status == 404


def test_int_too_long_to_convert_is_no_match_rather_than_an_error():
    router = Router()
    router.add("/n/{n:int}", handler)
    assert status_of(router, "GET", "/n/" + "1" * 5000).status == 404


# Precedence, trailing slashes, methods


def test_static_path_wins_over_parameter_whatever_the_order():
    router = Router()
    by_name = router.add("/users/{name}", handler)
    me = router.add("/users/me", other)
    assert router.match("GET", "/users/me") == (me, {})
    assert router.match("GET", "/users/you") == (by_name, {"name": "you"})


def test_parameterised_patterns_are_tried_in_registration_order():
    router = Router()
    numeric = router.add("/items/{item_id:int}", handler)
    named = router.add("/items/{name}", other)
    assert router.match("GET", "/items/12") == (numeric, {"item_id": 12})
    assert router.match("GET", "/items/abc") == (named, {"name": "abc"})


def test_trailing_slash_is_significant_and_never_redirected():
    router = Router()
    bare = router.add("/a", handler)
    slashed = router.add("/b/", other)
    assert router.match("GET", "/a")[0] is bare
    assert router.match("GET", "/b/")[0] is slashed
    assert status_of(router, "GET", "/a/").status == 404
    assert status_of(router, "GET", "/b").status == 404


def test_unknown_path_is_404():
    router = Router()
    router.add("/known", handler)
    error = status_of(router, "GET", "/unknown")
    assert (error.status, error.detail, len(error.headers)) == (404, "Not Found", 0)


def test_wrong_method_is_405_with_sorted_allow():
    router = Router()
    router.add("/items", handler, ["POST", "GET"])
    router.add("/items", other, ["DELETE"])
    error = status_of(router, "PUT", "/items")
    assert error.status == 405
    assert error.headers.get_all("Allow") == ["DELETE, GET, HEAD, POST"]


def test_405_allow_without_get_has_no_head():
    router = Router()
    router.add("/form/{id}", handler, ["POST"])
    assert status_of(router, "GET", "/form/1").headers["Allow"] == "POST"


def test_method_missing_on_static_path_falls_back_to_matching_patterns():
    router = Router()
    router.add("/users/me", handler)
    delete = router.add("/users/{name}", other, ["DELETE"])
    assert router.match("DELETE", "/users/me") == (delete, {"name": "me"})
    assert status_of(router, "PUT", "/users/me").headers["Allow"] == "DELETE, GET, HEAD"


def test_get_implies_head_unless_head_has_its_own_route():
    router = Router()
    get = router.add("/x", handler)
    assert router.match("HEAD", "/x")[0] is get
    head = router.add("/x", other, ["HEAD"])
    assert router.match("HEAD", "/x")[0] is head
    assert router.match("GET", "/x")[0] is get
    # Registered the other way round, the explicit HEAD route is kept too.
    router.add("/y/{p}", other, ["HEAD"])
    router.add("/y/{p}", handler)
    assert router.match("HEAD", "/y/1")[0].handler is other
    assert get.methods == frozenset({"GET"})


def test_methods_are_upper_cased_and_matched_case_sensitively():
    router = Router()
    route = router.add("/x", handler, ["post", "Put"])
    assert route.methods == frozenset({"POST", "PUT"})
    assert router.match("POST", "/x")[0] is route
    assert status_of(router, "post", "/x").status == 405


def test_a_single_method_string_is_one_method():
    router = Router()
    assert router.add("/x", handler, "DELETE").methods == frozenset({"DELETE"})


def test_routes_lists_registrations_in_order():
    router = Router()
    first = router.add("/a", handler)
    second = router.add("/b/{x}", other, ["POST"])
    assert router.routes == (first, second)
    assert (second.path, second.handler) == ("/b/{x}", other)


# Invalid patterns


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/items/{id:integer}", "unknown converter 'integer'"),
        ("/a/{x}/b/{x:int}", "duplicate parameter name 'x'"),
        ("/files/{rest:path}/edit", "a 'path' parameter must end the pattern"),
        ("/files/{rest:path}.txt", "a 'path' parameter must end the pattern"),
        ("items/{id}", "must start with '/'"),
        ("", "must start with '/'"),
        ("/a/{x", "unbalanced"),
        ("/a/x}", "unbalanced"),
        ("/a/{{x}}", "unbalanced"),
        ("/a/{}", "not a Python identifier"),
        ("/a/{1x}", "not a Python identifier"),
        ("/a/{x-y}", "not a Python identifier"),
    ],
)
def test_invalid_patterns_raise_at_registration(pattern, message):
    router = Router()
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        router.add(pattern, handler)
    assert router.routes == ()


@pytest.mark.parametrize("methods", [[], ["GE T"], ["GET", "P@ST"], ["stra\u00dfe"]])
def test_invalid_methods_raise(methods):
    with pytest.raises(ValueError, match="method"):
        Router().add("/x", handler, methods)


def test_same_method_twice_on_a_pattern_raises_and_changes_nothing():
    router = Router()
    first = router.add("/x/{id}", handler, ["GET", "POST"])
    with pytest.raises(ValueError, match=r"POST /x/\{id\} already has a route"):
        router.add("/x/{id}", other, ["POST", "PUT"])
    assert router.match("POST", "/x/1")[0] is first
    assert status_of(router, "PUT", "/x/1").status == 405
    assert router.routes == (first,)


def test_a_failed_static_add_registers_nothing():
    router = Router()
    with pytest.raises(ValueError, match="method"):
        router.add("/x", handler, ["GET", "BAD METHOD"])
    assert status_of(router, "GET", "/x").status == 404


# WebSocket routes


def test_websocket_routes_match_static_and_parameterised():
    router = Router()
    chat = WebSocketRoute("/chat", handler)
    room = WebSocketRoute("/rooms/{room_id:int}", other)
    router.add_websocket("/chat", chat)
    router.add_websocket("/rooms/{room_id:int}", room)
    assert router.match_websocket("/chat") == (chat, {})
    assert router.match_websocket("/rooms/9") == (room, {"room_id": 9})
    assert router.match_websocket("/rooms/x") is None
    assert router.match_websocket("/chat/") is None


def test_websocket_and_http_routes_are_separate():
    router = Router()
    router.add("/chat", handler)
    assert router.match_websocket("/chat") is None
    router.add_websocket("/ws", WebSocketRoute("/ws", handler))
    router.add_websocket("/both", WebSocketRoute("/both", handler))
    router.add("/both", other, ["POST"])
    # A plain request for a WebSocket-only path learns it must upgrade.
    error = status_of(router, "GET", "/ws")
    assert error.status == 426
    assert error.headers.items() == [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    assert status_of(router, "GET", "/both").status == 405  # an HTTP route matches: 405
    assert status_of(router, "GET", "/ws/").status == 404


def test_websocket_route_twice_or_malformed_raises():
    router = Router()
    router.add_websocket("/ws/{x}", WebSocketRoute("/ws/{x}", handler))
    with pytest.raises(ValueError, match="already has a route"):
        router.add_websocket("/ws/{x}", WebSocketRoute("/ws/{x}", other))
    with pytest.raises(ValueError, match="unknown converter"):
        router.add_websocket("/ws/{x:nope}", WebSocketRoute("/ws/{x:nope}", other))
    with pytest.raises(ValueError, match="must start with '/'"):
        router.add_websocket("ws", WebSocketRoute("ws", other))


def test_websocket_route_defaults_and_validation():
    route = WebSocketRoute("/ws", handler)
    assert (route.subprotocols, route.origins, route.compression) == ((), None, True)
    assert route.max_message_size is UNSET
    assert repr(UNSET) == "UNSET"
    assert WebSocketRoute("/ws", handler, max_message_size=None).max_message_size is None
    with pytest.raises(ValueError, match="max_message_size"):
        WebSocketRoute("/ws", handler, max_message_size=-1)
    with pytest.raises(TypeError, match="subprotocols"):
        WebSocketRoute("/ws", handler, subprotocols=["chat"])
    with pytest.raises(TypeError, match="origins"):
        WebSocketRoute("/ws", handler, origins={"https://a.example"})
    with pytest.raises(AttributeError):
        route.compression = False
