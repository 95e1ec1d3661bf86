"""``require_auth`` and ``Authenticate`` over real sockets: curl, aiohttp and urllib as clients."""

from __future__ import annotations

import asyncio
import base64
import inspect
import threading
import urllib.error
import urllib.request

import aiohttp
import pytest
from http_testing import base_url, curl, python_block, run, run_block, serve

from longwire.app import (
    App,
    Authenticate,
    BasicAuth,
    DigestAuth,
    HTTPError,
    MultiAuth,
    Request,
    StaticUsers,
    require_auth,
)
from longwire.app._auth import digest_ha1, digest_response, parse_auth_params, parse_challenges

USERS = {"ada": "lovelace", "grace": "hopper"}


def basic() -> BasicAuth:
    return BasicAuth("api", StaticUsers(USERS))


def digest(**options: object) -> DigestAuth:
    return DigestAuth("api", USERS, **options)  # type: ignore[arg-type]


def whoami_app(scheme: object, **options: object) -> App:
    app = App()

    @app.get("/me")
    @require_auth(scheme, **options)  # type: ignore[arg-type]
    async def me(request):
        return {"user": request.state.user}

    @app.get("/sync")
    @require_auth(scheme, **options)  # type: ignore[arg-type]
    def sync_me(request):
        return f"sync {request.state.user}\n"

    @app.get("/teapot")
    @require_auth(scheme, **options)  # type: ignore[arg-type]
    async def teapot(request):
        raise HTTPError(418, f"no coffee for {request.state.user}")

    return app


def digest_authorization(
    challenge: str, username: str, password: str, method: str, uri: str, *, nc: int = 1
) -> tuple[str, str]:
    """A Digest ``Authorization`` value for ``challenge``, and the ``rspauth`` to expect."""
    [parsed] = parse_challenges(challenge) or []
    params = dict(parsed.params)
    algorithm = params["algorithm"]
    ha1 = digest_ha1(username, params["realm"], password, algorithm)
    common = {
        "algorithm": algorithm, "ha1": ha1, "nonce": params["nonce"], "nc": f"{nc:08x}",
        "cnonce": "0a4f113b", "qop": "auth",
    }
    response = digest_response(method=method, uri=uri, **common)
    rspauth = digest_response(method="", uri=uri, **common)
    value = (
        f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", algorithm={algorithm}, qop=auth, nc={nc:08x}, cnonce="0a4f113b", '
        f'response="{response}", opaque="{params["opaque"]}"'
    )
    return value, rspauth


# Basic


@pytest.mark.parametrize("path", ["/me", "/sync"])
def test_basic_with_curl(path: str) -> None:
    async def main() -> None:
        async with serve(whoami_app(basic())) as server:
            base = base_url(server)
            ok = await curl("--basic", "-u", "ada:lovelace", f"{base}{path}")
            wrong = await curl("--basic", "-u", "ada:babbage", f"{base}{path}")
            anonymous = await curl(f"{base}{path}")
        assert ok.status == 200
        assert b"ada" in ok.body
        for reply in (wrong, anonymous):
            assert reply.status == 401
            assert reply.header_all("www-authenticate") == ['Basic realm="api", charset="UTF-8"']
            assert b"ada" not in reply.body

    run(main)


def test_basic_with_aiohttp_and_non_ascii_credentials() -> None:
    users = StaticUsers({"zoë": "pässwörd"})

    async def main() -> None:
        app = whoami_app(BasicAuth("api", users))
        async with serve(app) as server, aiohttp.ClientSession() as session:
            base = base_url(server)
            auth = aiohttp.BasicAuth("zoë", "pässwörd", encoding="utf-8")
            async with session.get(f"{base}/me", auth=auth) as response:
                assert response.status == 200
                assert await response.json() == {"user": "zoë"}
            async with session.get(f"{base}/me", auth=aiohttp.BasicAuth("zoë", "x")) as r:
                assert r.status == 401

    run(main)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Basic " + base64.b64encode(b"ada:\x00lovelace").decode(),  # control character
        "Bearer abc.def",
        'Digest username="ada"',  # Digest without what Digest needs
        "",
        "\u00e9\u00e9",
    ],
)
def test_malformed_credentials_are_a_401_never_a_500(authorization: str) -> None:
    async def main() -> None:
        async with serve(whoami_app(MultiAuth(digest(), basic()))) as server:
            base = base_url(server)
            reply = await curl("-H", f"Authorization: {authorization}", f"{base}/me")
        assert reply.status == 401
        assert len(reply.header_all("www-authenticate")) == 3  # SHA-256, MD5, Basic

    run(main)


