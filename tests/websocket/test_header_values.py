"""The grammar of Sec-WebSocket-Protocol and Sec-WebSocket-Extensions (RFC 6455 §9.1)."""

import pytest

from longwire.websocket._header_values import (
    format_extension,
    parse_extensions,
    parse_token_list,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["chat"], ["chat"]),
        (["chat, superchat"], ["chat", "superchat"]),
        (["chat,superchat", "jsonrpc"], ["chat", "superchat", "jsonrpc"]),
        ([" , chat ,, "], ["chat"]),
        ([], []),
    ],
)
def test_token_lists(values, expected):
    assert parse_token_list(values) == expected


@pytest.mark.parametrize("value", ["chat v2", "chat/2", 'chat"', "sub;protocol"])
def test_token_lists_reject_non_tokens(value):
    with pytest.raises(ValueError, match="not a token"):
        parse_token_list([value])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["permessage-deflate"], [("permessage-deflate", [])]),
        (
            ["permessage-deflate; client_max_window_bits"],
            [("permessage-deflate", [("client_max_window_bits", None)])],
        ),
        (
            # RFC 7692 §5.1's example of two offers, the first preferred.
            [
                "permessage-deflate; client_max_window_bits=10, "
                "permessage-deflate; client_max_window_bits"
            ],
            [
                ("permessage-deflate", [("client_max_window_bits", "10")]),
                ("permessage-deflate", [("client_max_window_bits", None)]),
            ],
        ),
        (
            ["Permessage-Deflate ;Server_No_Context_Takeover ; server_max_window_bits = 12"],
            [
                (
                    "permessage-deflate",
                    [("server_no_context_takeover", None), ("server_max_window_bits", "12")],
                )
            ],
        ),
        (['foo; bar="baz"', "x-two"], [("foo", [("bar", "baz")]), ("x-two", [])]),
        (['foo; bar="b\\az"'], [("foo", [("bar", "baz")])]),  # quoted-pair unescaped
        ([", ,foo,"], [("foo", [])]),
    ],
)
def test_extension_lists(values, expected):
    assert parse_extensions(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        "; foo",
        "foo;",
        "foo; =1",
        "foo; bar=",
        'foo; bar="b a z"',  # unquoted it is not a token
        'foo; bar="unterminated',
        "foo bar",
        "foo; bar=1 baz",
    ],
)
def test_malformed_extension_lists_are_rejected(value):
    with pytest.raises(ValueError, match=r"\S"):
        parse_extensions([value])


def test_format_extension_round_trips():
    params = [("server_no_context_takeover", None), ("client_max_window_bits", "10")]
    header = format_extension("permessage-deflate", params)
    assert header == "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    assert parse_extensions([header]) == [("permessage-deflate", params)]
