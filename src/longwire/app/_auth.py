"""HTTP authentication as pure functions and objects: RFC 9110 §11, Basic, Digest.

Nothing here reads a socket or a clock on its own: the caller passes the request's
headers, method and target, and the current time (``now=``, seconds since the
epoch; ``time.time()`` when left out).

- ``Challenge``, ``Credentials``, ``parse_challenges``, ``parse_credentials``,
  ``parse_auth_params``: the generic syntax of ``WWW-Authenticate``,
  ``Authorization`` and ``Authentication-Info`` (RFC 9110 §11.2-§11.6), parsed
  and built.
- ``BasicAuth`` (RFC 7617) with a ``check(username, password) -> bool`` of yours,
  or ``StaticUsers`` (plain or scrypt-hashed passwords, ``hash_password``).
- ``DigestAuth`` (RFC 7616): MD5, SHA-256, SHA-512-256 and their ``-sess``
  variants, ``qop=auth``, ``userhash``, stateless HMAC nonces that expire
  (``stale=true``), a bounded nonce-count tracker against replays
  (``NonceCounter``), ``Authentication-Info`` with ``rspauth`` and ``nextnonce``.
- ``MultiAuth``: several schemes on one resource, one challenge each.

Every scheme answers ``authenticate(headers, method, target, now=...)`` with an
``AuthResult``: the user, or the status (401, or 400 for a Digest ``uri`` that
is not the request's) and the header fields to answer with::

    auth = MultiAuth(
        DigestAuth("api", {"ada": "lovelace"}, secret=SECRET),
        BasicAuth("api", StaticUsers({"ada": hash_password("lovelace")}, hashed=True)),
    )
    result = auth.authenticate(request.headers, request.method, request.target)
    if not result.ok:
        raise result.http_error()          # 401 + one WWW-Authenticate per challenge
    # result.user is authenticated; deciding what they may do (403) is authorization's job.
    # result.headers (Authentication-Info on Digest) go on the response.

Reading is strict: a header that breaks the grammar is "no credentials" (401),
never an exception and never a success. Writing is strict too: building a
challenge with a character a header cannot carry raises ``ValueError``.

Not implemented: ``qop=auth-int`` (no browser, curl or urllib sends it, and it
needs the whole body before authentication), ``Proxy-Authorization``/407, and
Digest's ``domain`` parameter.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
import threading
import time
import unicodedata
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from ..http1._headers import Headers, HeadersLike
from ._errors import HTTPError
from ._secrets import Secret, secret_keys

__all__ = [
    "DIGEST_ALGORITHMS",
    "MAX_CACHED_VERIFICATIONS",
    "MAX_TRACKED_NONCES",
    "NC_WINDOW",
    "NONCE_LIFETIME",
    "AuthFailure",
    "AuthResult",
    "AuthScheme",
    "BasicAuth",
    "Challenge",
    "Credentials",
    "DigestAuth",
    "MultiAuth",
    "NonceCounter",
    "StaticUsers",
    "basic_authorization",
    "basic_challenge",
    "digest_ha1",
    "digest_response",
    "digest_userhash",
    "hash_password",
    "parse_auth_params",
    "parse_basic",
    "parse_challenges",
    "parse_credentials",
    "verify_password",
]

DigestUser = str | Mapping[str, str]
"""What ``DigestAuth`` knows of a user: the password, or ``{algorithm: HA1 hex}``."""

# Limits

# 300 s for a Digest nonce: Apache's default (AuthDigestNonceLifetime). Past it,
# the client gets a 401 with stale=true and retries with a fresh nonce without
# asking the user (RFC 7616 §3.3), so a short lifetime costs one round trip per
# lifetime, and bounds how long a captured nonce is worth anything.
NONCE_LIFETIME: Final = 300.0

# 10,000 nonces whose nonce-counts are remembered: about 3 MB. An entry is only
# made for a nonce used with a correct response, so only authenticated clients
# fill the table (33 new sessions a second for 300 s). When it is full, the
# least recently used entry is dropped and nonces issued up to its time are
# answered stale=true: the bound costs clients a retry, never a replay.
MAX_TRACKED_NONCES: Final = 10_000

# 32 nonce-counts below the highest seen may still arrive, each once: browsers
# share a nonce across parallel connections, so nc=5 can overtake nc=4
# (Apache's strict "next count only" check is off by default for that reason).
# 1 makes counts strictly increasing. The window is a bitmap as in IPsec's
# anti-replay check (RFC 4303 §3.4.3).
NC_WINDOW: Final = 32

# 1,024 successful scrypt verifications remembered by StaticUsers: Basic sends
# the password with every request, and a 0.25 s hash per request would be a
# denial of service on ourselves. Keyed by an HMAC (random per-process key) of
# user, stored hash and password, so a changed password misses the cache.
MAX_CACHED_VERIFICATIONS: Final = 1024


# 60 s of clock difference tolerated (servers sharing a secret, a clock stepped
# back): a nonce stamped further in the future is refused (stale=true).
_CLOCK_SKEW = 60

# scrypt (RFC 7914) for stored passwords: n=2**14, r=8, p=5 uses 16 MiB and about
# 0.25 s on one core of a 2020s server; it is one of the equivalent settings
# OWASP's Password Storage Cheat Sheet lists (with n=2**17/p=1, 2**16/p=2, ...),
# the one with the least memory per concurrent login. 16 random bytes of salt,
# 32 bytes of output, written in the PHC string format.
_SCRYPT_LOG2_N = 14
_SCRYPT_R = 8
_SCRYPT_P = 5
_SCRYPT_SALT_SIZE = 16
_SCRYPT_KEY_SIZE = 32
# Bounds on what a stored hash may ask for (1 GiB at most), so a corrupt or
# hostile entry in a user store cannot make one verification exhaust memory.
_SCRYPT_MAX = {"ln": 20, "r": 32, "p": 16}


# Grammar

# RFC 9110 §5.6.2:  token = 1*tchar
_TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# RFC 9110 §11.2:
#   token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = r"[-._~+/0-9A-Za-z]+=*"
# A token68 is the whole of what follows the scheme: end of value or a comma next.
# Possessive: giving characters back could never end the token68 before a comma.
_TOKEN68_RE = re.compile(r"([-._~+/0-9A-Za-z]++=*+)(?=[ \t]*(?:,|\Z))")
# RFC 9110 §5.6.4:
#   quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
# Possessive: the two alternatives start with different characters, nothing to give back.
_QUOTED = r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*+)"'
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# RFC 9110 §11.2:
#   auth-param = token BWS "=" BWS ( token / quoted-string )
# Possessive tokens (what follows a token is never a tchar): linear on any input.
_PARAM_RE = re.compile(rf"({_TOKEN}+)[ \t]*=[ \t]*(?:({_TOKEN}+)|{_QUOTED})")
_PARAM_START = re.compile(rf"{_TOKEN}+[ \t]*=")
# RFC 9110 §11.3:  challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
_SP = re.compile(r" +")
_OWS = re.compile(r"[ \t]*")
# RFC 9110 §5.6.1.2: a recipient accepts empty list elements: ", ," is one separator.
_SEPARATOR = re.compile(r"[ \t]*,[ \t,]*")
_LEADING_SEPARATORS = re.compile(r"[ \t,]*")
# What may sit in a quoted-string once escaped: HTAB, SP, VCHAR, obs-text.
_QUOTABLE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_NEEDS_ESCAPE = re.compile(r'(["\\])')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN68_FULL = re.compile(_TOKEN68)


def _skip(pattern: re.Pattern[str], value: str, pos: int) -> int:
    """The position after ``pattern`` at ``pos`` (a pattern that may match nothing)."""
    match = pattern.match(value, pos)
    return pos if match is None else match.end()


def _quote(value: str) -> str:
    """``value`` as a quoted-string (RFC 9110 §5.6.4), escaping ``"`` and ``\\``."""
    return '"' + _NEEDS_ESCAPE.sub(r"\\\1", value) + '"'