def test_two_authorization_fields_are_refused() -> None:
    good = "Basic " + base64.b64encode(b"ada:lovelace").decode()

    async def main() -> None:
        async with serve(whoami_app(basic())) as server:
            base = base_url(server)
            reply = await curl("-H", f"Authorization: {good}", "-H", f"Authorization: {good}",
                               f"{base}/me")
        assert reply.status == 401

    run(main)


# Digest


@pytest.mark.parametrize("path", ["/me", "/sync"])
def test_digest_with_curl(path: str) -> None:
    async def main() -> None:
        async with serve(whoami_app(digest())) as server:
            base = base_url(server)
            ok = await curl("--digest", "-u", "grace:hopper", f"{base}{path}?x=1")
            wrong = await curl("--digest", "-u", "grace:cobol", f"{base}{path}")
        assert ok.heads == 2  # the 401 challenge, then the answer
        assert ok.status == 200
        assert b"grace" in ok.body
        info = parse_auth_params(ok.header("authentication-info") or "")
        assert info is not None
        assert info["qop"] == "auth"
        assert len(info["rspauth"]) == 64  # SHA-256: the first challenge
        assert wrong.status == 401
        assert wrong.header("www-authenticate").startswith("Digest ")

    run(main)


def test_digest_with_urllib() -> None:
    """urllib reads only the first challenge and only knows MD5: offer it first."""
    scheme = digest(algorithms=["MD5", "SHA-256"])

    def fetch(url: str, password: str) -> tuple[int, bytes]:
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, url, "ada", password)
        opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(manager))
        try:
            with opener.open(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    async def main() -> None:
        async with serve(whoami_app(scheme)) as server:
            base = base_url(server)
            ok = await asyncio.to_thread(fetch, f"{base}/me", "lovelace")
            wrong = await asyncio.to_thread(fetch, f"{base}/sync", "wrong")
        assert ok == (200, b'{"user":"ada"}')
        assert wrong[0] == 401

    run(main)


def test_digest_rspauth_proves_the_server_knows_the_password() -> None:
    async def main() -> None:
        async with serve(whoami_app(digest())) as server, aiohttp.ClientSession() as session:
            base = base_url(server)
            async with session.get(f"{base}/me") as first:
                assert first.status == 401
                challenge = first.headers.getall("WWW-Authenticate")[0]
            authorization, rspauth = digest_authorization(
                challenge, "ada", "lovelace", "GET", "/me"
            )
            headers = {"Authorization": authorization}
            async with session.get(f"{base}/me", headers=headers) as second:
                assert second.status == 200
                info = parse_auth_params(second.headers["Authentication-Info"])
            assert info is not None
            assert info["rspauth"] == rspauth
            # The same nonce-count again is a replay: refused, stale=true so the
            # client retries with a fresh nonce without asking the user.
            async with session.get(f"{base}/me", headers=headers) as replay:
                assert replay.status == 401
                assert "stale=true" in replay.headers.getall("WWW-Authenticate")[0]
            # The next count is fine.
            authorization, _ = digest_authorization(
                challenge, "ada", "lovelace", "GET", "/me", nc=2
            )
            async with session.get(f"{base}/me", headers={"Authorization": authorization}) as r:
                assert r.status == 200

    run(main)


def test_digest_uri_mismatch_is_a_400() -> None:
    async def main() -> None:
        async with serve(whoami_app(digest())) as server, aiohttp.ClientSession() as session:
            base = base_url(server)
            async with session.get(f"{base}/me") as first:
                challenge = first.headers.getall("WWW-Authenticate")[0]
            # Valid credentials for another resource, replayed against /me.
            authorization, _ = digest_authorization(challenge, "ada", "lovelace", "GET", "/other")
            async with session.get(f"{base}/me", headers={"Authorization": authorization}) as r:
                assert r.status == 400
                assert "WWW-Authenticate" not in r.headers

    run(main)


def test_digest_info_goes_on_errors_and_converted_results_too() -> None:
    async def main() -> None:
        async with serve(whoami_app(digest())) as server:
            base = base_url(server)
            teapot = await curl("--digest", "-u", "ada:lovelace", f"{base}/teapot")
            text = await curl("--digest", "-u", "ada:lovelace", f"{base}/sync")
        assert teapot.status == 418
        assert teapot.body == b"no coffee for ada\n"
        assert teapot.header("authentication-info") is not None
        assert text.status == 200
        assert text.body == b"sync ada\n"
        assert text.header("content-type") == "text/plain; charset=utf-8"
        assert text.header("authentication-info") is not None

    run(main)


def test_multi_auth_offers_both_and_takes_either() -> None:
    async def main() -> None:
        async with serve(whoami_app(MultiAuth(digest(algorithms=["SHA-256"]), basic()))) as server:
            base = base_url(server)
            anonymous = await curl(f"{base}/me")
            by_digest = await curl("--digest", "-u", "ada:lovelace", f"{base}/me")
            by_basic = await curl("--basic", "-u", "grace:hopper", f"{base}/me")
        challenges = anonymous.header_all("www-authenticate")
        assert [c.split(" ", 1)[0] for c in challenges] == ["Digest", "Basic"]
        assert by_digest.body == b'{"user":"ada"}'
        assert by_digest.header("authentication-info") is not None
        assert by_basic.body == b'{"user":"grace"}'
        assert by_basic.header("authentication-info") is None

    run(main)


# Authorization


@pytest.mark.parametrize("asynchronous", [False, True])
def test_authorize_says_403(asynchronous: bool) -> None:
    seen: list[tuple[str, str]] = []

    def admins_only(user: str, request: Request) -> bool:
        seen.append((user, request.path))
        return user == "ada"

    async def admins_only_async(user: str, request: Request) -> bool:
        await asyncio.sleep(0)
        return admins_only(user, request)

    check = admins_only_async if asynchronous else admins_only

    async def main() -> None:
        async with serve(whoami_app(basic(), authorize=check)) as server:
            base = base_url(server)
            ada = await curl("-u", "ada:lovelace", f"{base}/me")
            grace = await curl("-u", "grace:hopper", f"{base}/me")
            anonymous = await curl(f"{base}/me")
        assert ada.status == 200
        assert grace.status == 403
        assert grace.header("www-authenticate") is None
        assert anonymous.status == 401  # authorize is not asked without a user
        assert seen == [("ada", "/me"), ("grace", "/me")]

    run(main)


# The decorator itself


def test_decorated_handlers_keep_their_identity() -> None:
    async def handler(request):
        """Who am I."""

    def sync_handler(request):
        """Who am I, synchronously."""

    guarded = require_auth(basic())(handler)
    sync_guarded = require_auth(basic())(sync_handler)
    assert guarded.__name__ == "handler"
    assert guarded.__doc__ == "Who am I."
    assert sync_guarded.__name__ == "sync_handler"
    assert sync_guarded.__doc__ == "Who am I, synchronously."
    assert sync_guarded.__wrapped__ is sync_handler  # type: ignore[attr-defined]
    # The router awaits coroutine functions directly.
    assert inspect.iscoroutinefunction(guarded)
    assert inspect.iscoroutinefunction(sync_guarded)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="authentication scheme"):
        require_auth(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="authorize"):
        require_auth(basic(), authorize="admins")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        Authenticate(basic(), prefix="admin")


