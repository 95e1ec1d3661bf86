"""The opening handshake, both sides, from RFC 6455 §1.2/§1.3/§4 and through the HTTP core."""

import base64

import pytest

from longwire import HandshakeError, LocalProtocolError, Role, http1
from longwire.websocket import (
    ClientHandshake,
    CloseReceived,
    Message,
    PerMessageDeflate,
    ServerHandshake,
    accept_key,
)

# RFC 6455 §1.2, the example handshake request (with the §1.3 key).
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def parse_request(raw: bytes) -> http1.Request:
    events = http1.Connection(Role.SERVER).receive_data(raw)
    request = events[0]
    assert isinstance(request, http1.Request)
    return request


def valid_headers(**overrides: str | None) -> list[tuple[str, str]]:
    headers = {
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    headers.update(overrides)  # type: ignore[arg-type]
    return [(name, value) for name, value in headers.items() if value is not None]


def request_with(method: str = "GET", version: str = "1.1", **overrides: str | None):
    return http1.Request(
        method=method, target="/", headers=valid_headers(**overrides), http_version=version
    )


def test_accept_key_from_rfc_6455_section_1_3():
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_rfc_example_request_gives_the_rfc_example_response_byte_for_byte():
    server = http1.Connection(Role.SERVER)
    request = server.receive_data(RFC_REQUEST)[0]
    handshake = ServerHandshake.from_request(request)
    assert handshake.key == KEY
    assert handshake.subprotocols == ("chat", "superchat")
    assert handshake.origin == "http://example.com"
    response, _ = handshake.accept(subprotocol="chat")
    assert server.send(response) == RFC_RESPONSE
    assert server.our_state is http1.State.SWITCHED_PROTOCOL


@pytest.mark.parametrize(
    ("request_kwargs", "status", "extra_header"),
    [
        ({"method": "POST"}, 400, None),
        ({"version": "1.0"}, 400, None),
        ({"Upgrade": None}, 426, ("Upgrade", "websocket")),
        ({"Upgrade": "h2c"}, 426, ("Upgrade", "websocket")),
        ({"Connection": "keep-alive"}, 426, ("Upgrade", "websocket")),
        ({"Connection": None}, 426, ("Upgrade", "websocket")),
        ({"Sec-WebSocket-Version": "8"}, 426, ("Sec-WebSocket-Version", "13")),
        ({"Sec-WebSocket-Version": "13, 8"}, 426, ("Sec-WebSocket-Version", "13")),
        ({"Sec-WebSocket-Version": None}, 426, ("Sec-WebSocket-Version", "13")),
        ({"Sec-WebSocket-Key": None}, 400, None),
        ({"Sec-WebSocket-Key": "not base64!"}, 400, None),
        ({"Sec-WebSocket-Key": base64.b64encode(b"15 bytes only!!").decode()}, 400, None),
        ({"Sec-WebSocket-Key": base64.b64encode(b"17 bytes, one over").decode()}, 400, None),
        ({"Sec-WebSocket-Protocol": "chat, not a token"}, 400, None),
        ({"Sec-WebSocket-Extensions": "permessage-deflate; =1"}, 400, None),
    ],
)
def test_invalid_handshakes_are_answered_with_a_status(request_kwargs, status, extra_header):
    with pytest.raises(HandshakeError) as info:
        ServerHandshake.from_request(request_with(**request_kwargs))
    assert info.value.status == status
    if extra_header:
        assert extra_header in info.value.headers


def test_two_keys_are_rejected():
    headers = [*valid_headers(), ("Sec-WebSocket-Key", KEY)]
    with pytest.raises(HandshakeError) as info:
        ServerHandshake.from_request(http1.Request(method="GET", target="/", headers=headers))
    assert info.value.status == 400


def test_upgrade_and_connection_tokens_are_case_insensitive_and_listed():
    handshake = ServerHandshake.from_request(
        request_with(Upgrade="WebSocket", Connection="keep-alive, UPGRADE")
    )
    assert handshake.key == KEY


def test_subprotocols_over_several_lines_keep_order_and_only_offered_ones_are_accepted():
    headers = [
        *valid_headers(),
        ("Sec-WebSocket-Protocol", "jsonrpc"),
        ("Sec-WebSocket-Protocol", "chat.v1, chat.v2"),
    ]
    handshake = ServerHandshake.from_request(
        http1.Request(method="GET", target="/", headers=headers)
    )
    assert handshake.subprotocols == ("jsonrpc", "chat.v1", "chat.v2")
    response, _ = handshake.accept(subprotocol="chat.v2")
    assert response.headers.get_all("Sec-WebSocket-Protocol") == ["chat.v2"]
    with pytest.raises(LocalProtocolError):
        handshake.accept(subprotocol="chat.v3")


def test_no_subprotocol_header_when_none_is_chosen():
    response, _ = ServerHandshake.from_request(request_with()).accept()
    assert "Sec-WebSocket-Protocol" not in response.headers
    assert "Sec-WebSocket-Extensions" not in response.headers


def test_extra_response_headers_are_appended():
    response, _ = ServerHandshake.from_request(request_with()).accept(
        headers=[("Set-Cookie", "session=1")]
    )
    assert response.headers.get("Set-Cookie") == "session=1"


def test_deflate_offer_is_ignored_when_the_server_disables_compression():
    handshake = ServerHandshake.from_request(
        request_with(**{"Sec-WebSocket-Extensions": "permessage-deflate"})
    )
    assert handshake.extensions == (("permessage-deflate", []),)
    response, _ = handshake.accept(deflate=None)
    assert "Sec-WebSocket-Extensions" not in response.headers


def test_unknown_extensions_are_not_accepted():
    handshake = ServerHandshake.from_request(
        request_with(**{"Sec-WebSocket-Extensions": "x-webkit-deflate-frame, permessage-deflate"})
    )
    response, _ = handshake.accept(deflate=PerMessageDeflate())
    assert response.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")


# Client side


def test_client_request_has_the_required_fields_and_a_random_16_byte_key():
    first = ClientHandshake("example.com:8000", "/chat?x=1", subprotocols=["a", "b"],
                            origin="http://example.com")
    second = ClientHandshake("example.com:8000")
    assert first.key != second.key
    assert len(base64.b64decode(first.key)) == 16
    request = first.request
    assert (request.method, request.target, request.http_version) == ("GET", "/chat?x=1", "1.1")
    headers = request.headers
    assert headers["Host"] == "example.com:8000"
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"] == "Upgrade"
    assert headers["Sec-WebSocket-Version"] == "13"
    assert headers["Sec-WebSocket-Protocol"] == "a, b"
    assert headers["Origin"] == "http://example.com"
    # The request is valid in the eyes of our own server side.
    assert ServerHandshake.from_request(request).subprotocols == ("a", "b")


def response_with(status: int = 101, key: str = KEY, **overrides: str | None):
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_key(key),
    }
    headers.update(overrides)  # type: ignore[arg-type]
    pairs = [(name, value) for name, value in headers.items() if value is not None]
    if status == 101:
        return http1.InformationalResponse(status_code=status, headers=pairs)
    return http1.Response(status_code=status, headers=pairs)


