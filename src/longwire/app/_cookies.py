"""Cookies (RFC 6265): read the ``Cookie`` header, build ``Set-Cookie`` values, sign values.

Reading is lenient, because browsers are: ``parse_cookie_header`` takes what
a user agent sends (RFC 6265 §5.4) and skips what it cannot make sense of
instead of failing the request. Writing is strict, because what we send must
be understood: ``build_set_cookie`` produces the server grammar of RFC 6265
§4.1.1 and refuses anything else with ``InvalidCookieError``, rather than a
header a browser would silently drop or, worse, misread.

``sign`` and ``unsign`` protect a value from tampering with HMAC-SHA256 and a
timestamp, and rotate keys: pass the secrets newest first; ``sign`` uses the
first, ``unsign`` accepts any. A signed value is made of cookie-octets only, so
any ``str`` can be signed and sent::

    value = sign("user:42", [NEW_SECRET, OLD_SECRET])
    header = build_set_cookie("session", value, httponly=True, secure=True)
    ...
    user = unsign(request_cookie, [NEW_SECRET, OLD_SECRET], max_age=3600)

Errors::

    LongwireError
    ├── InvalidCookieError (also a ValueError)   we tried to build a cookie the RFC forbids
    └── BadSignatureError                         a signed value is forged, altered or malformed
        └── SignatureExpiredError                 ... or genuine but older than max_age

None of them carries an HTTP status: a bad cookie from a client is usually
answered as if the cookie were absent (e.g. "log in again"), not with an error.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Literal

from .._errors import LongwireError
from ._secrets import Secret, secret_keys

__all__ = [
    "MAX_COOKIE_SIZE",
    "BadSignatureError",
    "InvalidCookieError",
    "SignatureExpiredError",
    "build_delete_cookie",
    "build_set_cookie",
    "parse_cookie_header",
    "parse_cookie_pairs",
    "sign",
    "unsign",
]

SameSite = Literal["Strict", "Lax", "None", "strict", "lax", "none"]

# Limits

# 4096 bytes for name and value together: RFC 6265bis §5.6 (step 6) has user
# agents ignore a Set-Cookie whose name and value add up to more, and RFC 6265
# §6.1 only promises 4096 bytes per cookie. Refusing here turns a cookie the
# browser would silently drop into an error the developer sees.
MAX_COOKIE_SIZE = 4096

# 1024 bytes for an attribute value (Path, Domain): RFC 6265bis §5.6 has user
# agents ignore an attribute whose value is longer.
_MAX_ATTRIBUTE_SIZE = 1024


# Errors


class InvalidCookieError(LongwireError, ValueError):
    """The application tried to build a cookie RFC 6265 (or browsers) would reject."""


class BadSignatureError(LongwireError):
    """A signed value was not signed with any of our secrets, was altered, or is malformed."""


class SignatureExpiredError(BadSignatureError):
    """A genuine signed value, older than ``max_age``.

    Attributes:
        timestamp: when it was signed, in seconds since the epoch.
        age: how old it is, in seconds.
    """

    def __init__(self, message: str, *, timestamp: int, age: float) -> None:
        super().__init__(message)
        self.timestamp = timestamp
        self.age = age


# Grammar

# RFC 6265 §4.1.1:  cookie-name = token   (RFC 9110 §5.6.2)
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")

# RFC 6265 §4.1.1:
#   cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )
#   cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
#                  ; US-ASCII characters excluding CTLs, whitespace,
#                  ; DQUOTE, comma, semicolon, and backslash
_COOKIE_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_COOKIE_VALUE = re.compile(f'{_COOKIE_OCTETS}|"{_COOKIE_OCTETS}"')

# RFC 6265 §4.1.1:  path-value = <any CHAR except CTLs or ";">
_PATH_VALUE = re.compile(r"/[\x20-\x3a\x3c-\x7e]*")

# RFC 6265 §4.1.1:  domain-value = <subdomain>  (RFC 1034 §3.5, RFC 1123 §2.1),
# with the leading "." user agents ignore (§4.1.2.3). ASCII only: an IDN must be
# sent as its A-label ("xn--...").
_LABEL = r"[0-9A-Za-z](?:[-0-9A-Za-z]*[0-9A-Za-z])?"
_DOMAIN_VALUE = re.compile(rf"\.?{_LABEL}(?:\.{_LABEL})*")

# CTLs (RFC 5234 B.1): a pair holding one is malformed, wherever it came from.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_SAMESITE: Final = {"strict": "Strict", "lax": "Lax", "none": "None"}


# Reading


def parse_cookie_pairs(header: str | None) -> list[tuple[str, str]]:
    """Every ``(name, value)`` pair of a ``Cookie`` header, in order, repeats included.

    Lenient as browsers require (RFC 6265 §5.4 is what they send, and
    ``document.cookie`` lets pages set nearly anything):

    - pairs are split on ``;`` and stripped of spaces and tabs;
    - a pair without ``=`` (a nameless cookie), with an empty name, or with a
      control character is skipped;
    - a value in double quotes loses them (RFC 6265 §4.1.1 allows the quotes;
      they are not part of the value);
    - values are not percent-decoded (RFC 6265 defines no encoding);
    - non-ASCII bytes are read as UTF-8 when they are valid UTF-8 (browsers
      send ``document.cookie`` text that way), else kept as latin-1.

    Args:
        header: the ``Cookie`` value as ``Headers`` gives it (latin-1 decoded
            bytes), or ``None``. HTTP/2 may split cookies over several fields:
            join those with ``"; "`` first (RFC 9113 §8.2.3).

    Returns:
        The pairs, in the order sent.
    """
    if not header:
        return []
    if not header.isascii():
        # Not UTF-8 (or not latin-1 wire bytes at all): keep the text as it is.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            header = header.encode("latin-1").decode("utf-8")
    check_controls = _CONTROL.search(header) is not None
    pairs: list[tuple[str, str]] = []
    for piece in header.split(";"):
        name, equals, value = piece.partition("=")
        if not equals:
            continue
        name = name.strip(" \t")
        if not name:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if check_controls and (_CONTROL.search(name) or _CONTROL.search(value)):
            continue
        pairs.append((name, value))
    return pairs


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """The cookies of a ``Cookie`` header, as a ``dict``; the first of a repeated name wins.

    RFC 6265 §5.4 (step 2) has user agents list cookies with longer paths
    first, so when two cookies share a name (one set for ``/``, one for
    ``/app``), the first one sent is the one most specific to this request.
    ``parse_cookie_pairs`` gives them all.

    Args:
        header: the ``Cookie`` value, or ``None``.

    Returns:
        Each name mapped to its first value. Malformed pairs are skipped
        (see ``parse_cookie_pairs``).
    """
    cookies: dict[str, str] = {}
    for name, value in parse_cookie_pairs(header):
        cookies.setdefault(name, value)
    return cookies


# Writing

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def _http_date(when: datetime | float) -> str:
    """``when`` as an IMF-fixdate (RFC 9110 §5.6.7): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidCookieError(
                "expires must be a timezone-aware datetime (e.g. tzinfo=timezone.utc)"
            )
        when = when.timestamp()
    try:
        t = time.gmtime(when)
    except (OverflowError, OSError, ValueError):
        raise InvalidCookieError(f"expires out of range: {when!r}") from None
    # Formatted by hand: locale-independent, unlike strftime's %a and %b.
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def _check_name_value(name: str, value: str) -> None:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise InvalidCookieError(f"cookie name must be a token (RFC 6265 §4.1.1), not {name!r}")
    if not isinstance(value, str) or not _COOKIE_VALUE.fullmatch(value):
        raise InvalidCookieError(
            f"cookie value {value[:40]!r} has characters outside cookie-octet (RFC 6265 §4.1.1: "
            "no space, DQUOTE, comma, semicolon, backslash, control or non-ASCII): encode it "
            "first (urllib.parse.quote, base64.urlsafe_b64encode, or sign(), which does)"
        )
    if len(name) + len(value) > MAX_COOKIE_SIZE:
        raise InvalidCookieError(
            f"cookie name and value are {len(name) + len(value)} bytes; browsers ignore "
            f"cookies over {MAX_COOKIE_SIZE}"
        )