def _wire(text: str) -> str:
    """Text as header fields hold it: its UTF-8 bytes, decoded as latin-1."""
    return text.encode("utf-8").decode("latin-1")


def _format_params(params: Sequence[tuple[str, str]], bare: frozenset[str]) -> str:
    """``name=value, ...``: quoted-strings, except tokens for the names in ``bare``."""
    return ", ".join(
        f"{name}={value}"
        if name.lower() in bare and _TOKEN_RE.fullmatch(value)
        else f"{name}={_quote(value)}"
        for name, value in params
    )


# Challenges and credentials


@dataclass(frozen=True, slots=True)
class _AuthItem:
    scheme: str
    token68: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    # Parameter names whose values are sent as bare tokens, by scheme (lowercase):
    # the forms RFC 7616's examples use, which old clients expect. Any other value
    # goes in a quoted-string, which recipients accept for every parameter (§11.2).
    _bare: ClassVar[Mapping[str, frozenset[str]]] = {}

    def __post_init__(self) -> None:
        if not isinstance(self.scheme, str) or not _TOKEN_RE.fullmatch(self.scheme):
            raise ValueError(f"auth-scheme must be a token, not {self.scheme!r}")
        if self.token68 is not None:
            if self.params:
                raise ValueError("a challenge or credentials has a token68 or params, not both")
            if not _TOKEN68_FULL.fullmatch(self.token68):
                raise ValueError(f"invalid token68 {self.token68[:40]!r}")
        object.__setattr__(self, "params", tuple(self.params))
        names = set()
        for name, value in self.params:
            if not _TOKEN_RE.fullmatch(name):
                raise ValueError(f"auth-param name must be a token, not {name!r}")
            if not _QUOTABLE.fullmatch(value):
                raise ValueError(
                    f"auth-param {name} holds a control character or a character above "
                    f"\\xff: {value[:40]!r} (encode text as UTF-8 bytes decoded as latin-1)"
                )
            # RFC 9110 §11.2: "Each parameter name MUST only occur once per challenge."
            if name.lower() in names:
                raise ValueError(f"auth-param {name} given twice")
            names.add(name.lower())

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive, RFC 9110 §11.2), or ``None``."""
        lname = name.lower()
        for key, value in self.params:
            if key.lower() == lname:
                return value
        return None

    def __str__(self) -> str:
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        if not self.params:
            return self.scheme
        bare = self._bare.get(self.scheme.lower(), frozenset())
        return f"{self.scheme} {_format_params(self.params, bare)}"


@dataclass(frozen=True, slots=True)
class Challenge(_AuthItem):
    """One challenge of a ``WWW-Authenticate`` field (RFC 9110 §11.3, §11.6.1).

    ``str()`` gives the field value: ``Challenge("Basic", params=(("realm", "x"),))``
    is ``Basic realm="x"``. Values are quoted-strings, except Digest's
    ``algorithm``, ``stale``, ``userhash`` and ``charset``, which go as tokens
    as in RFC 7616's examples.

    Attributes:
        scheme: the auth-scheme, compared case-insensitively.
        token68: the token68 form of the parameters, or ``None``.
        params: ``(name, value)`` pairs; parsed ones have lowercase names and
            unescaped values (latin-1 decoded bytes, as all header values).

    Raises:
        ValueError: the scheme or a name is not a token, a value holds a
            character a quoted-string cannot carry, a name repeats, or both
            ``token68`` and ``params`` are given.
    """

    _bare: ClassVar[Mapping[str, frozenset[str]]] = {
        "digest": frozenset({"algorithm", "stale", "userhash", "charset"})
    }


@dataclass(frozen=True, slots=True)
class Credentials(_AuthItem):
    """The value of an ``Authorization`` field (RFC 9110 §11.4, §11.6.2).

    Same attributes and ``str()`` as ``Challenge``; Digest's ``algorithm``,
    ``qop``, ``nc`` and ``userhash`` go as tokens.

    Raises:
        ValueError: as ``Challenge``.
    """

    _bare: ClassVar[Mapping[str, frozenset[str]]] = {
        "digest": frozenset({"algorithm", "qop", "nc", "userhash"})
    }


_Item = tuple[str, str | None, tuple[tuple[str, str], ...]]


def _parse_params(value: str, pos: int, out: list[tuple[str, str]]) -> int:
    """Parse ``auth-param *( OWS "," OWS auth-param )`` from ``pos`` into ``out``.

    Stops before a separator followed by something that is not an auth-param
    (the next challenge). Returns the position after the last parameter, or -1
    when there is none or a name repeats.
    """
    seen: set[str] = set()
    while True:
        match = _PARAM_RE.match(value, pos)
        if match is None:
            return -1
        name = match[1].lower()
        if name in seen:  # RFC 9110 §11.2: a name occurs once; two would be ambiguous
            return -1
        seen.add(name)
        token, quoted = match[2], match[3]
        out.append((name, token if token is not None else _QUOTED_PAIR.sub(r"\1", quoted)))
        pos = match.end()
        separator = _SEPARATOR.match(value, pos)
        if separator is None or not _PARAM_START.match(value, separator.end()):
            return pos
        pos = separator.end()


def _parse_items(value: str, *, many: bool) -> list[_Item] | None:
    """Parse challenges (``many``: a #challenge list) or one credentials; ``None`` if malformed."""
    if not isinstance(value, str):
        return None
    items: list[_Item] = []
    end = len(value)
    pos = _skip(_LEADING_SEPARATORS if many else _OWS, value, 0)
    while pos < end:
        match = _TOKEN_RE.match(value, pos)
        if match is None:
            return None
        scheme = match[0]
        pos = match.end()
        token68: str | None = None
        params: list[tuple[str, str]] = []
        space = _SP.match(value, pos)
        if space is not None:
            pos = space.end()
            after = _skip(_OWS, value, pos)
            if after < end and value[after] != ",":
                found = _TOKEN68_RE.match(value, pos)
                if found is not None:
                    token68 = found[1]
                    pos = found.end()
                else:
                    pos = _parse_params(value, pos, params)
                    if pos < 0:
                        return None
        items.append((scheme, token68, tuple(params)))
        pos = _skip(_OWS, value, pos)
        if pos == end:
            break
        if value[pos] != ",":
            return None
        pos = _skip(_SEPARATOR, value, pos)
        if not many and pos < end:
            return None  # Authorization holds one credentials (RFC 9110 §11.6.2)
    return items or None


def parse_challenges(value: str) -> list[Challenge] | None:
    """Parse a ``WWW-Authenticate`` (or ``Proxy-Authenticate``) field value.

    ``Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"``
    is two challenges (RFC 9110 §11.6.1): a comma starts a new challenge when
    what follows is not ``name=``. Field lines of the same name form one list:
    join them with ``", "`` first.

    Args:
        value: the field value.

    Returns:
        The challenges in order (at least one), or ``None`` when ``value`` is
        malformed: an unterminated quoted-string, a parameter without ``=`` or
        value, a repeated parameter name, a token68 followed by parameters...
    """
    items = _parse_items(value, many=True)
    if items is None:
        return None
    return [Challenge(scheme, token68, params) for scheme, token68, params in items]


def parse_credentials(value: str | None) -> Credentials | None:
    """Parse an ``Authorization`` (or ``Proxy-Authorization``) field value (RFC 9110 §11.4).

    Args:
        value: the field value, or ``None`` (absent).

    Returns:
        The credentials, or ``None`` when absent or malformed (as for
        ``parse_challenges``; also when the value holds more than one).
    """
    if value is None:
        return None
    items = _parse_items(value, many=False)
    if items is None or len(items) != 1:
        return None
    scheme, token68, params = items[0]
    return Credentials(scheme, token68, params)


def parse_auth_params(value: str) -> dict[str, str] | None:
    """Parse a list of auth-params, such as an ``Authentication-Info`` value (RFC 9110 §11.6.3).

    Args:
        value: the field value, e.g. ``qop=auth, rspauth="...", nc=00000001``.

    Returns:
        ``{lowercase name: unescaped value}``, or ``None`` when malformed
        (including a repeated name). An empty value gives ``{}``.
    """
    pos = _skip(_LEADING_SEPARATORS, value, 0)
    if pos == len(value):
        return {}
    params: list[tuple[str, str]] = []
    pos = _parse_params(value, pos, params)
    if pos < 0 or value[pos:].strip(" \t,"):
        return None
    return dict(params)


# Outcome


class AuthFailure(enum.StrEnum):
    """Why a request was not authenticated (for logs and metrics; clients only see the status)."""

    MISSING = "missing"
    """No ``Authorization`` field."""
    MALFORMED = "malformed"
    """It breaks the grammar, repeats, or lacks a parameter the scheme needs."""
    UNSUPPORTED_SCHEME = "unsupported-scheme"
    """A scheme not offered (``Bearer`` where only ``Basic`` is)."""
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    """A Digest ``algorithm`` or ``qop`` not offered."""
    REALM_MISMATCH = "realm-mismatch"
    """Digest credentials for another realm."""
    URI_MISMATCH = "uri-mismatch"
    """Digest ``uri`` is not the request's target: 400 (RFC 7616 §3.4.6)."""
    BAD_CREDENTIALS = "bad-credentials"
    """Unknown user or wrong password (not told apart, so logs shared with users can't be used
    to enumerate accounts)."""
    STALE_NONCE = "stale-nonce"
    """Correct Digest response, but the nonce expired or is not ours: stale=true."""
    REPLAYED = "replayed"
    """Correct Digest response with a nonce-count already used: stale=true."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The outcome of ``authenticate`` or ``verify``.

    Attributes:
        user: the authenticated user name, or ``None``.
        status: 200 when authenticated; otherwise the status to answer with:
            401 (with ``headers`` holding the ``WWW-Authenticate`` challenges)
            or 400 (a Digest ``uri`` that is not the request's).
        headers: fields for the response: ``WWW-Authenticate`` lines (one per
            challenge, in the order offered) on 401; ``Authentication-Info`` on
            a Digest success; none otherwise.
        scheme: the scheme that decided (``"Basic"``, ``"Digest"``), or ``None``.
        failure: why not, or ``None`` on success.
    """

    user: str | None
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str | None = None
    failure: AuthFailure | None = None

    @property
    def ok(self) -> bool:
        """Whether the request is authenticated."""
        return self.user is not None

    def http_error(self) -> HTTPError:
        """The ``HTTPError`` that answers a failure: the status and the challenges.

        Returns:
            ``HTTPError(status, headers=headers)``, ready to ``raise``.

        Raises:
            ValueError: the request is authenticated (there is nothing to refuse).
        """
        if self.ok:
            raise ValueError("the request is authenticated: there is no error to answer with")
        return HTTPError(self.status, headers=list(self.headers))


class AuthScheme:
    """Base of the schemes (``BasicAuth``, ``DigestAuth``): what ``MultiAuth`` combines.

    A scheme offers challenges and checks credentials of its own scheme;
    ``authenticate`` does the rest (finds and parses ``Authorization``).
    """

    scheme: ClassVar[str] = ""

    def challenges(self, *, now: float | None = None, stale: bool = False) -> list[tuple[str, str]]:
        """The ``WWW-Authenticate`` fields a 401 carries, strongest first.

        Args:
            now: the current time (for nonces), ``time.time()`` when ``None``.
            stale: mark them as answering a stale nonce (Digest only).

        Returns:
            ``("WWW-Authenticate", value)`` pairs.
        """
        raise NotImplementedError

    def verify(
        self, credentials: Credentials, method: str, target: str, *, now: float | None = None
    ) -> AuthResult:
        """Check credentials of this scheme.

        Args:
            credentials: the parsed ``Authorization`` value.
            method: the request method.
            target: the request-target as on the request line (``/path?query``).
            now: the current time, ``time.time()`` when ``None``.

        Returns:
            The ``AuthResult``; a failure carries this scheme's challenges.
        """
        raise NotImplementedError

    def authenticate(
        self, headers: HeadersLike, method: str, target: str, *, now: float | None = None
    ) -> AuthResult:
        """Authenticate a request by its ``Authorization`` field.

        Args:
            headers: the request's header fields.
            method: the request method.
            target: the request-target as on the request line.
            now: the current time, ``time.time()`` when ``None``.

        Returns:
            The ``AuthResult``: the user, or what to answer (401 and challenges).
        """
        return _authenticate((self,), headers, method, target, now)


def _authenticate(
    schemes: Sequence[AuthScheme],
    headers: HeadersLike,
    method: str,
    target: str,
    now: float | None,
) -> AuthResult:
    now = time.time() if now is None else now

    def refuse(
        failure: AuthFailure, by: AuthScheme | None = None, result: AuthResult | None = None
    ) -> AuthResult:
        # Every scheme's challenges, in the order offered; the one that judged the
        # credentials gives its own (which may say stale=true).
        fields: list[tuple[str, str]] = []
        for scheme in schemes:
            if scheme is by and result is not None:
                fields.extend(result.headers)
            else:
                fields.extend(scheme.challenges(now=now))
        return AuthResult(None, 401, tuple(fields), by.scheme if by else None, failure)

    values = Headers.coerce(headers).get_all("authorization")
    if not values:
        return refuse(AuthFailure.MISSING)
    # RFC 9110 §5.3: Authorization is not a list; two field lines are an error.
    credentials = parse_credentials(values[0]) if len(values) == 1 else None
    if credentials is None:
        return refuse(AuthFailure.MALFORMED)
    name = credentials.scheme.lower()  # RFC 9110 §11.1: schemes are case-insensitive
    for scheme in schemes:
        if scheme.scheme.lower() == name:
            result = scheme.verify(credentials, method, target, now=now)
            if result.status == 401:
                return refuse(result.failure or AuthFailure.BAD_CREDENTIALS, scheme, result)
            return result
    return refuse(AuthFailure.UNSUPPORTED_SCHEME)


class MultiAuth:
    """Several schemes for one resource: a 401 offers each, a request may use any.

    ``MultiAuth(DigestAuth(...), BasicAuth(...))``. Give the strongest first:
    clients that read one challenge (``urllib.request`` reads only the first
    field line) take the first they see.

    Args:
        schemes: the schemes, in the order their challenges are sent.

    Raises:
        ValueError: no scheme given.
    """

    def __init__(self, *schemes: AuthScheme) -> None:
        if not schemes:
            raise ValueError("MultiAuth needs at least one scheme")
        self.schemes = schemes

    def challenges(self, *, now: float | None = None) -> list[tuple[str, str]]:
        """Every scheme's ``WWW-Authenticate`` fields, in order.

        Args:
            now: the current time, ``time.time()`` when ``None``.

        Returns:
            ``("WWW-Authenticate", value)`` pairs.
        """
        now = time.time() if now is None else now
        return [field for scheme in self.schemes for field in scheme.challenges(now=now)]

    def authenticate(
        self, headers: HeadersLike, method: str, target: str, *, now: float | None = None
    ) -> AuthResult:
        """Authenticate with whichever scheme the ``Authorization`` field uses.

        Args:
            headers: the request's header fields.
            method: the request method.
            target: the request-target as on the request line.
            now: the current time, ``time.time()`` when ``None``.

        Returns:
            The ``AuthResult`` of the scheme used; a 401 carries every scheme's
            challenges.
        """
        return _authenticate(self.schemes, headers, method, target, now)


# Basic (RFC 7617)


def basic_challenge(realm: str) -> str:
    """A Basic ``WWW-Authenticate`` value: ``Basic realm="...", charset="UTF-8"``.

    RFC 7617 §2.1: ``charset="UTF-8"`` asks the client to encode the user-id
    and password as UTF-8 (the only value allowed).

    Args:
        realm: the protection space's name, shown by browsers; sent as UTF-8.

    Returns:
        The field value.

    Raises:
        ValueError: ``realm`` holds a control character.
    """
    if _CONTROL.search(realm):
        raise ValueError(f"realm holds a control character: {realm!r}")
    return str(Challenge("Basic", params=(("realm", _wire(realm)), ("charset", "UTF-8"))))


def basic_authorization(username: str, password: str) -> str:
    """A Basic ``Authorization`` value, as a client sends it (RFC 7617 §2).

    ``basic_authorization("Aladdin", "open sesame")`` is
    ``Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==``; text is encoded as UTF-8.

    Args:
        username: the user-id; it cannot contain a colon.
        password: the password.

    Returns:
        The field value.

    Raises:
        ValueError: ``username`` contains ``:``.
    """
    if ":" in username:
        raise ValueError("a Basic user-id cannot contain ':' (RFC 7617 §2)")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def parse_basic(credentials: Credentials | str | None) -> tuple[str, str] | None:
    """The ``(user-id, password)`` of Basic credentials (RFC 7617 §2), or ``None``.

    The token68 is base64 (RFC 4648 §4, padding required) of ``user-id ":"
    password`` in UTF-8 (§2.1, the charset we ask for). Both parts are
    normalized to NFC, the normalization of RFC 8265's profiles, so a password
    typed on a keyboard that composes differently still matches.

    Args:
        credentials: parsed credentials or an ``Authorization`` value.

    Returns:
        The pair, or ``None`` for no usable credentials: another scheme, no
        token68, invalid base64, invalid UTF-8, no colon, or a control
        character in either part (forbidden by §2).
    """
    if not isinstance(credentials, Credentials):
        credentials = parse_credentials(credentials)
    if credentials is None or credentials.scheme.lower() != "basic" or credentials.token68 is None:
        return None
    try:
        text = base64.b64decode(credentials.token68, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    username, colon, password = text.partition(":")
    # RFC 7617 §2: "The user-id and password MUST NOT contain any control characters."
    if not colon or _CONTROL.search(text):
        return None
    return unicodedata.normalize("NFC", username), unicodedata.normalize("NFC", password)


class BasicAuth(AuthScheme):
    """Basic authentication (RFC 7617) with a check of yours.

    The password crosses the network with every request, merely base64-encoded:
    serve it over TLS only.

    Args:
        realm: the protection space's name (RFC 9110 §11.5).
        check: ``check(username, password) -> bool``, called with NFC-normalized
            text (see ``parse_basic``); ``StaticUsers`` is one. It runs
            synchronously: a slow one (a password hash) blocks the caller, so
            an asyncio integration runs it in an executor.

    Raises:
        ValueError: ``realm`` holds a control character.
    """

    scheme: ClassVar[str] = "Basic"

    def __init__(self, realm: str, check: Callable[[str, str], bool]) -> None:
        self.realm = realm
        self._challenge = basic_challenge(realm)
        self._check = check

    def challenges(self, *, now: float | None = None, stale: bool = False) -> list[tuple[str, str]]:
        """``[("WWW-Authenticate", 'Basic realm="...", charset="UTF-8"')]``.

        Args:
            now: unused (Basic has no nonce).
            stale: unused (Basic has no nonce).

        Returns:
            One field.
        """
        return [("WWW-Authenticate", self._challenge)]

    def verify(
        self, credentials: Credentials, method: str, target: str, *, now: float | None = None
    ) -> AuthResult:
        """Check Basic credentials with ``check``.

        Args:
            credentials: the parsed ``Authorization`` value.
            method: unused.
            target: unused.
            now: unused.

        Returns:
            The user on success; else 401 with the challenge.
        """
        pair = parse_basic(credentials)
        if pair is None:
            return self._refuse(AuthFailure.MALFORMED)
        username, password = pair
        if not self._check(username, password):
            return self._refuse(AuthFailure.BAD_CREDENTIALS)
        return AuthResult(username, 200, (), "Basic")

    def _refuse(self, failure: AuthFailure) -> AuthResult:
        return AuthResult(None, 401, tuple(self.challenges()), "Basic", failure)


# Password storage

# PHC string format: $scrypt$ln=<log2 n>,r=<r>,p=<p>$<salt>$<hash>, with base64
# without padding (https://github.com/P-H-C/phc-string-format).
_PHC_SCRYPT = re.compile(
    r"\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,2}),p=([0-9]{1,2})"
    r"\$([A-Za-z0-9+/]{11,64})\$([A-Za-z0-9+/]{43})"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    # OpenSSL needs 128 * r * (n + p + 2) bytes; give it that and a MiB more.
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    data = unicodedata.normalize("NFC", password).encode("utf-8")
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=_SCRYPT_KEY_SIZE)


def hash_password(
    password: str,
    *,
    log2_n: int = _SCRYPT_LOG2_N,
    r: int = _SCRYPT_R,
    p: int = _SCRYPT_P,
    salt: bytes | None = None,
) -> str:
    """Hash a password with scrypt (RFC 7914), for storing and ``verify_password``.

    The defaults, n=2**14, r=8, p=5 (16 MiB, about 0.25 s), follow OWASP's
    Password Storage Cheat Sheet. The result is a PHC string that records the
    parameters, so they can be raised later without invalidating stored hashes::

        $scrypt$ln=14,r=8,p=5$<16-byte salt, base64>$<32-byte key, base64>

    Args:
        password: the password; normalized to NFC and encoded as UTF-8.
        log2_n: log2 of scrypt's CPU/memory cost n (1-20).
        r: block size (1-32).
        p: parallelization (1-16).
        salt: the salt; 16 random bytes when ``None`` (pass one only in tests).

    Returns:
        The PHC string.

    Raises:
        ValueError: a parameter is out of range, or ``salt`` is shorter than 8 bytes.
    """
    for name, value in (("ln", log2_n), ("r", r), ("p", p)):
        if not 1 <= value <= _SCRYPT_MAX[name]:
            raise ValueError(f"scrypt {name}={value} is out of range 1-{_SCRYPT_MAX[name]}")
    if salt is None:
        salt = secrets.token_bytes(_SCRYPT_SALT_SIZE)
    elif len(salt) < 8:
        raise ValueError("a scrypt salt must be at least 8 bytes")
    key = _scrypt(password, salt, log2_n, r, p)
    return f"$scrypt$ln={log2_n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def _parse_phc(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    match = _PHC_SCRYPT.fullmatch(encoded) if isinstance(encoded, str) else None
    if match is None:
        raise ValueError("not a $scrypt$ PHC string from hash_password()")
    log2_n, r, p = int(match[1]), int(match[2]), int(match[3])
    for name, value in (("ln", log2_n), ("r", r), ("p", p)):
        if not 1 <= value <= _SCRYPT_MAX[name]:
            raise ValueError(f"stored scrypt {name}={value} is out of range 1-{_SCRYPT_MAX[name]}")
    try:
        return log2_n, r, p, _unb64(match[4]), _unb64(match[5])
    except binascii.Error:
        raise ValueError("invalid base64 in a $scrypt$ PHC string") from None


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` is the one ``encoded`` was made from (constant-time comparison).

    Args:
        password: the password to check.
        encoded: a PHC string from ``hash_password``.

    Returns:
        ``True`` when it matches.

    Raises:
        ValueError: ``encoded`` is not a valid ``$scrypt$`` PHC string (a
            broken user store is the server's fault, not a wrong password).
    """
    log2_n, r, p, salt, key = _parse_phc(encoded)
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), key)


class StaticUsers:
    """A ``check(username, password)`` over a fixed table of users, for ``BasicAuth``.

    Passwords are compared in constant time, and an unknown user costs as much
    as a wrong password, so timing tells nothing about which users exist.

    Args:
        users: ``{username: password}``, or ``{username: hash_password(...)}``
            with ``hashed=True``. Copied: later changes to the mapping are not seen.
        hashed: whether the values are ``hash_password`` PHC strings.
        cache_size: how many successful hashed verifications to remember
            (``MAX_CACHED_VERIFICATIONS``); 0 disables the cache.

    Raises:
        ValueError: with ``hashed=True``, a value is not a valid PHC string.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        hashed: bool = False,
        cache_size: int = MAX_CACHED_VERIFICATIONS,
    ) -> None:
        self._hashed = hashed
        self._users = {
            unicodedata.normalize("NFC", name): (
                value if hashed else unicodedata.normalize("NFC", value)
            )
            for name, value in users.items()
        }
        self._dummy = ""
        self._filler = secrets.token_urlsafe(16)  # an unknown user's "password"
        if hashed:
            for encoded in self._users.values():
                _parse_phc(encoded)
            if self._users:
                # An unknown user is checked against a hash of the same cost.
                log2_n, r, p, _, _ = _parse_phc(next(iter(self._users.values())))
                salt = _b64(secrets.token_bytes(_SCRYPT_SALT_SIZE))
                self._dummy = f"$scrypt$ln={log2_n},r={r},p={p}${salt}${'A' * 43}"
        self._cache_size = max(cache_size, 0)
        self._cache: OrderedDict[bytes, None] = OrderedDict()
        self._cache_key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        """Whether ``password`` is ``username``'s.

        Args:
            username: the user-id.
            password: the password.

        Returns:
            ``True`` when the user exists and the password matches.
        """
        stored = self._users.get(username)
        known = stored is not None
        if not self._hashed:
            # Compare digests: equal lengths, so compare_digest leaks nothing.
            reference = self._filler if stored is None else stored
            expected = hashlib.sha256(reference.encode("utf-8", "surrogatepass")).digest()
            given = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
            return hmac.compare_digest(expected, given) and known
        if stored is None:
            if self._dummy:
                verify_password(password, self._dummy)
            return False
        key = hmac.new(
            self._cache_key, repr((username, stored, password)).encode(), hashlib.sha256
        ).digest()
        # The lock: a check may run in worker threads (it is slow), and an entry
        # another thread drops between the test and move_to_end would raise.
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return True
        if not verify_password(password, stored):
            return False
        if self._cache_size:
            with self._lock:
                self._cache[key] = None
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return True


# Digest (RFC 7616)

# RFC 7616 §3.2 / §6.1: the registered algorithms; "-sess" variants of each.
_HASH_NAMES: Final = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
_AVAILABLE = {name for name, impl in _HASH_NAMES.items() if impl in hashlib.algorithms_available}
DIGEST_ALGORITHMS: Final = tuple(
    name
    for base in ("SHA-512-256", "SHA-256", "MD5")
    if base in _AVAILABLE
    for name in (base, f"{base}-sess")
)
"""The ``algorithm`` values ``DigestAuth`` supports here, strongest first (SHA-512-256
needs an OpenSSL that has it)."""

_LHEX8 = re.compile(r"[0-9A-Fa-f]{8}")
_HEX = re.compile(r"[0-9a-f]+")
_NONCE_FORMAT = re.compile(r"[-_0-9A-Za-z]{48}")
# RFC 8187 §3.2:  ext-value = charset "'" [ language ] "'" value-chars
#   value-chars = *( pct-encoded / attr-char )
_EXT_VALUE = re.compile(
    r"(UTF-8|ISO-8859-1)'[-0-9A-Za-z]*'((?:%[0-9A-Fa-f]{2}|[-!#$&+.^_`|~0-9A-Za-z])*)", re.I
)
_NONCE_LABEL = b"longwire.digest.nonce\x00"
_OPAQUE_LABEL = b"longwire.digest.opaque\x00"


