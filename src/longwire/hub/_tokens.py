"""Signed tokens: a backend grants a user access to channels, the hub checks the grant.

A token is ``BASE64URL(JSON claims) "." BASE64URL(HMAC-SHA256(secret, first part))``,
short enough for a query string. The claims are ``sub`` (the user), ``exp``
(expiry, Unix seconds), and optionally ``ch`` (channel patterns the user may
subscribe to) and ``info`` (shown to others in presence). ::

    token = sign_token(SECRET, "ada", channels=["room:*"], expires_in=3600)
    claims = verify_token(SECRET, token)      # raises InvalidToken
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._errors import LongwireError
from ..app._cookies import _b64decode, _b64encode

__all__ = ["InvalidToken", "TokenClaims", "sign_token", "verify_token"]

MAX_TOKEN_LENGTH = 4096
"""Longer tokens are refused unread."""


class InvalidToken(LongwireError):
    """A token that is malformed, forged, or expired."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says."""

    user: str | None
    expires: float
    channels: tuple[str, ...] | None
    """Channel patterns (``fnmatch``) the token allows; None: the hub's rules alone."""
    info: Any = None
    extra: dict[str, Any] | None = None
    """Any other claims, as signed."""


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign_token(
    secret: str | bytes,
    user: str | None,
    *,
    channels: Iterable[str] | None = None,
    info: Any = None,
    expires_in: float = 3600.0,
    **extra: Any,
) -> str:
    """A token for ``user``, valid ``expires_in`` seconds, signed with ``secret``.

    Args:
        secret: the key shared with the hub (``Hub(token_secret=...)``); at
            least 32 random bytes are advised.
        user: the user id the hub's clients see in presence.
        channels: the channel patterns the user may subscribe to (None: no
            restriction beyond the hub's rules).
        info: JSON-serialisable data shown with the user in presence.
        expires_in: lifetime in seconds.
        extra: more JSON-serialisable claims, returned in ``TokenClaims.extra``.
    """
    claims: dict[str, Any] = dict(extra)
    claims["sub"] = user
    claims["exp"] = int(time.time() + expires_in)
    if channels is not None:
        claims["ch"] = list(channels)
    if info is not None:
        claims["info"] = info
    body = _b64encode(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    signature = hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64encode(signature)}"


def verify_token(secret: str | bytes, token: str, *, now: float | None = None) -> TokenClaims:
    """The claims of ``token`` if ``secret`` signed it and it has not expired.

    Raises:
        InvalidToken: malformed, bad signature, or expired.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("token too long")
    body, dot, signature = token.partition(".")
    if not dot or not body:
        raise InvalidToken("malformed token")
    expected = hmac.new(_key(secret), body.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        given = _b64decode(signature)
        claims = json.loads(_b64decode(body))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(expected, given):
        raise InvalidToken("bad token signature")
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
        raise InvalidToken("malformed token claims")
    if claims["exp"] <= (time.time() if now is None else now):
        raise InvalidToken("token expired")
    user = claims.pop("sub", None)
    channels = claims.pop("ch", None)
    if user is not None and not isinstance(user, str):
        raise InvalidToken("malformed token claims")
    if channels is not None and not (
        isinstance(channels, list) and all(isinstance(c, str) for c in channels)
    ):
        raise InvalidToken("malformed token claims")
    expires = float(claims.pop("exp"))
    info = claims.pop("info", None)
    return TokenClaims(
        user=user,
        expires=expires,
        channels=tuple(channels) if channels is not None else None,
        info=info,
        extra=claims or None,
    )
