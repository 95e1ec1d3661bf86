"""permessage-deflate negotiation (RFC 7692 §5, §7.1): offers, responses, settings."""

import dataclasses

import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode

from longwire import HandshakeError, LocalProtocolError, Role
from longwire.websocket._deflate import DeflateParameters, PerMessageDeflate

SNCT = ("server_no_context_takeover", None)
CNCT = ("client_no_context_takeover", None)


def smwb(value: str | None) -> tuple[str, str | None]:
    return ("server_max_window_bits", value)


def cmwb(value: str | None) -> tuple[str, str | None]:
    return ("client_max_window_bits", value)


# Settings.


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"server_max_window_bits": 7}, "server_max_window_bits must be between 8 and 15"),
        ({"server_max_window_bits": 16}, "server_max_window_bits must be between 8 and 15"),
        ({"client_max_window_bits": 7}, "client_max_window_bits must be between 8 and 15"),
        ({"client_max_window_bits": 16}, "client_max_window_bits must be between 8 and 15"),
        ({"compress_level": -1}, "compress_level"),
        ({"compress_level": 10}, "compress_level"),
        ({"mem_level": 0}, "mem_level"),
        ({"mem_level": 10}, "mem_level"),
        ({"min_size": -1}, "min_size"),
    ],
)
def test_settings_out_of_range_are_refused(settings, message):
    with pytest.raises(LocalProtocolError, match=message):
        PerMessageDeflate(**settings)


def test_settings_are_frozen_and_keyword_only():
    deflate = PerMessageDeflate(server_max_window_bits=8, client_max_window_bits=15)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deflate.min_size = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        PerMessageDeflate(True)  # type: ignore[misc]


# The client's offer.


@pytest.mark.parametrize(
    ("settings", "offer"),
    [
        # RFC 7692 §7.1.2.2: a bare client_max_window_bits says we support it in a response.
        ({}, [cmwb(None)]),
        ({"client_max_window_bits": 10}, [cmwb("10")]),
        ({"server_no_context_takeover": True}, [SNCT, cmwb(None)]),
        ({"client_no_context_takeover": True}, [CNCT, cmwb(None)]),
        ({"server_max_window_bits": 9}, [smwb("9"), cmwb(None)]),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 12,
                "client_max_window_bits": 11,
            },
            [SNCT, CNCT, smwb("12"), cmwb("11")],
        ),
    ],
)
def test_client_offer(settings, offer):
    assert PerMessageDeflate(**settings).client_offer() == offer


# The server's response to one offer: (settings, offer, response or None for declined).

DECLINED = None

SERVER_CASES = [
    # Default settings accept what is offered and echo it.
    ({}, [], []),
    ({}, [cmwb(None)], []),
    ({}, [cmwb("10")], [cmwb("10")]),
    ({}, [smwb("10")], [smwb("10")]),
    ({}, [smwb("8")], [smwb("8")]),
    ({}, [SNCT], [SNCT]),
    ({}, [CNCT], [CNCT]),
    ({}, [CNCT, SNCT, cmwb("9"), smwb("11")], [SNCT, CNCT, smwb("11"), cmwb("9")]),
    # Malformed offers are declined, not errors (RFC 7692 §7).
    ({}, [("foo", None)], DECLINED),
    ({}, [("x-webkit-deflate-frame", "1")], DECLINED),
    ({}, [SNCT, SNCT], DECLINED),
    ({}, [cmwb(None), cmwb("10")], DECLINED),
    ({}, [smwb("10"), smwb("10")], DECLINED),
    ({}, [("server_no_context_takeover", "")], DECLINED),
    ({}, [("client_no_context_takeover", "1")], DECLINED),
    ({}, [smwb(None)], DECLINED),
    ({}, [smwb("7")], DECLINED),
    ({}, [smwb("16")], DECLINED),
    ({}, [smwb("08")], DECLINED),
    ({}, [smwb("ten")], DECLINED),
    ({}, [cmwb("7")], DECLINED),
    ({}, [cmwb("16")], DECLINED),
    ({}, [cmwb("+9")], DECLINED),
    # Our server_max_window_bits: the smaller of ours and the offer's, and announced even
    # when not offered (RFC 7692 §7.1.2.1: "A server MAY include ...").
    ({"server_max_window_bits": 10}, [], [smwb("10")]),
    ({"server_max_window_bits": 10}, [smwb("12")], [smwb("10")]),
    ({"server_max_window_bits": 10}, [smwb("9")], [smwb("9")]),
    # Our client_max_window_bits needs the client to have offered the parameter.
    ({"client_max_window_bits": 10}, [], DECLINED),
    ({"client_max_window_bits": 10}, [SNCT], DECLINED),
    ({"client_max_window_bits": 10}, [cmwb(None)], [cmwb("10")]),
    ({"client_max_window_bits": 10}, [cmwb("12")], [cmwb("10")]),
    ({"client_max_window_bits": 10}, [cmwb("9")], [cmwb("9")]),
    # Our no_context_takeover settings go in every response.
    ({"server_no_context_takeover": True}, [], [SNCT]),
    ({"client_no_context_takeover": True}, [], [CNCT]),
    ({"client_no_context_takeover": True}, [CNCT], [CNCT]),
]