def build_set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | timedelta | None = None,
    expires: datetime | float | None = None,
    domain: str | None = None,
    path: str | None = "/",
    secure: bool = False,
    httponly: bool = False,
    samesite: SameSite | None = "Lax",
    partitioned: bool = False,
) -> str:
    """A ``Set-Cookie`` field value (RFC 6265 §4.1).

    ``build_set_cookie("SID", "31d4d96e407aad42", secure=True, httponly=True)``
    gives ``SID=31d4d96e407aad42; Path=/; Secure; HttpOnly; SameSite=Lax``.

    Args:
        name: the cookie name, a token.
        value: the value, cookie-octets only (optionally in double quotes).
            Anything else is refused, not encoded: encode it yourself, or
            ``sign()`` it, which yields cookie-octets.
        max_age: lifetime in seconds (or a ``timedelta``); 0 expires it now.
            Takes precedence over ``expires`` in browsers (RFC 6265 §5.3 step 3).
        expires: when it expires: an aware ``datetime`` or seconds since the
            epoch, written as an IMF-fixdate. Without either, a session cookie.
        domain: the Domain attribute (an A-label for IDNs); ``None`` keeps the
            cookie to this exact host (RFC 6265 §4.1.2.3), which is safest.
        path: the Path attribute, starting with ``/``; ``"/"`` by default so the
            cookie is sent for the whole site, ``None`` for the browser's
            default (the request path's directory, RFC 6265 §5.1.4).
        secure: send only over HTTPS.
        httponly: hide from JavaScript (``document.cookie``).
        samesite: ``"Strict"``, ``"Lax"`` (the default, also browsers' default),
            ``"None"`` (cross-site; needs ``secure``), or ``None`` to omit the
            attribute (RFC 6265bis §4.1.2.7).
        partitioned: CHIPS partitioned storage (needs ``secure``).

    Returns:
        The value of one ``Set-Cookie`` field.

    Raises:
        InvalidCookieError: the name, value or an attribute breaks RFC 6265, or
            a combination browsers refuse (``SameSite=None`` or ``Partitioned``
            without ``Secure``; a ``__Secure-`` or ``__Host-`` name without what
            its prefix requires, RFC 6265bis §4.1.3).
    """
    _check_name_value(name, value)
    parts = [f"{name}={value}"]
    if expires is not None:
        if isinstance(expires, bool) or not isinstance(expires, (datetime, int, float)):
            raise InvalidCookieError(f"expires must be a datetime or a number, not {expires!r}")
        parts.append(f"Expires={_http_date(expires)}")
    if max_age is not None:
        if isinstance(max_age, timedelta):
            seconds = int(max_age.total_seconds())
        elif isinstance(max_age, int) and not isinstance(max_age, bool):
            seconds = max_age
        else:
            raise InvalidCookieError(f"max_age must be an int or a timedelta, not {max_age!r}")
        if seconds < 0:
            raise InvalidCookieError("max_age must be >= 0 (0 deletes the cookie)")
        parts.append(f"Max-Age={seconds}")
    if domain is not None:
        # The length first: it also bounds the regex's work.
        if len(domain) > _MAX_ATTRIBUTE_SIZE or not _DOMAIN_VALUE.fullmatch(domain):
            raise InvalidCookieError(f"invalid cookie domain {domain[:60]!r}")
        # RFC 6265 §4.1.2.3: a leading "." is ignored by user agents; don't send it.
        parts.append(f"Domain={domain.removeprefix('.')}")
    if path is not None:
        if len(path) > _MAX_ATTRIBUTE_SIZE or not _PATH_VALUE.fullmatch(path):
            raise InvalidCookieError(
                f"cookie path must start with '/' and hold no control character or ';', "
                f"not {path[:60]!r}"
            )
        parts.append(f"Path={path}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        canonical = _SAMESITE.get(samesite.lower()) if isinstance(samesite, str) else None
        if canonical is None:
            raise InvalidCookieError(
                f"samesite must be 'Strict', 'Lax' or 'None', not {samesite!r}"
            )
        if canonical == "None" and not secure:
            # RFC 6265bis §5.6.7 (step 8 of storing): browsers drop a SameSite=None
            # cookie without Secure.
            raise InvalidCookieError("SameSite=None requires secure=True")
        parts.append(f"SameSite={canonical}")
    if partitioned:
        if not secure:
            raise InvalidCookieError("Partitioned requires secure=True (CHIPS)")
        parts.append("Partitioned")
    # RFC 6265bis §4.1.3: name prefixes the browser enforces (case-insensitively
    # in current browsers, so we check that way too).
    lowered = name.lower()
    if lowered.startswith("__secure-") and not secure:
        raise InvalidCookieError(f"a {name[:9]} cookie requires secure=True")
    if lowered.startswith("__host-") and (not secure or domain is not None or path != "/"):
        raise InvalidCookieError(
            f"a {name[:7]} cookie requires secure=True, path='/' and no domain"
        )
    return "; ".join(parts)


def build_delete_cookie(
    name: str,
    *,
    domain: str | None = None,
    path: str | None = "/",
    secure: bool = False,
    httponly: bool = False,
    samesite: SameSite | None = None,
    partitioned: bool = False,
) -> str:
    """A ``Set-Cookie`` value that deletes cookie ``name`` in the browser.

    It sets an empty value with ``Max-Age=0`` and an ``Expires`` in the past
    (1 January 1970), which every browser honours (RFC 6265 §5.3 steps 3-4:
    a cookie whose expiry is past is removed). A cookie is only replaced by one
    with the same name, domain and path (RFC 6265 §5.3 step 11), so pass the
    ``domain`` and ``path`` it was set with; a ``__Secure-``/``__Host-`` cookie
    also needs ``secure=True``, and a partitioned one ``partitioned=True``.

    Args:
        name: the cookie name.
        domain: the domain it was set with.
        path: the path it was set with.
        secure: add ``Secure``.
        httponly: add ``HttpOnly``.
        samesite: add ``SameSite``.
        partitioned: add ``Partitioned``.

    Returns:
        The value of one ``Set-Cookie`` field.

    Raises:
        InvalidCookieError: as ``build_set_cookie``.
    """
    return build_set_cookie(
        name,
        "",
        max_age=0,
        expires=0,
        domain=domain,
        path=path,
        secure=secure,
        httponly=httponly,
        samesite=samesite,
        partitioned=partitioned,
    )


# Signing

# payload "." timestamp "." signature; payload and signature are base64url
# without padding (cookie-octets), the timestamp decimal seconds.
_SIGNED = re.compile(r"([-_0-9A-Za-z]*)\.([0-9]{1,20})\.([-_0-9A-Za-z]{43})")
_KEY_LABEL = b"longwire.cookies.sign\x00"


def _keys(secrets: Secret | Sequence[Secret]) -> list[bytes]:
    return secret_keys(secrets, purpose="signing")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, salt: str, message: str) -> str:
    # Derive a key per salt so that a value signed for one purpose (salt) never
    # verifies for another, even under the same secret.
    derived = hmac.new(key, _KEY_LABEL + salt.encode("utf-8"), hashlib.sha256).digest()
    return _b64encode(hmac.new(derived, message.encode("ascii"), hashlib.sha256).digest())