def _split_algorithm(name: str) -> tuple[str, bool] | None:
    """``("SHA-256", True)`` for ``sha-256-sess``; ``None`` when not supported here."""
    upper = name.upper()
    sess = upper.endswith("-SESS")
    base = upper[:-5] if sess else upper
    return (base, sess) if base in _AVAILABLE else None


def _canonical(base: str, sess: bool) -> str:
    return f"{base}-sess" if sess else base


def _h(base: str, data: bytes) -> bytes:
    """H(data) as lowercase hex (RFC 7616 §3.4.1)."""
    return hashlib.new(_HASH_NAMES[base], data, usedforsecurity=False).hexdigest().encode()


def _response_digest(base: str, ha1: bytes, fields: tuple[bytes, ...], a2: bytes) -> bytes:
    """KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2)); ``fields`` is the middle four."""
    # RFC 7616 §3.4.1:
    #   response = KD( H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" unq(qop) ":" H(A2) )
    #   KD(secret, data) = H(concat(secret, ":", data))
    return _h(base, b":".join((ha1, *fields, _h(base, a2))))


def _algorithm_base(algorithm: str) -> tuple[str, bool]:
    parsed = _split_algorithm(algorithm)
    if parsed is None:
        raise ValueError(f"unsupported Digest algorithm {algorithm!r}; use {DIGEST_ALGORITHMS}")
    return parsed


