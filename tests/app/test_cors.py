"""CORS (WHATWG Fetch): origins and patterns, preflights, actual responses, a browser model."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longwire.app._cors import CORSPolicy, Preflight, normalize_origin
from longwire.http1 import Headers

APP = "https://app.example.com"
PREFLIGHT_VARY = ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")


def preflight_request(origin=APP, method="PUT", headers=None, **extra):
    fields = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if headers is not None:
        fields.append(("Access-Control-Request-Headers", headers))
    fields.extend((name.replace("_", "-"), value) for name, value in extra.items())
    return fields


# A model of the browser's side (Fetch §4.9 "CORS check", §4.8 "CORS-preflight fetch")


def _list(fields, name):
    return [item.strip() for item in ",".join(fields.get_all(name)).split(",") if item.strip()]


def browser_cors_check(fields, origin, credentials):
    """Fetch's CORS check on a response's fields."""
    values = fields.get_all("Access-Control-Allow-Origin")
    if len(values) != 1:
        return False
    if not credentials and values[0] == "*":
        return True
    if values[0] != origin:
        return False
    if not credentials:
        return True
    return fields.get("Access-Control-Allow-Credentials") == "true"


def browser_preflight_ok(answer, origin, method, request_headers, credentials):
    """Whether a browser would go on with the actual request after this preflight answer."""
    status, fields = answer
    fields = Headers(fields)
    if not 200 <= status <= 299 or not browser_cors_check(fields, origin, credentials):
        return False
    methods = _list(fields, "Access-Control-Allow-Methods")
    names = [name.lower() for name in _list(fields, "Access-Control-Allow-Headers")]
    safelisted = method in ("GET", "HEAD", "POST")
    if method not in methods and not safelisted and (credentials or "*" not in methods):
        return False
    for name in (header.lower() for header in request_headers):
        if name == "authorization" and name not in names:  # CORS non-wildcard request-header
            return False
        if name not in names and (credentials or "*" not in names):
            return False
    return True


# Origins


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("https://example.com", "https://example.com"),
        ("HTTPS://Example.COM", "https://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://example.com:443", "http://example.com:443"),
        ("wss://example.com:443", "wss://example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("http://[2001:DB8::1]", "http://[2001:db8::1]"),
        ("chrome-extension://abcdefghij", "chrome-extension://abcdefghij"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ("https://my_host.example.com", "https://my_host.example.com"),
        ("null", "null"),
        ("https://example.com/", None),
        ("https://example.com/path", None),
        ("https://user@example.com", None),
        ("https://example.com:", None),
        ("https://example.com:0", None),
        ("https://example.com:65536", None),
        ("https://example.com:123456", None),
        ("https://exa mple.com", None),
        ("https://b\u00fccher.example", None),  # browsers send the A-label
        ("https://-example.com", None),
        ("https://example..com", None),
        ("https://example.com.", None),
        ("example.com", None),
        ("//example.com", None),
        ("https://", None),
        ("https://*.example.com", None),
        ("https://example.com, https://evil.com", None),
        ("Null", None),
        ("", None),
    ],
)
def test_normalize_origin(origin, expected):
    assert normalize_origin(origin) == expected


def test_exact_origins():
    policy = CORSPolicy(["https://Example.com:443", "http://localhost:3000"])
    assert policy.origin_allowed("https://example.com")
    assert policy.origin_allowed("https://EXAMPLE.com")  # hosts are case-insensitive
    assert policy.origin_allowed("https://example.com:443")
    assert policy.origin_allowed(" https://example.com ")
    assert policy.origin_allowed("http://localhost:3000")
    assert not policy.origin_allowed("http://example.com")  # scheme
    assert not policy.origin_allowed("https://example.com:8443")  # port
    assert not policy.origin_allowed("http://localhost")
    assert not policy.origin_allowed("https://sub.example.com")
    assert not policy.origin_allowed("https://example.com.evil.net")
    assert not policy.origin_allowed("null")
    assert not policy.origin_allowed(None)
    assert not policy.origin_allowed("https://example.com/")


def test_patterns_match_whole_labels_only():
    policy = CORSPolicy(["https://*.example.com", "http://localhost:*", "https://*.a-b.example"])
    assert policy.origin_allowed("https://app.example.com")
    assert policy.origin_allowed("https://a.b.c.example.com")
    assert policy.origin_allowed("https://APP.Example.com:443")
    assert not policy.origin_allowed("https://example.com")  # the domain itself is not listed
    assert not policy.origin_allowed("https://evilexample.com")
    assert not policy.origin_allowed("https://app.example.com.evil.net")
    assert not policy.origin_allowed("https://app.example.comx")
    assert not policy.origin_allowed("http://app.example.com")
    assert not policy.origin_allowed("https://app.example.com:8443")
    assert not policy.origin_allowed("https://.example.com")
    assert policy.origin_allowed("http://localhost:5173")
    assert policy.origin_allowed("http://localhost")
    assert not policy.origin_allowed("https://localhost:5173")
    assert not policy.origin_allowed("http://localhost.evil.net:5173")
    # Regex characters in a pattern are literal: "." only matches a dot.
    assert policy.origin_allowed("https://x.a-b.example")
    assert not policy.origin_allowed("https://x.aXb.example")
    dotted = CORSPolicy(["https://*.exa.ple.com"])
    assert not dotted.origin_allowed("https://a.exaxple.com")


def test_wildcard_subdomains_on_a_port_and_on_localhost():
    policy = CORSPolicy(["https://*.example.com:8443", "http://*.localhost:*"])
    assert policy.origin_allowed("https://a.example.com:8443")
    assert not policy.origin_allowed("https://a.example.com")
    assert policy.origin_allowed("http://app.localhost:3000")
    assert not policy.origin_allowed("http://localhost:3000")


def test_null_origin_only_when_listed():
    assert not CORSPolicy("*").origin_allowed("null")
    assert not CORSPolicy(["https://example.com"]).origin_allowed("null")
    assert CORSPolicy(["null"]).origin_allowed("null")
    assert not CORSPolicy(["null"]).origin_allowed("https://example.com")


def test_any_origin():
    policy = CORSPolicy("*")
    assert policy.origin_allowed("https://anything.example")
    assert policy.origin_allowed("http://localhost:1")
    assert not policy.origin_allowed("not an origin")
    assert not policy.origin_allowed(None)


def test_origin_function():
    asked = []

    def allow(origin):
        asked.append(origin)
        return origin.endswith(".internal") or origin == "null"

    policy = CORSPolicy(allow, allow_credentials=True)
    assert policy.origin_allowed("HTTPS://App.Internal:443")
    assert policy.origin_allowed("null")
    assert not policy.origin_allowed("https://example.com")
    assert not policy.origin_allowed("https://bad/")  # malformed: never asked
    assert asked == ["https://app.internal", "null", "https://example.com"]


@pytest.mark.parametrize(
    "entry",
    [
        "https://example.com/",
        "https://example.com/path",
        "example.com",
        "*",
        "https://*",
        "https://*.com",
        "https://ex*.com",
        "https://a.*.example.com",
        "https://*example.com",
        "*://example.com",
        "https://*.*.example.com",
        "https://*.1.2.3",
        "https://*.[::1]",
        "https://example.com:99999",
        "https://example.com:*8",
        "",
    ],
)
def test_malformed_allowed_origins_are_refused(entry):
    with pytest.raises(ValueError, match=r"origin|domain|IP|port"):
        CORSPolicy([entry])


def test_policy_argument_checks():
    with pytest.raises(ValueError, match="every website"):
        CORSPolicy("*", allow_credentials=True)
    with pytest.raises(ValueError, match="list of origins"):
        CORSPolicy("https://example.com")
    with pytest.raises(TypeError):
        CORSPolicy([b"https://example.com"])
    with pytest.raises(ValueError, match="allow_methods"):
        CORSPolicy("*", allow_methods=["GET POST"])
    with pytest.raises(ValueError, match="allow_headers"):
        CORSPolicy("*", allow_headers=["X-Ok", "Bad Header"])
    with pytest.raises(ValueError, match="expose_headers"):
        CORSPolicy("*", expose_headers=["a:b"])
    with pytest.raises(ValueError, match="max_age"):
        CORSPolicy("*", max_age=-1)


# Preflight


def test_is_preflight():
    policy = CORSPolicy([APP])
    assert policy.is_preflight("OPTIONS", preflight_request())
    assert not policy.is_preflight("OPTIONS", [("Origin", APP)])  # a plain OPTIONS
    assert not policy.is_preflight("OPTIONS", [("Access-Control-Request-Method", "PUT")])
    assert not policy.is_preflight("GET", preflight_request())
    assert not policy.is_preflight("options", preflight_request())  # methods are case-sensitive
    assert policy.is_preflight("OPTIONS", Headers(preflight_request()))


def test_allowed_preflight():
    policy = CORSPolicy(
        [APP],
        allow_methods=["GET", "put", "DELETE"],
        allow_headers=["X-Requested-With", "X-Api-Key"],
        max_age=300,
    )
    answer = policy.preflight(preflight_request(headers="x-api-key,X-Requested-With"))
    assert isinstance(answer, Preflight)
    assert answer == (
        204,
        [
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Methods", "GET, PUT, DELETE"),
            ("Access-Control-Allow-Headers", "x-api-key, x-requested-with"),
            ("Access-Control-Max-Age", "300"),
            PREFLIGHT_VARY,
        ],
    )


@pytest.mark.parametrize(
    "request_fields",
    [
        preflight_request(origin="https://evil.example"),
        preflight_request(origin="null"),
        preflight_request(origin="https://app.example.com/"),
        preflight_request(method="PATCH"),
        preflight_request(method="PUT POST"),
        preflight_request(method=""),
        preflight_request(headers="x-unknown"),
        preflight_request(headers="x-api-key, x-unknown"),
        preflight_request(headers="authorization"),
        preflight_request(headers="bad header"),
        preflight_request(headers="x-api-key;"),
        [*preflight_request(), ("Origin", "https://other.example")],  # two origins
        [("Access-Control-Request-Method", "PUT")],
        [("Origin", APP)],
        preflight_request(Access_Control_Request_Private_Network="true"),
    ],
)
def test_refused_preflights_carry_no_cors_fields(request_fields):
    policy = CORSPolicy([APP], allow_methods=["GET", "PUT"], allow_headers=["X-Api-Key"])
    assert policy.preflight(request_fields) == (403, [PREFLIGHT_VARY])


def test_safelisted_request_headers_need_no_configuration():
    # Content-Type: application/json makes the browser list content-type.
    policy = CORSPolicy([APP], allow_methods=["POST"])
    status, fields = policy.preflight(
        preflight_request(method="POST", headers="content-type, accept, accept-language")
    )
    assert status == 204
    assert ("Access-Control-Allow-Headers", "content-type, accept, accept-language") in fields


def test_methods_compare_as_browsers_normalize_them():
    policy = CORSPolicy([APP], allow_methods=["delete", "PATCH"])
    assert policy.preflight(preflight_request(method="DELETE")).status == 204
    assert policy.preflight(preflight_request(method="delete")).status == 204
    assert policy.preflight(preflight_request(method="PATCH")).status == 204
    # fetch(url, {method: "patch"}) sends "patch", and "PATCH" would not match it.
    assert policy.preflight(preflight_request(method="patch")).status == 403


def test_wildcards_without_credentials():
    policy = CORSPolicy("*", allow_methods="*", allow_headers="*", max_age=None)
    status, fields = policy.preflight(preflight_request(method="PURGE", headers="x-a, x-b"))
    assert (status, fields) == (
        204,
        [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "*"),
            ("Access-Control-Allow-Headers", "*"),
            PREFLIGHT_VARY,
        ],
    )
    # Fetch: `*` does not cover Authorization; it must be listed.
    assert policy.preflight(preflight_request(headers="authorization")).status == 403
    listed = CORSPolicy("*", allow_headers=["*", "Authorization"])
    status, fields = listed.preflight(preflight_request(method="GET", headers="x-a, authorization"))
    assert ("Access-Control-Allow-Headers", "*, authorization") in fields


def test_wildcards_with_credentials_name_what_was_asked():
    policy = CORSPolicy(
        [APP], allow_methods="*", allow_headers=["*", "Authorization"], allow_credentials=True
    )
    status, fields = policy.preflight(
        preflight_request(method="PURGE", headers="x-a, Authorization")
    )
    assert (status, fields) == (
        204,
        [
            ("Access-Control-Allow-Origin", APP),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "PURGE"),
            ("Access-Control-Allow-Headers", "x-a, authorization"),
            ("Access-Control-Max-Age", "600"),
            PREFLIGHT_VARY,
        ],
    )
    assert all(value != "*" for _, value in fields)


def test_no_requested_headers_no_allow_headers_field():
    status, fields = CORSPolicy([APP], allow_methods=["PUT"]).preflight(preflight_request())
    assert status == 204
    assert "Access-Control-Allow-Headers" not in Headers(fields)


def test_private_network_access():
    policy = CORSPolicy([APP], allow_methods=["GET"], allow_private_network=True)
    status, fields = policy.preflight(
        preflight_request(method="GET", Access_Control_Request_Private_Network="true")
    )
    assert status == 204
    assert ("Access-Control-Allow-Private-Network", "true") in fields
    assert (
        "Vary",
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
        "Access-Control-Request-Private-Network",
    ) in fields
    plain = policy.preflight(preflight_request(method="GET"))
    assert "Access-Control-Allow-Private-Network" not in Headers(plain.headers)


# Actual responses


def test_annotate_allowed_origin():
    policy = CORSPolicy([APP], expose_headers=["X-Total", "ETag"])
    assert policy.annotate([("Origin", APP)]) == [
        ("Access-Control-Allow-Origin", APP),
        ("Access-Control-Expose-Headers", "X-Total, ETag"),
        ("Vary", "Origin"),
    ]


def test_annotate_with_credentials():
    policy = CORSPolicy([APP], allow_credentials=True)
    assert policy.annotate([("Origin", APP)]) == [
        ("Access-Control-Allow-Origin", APP),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", "Origin"),
    ]


def test_annotate_any_origin():
    policy = CORSPolicy("*")
    assert policy.annotate([("Origin", "https://x.example")]) == [
        ("Access-Control-Allow-Origin", "*"),
        ("Vary", "Origin"),
    ]


@pytest.mark.parametrize(
    "request_fields",
    [
        [],
        [("Origin", "https://evil.example")],
        [("Origin", "null")],
        [("Origin", APP), ("Origin", APP)],
        [("Origin", "garbage")],
    ],
)
def test_annotate_refused_or_absent_origin(request_fields):
    assert CORSPolicy([APP]).annotate(request_fields) == [("Vary", "Origin")]


def test_expose_wildcard():
    response = [
        ("Content-Type", "text/plain"),
        ("X-Total", "3"),
        ("Set-Cookie", "a=b"),
        ("x-total", "4"),
        ("Access-Control-Allow-Origin", APP),
        ("ETag", '"x"'),
    ]
    open_policy = CORSPolicy([APP], expose_headers="*")
    assert ("Access-Control-Expose-Headers", "*") in open_policy.annotate([("Origin", APP)])
    # With credentials the browser reads `*` as a name: list what the response has.
    policy = CORSPolicy([APP], expose_headers=["*", "X-Extra"], allow_credentials=True)
    fields = Headers(policy.annotate([("Origin", APP)], response))
    assert fields["Access-Control-Expose-Headers"] == "X-Extra, X-Total, ETag"
    fields = Headers(policy.annotate([("Origin", APP)]))
    assert fields["Access-Control-Expose-Headers"] == "X-Extra"


# The browser model over combinations


POLICIES = [
    CORSPolicy([APP]),
    CORSPolicy([APP], allow_methods=["GET", "PUT"], allow_headers=["X-A"]),
    CORSPolicy([APP], allow_methods="*", allow_headers="*"),
    CORSPolicy([APP], allow_methods="*", allow_headers=["*", "Authorization"]),
    CORSPolicy("*", allow_methods="*", allow_headers="*"),
    CORSPolicy([APP], allow_methods=["PUT"], allow_headers=["X-A"], allow_credentials=True),
    CORSPolicy(
        ["https://*.example.com"], allow_methods="*", allow_headers="*", allow_credentials=True
    ),
    CORSPolicy(
        [APP], allow_methods="*", allow_headers=["*", "authorization"], allow_credentials=True
    ),
]
ORIGINS = [APP, "https://other.example", "null"]
METHODS = ["GET", "PUT", "PURGE"]
HEADER_SETS = [[], ["x-a"], ["x-b"], ["authorization"], ["content-type", "x-a"]]


@pytest.mark.parametrize("policy", POLICIES)
def test_browser_accepts_exactly_what_the_policy_allows(policy):
    for origin, method, names, credentials in itertools.product(
        ORIGINS, METHODS, HEADER_SETS, [False, True]
    ):
        request = preflight_request(origin, method, ", ".join(names) if names else None)
        answer = policy.preflight(request)
        browser = browser_preflight_ok(answer, origin, method, names, credentials)
        if answer.status == 403:
            assert not browser, (origin, method, names, credentials)
            assert answer.headers == [PREFLIGHT_VARY]
            continue
        # Allowed by the policy: the browser goes on, credentialed only if allowed.
        assert browser == (not credentials or policy.allow_credentials), (
            origin,
            method,
            names,
            credentials,
        )
        # And the actual response passes the browser's CORS check the same way.
        actual = Headers(policy.annotate([("Origin", origin)]))
        assert browser_cors_check(actual, origin, credentials) == browser
        if policy.allow_credentials:
            assert "*" not in {value for _, value in answer.headers}


@given(st.text(max_size=80), st.text(max_size=40), st.text(max_size=80))
def test_arbitrary_preflights_never_raise(origin, method, names):
    policy = CORSPolicy(["https://*.example.com", APP], allow_headers=["X-A"])
    fields = [("Origin", origin), ("Access-Control-Request-Method", method)]
    fields.append(("Access-Control-Request-Headers", names))
    status, _out = policy.preflight(fields)
    assert status in (204, 403)
    policy.annotate(fields)
    if status == 204:
        assert policy.origin_allowed(origin)


def test_websocket_origin_checks_share_the_list():
    # The same allow-list serves a WebSocket handshake's Origin check.
    policy = CORSPolicy(["https://*.example.com"])
    for origin, expected in [
        ("https://chat.example.com", True),
        ("https://evil.example", False),
        (None, False),
    ]:
        assert policy.origin_allowed(origin) is expected