# Offloading Basic checks


@pytest.mark.parametrize("offload", [True, False])
def test_basic_checks_run_in_a_thread_unless_told_not_to(offload: bool) -> None:
    threads: list[threading.Thread] = []

    def check(username: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return (username, password) == ("ada", "lovelace")

    async def main() -> None:
        app = whoami_app(BasicAuth("api", check), offload=offload)
        async with serve(app) as server:
            base = base_url(server)
            reply = await curl("-u", "ada:lovelace", f"{base}/me")
        assert reply.status == 200

    run(main)
    [thread] = threads
    assert (thread is threading.main_thread()) is not offload


# The middleware


def guarded_tree(**options: object) -> App:
    app = App()
    app.middleware(Authenticate(basic(), **options))  # type: ignore[arg-type]

    @app.get("/admin")
    async def admin(request):
        return f"admin {request.state.user}\n"

    @app.get("/admin/users")
    async def admin_users(request):
        return f"users {request.state.user}\n"

    @app.get("/administrator")
    async def administrator(request):
        return "not under /admin\n"

    @app.route("/public", methods=("GET", "POST"))
    async def public(request):
        return "public\n"

    return app


def test_middleware_protects_a_subtree() -> None:
    async def main() -> None:
        async with serve(guarded_tree(prefix="/admin/")) as server:
            base = base_url(server)
            anonymous = {
                path: (await curl(f"{base}{path}")).status
                for path in ("/admin", "/admin/users", "/%61dmin/users", "/administrator",
                             "/public", "/missing")
            }
            ada = await curl("-u", "ada:lovelace", f"{base}/admin/users")
        assert anonymous == {
            "/admin": 401,
            "/admin/users": 401,
            "/%61dmin/users": 401,  # percent-decoded, as the router matches it
            "/administrator": 200,
            "/public": 200,
            "/missing": 404,
        }
        assert ada.body == b"users ada\n"

    run(main)


def test_middleware_when_and_authorize() -> None:
    def writes(request: Request) -> bool:
        return request.method not in ("GET", "HEAD")

    async def main() -> None:
        app = guarded_tree(when=writes, authorize=lambda user, request: user == "grace")
        async with serve(app) as server:
            base = base_url(server)
            read = await curl(f"{base}/public")
            write = await curl("-X", "POST", f"{base}/public")
            ada = await curl("-X", "POST", "-u", "ada:lovelace", f"{base}/public")
            grace = await curl("-X", "POST", "-u", "grace:hopper", f"{base}/public")
        assert (read.status, write.status, ada.status, grace.status) == (200, 401, 403, 200)

    run(main)


def test_middleware_adds_digest_info() -> None:
    app = App()
    app.middleware(Authenticate(digest()))

    @app.get("/")
    async def index(request):
        return "hello\n"

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            reply = await curl("--digest", "-u", "ada:lovelace", f"{base}/")
        assert reply.status == 200
        assert reply.header("authentication-info") is not None

    run(main)


# docs/auth.md


def test_docs_example() -> None:
    namespace = run_block(python_block("auth.md", "# auth_app.py"), "auth_app.py")
    app = namespace["app"]
    assert isinstance(app, App)

    async def main() -> None:
        async with serve(app) as server:
            base = base_url(server)
            index = await curl(f"{base}/")
            anonymous = await curl(f"{base}/me")
            grace = await curl("--digest", "-u", "grace:hopper", f"{base}/me")
            ada = await curl("--basic", "-u", "ada:lovelace", f"{base}/me")
            stats_grace = await curl("--basic", "-u", "grace:hopper", f"{base}/admin/stats")
            stats_ada = await curl("--basic", "-u", "ada:lovelace", f"{base}/admin/stats")
        assert index.body == b"public\n"
        assert anonymous.status == 401
        assert [c.split(" ", 1)[0] for c in anonymous.header_all("www-authenticate")] == [
            "Digest", "Digest", "Basic",
        ]
        assert grace.body == b'{"user":"grace"}'
        assert ada.body == b'{"user":"ada"}'
        assert stats_grace.status == 403
        assert stats_ada.body == b'{"admin":"ada"}'

    run(main, timeout=30)  # two scrypt verifications of about 0.25 s