def digest_ha1(username: str, realm: str, password: str, algorithm: str = "SHA-256") -> str:
    """H(username ":" realm ":" password) (RFC 7616 §3.4.2), to store instead of the password.

    A ``-sess`` algorithm has the same stored value as its base (the session
    part is mixed in per request).

    Args:
        username: the user name.
        realm: the realm exactly as ``DigestAuth`` is given it.
        password: the password.
        algorithm: ``"MD5"``, ``"SHA-256"``, ``"SHA-512-256"`` (``-sess`` allowed).

    Returns:
        The lowercase hex digest; all three strings are encoded as UTF-8.

    Raises:
        ValueError: the algorithm is not supported.
    """
    base, _ = _algorithm_base(algorithm)
    return _h(base, f"{username}:{realm}:{password}".encode()).decode()


def digest_userhash(username: str, realm: str, algorithm: str = "SHA-256") -> str:
    """H(username ":" realm) (RFC 7616 §3.4.4): the ``username`` a client sends with userhash.

    Args:
        username: the user name.
        realm: the realm.
        algorithm: the Digest algorithm (``-sess`` allowed).

    Returns:
        The lowercase hex digest.

    Raises:
        ValueError: the algorithm is not supported.
    """
    base, _ = _algorithm_base(algorithm)
    return _h(base, f"{username}:{realm}".encode()).decode()


