"""Cookies: parsing Cookie headers, building Set-Cookie values, signing values."""

from datetime import UTC, datetime, timedelta, timezone
from http.cookies import SimpleCookie

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longwire import LongwireError
from longwire.app._cookies import (
    MAX_COOKIE_SIZE,
    BadSignatureError,
    InvalidCookieError,
    SignatureExpiredError,
    build_delete_cookie,
    build_set_cookie,
    parse_cookie_header,
    parse_cookie_pairs,
    sign,
    unsign,
)

SECRET = "0123456789abcdef-current"
OLD_SECRET = b"0123456789abcdef-previous"
NOW = 1_700_000_000

# Parsing


def test_rfc6265_examples():
    # RFC 6265 §3.1
    assert parse_cookie_header("SID=31d4d96e407aad42") == {"SID": "31d4d96e407aad42"}
    assert parse_cookie_header("SID=31d4d96e407aad42; lang=en-US") == {
        "SID": "31d4d96e407aad42",
        "lang": "en-US",
    }


def test_browser_realistic_header():
    # Shaped like a Chromium Cookie header on a site with analytics and a session.
    header = (
        "_ga=GA1.1.1234567890.1700000000; _ga_ABC123=GS1.1.1700000000.1.1.1700000100.0.0.0; "
        'session="eyJ1c2VyIjo0Mn0.1700000000.c2lnbmF0dXJl"; theme=dark; consent={"ads":false}; '
        "nameless; empty=; a=b=c;  spaced = out ;\ttabbed=\tyes; trailing;"
    )
    assert parse_cookie_header(header) == {
        "_ga": "GA1.1.1234567890.1700000000",
        "_ga_ABC123": "GS1.1.1700000000.1.1.1700000100.0.0.0",
        "session": "eyJ1c2VyIjo0Mn0.1700000000.c2lnbmF0dXJl",  # quotes stripped
        "theme": "dark",
        "consent": '{"ads":false}',  # not a cookie-octet value, but browsers send it
        "empty": "",
        "a": "b=c",  # split at the first "="
        "spaced": "out",
        "tabbed": "yes",
    }


def test_first_of_a_repeated_name_wins():
    # RFC 6265 §5.4: longer paths first, so the first is the most specific cookie.
    header = "id=for-app-path; id=for-root; other=1"
    assert parse_cookie_header(header)["id"] == "for-app-path"
    assert parse_cookie_pairs(header) == [
        ("id", "for-app-path"),
        ("id", "for-root"),
        ("other", "1"),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("", {}),
        (";;;", {}),
        ("novalue", {}),  # a nameless cookie: nothing to key it by
        ("=value", {}),  # empty name
        ("  =value; ok=1", {"ok": "1"}),
        ("bad\x01name=1; ok=1", {"ok": "1"}),
        ("bad=va\x00lue; ok=1", {"ok": "1"}),
        ("bad=\x7f; ok=1", {"ok": "1"}),
        ('q="quoted"', {"q": "quoted"}),
        ('q="', {"q": '"'}),  # a lone quote is kept
        ('q="open', {"q": '"open'}),
        ('q=""', {"q": ""}),
        ("q=a,b", {"q": "a,b"}),  # RFC 2965's "," separator is not honoured
        ("$Version=1; a=1", {"$Version": "1", "a": "1"}),
        ("percent=%7B%22a%22%7D", {"percent": "%7B%22a%22%7D"}),  # not decoded
    ],
)
def test_lenient_parsing(header, expected):
    assert parse_cookie_header(header) == expected


def test_non_ascii_bytes_are_read_as_utf8_when_they_are():
    # Headers hold wire bytes decoded as latin-1; browsers send document.cookie as UTF-8.
    wire = "name=café; sym=€".encode().decode("latin-1")
    assert parse_cookie_header(wire) == {"name": "café", "sym": "€"}
    latin1 = b"name=caf\xe9".decode("latin-1")  # not UTF-8: kept as latin-1
    assert parse_cookie_header(latin1) == {"name": "café"}
    assert parse_cookie_header("emoji=🍪") == {"emoji": "🍪"}  # already text


