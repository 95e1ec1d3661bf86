"""Cookies over real sockets: request.cookies, Set-Cookie from Response, signed cookies.

curl's cookie jar (``-c``/``-b``) plays the browser: it stores what Set-Cookie
says and sends it back, so a wrong attribute (path, expiry) shows up as a
cookie that is or isn't sent.
"""

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from http_testing import base_url, curl, fetch, make_request, python_block, run, run_block, serve

from longwire import App, Response, StreamingResponse
from longwire.app._cookies import InvalidCookieError, sign

SECRET = "s3cret-s3cret-s3cret-s3cret"
OLD_SECRET = b"old-secret-0123456789"


def cookie_app() -> App:
    app = App()

    @app.get("/cookies")
    async def cookies(request):
        return dict(request.cookies)

    @app.get("/set")
    async def set_cookie(request):
        return (
            Response.text("set\n")
            .set_cookie("theme", "dark")
            .set_cookie("lang", "fr", max_age=timedelta(days=1), path="/docs", httponly=False)
        )

    @app.get("/signed/set")
    async def set_signed(request):
        return Response.text("ok\n").set_signed_cookie("session", "user:42 é", SECRET, max_age=60)

    @app.get("/signed")
    async def signed(request):
        value = request.signed_cookie("session", [SECRET, OLD_SECRET], max_age=60)
        return {"session": value}

    @app.get("/delete")
    async def delete(request):
        return Response.text("bye\n").delete_cookie("theme")

    return app


def set_cookies(answer) -> list[str]:
    return answer.header_all("set-cookie")


# Reading


def test_request_cookies_from_several_cookie_lines():
    async def main():
        async with serve(cookie_app()) as server:
            base = base_url(server)
            answer = await curl(
                "-H", 'Cookie: a=1; b="two"; junk; =x',
                "-H", "Cookie: a=3; c=café",  # UTF-8 on the wire
                f"{base}/cookies",
            )
        assert answer.status == 200
        # First value wins; quotes dropped; malformed pairs skipped; UTF-8 read.
        assert answer.text == '{"a":"1","b":"two","c":"café"}'

    run(main, timeout=10)


def test_request_cookies_are_parsed_once_and_read_only():
    request = make_request("GET", "/", [("Cookie", "a=1")])
    cookies = request.cookies
    assert cookies is request.cookies
    assert isinstance(cookies, MappingProxyType)
    with pytest.raises(TypeError):
        cookies["a"] = "2"  # type: ignore[index]
    assert make_request("GET", "/").cookies == {}


# Writing


def test_set_cookie_defaults_and_options():
    async def main():
        async with serve(cookie_app()) as server:
            base = base_url(server)
            answer = await curl(f"{base}/set")
        assert set_cookies(answer) == [
            "theme=dark; Path=/; HttpOnly; SameSite=Lax",
            "lang=fr; Max-Age=86400; Path=/docs; SameSite=Lax",
        ]

    run(main, timeout=10)


def test_cookie_methods_return_the_response():
    response = StreamingResponse([b"x"])
    assert response.set_cookie("a", "1") is response
    assert response.delete_cookie("a") is response
    assert response.set_signed_cookie("b", "v", SECRET) is response
    assert len(response.headers.get_all("set-cookie")) == 3
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    full = Response().set_cookie(
        "__Host-id", "x", expires=when, secure=True, samesite="None", partitioned=True
    )
    assert full.headers.get("set-cookie") == (
        "__Host-id=x; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/; Secure; HttpOnly; "
        "SameSite=None; Partitioned"
    )


@pytest.mark.parametrize(
    ("name", "value", "options"),
    [
        ("a b", "1", {}),
        ("a", "two words", {}),
        ("a", "é", {}),
        ("a", "1", {"samesite": "None"}),  # without secure
        ("__Host-a", "1", {"path": "/x", "secure": True}),
        ("a", "1", {"domain": "bad domain"}),
    ],
)
def test_invalid_cookies_are_refused(name, value, options):
    response = Response()
    with pytest.raises(InvalidCookieError):
        response.set_cookie(name, value, **options)
    assert issubclass(InvalidCookieError, ValueError)
    assert "set-cookie" not in response.headers


def test_curl_jar_keeps_the_cookie_then_deletes_it(tmp_path):
    jar = str(tmp_path / "jar.txt")

    async def main():
        async with serve(cookie_app()) as server:
            base = base_url(server)
            await curl("-c", jar, f"{base}/set")
            sent = await curl("-b", jar, f"{base}/cookies")
            # The Path=/docs cookie is only sent under /docs.
            assert sent.text == '{"theme":"dark"}'
            deleted = await curl("-b", jar, "-c", jar, f"{base}/delete")
            assert set_cookies(deleted) == [
                "theme=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"
            ]
            after = await curl("-b", jar, f"{base}/cookies")
            assert after.text == "{}"

    run(main, timeout=10)


# Signed cookies


