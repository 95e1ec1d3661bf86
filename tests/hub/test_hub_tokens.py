"""Signed tokens and channel rules, sans I/O."""

from __future__ import annotations

import base64
import json

import pytest

from longwire.hub import ChannelOptions, InvalidToken, sign_token, verify_token
from longwire.hub._options import ChannelRules

SECRET = b"k" * 32


def test_a_token_round_trips_its_claims():
    token = sign_token(SECRET, "ada", channels=["room:*"], info={"name": "Ada"}, role="admin")
    claims = verify_token(SECRET, token)
    assert claims.user == "ada"
    assert claims.channels == ("room:*",)
    assert claims.info == {"name": "Ada"}
    assert claims.extra == {"role": "admin"}
    assert "=" not in token
    assert "+" not in token
    assert "/" not in token


def test_forged_tampered_expired_and_malformed_tokens_are_refused():
    token = sign_token(SECRET, "ada")
    body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "root"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    cases = {
        "other secret": sign_token(b"x" * 32, "ada"),
        "tampered": f"{forged_body}.{signature}",
        "expired": sign_token(SECRET, "ada", expires_in=-1),
        "no dot": "abc",
        "bad base64": "!!!.???",
        "too long": "a" * 5000,
        "empty": "",
    }
    for name, bad in cases.items():
        with pytest.raises(InvalidToken):
            verify_token(SECRET, bad)
        assert name


def test_claims_of_the_wrong_type_are_refused():
    for claims in ({"sub": 1, "exp": 2**40}, {"exp": "never"}, {"exp": 2**40, "ch": "room:*"}):
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        import hashlib
        import hmac

        sig = hmac.new(SECRET, body.encode(), hashlib.sha256).digest()
        token = body + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
        with pytest.raises(InvalidToken):
            verify_token(SECRET, token)


def test_rules_prefer_exact_names_then_longer_patterns():
    rules = ChannelRules()
    short, long, exact = (
        ChannelOptions(),
        ChannelOptions(history_size=5),
        ChannelOptions(publish=True),
    )
    rules.add("room:*", short)
    rules.add("room:vip:*", long)
    rules.add("room:vip:lounge", exact)
    assert rules.get("room:1") is short
    assert rules.get("room:vip:2") is long
    assert rules.get("room:vip:lounge") is exact
    assert rules.get("other") is None
    with pytest.raises(ValueError, match="personal"):
        rules.add("#x", short)
    with pytest.raises(ValueError, match="history_size"):
        ChannelOptions(history_size=-1)