@given(st.text(max_size=200))
def test_parsing_never_fails(header):
    for name, value in parse_cookie_pairs(header):
        assert name
        assert name == name.strip(" \t")
        assert "=" not in name
        assert ";" not in name + value


# Building


def test_rfc6265_set_cookie_examples():
    # RFC 6265 §3.1, attribute for attribute.
    plain = {"path": None, "samesite": None}
    assert build_set_cookie("SID", "31d4d96e407aad42", **plain) == "SID=31d4d96e407aad42"
    assert (
        build_set_cookie("SID", "31d4d96e407aad42", domain="example.com", samesite=None)
        == "SID=31d4d96e407aad42; Domain=example.com; Path=/"
    )
    assert (
        build_set_cookie(
            "lang", "en-US", expires=datetime(2021, 6, 9, 10, 18, 14, tzinfo=UTC), **plain
        )
        == "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT"
    )
    assert (
        build_set_cookie("SID", "31d4d96e407aad42", secure=True, httponly=True, samesite=None)
        == "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly"
    )
    # RFC 9110 §5.6.7's example date, as seconds since the epoch.
    assert build_set_cookie("lang", "", expires=784111777, **plain) == (
        "lang=; Expires=Sun, 06 Nov 1994 08:49:37 GMT"
    )


def test_defaults_and_every_attribute():
    assert build_set_cookie("a", "1") == "a=1; Path=/; SameSite=Lax"
    assert build_set_cookie(
        "a",
        "1",
        max_age=3600,
        expires=0,
        domain=".example.com",
        path="/app",
        secure=True,
        httponly=True,
        samesite="none",
        partitioned=True,
    ) == (
        "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=3600; Domain=example.com; "
        "Path=/app; Secure; HttpOnly; SameSite=None; Partitioned"
    )


def test_max_age_and_expires_forms():
    assert "Max-Age=90" in build_set_cookie("a", "1", max_age=timedelta(seconds=90.9))
    assert "Max-Age=0" in build_set_cookie("a", "1", max_age=0)
    tz = timezone(timedelta(hours=2))
    assert "Expires=Wed, 09 Jun 2021 08:18:14 GMT" in build_set_cookie(
        "a", "1", expires=datetime(2021, 6, 9, 10, 18, 14, tzinfo=tz)
    )
    assert "Expires=Sun, 06 Nov 1994 08:49:37 GMT" in build_set_cookie(
        "a", "1", expires=784111777.9
    )


@pytest.mark.parametrize("samesite", ["Strict", "strict", "LAX", "lax"])
def test_samesite_is_canonicalised(samesite):
    assert build_set_cookie("a", "1", samesite=samesite).endswith(
        f"SameSite={samesite.capitalize()}"
    )


def test_quoted_value_is_allowed():
    assert build_set_cookie("a", '"quoted"', path=None, samesite=None) == 'a="quoted"'


@pytest.mark.parametrize(
    "name",
    [
        "",
        "with space",
        "semi;colon",
        "eq=ual",
        "comma,",
        "tab\t",
        'quote"',
        "caf\xe9",
        "(paren)",
        "new\nline",
        "@at",
        3,
    ],
)
def test_invalid_names_are_refused(name):
    with pytest.raises(InvalidCookieError, match="token"):
        build_set_cookie(name, "v")


@pytest.mark.parametrize(
    "value",
    [
        "with space",
        "semi;colon",
        "comma,",
        'in"side',
        '"unbalanced',
        "back\\slash",
        "caf\xe9",
        "ctl\x01",
        "new\nline",
        "del\x7f",
        b"bytes",
    ],
)
def test_invalid_values_are_refused_not_encoded(value):
    with pytest.raises(InvalidCookieError, match="cookie-octet"):
        build_set_cookie("a", value)


