"""``ServerConfig`` and ``WebSocketOptions`` validation, and ``make_config``."""

import pytest

from longwire.aio import ServerConfig, WebSocketOptions, make_config
from longwire.http1 import Limits


def test_make_config_puts_websocket_options_into_websocket():
    config = make_config(
        header_timeout=3.0,
        max_connections=None,
        max_message_size=4096,
        ping_interval=None,
        max_queue=2,
    )
    assert config.header_timeout == 3.0
    assert config.max_connections is None
    assert config.websocket == WebSocketOptions(
        max_message_size=4096, ping_interval=None, max_queue=2
    )
    assert config.keep_alive_timeout == ServerConfig().keep_alive_timeout  # defaults kept


def test_make_config_starts_from_a_given_config():
    base = ServerConfig(
        header_timeout=2.0, websocket=WebSocketOptions(close_timeout=1.0, max_queue=8)
    )
    config = make_config(config=base, max_queue=3, http_limits=Limits(max_body_size=10))
    assert config.header_timeout == 2.0
    assert config.websocket.close_timeout == 1.0  # kept from the base's options
    assert config.websocket.max_queue == 3
    assert config.http_limits.max_body_size == 10


def test_make_config_takes_a_whole_websocket_options_too():
    options = WebSocketOptions(write_limit=1024)
    config = make_config(websocket=options, ping_timeout=5.0)
    assert config.websocket == WebSocketOptions(write_limit=1024, ping_timeout=5.0)


def test_make_config_rejects_unknown_options():
    with pytest.raises(TypeError, match="max_conections"):
        make_config(max_conections=10)


@pytest.mark.parametrize(
    "options",
    [
        {"header_timeout": 0},
        {"keep_alive_timeout": -1},
        {"shutdown_timeout": 0},
        {"max_connections": 0},
        {"body_buffer_size": 0},
        {"write_limit": 0},
    ],
)
def test_server_config_rejects_bad_values(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        ServerConfig(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"max_queue": 0},
        {"write_limit": 0},
        {"ping_interval": 0},
        {"ping_timeout": -1.0},
        {"close_timeout": 0},
    ],
)
def test_websocket_options_reject_bad_values(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        WebSocketOptions(**options)


def test_make_config_validates_through_the_dataclasses():
    with pytest.raises(ValueError, match="max_queue"):
        make_config(max_queue=0)


def test_configs_are_frozen():
    config = ServerConfig()
    with pytest.raises(AttributeError):
        config.header_timeout = 1.0  # type: ignore[misc]


def test_make_config_write_limit_applies_to_http_and_websocket():
    # Both dataclasses have write_limit: the one option sets both.
    config = make_config(write_limit=1024)
    assert config.write_limit == 1024
    assert config.websocket.write_limit == 1024