@pytest.mark.parametrize(
    ("response_kwargs", "message"),
    [
        ({"status": 200}, "200 instead of 101"),
        ({"status": 403}, "403 instead of 101"),
        ({"Upgrade": None}, "Upgrade"),
        ({"Connection": None}, "Connection"),
        ({"Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, "Accept"),
        ({"Sec-WebSocket-Accept": None}, "Accept"),
        ({"Sec-WebSocket-Protocol": "superchat"}, "not offered"),
        ({"Sec-WebSocket-Extensions": "permessage-deflate"}, "not offered"),
        ({"Sec-WebSocket-Extensions": "x-custom"}, "not offered"),
    ],
)
def test_client_rejects_an_invalid_answer(response_kwargs, message):
    handshake = ClientHandshake("example.com", subprotocols=["chat"])
    response_kwargs.setdefault("key", handshake.key)
    with pytest.raises(HandshakeError) as info:
        handshake.receive_response(response_with(**response_kwargs))
    assert message in str(info.value)
    assert info.value.status == response_kwargs.get("status", 101)


def test_client_rejects_deflate_accepted_twice():
    handshake = ClientHandshake("example.com", deflate=PerMessageDeflate())
    response = response_with(
        key=handshake.key,
        **{"Sec-WebSocket-Extensions": "permessage-deflate, permessage-deflate"},
    )
    with pytest.raises(HandshakeError, match="not offered"):
        handshake.receive_response(response)


def test_client_accepts_the_chosen_subprotocol():
    handshake = ClientHandshake("example.com", subprotocols=["chat", "superchat"])
    ws = handshake.receive_response(
        response_with(key=handshake.key, **{"Sec-WebSocket-Protocol": "superchat"})
    )
    assert ws.role is Role.CLIENT


# Both sides over the HTTP core, as an I/O layer would wire them


def handshake_over_http(
    client_deflate=None, server_deflate=None, *, early_client_bytes=b"", early_server_bytes=b""
):
    """Run the handshake through two http1 cores; return (client ws, server ws, response)."""
    client_http = http1.Connection(Role.CLIENT)
    server_http = http1.Connection(Role.SERVER)
    client = ClientHandshake("example.com", "/echo", deflate=client_deflate)
    wire = client_http.send(client.request) + client_http.send(http1.EndOfMessage())
    events = server_http.receive_data(wire + early_client_bytes)
    assert isinstance(events[0], http1.Request)
    assert isinstance(events[-1], http1.EndOfMessage)
    response, server_ws = ServerHandshake.from_request(events[0]).accept(
        deflate=server_deflate, trailing_data=server_http.trailing_data
    )
    wire = server_http.send(response)
    events = client_http.receive_data(wire + early_server_bytes)
    assert len(events) == 1
    assert events[0].status_code == 101
    assert events[0].headers == response.headers
    client_ws = client.receive_response(events[0], trailing_data=client_http.trailing_data)
    return client_ws, server_ws, response


def test_handshake_without_compression_then_messages_both_ways():
    client_ws, server_ws, _ = handshake_over_http()
    client_ws.send_message("hello")
    assert server_ws.receive_data(client_ws.data_to_send()) == [Message(data="hello")]
    server_ws.send_message(b"\x00binary")
    assert client_ws.receive_data(server_ws.data_to_send()) == [Message(data=b"\x00binary")]


def test_handshake_negotiates_deflate_and_compressed_messages_flow():
    client_ws, server_ws, response = handshake_over_http(PerMessageDeflate(), PerMessageDeflate())
    assert response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    text = "compress me " * 100
    client_ws.send_message(text)
    wire = client_ws.data_to_send()
    assert len(wire) < len(text) // 4
    assert wire[0] & 0x40  # RSV1: this message is compressed
    assert server_ws.receive_data(wire) == [Message(data=text)]
    server_ws.send_message(text)
    wire = server_ws.data_to_send()
    assert wire[0] & 0x40
    assert client_ws.receive_data(wire) == [Message(data=text)]


def test_frames_right_behind_the_request_are_handed_to_the_websocket_core():
    # A client that sends its first frame without waiting for the 101: the bytes
    # after the request head must reach the WebSocket core, not the HTTP parser.
    early = ClientHandshake("x")  # a throwaway to build a masked frame with a client core
    early_ws = early.receive_response(response_with(key=early.key))
    early_ws.send_message("early bird")
    _client_ws, server_ws, _ = handshake_over_http(early_client_bytes=early_ws.data_to_send())
    assert server_ws.receive_data(b"") == [Message(data="early bird")]


def test_frames_right_behind_the_101_are_handed_to_the_client_core():
    server_frame = b"\x81\x05Hello" + b"\x88\x02\x03\xe8"  # RFC 6455 §5.7, then close 1000
    client_ws, _, _ = handshake_over_http(early_server_bytes=server_frame)
    assert client_ws.receive_data(b"") == [
        Message(data="Hello"),
        CloseReceived(code=1000, reason=""),
    ]