def digest_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str,
    method: str,
    uri: str,
) -> str:
    """The Digest ``response`` value a client computes (RFC 7616 §3.4.1, qop=auth).

    With ``method=""`` it is instead the ``rspauth`` of ``Authentication-Info``
    (§3.5: A2 is ``":" request-uri``).

    Args:
        algorithm: e.g. ``"SHA-256"`` or ``"MD5-sess"``.
        ha1: ``digest_ha1(...)`` for the base algorithm; a ``-sess`` algorithm
            hashes it with ``nonce`` and ``cnonce`` here (§3.4.2).
        nonce: the server's nonce.
        nc: the nonce-count, 8 hex digits.
        cnonce: the client's nonce.
        qop: ``"auth"``.
        method: the request method.
        uri: the ``uri`` parameter (the request-target).

    Returns:
        The lowercase hex digest.

    Raises:
        ValueError: the algorithm is not supported.
    """
    base, sess = _algorithm_base(algorithm)
    key = ha1.lower().encode()
    if sess:
        key = _h(base, b":".join((key, nonce.encode(), cnonce.encode())))
    a2 = f"{method}:{uri}".encode()
    fields = (nonce.encode(), nc.encode(), cnonce.encode(), qop.encode())
    return _response_digest(base, key, fields, a2).decode()