def test_signed_cookie_round_trip_with_a_jar(tmp_path):
    jar = tmp_path / "jar.txt"

    async def main():
        async with serve(cookie_app()) as server:
            base = base_url(server)
            answer = await curl("-c", str(jar), f"{base}/signed/set")
            [header] = set_cookies(answer)
            assert re.fullmatch(
                r"session=[-_\w]+\.\d+\.[-_\w]{43}; Max-Age=60; Path=/; HttpOnly; SameSite=Lax",
                header,
            )
            genuine = await curl("-b", str(jar), f"{base}/signed")
            assert genuine.text == '{"session":"user:42 é"}'
            # Change one character of the value in the jar: forged.
            text = jar.read_text()
            value = re.search(r"session\t(\S+)", text)[1]
            forged = value[:-1] + ("A" if value[-1] != "A" else "B")
            jar.write_text(text.replace(value, forged))
            tampered = await curl("-b", str(jar), f"{base}/signed")
            assert tampered.text == '{"session":null}'
            missing = await curl(f"{base}/signed")
            assert missing.text == '{"session":null}'

    run(main, timeout=10)


def test_signed_cookie_expiry_rotation_and_salt():
    now = time.time()
    cases = {
        "fresh": (sign("u", SECRET, salt="session"), "u"),
        "expired": (sign("u", SECRET, salt="session", now=now - 120), None),
        "old secret": (sign("u", OLD_SECRET, salt="session"), "u"),
        "unknown secret": (sign("u", "another-secret-of-16+", salt="session"), None),
        "other cookie's value": (sign("u", SECRET, salt="theme"), None),
        "unsigned": ("u", None),
    }

    async def main():
        async with serve(cookie_app()) as server:
            base = base_url(server)
            for case, (value, expected) in cases.items():
                headers = {"Cookie": f"session={value}"}
                answer = await fetch("GET", f"{base}/signed", headers=headers)
                assert answer.status == 200
                assert json.loads(answer.body) == {"session": expected}, case

    run(main, timeout=10)


def test_signed_cookie_salt_and_short_secrets():
    response = Response().set_signed_cookie("a", "v", SECRET, salt="purpose")
    value = response.headers.get("set-cookie").split(";")[0].split("=", 1)[1]
    request = make_request("GET", "/", [("Cookie", f"a={value}; b={value}")])
    assert request.signed_cookie("a", SECRET) is None  # the default salt is the name
    assert request.signed_cookie("a", SECRET, salt="purpose") == "v"
    assert request.signed_cookie("b", SECRET, salt="purpose") == "v"
    with pytest.raises(ValueError, match="at least 16 bytes"):
        request.signed_cookie("a", "short")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Response().set_signed_cookie("a", "v", "short")


# docs/requests.md: the login example


def login_app() -> App:
    return run_block(python_block("requests.md", "# login.py"), "login.py", name="login")["app"]


def test_docs_login_example_with_curl(tmp_path):
    jar = str(tmp_path / "jar.txt")
    password = "password=correct horse battery staple"

    async def main():
        async with serve(login_app()) as server:
            base = base_url(server)
            page = await curl(f"{base}/login")
            assert page.status == 200
            assert '<form method="post"' in page.text
            assert (await curl("-b", jar, f"{base}/me")).status == 401

            wrong = await curl("-c", jar, "--data-urlencode", "user=ada",
                               "--data-urlencode", "password=guess", f"{base}/login")
            assert (wrong.status, wrong.text) == (401, "wrong user name or password\n")
            nobody = await curl("--data-urlencode", "user=bob", "--data-urlencode", password,
                                f"{base}/login")
            assert nobody.status == 401

            login = await curl("-c", jar, "--data-urlencode", "user=ada",
                               "--data-urlencode", password, f"{base}/login")
            assert login.status == 303
            assert login.header("location") == "/me"
            [cookie] = set_cookies(login)
            assert cookie.startswith("session=")
            assert cookie.endswith("; Max-Age=28800; Path=/; HttpOnly; SameSite=Lax")

            me = await curl("-b", jar, f"{base}/me")
            assert (me.status, me.text) == (200, "Hello, ada!\n")

            # A multipart login works the same (curl -F).
            multipart = await curl("-F", "user=ada", "-F", password, f"{base}/login")
            assert multipart.status == 303

            out = await curl("-b", jar, "-c", jar, "-X", "POST", f"{base}/logout")
            assert (out.status, out.header("location")) == (303, "/login")
            assert (await curl("-b", jar, f"{base}/me")).status == 401

    run(main, timeout=10)


def test_docs_login_example_rejects_a_file_as_password():
    app = login_app()
    body = (
        b"--b\r\nContent-Disposition: form-data; name=user\r\n\r\nada\r\n"
        b"--b\r\nContent-Disposition: form-data; name=password; filename=p\r\n\r\n"
        b"correct horse battery staple\r\n--b--\r\n"
    )
    request = make_request(
        "POST", "/login", [("Content-Type", "multipart/form-data; boundary=b")], body
    )
    response = asyncio.run(app.handle(request))
    assert response.status == 401
    request.close()
