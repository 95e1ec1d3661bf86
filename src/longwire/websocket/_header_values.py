"""Grammar of the WebSocket handshake header values (RFC 6455 §4.3, §9.1).

::

    Sec-WebSocket-Protocol-Client = 1#token
    Sec-WebSocket-Extensions = extension-list
    extension-list = 1#extension
    extension = extension-token *( ";" extension-param )
    extension-param = token [ "=" (token / quoted-string) ]
        ; When using the quoted-string syntax variant, the value
        ; after quoted-string unescaping MUST conform to the 'token' ABNF.

Lists may be split over several header lines and hold empty elements
(RFC 9110 §5.6.1), which are skipped.
"""

from __future__ import annotations

import re

__all__ = [
    "ExtensionOffer",
    "format_extension",
    "parse_extensions",
    "parse_token_list",
]

ExtensionParams = list[tuple[str, str | None]]
ExtensionOffer = tuple[str, ExtensionParams]
"""An extension name (lowercased) and its parameters: name lowercased, value unquoted or None."""

# token = 1*tchar  (RFC 9110 §5.6.2)
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE  (RFC 9110 §5.6.4)
_QUOTED = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_OWS = r"[ \t]*"
_PARAM_RE = re.compile(rf"{_OWS};{_OWS}({_TOKEN})(?:{_OWS}={_OWS}({_TOKEN}|{_QUOTED}))?")
_NAME_RE = re.compile(rf"{_OWS}({_TOKEN})")
_SEPARATOR_RE = re.compile(rf"{_OWS}(?:,|$)")
_QUOTED_PAIR_RE = re.compile(r"\\(.)")


def parse_token_list(values: list[str]) -> list[str]:
    """Split ``1#token`` header values into tokens, in order.

    Raises:
        ValueError: an element is not a token.
    """
    tokens = []
    for value in values:
        for element in value.split(","):
            token = element.strip(" \t")
            if not token:
                continue
            if not _TOKEN_RE.fullmatch(token):
                raise ValueError(f"{token!r} is not a token")
            tokens.append(token)
    return tokens


def parse_extensions(values: list[str]) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` header values into ``(name, params)`` offers.

    Names are lowercased (extension and parameter names are case-insensitive
    tokens); quoted values are unescaped and must then be tokens.

    Raises:
        ValueError: the value does not follow the grammar.
    """
    offers: list[ExtensionOffer] = []
    for value in values:
        pos, end = 0, len(value)
        while pos < end:
            separator = _SEPARATOR_RE.match(value, pos)
            if separator and separator.end() > pos:  # an empty list element
                pos = separator.end()
                continue
            name_match = _NAME_RE.match(value, pos)
            if name_match is None:
                raise ValueError(f"expected an extension name at {value[pos:]!r}")
            pos = name_match.end()
            params: ExtensionParams = []
            while (param := _PARAM_RE.match(value, pos)) is not None:
                pos = param.end()
                params.append((param.group(1).lower(), _unquote(param.group(2))))
            separator = _SEPARATOR_RE.match(value, pos)
            if separator is None:
                raise ValueError(f"unexpected {value[pos:]!r} in extension list")
            pos = separator.end()
            offers.append((name_match.group(1).lower(), params))
    return offers


def _unquote(value: str | None) -> str | None:
    if value is None or not value.startswith('"'):
        return value
    unquoted = _QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
    if not _TOKEN_RE.fullmatch(unquoted):
        raise ValueError(f"quoted extension parameter value {value} is not a token")
    return unquoted


def format_extension(name: str, params: ExtensionParams) -> str:
    """Serialize one extension with its parameters: ``name; a; b=1``."""
    parts = [name]
    for param, value in params:
        parts.append(param if value is None else f"{param}={value}")
    return "; ".join(parts)