@pytest.mark.parametrize(("settings", "offer", "response"), SERVER_CASES)
def test_server_accept_one_offer(settings, offer, response):
    accepted = PerMessageDeflate(**settings).server_accept([offer])
    if response is DECLINED:
        assert accepted is None
        return
    assert accepted is not None
    params, runtime = accepted
    assert params == response
    assert runtime.role is Role.SERVER
    assert runtime.agreed.to_params() == response


def test_server_accept_takes_the_first_acceptable_offer():
    deflate = PerMessageDeflate(client_max_window_bits=10)
    offers = [
        [("foo", None)],  # unknown parameter
        [smwb("10")],  # lacks the client_max_window_bits we require
        [smwb("12"), cmwb(None)],
        [cmwb("9")],
    ]
    accepted = deflate.server_accept(offers)
    assert accepted is not None
    assert accepted[0] == [smwb("12"), cmwb("10")]


def test_server_accept_declines_when_every_offer_is_unacceptable():
    assert PerMessageDeflate().server_accept([[("foo", None)], [smwb("3")]]) is None
    assert PerMessageDeflate().server_accept([]) is None


def test_server_runtime_with_an_8_bit_window_sends_uncompressed():
    accepted = PerMessageDeflate().server_accept([[smwb("8")]])
    assert accepted is not None
    assert accepted[1].compress(b"x" * 1000) is None


# The client checking the response: (settings, response, agreed or error message).

CLIENT_CASES = [
    ({}, [], DeflateParameters()),
    # RFC 7692 §7.1.1.1 / §7.1.1.2: a server may impose either no_context_takeover.
    ({}, [SNCT], DeflateParameters(server_no_context_takeover=True)),
    ({}, [CNCT], DeflateParameters(client_no_context_takeover=True)),
    # RFC 7692 §7.1.2.1: a server may announce server_max_window_bits unasked.
    ({}, [smwb("10")], DeflateParameters(server_max_window_bits=10)),
    ({}, [smwb("8")], DeflateParameters(server_max_window_bits=8)),
    # We always offer client_max_window_bits, so the server may set it.
    ({}, [cmwb("10")], DeflateParameters(client_max_window_bits=10)),
    ({}, [cmwb("8")], DeflateParameters(client_max_window_bits=8)),
    # Our own limits hold whatever the server says.
    ({"client_no_context_takeover": True}, [], DeflateParameters(client_no_context_takeover=True)),
    ({"client_max_window_bits": 10}, [], DeflateParameters(client_max_window_bits=10)),
    ({"client_max_window_bits": 10}, [cmwb("9")], DeflateParameters(client_max_window_bits=9)),
    ({"client_max_window_bits": 10}, [cmwb("12")], DeflateParameters(client_max_window_bits=10)),
    (
        {"server_no_context_takeover": True},
        [SNCT],
        DeflateParameters(server_no_context_takeover=True),
    ),
    ({"server_max_window_bits": 10}, [smwb("10")], DeflateParameters(server_max_window_bits=10)),
    ({"server_max_window_bits": 10}, [smwb("9")], DeflateParameters(server_max_window_bits=9)),
    # Failures.
    ({}, [("foo", None)], "unknown parameter 'foo'"),
    ({}, [SNCT, SNCT], "duplicate parameter 'server_no_context_takeover'"),
    ({}, [smwb("10"), smwb("10")], "duplicate parameter 'server_max_window_bits'"),
    ({}, [("server_no_context_takeover", "1")], "server_no_context_takeover takes no value"),
    ({}, [("client_no_context_takeover", "x")], "client_no_context_takeover takes no value"),
    ({}, [smwb(None)], "server_max_window_bits needs a value"),
    ({}, [cmwb(None)], "client_max_window_bits needs a value"),  # only an offer may omit it
    ({}, [smwb("16")], "server_max_window_bits='16' is not a number from 8 to 15"),
    ({}, [cmwb("7")], "client_max_window_bits='7' is not a number from 8 to 15"),
    ({}, [cmwb("010")], "client_max_window_bits='010' is not a number from 8 to 15"),
    ({"server_no_context_takeover": True}, [], "server_no_context_takeover was requested"),
    ({"server_max_window_bits": 10}, [], "server_max_window_bits=10 was requested"),
    ({"server_max_window_bits": 10}, [smwb("11")], "server_max_window_bits=11 is larger"),
]


