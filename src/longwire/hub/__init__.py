"""The real-time hub: channels, presence, history and recovery, RPC; in one process or on Redis.

::

    from longwire.app import App
    from longwire.hub import Hub

    hub = Hub()                                    # Hub(broker="redis://localhost:6379")
    hub.channel("room:*", history_size=100, presence=True, publish=True)
    app = App()
    app.mount("/rt", hub)

    await hub.publish("room:lobby", {"text": "hello"})

Browsers load ``/rt/longwire.js`` and use ``new LongwireHub("/rt")``. See
docs/hub.md for the API and docs/hub-protocol.md for the wire protocol.
"""

from ._broker import Broker, BrokerUnavailable, History, Position, Publication, broker_from_url
from ._client import HubClient, Identity
from ._fanout import CLOSE_TOO_SLOW
from ._hub import FORBIDDEN, NOT_CONNECTED, UNAVAILABLE, UNKNOWN_CHANNEL, Hub
from ._memory import MemoryBroker
from ._options import ChannelOptions
from ._tokens import InvalidToken, TokenClaims, sign_token, verify_token

__all__ = [
    "CLOSE_TOO_SLOW",
    "FORBIDDEN",
    "NOT_CONNECTED",
    "UNAVAILABLE",
    "UNKNOWN_CHANNEL",
    "Broker",
    "BrokerUnavailable",
    "ChannelOptions",
    "History",
    "Hub",
    "HubClient",
    "Identity",
    "InvalidToken",
    "MemoryBroker",
    "Position",
    "Publication",
    "TokenClaims",
    "broker_from_url",
    "sign_token",
    "verify_token",
]