def sign(
    value: str,
    secrets: Secret | Sequence[Secret],
    *,
    salt: str = "",
    now: float | None = None,
) -> str:
    """Sign ``value`` with HMAC-SHA256 and a timestamp, for ``unsign`` to check later.

    The result is ``payload.timestamp.signature``: the value (UTF-8,
    base64url), the signing time (seconds since the epoch) and the HMAC of
    both. It is made of cookie-octets whatever ``value`` holds. The value is
    only protected from changes, not hidden: anyone can base64-decode it.

    Args:
        value: the text to sign.
        secrets: a secret, or a list of them newest first (the first signs).
            At least 16 bytes each (a ``str`` counts as UTF-8).
        salt: a purpose label (e.g. the cookie name): a value signed with one
            salt does not verify with another.
        now: the signing time, for tests (``time.time()`` when ``None``).

    Returns:
        The signed value.

    Raises:
        ValueError: no secret, or one shorter than 16 bytes.
    """
    key = _keys(secrets)[0]
    stamp = int(time.time() if now is None else now)
    message = f"{_b64encode(value.encode('utf-8'))}.{stamp}"
    return f"{message}.{_signature(key, salt, message)}"


def unsign(
    signed: str,
    secrets: Secret | Sequence[Secret],
    max_age: float | timedelta | None = None,
    *,
    salt: str = "",
    now: float | None = None,
) -> str:
    """Check a value ``sign`` produced and return the original text.

    Every secret is tried (``hmac.compare_digest``, constant time), so values
    signed before a key rotation keep working while the old secret is listed.

    Args:
        signed: the signed value (e.g. a cookie's value).
        secrets: a secret, or a list of them newest first.
        max_age: the oldest a value may be, in seconds (or a ``timedelta``);
            ``None`` accepts any age. A timestamp in the future (clock skew
            between servers) counts as age 0.
        salt: the salt it was signed with.
        now: the current time, for tests (``time.time()`` when ``None``).

    Returns:
        The text that was signed.

    Raises:
        BadSignatureError: ``signed`` is malformed, or not signed by any of
            ``secrets`` with ``salt``, or was altered.
        SignatureExpiredError: it is genuine but older than ``max_age``.
        ValueError: no secret, or one shorter than 16 bytes.
    """
    keys = _keys(secrets)
    found = _SIGNED.fullmatch(signed) if isinstance(signed, str) else None
    if found is None:
        raise BadSignatureError("malformed signed value")
    payload, stamp, signature = found.groups()
    message = f"{payload}.{stamp}"
    if not any(hmac.compare_digest(_signature(key, salt, message), signature) for key in keys):
        raise BadSignatureError("signature does not match")
    timestamp = int(stamp)
    if max_age is not None:
        limit = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
        age = max((time.time() if now is None else now) - timestamp, 0.0)
        if age > limit:
            raise SignatureExpiredError(
                f"signed value is {age:.0f} s old, over max_age {limit:g} s",
                timestamp=timestamp,
                age=age,
            )
    try:
        return _b64decode(payload).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):  # pragma: no cover - we signed it
        raise BadSignatureError("malformed signed payload") from None