def _same_target(claimed: str, target: str) -> bool:
    """Whether a Digest ``uri`` names the request-target (RFC 7616 §3.4.6).

    Equal as sent, or equal once an absolute-form is reduced to its path and
    query (a proxy-aware client may send either form).
    """
    if claimed == target:
        return True

    def origin_form(value: str) -> str:
        if "://" not in value:
            return value
        rest = value.split("://", 1)[1]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"

    return origin_form(claimed) == origin_form(target)


class NonceCounter:
    """Remembers which nonce-counts each Digest nonce has been used with (RFC 7616 §3.4).

    Per nonce: the highest count seen and which of the ``window`` counts below
    it were seen too. A count is fresh if it is higher than the highest, or
    within the window and unseen. The table holds at most ``max_nonces``
    entries, least recently used dropped first; expired nonces are dropped
    freely, and dropping a live one raises a mark: from then on, an untracked
    nonce issued no later than the mark is refused (it may have been used
    before), so the bound never lets a replay through.

    Not thread-safe: use one per event loop (or guard it).

    Args:
        max_nonces: the most nonces remembered (``MAX_TRACKED_NONCES``).
        window: how far below the highest a late count may be (``NC_WINDOW``);
            1 means counts must strictly increase.

    Raises:
        ValueError: ``max_nonces`` or ``window`` is below 1.
    """

    def __init__(self, max_nonces: int = MAX_TRACKED_NONCES, window: int = NC_WINDOW) -> None:
        if max_nonces < 1 or window < 1:
            raise ValueError("max_nonces and window must be at least 1")
        self.max_nonces = max_nonces
        self.window = window
        # nonce -> (highest nc, bitmap of the counts seen (bit i: highest - i), issued, expires)
        self._entries: OrderedDict[str, tuple[int, int, int, float]] = OrderedDict()
        self._evicted_through = -1  # issue time of the newest live nonce dropped

    def __len__(self) -> int:
        return len(self._entries)

    def use(self, nonce: str, nc: int, *, issued: int, expires: float, now: float) -> bool:
        """Record that ``nonce`` was used with count ``nc``, if that is fresh.

        Args:
            nonce: the nonce (already verified as ours).
            nc: the nonce-count, from 1.
            issued: when the nonce was issued (seconds since the epoch).
            expires: when it stops being accepted.
            now: the current time.

        Returns:
            ``True`` when fresh (and now recorded); ``False`` for a count already
            used, one too far below the highest, or an untracked nonce that may
            have been forgotten.
        """
        entry = self._entries.get(nonce)
        if entry is None:
            if issued <= self._evicted_through:
                return False
            self._entries[nonce] = (nc, 1, issued, expires)
            self._shrink(now)
            return True
        highest, seen, _, _ = entry
        if nc > highest:
            shift = nc - highest
            seen = ((seen << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            highest = nc
        else:
            offset = highest - nc
            if offset >= self.window or seen >> offset & 1:
                return False
            seen |= 1 << offset
        self._entries[nonce] = (highest, seen, issued, expires)
        self._entries.move_to_end(nonce)
        return True

    def _shrink(self, now: float) -> None:
        entries = self._entries
        # Expired entries at the cold end go first, for free (their nonce is refused anyway).
        while entries:
            oldest = next(iter(entries.values()))
            if oldest[3] > now:
                break
            entries.popitem(last=False)
        while len(entries) > self.max_nonces:
            _, (_, _, issued, expires) = entries.popitem(last=False)
            if expires > now:
                self._evicted_through = max(self._evicted_through, issued)


class DigestAuth(AuthScheme):
    """Digest authentication (RFC 7616), server side.

    Nonces are stateless: ``base64url(issued time (8 bytes) + 12 random bytes +
    HMAC-SHA256(key, realm + time + random)[:16])``, 48 characters, checked by
    MAC and age. They are not bound to the client's address (that breaks
    clients behind rotating proxies and NATs) nor to the resource's ETag (the
    same nonce serves every URL of the realm): the nonce-count tracker is what
    stops replays. ``opaque`` is an HMAC of the realm, the same for every
    challenge.

    Order of checks: syntax, algorithm, realm, ``uri`` (400 if not the
    request's), then the response digest; only a correct response learns about
    the nonce: expired, not ours (another worker's secret, a restart) or a
    reused count all answer 401 with ``stale=true``, as RFC 7616 §3.3 says to
    when "the client knows the correct username/password", so browsers retry
    without asking the user.

    Args:
        realm: the protection space; part of HA1, so changing it invalidates
            stored HA1 values.
        users: ``{username: password or {algorithm: HA1 hex}}``, or a function
            from a username to the same or ``None``. Storing HA1 values
            (``digest_ha1``) keeps plain passwords off the server, but an HA1
            is password-equivalent for this realm: protect it likewise.
        secret: the nonce MAC secret(s), newest first, at least 16 bytes each.
            ``None`` (the default) draws a random one per process, which is
            right for several worker processes: the nonce-count memory is per
            process, so a nonce must only verify where its counts are kept;
            another worker (or the same one after a restart) answers
            stale=true and the client retries without the user. Share a
            secret between processes only with sticky routing: otherwise a
            captured request can be replayed once on each other process
            within the nonce's lifetime.
        algorithms: offered, one challenge each, in this order (strongest
            first; see ``DIGEST_ALGORITHMS``). Clients that read only the first
            challenge (``urllib.request``: MD5 only) need ``"MD5"`` first.
        userhash: offer ``userhash=true`` (§3.4.4): the client then sends
            H(username ":" realm) instead of the name.
        resolve_userhash: ``(algorithm, userhash) -> username | None``. Without
            it, a mapping ``users`` is searched (one hash per user per request).
        nonce_lifetime: seconds a nonce is accepted (``NONCE_LIFETIME``).
        max_tracked_nonces: ``NonceCounter`` size (``MAX_TRACKED_NONCES``).
        nc_window: ``NonceCounter`` window (``NC_WINDOW``).
        next_nonce: send ``nextnonce`` in ``Authentication-Info`` once a nonce
            is past half its lifetime (§3.5; clients may ignore it).

    Raises:
        ValueError: an unknown algorithm, no algorithm, a short secret, a
            realm with control characters, or a limit below 1.
    """

    scheme: ClassVar[str] = "Digest"

    def __init__(
        self,
        realm: str,
        users: Mapping[str, DigestUser] | Callable[[str], DigestUser | None],
        *,
        secret: Secret | Sequence[Secret] | None = None,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        userhash: bool = False,
        resolve_userhash: Callable[[str, str], str | None] | None = None,
        # Limits
        nonce_lifetime: float = NONCE_LIFETIME,
        max_tracked_nonces: int = MAX_TRACKED_NONCES,
        nc_window: int = NC_WINDOW,
        next_nonce: bool = True,
    ) -> None:
        if _CONTROL.search(realm):
            raise ValueError(f"realm holds a control character: {realm!r}")
        if isinstance(algorithms, str):
            algorithms = (algorithms,)
        offered: list[str] = []
        for name in algorithms:
            parsed = _split_algorithm(name)
            if parsed is None:
                raise ValueError(f"unsupported Digest algorithm {name!r}; use {DIGEST_ALGORITHMS}")
            if _canonical(*parsed) not in offered:
                offered.append(_canonical(*parsed))
        if not offered:
            raise ValueError("DigestAuth needs at least one algorithm")
        if nonce_lifetime <= 0:
            raise ValueError("nonce_lifetime must be positive")
        self.realm = realm
        self.algorithms = tuple(offered)
        self._realm_wire = _wire(realm)
        self._realm_bytes = realm.encode("utf-8")
        self._users = users
        self._userhash = userhash
        self._resolve_userhash = resolve_userhash
        self._lifetime = nonce_lifetime
        self._next_nonce = next_nonce
        self._counter = NonceCounter(max_tracked_nonces, nc_window)
        self._nonce_keys: list[bytes] = []
        self._opaques: list[str] = []
        for key in self._secrets(secret):
            self._nonce_keys.append(
                hmac.new(key, _NONCE_LABEL + self._realm_bytes, hashlib.sha256).digest()
            )
            opaque = hmac.new(key, _OPAQUE_LABEL + self._realm_bytes, hashlib.sha256).digest()
            self._opaques.append(base64.urlsafe_b64encode(opaque[:24]).decode("ascii"))

    @staticmethod
    def _secrets(secret: Secret | Sequence[Secret] | None) -> list[bytes]:
        if secret is None:
            return [secrets.token_bytes(32)]
        return secret_keys(secret, purpose="Digest")

    @property
    def counter(self) -> NonceCounter:
        """The nonce-count tracker (to inspect its size)."""
        return self._counter

    # Nonces

    def make_nonce(self, *, now: float | None = None) -> str:
        """A fresh nonce: issued now, MACed with the newest secret.

        Args:
            now: the current time, ``time.time()`` when ``None``.

        Returns:
            48 base64url characters.
        """
        now = time.time() if now is None else now
        body = max(int(now), 0).to_bytes(8, "big") + secrets.token_bytes(12)
        mac = hmac.new(self._nonce_keys[0], body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(body + mac).decode("ascii")

    def _nonce_issued(self, nonce: str) -> int | None:
        """When ``nonce`` was issued, if one of our secrets made it; else ``None``."""
        if not _NONCE_FORMAT.fullmatch(nonce):
            return None
        raw = base64.urlsafe_b64decode(nonce)
        body, mac = raw[:20], raw[20:]
        for key in self._nonce_keys:
            expected = hmac.new(key, body, hashlib.sha256).digest()[:16]
            if hmac.compare_digest(expected, mac):
                return int.from_bytes(body[:8], "big")
        return None

    # Challenges

    def challenges(self, *, now: float | None = None, stale: bool = False) -> list[tuple[str, str]]:
        """One ``WWW-Authenticate`` field per algorithm, in the order configured.

        All share one fresh nonce. For example::

            Digest realm="api", qop="auth", algorithm=SHA-256, nonce="...",
                opaque="...", charset=UTF-8

        Args:
            now: the current time, ``time.time()`` when ``None``.
            stale: add ``stale=true`` (the last nonce was refused, not the password).

        Returns:
            ``("WWW-Authenticate", value)`` pairs.
        """
        nonce = self.make_nonce(now=now)
        fields = []
        for algorithm in self.algorithms:
            params = [
                ("realm", self._realm_wire),
                # RFC 7616 §3.3: qop is a quoted list of the qop-values offered.
                ("qop", "auth"),
                ("algorithm", algorithm),
                ("nonce", nonce),
                ("opaque", self._opaques[0]),
                # RFC 7616 §3.3: the only value; usernames and passwords are UTF-8.
                ("charset", "UTF-8"),
            ]
            if self._userhash:
                params.append(("userhash", "true"))
            if stale:
                params.append(("stale", "true"))
            fields.append(("WWW-Authenticate", str(Challenge("Digest", params=tuple(params)))))
        return fields

    # Verification

    def _lookup(self, username: str) -> DigestUser | None:
        users = self._users
        if isinstance(users, Mapping):
            return users.get(username)
        return users(username)

    def _user_from_hash(self, algorithm: str, userhash: str) -> str | None:
        if self._resolve_userhash is not None:
            return self._resolve_userhash(algorithm, userhash)
        if not isinstance(self._users, Mapping):
            return None
        found = None
        given = userhash.encode("utf-8", "surrogatepass")
        for name in self._users:
            if hmac.compare_digest(digest_userhash(name, self.realm, algorithm).encode(), given):
                found = name
        return found

    def _ha1(self, stored: DigestUser | None, username: str, base: str) -> bytes | None:
        if stored is None:
            return None
        if isinstance(stored, str):
            return _h(base, username.encode() + b":" + self._realm_bytes + b":" + stored.encode())
        for key, value in stored.items():
            if key.upper() == base:
                ha1 = value.lower()
                if len(ha1) == len(_h(base, b"")) and _HEX.fullmatch(ha1):
                    return ha1.encode("ascii")
        return None

    def _username(self, params: Mapping[str, str], base: str) -> str | None:
        """The user named by the credentials (plain, ``username*`` or userhash), or ``None``."""
        userhash = params.get("userhash", "false").lower() == "true"
        extended = params.get("username*")
        if extended is not None:
            # RFC 7616 §3.4: username* (RFC 8187) when the name can't be a
            # quoted-string; never with username, nor with userhash.
            match = _EXT_VALUE.fullmatch(extended)
            if match is None:
                return None
            charset = "utf-8" if match[1].upper() == "UTF-8" else "latin-1"
            try:
                return urllib.parse.unquote(match[2], encoding=charset, errors="strict")
            except UnicodeDecodeError:
                return None
        name = params.get("username")
        if name is None:
            return None
        if userhash:
            return self._user_from_hash(base, name.lower())
        try:  # latin-1 decoded wire bytes, UTF-8 as the challenge's charset asks
            return name.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None

    def _our_opaque(self, opaque: str) -> bool:
        # compare_digest takes str only when ASCII: compare bytes.
        given = opaque.encode("utf-8", "surrogatepass")
        return any(hmac.compare_digest(given, ours.encode()) for ours in self._opaques)

    def _refuse(
        self, failure: AuthFailure, now: float, *, stale: bool = False, status: int = 401
    ) -> AuthResult:
        fields = tuple(self.challenges(now=now, stale=stale)) if status == 401 else ()
        return AuthResult(None, status, fields, "Digest", failure)

    def verify(
        self, credentials: Credentials, method: str, target: str, *, now: float | None = None
    ) -> AuthResult:
        """Check Digest credentials (RFC 7616 §3.4).

        Args:
            credentials: the parsed ``Authorization`` value.
            method: the request method (part of A2).
            target: the request-target as on the request line; the ``uri``
                parameter must name it.
            now: the current time, ``time.time()`` when ``None``.

        Returns:
            The user and an ``Authentication-Info`` field (``rspauth``, and
            ``nextnonce`` when due); or 401 with challenges (``stale=true`` when
            only the nonce was wrong); or 400 for a ``uri`` that is not ``target``.
        """
        now = time.time() if now is None else now
        if credentials.scheme.lower() != "digest" or credentials.token68 is not None:
            return self._refuse(AuthFailure.MALFORMED, now)
        params = {name.lower(): value for name, value in credentials.params}
        required = ("realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        # RFC 7616 §3.4: exactly one of username and username* (RFC 8187), and
        # username* never with userhash.
        named = ("username" in params) + ("username*" in params)
        hashed = params.get("userhash", "false").lower() == "true"
        if (
            any(name not in params for name in required)
            or named != 1
            or (hashed and "username*" in params)
        ):
            # Includes RFC 2069 credentials without qop: RFC 7616 §3.3 makes qop
            # mandatory, and without nc/cnonce there is no replay protection.
            return self._refuse(AuthFailure.MALFORMED, now)
        # RFC 7616 §3.4: "If [algorithm] is not present, it is assumed to be MD5."
        # (curl sends algorithm back only when the challenge had one.)
        parsed = _split_algorithm(params.get("algorithm", "MD5"))
        if parsed is None or _canonical(*parsed) not in self.algorithms:
            return self._refuse(AuthFailure.UNSUPPORTED_ALGORITHM, now)
        base, sess = parsed
        if params["qop"].lower() != "auth":  # auth-int is not offered
            return self._refuse(AuthFailure.UNSUPPORTED_ALGORITHM, now)
        nc_text, cnonce, response = params["nc"], params["cnonce"], params["response"].lower()
        # RFC 7616 §3.4: nc = 8LHEX, counting from 00000001.
        if not _LHEX8.fullmatch(nc_text) or int(nc_text, 16) == 0 or not cnonce:
            return self._refuse(AuthFailure.MALFORMED, now)
        if len(response) != len(_h(base, b"")) or not _HEX.fullmatch(response):
            return self._refuse(AuthFailure.MALFORMED, now)
        if params["realm"] != self._realm_wire:
            return self._refuse(AuthFailure.REALM_MISMATCH, now)
        uri = params["uri"]
        if not _same_target(uri, target):
            # RFC 7616 §3.4.6: "If they do not match, the server SHOULD respond with 400."
            return self._refuse(AuthFailure.URI_MISMATCH, now, status=400)
        username = self._username(params, base)
        ha1 = self._ha1(self._lookup(username), username, base) if username is not None else None
        known = ha1 is not None
        if ha1 is None:  # compute anyway, so an unknown user takes as long as a wrong password
            ha1 = _h(base, secrets.token_bytes(16))
        nonce = params["nonce"].encode("latin-1")
        cnonce_bytes = cnonce.encode("latin-1")
        if sess:
            # RFC 7616 §3.4.2: A1 = H(user:realm:password) ":" nonce ":" cnonce
            ha1 = _h(base, b":".join((ha1, nonce, cnonce_bytes)))
        qop = params["qop"].encode("latin-1")
        nc = nc_text.encode("ascii")
        a2 = method.encode("latin-1") + b":" + uri.encode("latin-1")
        fields = (nonce, nc, cnonce_bytes, qop)
        expected = _response_digest(base, ha1, fields, a2)
        if not hmac.compare_digest(expected, response.encode("ascii")) or not known:
            return self._refuse(AuthFailure.BAD_CREDENTIALS, now)
        assert username is not None
        # The client knows the password. RFC 7616 §3.3: stale=true when "the nonce
        # is invalid but with a valid digest for that nonce".
        issued = self._nonce_issued(params["nonce"])
        opaque = params.get("opaque")
        if (
            issued is None
            or issued > now + _CLOCK_SKEW
            or now - issued > self._lifetime
            or (opaque is not None and not self._our_opaque(opaque))
        ):
            return self._refuse(AuthFailure.STALE_NONCE, now, stale=True)
        count, expires = int(nc_text, 16), issued + self._lifetime
        if not self._counter.use(params["nonce"], count, issued=issued, expires=expires, now=now):
            return self._refuse(AuthFailure.REPLAYED, now, stale=True)
        # RFC 7616 §3.5: rspauth is the response with A2 = ":" request-uri, proving
        # to the client that we know its password too.
        rspauth = _response_digest(base, ha1, fields, b":" + uri.encode("latin-1")).decode()
        info = [("qop", "auth"), ("rspauth", rspauth), ("cnonce", cnonce), ("nc", nc_text)]
        if self._next_nonce and now - issued > self._lifetime / 2:
            info.insert(0, ("nextnonce", self.make_nonce(now=now)))
        value = _format_params(info, frozenset({"qop", "nc"}))
        return AuthResult(username, 200, (("Authentication-Info", value),), "Digest")