def test_size_limit():
    build_set_cookie("n", "v" * (MAX_COOKIE_SIZE - 1))
    with pytest.raises(InvalidCookieError, match="4096"):
        build_set_cookie("n", "v" * MAX_COOKIE_SIZE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samesite": "None"}, "requires secure"),
        ({"samesite": "none"}, "requires secure"),
        ({"partitioned": True}, "requires secure"),
        ({"samesite": "sometimes"}, "samesite must be"),
        ({"samesite": 1}, "samesite must be"),
        ({"max_age": -1}, ">= 0"),
        ({"max_age": 1.5}, "max_age must be"),
        ({"max_age": True}, "max_age must be"),
        ({"expires": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"expires": "tomorrow"}, "expires must be"),
        ({"expires": True}, "expires must be"),
        ({"expires": 1e20}, "out of range"),
        ({"domain": "exa mple.com"}, "domain"),
        ({"domain": "example.com;"}, "domain"),
        ({"domain": "bücher.example"}, "domain"),
        ({"domain": "-bad.com"}, "domain"),
        ({"domain": ""}, "domain"),
        ({"domain": "a" * 1025}, "domain"),
        ({"path": "relative"}, "path"),
        ({"path": "/a;b"}, "path"),
        ({"path": "/a\nb"}, "path"),
        ({"path": "/caf\xe9"}, "path"),
        ({"path": "/" + "a" * 1024}, "path"),
    ],
)
def test_invalid_attributes(kwargs, message):
    with pytest.raises(InvalidCookieError, match=message):
        build_set_cookie("a", "1", **kwargs)


def test_cookie_prefixes_are_enforced():
    # RFC 6265bis §4.1.3
    assert "Secure" in build_set_cookie("__Secure-id", "1", secure=True, domain="example.com")
    with pytest.raises(InvalidCookieError, match="__Secure-"):
        build_set_cookie("__Secure-id", "1")
    assert (
        build_set_cookie("__Host-id", "1", secure=True)
        == "__Host-id=1; Path=/; Secure; SameSite=Lax"
    )
    for bad in (
        {},
        {"secure": True, "domain": "example.com"},
        {"secure": True, "path": "/app"},
        {"secure": True, "path": None},
    ):
        with pytest.raises(InvalidCookieError, match="__host-"):
            build_set_cookie("__host-id", "1", **bad)


def test_errors_are_value_errors_and_longwire_errors():
    with pytest.raises(ValueError, match="token"):
        build_set_cookie("bad name", "1")
    assert issubclass(InvalidCookieError, LongwireError)


def test_delete_cookie():
    assert build_delete_cookie("sid") == (
        "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"
    )
    assert build_delete_cookie("__Host-sid", secure=True, httponly=True, samesite="Strict") == (
        "__Host-sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; "
        "HttpOnly; SameSite=Strict"
    )
    assert "Domain=example.com; Path=/app" in build_delete_cookie(
        "sid", domain="example.com", path="/app"
    )


