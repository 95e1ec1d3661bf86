"""``CORS`` over real sockets: preflights with curl, actual requests with aiohttp and curl."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from http_testing import base_url, curl, python_block, run, run_block, serve

from longwire.app import (
    CORS,
    App,
    Authenticate,
    BasicAuth,
    CORSPolicy,
    HTTPError,
    Response,
    StaticUsers,
)

ORIGIN = "https://app.example.com"
EVIL = "https://evil.example.net"

def cors_app(cors: CORS, calls: list[str] | None = None) -> App:
    app = App()
    app.middleware(cors)
    seen = [] if calls is None else calls

    @app.route("/notes", methods=("GET", "PUT"))
    async def notes(request):
        seen.append(request.method)
        return Response.text("notes\n", headers=[("X-Request-Id", "42")])

    @app.get("/boom")
    async def boom(request):
        raise RuntimeError("boom")

    @app.get("/teapot")
    async def teapot(request):
        raise HTTPError(418, "short and stout")

    return app


def default_cors() -> CORS:
    return CORS(
        [ORIGIN, "https://*.example.org"],
        allow_methods=["GET", "PUT"],
        allow_headers=["X-Token"],
        expose_headers=["X-Request-Id"],
        max_age=120,
    )


def preflight_args(base: str, origin: str = ORIGIN, method: str = "PUT", *extra: str) -> list[str]:
    return [
        "-X", "OPTIONS", f"{base}/notes",
        "-H", f"Origin: {origin}",
        "-H", f"Access-Control-Request-Method: {method}",
        *extra,
    ]


# Preflights


def test_allowed_preflight_is_answered_without_the_handler() -> None:
    calls: list[str] = []

    async def main() -> None:
        async with serve(cors_app(default_cors(), calls)) as server:
            base = base_url(server)
            reply = await curl(
                *preflight_args(base),
                "-H", "Access-Control-Request-Headers: X-Token, Content-Type",
            )
        assert reply.status == 204
        assert reply.body == b""
        assert reply.header("access-control-allow-origin") == ORIGIN
        assert reply.header("access-control-allow-methods") == "GET, PUT"
        assert reply.header("access-control-allow-headers") == "x-token, content-type"
        assert reply.header("access-control-max-age") == "120"
        assert reply.header("access-control-allow-credentials") is None
        assert reply.header("allow") is None  # not the app's own OPTIONS answer
        assert reply.header("vary") == (
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        )
        assert calls == []

    run(main)


@pytest.mark.parametrize(
    ("origin", "method", "extra"),
    [
        (EVIL, "PUT", ()),  # origin not allowed
        ("https://example.org", "PUT", ()),  # the pattern covers subdomains only
        (ORIGIN, "DELETE", ()),  # method not allowed
        (ORIGIN, "PUT", ("-H", "Access-Control-Request-Headers: authorization")),
        (ORIGIN, "PUT", ("-H", "Access-Control-Request-Headers: x token")),  # not a token
        ("null", "GET", ()),  # sandboxed pages only when listed
        (ORIGIN + "/", "PUT", ()),  # not an origin: browsers send no path
        ("https://\u00e4pp.example.com", "PUT", ()),  # raw bytes a browser never sends
    ],
)
def test_refused_preflight_gets_403_without_cors_fields(
    origin: str, method: str, extra: tuple[str, ...]
) -> None:
    calls: list[str] = []

    async def main() -> None:
        async with serve(cors_app(default_cors(), calls)) as server:
            base = base_url(server)
            reply = await curl(*preflight_args(base, origin, method, *extra))
        assert reply.status == 403
        assert not [name for name, _ in reply.headers if name.startswith("access-control-")]
        assert "Origin" in reply.header("vary")
        assert reply.body == b"Forbidden: CORS preflight refused\n"
        assert calls == []

    run(main)


def test_a_plain_options_request_is_not_a_preflight() -> None:
    async def main() -> None:
        async with serve(cors_app(default_cors())) as server:
            base = base_url(server)
            reply = await curl("-X", "OPTIONS", "-H", f"Origin: {ORIGIN}", f"{base}/notes")
        # The application's own answer to OPTIONS, annotated like any response.
        assert reply.header("allow") is not None
        assert "PUT" in reply.header("allow")
        assert reply.header("access-control-allow-origin") == ORIGIN
        assert reply.header("access-control-allow-methods") is None

    run(main)


# Actual requests


def test_allowed_origin_can_read_the_answer_and_exposed_headers() -> None:
    calls: list[str] = []

    async def main() -> None:
        app = cors_app(default_cors(), calls)
        async with serve(app) as server, aiohttp.ClientSession() as session:
            base = base_url(server)
            for origin in (ORIGIN, "https://api.example.org", "HTTPS://App.Example.COM:443"):
                async with session.put(f"{base}/notes", headers={"Origin": origin}) as r:
                    assert r.status == 200
                    # The origin as the browser sent it, byte for byte.
                    assert r.headers["Access-Control-Allow-Origin"] == origin
                    assert r.headers["Access-Control-Expose-Headers"] == "X-Request-Id"
                    assert r.headers["Vary"] == "Origin"
                    assert "Access-Control-Allow-Credentials" not in r.headers
        assert calls == ["PUT", "PUT", "PUT"]

    run(main)


def test_refused_origin_still_runs_but_gets_no_cors_fields() -> None:
    calls: list[str] = []

    async def main() -> None:
        async with serve(cors_app(default_cors(), calls)) as server:
            base = base_url(server)
            refused = await curl("-H", f"Origin: {EVIL}", f"{base}/notes")
            no_origin = await curl(f"{base}/notes")
        for reply in (refused, no_origin):
            assert reply.status == 200
            assert reply.header("access-control-allow-origin") is None
            assert reply.header("vary") == "Origin"
        assert calls == ["GET", "GET"]  # CORS limits reading, not sending

    run(main)


def test_errors_carry_cors_fields(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with serve(cors_app(default_cors())) as server:
            base = base_url(server)
            missing = await curl("-H", f"Origin: {ORIGIN}", f"{base}/missing")
            not_allowed = await curl("-X", "DELETE", "-H", f"Origin: {ORIGIN}", f"{base}/notes")
            teapot = await curl("-H", f"Origin: {ORIGIN}", f"{base}/teapot")
            boom = await curl("-H", f"Origin: {ORIGIN}", f"{base}/boom")
        for reply, status in ((missing, 404), (not_allowed, 405), (teapot, 418), (boom, 500)):
            assert reply.status == status
            assert reply.header("access-control-allow-origin") == ORIGIN
            assert "Origin" in reply.header("vary")
        assert teapot.body == b"short and stout\n"
        assert boom.body.startswith(b"Internal Server Error (request id ")
        request_id = boom.header("x-request-id")
        assert request_id is not None
        assert request_id.encode() in boom.body
        [record] = [r for r in caplog.records if r.name == "longwire.app"]
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
        assert request_id in record.getMessage()

    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        run(main)


def test_a_401_from_inner_middleware_is_readable_by_the_page() -> None:
    app = App()
    app.middleware(default_cors())
    app.middleware(Authenticate(BasicAuth("api", StaticUsers({"ada": "pw"}))))

    @app.get("/notes")
    async def notes(request):
        return "notes\n"

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            refused = await curl("-H", f"Origin: {ORIGIN}", f"{base}/notes")
            allowed = await curl("-u", "ada:pw", "-H", f"Origin: {ORIGIN}", f"{base}/notes")
            # A refused preflight never reaches Authenticate: 403 from CORS, not 401.
            preflight = await curl(*preflight_args(base, EVIL))
        assert refused.status == 401
        assert refused.header("www-authenticate").startswith("Basic ")
        assert refused.header("access-control-allow-origin") == ORIGIN
        assert allowed.status == 200
        assert allowed.header("access-control-allow-origin") == ORIGIN
        assert preflight.status == 403

    run(main)


def test_credentials_and_wildcard_exposure() -> None:
    cors = CORS(CORSPolicy([ORIGIN], allow_credentials=True, expose_headers="*"))

    async def main() -> None:
        async with serve(cors_app(cors)) as server:
            base = base_url(server)
            reply = await curl("-H", f"Origin: {ORIGIN}", f"{base}/notes")
        assert reply.header("access-control-allow-origin") == ORIGIN
        assert reply.header("access-control-allow-credentials") == "true"
        # With credentials, "*" is literal to browsers: the names present are listed.
        exposed = reply.header("access-control-expose-headers")
        assert exposed is not None
        assert "X-Request-Id" in exposed.split(", ")

    run(main)


def test_any_origin_without_credentials_answers_star() -> None:
    async def main() -> None:
        async with serve(cors_app(CORS("*"))) as server:
            base = base_url(server)
            reply = await curl("-H", f"Origin: {EVIL}", f"{base}/notes")
            null = await curl("-H", "Origin: null", f"{base}/notes")
        assert reply.header("access-control-allow-origin") == "*"
        assert null.header("access-control-allow-origin") is None  # "*" excludes null

    run(main)


def test_a_reused_response_does_not_keep_another_requests_origin() -> None:
    shared = Response.text("shared\n")
    app = App()
    app.middleware(CORS([ORIGIN, "https://other.example.com"]))

    @app.get("/shared")
    async def handler(request):
        return shared

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            first = await curl("-H", f"Origin: {ORIGIN}", f"{base}/shared")
            second = await curl("-H", "Origin: https://other.example.com", f"{base}/shared")
            third = await curl(f"{base}/shared")
        assert first.header("access-control-allow-origin") == ORIGIN
        assert second.header_all("access-control-allow-origin") == ["https://other.example.com"]
        assert third.header("access-control-allow-origin") is None
        assert "access-control-allow-origin" not in shared.headers

    run(main)


def test_handler_fields_are_replaced_not_repeated() -> None:
    app = App()
    app.middleware(CORS([ORIGIN]))

    @app.get("/own")
    async def own(request):
        fields = [("Access-Control-Allow-Origin", "*"), ("Vary", "Accept-Language")]
        return Response.text("own\n", headers=fields)

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            reply = await curl("-H", f"Origin: {ORIGIN}", f"{base}/own")
        assert reply.header_all("access-control-allow-origin") == [ORIGIN]
        assert reply.header_all("vary") == ["Accept-Language, Origin"]

    run(main)


# Construction


def test_policy_or_options_not_both() -> None:
    policy = CORSPolicy([ORIGIN])
    assert CORS(policy).policy is policy
    assert CORS([ORIGIN], max_age=5).policy.max_age == 5
    with pytest.raises(TypeError, match="not both"):
        CORS(policy, max_age=5)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="credentials"):
        CORS("*", allow_credentials=True)
    with pytest.raises(ValueError, match="not an origin"):
        CORS(["https://example.com/"])


# docs/cors.md


def test_docs_example() -> None:
    app = run_block(python_block("cors.md", "# cors_app.py"), "cors_app.py")["app"]
    assert isinstance(app, App)

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            put = await curl(
                "-X", "PUT", "--data", '{"text": "second"}', "-H", "Content-Type: application/json",
                "-H", "Origin: http://localhost:5173", f"{base}/notes/2",
            )
            missing = await curl("-H", "Origin: https://app.example.com", f"{base}/notes/9")
            refused = await curl(
                "-X", "OPTIONS", f"{base}/notes/1", "-H", "Origin: https://example.com",
                "-H", "Access-Control-Request-Method: PUT",
            )
        assert put.status == 200
        assert put.header("access-control-allow-origin") == "http://localhost:5173"
        assert put.header("access-control-allow-credentials") == "true"
        assert missing.status == 404
        assert missing.header("access-control-allow-origin") == "https://app.example.com"
        assert refused.status == 403

    run(main)
