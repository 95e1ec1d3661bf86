"""Cross-origin resource sharing: the CORS protocol of the WHATWG Fetch standard, server side.

A ``CORSPolicy`` says which origins may read responses from script, with which
methods and request headers, and which response headers they may see. It
answers two questions, as pure functions of the request's headers:

- a preflight (``is_preflight``: ``OPTIONS`` with ``Origin`` and
  ``Access-Control-Request-Method``): ``preflight`` gives the status and the
  fields of the whole answer, 204 and the ``Access-Control-Allow-*`` fields,
  or 403 without any CORS field when the policy says no;
- any other request: ``annotate`` gives the fields to add to its response
  (``Access-Control-Allow-Origin``, ``-Allow-Credentials``, ``-Expose-Headers``).

::

    policy = CORSPolicy(
        ["https://app.example.com", "https://*.example.com", "http://localhost:*"],
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type", "Authorization"],
        allow_credentials=True,
    )
    if policy.is_preflight(request.method, request.headers):
        status, fields = policy.preflight(request.headers)
        return Response(b"", status, fields)
    response = await handler(request)
    for name, value in policy.annotate(request.headers):
        response.headers.add(name, value)

``origin_allowed`` is the same allow-list for anything else that checks an
``Origin`` (a WebSocket handshake, CSRF defences).

CORS only tells the browser what a page may *read*: a request the policy
refuses has still reached the server (a simple one, without preflight, is
already handled by the time ``annotate`` runs). Do not rely on it to block
state-changing requests; that is what authentication and CSRF defences are for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from ..http1._headers import Headers, HeadersLike

__all__ = [
    "CORSPolicy",
    "Preflight",
    "normalize_origin",
]

# Fetch: "A CORS-safelisted request-header" names. A browser lists Content-Type in
# Access-Control-Request-Headers when its value is not one of the three form
# types (e.g. application/json), so these are allowed without being configured,
# as most servers do; the browser checks their values itself.
_SAFELISTED_REQUEST_HEADERS: Final = frozenset(
    {"accept", "accept-language", "content-language", "content-type"}
)
# Fetch: "A CORS non-wildcard request-header name": `*` in
# Access-Control-Allow-Headers does not cover Authorization.
_NON_WILDCARD_REQUEST_HEADERS: Final = frozenset({"authorization"})
# Fetch: "A CORS-safelisted response-header name": always exposed.
_SAFELISTED_RESPONSE_HEADERS: Final = frozenset(
    {
        "cache-control",
        "content-language",
        "content-length",
        "content-type",
        "expires",
        "last-modified",
        "pragma",
    }
)
# Fetch: "forbidden response-header names": never exposed, whatever we say.
_FORBIDDEN_RESPONSE_HEADERS: Final = frozenset({"set-cookie", "set-cookie2"})
# Fetch: "To normalize a method": these six are uppercased by the browser; any
# other method is compared byte for byte (so "patch" is not "PATCH").
_NORMALIZED_METHODS: Final = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# RFC 9110 §5.6.2:  token = 1*tchar
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")

# RFC 6454 §7.1:  serialized-origin = scheme "://" host [ ":" port ]
#   scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )   (RFC 3986 §3.1)
# Hosts are what browsers serialize: DNS-style labels (letters, digits, "-", and
# "_", which some hosts carry), an IPv4 address, or an IPv6 address in brackets.
# Anything else is not an origin we can match, so it is refused rather than
# compared as opaque text.
_LABEL = r"[0-9a-z_](?:[-0-9a-z_]{0,61}[0-9a-z_])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]{{2,45}}\])"
_ORIGIN = re.compile(rf"([a-z][-+.0-9a-z]*)://({_HOST})(?::([0-9]{{1,5}}))?")
# A pattern: a leading "*." on the host (any subdomains, at least one label)
# and/or ":*" for any port. No other wildcard, and no regular expression: a
# pattern is matched label by label, so "https://*.example.com" cannot match
# "https://evilexample.com" or "https://example.com.evil.net".
_PATTERN = re.compile(rf"([a-z][-+.0-9a-z]*)://(\*\.)?({_HOST})(?::([0-9]{{1,5}}|\*))?")

Origins = Literal["*"] | Iterable[str] | Callable[[str], bool]
"""What ``CORSPolicy`` accepts as ``allow_origins``."""


class Preflight(NamedTuple):
    """The answer to a preflight request: ``status, fields = policy.preflight(headers)``.

    Attributes:
        status: 204 when allowed, 403 when not.
        headers: the response's ``(name, value)`` fields.
    """

    status: int
    headers: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int | None  # the effective port: explicit or the scheme's default


# Browsers send the same few origins over and over, and parsing one costs a few
# microseconds per request; 1,024 distinct ones are remembered (about 200 KB).
_ORIGIN_CACHE_SIZE: Final = 1024


@functools.lru_cache(maxsize=_ORIGIN_CACHE_SIZE)
def _parse_origin(origin: str) -> _Origin | None:
    match = _ORIGIN.fullmatch(origin.lower())
    if match is None:
        return None
    scheme, host, port_text = match.groups()
    port = int(port_text) if port_text is not None else _DEFAULT_PORTS.get(scheme)
    if port is not None and not 0 < port <= 65535:
        return None
    return _Origin(scheme, host, port)


def _serialize(origin: _Origin) -> str:
    if origin.port is None or origin.port == _DEFAULT_PORTS.get(origin.scheme):
        return f"{origin.scheme}://{origin.host}"
    return f"{origin.scheme}://{origin.host}:{origin.port}"


@functools.lru_cache(maxsize=_ORIGIN_CACHE_SIZE)
def normalize_origin(origin: str) -> str | None:
    """An origin in the form browsers send it (RFC 6454 §6.2), or ``None`` if it is not one.

    ``"HTTPS://Example.COM:443"`` becomes ``"https://example.com"``: scheme and
    host lowercased, a default port (80 for http/ws, 443 for https/wss) dropped.

    Args:
        origin: ``scheme://host[:port]``, or ``"null"``.

    Returns:
        The normalized origin; ``"null"`` for ``"null"``; ``None`` for anything
        else (a path, a trailing slash, userinfo, a port out of range, a host
        with characters no browser serializes...).
    """
    if origin == "null":
        return origin
    parsed = _parse_origin(origin)
    return None if parsed is None else _serialize(parsed)


@dataclass(frozen=True, slots=True)
class _Pattern:
    scheme: str
    host: str  # the suffix after "*." when subdomains, else the host
    subdomains: bool
    port: int | Literal["*"] | None

    def matches(self, origin: _Origin) -> bool:
        if origin.scheme != self.scheme:
            return False
        if self.port not in ("*", origin.port):
            return False
        if not self.subdomains:
            return origin.host == self.host
        # At least one whole label in front of ".suffix"; never an IP literal.
        return (
            not origin.host.startswith("[")
            and origin.host.endswith("." + self.host)
            and len(origin.host) > len(self.host) + 1
        )


def _compile_origin(entry: str) -> str | _Pattern:
    """A normalized exact origin, or a pattern; ``ValueError`` for anything else."""
    if not isinstance(entry, str):
        raise TypeError(f"allowed origins must be strings, not {entry!r}")
    if entry == "null":
        return entry
    if "*" not in entry:
        normalized = normalize_origin(entry)
        if normalized is None:
            raise ValueError(
                f"{entry!r} is not an origin: scheme://host[:port] with no path, "
                "not even a trailing '/' (browsers send 'https://example.com')"
            )
        return normalized
    match = _PATTERN.fullmatch(entry.lower())
    if match is None:
        raise ValueError(
            f"{entry!r} is not an origin pattern: '*' may only stand for the leading "
            "subdomains ('https://*.example.com') or the port ('http://localhost:*')"
        )
    scheme, star, host, port_text = match.groups()
    if star and "." not in host and host != "localhost":
        # "*.com" would let anyone who registers a name in the zone in.
        raise ValueError(f"{entry!r} matches whole top-level domains; name a registrable domain")
    if star and (host.startswith("[") or host.rsplit(".", 1)[-1].isdigit()):
        raise ValueError(f"{entry!r}: an IP address has no subdomains")
    port: int | Literal["*"] | None
    if port_text == "*":
        port = "*"
    elif port_text is not None:
        port = int(port_text)
        if not 0 < port <= 65535:
            raise ValueError(f"port out of range in {entry!r}")
    else:
        port = _DEFAULT_PORTS.get(scheme)
    return _Pattern(scheme, host, bool(star), port)


def _names(value: Literal["*"] | Iterable[str], what: str) -> tuple[bool, tuple[str, ...]]:
    """``(wildcard, names)`` from ``"*"`` or a list of tokens (which may include ``"*"``)."""
    items = [value] if isinstance(value, str) else list(value)
    wildcard = False
    names: list[str] = []
    for item in items:
        if item == "*":
            wildcard = True
        elif isinstance(item, str) and _TOKEN.fullmatch(item):
            if item not in names:
                names.append(item)
        else:
            raise ValueError(f"{what} must be tokens or '*', not {item!r}")
    return wildcard, tuple(names)


def _normalize_method(method: str) -> str:
    upper = method.upper()
    return upper if upper in _NORMALIZED_METHODS else method


def _single(headers: Headers, name: str) -> str | None:
    """The value of a field that must appear once, or ``None`` if absent or repeated."""
    values = headers.get_all(name)
    return values[0].strip(" \t") if len(values) == 1 else None


class CORSPolicy:
    """Which cross-origin pages may read responses, and how (WHATWG Fetch, "CORS protocol").

    Args:
        allow_origins: ``"*"`` (any origin but ``null``); a list of origins
            (``"https://example.com"``, compared after ``normalize_origin``),
            patterns (``"https://*.example.com"``: any subdomain, not the
            domain itself; ``"http://localhost:*"``: any port) and ``"null"``
            (sandboxed frames, ``file:`` pages: only when listed); or a
            function ``(normalized origin) -> bool``, also asked about ``"null"``.
        allow_methods: methods allowed (``"*"`` for any). Compared as browsers
            do: the six standard methods case-insensitively, others exactly.
        allow_headers: request header names allowed beyond the CORS-safelisted
            ones (``Accept``, ``Accept-Language``, ``Content-Language``,
            ``Content-Type``, always allowed), case-insensitively. ``"*"``
            allows any but ``Authorization``, which must be named (the Fetch
            rule for ``*``): ``["*", "Authorization"]`` allows all.
        expose_headers: response header names scripts may read beyond the
            safelisted ones; ``"*"`` for all (see ``annotate``).
        allow_credentials: let pages send cookies and HTTP authentication and
            read the answer (``Access-Control-Allow-Credentials: true``). The
            browser then refuses ``*`` in any ``Access-Control-Allow-*`` field,
            so the policy answers with the exact origin, method and headers.
        max_age: seconds a browser may cache a preflight answer, or ``None``
            to omit it. Browsers cap it (Chromium at 7200, Firefox at 86400).
        allow_private_network: answer a Private Network Access preflight
            (``Access-Control-Request-Private-Network: true``, a public page
            calling a server on a private address) with
            ``Access-Control-Allow-Private-Network: true``; refused otherwise.

    Raises:
        ValueError: an origin or pattern is malformed, a name is not a token,
            ``max_age`` is negative, or ``allow_origins="*"`` with
            ``allow_credentials=True``: that lets every website act as the
            user and read the result; list the origins, or pass a function if
            that really is the intent.
        TypeError: an origin is not a string.
    """

    def __init__(
        self,
        allow_origins: Origins,
        *,
        allow_methods: Literal["*"] | Iterable[str] = ("GET", "HEAD", "POST"),
        allow_headers: Literal["*"] | Iterable[str] = (),
        expose_headers: Literal["*"] | Iterable[str] = (),
        allow_credentials: bool = False,
        max_age: int | None = 600,
        allow_private_network: bool = False,
    ) -> None:
        self._any = False
        self._check: Callable[[str], bool] | None = None
        self._exact: frozenset[str] = frozenset()
        self._patterns: tuple[_Pattern, ...] = ()
        if isinstance(allow_origins, str):
            if allow_origins != "*":
                raise ValueError(
                    f"allow_origins={allow_origins!r}: pass '*' or a list of origins "
                    f"([{allow_origins!r}])"
                )
            if allow_credentials:
                raise ValueError(
                    "allow_origins='*' with allow_credentials=True would let every website "
                    "make requests as the user and read the answers; list the origins"
                )
            self._any = True
        elif callable(allow_origins):
            self._check = allow_origins
        else:
            exact: set[str] = set()
            patterns: list[_Pattern] = []
            for entry in allow_origins:
                compiled = _compile_origin(entry)
                if isinstance(compiled, str):
                    exact.add(compiled)
                else:
                    patterns.append(compiled)
            self._exact = frozenset(exact)
            self._patterns = tuple(patterns)
        self._any_method, methods = _names(allow_methods, "allow_methods")
        self._methods = tuple(dict.fromkeys(_normalize_method(m) for m in methods))
        self._any_header, headers = _names(allow_headers, "allow_headers")
        self._headers = frozenset(name.lower() for name in headers)
        self._any_exposed, self._exposed = _names(expose_headers, "expose_headers")
        if max_age is not None and (not isinstance(max_age, int) or max_age < 0):
            raise ValueError(f"max_age must be a non-negative int or None, not {max_age!r}")
        self.allow_credentials = allow_credentials
        self.max_age = max_age
        self.allow_private_network = allow_private_network
        # RFC 9110 §12.5.5: the answer depends on these request fields, so a
        # cache must key on them.
        vary = ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"]
        if allow_private_network:
            vary.append("Access-Control-Request-Private-Network")
        self._preflight_vary = ("Vary", ", ".join(vary))

    # Origins

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether the policy allows ``origin``: the check behind every answer.

        For WebSocket handshakes too: browsers send ``Origin`` there, and CORS
        does not apply, so ``origin_allowed(handshake.origin)`` is the check.

        Args:
            origin: an ``Origin`` field value, or ``None`` when absent.

        Returns:
            ``False`` for ``None`` (no browser page involved: non-browser
            clients send no ``Origin``; whether to accept them is another
            decision), for malformed values, and for ``"null"`` unless listed
            or accepted by the function.
        """
        if origin is None:
            return False
        normalized = normalize_origin(origin.strip(" \t"))
        if normalized is None:
            return False
        if self._check is not None:
            return bool(self._check(normalized))
        if normalized == "null":
            return "null" in self._exact
        if self._any or normalized in self._exact:
            return True
        if not self._patterns:
            return False
        parsed = _parse_origin(normalized)
        return parsed is not None and any(p.matches(parsed) for p in self._patterns)

    def _allow_origin(self, origin: str) -> list[tuple[str, str]]:
        # Fetch, "CORS check": Access-Control-Allow-Origin must be `*` or the
        # request's origin byte for byte, and not `*` when credentials are included.
        if self._any and not self.allow_credentials:
            return [("Access-Control-Allow-Origin", "*")]
        fields = [("Access-Control-Allow-Origin", origin)]
        if self.allow_credentials:
            fields.append(("Access-Control-Allow-Credentials", "true"))
        return fields

    # Preflight

    def is_preflight(self, method: str, headers: HeadersLike) -> bool:
        """Whether a request is a CORS preflight (Fetch, "CORS-preflight request").

        Args:
            method: the request method.
            headers: the request's header fields.

        Returns:
            ``True`` for ``OPTIONS`` with ``Origin`` and
            ``Access-Control-Request-Method``; a plain ``OPTIONS`` is not one.
        """
        if method != "OPTIONS":
            return False
        fields = Headers.coerce(headers)
        return "origin" in fields and "access-control-request-method" in fields

    def preflight(self, headers: HeadersLike) -> Preflight:
        """Answer a preflight request.

        Allowed when the origin is, the requested method is, every requested
        header is, and, if Private Network Access is asked for, the policy
        allows it. ``Vary`` is always set.

        Args:
            headers: the preflight's header fields.

        Returns:
            ``Preflight(204, fields)`` with ``Access-Control-Allow-Origin``,
            ``-Allow-Credentials``, ``-Allow-Methods``, ``-Allow-Headers``,
            ``-Max-Age`` (and ``-Allow-Private-Network``) as they apply; or
            ``Preflight(403, [Vary])``: no CORS field, so the browser fails
            the request.
        """
        fields = Headers.coerce(headers)
        refused = Preflight(403, [self._preflight_vary])
        origin = _single(fields, "origin")
        if origin is None or not self.origin_allowed(origin):
            return refused
        method = _single(fields, "access-control-request-method")
        if method is None or not _TOKEN.fullmatch(method):
            return refused
        method = _normalize_method(method)
        if not self._any_method and method not in self._methods:
            return refused
        requested = self._requested_headers(fields)
        if requested is None or not all(self._header_allowed(name) for name in requested):
            return refused
        private = fields.get("access-control-request-private-network")
        wants_private = private is not None and private.strip(" \t").lower() == "true"
        if wants_private and not self.allow_private_network:
            return refused

        answer = self._allow_origin(origin)
        # Fetch, "CORS-preflight fetch": `*` in -Allow-Methods and -Allow-Headers is
        # a wildcard only without credentials; with them, name what was asked for.
        if self._any_method:
            allowed_methods = method if self.allow_credentials else "*"
        else:
            allowed_methods = ", ".join(self._methods)
        answer.append(("Access-Control-Allow-Methods", allowed_methods))
        if requested:
            if self._any_header and not self.allow_credentials:
                # `*` covers all but Authorization, which must be named.
                named = [n for n in requested if n in _NON_WILDCARD_REQUEST_HEADERS]
                allowed_headers = ", ".join(["*", *named])
            else:
                allowed_headers = ", ".join(requested)
            answer.append(("Access-Control-Allow-Headers", allowed_headers))
        if self.max_age is not None:
            answer.append(("Access-Control-Max-Age", str(self.max_age)))
        if wants_private:
            answer.append(("Access-Control-Allow-Private-Network", "true"))
        answer.append(self._preflight_vary)
        return Preflight(204, answer)

    @staticmethod
    def _requested_headers(fields: Headers) -> list[str] | None:
        """Access-Control-Request-Headers' names, lowercased and unique; ``None`` if malformed."""
        names: list[str] = []
        for name in fields.get_list("access-control-request-headers"):
            if not _TOKEN.fullmatch(name):
                return None
            lowered = name.lower()
            if lowered not in names:
                names.append(lowered)
        return names

    def _header_allowed(self, name: str) -> bool:
        if name in _SAFELISTED_REQUEST_HEADERS or name in self._headers:
            return True
        return self._any_header and name not in _NON_WILDCARD_REQUEST_HEADERS

    # Actual requests

    def annotate(
        self, headers: HeadersLike, response_headers: HeadersLike | None = None
    ) -> list[tuple[str, str]]:
        """The fields to add to the response of an actual (non-preflight) request.

        ``Vary: Origin`` always (the answer depends on it, RFC 9110 §12.5.5);
        add it to any ``Vary`` the response has (a second ``Vary`` field line
        is equivalent, RFC 9110 §5.3). When the origin is allowed, also
        ``Access-Control-Allow-Origin``, ``-Allow-Credentials`` and
        ``-Expose-Headers``.

        Args:
            headers: the request's header fields.
            response_headers: the response's fields, used only to expand
                ``expose_headers="*"`` with credentials (where the browser
                takes ``*`` literally) into the names actually present.

        Returns:
            ``(name, value)`` pairs to add.
        """
        vary = ("Vary", "Origin")
        origin = _single(Headers.coerce(headers), "origin")
        if origin is None or not self.origin_allowed(origin):
            return [vary]
        fields = self._allow_origin(origin)
        exposed = list(self._exposed)
        if self._any_exposed:
            if not self.allow_credentials:
                exposed = ["*", *exposed]
            elif response_headers is not None:
                lowered = {name.lower() for name in exposed}
                for name, _ in Headers.coerce(response_headers):
                    key = name.lower()
                    if key in lowered or key in _SAFELISTED_RESPONSE_HEADERS:
                        continue
                    if key in _FORBIDDEN_RESPONSE_HEADERS or key.startswith("access-control-"):
                        continue
                    lowered.add(key)
                    exposed.append(name)
        if exposed:
            fields.append(("Access-Control-Expose-Headers", ", ".join(exposed)))
        fields.append(vary)
        return fields