def test_standard_library_reads_what_we_write():
    header = build_set_cookie(
        "sid",
        sign("user:42", SECRET),
        max_age=60,
        domain="example.com",
        path="/app",
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    cookie = SimpleCookie()
    cookie.load(header)
    morsel = cookie["sid"]
    assert morsel.value == sign("user:42", SECRET, now=int(morsel.value.split(".")[1]))
    assert (morsel["max-age"], morsel["domain"], morsel["path"]) == ("60", "example.com", "/app")
    assert morsel["secure"]
    assert morsel["httponly"]
    assert morsel["samesite"] == "Strict"


# Signing


def test_sign_and_unsign():
    signed = sign("user:42", SECRET, now=NOW)
    _payload, stamp, signature = signed.split(".")
    assert stamp == str(NOW)
    assert len(signature) == 43
    assert unsign(signed, SECRET) == "user:42"
    assert unsign(signed, [SECRET], max_age=60, now=NOW + 60) == "user:42"


@given(st.text())
def test_any_text_round_trips_as_cookie_octets(value):
    signed = sign(value, SECRET, now=NOW)
    build_set_cookie("s", signed)  # passes cookie-octet validation
    assert unsign(signed, SECRET) == value


def test_key_rotation():
    old = sign("v", OLD_SECRET, now=NOW)
    new = sign("v", [SECRET, OLD_SECRET], now=NOW)
    assert new == sign("v", SECRET, now=NOW)  # the first secret signs
    assert unsign(old, [SECRET, OLD_SECRET]) == "v"  # any secret verifies
    assert unsign(new, [SECRET, OLD_SECRET]) == "v"
    with pytest.raises(BadSignatureError):
        unsign(old, [SECRET])  # the old secret retired


def test_expiry():
    signed = sign("v", SECRET, now=NOW)
    with pytest.raises(SignatureExpiredError) as caught:
        unsign(signed, SECRET, max_age=60, now=NOW + 61)
    assert (caught.value.timestamp, caught.value.age) == (NOW, 61)
    assert isinstance(caught.value, BadSignatureError)
    with pytest.raises(SignatureExpiredError):
        unsign(signed, SECRET, timedelta(minutes=1), now=NOW + 61)
    assert unsign(signed, SECRET, max_age=timedelta(minutes=1), now=NOW + 59) == "v"
    # A timestamp from the future (another server's clock) counts as age 0.
    assert unsign(signed, SECRET, max_age=0, now=NOW - 30) == "v"
    # Without max_age, any age.
    assert unsign(signed, SECRET, now=NOW + 10**9) == "v"


def test_default_clock():
    assert unsign(sign("v", SECRET), SECRET, max_age=60) == "v"


def test_salt_separates_purposes():
    signed = sign("v", SECRET, salt="session", now=NOW)
    assert unsign(signed, SECRET, salt="session") == "v"
    with pytest.raises(BadSignatureError):
        unsign(signed, SECRET, salt="csrf")
    with pytest.raises(BadSignatureError):
        unsign(signed, SECRET)


def _tampered():
    signed = sign("user:42", SECRET, now=NOW)
    payload, stamp, signature = signed.split(".")
    other = sign("user:1", SECRET, now=NOW).split(".")[0]
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        f"{other}.{stamp}.{signature}",  # another value
        f"{payload}.{NOW + 3600}.{signature}",  # a later timestamp
        f"{payload}.{stamp}.{flipped}",  # a changed signature
        sign("user:42", "someone-elses-secret-key", now=NOW),  # another key
        "",
        "user:42",
        f"{payload}.{stamp}",
        f"{payload}.{stamp}.{signature}.extra",
        f"{payload}.{stamp}.{signature[:-1]}",
        f"{payload}.-1.{signature}",
        f"{payload}.١٢٣.{signature}",  # non-ASCII digits
        f"{payload}.{stamp}.{signature[:-1]}é",  # non-ASCII in the signature
        f"{payload}=.{stamp}.{signature}",
        None,
        b"bytes",
    ]


@pytest.mark.parametrize("signed", _tampered())
def test_tampered_or_malformed_values_are_refused(signed):
    with pytest.raises(BadSignatureError) as caught:
        unsign(signed, [SECRET, OLD_SECRET])
    assert not isinstance(caught.value, SignatureExpiredError)


@pytest.mark.parametrize("secrets", [[], (), "short", b"short", [SECRET, "short"]])
def test_weak_or_missing_secrets_are_refused(secrets):
    with pytest.raises(ValueError, match="secret"):
        sign("v", secrets)
    with pytest.raises(ValueError, match="secret"):
        unsign(sign("v", SECRET), secrets)
