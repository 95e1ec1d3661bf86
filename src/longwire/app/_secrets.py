"""Server secrets (HMAC keys for signed cookies and Digest nonces): one check for both."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIN_SECRET_SIZE", "Secret", "secret_keys"]

Secret = str | bytes

# 16 bytes at least: an HMAC key an attacker can guess lets them forge values
# offline, without a single request; 16 random bytes (128 bits) cannot be
# guessed. Use secrets.token_bytes(32) or secrets.token_urlsafe(32).
MIN_SECRET_SIZE = 16


def secret_keys(secrets: Secret | Sequence[Secret], *, purpose: str) -> list[bytes]:
    """``secrets`` (one, or a list with the newest first) as HMAC keys.

    Raises:
        ValueError: the list is empty, or a secret is shorter than
            ``MIN_SECRET_SIZE`` bytes (the message names ``purpose``).
    """
    items: Sequence[Secret] = [secrets] if isinstance(secrets, (str, bytes)) else secrets
    if not items:
        raise ValueError(f"no secret given ({purpose}): pass a secret or a list, newest first")
    keys = []
    for secret in items:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_SIZE:
            raise ValueError(
                f"a {purpose} secret must be at least {MIN_SECRET_SIZE} bytes "
                "(use secrets.token_bytes(32))"
            )
        keys.append(key)
    return keys