@pytest.mark.parametrize(("settings", "response", "expected"), CLIENT_CASES)
def test_client_accept(settings, response, expected):
    deflate = PerMessageDeflate(**settings)
    if isinstance(expected, str):
        with pytest.raises(HandshakeError, match=expected) as caught:
            deflate.client_accept(response)
        assert caught.value.message.startswith("invalid permessage-deflate response: ")
        assert caught.value.status == 101
    else:
        runtime = deflate.client_accept(response)
        assert runtime.role is Role.CLIENT
        assert runtime.agreed == expected


# Both of our ends, and each of ours against websockets' negotiation.

SETTINGS = [
    PerMessageDeflate(),
    PerMessageDeflate(server_no_context_takeover=True, client_no_context_takeover=True),
    PerMessageDeflate(server_max_window_bits=9, client_max_window_bits=10),
    PerMessageDeflate(server_max_window_bits=12, client_no_context_takeover=True),
]


@pytest.mark.parametrize("client", SETTINGS, ids=repr)
@pytest.mark.parametrize("server", SETTINGS, ids=repr)
def test_our_client_and_server_agree(client, server):
    accepted = server.server_accept([client.client_offer()])
    assert accepted is not None
    response, server_runtime = accepted
    client_runtime = client.client_accept(response)
    assert client_runtime.agreed.server_no_context_takeover == (
        server_runtime.agreed.server_no_context_takeover
    )
    assert client_runtime.agreed.server_max_window_bits == (
        server_runtime.agreed.server_max_window_bits
    )
    directions = [(server_runtime, client_runtime), (client_runtime, server_runtime)]
    for message in (b"ping " * 50, b"pong " * 50, b"ping " * 50):
        for sender, receiver in directions:
            payload = sender.compress(message)
            assert payload is not None
            assert receiver.decompress(payload, fin=True, max_size=None) == message


WEBSOCKETS_CLIENTS = [
    ClientPerMessageDeflateFactory(),
    ClientPerMessageDeflateFactory(client_max_window_bits=None),
    ClientPerMessageDeflateFactory(server_no_context_takeover=True, client_max_window_bits=11),
    ClientPerMessageDeflateFactory(server_max_window_bits=10, client_no_context_takeover=True),
]


@pytest.mark.parametrize("theirs", WEBSOCKETS_CLIENTS, ids=lambda f: repr(f.get_request_params()))
def test_our_server_with_a_websockets_client(theirs):
    accepted = PerMessageDeflate(server_max_window_bits=12).server_accept(
        [list(theirs.get_request_params())]
    )
    assert accepted is not None
    response, ours = accepted
    their_extension = theirs.process_response_params(response, [])
    message = b"server to client " * 20
    payload = ours.compress(message)
    assert payload is not None
    assert their_extension.decode(Frame(Opcode.TEXT, payload, rsv1=True)).data == message
    encoded = their_extension.encode(Frame(Opcode.TEXT, message))
    assert ours.decompress(encoded.data, fin=True, max_size=None) == message


WEBSOCKETS_SERVERS = [
    ServerPerMessageDeflateFactory(),
    ServerPerMessageDeflateFactory(server_no_context_takeover=True, client_max_window_bits=9),
    ServerPerMessageDeflateFactory(
        server_max_window_bits=10, client_max_window_bits=10, require_client_max_window_bits=True
    ),
]


@pytest.mark.parametrize("theirs", WEBSOCKETS_SERVERS, ids=["default", "strict", "small"])
def test_our_client_with_a_websockets_server(theirs):
    deflate = PerMessageDeflate(client_max_window_bits=12)
    response, their_extension = theirs.process_request_params(deflate.client_offer(), [])
    ours = deflate.client_accept(list(response))
    message = b"client to server " * 20
    payload = ours.compress(message)
    assert payload is not None
    assert their_extension.decode(Frame(Opcode.TEXT, payload, rsv1=True)).data == message
    encoded = their_extension.encode(Frame(Opcode.TEXT, message))
    assert ours.decompress(encoded.data, fin=True, max_size=None) == message
